//! The server: binding the control port (dual-stack by default), the accept
//! loop with one thread per session and a cap on sessions, and the start-up
//! sweep. A session is a state machine (`session`, with its handlers by family
//! and the permission gate) driven by the socket code in `driver`.

pub mod accounts;
mod config;
pub mod door;
mod driver;
pub mod fds;
mod files;
pub mod gate;
mod listings;
mod log;
mod login;
mod navigation;
mod session;
mod transfers;
pub mod users;

pub use config::Config;
pub use log::log;
pub use session::GREETING;

/// The accept loop's own log budget: refusals at the door are the client's choice too.
static DOOR: log::Budget = log::Budget::new();

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::fsys;

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
    // The shared root, and the accounts' roots that are not inside it.
    let shared = config.root.path().to_path_buf();
    let mut roots = vec![shared.clone()];
    roots.extend(
        config
            .door
            .roots()
            .into_iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .filter(|r| !r.starts_with(&shared)),
    );
    // In the background, so that a large tree does not delay serving.
    thread::Builder::new().name("sweep".into()).spawn(move || {
        let mut removed = 0;
        let mut report = |path: &std::path::Path, outcome: io::Result<()>| match outcome {
            Ok(()) => {
                removed += 1;
                log(
                    "-",
                    format_args!("removed leftover temporary file {}", path.display()),
                )
            }
            Err(e) => log(
                "-",
                format_args!("cannot remove leftover {}: {e}", path.display()),
            ),
        };
        for root in &roots {
            fsys::sweep(root, &mut report);
        }
        log("-", format_args!("start-up sweep done: {removed} removed"));
    })?;
    let config = Arc::new(config);
    let active = Arc::new(Seats::default());
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

fn accept_loop(listener: &TcpListener, config: &Arc<Config>, active: &Arc<Seats>) {
    // A descriptor kept in reserve: when the process runs out, it is given up
    // for a moment so that the connection waiting can be told 421, not dropped.
    let mut spare = std::fs::File::open("/dev/null").ok();
    loop {
        match listener.accept() {
            Ok((stream, peer)) => admit(stream, peer, config, active),
            Err(e) if out_of_descriptors(&e) && spare.is_some() => {
                drop(spare.take());
                if let Ok((stream, peer)) = listener.accept() {
                    DOOR.log(peer, "refused: the server is out of descriptors");
                    turn_away(
                        stream,
                        "421 Too many open files on the server; try again later.",
                    );
                }
                spare = std::fs::File::open("/dev/null").ok();
            }
            Err(e) => {
                // Out of descriptors with no spare, say: wait a little rather than spin.
                DOOR.log("-", format_args!("accept failed: {e}"));
                thread::sleep(Duration::from_millis(100));
                spare = spare.or_else(|| std::fs::File::open("/dev/null").ok());
            }
        }
    }
}

/// EMFILE or ENFILE: this process, or the whole system, has no descriptor to give.
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(24 | 23))
}

/// Tells a connection the server cannot serve it, and closes it.
fn turn_away(mut stream: TcpStream, reply: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(format!("{reply}\r\n").as_bytes());
}

/// Starts a session thread for a new connection, or turns it away with 421 when
/// the server is full, or full of this address's sessions.
fn admit(stream: TcpStream, peer: SocketAddr, config: &Arc<Config>, seats: &Arc<Seats>) {
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let slot = match Seats::take(seats, peer.ip(), config) {
        Ok(slot) => slot,
        Err(why) => {
            DOOR.log(peer, format_args!("refused: too many {why}"));
            turn_away(stream, &format!("421 Too many {why}; try again later."));
            return;
        }
    };
    let config = Arc::clone(config);
    // The stream goes to the thread through a cell, so that if no thread can
    // start, it is still here to be told why.
    let handed = Arc::new(Mutex::new(Some(stream)));
    let taken = Arc::clone(&handed);
    let spawned = thread::Builder::new()
        .name(format!("session {peer}"))
        .spawn(move || {
            let _slot = slot;
            let stream = taken.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(stream) = stream {
                driver::serve(stream, peer, config);
            }
        });
    if let Err(e) = spawned {
        DOOR.log(
            peer,
            format_args!("refused: cannot start a session thread: {e}"),
        );
        let stream = handed.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(stream) = stream {
            turn_away(
                stream,
                "421 The server cannot start a session now; try again later.",
            );
        }
    }
}

/// The sessions under way: how many in all, and from each address.
#[derive(Debug, Default)]
struct Seats(Mutex<(usize, HashMap<IpAddr, usize>)>);

impl Seats {
    /// Takes a seat for a session from `ip`, or says which limit is reached.
    fn take(seats: &Arc<Seats>, ip: IpAddr, config: &Config) -> Result<Slot, &'static str> {
        // A poisoned lock only means a thread panicked between two counts.
        let mut guard = seats.0.lock().unwrap_or_else(|e| e.into_inner());
        let (all, by_ip) = &mut *guard;
        if *all >= config.max_sessions {
            return Err("sessions");
        }
        let mine = by_ip.entry(ip).or_insert(0);
        if *mine >= config.max_per_ip {
            return Err("sessions from your address");
        }
        *mine += 1;
        *all += 1;
        Ok(Slot(Arc::clone(seats), ip))
    }
}

/// One taken seat, given back on drop, even if the session panics.
struct Slot(Arc<Seats>, IpAddr);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        let (all, by_ip) = &mut *guard;
        *all -= 1;
        if let Some(mine) = by_ip.get_mut(&self.1) {
            *mine -= 1;
            if *mine == 0 {
                by_ip.remove(&self.1);
            }
        }
    }
}
