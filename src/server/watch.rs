//! The ABOR watch: one thread for the whole server watches the control
//! connection of every long transfer or checksum under way, without taking
//! anything from it (MSG_PEEK). An ABOR (after Telnet's IP and Synch, if the
//! client sent them, urgent or not) stops the work (a transfer's data
//! connection is shut down, so its copy ends at once); the transfer is
//! answered 426 and the ABOR itself, read afterwards as ever, 226 (RFC 959
//! §4.1.3). A bare STAT, when nothing was waiting before it, is taken and
//! answered at once with the work's progress. Any other line waits its turn:
//! that connection is left alone until its work ends.
//!
//! One thread and one poll(2) for all of them: a thread for each transfer
//! cost each one a thread's start, stack and pipe, which with hundreds of
//! uploads at once (ftpbench's 300) was a good part of the server's work
//! and memory.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::lock;
use crate::protocol::Reply;
use crate::wait::{wait_any, writable, Alarm};

/// How long a line too short to tell (fewer than 4 bytes, no LF) is left
/// before it is looked at again.
const EARLY: Duration = Duration::from_millis(2);

/// A watch on one session's control connection, ended by `stop`.
pub struct Watch {
    shared: Arc<Shared>,
    id: u64,
    aborted: Arc<AtomicBool>,
}

/// What the watching thread and the sessions share.
struct Shared {
    watched: Mutex<Vec<Watched>>,
    /// Rung when a watch starts, so that the thread polls its connection too.
    alarm: Alarm,
    next: AtomicU64,
}

/// One control connection being watched.
struct Watched {
    id: u64,
    ctrl: Arc<TcpStream>,
    /// Stops the work; taken at the ABOR.
    stop: Option<Box<dyn FnOnce() + Send>>,
    /// The work's bytes so far, and how a STAT says them.
    moved: Arc<AtomicU64>,
    status: Option<Box<dyn Fn(u64) -> Reply + Send>>,
    /// A STAT taken without its LF, which came after the urgent mark.
    owe_lf: bool,
    /// Left alone until the work ends: an ABOR was seen, another command
    /// waits, or the connection ended or failed.
    parked: bool,
    /// Too little of a line to tell, since then.
    early: Option<Instant>,
    aborted: Arc<AtomicBool>,
}

impl Watch {
    /// Watches `ctrl` while work runs: an ABOR calls `stop` (which shuts a
    /// transfer's data connection down); `moved` counts the work's bytes, and
    /// `status` says them, for a STAT, if there is one. `None` if the
    /// watching thread could not be started: the work goes unwatched.
    pub fn start(
        ctrl: &Arc<TcpStream>,
        stop: impl FnOnce() + Send + 'static,
        moved: Arc<AtomicU64>,
        status: Option<impl Fn(u64) -> Reply + Send + 'static>,
    ) -> Option<Watch> {
        let shared = watcher()?;
        let id = shared.next.fetch_add(1, Ordering::Relaxed);
        let aborted = Arc::new(AtomicBool::new(false));
        lock(&shared.watched).push(Watched {
            id,
            ctrl: Arc::clone(ctrl),
            stop: Some(Box::new(stop)),
            moved,
            status: status.map(|s| Box::new(s) as Box<dyn Fn(u64) -> Reply + Send>),
            owe_lf: false,
            parked: false,
            early: None,
            aborted: Arc::clone(&aborted),
        });
        shared.alarm.ring();
        Some(Watch {
            shared,
            id,
            aborted,
        })
    }

    /// Ends the watch; whether it saw an ABOR. Once this returns, the
    /// watching thread no longer touches the connection.
    pub fn stop(self) -> bool {
        lock(&self.shared.watched).retain(|w| w.id != self.id);
        self.aborted.load(Ordering::SeqCst)
    }
}

/// The watching thread's share, the thread started at the first watch.
fn watcher() -> Option<Arc<Shared>> {
    static WATCHER: OnceLock<Option<Arc<Shared>>> = OnceLock::new();
    let started = WATCHER.get_or_init(|| {
        let shared = Arc::new(Shared {
            watched: Mutex::new(Vec::new()),
            alarm: Alarm::new().ok()?,
            next: AtomicU64::new(0),
        });
        let mine = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("abor-watch".into())
            .spawn(move || watch_all(&mine))
            .ok()?;
        Some(shared)
    });
    started.clone()
}

/// The watching thread: polls every watched connection that may have
/// something for it, and looks at what came.
fn watch_all(shared: &Shared) {
    loop {
        let now = Instant::now();
        let (ids, ctrls, early): (Vec<u64>, Vec<Arc<TcpStream>>, bool) = {
            let watched = lock(&shared.watched);
            let due = |w: &&Watched| !w.parked && w.early.is_none_or(|t| now >= t + EARLY);
            let (ids, ctrls) = watched
                .iter()
                .filter(due)
                .map(|w| (w.id, Arc::clone(&w.ctrl)))
                .unzip();
            (ids, ctrls, watched.iter().any(|w| w.early.is_some()))
        };
        let fds: Vec<_> = ctrls.iter().map(|c| c.as_fd()).collect();
        let Ok((rang, readable)) = wait_any(&fds, &shared.alarm, early.then_some(EARLY)) else {
            // poll itself failed (out of memory): try again in a moment.
            std::thread::sleep(EARLY);
            continue;
        };
        if rang {
            shared.alarm.reset();
        }
        let mut watched = lock(&shared.watched);
        for w in watched.iter_mut() {
            let at = ids.iter().position(|id| *id == w.id);
            if at.is_some_and(|i| readable[i]) {
                look(w);
            }
        }
    }
}

/// Looks at what waits on a watched connection that poll says is readable.
fn look(w: &mut Watched) {
    let mut buf = [0u8; 16];
    w.early = None;
    let n = match w.ctrl.peek(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
        Err(_) => 0,
    };
    let waiting = &buf[..n];
    if n == 0 {
        w.parked = true;
    } else if is_abor(waiting) {
        if let Some(stop) = w.stop.take() {
            stop();
        }
        w.aborted.store(true, Ordering::SeqCst);
        w.parked = true;
    } else if w.owe_lf && waiting[0] == b'\n' {
        // The byte is there (peeked): taking it does not wait.
        w.owe_lf = (&*w.ctrl).read_exact(&mut buf[..1]).is_err();
    } else if let Some((say, len)) = w.status.as_ref().zip(stat_line(waiting)) {
        // Taken only if its answer can go at once: one client that reads
        // nothing must not hold up every watch, so with no room to write,
        // the STAT waits its turn as any other line does, and is answered
        // after the work; none goes unanswered.
        if !writable(w.ctrl.as_fd()) {
            w.parked = true;
            return;
        }
        w.owe_lf = buf[len - 1] == b'\r';
        let reply = say(w.moved.load(Ordering::Relaxed)).to_string();
        // The line is there (peeked): taking it does not wait, nor does a
        // short reply where there is room.
        let taken = (&*w.ctrl).read_exact(&mut buf[..len]).is_ok();
        if !(taken && (&*w.ctrl).write_all(reply.as_bytes()).is_ok()) {
            w.parked = true;
        }
    } else if n < 4 && !waiting.contains(&b'\n') {
        // Too little of a line yet to tell.
        w.early = Some(Instant::now());
    } else {
        // Another command, which waits for the work to end.
        w.parked = true;
    }
}

/// Whether the bytes waiting on the control connection ask to abort: Telnet's
/// Interrupt Process (IAC IP, which RFC 959 §4.1.3 has clients send before
/// ABOR; a peek stops at the urgent Synch that follows it, so the ABOR itself
/// may not show yet), or ABOR with such bytes skipped.
fn is_abor(waiting: &[u8]) -> bool {
    if waiting.starts_with(&[0xFF, 0xF4]) {
        return true;
    }
    let text: Vec<u8> = waiting
        .iter()
        .copied()
        .filter(|b| !matches!(b, 0xFF | 0xF4 | 0xF2))
        .collect();
    text.len() >= 4 && text[..4].eq_ignore_ascii_case(b"ABOR")
}

/// If the bytes waiting on the control connection begin with a bare STAT
/// (after Telnet's IP and Synch, if sent), how many bytes its line takes:
/// up to its CRLF, or its CR where a peek stops at the urgent mark before
/// the LF (Ruby's `Net::FTP#status` sends the whole line with MSG_OOB).
fn stat_line(waiting: &[u8]) -> Option<usize> {
    let skip = waiting
        .iter()
        .take_while(|b| matches!(b, 0xFF | 0xF4 | 0xF2))
        .count();
    let line = &waiting[skip..];
    if line.len() < 5 || !line[..4].eq_ignore_ascii_case(b"STAT") || line[4] != b'\r' {
        return None;
    }
    match line.get(5) {
        Some(b'\n') => Some(skip + 6),
        _ => Some(skip + 5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_watch_knows_abor_and_a_bare_stat_however_sent() {
        for abor in [
            &b"ABOR\r\n"[..],
            b"abor\r",
            b"\xff\xf4",
            b"\xff\xf4\xff\xf2ABOR\r\n",
        ] {
            assert!(is_abor(abor), "{abor:?}");
        }
        assert!(!is_abor(b"NOOP\r\n") && !is_abor(b"STAT\r\n") && !is_abor(b"AB"));
        assert_eq!(stat_line(b"STAT\r\nNOOP\r\n"), Some(6));
        assert_eq!(
            stat_line(b"stat\r"),
            Some(5),
            "the LF after the urgent mark"
        );
        assert_eq!(stat_line(b"\xff\xf4\xff\xf2STAT\r\n"), Some(10));
        for not in [&b"STAT /\r\n"[..], b"STAT", b"STATS\r\n", b"NOOP\r\n"] {
            assert_eq!(stat_line(not), None, "{not:?}");
        }
    }

    /// Many connections watched at once by the one thread: STATs answered
    /// with each one's own count, an ABOR stopping only its own work, a
    /// command that waits left in place, a line sent in pieces seen whole.
    #[test]
    fn one_thread_watches_many_connections_each_on_its_own() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut pairs = Vec::new();
        for i in 0..20u64 {
            let client = TcpStream::connect(addr).unwrap();
            let server = Arc::new(listener.accept().unwrap().0);
            let stopped = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stopped);
            let moved = Arc::new(AtomicU64::new(i * 100));
            let status = move |n| Reply::new(213, &format!("moved {n}"));
            let stop = move || flag.store(true, Ordering::SeqCst);
            let watch = Watch::start(&server, stop, moved, Some(status)).unwrap();
            pairs.push((client, server, stopped, watch));
        }
        let read_line = |c: &mut TcpStream| {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                c.read_exact(&mut byte).unwrap();
                line.push(byte[0]);
            }
            String::from_utf8(line).unwrap()
        };
        for (i, (client, ..)) in pairs.iter_mut().enumerate() {
            match i % 4 {
                0 => client.write_all(b"ABOR\r\n").unwrap(),
                1 => client.write_all(b"STAT\r\n").unwrap(),
                2 => client.write_all(b"NOOP\r\n").unwrap(),
                _ => {
                    client.write_all(b"ST").unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                    client.write_all(b"AT\r\n").unwrap();
                }
            }
        }
        for (i, (client, server, stopped, _)) in pairs.iter_mut().enumerate() {
            if i % 2 == 1 {
                assert_eq!(read_line(client), format!("213 moved {}\r\n", i * 100));
            }
            let aborted = || stopped.load(Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(5);
            while i % 4 == 0 && !aborted() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(aborted(), i % 4 == 0, "{i}");
            // What is not the watch's stays for the session to read.
            let mut left = [0u8; 6];
            match i % 4 {
                0 | 2 => {
                    server.set_nonblocking(true).unwrap();
                    assert_eq!((&**server).read(&mut left).unwrap(), 6);
                }
                _ => {
                    server.set_nonblocking(true).unwrap();
                    assert!((&**server).read(&mut left).is_err(), "taken: {i}");
                }
            }
        }
        for (i, (.., watch)) in pairs.into_iter().enumerate() {
            assert_eq!(watch.stop(), i % 4 == 0);
        }
    }
}
