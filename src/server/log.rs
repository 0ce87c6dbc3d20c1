//! The server's log: one line per event on stderr, with a UTC timestamp and
//! the peer it concerns.

use std::fmt::Display;
use std::io::{self, Write};
use std::time::SystemTime;

use crate::time::Civil;

/// Writes one log line on stderr: time, peer, event.
pub fn log(peer: impl Display, event: impl Display) {
    let line = format!("{} {peer} {event}\n", Civil::of(SystemTime::now()).iso());
    // One write per line, so lines from concurrent sessions never interleave.
    let _ = io::stderr().write_all(line.as_bytes());
}
