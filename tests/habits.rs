//! The classic `ftp` client's habits, typed as a person who knows it would,
//! through the real binaries: each works, or says in one line what to type
//! instead (issue 23).

mod common;

use std::fs;

use common::{names, Server, TempDir};

#[test]
fn the_classic_vocabulary_works() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a.txt"), b"aaa").unwrap();
    fs::write(srv.join("b.log"), b"b").unwrap();
    fs::write(srv.join("c.log"), b"c").unwrap();
    fs::create_dir(cli.join("here")).unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(
        cli.path(),
        &[],
        "binary\ntype i\nhash\nprompt\nlcd here\nlpwd\nmd made\ncd made\ncdup\ncd ..\npwd\n\
         rd made\nmdelete *.log\nls -l\ndir\npassive on\nget a.txt\npassive off\n!ls > listed\n\
         status\n?\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    let out = &run.stdout;
    for said in [
        "binary: files move byte for byte",
        "progress is shown at a terminal already",
        "MGET and MPUT never ask about each file",
        "local folder now ",
        "remote folder: /made",
        "deleted b.log",
        "deleted c.log",
        "passive mode on",
        "passive mode off: the server dials back",
        "received a.txt: 3 B",
        "mode: active (the server dials back for data); type: binary",
        "LPWD",
    ] {
        assert!(out.contains(said), "{said:?} missing from:\n{out}");
    }
    // `cd ..` and `cdup` at the root stay there; `ls -l` is a long listing.
    assert!(out.contains("\"/\"") || out.contains("\n/\n"), "{out}");
    assert!(out.contains("-rw"), "{out}");
    assert_eq!(names(srv.path()), ["a.txt"]);
    // `lcd` moved GET and `!` alike: both wrote into `here`.
    assert_eq!(names(&cli.join("here")), ["a.txt", "listed"]);
    assert!(fs::read_to_string(cli.join("here/listed"))
        .unwrap()
        .contains("a.txt"));
}

/// `ascii` moves text with CRLF line ends on the wire and the local kind on
/// disk, both ways (RFC 959 §3.1.1.1), and `binary` goes back to bytes as
/// they are; a raw session shows what crosses the wire.
#[test]
fn ascii_mode_converts_line_ends_on_the_wire_and_binary_does_not() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("unix.txt"), b"one\ntwo\n").unwrap();
    fs::write(cli.join("mine.txt"), b"a\nb\n").unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(
        cli.path(),
        &[],
        "ascii\nput mine.txt\nget unix.txt\nstatus\nbinary\nget unix.txt raw.txt\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.contains("type: ascii"), "{}", run.stdout);
    // Unix text arrives as Unix text, each way, through CRLF on the wire.
    assert_eq!(fs::read(srv.join("mine.txt")).unwrap(), b"a\nb\n");
    assert_eq!(fs::read(cli.join("unix.txt")).unwrap(), b"one\ntwo\n");
    assert_eq!(fs::read(cli.join("raw.txt")).unwrap(), b"one\ntwo\n");
    // On the wire: TYPE A sends CRLF and stores CRLF as LF; TYPE I neither.
    let mut c = server.login();
    c.expect("TYPE A", 200);
    let mut data = c.epsv();
    c.expect("RETR unix.txt", 150);
    let mut wire = Vec::new();
    std::io::Read::read_to_end(&mut data, &mut wire).unwrap();
    assert_eq!(c.reply().code, 226);
    assert_eq!(wire, b"one\r\ntwo\r\n");
    let mut data = c.epsv();
    c.expect("STOR dos.txt", 150);
    std::io::Write::write_all(&mut data, b"x\r\ny\rz\r\n").unwrap();
    drop(data);
    assert_eq!(c.reply().code, 226);
    assert_eq!(fs::read(srv.join("dos.txt")).unwrap(), b"x\ny\rz\n");
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("RETR unix.txt", 150);
    let mut wire = Vec::new();
    std::io::Read::read_to_end(&mut data, &mut wire).unwrap();
    assert_eq!(wire, b"one\ntwo\n");
}

#[test]
fn what_is_not_here_says_what_to_type_instead() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "lls\nlmkdir x\n");
    assert_eq!(run.code(), 1, "{run:?}");
    let err = &run.stderr;
    // A local command that is not here is never answered with the remote one.
    assert!(
        err.contains("unknown command LLS; the local commands are LCD, LPWD and !command"),
        "{err}"
    );
    assert!(
        err.contains("unknown command LMKDIR; the local commands"),
        "{err}"
    );
}

#[test]
fn a_host_alone_means_port_21_and_netrc_names_the_user() {
    let (srv, cli, home) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("home"),
    );
    let users = TempDir::new("users");
    let file = users.join("users");
    common::add_user(&file, "alice", "secret", srv.path(), "elr", 1000);
    let server = Server::start(srv.path(), &["--users", file.to_str().unwrap()]);
    fs::write(
        home.join(".netrc"),
        "machine 127.0.0.1 login alice password secret\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(home.join(".netrc"), fs::Permissions::from_mode(0o600)).unwrap();
    // No --user: the netrc's login for the host is the one used.
    let logged_in_as_alice = |args: &[&str]| {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_client"))
            .args(args)
            .arg("--dir")
            .arg(cli.path())
            .env("HOME", home.path())
            .env_remove("DIALBACK_PASSWORD")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{run:?}");
        assert!(out.contains("as alice"), "{out}");
    };
    let port = server.port.to_string();
    logged_in_as_alice(&["127.0.0.1", &port, "-c", "status"]);
    // OPEN looks the host's login up the same way.
    logged_in_as_alice(&["-c", &format!("open 127.0.0.1 {port}; status")]);
    // OPEN with a host alone dials port 21.
    let run = server.client(cli.path(), &[], "close\nopen 127.0.0.1\n");
    assert!(run.stderr.contains("127.0.0.1:21"), "{run:?}");
}

/// A control-connection relay to the server at `port` that sends every
/// EPRT the client gives to a port that never answers (`black_hole`): the
/// server's dial-back hangs, as behind a firewall that drops it.
fn firewalled(port: u16) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let hole = common::black_hole();
        for client in relay.incoming() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (mut to_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut &server, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Both);
            });
            let hole_port = hole.0;
            std::thread::spawn(move || {
                for line in BufReader::new(client).lines() {
                    let Ok(line) = line else { break };
                    let line = match line.to_ascii_uppercase().starts_with("EPRT ") {
                        true => format!("EPRT |1|127.0.0.1|{hole_port}|"),
                        false => line,
                    };
                    if to_server
                        .write_all(format!("{line}\r\n").as_bytes())
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = to_server.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    relay_port
}

/// Issue 23: behind a firewall that drops the dial-back, the first transfer
/// waited 31 s and failed with 425. Now the client gives the dial-back
/// 5 s, says in one line that it goes on in passive mode, connects again,
/// returns to its folder, and the transfer succeeds.
#[test]
fn a_dial_back_that_never_arrives_falls_back_to_passive_within_seconds() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir(srv.join("sub")).unwrap();
    fs::write(srv.join("sub/a.txt"), b"aaa").unwrap();
    let server = Server::start(srv.path(), &[]);
    let port = firewalled(server.port).to_string();
    let started = std::time::Instant::now();
    let run = common::client(
        &["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()],
        "cd sub\nget a.txt\nls\n",
    );
    let took = started.elapsed();
    println!("fell back in {took:?}");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "the server could not connect back (a firewall or NAT?): going on in passive mode; \
             connected again, back in /sub"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(cli.join("a.txt")).unwrap(), b"aaa");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}

/// Issue 23: after the server closes an idle session, the next command
/// connects again the same way, goes back to the same folder and runs.
#[test]
fn after_an_idle_timeout_the_next_command_connects_again_and_runs() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir(srv.join("sub")).unwrap();
    fs::write(srv.join("sub/a.txt"), b"aaa").unwrap();
    let server = Server::start(srv.path(), &["--idle-timeout", "0.5"]);
    let run = server.client(cli.path(), &[], "cd sub\n!sleep 1\nget a.txt\npwd\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout
            .contains("the server closed the session (Idle timeout"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("connected again, back in /sub"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("/sub\n"), "{}", run.stdout);
    assert_eq!(fs::read(cli.join("a.txt")).unwrap(), b"aaa");
}

/// Issue 22, item 9: a URL that names a file downloads it, as curl and lftp
/// do; one that names a folder starts there.
#[test]
fn a_url_naming_a_file_downloads_it() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir(srv.join("pub")).unwrap();
    fs::write(srv.join("pub/hello.txt"), b"hello").unwrap();
    let server = Server::start(srv.path(), &[]);
    let dir = cli.path().to_str().unwrap();
    let url = format!("ftp://127.0.0.1:{}/pub/hello.txt", server.port);
    let run = common::client(&[&url, "--dir", dir], "");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(fs::read(cli.join("hello.txt")).unwrap(), b"hello");
    let url = format!("ftp://127.0.0.1:{}/pub", server.port);
    let run = common::client(&[&url, "--dir", dir], "pwd\n");
    assert!(run.stdout.contains("remote folder: /pub"), "{run:?}");
}
