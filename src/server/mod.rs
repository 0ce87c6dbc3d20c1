//! The server: binding the control port (dual-stack by default), the accept
//! loop with one thread per session and a cap on sessions, and the start-up
//! sweep. A session is a state machine (`session`, with its handlers by family
//! and the permission gate) driven by the socket code in `driver`.

pub mod accounts;
mod checksums;
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
pub mod proxy;
pub mod service;
mod session;
mod transfers;
pub mod users;
mod watch;

pub use config::{Config, Public};
pub use log::log;
pub use log::Xferlog;

/// The accept loop's own log budget: refusals at the door are the client's choice too.
static DOOR: log::Budget = log::Budget::new();

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::cancel::{Cancel, Stop};
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

/// A server: its listeners, the sessions it owns, and the one way to stop it.
/// Clones are handles to the same server, so one thread can [`Server::run`]
/// while another calls [`Server::shutdown`].
#[derive(Clone)]
pub struct Server(Arc<Shared>);

struct Shared {
    config: Arc<Config>,
    /// Taken by `run`, and closed when it returns.
    listeners: Mutex<Vec<TcpListener>>,
    /// Where they listen, for `shutdown` to wake their accept loops.
    addrs: Vec<SocketAddr>,
    seats: Arc<Seats>,
    /// Set by `shutdown`: accept no more, and each session ends with 421 at
    /// its next command (its login delay included).
    closing: Cancel,
    /// Set when the shutdown's grace is over: transfers under way stop.
    aborting: Cancel,
    sessions: Mutex<Sessions>,
    drained: Arc<Drained>,
}

/// Transfers that ended after `shutdown` began.
#[derive(Default)]
struct Drained {
    finished: AtomicUsize,
    stopped: AtomicUsize,
}

/// The session threads, owned: each one's control connection (shared with
/// its driver, so that `shutdown` can end its wait for a command) by number,
/// and the threads to join.
#[derive(Default)]
struct Sessions {
    next: u64,
    live: HashMap<u64, Live>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// A session's sockets as the server sees them.
struct Live {
    ctrl: Arc<TcpStream>,
    /// The data connection of the transfer under way, if any.
    data: DataSlot,
}

/// Where a driver puts its data connection while a transfer runs, so that
/// stopping the transfers can close it under a copy blocked in the kernel.
pub(crate) type DataSlot = Arc<Mutex<Option<TcpStream>>>;

/// What a session's driver watches to stop early.
#[derive(Clone)]
pub(crate) struct Stops {
    /// The server is closing: say 421 instead of reading another command.
    pub closing: Cancel,
    /// The grace is over: stop the transfer under way.
    pub aborting: Cancel,
    /// Where the transfer under way keeps its data connection.
    pub data: DataSlot,
    /// Counts transfers that end during a shutdown.
    drained: Arc<Drained>,
}

impl Stops {
    /// Counts a transfer that ended while the server was closing.
    pub fn drained(&self, stopped: bool) {
        if self.closing.is_stopped() {
            let count = match stopped {
                true => &self.drained.stopped,
                false => &self.drained.finished,
            };
            count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A session's row in the server's table, taken out when the session thread
/// ends, however it ends (a panic included).
struct Leave(Server, u64);

impl Drop for Leave {
    fn drop(&mut self) {
        lock(&self.0 .0.sessions).live.remove(&self.1);
    }
}

impl Server {
    /// A server for `config` on `listeners` (see [`bind`]); nothing is
    /// accepted until [`Server::run`].
    pub fn new(config: Config, listeners: Vec<TcpListener>) -> Server {
        let addrs = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        Server(Arc::new(Shared {
            config: Arc::new(config),
            listeners: Mutex::new(listeners),
            addrs,
            seats: Arc::new(Seats::default()),
            closing: Cancel::new(),
            aborting: Cancel::new(),
            sessions: Mutex::new(Sessions::default()),
            drained: Default::default(),
        }))
    }

    /// Sweeps leftovers in the background, then serves sessions until
    /// [`Server::shutdown`]; returns once every session has ended.
    pub fn run(&self) -> io::Result<()> {
        self.sweep()?;
        let listeners = std::mem::take(&mut *lock(&self.0.listeners));
        thread::scope(|scope| {
            for listener in &listeners {
                thread::Builder::new()
                    .name("accept".into())
                    .spawn_scoped(scope, || self.accept_loop(listener))?;
            }
            Ok::<(), io::Error>(())
        })?;
        drop(listeners);
        let threads = std::mem::take(&mut lock(&self.0.sessions).threads);
        for t in threads {
            // A session that panicked has already given its seat back.
            let _ = t.join();
        }
        Ok(())
    }

    /// How many sessions are under way.
    pub fn sessions(&self) -> usize {
        lock(&self.0.seats.0).0
    }

    /// Stops the server: accepts no more connections, tells every session 421
    /// at its next command (at once for those waiting for one), lets
    /// transfers under way finish for up to `grace`, then stops them (their
    /// temporary files removed). Returns how many sessions were still under
    /// way when the grace ran out; `run` returns once they have ended.
    pub fn shutdown(&self, grace: Duration) -> usize {
        {
            let sessions = lock(&self.0.sessions);
            self.0.closing.stop(Stop::Terminate);
            for live in sessions.live.values() {
                // Ends a wait for a command with end of file; the driver then
                // sees `closing` and says 421.
                let _ = live.ctrl.shutdown(Shutdown::Read);
            }
        }
        for &addr in &self.0.addrs {
            // Wakes the accept loop, which then sees `closing`.
            let mut addr = addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr {
                    SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
        let deadline = std::time::Instant::now() + grace;
        while self.sessions() > 0 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let left = self.sessions();
        self.abort();
        left
    }

    /// Stops every transfer under way now (a shutdown's grace is over, or a
    /// second signal came): each copy fails at once, even one blocked in the
    /// kernel on a peer that stopped reading, and is cleaned up as any failed
    /// transfer is.
    pub fn abort(&self) {
        self.0.aborting.stop(Stop::Terminate);
        for live in lock(&self.0.sessions).live.values() {
            if let Some(data) = lock(&live.data).as_ref() {
                let _ = data.shutdown(Shutdown::Both);
            }
        }
    }

    /// Transfers that ended after `shutdown` began: how many finished, and
    /// how many were stopped.
    pub fn drained(&self) -> (usize, usize) {
        let Drained { finished, stopped } = &*self.0.drained;
        (
            finished.load(Ordering::SeqCst),
            stopped.load(Ordering::SeqCst),
        )
    }

    fn sweep(&self) -> io::Result<()> {
        // The shared root, and the accounts' roots that are not inside it.
        let config = &self.0.config;
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
            let mut report = |path: &std::path::Path, swept: fsys::Swept| match swept {
                fsys::Swept::Removed(Ok(())) => {
                    removed += 1;
                    log(
                        "-",
                        format_args!("removed leftover temporary file {}", path.display()),
                    )
                }
                fsys::Swept::PutBack(Ok(length)) => {
                    removed += 1;
                    log(
                        "-",
                        format_args!(
                            "an append cut short by a stop: its file put back to its {length} bytes before ({})",
                            path.display()
                        ),
                    )
                }
                fsys::Swept::Removed(Err(e)) | fsys::Swept::PutBack(Err(e)) => log(
                    "-",
                    format_args!("cannot clear leftover {}: {e}", path.display()),
                ),
            };
            for root in &roots {
                fsys::sweep(root, &mut report);
            }
            log("-", format_args!("start-up sweep done: {removed} removed"));
        })?;
        Ok(())
    }

    fn accept_loop(&self, listener: &TcpListener) {
        // A descriptor kept in reserve: when the process runs out, it is given up
        // for a moment so that the connection waiting can be told 421, not dropped.
        let mut spare = std::fs::File::open("/dev/null").ok();
        while !self.0.closing.is_stopped() {
            match listener.accept() {
                Ok(_) if self.0.closing.is_stopped() => return,
                Ok((stream, peer)) => self.admit(stream, peer),
                // A signal (SIGTERM) landed on this thread: the loop looks again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if out_of_descriptors(&e) && spare.is_some() => {
                    drop(spare.take());
                    if let Ok((stream, peer)) = listener.accept() {
                        DOOR.log(peer, "refused: the server is out of descriptors");
                        turn_away(
                            &stream,
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

    /// Starts a session thread for a new connection, or turns it away with 421 when
    /// the server is full, or full of this address's sessions. A balancer's
    /// connection (`--proxy-from`) first says whose it is, in a thread of its
    /// own, so that a slow one cannot hold the door.
    fn admit(&self, stream: TcpStream, peer: SocketAddr) {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        if !self.0.config.proxy_from.contains(peer.ip()) {
            return self.seat(Arc::new(stream), peer);
        }
        let (server, stream) = (self.clone(), Arc::new(stream));
        let reader = Arc::clone(&stream);
        let spawned = thread::Builder::new()
            .name(format!("header {peer}"))
            .spawn(move || {
                let said = driver::proxy_header(&reader, server.0.config.login_timeout);
                match said {
                    // The server began closing while the header came.
                    Ok(_) if server.0.closing.is_stopped() => {}
                    Ok(client) => server.seat(reader, client.unwrap_or(peer)),
                    Err(bad) => DOOR.log(peer, format_args!("refused: {bad}")),
                }
            });
        if let Err(e) = spawned {
            DOOR.log(peer, format_args!("refused: cannot start a thread: {e}"));
            turn_away(
                &stream,
                "421 The server cannot start a session now; try again later.",
            );
        }
    }

    /// Takes a seat for a session from `peer` and starts its thread.
    fn seat(&self, stream: Arc<TcpStream>, peer: SocketAddr) {
        let key = door::client_key(peer.ip());
        let slot = match Seats::take(&self.0.seats, key, &self.0.config) {
            Ok(slot) => slot,
            Err(why) => {
                DOOR.log(peer, format_args!("refused: too many {why}"));
                turn_away(&stream, &format!("421 Too many {why}; try again later."));
                return;
            }
        };
        let ctrl = stream;
        let data = DataSlot::default();
        let id = {
            let mut sessions = lock(&self.0.sessions);
            // Threads that have ended are joined as new ones start, so the
            // list stays about as long as the sessions under way.
            if sessions.threads.len() >= 2 * sessions.live.len() + 16 {
                let (ended, running) = std::mem::take(&mut sessions.threads)
                    .into_iter()
                    .partition(|t| t.is_finished());
                sessions.threads = running;
                for t in ended {
                    let _ = t.join();
                }
            }
            let id = sessions.next;
            sessions.next += 1;
            let live = Live {
                ctrl: Arc::clone(&ctrl),
                data: Arc::clone(&data),
            };
            sessions.live.insert(id, live);
            id
        };
        let config = Arc::clone(&self.0.config);
        let stops = Stops {
            closing: self.0.closing.clone(),
            aborting: self.0.aborting.clone(),
            data,
            drained: Arc::clone(&self.0.drained),
        };
        // The greeting goes from here, at once: the client reads it and
        // sends its USER while the session's thread starts, which takes
        // about as long as a reply's round trip on loopback. A connection
        // already gone is the session's to find. The write cannot block:
        // 21 bytes into a new connection's empty send buffer.
        let _ = (&*ctrl).write_all(session::greeting().to_string().as_bytes());
        // Not under the table's lock: a closure that cannot start is dropped
        // inside `spawn`, and its `Leave` takes the row out.
        let (session, leave) = (Arc::clone(&ctrl), Leave(self.clone(), id));
        let spawned = thread::Builder::new()
            .name(format!("session {peer}"))
            .spawn(move || {
                let _seat = (slot, leave);
                driver::serve(session, peer, config, stops);
            });
        match spawned {
            Ok(thread) => lock(&self.0.sessions).threads.push(thread),
            Err(e) => {
                DOOR.log(
                    peer,
                    format_args!("refused: cannot start a session thread: {e}"),
                );
                turn_away(
                    &ctrl,
                    "421 The server cannot start a session now; try again later.",
                );
            }
        }
    }
}

/// A poisoned lock only means a thread panicked between two counts.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// EMFILE or ENFILE: this process, or the whole system, has no descriptor to give.
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(24 | 23))
}

/// Tells a connection the server cannot serve it; it closes when dropped.
fn turn_away(stream: &TcpStream, reply: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&*stream).write_all(format!("{reply}\r\n").as_bytes());
}

/// The sessions under way: how many in all, and from each client
/// (`door::client_key`: an IPv6 client counts by its /64).
#[derive(Debug, Default)]
struct Seats(Mutex<(usize, HashMap<IpAddr, usize>)>);

impl Seats {
    /// Takes a seat for a session from `ip`, or says which limit is reached.
    fn take(seats: &Arc<Seats>, ip: IpAddr, config: &Config) -> Result<Slot, &'static str> {
        let mut guard = lock(&seats.0);
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
        let mut guard = lock(&self.0 .0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsys::Root;
    use std::io::{BufRead, BufReader};

    fn temp_root(label: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("dialback-srv-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Root::new(&dir).unwrap()
    }

    fn line(reader: &mut impl BufRead) -> String {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        line
    }

    #[test]
    fn shutdown_tells_idle_sessions_421_stops_accepting_and_run_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(Config::new(temp_root("shutdown")), vec![listener]);
        let running = {
            let server = server.clone();
            thread::spawn(move || server.run())
        };
        let mut idle = BufReader::new(TcpStream::connect(addr).unwrap());
        assert!(line(&mut idle).starts_with("220"));
        // One logged in, one that never said a word past the greeting.
        idle.get_ref()
            .write_all(b"USER anonymous\r\nPASS x\r\nNOOP\r\n")
            .unwrap();
        loop {
            let l = line(&mut idle);
            assert!(!l.is_empty() && !l.starts_with('5'), "{l:?}");
            if l.starts_with("200") {
                break;
            }
        }
        let mut silent = BufReader::new(TcpStream::connect(addr).unwrap());
        assert!(line(&mut silent).starts_with("220"));
        assert_eq!(server.sessions(), 2);

        let left = server.shutdown(Duration::from_secs(10));
        assert_eq!(left, 0, "idle sessions end at once");
        assert!(line(&mut idle).starts_with("421 The server is shutting down"));
        assert!(line(&mut silent).starts_with("421"));
        running.join().unwrap().unwrap();
        assert_eq!(server.sessions(), 0);
        // The port is closed.
        assert!(TcpStream::connect(addr).is_err());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_the_per_address_cap() {
        let mut config = Config::new(temp_root("per-64"));
        config.max_per_ip = 2;
        let seats = Arc::new(Seats::default());
        let ip = |s: &str| door::client_key(s.parse().unwrap());
        let first = Seats::take(&seats, ip("2001:db8:1:2::a"), &config).unwrap();
        let _second = Seats::take(&seats, ip("2001:db8:1:2:ffff::b"), &config).unwrap();
        let third = Seats::take(&seats, ip("2001:db8:1:2::c"), &config);
        assert_eq!(third.err(), Some("sessions from your address"));
        assert!(
            Seats::take(&seats, ip("2001:db8:1:3::a"), &config).is_ok(),
            "another /64"
        );
        assert!(Seats::take(&seats, ip("::ffff:192.0.2.1"), &config).is_ok());
        drop(first);
        assert!(
            Seats::take(&seats, ip("2001:db8:1:2::d"), &config).is_ok(),
            "a seat freed"
        );
    }
}
