//! The client as people use it: under a pseudo-terminal (util-linux `script`)
//! for the prompt and the live progress line, and through pipes for scripts:
//! no prompt, no progress, `-c`, `-e`, `-q`, `-v`, MGET/MPUT, exit statuses.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{fake_server, names, pattern, Lie, Pty, Server, TempDir};

/// Runs the client with `args` on a pseudo-terminal, typing `input`; returns
/// everything the terminal showed (stdout and stderr together).
fn in_terminal(args: &[&str], input: &str) -> String {
    let mut line = env!("CARGO_BIN_EXE_client").to_string();
    for a in args {
        line += &format!(" '{a}'");
    }
    let state = TempDir::new("state");
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("XDG_STATE_HOME", state.path())
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
    // However long a busy machine makes the transfer, at most ~10 redraws a second.
    let took: f64 = shown
        .split("received slow.bin: 1000 B in ")
        .nth(1)
        .and_then(|rest| rest.split(" s").next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("no result line in seconds: {shown:?}"));
    assert!(
        redraws.len() as f64 <= 12.0 * took + 2.0,
        "100 updates in {took} s, more than ~10 redraws a second: {}",
        redraws.len()
    );
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
            .any(|l| l.starts_with("GET [-c | -r [--delete] [--checksum]] remote [local]: ")),
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

/// The client's command line for a pseudo-terminal, quoted for `sh`.
fn client_line(port: u16, dir: &std::path::Path, extra: &str) -> String {
    format!(
        "{} 127.0.0.1 {port} --dir '{}' {extra}",
        env!("CARGO_BIN_EXE_client"),
        dir.display()
    )
}

#[test]
fn the_line_editor_edits_completes_and_remembers_and_leaves_the_terminal_as_it_was() {
    let (srv, cli, state) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("state"),
    );
    for name in ["unique-name.txt", "report-a.txt", "report-b.txt"] {
        fs::write(srv.join(name), name).unwrap();
    }
    fs::create_dir(srv.join("reports")).unwrap();
    let server = Server::start(srv.path(), &[]);
    let prompt = format!("dialback 127.0.0.1:{}> ", server.port);
    // The terminal's settings are read before the client starts and after it ends.
    let stty = |name: &str| format!("stty -a > '{}'", state.join(name).display());
    let line = format!(
        "{}; {}; {}",
        stty("before"),
        client_line(server.port, cli.path(), ""),
        stty("after")
    );
    let mut term = Pty::spawn(&line, state.path());
    term.wait_for(&prompt);

    // Up recalls the last line.
    term.keys("help pwd\r");
    term.wait_for("show the remote folder");
    term.wait_for(&prompt);
    term.keys("\x1b[A");
    term.wait_for("help pwd");
    term.keys("\r");
    term.wait_for("show the remote folder");
    term.wait_for(&prompt);

    // Ctrl-A goes to the start, and what is typed goes in there; Backspace,
    // Left, Delete and End fix typos.
    term.keys("elp pwx\x7fd\x01h\r");
    term.wait_for("show the remote folder");
    term.wait_for(&prompt);
    term.keys("gte\x1b[D\x1b[D\x1b[3~\x1b[Ft unique-name.txt\r");
    term.wait_for("received unique-name.txt: ");
    term.wait_for(&prompt);

    // Tab completes one remote name, and a second Tab lists several.
    fs::remove_file(cli.join("unique-name.txt")).unwrap();
    term.keys("get uni\t");
    term.wait_for("get unique-name.txt ");
    term.keys("\r");
    term.wait_for("received unique-name.txt: ");
    term.wait_for(&prompt);
    term.keys("get rep\t");
    term.wait_for("get report");
    term.keys("\t\t");
    term.wait_for("report-a.txt  report-b.txt  reports/");
    term.keys("-b\t\r");
    term.wait_for("received report-b.txt: ");
    term.wait_for(&prompt);
    // Ctrl-R finds an earlier line by what it contains.
    term.keys("\x12uniq");
    term.wait_for("(search 'uniq'): get unique-name.txt");
    term.keys("\r");
    term.wait_for("received unique-name.txt: ");
    term.wait_for(&prompt);
    // Listings end their lines the terminal's way, never with a raw CR.
    term.keys("list\r");
    term.wait_for("unique-name.txt\r\n");
    term.wait_for(&prompt);
    assert!(!term.screen().contains("\r\r\n"), "{:?}", term.screen());
    // Command names complete too; Ctrl-C clears a line; Ctrl-D leaves.
    term.keys("pw\t");
    term.wait_for("pwd ");
    term.keys("\x03");
    term.wait_for("^C");
    term.wait_for(&prompt);
    term.keys("\x04");
    let (status, shown) = term.finish();
    assert!(status.success(), "{shown:?}");
    assert_eq!(fs::read(cli.join("report-b.txt")).unwrap(), b"report-b.txt");
    assert!(
        !shown.contains("^[[A") && !shown.contains("\\x1b"),
        "{shown:?}"
    );
    let before = fs::read_to_string(state.join("before")).unwrap();
    assert!(
        before.contains("icanon") && before.contains(" echo"),
        "{before}"
    );
    assert_eq!(fs::read_to_string(state.join("after")).unwrap(), before);

    // The history is there for the next run, newest last.
    let history = fs::read_to_string(state.join("dialback/history")).unwrap();
    assert!(
        history.ends_with("get unique-name.txt\nlist\n"),
        "{history}"
    );
    let mut term = Pty::spawn(&client_line(server.port, cli.path(), ""), state.path());
    term.wait_for(&prompt);
    term.keys("\x1b[A\x1b[A\x1b[B\x1b[A\r");
    term.wait_for("received unique-name.txt: ");
    term.wait_for(&prompt);
    term.keys("exit\r");
    let (status, shown) = term.finish();
    assert!(status.success(), "{shown:?}");
}

#[test]
fn ctrl_z_at_the_prompt_suspends_the_client_and_fg_goes_on_with_the_line() {
    let (srv, cli, state) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("state"),
    );
    fs::write(srv.join("unique-name.txt"), "u").unwrap();
    let server = Server::start(srv.path(), &[]);
    let prompt = format!("dialback 127.0.0.1:{}> ", server.port);
    // An interactive shell, for job control: it alone can stop and resume a job.
    let mut term = Pty::spawn(
        "PS1='shell$ ' exec bash --norc --noprofile -i",
        state.path(),
    );
    term.wait_for("shell$ ");
    term.keys(&format!("{}\r", client_line(server.port, cli.path(), "")));
    term.wait_for(&prompt);
    term.keys("get uni\x1a");
    term.wait_for("^Z");
    term.wait_for("Stopped");
    term.wait_for("shell$ ");
    // The terminal is the shell's again: it echoes and edits lines itself.
    term.keys("echo back to the shell\r");
    term.wait_for("back to the shell");
    term.wait_for("shell$ ");
    term.keys("fg\r");
    // The line as it was, the cursor at its end, the terminal raw again.
    term.wait_for(&format!("{prompt}get uni"));
    term.keys("que-name.txt\r");
    term.wait_for("received unique-name.txt: ");
    term.wait_for(&prompt);
    term.keys("\x04");
    term.wait_for("shell$ ");
    term.keys("exit\r");
    let (status, shown) = term.finish();
    assert!(status.success(), "{shown:?}");
    assert_eq!(fs::read(cli.join("unique-name.txt")).unwrap(), b"u");
}

/// The client in verbose mode at a pseudo-terminal, talking to a fake server
/// that misbehaves as told, at its first prompt. Returns the terminal, the
/// client's folder, its state folder (kept alive) and the server's port.
fn verbose_against(lie: Lie) -> (Pty, TempDir, TempDir, u16) {
    let (cli, state) = (TempDir::new("cli"), TempDir::new("state"));
    let port = fake_server(lie);
    // `exec`: the client alone gets the Ctrl-C typed at the terminal.
    let line = format!("exec {}", client_line(port, cli.path(), "-v"));
    let mut term = Pty::spawn(&line, state.path());
    term.wait_for(&format!("dialback 127.0.0.1:{port}> "));
    (term, cli, state, port)
}

#[test]
fn ctrl_c_during_a_transfer_aborts_it_and_keeps_what_came_then_twice_at_the_prompt_leaves() {
    let (mut term, cli, _state, port) = verbose_against(Lie::Trickle);
    let prompt = format!("dialback 127.0.0.1:{port}> ");
    term.keys("get slow.bin\r");
    // The progress line shows once bytes move: the transfer is under way.
    term.wait_for("slow.bin ");
    assert!(
        names(cli.path())
            .iter()
            .any(|n| n.starts_with(".dialback-")),
        "a temporary file while receiving: {:?}",
        names(cli.path())
    );
    term.keys("\x03");
    term.wait_for("> ABOR");
    // What arrived is kept as the resumable partial file, never under the
    // final name, and the line says so (issue 23).
    term.wait_for("error: get slow.bin: interrupted; ");
    term.wait_for(" kept (GET -c goes on from there)");
    term.wait_for(&prompt);
    assert_eq!(names(cli.path()), [".dialback-get-slow.bin.part"]);
    assert!(
        fs::metadata(cli.join(".dialback-get-slow.bin.part"))
            .unwrap()
            .len()
            > 0
    );
    // The session goes on.
    term.keys("pwd\r");
    term.wait_for("< 200 ");
    term.wait_for(&prompt);
    // A listing stops the same way.
    term.keys("list\r");
    term.wait_for("< 150 ");
    thread::sleep(Duration::from_millis(300));
    term.keys("\x03");
    term.wait_for("> ABOR");
    term.wait_for("error: list: interrupted");
    term.wait_for(&prompt);
    term.keys("pwd\r");
    term.wait_for("< 200 ");
    term.wait_for(&prompt);
    term.keys("\x03");
    term.wait_for("Ctrl-C again");
    term.keys("\x03");
    let (status, shown) = term.finish();
    assert_eq!(status.code(), Some(1), "a command failed: {shown:?}");
    assert_eq!(names(cli.path()), [".dialback-get-slow.bin.part"]);
}

#[test]
fn ctrl_c_while_the_server_does_not_answer_gives_the_prompt_back_at_once() {
    let (mut term, _cli, _state, port) = verbose_against(Lie::Deaf);
    term.keys("cd nowhere\r");
    term.wait_for("> CWD nowhere");
    // The client is waiting for the reply (a minute before its stall timeout).
    thread::sleep(Duration::from_millis(300));
    term.keys("\x03");
    // Well before the stall timeout (the wait below gives up after 20 s).
    term.wait_for(&format!(
        "error: cd nowhere: interrupted; the connection to 127.0.0.1:{port} is closed"
    ));
    term.wait_for("dialback> ");
    term.keys("pwd\r");
    term.wait_for("error: not connected (the connection to");
    term.wait_for("dialback> ");
    term.keys("\x04");
    let (status, shown) = term.finish();
    assert_eq!(status.code(), Some(1), "a command failed: {shown:?}");
}

#[test]
fn ctrl_c_while_a_passive_data_port_does_not_answer_gives_the_prompt_back() {
    let (mut term, _cli, _state, port) = verbose_against(Lie::DeadPassive);
    term.keys("passive\r");
    term.wait_for("dialback 127.0.0.1");
    term.keys("get x\r");
    term.wait_for("< 229 ");
    // Past the first second, which the client waits without a thread.
    thread::sleep(Duration::from_millis(1500));
    term.keys("\x03");
    // Well before the 30 s connect timeout (the wait below gives up after 20 s).
    term.wait_for("error: get x: ");
    term.wait_for("interrupted");
    term.wait_for("dialback 127.0.0.1");
    // Nothing was left owing on the control connection: the session goes on.
    term.keys("pwd\r");
    term.wait_for("< 200 ");
    term.wait_for(&format!("dialback 127.0.0.1:{port}> "));
    term.keys("\x04");
    let (status, shown) = term.finish();
    assert_eq!(status.code(), Some(1), "a command failed: {shown:?}");
}

#[test]
fn a_second_ctrl_c_stops_the_wait_for_a_server_that_ignores_abor() {
    // Half the file, then a silent data connection and no reply at all.
    let (mut term, cli, _state, port) = verbose_against(Lie::HoldsData);
    term.keys("get half.bin\r");
    term.wait_for("< 150 ");
    thread::sleep(Duration::from_millis(300));
    term.keys("\x03");
    term.wait_for("> ABOR");
    thread::sleep(Duration::from_millis(300));
    term.keys("\x03");
    term.wait_for(&format!(
        "error: get half.bin: interrupted; the connection to 127.0.0.1:{port} is closed"
    ));
    term.wait_for("dialback> ");
    assert_eq!(names(cli.path()), [".dialback-get-half.bin.part"]);
    term.keys("\x04");
    let (status, shown) = term.finish();
    assert_eq!(status.code(), Some(1), "a command failed: {shown:?}");
}

#[test]
fn sigterm_during_a_scripted_transfer_ends_the_client_keeping_only_the_partial_file() {
    let cli = TempDir::new("cli");
    let port = fake_server(Lie::Trickle).to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()])
        .args(["-c", "GET slow.bin; GET slow.bin again.bin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let receiving = common::eventually(std::time::Duration::from_secs(10), || {
        names(cli.path())
            .iter()
            .any(|n| n.starts_with(".dialback-"))
    });
    assert!(receiving, "no transfer under way");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("error: GET slow.bin: interrupted; "),
        "{stderr}"
    );
    assert_eq!(names(cli.path()), [".dialback-get-slow.bin.part"]);
}

#[test]
fn sigterm_while_open_waits_for_a_host_that_does_not_answer_ends_the_client_at_once() {
    let (port, _listener, _held) = common::black_hole();
    let child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["-c", &format!("OPEN 127.0.0.1 {port}; PWD")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The connect is under way (its timeout is 30 s).
    thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(start.elapsed() < Duration::from_secs(5), "{stderr}");
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains(&format!("error: OPEN 127.0.0.1 {port}: interrupted")),
        "{stderr}"
    );
}

/// Issue 23: the classic `ftp` habits typed at a terminal, each seen working
/// before the next is typed (the script-fed run of them all is in
/// `tests/habits.rs`).
#[test]
fn classic_ftp_habits_typed_at_a_terminal_work() {
    let (srv, cli, state) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("state"),
    );
    fs::write(srv.join("notes.txt"), b"n").unwrap();
    fs::write(srv.join("old.log"), b"o").unwrap();
    fs::create_dir(cli.join("in")).unwrap();
    let server = Server::start(srv.path(), &[]);
    let line = format!("exec {}", client_line(server.port, cli.path(), ""));
    let mut term = Pty::spawn(&line, state.path());
    let prompt = format!("dialback 127.0.0.1:{}> ", server.port);
    term.wait_for(&prompt);
    for (typed, seen) in [
        ("binary", "binary: files move byte for byte"),
        ("lcd in", "local folder now "),
        ("lpwd", "/in"),
        ("md made", "made made"),
        ("cd made", "remote folder: /made"),
        ("cdup", "remote folder: /"),
        ("cd ..", "remote folder: /"),
        ("rd made", "removed made"),
        ("hash", "progress is shown at a terminal already"),
        ("prompt", "MGET and MPUT never ask"),
        ("passive on", "passive mode on"),
        ("ls -l", "notes.txt"),
        ("passive off", "passive mode off"),
        ("get notes.txt", "received notes.txt"),
        ("!echo shell-says-hi", "shell-says-hi"),
        ("mdelete *.log", "deleted old.log"),
        ("status", "type: binary"),
        ("?", "LPWD"),
    ] {
        term.keys(&format!("{typed}\r"));
        term.wait_for(seen);
        term.wait_for(&prompt);
    }
    term.keys("exit\r");
    let (status, shown) = term.finish();
    assert!(status.success(), "{shown:?}");
    assert_eq!(fs::read(cli.join("in/notes.txt")).unwrap(), b"n");
    assert_eq!(names(srv.path()), ["notes.txt"]);
}
