//! Issue 26: the PROXY protocol. The test plays the load balancer itself
//! (127.0.0.1 named with `--proxy-from`), sending version 1 and 2 headers on
//! control and passive data connections; the real HAProxy is in
//! `tests/balancer.rs`.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Ctrl, Server, TempDir};

/// A version 2 header naming `source` (IPv4) as the client.
fn v2(source: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend([0x21, 0x11, 0, 12]);
    h.extend(source);
    h.extend([127, 0, 0, 1]);
    h.extend(port.to_be_bytes());
    h.extend(21u16.to_be_bytes());
    h
}

/// A control connection through the "balancer", greeted.
fn through(port: u16, header: &[u8]) -> Ctrl {
    let mut c = Ctrl::connect_raw(port);
    c.send_raw(header);
    let greeting = c.reply();
    assert_eq!(greeting.code, 220, "{greeting:?}");
    c
}

fn closed_within(c: &mut Ctrl, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = c.stream.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(took < limit, "{took:?}");
    assert!(!String::from_utf8_lossy(&rest).contains("220"), "{rest:?}");
    took
}

/// The client a header names is the one the server sees: in its log, in
/// its per-address cap (not the balancer's), and in the bounce check.
#[test]
fn the_client_a_header_names_is_the_one_the_server_sees() {
    let srv = TempDir::new("srv");
    std::fs::write(srv.join("a.txt"), b"hello").unwrap();
    let args = ["--proxy-from", "127.0.0.0/8", "--max-per-ip", "2"];
    let server = Server::start(srv.path(), &args);
    let mut first = through(
        server.port,
        b"PROXY TCP4 203.0.113.7 127.0.0.1 40001 21\r\n",
    );
    first.expect("USER anonymous", 331);
    first.expect("PASS x", 230);
    let _second = through(server.port, &v2([203, 0, 113, 7], 40002));
    // A third from 203.0.113.7 is over its cap; one from elsewhere is not.
    let mut third = Ctrl::connect_raw(server.port);
    third.send_raw(b"PROXY TCP4 203.0.113.7 127.0.0.1 40003 21\r\n");
    assert_eq!(third.reply().code, 421);
    let _other = through(server.port, &v2([198, 51, 100, 9], 40004));
    // The bounce check: the client is 203.0.113.7, so no dial-back to 127.0.0.1.
    first.expect_class("EPRT |1|127.0.0.1|40000|", 5);
    // A passive data connection through the balancer names its client too.
    let reply = first.expect("EPSV", 229);
    let data_port = dialback::protocol::parse_epsv_reply(&reply.text()).unwrap();
    let mut data = TcpStream::connect(("127.0.0.1", data_port)).unwrap();
    std::io::Write::write_all(&mut data, &v2([203, 0, 113, 7], 40005)).unwrap();
    first.expect("RETR a.txt", 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    assert_eq!(first.reply().code, 226);
    let log = server.log();
    assert!(log.contains("203.0.113.7:40001 logged in"), "{log}");
    assert!(log.contains("198.51.100.9:40004 connected"), "{log}");
    let balancer = |l: &&str| l.contains(" 127.0.0.1:") && l.ends_with(" connected");
    assert!(
        !log.lines().any(|l| balancer(&l)),
        "the balancer taken for a client: {log}"
    );
}

/// From a balancer the header is required, whole and in time; a data
/// connection from it without one naming the client is refused; a health
/// check (v2 LOCAL) gets a session of its own; and from anyone else a
/// PROXY line is only an unknown command.
#[test]
fn headers_are_required_from_balancers_and_never_trusted_from_others() {
    let srv = TempDir::new("srv");
    let args = [
        "--proxy-from",
        "127.0.0.1",
        "--login-timeout",
        "1",
        "--connect-timeout",
        "2",
    ];
    let server = Server::start(srv.path(), &args);
    // Silence, a truncated header, a trickle, garbage: closed, never a session.
    let mut silent = Ctrl::connect_raw(server.port);
    closed_within(&mut silent, Duration::from_secs(3));
    let mut cut = Ctrl::connect_raw(server.port);
    cut.send_raw(&v2([203, 0, 113, 7], 1)[..20]);
    closed_within(&mut cut, Duration::from_secs(3));
    let mut trickle = Ctrl::connect_raw(server.port);
    let started = Instant::now();
    for b in b"PROXY TCP4 203.0.113.7 127.0.0.1 4" {
        if std::io::Write::write_all(&mut trickle.stream, &[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    closed_within(&mut trickle, Duration::from_secs(3));
    let mut garbage = Ctrl::connect_raw(server.port);
    garbage.send_raw(b"USER anonymous\r\n");
    closed_within(&mut garbage, Duration::from_secs(1));
    let mut bad = Ctrl::connect_raw(server.port);
    bad.send_raw(b"PROXY TCP4 203.0.113.7 ::1 1 2\r\n");
    closed_within(&mut bad, Duration::from_secs(1));

    // A health check: LOCAL, the balancer's own session.
    let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    local.extend([0x20, 0x00, 0, 0]);
    let mut check = through(server.port, &local);
    check.expect("NOOP", 200);

    // A data connection from the balancer without a header is refused.
    let mut c = through(server.port, &v2([203, 0, 113, 7], 2));
    c.expect("USER anonymous", 331);
    c.expect("PASS x", 230);
    let reply = c.expect("EPSV", 229);
    let data_port = dialback::protocol::parse_epsv_reply(&reply.text()).unwrap();
    let mut data = TcpStream::connect(("127.0.0.1", data_port)).unwrap();
    std::io::Write::write_all(&mut data, b"no header here").unwrap();
    c.send("LIST");
    let reply = c.reply();
    assert_eq!(reply.code, 425, "{reply:?}");
    let log = server.log();
    assert!(log.contains("refused: no PROXY protocol header"), "{log}");
    assert!(
        log.contains("refused: a malformed PROXY protocol header"),
        "{log}"
    );
    assert!(
        log.contains("refused data connection from 127.0.0.1"),
        "{log}"
    );

    // Without --proxy-from, a PROXY line is an unknown command.
    let plain = Server::start(srv.path(), &[]);
    let mut c = Ctrl::connect(plain.port);
    c.expect_class("PROXY TCP4 203.0.113.7 127.0.0.1 1 2", 5);
    c.expect("USER anonymous", 331);
}
