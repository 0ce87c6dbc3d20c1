//! The client as people use it: under a pseudo-terminal (util-linux `script`)
//! for the prompt and the live progress line, and through pipes for scripts:
//! no prompt, no progress, `-c`, `-e`, `-q`, `-v`, MGET/MPUT, exit statuses.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::{fake_server, pattern, Lie, Server, TempDir};

/// Runs the client with `args` on a pseudo-terminal, typing `input`; returns
/// everything the terminal showed (stdout and stderr together).
fn in_terminal(args: &[&str], input: &str) -> String {
    let mut line = env!("CARGO_BIN_EXE_client").to_string();
    for a in args {
        line += &format!(" '{a}'");
    }
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs the client on a pseudo-terminal");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_gets_a_prompt_that_says_where_you_are() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a.txt"), b"A").unwrap();
    let server = Server::start(srv.path(), &[]);
    let port = server.port.to_string();
    let shown = in_terminal(
        &["--dir", cli.path().to_str().unwrap()],
        &format!("open {port}\nget a.txt\nclose\n"),
    );
    assert!(shown.contains("dialback> "), "{shown:?}");
    assert!(
        shown.contains(&format!("dialback 127.0.0.1:{port}> ")),
        "{shown:?}"
    );
    assert!(shown.contains("received a.txt: 1 B in "), "{shown:?}");
    assert_eq!(fs::read(cli.join("a.txt")).unwrap(), b"A");
}

#[test]
fn a_slow_transfer_at_a_terminal_shows_live_progress_then_the_result() {
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::Slow).to_string();
    let shown = in_terminal(
        &["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()],
        "GET slow.bin\n",
    );
    // Redrawn in place: carriage return and erase-line before each redraw.
    let redraws: Vec<&str> = shown
        .split("\r\x1b[K")
        .skip(1)
        .filter(|d| d.starts_with("slow.bin "))
        .collect();
    assert!(redraws.len() >= 3, "{shown:?}");
    assert!(
        redraws
            .iter()
            .any(|d| d.contains("% ") && d.contains(" of 1000 B") && d.contains(" left")),
        "{redraws:?}"
    );
    assert!(
        redraws.len() <= 20,
        "100 updates in ~1.5 s, more than ~10 redraws a second: {}",
        redraws.len()
    );
    assert!(shown.contains("received slow.bin: 1000 B in "), "{shown:?}");
    assert_eq!(fs::read(cli.join("slow.bin")).unwrap(), pattern(1000, 9));
}

#[test]
fn scripts_get_no_prompt_and_no_progress() {
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::Slow).to_string();
    let run = common::client(
        &["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()],
        "GET slow.bin\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>().len(),
        2,
        "{:?}",
        run.stdout
    );
    assert!(!run.stdout.contains("dialback"), "{:?}", run.stdout);
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
}

#[test]
fn command_strings_quiet_verbose_and_stop_on_error() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a b.txt"), b"spaced").unwrap();
    fs::write(cli.join("up.txt"), b"up").unwrap();
    let server = Server::start(srv.path(), &[]);

    let run = server.client(
        cli.path(),
        &["-c", "GET \"a b.txt\"; PUT up.txt; GET a\\ b.txt copy.txt"],
        "ignored",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stdout);
    assert_eq!(fs::read(cli.join("copy.txt")).unwrap(), b"spaced");

    let run = server.client(cli.path(), &["-q"], "GET \"a b.txt\"\n");
    assert_eq!((run.code(), run.stdout.as_str()), (0, ""));

    let run = server.client(cli.path(), &["-v"], "GET \"a b.txt\"\n");
    assert!(
        run.stderr.contains("> RETR a b.txt") && run.stderr.contains("< 226 "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("> PASS ****"),
        "the password is not shown: {}",
        run.stderr
    );

    let run = server.client(cli.path(), &["-e"], "GET nope\nGET \"a b.txt\" later.txt\n");
    assert_eq!(run.code(), 1);
    assert!(
        !cli.join("later.txt").exists(),
        "-e went on after a failure"
    );
    let run = server.client(cli.path(), &[], "GET nope\nGET \"a b.txt\" later.txt\n");
    assert_eq!(run.code(), 1);
    assert!(
        cli.join("later.txt").exists(),
        "without -e the client goes on"
    );

    let run = server.client(cli.path(), &[], "GTE x\nhelp get\n");
    assert!(run.stderr.contains("did you mean GET?"), "{}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("GET [-c | -r [--delete]] remote [local]: ")),
        "{}",
        run.stdout
    );
}

#[test]
fn mget_and_mput_take_wildcards() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir(srv.join("logs")).unwrap();
    for name in ["a1.log", "a2.log", "b1.log", "notes.txt"] {
        fs::write(srv.join("logs").join(name), name).unwrap();
        fs::write(cli.join(name), name.to_uppercase()).unwrap();
    }
    let server = Server::start(srv.path(), &[]);
    let run = server.client(
        cli.path(),
        &["--dir", cli.path().to_str().unwrap()],
        "MPUT a?.log *.txt\nMGET logs/a*.log\nMGET *.zip\n",
    );
    assert_eq!(run.code(), 1, "the last MGET matches nothing: {run:?}");
    let lines: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(
        lines[0].starts_with("sent a1.log") && lines[2].starts_with("sent notes.txt"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("received a1.log") && lines[4].starts_with("received a2.log"),
        "{lines:?}"
    );
    assert!(
        run.stderr.contains("no remote file matches *.zip"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read(srv.join("a2.log")).unwrap(), b"A2.LOG");
    assert_eq!(fs::read(srv.join("notes.txt")).unwrap(), b"NOTES.TXT");
    assert!(!srv.join("b1.log").exists());
    assert_eq!(fs::read(cli.join("a1.log")).unwrap(), b"a1.log");
    assert_eq!(
        fs::read(cli.join("b1.log")).unwrap(),
        b"B1.LOG",
        "b1 did not match"
    );
}
