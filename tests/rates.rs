//! Issue 26: bandwidth limits. A server's per-session and total limits and
//! the client's hold transfers back, while ABOR, STAT and listings still
//! answer at once. (How close a rate holds to its limit is a benchmark row:
//! `cargo bench`.)

mod common;

use std::fs;
use std::io::Read;
use std::time::{Duration, Instant};

use common::{pattern, Server, TempDir};

#[test]
fn abor_and_listings_answer_at_once_under_a_limit() {
    let srv = TempDir::new("srv");
    fs::write(srv.join("big.bin"), pattern(8 << 20, 3)).unwrap();
    let args = ["--max-rate", "256K", "--max-total-rate", "512K"];
    let server = Server::start(srv.path(), &args);
    let mut c = server.login();
    let mut data = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut got = vec![0u8; 64 << 10];
    let started = Instant::now();
    let mut total = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        total += data.read(&mut got).unwrap();
    }
    // At 256 KiB/s, about 384 KiB in 1.5 s: held back, and not stopped.
    assert!(
        total > 100 << 10 && total < 1 << 20,
        "{total} bytes in 1.5 s"
    );
    // Another session lists at once, while the first transfer goes on.
    let mut other = server.login();
    let mut listing = other.epsv();
    let asked = Instant::now();
    other.expect("NLST", 150);
    let mut names = String::new();
    listing.read_to_string(&mut names).unwrap();
    assert_eq!(other.reply().code, 226);
    assert_eq!(names.trim(), "big.bin");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    // STAT answers mid-transfer; ABOR stops it at once.
    let asked = Instant::now();
    let stat = c.expect("STAT", 213);
    assert!(stat.text().contains("big.bin"), "{stat:?}");
    c.send("ABOR");
    let (first, second) = (c.reply(), c.reply());
    assert_eq!((first.code, second.code), (426, 226));
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    c.expect("NOOP", 200);
}

#[test]
fn the_client_limit_holds_gets_puts_and_mirrors_back() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("down.bin"), pattern(1 << 20, 4)).unwrap();
    fs::write(cli.join("up.bin"), pattern(1 << 20, 5)).unwrap();
    let tree = srv.sub("t");
    for i in 0..4 {
        fs::write(tree.join(format!("f{i}")), pattern(256 << 10, 10 + i)).unwrap();
    }
    let server = Server::start(srv.path(), &[]);
    let script = "RATE\nRATE 1M\nGET down.bin\nPUT up.bin\nGET -r t\nRATE off\n";
    let started = Instant::now();
    let run = server.client(cli.path(), &["--limit-rate", "512K"], script);
    let took = started.elapsed();
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout.contains("rate: at most 512.0 KiB/s"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("rate: no limit"), "{}", run.stdout);
    // 3 MiB at 1 MiB/s, the mirror's four sessions sharing the limit.
    assert!(took >= Duration::from_millis(2700), "{took:?}");
    assert_eq!(fs::read(cli.join("down.bin")).unwrap(), pattern(1 << 20, 4));
    assert_eq!(fs::read(srv.join("up.bin")).unwrap(), pattern(1 << 20, 5));
    assert_eq!(common::tree_of(&tree), common::tree_of(&cli.join("t")));
}

/// Downloads `name` in a raw session logged in as `user`; the time it took.
fn timed_get(port: u16, user: &str, password: &str, name: &str) -> (Vec<u8>, Duration) {
    let mut c = common::Ctrl::connect(port);
    c.expect(&format!("USER {user}"), 331);
    c.expect(&format!("PASS {password}"), 230);
    let mut data = c.epsv();
    let started = Instant::now();
    c.expect(&format!("RETR {name}"), 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(c.reply().code, 226);
    (got, started.elapsed())
}

/// An account's `rate=` in the users file holds its sessions back, and
/// only its own.
#[test]
fn an_accounts_own_rate_holds_only_its_sessions_back() {
    let (top, users) = (TempDir::new("srv"), TempDir::new("users"));
    fs::write(top.join("f.bin"), pattern(1 << 20, 6)).unwrap();
    let file = users.join("users");
    common::add_user(&file, "slow", "pw", top.path(), "elr", 2000);
    let text = fs::read_to_string(&file).unwrap();
    let root = top.path().display().to_string();
    let limited = text.replace(&format!(" {root}"), &format!(" rate=512K {root}"));
    assert_ne!(text, limited);
    fs::write(&file, limited).unwrap();
    let args = ["--users", file.to_str().unwrap(), "--anonymous", "ro"];
    let server = Server::start(top.path(), &args);
    let (got, slow) = timed_get(server.port, "slow", "pw", "f.bin");
    assert_eq!(got, pattern(1 << 20, 6));
    assert!(slow >= Duration::from_millis(1800), "{slow:?}");
    let (got, free) = timed_get(server.port, "anonymous", "x", "f.bin");
    assert_eq!(got, pattern(1 << 20, 6));
    assert!(free < Duration::from_millis(900), "{free:?}");
}
