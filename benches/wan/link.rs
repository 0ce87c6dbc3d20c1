//! The emulated wide-area link: two network namespaces, a client's and a
//! server's, each with a TUN device as its only way out, and this process
//! between them, holding every IP packet for half the round trip in each
//! direction and, where a rate is set, queueing it behind the packets before
//! as a router's line would (dropping what overflows a buffer of one round
//! trip). It knows nothing of FTP or TCP: it moves packets.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::tun;

/// The client's side of the link, and its address there.
pub const CLIENT_NS: &str = "dialback-wan-c";
pub const CLIENT_ADDR: &str = "10.77.0.1";
/// The server's side.
pub const SERVER_NS: &str = "dialback-wan-s";
pub const SERVER_ADDR: &str = "10.77.0.2";

/// The link's settings, changeable while it runs.
#[derive(Default)]
struct Settings {
    /// The round trip, in microseconds.
    rtt_us: AtomicU64,
    /// The line rate in bits per second; 0 for none.
    rate: AtomicU64,
}

/// The two namespaces and the forwarder between them; removed on drop.
pub struct Wan {
    settings: Arc<Settings>,
}

impl Wan {
    /// Builds the link with no delay and no rate limit.
    pub fn up() -> io::Result<Wan> {
        for ns in [CLIENT_NS, SERVER_NS] {
            let _ = ip(&["netns", "del", ns]);
            ip(&["netns", "add", ns])?;
        }
        let wan = Wan {
            settings: Arc::new(Settings::default()),
        };
        let side = |ns: &str, dev: &str, addr: &str| -> io::Result<File> {
            let file = tun::open(dev)?;
            ip(&["link", "set", dev, "netns", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            Ok(file)
        };
        let client = side(CLIENT_NS, "dbwan-c", CLIENT_ADDR)?;
        let server = side(SERVER_NS, "dbwan-s", SERVER_ADDR)?;
        forward(client.try_clone()?, server.try_clone()?, &wan.settings)?;
        forward(server, client, &wan.settings)?;
        Ok(wan)
    }

    /// Sets the round trip and the line rate (bits per second; 0 for none).
    pub fn set(&self, rtt: Duration, rate: u64) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.settings.rtt_us.store(us, Ordering::Relaxed);
        self.settings.rate.store(rate, Ordering::Relaxed);
    }

    /// `program` to be run on the client's side.
    pub fn on_client(&self, program: &str) -> Command {
        in_ns(CLIENT_NS, program)
    }

    /// A command that runs the program given as its next argument on the
    /// server's side.
    pub fn in_server(&self) -> Command {
        in_ns_prefix(SERVER_NS)
    }

    /// `program` to be run on the server's side.
    pub fn on_server(&self, program: &str) -> Command {
        in_ns(SERVER_NS, program)
    }
}

impl Drop for Wan {
    /// Removing the namespaces ends whatever is left in them and their
    /// devices; the forwarding threads end with a failed read.
    fn drop(&mut self) {
        for ns in [CLIENT_NS, SERVER_NS] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn in_ns(ns: &str, program: &str) -> Command {
    let mut c = in_ns_prefix(ns);
    c.arg(program);
    c
}

/// `ip netns exec NS`, for a program and arguments still to be added.
fn in_ns_prefix(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]);
    c
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// One direction: a thread reads packets as they leave `from` and stamps
/// them; another delivers each into `to` when its time comes.
fn forward(mut from: File, mut to: File, settings: &Arc<Settings>) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::Builder::new()
        .name("wan-in".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = from.read(&mut buf) {
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        })?;
    let settings = Arc::clone(settings);
    thread::Builder::new()
        .name("wan-out".into())
        .spawn(move || {
            // When the line is free again.
            let mut free = Instant::now();
            for (arrived, packet) in rx {
                let rtt = Duration::from_micros(settings.rtt_us.load(Ordering::Relaxed));
                let rate = settings.rate.load(Ordering::Relaxed);
                let mut leaves = arrived;
                let bits = packet.len() as u64 * 8;
                if let Some(nanos) = (bits * 1_000_000_000).checked_div(rate) {
                    let start = free.max(arrived);
                    // A router's buffer of one round trip (at least 20 ms) overflows.
                    if start - arrived > rtt.max(Duration::from_millis(20)) {
                        continue;
                    }
                    free = start + Duration::from_nanos(nanos);
                    leaves = free;
                }
                let due = leaves + rtt / 2;
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write(&packet).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}
