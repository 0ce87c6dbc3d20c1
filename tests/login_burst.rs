//! A burst of wrong-password logins beside a logged-in user's download: the
//! password checks (each a full PBKDF2 run) must not starve the transfer. In
//! its own test binary, so no other test's work runs beside the timings.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{pattern, Ctrl, Server, TempDir};

#[test]
fn a_burst_of_wrong_passwords_leaves_a_download_at_most_twice_as_slow() {
    let top = TempDir::new("acct-burst");
    fs::write(top.join("big.bin"), pattern(128 << 20, 7)).unwrap();
    let users = TempDir::new("acct-burst-users");
    let file = users.join("users");
    // A real cost per check, as in production (the default in a release build).
    common::add_user(&file, "alice", "right", top.path(), "elradfmwMT", 100_000);
    let server = Server::start(
        top.path(),
        &["--users", file.to_str().unwrap(), "--max-per-ip", "64"],
    );
    let local = TempDir::new("acct-burst-local");
    let download = || {
        let start = Instant::now();
        let run = Command::new(env!("CARGO_BIN_EXE_client"))
            .args([
                "127.0.0.1",
                &server.port.to_string(),
                "--user",
                "alice",
                "--dir",
            ])
            .arg(local.path())
            .args(["-q", "-c", "GET big.bin /dev/null"])
            .env("DIALBACK_PASSWORD", "right")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(run.status.success(), "{run:?}");
        start.elapsed().as_secs_f64()
    };
    let mut quiet: Vec<f64> = (0..5).map(|_| download()).collect();
    // 50 connections at once, each trying a wrong password and waiting.
    let attackers: Vec<_> = (0..50)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = Ctrl::connect(port);
                c.expect("USER alice", 331);
                c.send("PASS guess");
                c
            })
        })
        .collect();
    let held: Vec<Ctrl> = attackers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut busy: Vec<f64> = (0..5).map(|_| download()).collect();
    drop(held);
    quiet.sort_by(f64::total_cmp);
    busy.sort_by(f64::total_cmp);
    let ratio = busy[2] / quiet[2];
    println!(
        "128 MiB download, median of 5: {:.3} s alone, {:.3} s during 50 wrong-password logins ({ratio:.2}x)",
        quiet[2], busy[2]
    );
    assert!(ratio <= 2.0, "{ratio:.2}x");
}
