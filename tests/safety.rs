//! The second safety round: special files, concurrent appends, names that
//! could break a reply, the log, permission bits, leftovers. Each test here
//! failed before its fix; each goes through the real binaries.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{names, Server, TempDir};

fn mkfifo(path: &std::path::Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn a_named_pipe_is_refused_at_once_and_locks_nobody_out() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    mkfifo(&srv.join("pipe"));
    fs::write(srv.join("a.txt"), b"a").unwrap();
    // Fewer session slots than attempts: a session stuck in open(2) would fill them.
    let server = Server::start(srv.path(), &["--max-sessions", "3"]);
    let start = Instant::now();
    for _ in 0..6 {
        let mut c = server.login();
        let _data = c.epsv();
        c.expect("RETR pipe", 550);
        c.expect("APPE pipe", 550);
        c.expect("STOR pipe", 550);
        c.expect("SIZE pipe", 550);
        c.expect("LIST pipe", 550);
        c.expect("QUIT", 221);
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    // Listings leave it out; the pipe is still a pipe.
    let run = server.client(cli.path(), &[], "LIST\nGET pipe\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stdout.contains("a.txt") && !run.stdout.contains("pipe"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("pipe: not a plain file"),
        "{}",
        run.stderr
    );
    assert!(fs::symlink_metadata(srv.join("pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(names(cli.path()), Vec::<String>::new());
    println!(
        "named pipe: 6 sessions × RETR/APPE/STOR/SIZE/LIST refused with 550 in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn the_client_refuses_to_send_a_named_pipe() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    mkfifo(&cli.join("pipe"));
    let server = Server::start(srv.path(), &[]);
    let run = server.client(
        cli.path(),
        &["--stall-timeout", "5"],
        "PUT pipe\nPUT missing.bin\n",
    );
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("pipe: not a plain file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("missing.bin: no such local file"),
        "{}",
        run.stderr
    );
    assert_eq!(names(srv.path()), Vec::<String>::new());
}

#[test]
fn two_appends_at_once_both_land_whole_and_a_failed_one_leaves_nothing() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("log.bin"), b"start").unwrap();
    let server = Server::start(srv.path(), &[]);
    let (a, b) = (common::pattern(4 << 20, 1), common::pattern(3 << 20, 2));
    let (mut ca, mut cb) = (server.login(), server.login());
    let (mut da, mut db) = (ca.epsv(), cb.epsv());
    ca.expect("APPE log.bin", 150);
    cb.expect("APPE log.bin", 150);
    // Interleaved: both uploads are under way at the same time.
    for (pa, pb) in a.chunks(64 << 10).zip(b.chunks(64 << 10)) {
        da.write_all(pa).unwrap();
        db.write_all(pb).unwrap();
    }
    da.write_all(&a[b.len()..]).unwrap();
    drop((da, db));
    assert_eq!(ca.reply().code, 226);
    assert_eq!(cb.reply().code, 226);
    let got = fs::read(srv.join("log.bin")).unwrap();
    let ab = [&b"start"[..], &a, &b].concat();
    let ba = [&b"start"[..], &b, &a].concat();
    assert!(got == ab || got == ba, "appends mixed: {} bytes", got.len());

    // An append cut short (ALLO says more than arrives) changes nothing.
    let mut data = ca.epsv();
    ca.expect("ALLO 1000", 200);
    ca.expect("APPE log.bin", 150);
    data.write_all(&[b'x'; 500]).unwrap();
    drop(data);
    let reply = ca.reply();
    assert_eq!(reply.code, 451, "{reply:?}");
    assert!(reply.text().contains("nothing was saved"), "{reply:?}");
    assert_eq!(fs::read(srv.join("log.bin")).unwrap(), got);
    assert_eq!(names(srv.path()), ["log.bin"], "a temporary file was left");
}

#[test]
fn no_file_name_can_put_replies_out_of_step() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("evil\r\n226 Transfer complete: 0 bytes."), b"x").unwrap();
    fs::write(srv.join("cr\rname"), b"cr").unwrap();
    fs::write(srv.join("plain.txt"), b"p").unwrap();
    let server = Server::start(srv.path(), &[]);
    let mut c = server.login();
    let stat = c.expect("STAT .", 213);
    assert!(!stat.lines.iter().any(|l| l.contains("evil")), "{stat:?}");
    // The next reply is the next command's, not a line smuggled in by a name.
    c.expect("NOOP", 200);
    let mut data = c.epsv();
    c.expect("NLST", 150);
    let mut names_sent = String::new();
    data.read_to_string(&mut names_sent).unwrap();
    assert_eq!(c.reply().code, 226);
    assert_eq!(names_sent, "cr\r\0name\r\nplain.txt\r\n");
    // The name comes back as RFC 2640 sends it, and a 550 echoes it on one line.
    let mut data = c.epsv();
    c.send_raw(b"RETR cr\r\0name\r\n");
    assert_eq!(c.reply().code, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!((c.reply().code, &got[..]), (226, &b"cr"[..]));
    c.send_raw(b"SIZE no\r\0such\r\n");
    let refused = c.reply();
    assert_eq!(refused.code, 550);
    c.expect("NOOP", 200);
    let run = server.client(cli.path(), &[], "LIST\n");
    assert_eq!(run.code(), 0, "{run:?}");
    let listed = run.stdout.lines().filter(|l| l.contains(" ftp ")).count();
    assert_eq!(listed, 2, "{}", run.stdout);
}

#[test]
fn a_flooding_connection_cannot_fill_the_log() {
    let srv = TempDir::new("srv");
    let server = Server::start(srv.path(), &[]);
    let mut c = server.login();
    let long = "x".repeat(4000);
    let before = server.log().len();
    let start = Instant::now();
    let mut sent = 0;
    // Past one second: the budget is per second, so the next one's first
    // line already says how many the first left out.
    while start.elapsed() < Duration::from_millis(1300) {
        // Each of these was logged with its whole argument.
        c.expect(&format!("USER {long}"), 331);
        c.expect("PASS x", 230);
        c.expect(&format!("CWD ../{long}"), 550);
        c.expect("PORT 10,9,8,7,19,137", 504);
        sent += 4;
    }
    let logged = server.log().len() - before;
    println!("log flood: {sent} commands in 1.3 s produced {logged} bytes of log");
    assert!(logged <= 256 << 10, "{logged} bytes");
    assert!(server.log().contains("log lines left out"));
    assert!(!server.log().contains(&long));
}

/// The real server as PID 1 of a fresh PID namespace, as in a container.
fn server_as_pid_1(root: &std::path::Path) -> (std::process::Child, u16) {
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_server"))
        .args(["0", "--root"])
        .arg(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("unshare (util-linux) runs the server in its own PID namespace");
    let port = common::listening_port(&mut child);
    (child, port)
}

#[test]
fn temporary_files_of_killed_runs_as_pid_1_are_swept() {
    let srv = TempDir::new("srv");
    let temps = || {
        names(srv.path())
            .iter()
            .filter(|n| n.starts_with(dialback::fsys::TEMP_PREFIX))
            .count()
    };
    for run in 1..=3 {
        let (mut child, port) = server_as_pid_1(srv.path());
        let mut c = common::Ctrl::connect(port);
        c.expect("USER anonymous", 331);
        c.expect("PASS x", 230);
        let mut data = c.epsv();
        c.expect("ALLO 100000", 200);
        c.expect(&format!("STOR run{run}.bin"), 150);
        data.write_all(&common::pattern(5000, run)).unwrap();
        // The upload is under way; this run's own file is there, the earlier ones are gone.
        assert!(common::eventually(Duration::from_secs(5), || temps() == 1));
        child.kill().unwrap();
        child.wait().unwrap();
        // The server itself (PID 1 inside) dies a moment after unshare: wait until
        // its lock is gone, as it would be long before a container restarts.
        let unlocked = || {
            names(srv.path())
                .iter()
                .all(|n| fs::File::open(srv.join(n)).is_ok_and(|f| f.try_lock().is_ok()))
        };
        assert!(common::eventually(Duration::from_secs(5), unlocked));
    }
    let (mut child, _) = server_as_pid_1(srv.path());
    let swept = common::eventually(Duration::from_secs(5), || temps() == 0);
    child.kill().unwrap();
    child.wait().unwrap();
    println!("3 killed runs as PID 1: temporary files left {}", temps());
    assert!(swept, "{:?}", names(srv.path()));
    assert_eq!(names(srv.path()), Vec::<String>::new());
}

#[test]
fn one_address_cannot_take_every_session_and_strangers_must_log_in_soon() {
    let srv = TempDir::new("srv");
    let server = Server::start(
        srv.path(),
        &[
            "--max-per-ip",
            "3",
            "--login-timeout",
            "0.5",
            "--idle-timeout",
            "60",
        ],
    );
    let held: Vec<common::Ctrl> = (0..3).map(|_| server.login()).collect();
    let mut fourth = common::Ctrl::connect_raw(server.port);
    let refused = fourth.reply();
    assert_eq!(refused.code, 421, "{refused:?}");
    assert!(refused.text().contains("from your address"), "{refused:?}");
    // Another address still gets in: 127.0.0.2 is loopback too. (std cannot
    // choose the local address of a connection; Python can.)
    let script = format!(
        "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.2',0))\n\
         s.connect(('127.0.0.1',{}))\nsys.stdout.write(s.recv(100).decode())",
        server.port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let greeting = String::from_utf8_lossy(&out.stdout);
    assert!(greeting.starts_with("220 "), "{out:?}");
    drop(held);
    // The server frees their seats when it sees them go, which takes a moment
    // on a busy machine. A connection that never logs in is then closed after
    // the login timeout, not the idle one.
    let mut lurker = None;
    let seated = common::eventually(Duration::from_secs(5), || {
        let mut c = common::Ctrl::connect_raw(server.port);
        let greeted = c.reply().code == 220;
        lurker = Some(c).filter(|_| greeted);
        greeted
    });
    assert!(seated, "the held sessions' seats were never freed");
    let start = Instant::now();
    assert!(lurker.unwrap().rest().starts_with("421 Login timeout"));
    assert!(start.elapsed() < Duration::from_secs(5));
    // A NOOP every 0.2 s does not stretch the login timeout: it counts from
    // the connection.
    let mut chatty = common::Ctrl::connect_raw(server.port);
    assert_eq!(chatty.reply().code, 220);
    let start = Instant::now();
    let timed_out = loop {
        chatty.send("NOOP");
        let reply = chatty.reply();
        if reply.code != 200 {
            break reply;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "never timed out");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(timed_out.code, 421, "{timed_out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // A logged-in session is not.
    let mut c = server.login();
    std::thread::sleep(Duration::from_millis(800));
    c.expect("NOOP", 200);
}

#[test]
fn nothing_a_server_sends_reaches_the_terminal_as_a_control_sequence() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("evil\x1b]0;pwned\x07.txt"), b"e").unwrap();
    fs::write(srv.join("plain.txt"), b"p").unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "LIST\nMGET *.txt\nGET \"red\x1b[31m\"\n");
    assert_eq!(run.code(), 1, "{run:?}");
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(['\x1b', '\x07', '\r']), "{what}: {text:?}");
    }
    assert!(
        run.stdout.contains("evil\\x1b]0;pwned\\x07.txt"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("control characters"), "{}", run.stderr);
    assert_eq!(
        names(cli.path()),
        ["plain.txt"],
        "a file with control characters in its name"
    );
    // The control dialogue that -v shows is escaped too: the server's 550
    // repeats the name it was given.
    let run = server.client(cli.path(), &["-v"], "CD \"no\x1b]0;pwned\x07where\"\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(run.stderr.contains("550"), "{}", run.stderr);
    assert!(!run.stderr.contains(['\x1b', '\x07']), "{:?}", run.stderr);
}

#[test]
fn a_killed_download_leaves_one_partial_file_that_get_c_resumes() {
    use std::io::{Seek, SeekFrom};
    let (srv, cli, out) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("out"),
    );
    // A sparse GiB with real bytes at both ends, so a resume must line up.
    let (head, tail) = (common::pattern(4096, 1), common::pattern(4096, 2));
    let mut big = fs::File::create(srv.join("big.bin")).unwrap();
    big.write_all(&head).unwrap();
    big.seek(SeekFrom::Start((1 << 30) - 4096)).unwrap();
    big.write_all(&tail).unwrap();
    drop(big);
    let server = Server::start(srv.path(), &[]);
    let mut child = common::client_in_background(server.port, cli.path(), b"GET big.bin\n", &out);
    let partial = cli.join(".dialback-get-big.bin.part");
    let started = || fs::metadata(&partial).is_ok_and(|m| m.len() > 0);
    assert!(
        common::eventually(Duration::from_secs(20), started),
        "the download never started"
    );
    // Stopped, then killed: no chance to clean up, as with SIGKILL or an unhandled SIGTERM.
    let pid = child.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let had = fs::metadata(&partial).unwrap().len();
    assert_eq!(names(cli.path()), [".dialback-get-big.bin.part"]);
    assert!(had < 1 << 30, "the download finished before the kill");

    let run = server.client(cli.path(), &[], "GET -c big.bin\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(names(cli.path()), ["big.bin"], "the partial file was left");
    let mut got = fs::File::open(cli.join("big.bin")).unwrap();
    assert_eq!(got.metadata().unwrap().len(), 1 << 30);
    let mut ends = vec![0u8; 4096];
    std::io::Read::read_exact(&mut got, &mut ends).unwrap();
    assert_eq!(ends, head);
    got.seek(SeekFrom::Start((1 << 30) - 4096)).unwrap();
    std::io::Read::read_exact(&mut got, &mut ends).unwrap();
    assert_eq!(ends, tail);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("received"))
        .unwrap_or_default();
    println!("killed download: {had} bytes kept in the partial file; GET -c: {line}");
}

#[test]
fn a_full_disk_answers_452_and_the_client_says_so() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(cli.join("big.bin"), common::pattern(200 << 10, 3)).unwrap();
    // The server's root is a 64 KiB tmpfs of its own mount namespace.
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs '{root}' && exec '{server}' 0 --root '{root}'",
        root = srv.path().display(),
        server = env!("CARGO_BIN_EXE_server")
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("unshare (util-linux)");
    let port = common::listening_port(&mut child).to_string();
    let dir = cli.path().to_str().unwrap();
    let run = common::client(&["127.0.0.1", &port, "--dir", dir], "PUT big.bin\n");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("the server's disk is full: 452 "),
        "{}",
        run.stderr
    );
}

#[test]
fn an_overwritten_file_keeps_its_permission_bits() {
    use std::os::unix::fs::PermissionsExt;
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("notes.txt"), b"old").unwrap();
    fs::set_permissions(srv.join("notes.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(cli.join("notes.txt"), b"new notes").unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "PUT notes.txt\n");
    assert_eq!(run.code(), 0, "{run:?}");
    let meta = fs::metadata(srv.join("notes.txt")).unwrap();
    assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (9, 0o600));
}

#[test]
fn two_servers_on_one_root_damage_nothing() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("log.bin"), b"start").unwrap();
    let a = Server::start(srv.path(), &[]);
    let mut b = Server::start(srv.path(), &[]);
    // An upload through A is under way while B restarts and sweeps.
    let mut slow = a.login();
    let mut slow_data = slow.epsv();
    slow.expect("STOR held.bin", 150);
    slow_data.write_all(b"first half, ").unwrap();
    let temp = || {
        names(srv.path())
            .iter()
            .any(|n| n.starts_with(".dialback-"))
    };
    assert!(common::eventually(Duration::from_secs(5), temp));
    b.kill();
    let b = Server::start(srv.path(), &[]);
    let swept = || b.log().contains("start-up sweep done");
    assert!(common::eventually(Duration::from_secs(5), swept));
    assert!(temp(), "B's sweep removed A's upload in progress");
    slow_data.write_all(b"second half").unwrap();
    drop(slow_data);
    assert_eq!(slow.reply().code, 226);
    assert_eq!(
        fs::read(srv.join("held.bin")).unwrap(),
        b"first half, second half"
    );

    // Both servers, STOR to one name and APPE to another, all at once.
    let blocks: Vec<Vec<u8>> = (0..4).map(|i| common::pattern(1 << 20, 10 + i)).collect();
    let mut sessions = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let server = if i % 2 == 0 { &a } else { &b };
        for verb in ["STOR same.bin", "APPE log.bin"] {
            let mut c = server.login();
            let d = c.epsv();
            c.expect(verb, 150);
            sessions.push((c, d, block));
        }
    }
    for (_, d, block) in &mut sessions {
        d.write_all(&block[..1 << 19]).unwrap();
    }
    for (c, mut d, block) in sessions {
        d.write_all(&block[1 << 19..]).unwrap();
        drop(d);
        let mut c = c;
        assert_eq!(c.reply().code, 226);
    }
    let same = fs::read(srv.join("same.bin")).unwrap();
    assert!(blocks.contains(&same), "same.bin is no one upload");
    let log = fs::read(srv.join("log.bin")).unwrap();
    assert_eq!(&log[..5], b"start");
    let mut rest: Vec<&[u8]> = log[5..].chunks(1 << 20).collect();
    rest.sort();
    let mut want: Vec<&[u8]> = blocks.iter().map(|b| &b[..]).collect();
    want.sort();
    assert!(
        rest == want,
        "log.bin is not the start and four whole appends"
    );
    assert!(!temp(), "a temporary file was left");
    println!("two servers on one root: a restart's sweep spared an upload in progress; 4 STORs and 4 APPEs at once: files damaged 0");
}

/// A session downloading big.bin whose client has read its first KiB and
/// stopped reading; the data connection is kept open.
fn stalled_download(server: &Server) -> (common::Ctrl, std::net::TcpStream) {
    let mut down = server.login();
    let mut data = down.epsv();
    down.send("RETR big.bin");
    assert_eq!(down.reply().code, 150);
    std::io::Read::read_exact(&mut data, &mut [0u8; 1000]).unwrap();
    (down, data)
}

#[test]
fn sigterm_drains_idle_sessions_at_once_and_stops_transfers_after_the_grace() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("big.bin"), common::pattern(64 << 20, 3)).unwrap();
    let mut server = Server::start(srv.path(), &["--shutdown-grace", "1"]);
    let mut idle = server.login();
    // A download whose client stopped reading, and an upload half sent.
    let (mut down, _down_data) = stalled_download(&server);
    let mut up = server.login();
    let mut up_data = up.epsv();
    up.send("STOR part.bin");
    assert_eq!(up.reply().code, 150);
    std::io::Write::write_all(&mut up_data, &common::pattern(1 << 20, 4)).unwrap();

    let start = Instant::now();
    server.signal("TERM");
    let said = idle.rest();
    assert!(
        said.starts_with("421 The server is shutting down"),
        "{said:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    // Nobody new gets in.
    assert!(common::eventually(Duration::from_secs(2), || {
        std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err()
    }));
    // The grace over, both transfers are stopped and said so; nothing of the
    // upload is left, under its name or a temporary one.
    let (down_end, up_end) = (down.reply(), up.reply());
    assert_eq!(down_end.code, 426, "{down_end:?}");
    assert_eq!(up_end.code, 426, "{up_end:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
    assert_eq!(names(srv.path()), ["big.bin"]);
    assert!(
        server
            .log()
            .contains("stopped: 0 transfers finished, 2 stopped"),
        "{}",
        server.log()
    );
}

#[test]
fn a_second_sigterm_stops_transfers_at_once() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("big.bin"), common::pattern(32 << 20, 5)).unwrap();
    let mut server = Server::start(srv.path(), &["--shutdown-grace", "60"]);
    let (mut down, _down_data) = stalled_download(&server);
    server.signal("TERM");
    assert!(common::eventually(Duration::from_secs(2), || {
        server.log().contains("stopping: ")
    }));
    let start = Instant::now();
    server.signal("TERM");
    assert_eq!(down.reply().code, 426);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
}

/// Issue 21, item 10: a server killed while it copies a finished append to
/// the end of its file (SIGKILL, no chance to clean up) left part of the
/// append at the file's end. Now the copy is journaled: the next start puts
/// the file back to its length before the append (the client had no 226,
/// so the append did not happen; sent again, it lands once).
#[test]
fn a_server_killed_while_it_appends_leaves_the_file_as_it_was_after_a_restart() {
    let srv = TempDir::new("srv");
    let target = srv.join("log.bin");
    fs::write(&target, b"the original lines\n").unwrap();
    let before = fs::read(&target).unwrap();
    let mut server = Server::start(srv.path(), &[]);
    let mut c = server.login();
    let mut data = c.epsv();
    c.expect("APPE log.bin", 150);
    let bytes = common::pattern(256 << 20, 3);
    data.write_all(&bytes).unwrap();
    drop(data);
    // The moment the file starts to grow, the copy is under way: kill.
    let size = || fs::metadata(&target).map_or(0, |m| m.len());
    let mut at_kill = 0;
    for _ in 0..200_000 {
        at_kill = size();
        if at_kill > before.len() as u64 {
            break;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    server.kill();
    let grown = size();
    println!(
        "killed with {at_kill} bytes in the file ({grown} once dead) of {} after the append",
        before.len() + bytes.len()
    );
    assert!(at_kill > before.len() as u64, "the copy never started");
    let restarted = Server::start(srv.path(), &[]);
    let swept = || restarted.log().contains("start-up sweep done");
    assert!(common::eventually(Duration::from_secs(10), swept));
    assert_eq!(size(), before.len() as u64, "{}", restarted.log());
    assert_eq!(fs::read(&target).unwrap(), before);
    assert!(restarted
        .log()
        .contains("an append cut short by a stop: its file put back"));
    assert_eq!(names(srv.path()), ["log.bin"], "nothing left behind");
}

/// Issue 25: systemd's socket activation. A listening socket handed over as
/// descriptor 3 with `LISTEN_PID` and `LISTEN_FDS` (done here by a small
/// Python wrapper, as systemd does after fork) is served; PORT is not bound.
#[test]
fn a_socket_systemd_passes_is_the_one_served() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("a.txt"), b"handed over").unwrap();
    let wrapper = r#"
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid()); os.environ["LISTEN_FDS"] = "1"
os.execv(sys.argv[1], sys.argv[1:])
"#;
    let mut child = Command::new("python3")
        .args(["-c", wrapper, env!("CARGO_BIN_EXE_server"), "1", "--root"])
        .arg(srv.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let listening = lines.next().unwrap().unwrap();
    assert_eq!(listening, format!("listening on 127.0.0.1:{port}"));
    let mut c = common::Ctrl::connect(port);
    c.expect("USER anonymous", 331);
    c.expect("PASS x", 230);
    assert_eq!(c.expect("SIZE a.txt", 213).text(), "11");
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 25: started as root, `--run-as nobody` drops to nobody once bound:
/// the process runs as nobody, and an upload into a folder only root may
/// write is refused. Not started as root, the option is refused in one line.
#[test]
fn run_as_drops_root_for_good_once_listening() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("a.txt"), b"readable").unwrap();
    let root = fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        let out = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["0", "--run-as", "nobody"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--run-as nobody needs the server started as root"),
            "{err}"
        );
        return;
    }
    let server = Server::start(srv.path(), &["--run-as", "nobody"]);
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert!(
        uid.split_whitespace().skip(1).all(|id| id == "65534"),
        "{uid}"
    );
    assert!(
        server.log().contains("running as nobody (uid 65534"),
        "{}",
        server.log()
    );
    let mut c = server.login();
    assert_eq!(c.expect("SIZE a.txt", 213).text(), "8");
    let mut data = c.epsv();
    c.expect("STOR new.txt", 550);
    drop(data.write_all(b"x"));
    assert!(!srv.join("new.txt").exists());
}
