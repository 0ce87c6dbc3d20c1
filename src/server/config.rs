//! What a server is told at start: the shared root, its limits and timeouts,
//! and how passive mode is offered. Plain data, built by the `server` binary.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::door::Door;
use super::gate::Perms;
use super::proxy::Nets;
use crate::data::Limit;
use crate::fsys::Root;

/// Everything a session needs to know about the server it runs in.
#[derive(Debug, Clone)]
pub struct Config {
    /// The shared folder.
    pub root: Root,
    /// Refuse every command that changes the tree, whatever an account may do.
    pub read_only: bool,
    /// Who may log in, and with what permissions and root.
    pub door: Arc<Door>,
    /// Sessions at once; the next one is told 421 and closed.
    pub max_sessions: usize,
    /// Sessions at once from one address (rclone alone opens about 13).
    pub max_per_ip: usize,
    /// How long a connection may take to log in.
    pub login_timeout: Duration,
    /// How long a control connection may stay silent.
    pub idle_timeout: Duration,
    /// How long to wait for a data connection to be made (dialing back or accepting).
    pub connect_timeout: Duration,
    /// How long a transfer may go without moving a byte.
    pub stall_timeout: Duration,
    /// The ports passive listeners may use, inclusive; `None` for any free port.
    pub passive_ports: Option<(u16, u16)>,
    /// The address a PASV reply advertises, for a server behind NAT or a
    /// balancer.
    pub public_address: Option<Arc<Public>>,
    /// `--xferlog FILE`: every transfer also in wu-ftpd's xferlog format.
    pub xferlog: Option<Arc<super::log::Xferlog>>,
    /// `--proxy-from`: the load balancers whose connections start with a
    /// PROXY protocol header naming the real client (`server::proxy`).
    pub proxy_from: Nets,
    /// `--max-rate`: the most one session's transfers may move per second.
    pub max_rate: Option<u64>,
    /// `--max-total-rate`: the most all transfers together may move per second.
    pub max_total_rate: Option<Arc<Limit>>,
}

impl Config {
    /// The defaults for a root: anyone may log in and do anything, 64 sessions, 16 from one address, 30 s to log
    /// in, 300 s idle, 30 s to connect, 60 s stall.
    pub fn new(root: Root) -> Config {
        Config {
            root,
            read_only: false,
            door: Arc::new(Door::anonymous(Perms::all())),
            max_sessions: 64,
            max_per_ip: 16,
            login_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            passive_ports: None,
            public_address: None,
            xferlog: None,
            proxy_from: Nets::default(),
            max_rate: None,
            max_total_rate: None,
        }
    }
}

/// The address PASV replies give (`--public-address`): a fixed one, or a
/// host name for a dynamic address, looked up again when a PASV finds the
/// last look-up over `FRESH` old. The look-up runs in a thread of its own
/// (a name server can take seconds, with no timeout std can set), and
/// until it ends PASV gives the last address found.
#[derive(Debug)]
pub struct Public {
    /// The host name, if given as one.
    name: Option<String>,
    /// The last address found, and when.
    known: Mutex<(Ipv4Addr, Instant)>,
    looking: AtomicBool,
}

/// How long a looked-up address is used before PASV looks again.
const FRESH: Duration = Duration::from_secs(10);

impl Public {
    pub fn fixed(ip: Ipv4Addr) -> Arc<Public> {
        Arc::new(Public {
            name: None,
            known: Mutex::new((ip, Instant::now())),
            looking: AtomicBool::new(false),
        })
    }

    /// An IPv4 address as written, or a host name looked up now (at start).
    pub fn parse(text: &str) -> Result<Arc<Public>, String> {
        if let Ok(ip) = text.parse() {
            return Ok(Public::fixed(ip));
        }
        let ip = look_up(text).map_err(|e| format!("--public-address {text}: {e}"))?;
        Ok(Arc::new(Public {
            name: Some(text.to_string()),
            known: Mutex::new((ip, Instant::now())),
            looking: AtomicBool::new(false),
        }))
    }

    /// The address to give now (see the type).
    pub fn now(self: &Arc<Self>) -> Ipv4Addr {
        let (ip, found) = *self.known.lock().unwrap_or_else(|e| e.into_inner());
        let Some(name) = &self.name else {
            return ip;
        };
        if found.elapsed() > FRESH && !self.looking.swap(true, Ordering::AcqRel) {
            let (public, name) = (Arc::clone(self), name.clone());
            let spawned = std::thread::Builder::new()
                .name("look-up".into())
                .spawn(move || {
                    if let Ok(ip) = look_up(&name) {
                        *public.known.lock().unwrap_or_else(|e| e.into_inner()) =
                            (ip, Instant::now());
                    }
                    public.looking.store(false, Ordering::Release);
                });
            if spawned.is_err() {
                self.looking.store(false, Ordering::Release);
            }
        }
        ip
    }
}

impl fmt::Display for Public {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let ip = self.known.lock().unwrap_or_else(|e| e.into_inner()).0;
        match &self.name {
            Some(name) => write!(f, "{name} ({ip} now)"),
            None => write!(f, "{ip}"),
        }
    }
}

/// The first IPv4 address of `name`.
fn look_up(name: &str) -> io::Result<Ipv4Addr> {
    use std::net::ToSocketAddrs;
    (name, 0)
        .to_socket_addrs()?
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no IPv4 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_address_is_an_ipv4_address_or_a_name_looked_up() {
        let fixed = Public::parse("192.0.2.7").unwrap();
        assert_eq!(fixed.now(), Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(fixed.to_string(), "192.0.2.7");
        let named = Public::parse("localhost").unwrap();
        assert_eq!(named.now(), Ipv4Addr::LOCALHOST);
        assert_eq!(named.to_string(), "localhost (127.0.0.1 now)");
        // A stale address is looked up again, off the caller's time.
        named.known.lock().unwrap().1 = Instant::now() - FRESH * 2;
        named.known.lock().unwrap().0 = Ipv4Addr::new(192, 0, 2, 9);
        assert_eq!(
            named.now(),
            Ipv4Addr::new(192, 0, 2, 9),
            "the last one, at once"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while named.now() != Ipv4Addr::LOCALHOST {
            assert!(Instant::now() < deadline, "looked up again");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(Public::parse("no-such-host.invalid").is_err());
    }
}
