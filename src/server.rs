//! The server's outer layer: its configuration, binding the control port
//! (dual-stack by default), the accept loop with one thread per session and a
//! cap on sessions, and the log.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use crate::fsys::{self, Root};
use crate::session;
use crate::time::Civil;

/// Everything a session needs to know about the server it runs in.
#[derive(Debug, Clone)]
pub struct Config {
    /// The shared folder.
    pub root: Root,
    /// Refuse STOR and APPE.
    pub read_only: bool,
    /// Sessions at once; the next one is told 421 and closed.
    pub max_sessions: usize,
    /// How long a control connection may stay silent.
    pub idle_timeout: Duration,
    /// How long to wait for a data connection to be made (dialing back or accepting).
    pub connect_timeout: Duration,
    /// How long a transfer may go without moving a byte.
    pub stall_timeout: Duration,
    /// The ports passive listeners may use, inclusive; `None` for any free port.
    pub passive_ports: Option<(u16, u16)>,
    /// The address a PASV reply advertises, for a server behind NAT.
    pub public_address: Option<Ipv4Addr>,
}

impl Config {
    /// The defaults for a root: 64 sessions, 300 s idle, 30 s to connect, 60 s stall.
    pub fn new(root: Root) -> Config {
        Config {
            root,
            read_only: false,
            max_sessions: 64,
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            passive_ports: None,
            public_address: None,
        }
    }
}

/// Writes one log line on stderr: time, peer, event.
pub fn log(peer: impl Display, event: impl Display) {
    let line = format!("{} {peer} {event}\n", Civil::of(SystemTime::now()).iso());
    // One write per line, so lines from concurrent sessions never interleave.
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Binds the control port. With no address, listens on IPv6 and IPv4 alike:
/// `[::]` (dual-stack where the system allows it), plus `0.0.0.0` on the same
/// port where it does not; or `0.0.0.0` alone where there is no IPv6.
pub fn bind(addr: Option<IpAddr>, port: u16) -> io::Result<Vec<TcpListener>> {
    if let Some(ip) = addr {
        return Ok(vec![TcpListener::bind((ip, port))?]);
    }
    let v6 = match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)) {
        Ok(l) => l,
        Err(_) => return Ok(vec![TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))?]),
    };
    let port = v6.local_addr()?.port();
    match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
        Ok(v4) => Ok(vec![v6, v4]),
        // The IPv6 socket already takes IPv4 connections.
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(vec![v6]),
        Err(e) => Err(e),
    }
}

/// Serves sessions on `listeners` until the process ends.
pub fn run(config: Config, listeners: Vec<TcpListener>) -> io::Result<()> {
    let root = config.root.path().to_path_buf();
    // In the background, so that a large tree does not delay serving.
    thread::Builder::new().name("sweep".into()).spawn(move || {
        fsys::sweep(&root, &mut |path, removed| match removed {
            Ok(()) => log(
                "-",
                format_args!("removed leftover temporary file {}", path.display()),
            ),
            Err(e) => log(
                "-",
                format_args!("cannot remove leftover {}: {e}", path.display()),
            ),
        })
    })?;
    let config = Arc::new(config);
    let active = Arc::new(AtomicUsize::new(0));
    let mut loops = Vec::new();
    for listener in listeners {
        let (config, active) = (Arc::clone(&config), Arc::clone(&active));
        loops.push(
            thread::Builder::new()
                .name("accept".into())
                .spawn(move || {
                    accept_loop(&listener, &config, &active);
                })?,
        );
    }
    for l in loops {
        let _ = l.join();
    }
    Ok(())
}

fn accept_loop(listener: &TcpListener, config: &Arc<Config>, active: &Arc<AtomicUsize>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => admit(stream, peer, config, active),
            Err(e) => {
                // Out of descriptors, say: wait a little rather than spin.
                log("-", format_args!("accept failed: {e}"));
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Starts a session thread for a new connection, or turns it away with 421 when
/// the server is full.
fn admit(mut stream: TcpStream, peer: SocketAddr, config: &Arc<Config>, active: &Arc<AtomicUsize>) {
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    if active.fetch_add(1, Ordering::SeqCst) >= config.max_sessions {
        active.fetch_sub(1, Ordering::SeqCst);
        log(peer, "refused: too many sessions");
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = stream.write_all(b"421 Too many sessions; try again later.\r\n");
        return;
    }
    let guard = Slot(Arc::clone(active));
    let config = Arc::clone(config);
    let spawned = thread::Builder::new()
        .name(format!("session {peer}"))
        .spawn(move || {
            let _guard = guard;
            session::serve(stream, peer, &config);
        });
    if let Err(e) = spawned {
        log(
            peer,
            format_args!("refused: cannot start a session thread: {e}"),
        );
    }
}

/// One taken session slot, given back on drop, even if the session panics.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
