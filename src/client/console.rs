//! The client's standard front-end: results on stdout, `error: ...` lines on
//! stderr, and, for a person at a terminal, the prompt and a live progress
//! line redrawn in place on stderr. Everything a server chose (reply text,
//! listings, names) goes through `Printable`: its control characters are shown
//! as escapes, never sent to the terminal, and CR LF line ends become local ones.

use std::io::{self, Write};
use std::time::Instant;

use super::ports::Output;
use super::units::Meter;

/// The terminal (or the pipes) the client writes to.
pub struct Console {
    stdout: Printable<io::Stdout>,
    quiet: bool,
    /// A person types the commands: show a prompt.
    prompting: bool,
    /// ... and sees stderr: show live progress, on one line redrawn in place.
    meter: Option<Option<Meter>>,
}

impl Console {
    /// Result lines unless `quiet`; a prompt when `prompting`; a live progress
    /// line on stderr when `meter`.
    pub fn new(quiet: bool, prompting: bool, meter: bool) -> Console {
        Console {
            stdout: Printable::new(io::stdout()),
            quiet,
            prompting,
            meter: meter.then_some(None),
        }
    }
}

impl Console {
    /// Takes a drawn progress line off the screen, so a result line can go
    /// there; the meter goes on and draws again at its next update.
    fn clear_progress(&mut self) {
        if let Some(Some(meter)) = &mut self.meter {
            if meter.take_drawn() {
                let _ = write!(io::stderr(), "\r\x1b[K");
            }
        }
    }
}

impl Output for Console {
    fn say(&mut self, line: &str) {
        self.clear_progress();
        if !self.quiet {
            // A closed stdout (`client ... | head`) is not an error.
            let _ = writeln!(self.stdout, "{line}");
        }
    }

    fn error(&mut self, line: &str) {
        self.clear_progress();
        eprintln!("error: {}", printable(line));
    }

    fn text(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn progress(&mut self, name: &str, done: u64, total: Option<u64>) {
        if let Some(meter) = &mut self.meter {
            let meter = meter.get_or_insert_with(|| Meter::new(name));
            meter.rename(name);
            if let Some(line) = meter.update(done, total, Instant::now()) {
                let _ = write!(io::stderr(), "\r\x1b[K{line}");
            }
        }
    }

    fn progress_done(&mut self) {
        self.clear_progress();
        if let Some(meter) = &mut self.meter {
            *meter = None;
        }
    }

    fn prompt(&mut self, prompt: &str) {
        if self.prompting {
            let _ = write!(self.stdout, "{prompt}");
            let _ = self.stdout.flush();
        }
    }

    fn ask_secret(&mut self, prompt: &str) -> Option<String> {
        if !self.prompting {
            return None;
        }
        crate::tty::read_secret(prompt).ok().flatten()
    }

    fn input_ended(&mut self) {
        if self.prompting {
            let _ = writeln!(self.stdout);
        }
    }
}

/// The next line of stdin, with one `\n` or `\r\n` off as `BufRead::lines`
/// takes it; `None` at the end. Stdin is not held locked between lines, so a
/// command (USER) can read a password from it.
pub fn read_line() -> Option<io::Result<String>> {
    let mut line = String::new();
    match io::stdin().read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => {
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
            Some(Ok(line))
        }
        Err(e) => Some(Err(e)),
    }
}

/// A writer that shows control characters as escapes (`\x1b`, `\u{009b}`)
/// instead of passing them to a terminal, and turns CR LF into LF.
pub struct Printable<W> {
    inner: W,
    /// A CR or a 0xC2 byte, waiting for the byte that says what it starts.
    held: Option<u8>,
}

impl<W: Write> Printable<W> {
    pub fn new(inner: W) -> Printable<W> {
        Printable { inner, held: None }
    }

    fn push(&mut self, b: u8, out: &mut Vec<u8>) {
        match (self.held.take(), b) {
            (Some(b'\r'), b'\n') => out.push(b'\n'),
            // U+0080 to U+009F, the C1 controls, in UTF-8.
            (Some(0xC2), 0x80..=0x9F) => out.extend(format!("\\u{{{b:04x}}}").bytes()),
            (Some(h), _) => {
                escape(h, out);
                self.push(b, out);
            }
            (None, b'\r' | 0xC2) => self.held = Some(b),
            (None, _) => escape(b, out),
        }
    }
}

/// A byte as it may reach a terminal: C0 controls other than LF and tab, and
/// DEL, as `\xNN`; anything else as it is.
fn escape(b: u8, out: &mut Vec<u8>) {
    if b < 0x20 && b != b'\n' && b != b'\t' || b == 0x7F {
        out.extend(format!("\\x{b:02x}").bytes());
    } else {
        out.push(b);
    }
}

impl<W: Write> Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() + 8);
        for &b in buf {
            self.push(b, &mut out);
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(h) = self.held.take() {
            let mut out = Vec::new();
            escape(h, &mut out);
            self.inner.write_all(&out)?;
        }
        self.inner.flush()
    }
}

/// `text` with its control characters shown as escapes.
pub fn printable(text: &str) -> String {
    let mut p = Printable::new(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = p.write_all(text.as_bytes()).and_then(|()| p.flush());
    String::from_utf8_lossy(&p.inner).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(printable("csi\u{9b}31m é"), "csi\\u{009b}31m é");
        assert_eq!(printable("tab\tok\r\nline\rcr"), "tab\tok\nline\\x0dcr");
        // A CR LF split across two writes is still one line end.
        let mut p = Printable::new(Vec::new());
        p.write_all(b"one\r").unwrap();
        p.write_all(b"\ntwo\r").unwrap();
        p.flush().unwrap();
        assert_eq!(p.inner, b"one\ntwo\\x0d");
    }
}
