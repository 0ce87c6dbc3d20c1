//! End to end through the real binaries: GET and PUT of every kind of file in
//! both data-connection modes, sessions side by side, OPEN/CLOSE, the idle
//! timeout, and the client's exit statuses.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{client, names, pattern, Server, TempDir};

/// Text with every line ending, every byte value, and nothing at all.
fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    vec![
        ("text.txt", b"unix\nwindows\r\nold mac\rno end".to_vec()),
        ("binary.bin", all_bytes),
        ("empty", Vec::new()),
        ("with space.txt", b"spaces in names work\n".to_vec()),
    ]
}

fn round_trip(mode: &[&str]) {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    let up = TempDir::new("up");
    for (name, bytes) in sample_files() {
        fs::write(srv.join(name), &bytes).unwrap();
        fs::write(up.join(name), &bytes).unwrap();
    }
    let server = Server::start(srv.path(), &[]);
    let mut script = String::new();
    for (name, _) in sample_files() {
        script += &format!(
            "GET \"{name}\"\nPUT \"{}\" \"up-{name}\"\n",
            up.join(name).display()
        );
    }
    let run = server.client(cli.path(), mode, &script);
    assert_eq!(run.code(), 0, "{run:?}");
    for (name, bytes) in sample_files() {
        assert_eq!(fs::read(cli.join(name)).unwrap(), bytes, "GET {name}");
        assert_eq!(
            fs::read(srv.join(&format!("up-{name}"))).unwrap(),
            bytes,
            "PUT {name}"
        );
    }
    assert!(
        run.stdout.contains("received text.txt: 28 B in "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("received empty: 0 B in "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("sent up-binary.bin: 10.0 KiB in "),
        "{}",
        run.stdout
    );
    // Nothing but the files themselves: no temporary files left on either side.
    assert_eq!(names(cli.path()).len(), sample_files().len());
    assert_eq!(names(srv.path()).len(), 2 * sample_files().len());
}

#[test]
fn text_binary_and_empty_files_round_trip_in_active_mode() {
    round_trip(&[]);
}

#[test]
fn text_binary_and_empty_files_round_trip_in_passive_mode() {
    round_trip(&["--passive"]);
}

#[test]
fn a_100_mib_file_goes_both_ways_byte_for_byte() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    let big = pattern(100 << 20, 7);
    fs::write(srv.join("big.bin"), &big).unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "GET big.bin\nPUT big.bin back.bin\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        fs::read(cli.join("big.bin")).unwrap() == big,
        "GET changed the bytes"
    );
    assert!(
        fs::read(srv.join("back.bin")).unwrap() == big,
        "PUT changed the bytes"
    );
    assert!(
        run.stdout.contains("received big.bin: 100.0 MiB"),
        "{}",
        run.stdout
    );
    let log = server.log();
    assert!(log.contains("sent \"big.bin\": 104857600 bytes"), "{log}");
    assert!(
        log.contains("received \"back.bin\": 104857600 bytes"),
        "{log}"
    );
}

#[test]
fn a_missing_file_is_an_error_and_leaves_nothing_behind() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("here.txt"), b"x").unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(
        cli.path(),
        &[],
        "GET nothere.txt\nGET here.txt\nPUT nothere.txt\n",
    );
    assert_eq!(run.code(), 1, "{run:?}");
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(
        errors[0].starts_with("error: ") && errors[0].contains("no such file"),
        "{}",
        errors[0]
    );
    // The local side is named as such.
    assert!(
        errors[1].starts_with("error: ") && errors[1].contains("nothere.txt: no such local file"),
        "{}",
        errors[1]
    );
    // The session went on after the failure.
    assert!(run.stdout.contains("received here.txt"), "{}", run.stdout);
    assert_eq!(names(cli.path()), ["here.txt"]);
}

#[test]
fn a_second_session_works_while_the_first_is_idle() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a.txt"), b"first").unwrap();
    let server = Server::start(srv.path(), &[]);
    let mut idle = server.login();
    let run = server.client(cli.path(), &[], "GET a.txt\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(fs::read(cli.join("a.txt")).unwrap(), b"first");
    // The idle one is still served.
    idle.expect("NOOP", 200);
}

#[test]
fn open_close_open_quit_in_one_client() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a.txt"), b"A").unwrap();
    fs::write(srv.join("b.txt"), b"B").unwrap();
    let server = Server::start(srv.path(), &[]);
    let port = server.port;
    let script = format!("OPEN 127.0.0.1 {port}\nGET a.txt\nclose\nGET b.txt\nopen {port}\nget b.txt\nQUIT\nGET a.txt\n");
    let run = client(&["--dir", cli.path().to_str().unwrap()], &script);
    // GET while closed is the one failure; nothing after QUIT runs.
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("not connected"), "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("closed 127.0.0.1:{port}")),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(cli.join("a.txt")).unwrap(), b"A");
    assert_eq!(fs::read(cli.join("b.txt")).unwrap(), b"B");
    assert_eq!(server.log().matches("disconnected").count(), 2);
}

#[test]
fn an_idle_control_connection_is_closed_after_the_timeout() {
    let srv = TempDir::new("srv");
    let server = Server::start(srv.path(), &["--idle-timeout", "0.3"]);
    let mut ctrl = server.login();
    let start = Instant::now();
    let rest = ctrl.rest();
    assert!(rest.starts_with("421 "), "{rest:?}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert!(server.log().contains("idle timeout"));
}

#[test]
fn exit_statuses_say_what_happened() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a.txt"), b"A").unwrap();
    let server = Server::start(srv.path(), &[]);
    assert_eq!(server.client(cli.path(), &[], "GET a.txt\n").code(), 0);
    assert_eq!(server.client(cli.path(), &[], "").code(), 0);
    assert_eq!(
        server.client(cli.path(), &[], "FROB\nGET a.txt\n").code(),
        1
    );
    assert_eq!(
        server
            .client(cli.path(), &["-c", "GET a.txt; GET a.txt"], "")
            .code(),
        0
    );

    let usage = client(&["localhost", "21", "more"], "");
    assert_eq!(usage.code(), 2, "{usage:?}");
    assert!(
        usage.stderr.trim_end().ends_with("; try 'client --help'"),
        "{}",
        usage.stderr
    );
    assert_eq!(
        usage.stderr.lines().count(),
        1,
        "one line: {}",
        usage.stderr
    );
    // A host alone is FTP's own port, 21 (nobody listens there here).
    let port_21 = client(&["127.0.0.1", "-c", "PWD"], "");
    assert!(port_21.stderr.contains("127.0.0.1:21"), "{port_21:?}");
    assert_eq!(client(&["localhost", "notaport"], "").code(), 2);
    assert_eq!(client(&["--frobnicate"], "").code(), 2);

    // Nobody listens on a port the server just gave up.
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let refused = client(&["127.0.0.1", &free], "");
    assert_eq!(refused.code(), 1, "{refused:?}");
    assert!(
        refused.stderr.contains("connection refused"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_server_refuses_bad_usage_with_status_2() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["70000"]).status.code(), Some(2));
    assert_eq!(run(&["0", "--idle-timeout", "-1"]).status.code(), Some(2));
    assert_eq!(
        run(&["0", "--root", "/no/such/folder"]).status.code(),
        Some(2)
    );
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-sessions"));
}

#[test]
fn sessions_over_the_cap_are_told_421() {
    let srv = TempDir::new("srv");
    let server = Server::start(srv.path(), &["--max-sessions", "2"]);
    let _a = server.login();
    let _b = server.login();
    let mut c = common::Ctrl::connect_raw(server.port);
    assert!(c.rest().starts_with("421 "));
    drop(_a);
    // The slot frees up once the first session ends.
    assert!(common::eventually(Duration::from_secs(5), || {
        let mut d = common::Ctrl::connect_raw(server.port);
        d.reply().code == 220
    }));
}

#[test]
fn gets_land_where_the_user_said_and_names_from_the_server_are_base_names() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir(srv.join("sub")).unwrap();
    fs::write(srv.join("sub/deep.txt"), b"deep").unwrap();
    fs::create_dir(cli.join("copies")).unwrap();
    let server = Server::start(srv.path(), &[]);
    // A name the user typed is theirs: a path, a folder, a device, `-`.
    let run = server.client(
        cli.path(),
        &[],
        "GET sub/deep.txt\nGET sub/deep.txt copies/x.txt\nGET sub/deep.txt copies\n\
         GET sub/deep.txt /dev/null\nGET sub/deep.txt -\nMGET sub/*\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        names(cli.path()),
        ["copies", "deep.txt"],
        "no ./null, no ./-"
    );
    assert_eq!(names(&cli.join("copies")), ["deep.txt", "x.txt"]);
    assert!(
        run.stdout.contains("received /dev/null: 4 B"),
        "{}",
        run.stdout
    );
    // Standard output carries the file's bytes and no result line for it.
    assert!(
        run.stdout.contains("\ndeepreceived deep.txt"),
        "{}",
        run.stdout
    );
}
