//! The server's log: one line per event on stderr, with a UTC timestamp and
//! the peer it concerns. A client chooses much of what is logged (names,
//! user names, how often it fails), so what a line quotes is cut short, and a
//! `Budget` caps how many lines one session (or the accept loop) writes a
//! second, counting the rest and saying how many were left out.

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::time::Civil;

/// Lines one budget may write in a second.
const LINES_PER_SECOND: u32 = 20;

/// The most characters of a client's text one line quotes.
const QUOTED: usize = 80;

/// Writes one log line on stderr: time, peer, event.
pub fn log(peer: impl Display, event: impl Display) {
    let line = format!("{} {peer} {event}\n", Civil::of(SystemTime::now()).iso());
    // One write per line, so lines from concurrent sessions never interleave.
    let _ = io::stderr().write_all(line.as_bytes());
}

/// A client's text for a log line: quoted and escaped, at most 80 characters
/// of it, with the full length said when cut.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED) {
        None => format!("{text:?}"),
        Some((at, _)) => format!("{:?}... ({} bytes)", &text[..at], text.len()),
    }
}

/// How many lines a source of log lines may still write this second.
#[derive(Debug, Default)]
pub struct Budget(Mutex<Option<Window>>);

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u32,
    dropped: u32,
}

impl Budget {
    pub const fn new() -> Budget {
        Budget(Mutex::new(None))
    }

    /// Writes the line if the budget allows; otherwise counts it. The first
    /// line of a later second first says how many were left out.
    pub fn log(&self, peer: impl Display, event: impl Display) {
        let now = Instant::now();
        let suppressed = {
            // A poisoned lock only means another thread panicked mid-count.
            let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let window = guard.get_or_insert(Window {
                start: now,
                used: 0,
                dropped: 0,
            });
            let mut suppressed = 0;
            if now.duration_since(window.start) >= Duration::from_secs(1) {
                suppressed = window.dropped;
                *window = Window {
                    start: now,
                    used: 0,
                    dropped: 0,
                };
            }
            if window.used >= LINES_PER_SECOND {
                window.dropped += 1;
                return;
            }
            window.used += 1;
            suppressed
        };
        if suppressed > 0 {
            log(&peer, format_args!("({suppressed} log lines left out)"));
        }
        log(peer, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_control_characters_escaped() {
        assert_eq!(quote("a\r\nb"), "\"a\\r\\nb\"");
        let long = "x".repeat(4000);
        assert_eq!(
            quote(&long),
            format!("{:?}... (4000 bytes)", "x".repeat(80))
        );
    }

    #[test]
    fn a_budget_admits_twenty_lines_a_second() {
        let b = Budget::new();
        for _ in 0..30 {
            b.log("-", "test line");
        }
        let w = b.0.lock().unwrap();
        let w = w.as_ref().unwrap();
        assert_eq!((w.used, w.dropped), (20, 10));
    }
}
