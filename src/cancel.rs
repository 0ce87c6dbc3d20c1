//! The one way work stops early: a [`Cancel`] token handed down to every wait
//! and copy that may have to end before it is done. Whoever decides to stop
//! (the terminal's signal handler, a server shutting down, a test) sets it;
//! waits look at it between steps and fail with `Interrupted`; the library
//! never reads process-wide state and never exits the process.
//!
//! A token also counts its holds: code that would leave something behind if
//! the process vanished (a transfer writing a temporary file, the line editor
//! holding the terminal raw) holds it while it works, and the terminal's
//! handler ends the process at once only when nothing holds it.

use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why work was asked to stop. A later reason never weakens an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Stop what is under way and go on with the next thing (Ctrl-C at a prompt).
    Interrupt = 1,
    /// Stop everything (SIGTERM, a server shutting down).
    Terminate = 2,
}

/// A shared flag that says whether, and why, to stop. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<State>);

#[derive(Debug, Default)]
struct State {
    /// 0, or a [`Stop`] as its number.
    stop: AtomicU8,
    holds: AtomicUsize,
}

/// While alive, the token's holder has something to clean up before it stops.
#[derive(Debug)]
pub struct Hold(Cancel);

impl Cancel {
    /// A token nobody has set yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every wait that watches this token to stop. Only touches atomics,
    /// so a signal handler may call it.
    pub fn stop(&self, why: Stop) {
        self.0.stop.fetch_max(why as u8, Ordering::SeqCst);
    }

    /// Why stopping was asked, if it was.
    pub fn reason(&self) -> Option<Stop> {
        decode(self.0.stop.load(Ordering::SeqCst))
    }

    /// Whether stopping was asked.
    pub fn is_stopped(&self) -> bool {
        self.reason().is_some()
    }

    /// Takes the reason, so that the next stop is news (a person's Ctrl-C
    /// stops one command, not every one after it).
    pub fn take(&self) -> Option<Stop> {
        decode(self.0.stop.swap(0, Ordering::SeqCst))
    }

    /// `Err(Interrupted)` once stopping was asked: for a wait's loop.
    pub fn check(&self) -> io::Result<()> {
        match self.is_stopped() {
            true => Err(io::ErrorKind::Interrupted.into()),
            false => Ok(()),
        }
    }

    /// Holds the token until the `Hold` drops (see the module's doc).
    pub fn hold(&self) -> Hold {
        self.0.holds.fetch_add(1, Ordering::SeqCst);
        Hold(self.clone())
    }

    /// Whether anything holds the token. Only reads an atomic.
    pub fn held(&self) -> bool {
        self.0.holds.load(Ordering::SeqCst) > 0
    }

    /// Sleeps for `span`, or less if stopping is asked meanwhile (looked at
    /// every 20 ms); `false` if it was.
    pub fn sleep(&self, span: Duration) -> bool {
        let until = Instant::now() + span;
        loop {
            if self.is_stopped() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.0 .0.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

fn decode(n: u8) -> Option<Stop> {
    match n {
        1 => Some(Stop::Interrupt),
        2 => Some(Stop::Terminate),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_stop_and_take_clears_it() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(a.check().is_ok());
        b.stop(Stop::Interrupt);
        assert_eq!(a.reason(), Some(Stop::Interrupt));
        assert_eq!(a.check().unwrap_err().kind(), io::ErrorKind::Interrupted);
        assert_eq!(a.take(), Some(Stop::Interrupt));
        assert_eq!(b.take(), None);
        assert!(!Cancel::new().is_stopped(), "a new token is its own");
    }

    #[test]
    fn terminate_is_never_weakened_to_interrupt() {
        let c = Cancel::new();
        c.stop(Stop::Terminate);
        c.stop(Stop::Interrupt);
        assert_eq!(c.reason(), Some(Stop::Terminate));
    }

    #[test]
    fn holds_are_counted_until_dropped() {
        let c = Cancel::new();
        let first = c.hold();
        let second = c.clone().hold();
        drop(first);
        assert!(c.held());
        drop(second);
        assert!(!c.held());
    }

    #[test]
    fn sleep_ends_early_when_stopped() {
        let c = Cancel::new();
        assert!(c.sleep(Duration::from_millis(30)));
        let other = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.stop(Stop::Terminate);
        });
        let start = Instant::now();
        assert!(!c.sleep(Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
