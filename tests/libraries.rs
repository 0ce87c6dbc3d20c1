//! Issue 22: the FTP libraries and small clients of other languages, each
//! driven by a script of ours in `tests/peers/` against our server (and
//! aioftp's server against our client): Node's basic-ftp, ftp and jsftp,
//! Ruby's Net::FTP, Perl's Net::FTP, Java's Apache Commons Net, Python's
//! aioftp, wput, and tnftp's Ctrl-C. They need the peers installed (`bash
//! .ci/install-peers`), so they are `#[ignore]`d for a plain `cargo test`;
//! CI runs them with `--include-ignored`, and a missing peer fails them.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{pattern, Pty, Server, TempDir};

/// Where `.ci/install-peers` puts what it fetches from the npm registry.
fn peers() -> PathBuf {
    match std::env::var_os("DIALBACK_PEERS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/dialback-peers")
        }
    }
}

/// One of our peer scripts.
fn script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program` to its end (killed after 120 s) and returns what it said;
/// fails the test unless it succeeded and said `ok` last.
fn said_ok(mut cmd: Command) -> String {
    let program = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run `bash .ci/install-peers`"));
    let id = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        let _ = Command::new("kill").arg(id.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && said.trim_end().ends_with("ok"),
        "{program}: {:?}\nstdout: {said}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

/// A shared folder, a server on it, a client folder with a 3 MB binary
/// payload and a text file with LF line ends.
struct Stage {
    srv: TempDir,
    cli: TempDir,
    server: Server,
}

const TEXT: &[u8] = b"line one\nline two\n\nthe last line\n";

impl Stage {
    fn new() -> Stage {
        let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
        fs::write(cli.join("payload"), pattern(3_000_000, 22)).unwrap();
        fs::write(cli.join("text.txt"), TEXT).unwrap();
        let server = Server::start(srv.path(), &[]);
        Stage { srv, cli, server }
    }

    fn port(&self) -> String {
        self.server.port.to_string()
    }

    fn arg(&self, name: &str) -> String {
        self.cli.join(name).display().to_string()
    }

    /// What the scripts that move text too take: PORT PAYLOAD TEXT OUTDIR.
    fn text_args(&self) -> [String; 4] {
        let out = self.cli.path().display().to_string();
        [self.port(), self.arg("payload"), self.arg("text.txt"), out]
    }
}

#[test]
#[ignore = "needs node and the npm packages basic-ftp, ftp and jsftp: run .ci/install-peers"]
fn node_ftp_libraries_upload_and_download_with_our_server() {
    let stage = Stage::new();
    let mut node = Command::new("node");
    node.env("NODE_PATH", peers().join("node/node_modules"))
        .args([script("node_ftp.js"), stage.port(), stage.arg("payload")]);
    let said = said_ok(node);
    print!("{said}");
    let payload = fs::read(stage.cli.join("payload")).unwrap();
    for name in ["basic1.bin", "basic2.bin", "ftp.bin", "jsftp.bin"] {
        assert!(fs::read(stage.srv.join(name)).unwrap() == payload, "{name}");
    }
    // The APPE after the STOR.
    assert!(
        fs::read(stage.srv.join("basic0.bin")).unwrap() == [&payload[..], &payload[..]].concat()
    );
}

#[test]
#[ignore = "needs ruby: run .ci/install-peers"]
fn ruby_net_ftp_works_with_our_server() {
    let stage = Stage::new();
    let mut ruby = Command::new("ruby");
    ruby.arg(script("ruby_ftp.rb")).args(stage.text_args());
    said_ok(ruby);
    // Text went as TYPE A (CRLF on the wire) and is stored as sent (LF).
    for name in ["rb-p.txt", "rb-a.txt"] {
        assert_eq!(fs::read(stage.srv.join(name)).unwrap(), TEXT, "{name}");
    }
}

#[test]
#[ignore = "needs perl (Net::FTP is in its core): run with --include-ignored"]
fn perl_net_ftp_works_with_our_server() {
    let stage = Stage::new();
    let mut perl = Command::new("perl");
    perl.arg(script("perl_ftp.pl")).args(stage.text_args());
    said_ok(perl);
    // Perl announces a text file's local size (ALLO) and sends more (CRLF):
    // the upload is whole all the same.
    for name in ["pl-p.txt", "pl-a.txt"] {
        assert_eq!(fs::read(stage.srv.join(name)).unwrap(), TEXT, "{name}");
    }
}

#[test]
#[ignore = "needs java and Debian's libcommons-net-java: run .ci/install-peers"]
fn java_commons_net_works_with_our_server() {
    let stage = Stage::new();
    let mut java = Command::new("java");
    java.args([
        "-cp",
        "/usr/share/java/commons-net.jar",
        &script("JavaFtp.java"),
        &stage.port(),
        &stage.arg("payload"),
    ]);
    said_ok(java);
    let payload = fs::read(stage.cli.join("payload")).unwrap();
    for name in ["java-p.stream", "java-a.stream"] {
        assert!(fs::read(stage.srv.join(name)).unwrap() == payload, "{name}");
    }
}

#[test]
#[ignore = "needs aioftp (PyPI): run .ci/install-peers"]
fn aioftp_client_works_with_our_server() {
    let stage = Stage::new();
    let mut python = Command::new("python3");
    python.args([
        script("aioftp_client.py"),
        stage.port(),
        stage.arg("payload"),
    ]);
    said_ok(python);
    let payload = fs::read(stage.cli.join("payload")).unwrap();
    assert!(fs::read(stage.srv.join("aio.moved")).unwrap() == payload);
}

/// aioftp's server has no active mode (502 to EPRT and PORT) and no NLST:
/// our client, active by default, goes passive and says so once, and MGET
/// matches names from the listing; trees go both ways.
#[test]
#[ignore = "needs aioftp (PyPI): run .ci/install-peers"]
fn our_client_works_with_aioftp_server() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir_all(srv.join("tree/sub")).unwrap();
    fs::write(srv.join("a.txt"), b"alpha").unwrap();
    fs::write(srv.join("b.txt"), b"beta").unwrap();
    fs::write(srv.join("tree/sub/x.bin"), pattern(100_000, 3)).unwrap();
    fs::write(srv.join("tree/t.txt"), b"tee").unwrap();
    fs::write(cli.join("payload"), pattern(3_000_000, 4)).unwrap();
    let mut child = Command::new("python3")
        .args([&script("aioftp_server.py"), srv.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let commands = "PUT payload up.bin\nGET up.bin back.bin\nMGET *.txt\nGET -r tree got\n\
                    PUT -r got up-tree\nGET -r tree got\n";
    let dir = cli.path().to_str().unwrap();
    let run = common::client(&["127.0.0.1", port.trim(), "--dir", dir], commands);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(run.code(), 0, "{run:?}");
    let went = "the server has no active mode";
    assert_eq!(run.stdout.matches(went).count(), 1, "{}", run.stdout);
    assert!(fs::read(cli.join("back.bin")).unwrap() == pattern(3_000_000, 4));
    assert_eq!(fs::read(cli.join("a.txt")).unwrap(), b"alpha");
    assert_eq!(fs::read(cli.join("b.txt")).unwrap(), b"beta");
    assert_eq!(
        common::tree_of(&srv.join("tree")),
        common::tree_of(&cli.join("got"))
    );
    assert_eq!(
        common::tree_of(&srv.join("tree")),
        common::tree_of(&srv.join("up-tree"))
    );
    assert!(
        run.stdout.contains("received got: 0 files"),
        "{}",
        run.stdout
    );
}

/// wput sends `.txt` files in ASCII mode (TYPE A): they are stored with the
/// line ends the user's file had, CRLF ones made LF as proftpd does; other
/// files byte for byte.
#[test]
#[ignore = "needs wput: run .ci/install-peers"]
fn wput_uploads_text_and_binary_files_to_our_server() {
    let stage = Stage::new();
    fs::write(stage.cli.join("dos.txt"), b"a\r\nb\r\n").unwrap();
    let url = format!("ftp://anonymous:x@127.0.0.1:{}/", stage.port());
    let out = Command::new("wput")
        .args(["-nv", "text.txt", "payload", "dos.txt", &url])
        .current_dir(stage.cli.path())
        .output()
        .expect("wput: run .ci/install-peers");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(stage.srv.join("text.txt")).unwrap(), TEXT);
    assert_eq!(fs::read(stage.srv.join("dos.txt")).unwrap(), b"a\nb\n");
    assert!(fs::read(stage.srv.join("payload")).unwrap() == pattern(3_000_000, 22));
    let log = stage.server.log();
    assert!(log.contains("received \"text.txt\": "), "{log}");
}

/// Ctrl-C in tnftp during a download (it stops reading and sends ABOR with
/// Telnet's IP and Synch) gives the prompt back at once, and the session
/// goes on; the report had 17 s. The server logs the transfer as aborted.
#[test]
#[ignore = "needs tnftp: run .ci/install-peers"]
fn tnftp_ctrl_c_during_a_download_gives_the_prompt_back_at_once() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("big.bin"), pattern(64 << 20, 5)).unwrap();
    let server = Server::start(srv.path(), &[]);
    let state = TempDir::new("state");
    let line = format!("exec tnftp -n 127.0.0.1 {}", server.port);
    let mut term = Pty::spawn(&line, state.path());
    term.wait_for("ftp> ");
    term.keys("user anonymous x\r");
    term.wait_for("230 ");
    term.wait_for("ftp> ");
    // Slowly (200 KB/s), so that it is still going when Ctrl-C comes.
    term.keys("rate get 200000\r");
    term.wait_for("ftp> ");
    term.keys("get big.bin /dev/null\r");
    term.wait_for("150 ");
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    term.keys("\x03");
    term.wait_for("ftp> ");
    let took = started.elapsed();
    println!("tnftp: the prompt was back {took:?} after Ctrl-C");
    assert!(took < Duration::from_secs(3), "{took:?}: {}", term.screen());
    term.keys("pwd\r");
    term.wait_for("Remote directory: /");
    term.keys("quit\r");
    let (status, _) = term.finish();
    assert!(status.success());
    let log = server.log();
    assert!(log.contains("sending \"big.bin\" aborted"), "{log}");
}
