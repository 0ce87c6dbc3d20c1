//! The line editor for a person at a terminal: editing keys, history kept
//! across sessions, Tab completion, Ctrl-C, Ctrl-D and Ctrl-Z. Used only when stdin
//! and stdout are terminals (and TERM is not `dumb`); scripts and pipes read
//! plain lines. The terminal is raw only while a line is being typed, behind
//! `tty::Raw`, which puts every setting back when dropped (panics included).
//!
//! Split so that all but the reading and writing is plain data, unit-tested:
//! `decode` turns bytes into `Key`s, `Line` edits, `History` remembers,
//! `render` draws one line scrolled sideways to fit the width, and
//! `Completion` works out what Tab inserts.

use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::ports::{Complete, Lines, Output};
use crate::cancel::Cancel;
use crate::signals;
use crate::tty;

/// A key as the editor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Tab,
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    WordLeft,
    WordRight,
    /// Ctrl-K: delete to the end of the line.
    KillEnd,
    /// Ctrl-U: delete to the start of the line.
    KillStart,
    /// Ctrl-W (and Alt-Backspace): delete the word before the cursor.
    KillWord,
    /// Ctrl-R: search the history backwards.
    Search,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    EndOfInput,
    /// Ctrl-L: clear the screen.
    Redraw,
    /// Ctrl-Z: suspend the client, as the terminal would outside raw mode.
    Suspend,
    /// Ctrl-G or a lone Escape followed by another key.
    Cancel,
    /// Anything else (function keys, unknown sequences).
    Other,
}

/// Decodes the first key in `bytes`: the key and how many bytes it took, or
/// `None` if `bytes` holds only the start of one.
pub fn decode(bytes: &[u8]) -> Option<(Key, usize)> {
    let first = *bytes.first()?;
    let key = match first {
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::Interrupt,
        0x04 => Key::EndOfInput,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x07 => Key::Cancel,
        0x08 | 0x7F => Key::Backspace,
        0x09 => Key::Tab,
        0x0A | 0x0D => Key::Enter,
        0x0B => Key::KillEnd,
        0x0C => Key::Redraw,
        0x0E => Key::Down,
        0x10 => Key::Up,
        0x12 => Key::Search,
        0x15 => Key::KillStart,
        0x17 => Key::KillWord,
        0x1A => Key::Suspend,
        0x1B => return escape(bytes),
        0x00..=0x1F => Key::Other,
        _ => {
            let len = match first {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            if bytes.len() < len {
                return None;
            }
            return Some(match std::str::from_utf8(&bytes[..len]) {
                Ok(s) => (Key::Char(s.chars().next().unwrap_or('?')), len),
                Err(_) => (Key::Other, 1),
            });
        }
    };
    Some((key, 1))
}

/// An escape sequence: `ESC [ ... final`, `ESC O x`, or Alt with a key.
fn escape(bytes: &[u8]) -> Option<(Key, usize)> {
    let second = *bytes.get(1)?;
    match second {
        b'[' => {
            // Parameters and intermediates, then a final byte in 0x40..=0x7E.
            let end = bytes[2..].iter().position(|b| (0x40..=0x7E).contains(b))? + 2;
            let params = &bytes[2..end];
            let key = match (params, bytes[end]) {
                (_, b'A') => Key::Up,
                (_, b'B') => Key::Down,
                (b"1;5" | b"1;3", b'C') => Key::WordRight,
                (b"1;5" | b"1;3", b'D') => Key::WordLeft,
                (_, b'C') => Key::Right,
                (_, b'D') => Key::Left,
                (_, b'H') => Key::Home,
                (_, b'F') => Key::End,
                (b"1" | b"7", b'~') => Key::Home,
                (b"4" | b"8", b'~') => Key::End,
                (b"3", b'~') => Key::Delete,
                _ => Key::Other,
            };
            Some((key, end + 1))
        }
        b'O' => {
            let key = match *bytes.get(2)? {
                b'A' => Key::Up,
                b'B' => Key::Down,
                b'C' => Key::Right,
                b'D' => Key::Left,
                b'H' => Key::Home,
                b'F' => Key::End,
                _ => Key::Other,
            };
            Some((key, 3))
        }
        b'b' | b'B' => Some((Key::WordLeft, 2)),
        b'f' | b'F' => Some((Key::WordRight, 2)),
        0x7F | 0x08 => Some((Key::KillWord, 2)),
        // ESC ESC: the first is a lone Escape.
        0x1B => Some((Key::Cancel, 1)),
        _ => Some((Key::Cancel, 1)),
    }
}

/// The line being typed: characters and a cursor between them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Line {
    chars: Vec<char>,
    cursor: usize,
}

impl Line {
    /// A line holding `text`, the cursor at its end.
    pub fn new(text: &str) -> Line {
        let chars: Vec<char> = text.chars().collect();
        let cursor = chars.len();
        Line { chars, cursor }
    }

    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The text before the cursor.
    pub fn before(&self) -> String {
        self.chars[..self.cursor].iter().collect()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub fn insert(&mut self, text: &str) {
        for c in text.chars() {
            self.chars.insert(self.cursor, c);
            self.cursor += 1;
        }
    }

    /// Replaces the characters from `start` to the cursor with `text`.
    pub fn replace_back_to(&mut self, start: usize, text: &str) {
        self.chars.drain(start..self.cursor);
        self.cursor = start;
        self.insert(text);
    }

    /// Applies an editing key; false if the key is not an editing one.
    pub fn edit(&mut self, key: Key) -> bool {
        let n = self.chars.len();
        match key {
            Key::Char(c) => self.insert(c.encode_utf8(&mut [0; 4])),
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(n),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = n,
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            Key::Delete if self.cursor < n => {
                self.chars.remove(self.cursor);
            }
            Key::Backspace | Key::Delete => {}
            Key::KillEnd => self.chars.truncate(self.cursor),
            Key::KillStart => {
                self.chars.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::KillWord => {
                // As the shell's Ctrl-W: spaces, then everything up to a space.
                let mut start = self.cursor;
                while start > 0 && self.chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !self.chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::WordLeft => {
                while self.cursor > 0 && !self.chars[self.cursor - 1].is_alphanumeric() {
                    self.cursor -= 1;
                }
                while self.cursor > 0 && self.chars[self.cursor - 1].is_alphanumeric() {
                    self.cursor -= 1;
                }
            }
            Key::WordRight => {
                while self.cursor < n && !self.chars[self.cursor].is_alphanumeric() {
                    self.cursor += 1;
                }
                while self.cursor < n && self.chars[self.cursor].is_alphanumeric() {
                    self.cursor += 1;
                }
            }
            _ => return false,
        }
        true
    }
}

/// How many terminal columns a character takes: 0 for combining marks, 2 for
/// the wide East Asian ranges and emoji, 1 otherwise.
pub fn columns(c: char) -> usize {
    match c as u32 {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn width_of(chars: &[char]) -> usize {
    chars.iter().map(|&c| columns(c)).sum()
}

/// Draws `prompt` and `line` on one terminal row of `width` columns: the
/// line scrolls sideways so the cursor stays in view (`offset` is the first
/// character shown, kept between calls). Returns what to write.
pub fn render(prompt: &str, line: &Line, width: usize, offset: &mut usize) -> String {
    let prompt_cols = prompt.chars().map(columns).sum::<usize>();
    // The last column stays free, so the cursor never wraps to the next row.
    let room = width.saturating_sub(prompt_cols + 1).max(8);
    let chars = &line.chars;
    *offset = (*offset).min(line.cursor);
    while width_of(&chars[*offset..line.cursor]) > room {
        *offset += 1;
    }
    let mut shown = 0;
    let mut end = *offset;
    while end < chars.len() && shown + columns(chars[end]) <= room {
        shown += columns(chars[end]);
        end += 1;
    }
    let visible: String = chars[*offset..end].iter().collect();
    let column = prompt_cols + width_of(&chars[*offset..line.cursor]);
    let mut out = format!("\r{prompt}{visible}\x1b[K\r");
    if column > 0 {
        out += &format!("\x1b[{column}C");
    }
    out
}

/// Lines typed before, oldest first, kept in a file between sessions.
pub struct History {
    lines: Vec<String>,
    /// Where they are kept, if anywhere.
    path: Option<PathBuf>,
    max: usize,
}

/// How many lines the history keeps.
pub const HISTORY_LINES: usize = 1000;

impl History {
    /// The history kept in `path` (created when the first line is added),
    /// the newest `max` lines.
    pub fn load(path: Option<PathBuf>, max: usize) -> History {
        let text = path.as_ref().and_then(|p| fs::read_to_string(p).ok());
        let mut lines: Vec<String> = text
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let extra = lines.len().saturating_sub(max);
        lines.drain(..extra);
        History { lines, path, max }
    }

    /// Where the history is kept: `$XDG_STATE_HOME/dialback/history`, else
    /// `~/.local/state/dialback/history`.
    pub fn default_path() -> Option<PathBuf> {
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
        Some(state.join("dialback").join("history"))
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Adds a line (not a blank one, not one holding a password, not the
    /// same as the last) and saves the file.
    pub fn add(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() || super::words::holds_secret(line) {
            return;
        }
        if self.lines.last().is_some_and(|l| l == line) {
            return;
        }
        self.lines.push(line.to_string());
        let extra = self.lines.len().saturating_sub(self.max);
        self.lines.drain(..extra);
        if let Some(path) = &self.path {
            // A history that cannot be saved is not worth an error at the prompt.
            let _ = save(path, &self.lines);
        }
    }

    /// The newest line before index `before` that contains `query`.
    pub fn search(&self, query: &str, before: usize) -> Option<usize> {
        (0..before.min(self.lines.len()))
            .rev()
            .find(|&i| self.lines[i].contains(query))
    }
}

/// Writes the history whole and readable by its owner only, so a second
/// client saving at once never leaves half.
fn save(path: &std::path::Path, lines: &[String]) -> io::Result<()> {
    fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    let mut text = lines.join("\n");
    text.push('\n');
    crate::fsys::write_private(path, &text)
}

/// Where the word the cursor ends starts (a character index), and its text
/// with quotes and backslashes taken off.
pub fn partial_word(before: &str) -> (usize, String) {
    let chars: Vec<char> = before.chars().collect();
    let (mut start, mut word, mut quote, mut i) = (0, String::new(), None, 0);
    while i < chars.len() {
        let c = chars[i];
        match (c, quote) {
            ('\\', q) if q != Some('\'') && i + 1 < chars.len() => {
                i += 1;
                word.push(chars[i]);
            }
            (c, Some(q)) if c == q => quote = None,
            (c, Some(_)) => word.push(c),
            ('"' | '\'', None) => quote = Some(c),
            (c, None) if c.is_whitespace() => {
                start = i + 1;
                word.clear();
            }
            (c, None) => word.push(c),
        }
        i += 1;
    }
    (start, word)
}

/// A word as it must be typed: quoted when it holds spaces or quotes.
pub fn quoted(word: &str) -> String {
    if word.is_empty()
        || word
            .chars()
            .any(|c| c.is_whitespace() || "\"'\\#;".contains(c))
    {
        let inner: String = word
            .chars()
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{inner}\"")
    } else {
        word.to_string()
    }
}

/// The longest start that all `words` share.
pub fn common_start(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut end = first.len();
    for w in &words[1..] {
        end = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(end);
    }
    first[..end].to_string()
}

/// What Tab does to `line`: the new line, and the choices to list (when Tab
/// was pressed twice and more than one word fits).
pub fn complete(line: &mut Line, names: &mut dyn Complete, again: bool) -> Option<Vec<String>> {
    let before = line.before();
    let (start, prefix) = partial_word(&before);
    let head: String = before.chars().take(start).collect();
    let mut found = names.candidates(&head, &prefix);
    found.sort();
    found.dedup();
    match found.len() {
        0 => None,
        1 => {
            let word = &found[0];
            let end = if word.ends_with('/') { "" } else { " " };
            line.replace_back_to(start, &(quoted(word) + end));
            Some(Vec::new())
        }
        _ => {
            let common = common_start(&found);
            if common.chars().count() > prefix.chars().count() {
                // An unfinished quoted word stays open for more typing.
                line.replace_back_to(start, quoted(&common).trim_end_matches('"'));
                Some(Vec::new())
            } else if again {
                Some(found)
            } else {
                None
            }
        }
    }
}

/// The choices laid out in columns across `width`.
pub fn columns_of(words: &[String], width: usize) -> String {
    let widest = words.iter().map(|w| w.chars().count()).max().unwrap_or(0) + 2;
    let per_row = (width / widest).max(1);
    let mut out = String::new();
    for row in words.chunks(per_row) {
        let cells: Vec<String> = row.iter().map(|w| format!("{w:<widest$}")).collect();
        out += cells.concat().trim_end();
        out.push('\n');
    }
    out
}

/// The editor at a terminal: stdin for keys, stdout for the line.
pub struct Editor {
    history: History,
    /// Bytes read but not yet decoded (the start of a sequence).
    pending: Vec<u8>,
    cancel: Cancel,
}

/// Whether a person types at a terminal that can do what the editor needs.
pub fn usable() -> bool {
    use std::io::IsTerminal;
    let dumb = std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb");
    !dumb && io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// How a line ended.
enum Ended {
    Line(String),
    /// Ctrl-D on an empty line, Ctrl-C twice, or a signal.
    Quit,
    /// Ctrl-Z: the line so far, to go on with once the client is resumed.
    Suspend(Line),
}

impl Editor {
    /// An editor with `history`, that gives up a line when `cancel` stops
    /// (the token the terminal's signals are installed with).
    pub fn new(history: History, cancel: Cancel) -> Editor {
        Editor {
            history,
            pending: Vec::new(),
            cancel,
        }
    }

    /// The next key from the terminal; `None` at end of input or on a signal.
    fn key(&mut self) -> Option<Key> {
        loop {
            if let Some((key, used)) = decode(&self.pending) {
                self.pending.drain(..used);
                return Some(key);
            }
            let mut buf = [0u8; 64];
            match io::stdin().read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.cancel.is_stopped() {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    fn edit(
        &mut self,
        prompt: &str,
        names: &mut dyn Complete,
        mut line: Line,
    ) -> io::Result<Ended> {
        let mut out = io::stdout();
        let width = tty::width().unwrap_or(80);
        let mut offset = 0;
        // Where in the history Up has gone, and the line typed before it went.
        let mut back = self.history.lines().len();
        let mut typed = String::new();
        let mut last = Key::Other;
        let mut search: Option<(String, Option<usize>)> = None;
        loop {
            let drawn = match &search {
                Some((query, found)) => {
                    let shown = found.map_or("", |i| self.history.lines()[i].as_str());
                    let mut l = Line::new(shown);
                    l.cursor = 0;
                    let mut o = 0;
                    render(&format!("(search '{query}'): "), &l, width, &mut o)
                }
                None => render(prompt, &line, width, &mut offset),
            };
            out.write_all(drawn.as_bytes())?;
            out.flush()?;
            let Some(key) = self.key() else {
                return Ok(Ended::Quit);
            };
            if let Some((query, found)) = &mut search {
                match key {
                    Key::Char(c) => {
                        query.push(c);
                        *found = self
                            .history
                            .search(query, found.map_or(usize::MAX, |i| i + 1));
                    }
                    Key::Backspace => {
                        query.pop();
                        *found = self.history.search(query, usize::MAX);
                    }
                    Key::Search => {
                        let from = found.unwrap_or(self.history.lines().len());
                        *found = self.history.search(query, from).or(*found);
                    }
                    Key::Cancel | Key::Interrupt => search = None,
                    other => {
                        if let Some(i) = found {
                            line = Line::new(&self.history.lines()[*i]);
                        }
                        search = None;
                        if other == Key::Enter {
                            out.write_all(render(prompt, &line, width, &mut offset).as_bytes())?;
                            out.write_all(b"\n")?;
                            return Ok(Ended::Line(line.text()));
                        }
                        line.edit(other);
                    }
                }
                last = key;
                continue;
            }
            match key {
                Key::Enter => {
                    line.cursor = line.chars.len();
                    out.write_all(render(prompt, &line, width, &mut offset).as_bytes())?;
                    out.write_all(b"\n")?;
                    return Ok(Ended::Line(line.text()));
                }
                Key::EndOfInput if line.is_empty() => return Ok(Ended::Quit),
                Key::EndOfInput => {
                    line.edit(Key::Delete);
                }
                Key::Interrupt if line.is_empty() && last == Key::Interrupt => {
                    out.write_all(b"\n")?;
                    return Ok(Ended::Quit);
                }
                Key::Interrupt => {
                    let hint = if line.is_empty() {
                        "^C (Ctrl-C again or Ctrl-D to leave)"
                    } else {
                        "^C"
                    };
                    // Cleared: the next draw starts on a fresh row.
                    writeln!(out, "\x1b[K{hint}")?;
                    line = Line::default();
                    back = self.history.lines().len();
                }
                Key::Up if back > 0 => {
                    if back == self.history.lines().len() {
                        typed = line.text();
                    }
                    back -= 1;
                    line = Line::new(&self.history.lines()[back]);
                }
                Key::Down if back < self.history.lines().len() => {
                    back += 1;
                    line = match self.history.lines().get(back) {
                        Some(l) => Line::new(l),
                        None => Line::new(&typed),
                    };
                }
                Key::Search => search = Some((String::new(), None)),
                Key::Suspend => {
                    // What the terminal itself echoes; the shell goes on from there.
                    out.write_all(b"^Z")?;
                    out.flush()?;
                    return Ok(Ended::Suspend(line));
                }
                Key::Redraw => out.write_all(b"\x1b[H\x1b[2J")?,
                Key::Tab => match complete(&mut line, names, last == Key::Tab) {
                    Some(choices) if !choices.is_empty() => {
                        out.write_all(b"\n")?;
                        out.write_all(columns_of(&choices, width).as_bytes())?;
                    }
                    Some(_) => {}
                    None => out.write_all(b"\x07")?,
                },
                other => {
                    line.edit(other);
                }
            }
            last = key;
        }
    }
}

impl Lines for Editor {
    fn next_line(
        &mut self,
        prompt: &str,
        out: &mut dyn Output,
        names: &mut dyn Complete,
    ) -> Option<io::Result<String>> {
        // Lines typed ahead while a command ran were edited and echoed by the
        // terminal itself; they (and an end of input typed ahead) are read
        // the plain way, since raw mode would see the end of input as a NUL.
        if tty::input_waiting() {
            out.prompt(prompt);
            let line = super::console::read_line();
            if let Some(Ok(line)) = &line {
                self.history.add(line);
            }
            return line;
        }
        // A signal while the terminal is raw is acted on here, after it is put back.
        let _hold = self.cancel.hold();
        let mut line = Line::default();
        loop {
            let raw = match tty::Raw::new() {
                Ok(raw) => raw,
                Err(e) => return Some(Err(e)),
            };
            let ended = self.edit(prompt, names, line);
            drop(raw);
            match ended {
                Ok(Ended::Line(line)) => {
                    self.history.add(&line);
                    return Some(Ok(line));
                }
                // The terminal is as the shell left it while we are stopped;
                // raw again once resumed, the line drawn again as it was.
                Ok(Ended::Suspend(was)) => {
                    signals::suspend();
                    line = was;
                }
                Ok(Ended::Quit) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut rest = bytes;
        let mut out = Vec::new();
        while let Some((key, used)) = decode(rest) {
            out.push(key);
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "undecoded: {rest:?}");
        out
    }

    #[test]
    fn terminal_bytes_decode_to_keys() {
        use Key::*;
        assert_eq!(
            keys(b"a\x1b[A\x1b[B\x1b[C\x1b[D\x1bOH\x1b[F\x1b[3~\x1b[1;5D\x1bf\x01\x05\x0b\x15\x17\x7f\t\r"),
            [
                Char('a'), Up, Down, Right, Left, Home, End, Delete, WordLeft, WordRight, Home,
                End, KillEnd, KillStart, KillWord, Backspace, Tab, Enter
            ]
        );
        assert_eq!(keys("é日".as_bytes()), [Char('é'), Char('日')]);
        // The start of a sequence or of a character waits for the rest.
        assert_eq!(decode(b"\x1b["), None);
        assert_eq!(decode(b"\x1b"), None);
        assert_eq!(decode(&"日".as_bytes()[..2]), None);
        assert_eq!(
            keys(b"\x1b[15~\x03\x04\x1a"),
            [Other, Interrupt, EndOfInput, Suspend]
        );
    }

    fn typed(start: &str, keys: &[Key]) -> Line {
        let mut line = Line::new(start);
        for &k in keys {
            line.edit(k);
        }
        line
    }

    #[test]
    fn editing_keys_change_the_line_where_the_cursor_is() {
        use Key::*;
        let l = typed("get b.txt", &[Home, Char('x'), End, Char('!')]);
        assert_eq!(l.text(), "xget b.txt!");
        let l = typed("get b.txt", &[Left, Left, Left, Backspace, Delete]);
        assert_eq!((l.text(), l.cursor()), ("get bxt".to_string(), 5));
        assert_eq!(typed("put a b", &[Left, Left, KillEnd]).text(), "put a");
        assert_eq!(typed("put a b", &[Left, KillStart]).text(), "b");
        assert_eq!(typed("put dir/a.txt  ", &[KillWord]).text(), "put ");
        let l = typed("get some/long-name.txt", &[WordLeft, WordLeft]);
        assert_eq!(l.before(), "get some/long-");
        let l = typed("get some/long-name.txt", &[Home, WordRight, WordRight]);
        assert_eq!(l.before(), "get some");
        // UTF-8 names edit a character at a time.
        let l = typed(
            "get café.txt",
            &[Left, Left, Left, Left, Backspace, Char('e')],
        );
        assert_eq!(l.text(), "get cafe.txt");
        // Keys past either end do nothing.
        assert_eq!(typed("", &[Backspace, Delete, Left, Right]).text(), "");
    }

    #[test]
    fn a_long_line_scrolls_to_keep_the_cursor_in_view() {
        let mut offset = 0;
        let line = Line::new(&"x".repeat(50));
        let drawn = render("p> ", &line, 20, &mut offset);
        // 20 columns: prompt 3, last column free, so 16 characters show.
        assert_eq!(offset, 34);
        assert_eq!(drawn, format!("\rp> {}\x1b[K\r\x1b[19C", "x".repeat(16)));
        let mut home = line.clone();
        home.edit(Key::Home);
        let drawn = render("p> ", &home, 20, &mut offset);
        assert_eq!(
            (offset, drawn),
            (0, format!("\rp> {}\x1b[K\r\x1b[3C", "x".repeat(16)))
        );
        // Wide characters take two columns each.
        let mut offset = 0;
        let drawn = render("> ", &Line::new("日本"), 80, &mut offset);
        assert!(drawn.ends_with("\x1b[6C"), "{drawn:?}");
    }

    #[test]
    fn history_is_bounded_kept_in_a_file_and_never_holds_a_password() {
        let dir = std::env::temp_dir().join(format!("dialback-history-{}", std::process::id()));
        let path = dir.join("state/history");
        let mut h = History::load(Some(path.clone()), 3);
        for line in ["ls", "ls", "get a", "user bob s3cret", "put b", "cd x"] {
            h.add(line);
        }
        assert_eq!(h.lines(), ["get a", "put b", "cd x"]);
        let again = History::load(Some(path.clone()), 3);
        assert_eq!(again.lines(), h.lines());
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(again.search("t", 3), Some(1));
        assert_eq!(again.search("t", 1), Some(0));
        assert_eq!(again.search("zzz", 3), None);
        fs::remove_dir_all(dir).unwrap();
    }

    struct Names(Vec<&'static str>);

    impl Complete for Names {
        fn candidates(&mut self, _head: &str, prefix: &str) -> Vec<String> {
            let fits = self.0.iter().filter(|n| n.starts_with(prefix));
            fits.map(|n| n.to_string()).collect()
        }
    }

    #[test]
    fn tab_completes_one_name_extends_several_and_lists_them_when_pressed_twice() {
        let mut names = Names(vec!["report.txt", "readme.md", "reports/", "my file.txt"]);
        let mut line = Line::new("get rea");
        assert_eq!(complete(&mut line, &mut names, false), Some(vec![]));
        assert_eq!(line.text(), "get readme.md ");
        let mut line = Line::new("get rep");
        complete(&mut line, &mut names, false);
        assert_eq!(line.text(), "get report");
        assert_eq!(complete(&mut line, &mut names, false), None);
        assert_eq!(
            complete(&mut line, &mut names, true),
            Some(vec!["report.txt".to_string(), "reports/".to_string()])
        );
        let mut line = Line::new("get \"my f");
        complete(&mut line, &mut names, false);
        assert_eq!(line.text(), "get \"my file.txt\" ");
        let mut line = Line::new("get zz");
        assert_eq!(complete(&mut line, &mut names, false), None);
        assert_eq!(line.text(), "get zz");
        assert_eq!(partial_word("put 'a b"), (4, "a b".to_string()));
        assert_eq!(partial_word("put a\\ b"), (4, "a b".to_string()));
        assert_eq!(
            columns_of(&["a".into(), "bb".into(), "c".into()], 8),
            "a   bb\nc\n"
        );
    }
}
