//! The interpreter's ports: where its results go ([`Output`]), where its
//! command lines come from ([`Lines`]), and what completes a word
//! ([`Complete`]). The interpreter uses them; the terminal (`console`,
//! `editor`), scripts and tests implement them, so none of those modules
//! imports another.

use std::io::{self, Write};

/// Where the interpreter's results go.
pub trait Output {
    /// A result line: `received notes.txt: 4.2 KiB in 3 ms (1.3 MiB/s)`.
    fn say(&mut self, line: &str);
    /// What went wrong with a command, in words (the front-end adds `error: `).
    fn error(&mut self, line: &str);
    /// Where text the user asked for goes as it is: listings, help.
    fn text(&mut self) -> &mut dyn Write;
    /// A transfer's progress: bytes so far, and the total when known.
    fn progress(&mut self, _name: &str, _done: u64, _total: Option<u64>) {}
    /// The transfer whose progress was shown has ended.
    fn progress_done(&mut self) {}
    /// The interpreter is about to read the next command.
    fn prompt(&mut self, _prompt: &str) {}
    /// The commands ran out (end of input, not EXIT).
    fn input_ended(&mut self) {}
    /// Asks the person at the terminal for a secret, without echo; `None`
    /// where nobody can be asked.
    fn ask_secret(&mut self, _prompt: &str) -> Option<String> {
        None
    }
}

/// Where command lines come from: a script, plain lines from stdin, or the
/// line editor at a terminal (`editor::Editor`).
pub trait Lines {
    /// The next line, once `prompt` is shown (through `out`, or drawn by the
    /// source itself); `names` completes words. `None` at the end of input.
    fn next_line(
        &mut self,
        prompt: &str,
        out: &mut dyn Output,
        names: &mut dyn Complete,
    ) -> Option<io::Result<String>>;
}

/// Plain lines: the prompt goes through `out`.
impl<I: Iterator<Item = io::Result<String>>> Lines for I {
    fn next_line(
        &mut self,
        prompt: &str,
        out: &mut dyn Output,
        _names: &mut dyn Complete,
    ) -> Option<io::Result<String>> {
        out.prompt(prompt);
        self.next()
    }
}

/// What can complete the word before the cursor.
pub trait Complete {
    /// The whole words that could follow `head` (the line up to the word
    /// being typed), starting with `prefix` (that word so far, unquoted);
    /// folders end in `/`.
    fn candidates(&mut self, head: &str, prefix: &str) -> Vec<String>;
}
