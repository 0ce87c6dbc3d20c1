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

/// A transfer log in wu-ftpd's `xferlog` format (as vsftpd and proftpd
/// write it, and log analysers read it): one line per transfer, appended.
#[derive(Debug)]
pub struct Xferlog(Mutex<std::fs::File>);

/// One transfer, for [`Xferlog::write`].
pub struct Transfer<'a> {
    pub seconds: u64,
    pub host: std::net::IpAddr,
    pub bytes: u64,
    pub path: &'a str,
    pub ascii: bool,
    /// `true` for a download (outgoing).
    pub outgoing: bool,
    pub anonymous: bool,
    pub user: &'a str,
    pub complete: bool,
}

impl Xferlog {
    /// Opens `path` to append to (made owner-only if new).
    pub fn open(path: &std::path::Path) -> io::Result<Xferlog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        Ok(Xferlog(Mutex::new(file)))
    }

    /// Appends the transfer's line: `current-time transfer-time remote-host
    /// file-size filename transfer-type special-action-flag direction
    /// access-mode username service-name authentication-method
    /// authenticated-user-id completion-status`, the time in UTC.
    pub fn write(&self, t: &Transfer) {
        let line = xferlog_line(t, SystemTime::now());
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A log that cannot be written must not stop a transfer.
        let _ = file.write_all(line.as_bytes());
    }
}

fn xferlog_line(t: &Transfer, now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = crate::time::unix_seconds(now);
    let c = Civil::from_unix(secs);
    let day = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    // Fields are separated by spaces, so a name's spaces (and anything
    // unprintable) become `_`, as vsftpd writes them.
    let path: String = (t.path.chars())
        .map(|ch| {
            if ch.is_whitespace() || ch.is_control() {
                '_'
            } else {
                ch
            }
        })
        .collect();
    format!(
        "{day} {} {:2} {:02}:{:02}:{:02} {} {} {} {} {path} {} _ {} {} {} ftp 0 * {}\n",
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year,
        t.seconds.max(1),
        t.host,
        t.bytes,
        if t.ascii { 'a' } else { 'b' },
        if t.outgoing { 'o' } else { 'i' },
        if t.anonymous { 'a' } else { 'r' },
        t.user.replace(char::is_whitespace, "_"),
        if t.complete { 'c' } else { 'i' },
    )
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
    fn an_xferlog_line_has_its_fourteen_fields() {
        let t = Transfer {
            seconds: 0,
            host: "192.0.2.1".parse().unwrap(),
            bytes: 1234,
            path: "/in/my file.txt",
            ascii: false,
            outgoing: true,
            anonymous: false,
            user: "alice",
            complete: true,
        };
        // 2026-12-02 23:08:11 UTC was a Wednesday.
        let when = crate::time::system_time(1_796_252_891);
        assert_eq!(
            xferlog_line(&t, when),
            "Wed Dec  2 23:08:11 2026 1 192.0.2.1 1234 /in/my_file.txt b _ o r alice ftp 0 * c\n"
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
