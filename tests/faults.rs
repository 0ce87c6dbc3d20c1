//! Peers that die or lie mid-transfer: uploads cut short, a control
//! connection dropped mid-STOR, and (with a server written here) a server that
//! dies mid-GET, one whose replies lie about sizes, and one that never answers.
//! After each, no file under its final name is partial, old contents survive,
//! and no temporary file is left behind.

mod common;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{eventually, fake_server, names, pattern, Lie, Server, TempDir};
use std::process::Command;

#[test]
fn an_upload_cut_short_is_discarded_and_the_old_file_survives() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("keep.txt"), b"old contents").unwrap();
    let server = Server::start(srv.path(), &[]);
    let mut c = server.login();
    for name in ["keep.txt", "new.txt"] {
        let mut data = c.epsv();
        c.expect("ALLO 1000", 200);
        c.expect(&format!("STOR {name}"), 150);
        data.write_all(&pattern(500, 1)).unwrap();
        drop(data);
        let reply = c.reply();
        assert_eq!(reply.code, 451, "{reply:?}");
        assert!(
            reply.text().contains("got 500 of the 1000 bytes"),
            "{reply:?}"
        );
    }
    assert_eq!(fs::read(srv.join("keep.txt")).unwrap(), b"old contents");
    assert_eq!(names(srv.path()), ["keep.txt"]);
    // The session goes on: a complete upload lands.
    let mut data = c.epsv();
    c.expect("ALLO 3", 200);
    c.expect("STOR new.txt", 150);
    data.write_all(b"new").unwrap();
    drop(data);
    assert_eq!(c.reply().code, 226);
    assert_eq!(fs::read(srv.join("new.txt")).unwrap(), b"new");
}

#[test]
fn a_client_that_dies_mid_upload_leaves_no_file() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("keep.bin"), b"old").unwrap();
    let server = Server::start(srv.path(), &[]);
    for name in ["keep.bin", "fresh.bin"] {
        let mut c = server.login();
        let mut data = c.epsv();
        c.expect("ALLO 10000000", 200);
        c.expect(&format!("STOR {name}"), 150);
        data.write_all(&pattern(1 << 20, 2)).unwrap();
        // The process dies: the kernel closes both connections.
        drop(data);
        drop(c);
    }
    assert!(eventually(Duration::from_secs(10), || server
        .log()
        .matches("disconnected")
        .count()
        == 2));
    assert_eq!(fs::read(srv.join("keep.bin")).unwrap(), b"old");
    assert_eq!(
        names(srv.path()),
        ["keep.bin"],
        "a partial or temporary file was left"
    );
    assert_eq!(
        server.log().matches("nothing was saved").count(),
        2,
        "{}",
        server.log()
    );
}

#[test]
fn a_server_killed_mid_get_leaves_no_file_under_the_final_name() {
    let (srv, cli, out) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("out"),
    );
    // A sparse GiB: quick to serve, far too big to finish before the kill.
    fs::File::create(srv.join("big.bin"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let mut server = Server::start(srv.path(), &[]);
    let mut child = common::client_in_background(server.port, cli.path(), b"GET big.bin\n", &out);
    let downloading = || {
        names(cli.path())
            .iter()
            .any(|n| n.starts_with(dialback::fsys::TEMP_PREFIX))
    };
    assert!(
        eventually(Duration::from_secs(20), downloading),
        "the download never started"
    );
    // Freeze the client so the transfer cannot finish, kill the server, thaw the client.
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
    };
    signal("-STOP");
    server.kill();
    signal("-CONT");
    let status = child.wait().unwrap();
    let stderr = fs::read_to_string(out.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(
        names(cli.path()),
        Vec::<String>::new(),
        "a partial file was kept"
    );
}

#[test]
fn the_client_keeps_no_file_when_the_server_dies_or_lies() {
    for (lie, says) in [
        (Lie::DieMidway, "connection"),
        (
            Lie::ShortButHappy,
            "received 500 bytes but the file has 1000",
        ),
        // Stopped at the first byte too many.
        (
            Lie::TooLong,
            "the server sent more than the 1000 bytes it announced",
        ),
    ] {
        let cli = TempDir::new("cli");
        fs::write(cli.join("old.bin"), b"old").unwrap();
        let port = fake_server(lie).to_string();
        let dir = cli.path().to_str().unwrap();
        let run = common::client(
            &["127.0.0.1", &port, "--dir", dir],
            "GET file.bin\nGET file.bin old.bin\n",
        );
        assert_eq!(run.code(), 1, "{run:?}");
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert_eq!(
            names(cli.path()),
            ["old.bin"],
            "partial or temporary file kept"
        );
        assert_eq!(fs::read(cli.join("old.bin")).unwrap(), b"old");
    }
}

#[test]
fn the_client_stops_at_the_first_byte_past_the_announced_size() {
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::Flood).to_string();
    let dir = cli.path().to_str().unwrap();
    let run = common::client(&["127.0.0.1", &port, "--dir", dir], "GET file.bin\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("sent more than the 1000 bytes"),
        "{}",
        run.stderr
    );
    assert_eq!(names(cli.path()), Vec::<String>::new(), "a file was kept");
    // What the server got into the connection before the client closed it:
    // socket buffers' worth, not the 200 MiB it tried.
    let sent = common::FLOOD_SENT.load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "lying server: {} MiB of its 200 MiB got out before the client closed",
        sent >> 20
    );
    assert!(sent < 64 << 20, "{sent} bytes");
}

#[test]
fn a_listing_line_in_no_known_format_fails_a_mirror_and_deletes_nothing() {
    let cli = TempDir::new("cli");
    let mirror = cli.sub("mirror");
    for name in ["keep.txt", "mine.txt", "pub"] {
        fs::write(mirror.join(name), name).unwrap();
    }
    let port = fake_server(Lie::OddListing).to_string();
    let dir = cli.path().to_str().unwrap();
    let run = common::client(
        &["127.0.0.1", &port, "--dir", dir],
        "GET -r --delete / mirror\n",
    );
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot read the listing line \"+i8388621"),
        "{}",
        run.stderr
    );
    assert_eq!(names(&mirror), ["keep.txt", "mine.txt", "pub"]);
}

/// Issue 21, item 13: a server whose folder lists itself cannot keep
/// `GET -r` walking for ever (it was still going after 665 listings): past
/// 100 levels the run stops with a clear error, nothing copied or deleted.
#[test]
fn a_folder_that_lists_itself_stops_a_mirror_at_its_depth_bound() {
    let cli = TempDir::new("cli");
    let mirror = cli.sub("mirror");
    fs::write(mirror.join("mine.txt"), b"mine").unwrap();
    let port = fake_server(Lie::Bottomless).to_string();
    let dir = cli.path().to_str().unwrap();
    let started = std::time::Instant::now();
    let run = common::client(
        &["127.0.0.1", &port, "--dir", dir],
        "GET -r --delete / mirror\n",
    );
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr
            .contains("more than 100 folders deep (a folder that lists itself?)"),
        "{}",
        run.stderr
    );
    assert_eq!(names(&mirror), ["mine.txt"]);
    println!("bottomless tree refused after {:?}", started.elapsed());
}

/// Issue 22, item 8: listing a folder whose name has a space works against
/// a server that splits LIST's argument (pure-ftpd): the client CWDs there,
/// lists, and CWDs back, as curl does.
#[test]
fn a_folder_with_a_space_is_listed_by_going_into_it() {
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::SplitsList).to_string();
    let dir = cli.path().to_str().unwrap();
    let run = common::client(
        &["127.0.0.1", &port, "--dir", dir, "-v"],
        "LIST \"my dir\"\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.contains("inside.txt"), "{run:?}");
    assert!(
        run.stderr.contains("> CWD my dir") && run.stderr.contains("> CWD /"),
        "{}",
        run.stderr
    );
}

/// Issue 22, item 7: MGET against a server without NLST (aioftp) matches
/// the files of its LIST instead, and fetches them.
#[test]
fn mget_uses_the_listing_where_nlst_is_refused() {
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::NoNlst).to_string();
    let dir = cli.path().to_str().unwrap();
    let run = common::client(&["127.0.0.1", &port, "--dir", dir], "MGET *.txt*\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout.contains("received a.txt: 500 B"),
        "{}",
        run.stdout
    );
    assert_eq!(names(cli.path()), ["a.txt"], "files only, matching");
}

/// Runs a mirror (`GET -r`) and a batch (MGET) of the three files a fake
/// server that lies so lists, each against its own; checks every file
/// arrived whole, and returns each run's output.
fn every_file_whole_from(lie: Lie) -> Vec<common::Run> {
    let mut runs = Vec::new();
    for (script, folder) in [("GET -r pub got\n", "got"), ("MGET *.txt\n", "")] {
        let cli = TempDir::new("cli");
        let port = fake_server(lie).to_string();
        let dir = cli.path().to_str().unwrap();
        let run = common::client(&["127.0.0.1", &port, "--dir", dir], script);
        assert_eq!(run.code(), 0, "{script}: {run:?}");
        let got = cli.path().join(folder);
        assert_eq!(names(&got), ["a.txt", "b.txt", "c.txt"], "{script}");
        for name in ["a.txt", "b.txt", "c.txt"] {
            assert_eq!(std::fs::read(got.join(name)).unwrap(), pattern(500, 9));
        }
        runs.push(run);
    }
    runs
}

/// Issue 22, item 6: a mirror and a batch try a failed data connection
/// again (the server said 425 to the first try of every file) and end with
/// every file whole, no error said.
#[test]
fn mirrors_and_batches_try_a_failed_data_connection_again() {
    for run in every_file_whole_from(Lie::FlakyData) {
        assert_eq!(run.stderr, "", "{run:?}");
    }
}

/// Issue 22, item 6: where active data connections keep failing, a mirror
/// and a batch go passive for the rest of the session, say so in one line,
/// and get every file.
#[test]
fn mirrors_and_batches_go_passive_when_active_data_connections_fail() {
    let said = "data connections failed twice in active mode (the server could not open the data connection: 425 Cannot open the data connection): going on in passive mode";
    for run in every_file_whole_from(Lie::NoActiveData) {
        assert_eq!(run.stdout.matches(said).count(), 1, "{run:?}");
    }
}

/// A server that never answers EPRT (pyftpdlib 2.2 at times, its dial-back
/// made): a mirror, a batch and a single GET wait 10 s for the reply, not
/// the stall timeout's 60, then go again in passive mode on a new session,
/// say so in one line, and get every file.
#[test]
fn mirrors_and_batches_go_passive_when_an_eprt_is_never_answered() {
    let said = "the server could not connect back (a firewall or NAT?): going on in passive mode; connected again";
    let started = std::time::Instant::now();
    for run in every_file_whole_from(Lie::MuteEprt) {
        assert_eq!(run.stdout.matches(said).count(), 1, "{run:?}");
    }
    // A single GET, whose EPRT goes step by step, outside any batch.
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::MuteEprt).to_string();
    let args = ["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()];
    let run = common::client(&args, "GET a.txt\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout.matches(said).count(), 1, "{run:?}");
    assert_eq!(std::fs::read(cli.join("a.txt")).unwrap(), pattern(500, 9));
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
}

#[test]
fn the_client_gives_up_on_broken_servers_within_its_timeouts() {
    // Each against its own fake server, side by side: every wait is a timeout.
    let runs: Vec<_> = [
        (Lie::Garbage, "malformed reply"),
        (Lie::Endless, "multi-line reply too long"),
        (Lie::HoldsData, "timed out"),
        (Lie::NeverReady, "never became ready"),
        (Lie::Drip, "timed out"),
    ]
    .into_iter()
    .map(|(lie, says)| {
        std::thread::spawn(move || {
            let cli = TempDir::new("cli");
            let port = fake_server(lie).to_string();
            let start = Instant::now();
            let dir = cli.path().to_str().unwrap();
            let run = common::client(
                &["127.0.0.1", &port, "--dir", dir, "--stall-timeout", "0.5"],
                "GET file.bin\n",
            );
            assert_eq!(run.code(), 1, "{run:?}");
            assert!(run.stderr.contains(says), "{}", run.stderr);
            assert!(start.elapsed() < Duration::from_secs(10));
            assert_eq!(names(cli.path()), Vec::<String>::new(), "a file was kept");
        })
    })
    .collect();
    for run in runs {
        run.join().unwrap();
    }
}

#[test]
fn the_client_gives_up_on_a_silent_server_after_its_timeout() {
    let port = fake_server(Lie::Silent).to_string();
    let start = Instant::now();
    let run = common::client(&["127.0.0.1", &port, "--stall-timeout", "0.5"], "");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_client_falls_back_to_port_and_pasv_when_eprt_and_epsv_are_unknown() {
    for mode in [&[][..], &["--passive"][..]] {
        let cli = TempDir::new("cli");
        let port = fake_server(Lie::OldSchool).to_string();
        let mut args = vec![
            "127.0.0.1",
            &port,
            "--dir",
            cli.path().to_str().unwrap(),
            "-v",
        ];
        args.extend_from_slice(mode);
        let run = common::client(&args, "GET file.bin\n");
        assert_eq!(run.code(), 0, "{run:?}");
        assert_eq!(fs::read(cli.join("file.bin")).unwrap(), pattern(1000, 9));
        let fallback = if mode.is_empty() {
            "> PORT 127,0,0,1,"
        } else {
            "> PASV"
        };
        assert!(run.stderr.contains(fallback), "{}", run.stderr);
    }
}

#[test]
fn stalled_and_vanished_peers_cost_only_their_own_transfer() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("keep.bin"), b"old contents").unwrap();
    fs::File::create(srv.join("big.bin"))
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let timeouts = ["--connect-timeout", "0.2", "--stall-timeout", "0.2"];
    let mut server = Server::start(srv.path(), &timeouts);
    let mut injected = 0;

    // A client that never connects to its passive port: 425, and the session goes on.
    let mut c = server.login();
    c.expect("PASV", 227);
    c.expect("RETR keep.bin", 425);
    c.expect("NOOP", 200);
    injected += 1;

    // An active listener that never accepts: the kernel takes the connection, the
    // transfer stalls, the stall timeout ends it.
    let deaf = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(
        &format!("EPRT |1|127.0.0.1|{}|", deaf.local_addr().unwrap().port()),
        200,
    );
    c.expect("RETR big.bin", 150);
    assert_eq!(c.reply().code, 426);
    drop(deaf);
    injected += 1;

    // A client that stops reading mid-transfer.
    let mut data = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut some = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut data, &mut some).unwrap();
    assert_eq!(c.reply().code, 426);
    drop(data);
    injected += 1;

    // An upload whose data connection never closes: overwriting and creating.
    for name in ["keep.bin", "fresh.bin"] {
        let mut data = c.epsv();
        c.expect(&format!("STOR {name}"), 150);
        data.write_all(&pattern(1000, 4)).unwrap();
        assert_eq!(c.reply().code, 426);
        drop(data);
        injected += 1;
    }
    c.expect("NOOP", 200);

    // A client that disconnects mid-RETR, and one that vanishes mid-reply.
    let mut c2 = server.login();
    let mut data = c2.epsv();
    c2.expect("RETR big.bin", 150);
    std::io::Read::read_exact(&mut data, &mut some).unwrap();
    drop((data, c2));
    injected += 1;
    let mut c3 = server.login();
    c3.send_raw(&b"HELP\r\nSTAT\r\nFEAT\r\n".repeat(2000));
    drop(c3);
    injected += 1;

    // A server killed mid-STOR leaves its temporary file; the next one sweeps it away.
    let mut data = c.epsv();
    c.expect("ALLO 100000", 200);
    c.expect("STOR keep.bin", 150);
    data.write_all(&pattern(5000, 5)).unwrap();
    assert!(eventually(Duration::from_secs(5), || names(srv.path())
        .iter()
        .any(|n| n.starts_with(".dialback-"))));
    server.kill();
    drop((data, c));
    injected += 1;
    let server = Server::start(srv.path(), &timeouts);
    assert!(
        eventually(Duration::from_secs(5), || names(srv.path())
            == ["big.bin", "keep.bin"]),
        "{:?}",
        names(srv.path())
    );
    assert!(
        server.log().contains("removed leftover temporary file"),
        "{}",
        server.log()
    );

    assert_eq!(fs::read(srv.join("keep.bin")).unwrap(), b"old contents");
    let mut c = server.login();
    c.expect("SIZE big.bin", 213);
    println!("faults: {injected} injected; files damaged: 0; temporary files left: 0; served afterwards: yes");
}

/// An upload that trickles in (a hundred bytes at a time, far below the
/// 64 KiB the server's receiving thread waits for before it wakes) is read
/// as it comes: a STAT meanwhile is answered at once, the file is stored
/// whole, and the 226 follows the sender's end at once.
#[test]
fn a_trickling_upload_is_stored_whole_and_answered_at_its_end() {
    let srv = TempDir::new("srv");
    let server = Server::start(srv.path(), &[]);
    let mut c = server.login();
    let mut data = c.epsv();
    c.expect("STOR slow.txt", 150);
    let mut sent = Vec::new();
    for i in 0..10u8 {
        let piece = [b'a' + i; 100];
        data.write_all(&piece).unwrap();
        sent.extend_from_slice(&piece);
        std::thread::sleep(Duration::from_millis(100));
        if i == 4 {
            let asked = Instant::now();
            c.expect("STAT", 213);
            assert!(asked.elapsed() < Duration::from_secs(1));
        }
    }
    let ended = Instant::now();
    drop(data);
    assert_eq!(c.reply().code, 226);
    assert!(
        ended.elapsed() < Duration::from_secs(1),
        "{:?}",
        ended.elapsed()
    );
    assert_eq!(fs::read(srv.join("slow.txt")).unwrap(), sent);
}
