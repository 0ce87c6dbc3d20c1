//! The client's standard front-end: results on stdout, `error: ...` lines on
//! stderr, and, for a person at a terminal, the prompt and a live progress
//! line redrawn in place on stderr.

use std::io::{self, Write};
use std::time::Instant;

use super::interp::Output;
use super::units::Meter;

/// The terminal (or the pipes) the client writes to.
pub struct Console {
    stdout: io::Stdout,
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
            stdout: io::stdout(),
            quiet,
            prompting,
            meter: meter.then_some(None),
        }
    }
}

impl Output for Console {
    fn say(&mut self, line: &str) {
        if !self.quiet {
            // A closed stdout (`client ... | head`) is not an error.
            let _ = writeln!(self.stdout, "{line}");
        }
    }

    fn error(&mut self, line: &str) {
        eprintln!("error: {line}");
    }

    fn text(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn progress(&mut self, name: &str, done: u64, total: Option<u64>) {
        if let Some(meter) = &mut self.meter {
            let meter = meter.get_or_insert_with(|| Meter::new(name));
            if let Some(line) = meter.update(done, total, Instant::now()) {
                let _ = write!(io::stderr(), "\r\x1b[K{line}");
            }
        }
    }

    fn progress_done(&mut self) {
        if let Some(Some(meter)) = self.meter.as_mut().map(Option::take) {
            if meter.shown() {
                let _ = write!(io::stderr(), "\r\x1b[K");
            }
        }
    }

    fn prompt(&mut self, prompt: &str) {
        if self.prompting {
            let _ = write!(self.stdout, "{prompt}");
            let _ = self.stdout.flush();
        }
    }

    fn input_ended(&mut self) {
        if self.prompting {
            let _ = writeln!(self.stdout);
        }
    }
}
