//! Accounts end to end, through the real binaries: users made with `server
//! user add`, each landing in their own root with their own permissions;
//! wrong names and wrong passwords that look alike; the growing delay; anonymous
//! access off and on; a users file changed under a running server; and the
//! client's ways to give a password. (The burst of wrong passwords beside a
//! download is in `login_burst.rs`, alone in its binary so nothing else runs
//! beside its timings.)

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{user_cmd, Ctrl, Server, TempDir};

/// Iterations for test accounts: debug builds hash slowly, and the count is
/// the file's to choose (the default, 600,000, is the benchmark's).
const ITERATIONS: u32 = 2000;

/// Adds an account to `file` through `server user add`.
fn add(file: &Path, name: &str, password: &str, root: &Path, perms: &str) {
    common::add_user(file, name, password, root, perms, ITERATIONS);
}

/// A shared folder and a users file beside it holding `name` (password
/// `password`, permissions `perms`, root the shared folder).
fn one_account(
    label: &str,
    name: &str,
    password: &str,
    perms: &str,
) -> (TempDir, TempDir, std::path::PathBuf) {
    let top = TempDir::new(label);
    let users = TempDir::new(&format!("{label}-users"));
    let file = users.join("users");
    add(&file, name, password, top.path(), perms);
    (top, users, file)
}

/// A logged-in raw session as `name`, or the 530 reply's text.
fn log_in(port: u16, name: &str, password: &str) -> Result<Ctrl, String> {
    let mut c = Ctrl::connect(port);
    c.expect(&format!("USER {name}"), 331);
    c.send(&format!("PASS {password}"));
    let reply = c.reply();
    match reply.code {
        230 => Ok(c),
        530 => Err(reply.text()),
        other => panic!("PASS got {other}: {reply:?}"),
    }
}

#[test]
fn each_user_lands_in_their_own_root_and_a_read_only_user_changes_nothing() {
    let (top, outside) = (TempDir::new("acct-top"), TempDir::new("acct-outside"));
    let (alice, bob) = (outside.sub("alice"), top.sub("bob"));
    fs::write(alice.join("mine.txt"), b"alice's").unwrap();
    fs::write(bob.join("his.txt"), b"bob's").unwrap();
    fs::write(top.join("shared.txt"), b"top").unwrap();
    let users = TempDir::new("acct-users");
    let file = users.join("users");
    add(&file, "alice", "a-pass", &alice, "elradfmwMT");
    add(&file, "bob", "b-pass", &bob, "elr");
    let server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    let port = server.port.to_string();
    let local = TempDir::new("acct-local");
    fs::write(local.join("up.txt"), b"uploaded").unwrap();
    let as_user = |user: &str, password: &str, script: &str| {
        Command::new(env!("CARGO_BIN_EXE_client"))
            .args(["127.0.0.1", &port, "--user", user, "--dir"])
            .arg(local.path())
            .args(["-c", script])
            .env("DIALBACK_PASSWORD", password)
            .env("HOME", users.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // alice's root is outside the server's; she sees it as / and no further.
    let out = as_user("alice", "a-pass", "PWD; LIST; PUT up.txt; GET mine.txt");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("mine.txt") && !stdout.contains("shared.txt"),
        "{stdout}"
    );
    assert!(!stdout.contains("/tmp"), "{stdout}");
    assert_eq!(fs::read(alice.join("up.txt")).unwrap(), b"uploaded");
    assert_eq!(fs::read(local.join("mine.txt")).unwrap(), b"alice's");
    let mut c = log_in(server.port, "alice", "a-pass").unwrap();
    for path in ["../bob/his.txt", "/../shared.txt", "../../etc/passwd"] {
        c.expect(&format!("SIZE {path}"), 550);
    }
    c.expect("CWD ..", 250); // Above her root is her root, as on vsftpd.
    assert_eq!(c.expect("PWD", 257).text(), "\"/\" is the current folder.");
    c.expect("SIZE shared.txt", 550);
    // bob reads and lists; every kind of change is refused, and nothing changes.
    let before = common::tree_of(top.path());
    let mut c = log_in(server.port, "bob", "b-pass").unwrap();
    c.expect("SIZE his.txt", 213);
    for line in [
        "DELE his.txt",
        "RNFR his.txt",
        "MKD new",
        "RMD .",
        "MFMT 20200101000000 his.txt",
        "SITE CHMOD 777 his.txt",
    ] {
        let refused = c.expect(line, 550).text();
        assert!(refused.contains("not allowed for bob"), "{line}: {refused}");
    }
    for line in ["STOR x", "APPE his.txt"] {
        c.expect_class("EPSV", 2);
        c.expect(line, 550);
    }
    let out = as_user("bob", "b-pass", "PUT up.txt; MKDIR d; DELETE his.txt");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::tree_of(top.path()), before);
    let log = server.log();
    assert!(
        log.contains("logged in as \"alice\" (lradfmwMT) in "),
        "{log}"
    );
    assert!(log.contains("logged in as \"bob\" (lr)"), "{log}");
    assert!(
        !log.contains("a-pass") && !log.contains("b-pass"),
        "no password in the log"
    );
}

#[test]
fn delete_and_rename_permissions_are_held_apart() {
    let top = TempDir::new("acct-perms");
    for name in ["a.txt", "b.txt", "c.txt"] {
        fs::write(top.join(name), name).unwrap();
    }
    let users = TempDir::new("acct-perms-users");
    let file = users.join("users");
    add(&file, "deleter", "pw", top.path(), "elrd");
    add(&file, "renamer", "pw", top.path(), "elrf");
    add(&file, "writer", "pw", top.path(), "elrwm");
    let server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    let mut d = log_in(server.port, "deleter", "pw").unwrap();
    d.expect("RNFR a.txt", 550);
    d.expect("DELE a.txt", 250);
    d.expect("MKD m", 550);
    let mut r = log_in(server.port, "renamer", "pw").unwrap();
    r.expect("DELE b.txt", 550);
    r.expect("RNFR b.txt", 350);
    r.expect("RNTO renamed.txt", 250);
    let mut w = log_in(server.port, "writer", "pw").unwrap();
    w.expect("MKD m", 257);
    w.expect("DELE c.txt", 550);
    w.expect("RNFR c.txt", 550);
    w.expect_class("EPSV", 2);
    w.expect("APPE c.txt", 550);
    assert_eq!(common::names(top.path()), ["c.txt", "m", "renamed.txt"]);
}

/// The time a fresh server takes to refuse `name`/`password`, and its replies.
fn first_refusal(root: &Path, file: &Path, name: &str) -> (Duration, String, String) {
    let args = ["--users", file.to_str().unwrap(), "--login-delay", "0.1"];
    let server = Server::start(root, &args);
    let mut c = Ctrl::connect(server.port);
    let user = c.expect(&format!("USER {name}"), 331).text();
    let start = Instant::now();
    let refused = c.expect("PASS wrong", 530).text();
    (start.elapsed(), user, refused)
}

#[test]
fn a_wrong_password_and_an_unknown_name_look_the_same() {
    let top = TempDir::new("acct-same");
    let users = TempDir::new("acct-same-users");
    let file = users.join("users");
    // Slow enough that skipping the hash for unknown names would show.
    common::add_user(&file, "alice", "right", top.path(), "elradfmwMT", 200_000);
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let k = first_refusal(top.path(), &file, "alice");
        let u = first_refusal(top.path(), &file, "mallory");
        assert_eq!((&k.1, &k.2), (&u.1, &u.2), "the same words");
        known.push(k.0);
        unknown.push(u.0);
    }
    // The fastest of each: what the work costs, without the busy machine's
    // hiccups (a median of 3 once read 0.34 s against 0.25 s on a loaded host,
    // a gap larger than the whole hash).
    let (k, u) = (known.iter().min().unwrap(), unknown.iter().min().unwrap());
    let (k, u) = (k.as_secs_f64(), u.as_secs_f64());
    println!("first refusal, fastest of 5: wrong password {k:.3} s, unknown name {u:.3} s");
    assert!(k >= 0.1 && u >= 0.1, "the delay applies to both");
    assert!(
        (k - u).abs() < 0.25 * k.max(u),
        "wrong password {k:.3} s, unknown name {u:.3} s"
    );
}

#[test]
fn the_delay_grows_and_three_failures_close_the_session() {
    let top = TempDir::new("acct-delay");
    let users = TempDir::new("acct-delay-users");
    let file = users.join("users");
    add(&file, "alice", "right", top.path(), "elr");
    // The delays as the default 0.5 s makes them, one fifth as long.
    let args = ["--users", file.to_str().unwrap(), "--login-delay", "0.1"];
    let server = Server::start(top.path(), &args);
    let mut c = Ctrl::connect(server.port);
    let mut times = Vec::new();
    for _ in 0..3 {
        c.expect("USER alice", 331);
        let start = Instant::now();
        c.expect("PASS wrong", 530);
        times.push(start.elapsed().as_secs_f64());
    }
    println!("three failures in a row: {times:.2?} s");
    assert!(
        times[0] >= 0.1 && times[1] >= 0.2 && times[2] >= 0.4,
        "{times:?}"
    );
    let mut rest = Vec::new();
    c.stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closed after the third: {rest:?}");
    // The address's next try waits too, even with the right password...
    let start = Instant::now();
    let mut next = Ctrl::connect(server.port);
    next.expect("USER alice", 331);
    next.expect("PASS wrong", 530);
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    // ...and the right password gets in, and clears the count.
    assert!(log_in(server.port, "alice", "right").is_ok());
    let start = Instant::now();
    assert!(log_in(server.port, "alice", "wrong").is_err());
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

/// Starts `server 0 ARGS...`, returns its two start-up lines, and kills it.
fn start_up_lines(args: &[&str]) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("0")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    (first, second)
}

#[test]
fn anonymous_is_off_with_users_on_with_anonymous_and_the_start_up_line_says_so() {
    let top = TempDir::new("acct-anon");
    fs::write(top.join("pub.txt"), b"public").unwrap();
    let users = TempDir::new("acct-anon-users");
    let file = users.join("users");
    add(&file, "alice", "pw", top.path(), "elr");
    let (root, f) = (top.path().to_str().unwrap(), file.to_str().unwrap());
    let (listening, open) = start_up_lines(&["--root", root]);
    let port = listening.rsplit(':').next().unwrap();
    let real = fs::canonicalize(top.path()).unwrap();
    assert_eq!(
        open,
        format!("anyone who can reach port {port} can read and write {root}")
    );
    let (_, read_only) = start_up_lines(&["--root", root, "--read-only"]);
    assert!(
        read_only.ends_with(&format!("can read {root}")),
        "{read_only}"
    );
    let (_, closed) = start_up_lines(&["--root", root, "--users", f]);
    assert_eq!(
        closed,
        format!("1 account from {f} can log in; anonymous login is off")
    );
    let server = Server::start(top.path(), &["--users", f]);
    assert!(log_in(server.port, "anonymous", "guest@").is_err());
    let client = server.client(top.path(), &["-c", "PWD"], "");
    assert_eq!(client.code(), 1);
    assert!(
        client.stderr.contains("not logged in as anonymous"),
        "{}",
        client.stderr
    );
    let server = Server::start(top.path(), &["--users", f, "--anonymous", "ro"]);
    let mut c = log_in(server.port, "anonymous", "guest@").unwrap();
    c.expect("SIZE pub.txt", 213);
    c.expect("DELE pub.txt", 550);
    assert!(log_in(server.port, "ftp", "").is_ok());
    assert!(
        log_in(server.port, "alice", "pw").is_ok(),
        "accounts still work"
    );
    assert!(real.join("pub.txt").exists());
}

#[test]
fn a_changed_users_file_takes_effect_on_the_next_login() {
    let top = TempDir::new("acct-reload");
    let users = TempDir::new("acct-reload-users");
    let file = users.join("users");
    let f = file.to_str().unwrap();
    add(&file, "alice", "one", top.path(), "elr");
    let server = Server::start(top.path(), &["--users", f]);
    assert!(log_in(server.port, "alice", "one").is_ok());
    add(&file, "eve", "new", top.path(), "elr");
    assert!(
        log_in(server.port, "eve", "new").is_ok(),
        "added while running"
    );
    let iterations = ITERATIONS.to_string();
    let (code, _, err) = user_cmd(
        &["passwd", f, "alice", "--iterations", &iterations],
        "two\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(log_in(server.port, "alice", "two").is_ok(), "new password");
    let (code, _, err) = user_cmd(&["del", f, "eve"], "");
    assert_eq!(code, 0, "{err}");
    assert!(log_in(server.port, "eve", "new").is_err(), "removed");
    // A broken file keeps the last good accounts, and the log says why.
    let mut text = fs::read_to_string(&file).unwrap();
    text += "broken line\n";
    fs::write(&file, text).unwrap();
    assert!(log_in(server.port, "alice", "two").is_ok(), "kept");
    let log = server.log();
    assert!(
        log.contains(":3: expected: name, password hash, permissions, root; keeping"),
        "{log}"
    );
    // The same file refuses a start, naming the file and line.
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["0", "--users", f])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!("server: {f}:3: expected: name, password hash, permissions, root")
    );
}

/// Runs `line` under a pseudo-terminal, typing each answer once its prompt
/// has shown; returns all the terminal showed.
fn at_terminal(line: &str, answers: &[(&str, &str)]) -> String {
    let state = TempDir::new("acct-tty-state");
    let mut term = common::Pty::spawn(line, state.path());
    for (prompt, answer) in answers {
        term.wait_for(prompt);
        term.keys(&format!("{answer}\n"));
    }
    term.finish().1
}

#[test]
fn passwords_typed_at_a_terminal_are_asked_twice_and_never_shown() {
    let top = TempDir::new("acct-tty");
    fs::write(top.join("f.txt"), b"hello").unwrap();
    let users = TempDir::new("acct-tty-users");
    let file = users.join("users");
    let add = format!(
        "{} user add {} alice --root {} --iterations {ITERATIONS}",
        env!("CARGO_BIN_EXE_server"),
        file.display(),
        top.path().display()
    );
    let shown = at_terminal(
        &add,
        &[
            ("password for alice: ", "typed-secret"),
            ("again: ", "typed-secret"),
        ],
    );
    assert!(shown.contains("added alice"), "{shown:?}");
    assert!(!shown.contains("typed-secret"), "echoed: {shown:?}");
    let mismatch = add.replace("alice", "bob");
    let shown = at_terminal(
        &mismatch,
        &[("password for bob: ", "one"), ("again: ", "two")],
    );
    assert!(shown.contains("the two passwords differ"), "{shown:?}");
    // The client asks the same way, at a terminal, with nothing stored.
    let server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    let client = format!(
        "env -u DIALBACK_PASSWORD HOME={} {} 127.0.0.1 {} --user alice --dir {} -c 'GET f.txt'",
        users.path().display(),
        env!("CARGO_BIN_EXE_client"),
        server.port,
        users.path().display()
    );
    let shown = at_terminal(&client, &[("password for alice: ", "typed-secret")]);
    assert!(shown.contains("received f.txt: 5 B"), "{shown:?}");
    assert_eq!(fs::read(users.join("f.txt")).unwrap(), b"hello");
    assert!(!shown.contains("typed-secret"), "echoed: {shown:?}");
}

#[test]
fn the_client_finds_passwords_in_netrc_and_urls_and_never_sends_an_empty_one() {
    let top = TempDir::new("acct-netrc");
    fs::create_dir_all(top.join("docs")).unwrap();
    fs::write(top.join("docs/f.txt"), b"from docs").unwrap();
    let users = TempDir::new("acct-netrc-users");
    let file = users.join("users");
    add(&file, "alice", "n3trc", top.path(), "elr");
    let server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    let home = TempDir::new("acct-netrc-home");
    let netrc = home.join(".netrc");
    fs::write(&netrc, "machine 127.0.0.1\n login alice\n password n3trc\n").unwrap();
    let local = TempDir::new("acct-netrc-local");
    let client = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_client"))
            .args(args)
            .arg("--dir")
            .arg(local.path())
            .env_remove("DIALBACK_PASSWORD")
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let port = server.port.to_string();
    // Others may read it: refused, as the BSD client does.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&netrc, fs::Permissions::from_mode(0o644)).unwrap();
    let open = client(&["127.0.0.1", &port, "--user", "alice", "-c", "PWD"]);
    assert_eq!(open.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&open.stderr).contains("others may read it"),
        "{open:?}"
    );
    fs::set_permissions(&netrc, fs::Permissions::from_mode(0o600)).unwrap();
    let url = format!("ftp://alice@127.0.0.1:{port}/docs");
    let out = client(&[&url, "-c", "GET f.txt"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(local.join("f.txt")).unwrap(), b"from docs");
    // A password in the URL, percent-escaped; USER at the prompt as someone else.
    add(&file, "bob", "p@ss word", top.path(), "elr");
    let url = format!("ftp://bob:p%40ss%20word@127.0.0.1:{port}/");
    assert!(client(&[&url, "-c", "PWD"]).status.success());
    let out = client(&[&url, "-c", "USER alice; CD docs; USER bob wrong; PWD"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("logged in as alice"), "{stdout}");
    assert!(stderr.contains("530"), "{stderr}");
    // No source at all: a usage error, and nothing sent.
    fs::remove_file(&netrc).unwrap();
    let none = client(&["127.0.0.1", &port, "--user", "alice", "-c", "PWD"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--user alice needs a password"));
    let log = server.log();
    assert!(log.contains("login refused for \"bob\""), "{log}");
    assert!(
        !log.contains("login refused for \"alice\""),
        "never tried: {log}"
    );
}

#[test]
fn the_login_timeout_counts_through_a_failures_delay() {
    let top = TempDir::new("acct-delay-timeout");
    let users = TempDir::new("acct-delay-timeout-users");
    let file = users.join("users");
    add(&file, "alice", "right", top.path(), "elr");
    let args = [
        "--users",
        file.to_str().unwrap(),
        "--login-delay",
        "5",
        "--login-timeout",
        "0.5",
    ];
    let server = Server::start(top.path(), &args);
    let mut c = Ctrl::connect(server.port);
    c.expect("USER alice", 331);
    let start = Instant::now();
    c.send("PASS wrong");
    let reply = c.reply();
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text().contains("Login timeout"), "{reply:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

/// Issue 21, item 8: `server user` changes the file under a lock, so changes
/// made at once all land: ten parallel adds leave ten accounts (one, before),
/// and a `passwd` beside a `del` never brings the deleted account back.
#[test]
fn parallel_user_changes_all_land_and_a_deleted_account_stays_deleted() {
    let top = TempDir::new("acct-lock");
    let users = TempDir::new("acct-lock-users");
    let file = users.join("users");
    let (f, root, iterations) = (
        file.to_str().unwrap(),
        top.path().to_str().unwrap(),
        ITERATIONS.to_string(),
    );
    let run_all = |commands: Vec<Vec<String>>| -> Vec<(i32, String)> {
        let runs: Vec<_> = commands
            .into_iter()
            .map(|args| {
                std::thread::spawn(move || {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let (code, _, err) = user_cmd(&args, "pw\n");
                    (code, err)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    };
    let owned = |line: String| line.split(' ').map(String::from).collect::<Vec<_>>();
    let adds = (0..10)
        .map(|i| {
            owned(format!(
                "add {f} user{i} --root {root} --iterations {iterations}"
            ))
        })
        .collect();
    for (code, err) in run_all(adds) {
        assert_eq!(code, 0, "{err}");
    }
    let (code, listed, _) = user_cmd(&["list", f], "");
    assert_eq!((code, listed.lines().count()), (0, 10), "{listed}");
    // Each account at once changed and deleted: deleted it stays.
    let mut races = Vec::new();
    for i in 0..10 {
        races.push(owned(format!(
            "passwd {f} user{i} --iterations {iterations}"
        )));
        races.push(owned(format!("del {f} user{i}")));
    }
    let results = run_all(races);
    let (_, listed, _) = user_cmd(&["list", f], "");
    for i in 0..10 {
        let (deleted, _) = &results[2 * i + 1];
        assert_eq!(*deleted, 0, "del user{i}");
        assert!(
            !listed.contains(&format!("user{i} ")),
            "user{i} came back: {listed}"
        );
    }
}

/// Issue 21, "also noted": a users file deleted under a running server no
/// longer lets every account in, silently: no account logs in until it is
/// back, the log says so once, and it works again once restored.
#[test]
fn a_deleted_users_file_lets_no_account_in_until_it_is_back() {
    let (top, users, file) = one_account("acct-gone", "alice", "right", "elr");
    let server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    assert!(log_in(server.port, "alice", "right").is_ok());
    let kept = users.join("kept");
    fs::rename(&file, &kept).unwrap();
    assert!(
        log_in(server.port, "alice", "right").is_err(),
        "in without a users file"
    );
    assert!(log_in(server.port, "alice", "right").is_err());
    let log = server.log();
    let said = log
        .matches("is gone: no account can log in until it is back")
        .count();
    assert_eq!(said, 1, "{log}");
    fs::rename(&kept, &file).unwrap();
    assert!(log_in(server.port, "alice", "right").is_ok(), "back");
}

/// Issue 25: SIGHUP reads the users file again and logs what changed; the
/// server goes on (SIGHUP used to end it), and a broken file is kept out.
#[test]
fn sighup_reloads_the_users_file_and_logs_what_changed() {
    let (top, _users, file) = one_account("acct-hup", "alice", "a", "elr");
    let mut server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    add(&file, "bob", "b", top.path(), "elr");
    let (code, _, err) = user_cmd(&["del", file.to_str().unwrap(), "alice"], "");
    assert_eq!(code, 0, "{err}");
    server.signal("HUP");
    let said = "added bob; removed alice; changed none";
    assert!(
        common::eventually(Duration::from_secs(5), || server.log().contains(said)),
        "{}",
        server.log()
    );
    assert!(server.alive(), "SIGHUP ended the server");
    assert!(log_in(server.port, "bob", "b").is_ok());
    assert!(log_in(server.port, "alice", "a").is_err());
    fs::write(&file, "broken\n").unwrap();
    server.signal("HUP");
    let kept = "; keeping the accounts read before";
    assert!(
        common::eventually(Duration::from_secs(5), || server.log().contains(kept)),
        "{}",
        server.log()
    );
    assert!(
        log_in(server.port, "bob", "b").is_ok(),
        "the last good accounts stay"
    );
}

/// Issue 25: every operation is logged with the user and address: logins,
/// transfers (with their rate), deletes, renames, folders made and removed,
/// modes and times set, and refusals.
#[test]
fn every_operation_is_logged_with_its_user() {
    let (top, _users, file) = one_account("acct-oplog", "alice", "a", "elradfmwMT");
    fs::write(top.join("a.txt"), b"aaa").unwrap();
    let server = Server::start(top.path(), &["--users", file.to_str().unwrap()]);
    let mut c = log_in(server.port, "alice", "a").unwrap();
    c.expect("MKD d", 257);
    c.expect("RNFR a.txt", 350);
    c.expect("RNTO d/b.txt", 250);
    c.expect("MFMT 20200101000000 d/b.txt", 213);
    c.expect("SITE CHMOD 600 d/b.txt", 200);
    let mut data = c.epsv();
    c.expect("RETR d/b.txt", 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(c.reply().code, 226);
    c.expect("DELE d/b.txt", 250);
    c.expect("RMD d", 250);
    c.expect("DELE nowhere", 550);
    c.expect("QUIT", 221);
    let log = server.log();
    for line in [
        "\"alice\" made folder \"/d\"",
        "\"alice\" renamed \"/a.txt\" to \"/d/b.txt\"",
        "\"alice\" set the time of \"d/b.txt\" to 20200101000000",
        "\"alice\" set the mode of \"d/b.txt\" to 600",
        "\"alice\" sent \"d/b.txt\": 3 bytes in ",
        "\"alice\" deleted \"/d/b.txt\"",
        "\"alice\" removed folder \"/d\"",
        "\"alice\" refused \"nowhere\": no such file or folder",
    ] {
        assert!(log.contains(line), "{line:?} missing from:\n{log}");
    }
    let gone = || server.log().contains("\"alice\" disconnected after ");
    assert!(
        common::eventually(Duration::from_secs(5), gone),
        "{}",
        server.log()
    );
}

/// Issue 25: the start-up lines say who may do what in full (the accounts'
/// permission sets, read-only), the passive ports and public address, and
/// the limits; a usage error or a port in use is one line that says what to do.
#[test]
fn the_start_up_lines_say_everything_and_errors_say_what_to_do() {
    let (top, _users, file) = one_account("acct-lines", "alice", "a", "elr");
    add(&file, "bob", "b", top.path(), "elr");
    add(&file, "carol", "c", top.path(), "elradfmwMT");
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["0", "--users", file.to_str().unwrap(), "--read-only"])
        .args([
            "--passive-ports",
            "40000-40100",
            "--public-address",
            "192.0.2.7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let _who = lines.next().unwrap().unwrap();
    let third = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("listening on "), "{first}");
    assert_eq!(
        third,
        "accounts: 2 with lr, 1 with lradfmwMT; read-only; passive ports 40000-40100 at 192.0.2.7; \
         at most 64 sessions, 16 per address; login within 30 s, idle 300 s"
    );
    // A port in use: one line, with what to do.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg(&port)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("address already in use; another program"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // A usage error: one line and where the usage is.
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--frob")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        err.trim_end(),
        "server: unknown option --frob; try 'server --help'"
    );
}

/// Issue 25: `--xferlog FILE` writes each transfer in wu-ftpd's xferlog
/// format, read back here field by field.
#[test]
fn transfers_are_written_to_the_xferlog_field_by_field() {
    let (top, users, file) = one_account("acct-xfer", "alice", "a", "elradfmwMT");
    fs::write(top.join("my file.txt"), b"12345").unwrap();
    let xferlog = users.join("xferlog");
    let args = [
        "--users",
        file.to_str().unwrap(),
        "--xferlog",
        xferlog.to_str().unwrap(),
    ];
    let server = Server::start(top.path(), &args);
    let mut c = log_in(server.port, "alice", "a").unwrap();
    let mut data = c.epsv();
    c.expect("RETR my file.txt", 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(c.reply().code, 226);
    let mut data = c.epsv();
    c.expect("STOR up.txt", 150);
    std::io::Write::write_all(&mut data, b"abc").unwrap();
    drop(data);
    assert_eq!(c.reply().code, 226);
    let text = fs::read_to_string(&xferlog).unwrap();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (fields, (bytes, path, direction)) in lines
        .iter()
        .zip([("5", "/my_file.txt", "o"), ("3", "/up.txt", "i")])
    {
        // Weekday, month, day, time, year; then the transfer's fields.
        assert_eq!(fields.len(), 18, "{fields:?}");
        assert!(
            fields[3].contains(':') && fields[4].len() == 4,
            "{fields:?}"
        );
        assert!(fields[5].parse::<u64>().unwrap() >= 1, "transfer time");
        assert_eq!(fields[6], "127.0.0.1");
        assert_eq!(
            &fields[7..],
            [bytes, path, "b", "_", direction, "r", "alice", "ftp", "0", "*", "c"]
        );
    }
}
