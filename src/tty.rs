//! The terminal's modes (termios) and size, which std does not reach: reading
//! a password without echo, and the raw mode the line editor types in. The
//! only unsafe code here is four libc calls, behind `Hidden` and `Raw`, which
//! put the terminal's settings back exactly as they were when dropped (on a
//! panic too, since the client unwinds), `width` and `input_waiting`.

#![allow(unsafe_code)]

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::AsRawFd;

/// `struct termios` as Linux's C libraries lay it out, with room to spare
/// after it in case a library's is longer than the kernel's.
#[repr(C)]
#[derive(Clone, Copy)]
struct Termios {
    iflag: u32,
    oflag: u32,
    cflag: u32,
    lflag: u32,
    line: u8,
    cc: [u8; 32],
    ispeed: u32,
    ospeed: u32,
    spare: [u8; 64],
}

/// `c_lflag` bits: echo typed characters; echo the newline even without ECHO.
const ECHO: u32 = 0o10;
const ECHONL: u32 = 0o100;
/// More `c_lflag` bits: line editing, signals from keys, extended input.
const ICANON: u32 = 0o2;
const ISIG: u32 = 0o1;
const IEXTEN: u32 = 0o100000;
/// `c_iflag` bits: CR to NL, and Ctrl-S/Ctrl-Q flow control.
const ICRNL: u32 = 0o400;
const IXON: u32 = 0o2000;
/// `c_cc` slots: how many bytes a read waits for, and for how long.
const VTIME: usize = 5;
const VMIN: usize = 6;
/// `tcsetattr` after output drains, dropping unread input (`TCSAFLUSH`), or
/// keeping it (`TCSADRAIN`).
const TCSAFLUSH: i32 = 2;
const TCSADRAIN: i32 = 1;
/// The `ioctl` that reads the window size.
const TIOCGWINSZ: u64 = 0x5413;

#[repr(C)]
struct WinSize {
    rows: u16,
    cols: u16,
    xpixel: u16,
    ypixel: u16,
}

extern "C" {
    fn tcgetattr(fd: i32, termios: *mut Termios) -> i32;
    fn tcsetattr(fd: i32, when: i32, termios: *const Termios) -> i32;
    fn ioctl(fd: i32, request: u64, ...) -> i32;
}

/// Whether stdin can be read without waiting: at a terminal in its ordinary
/// mode, a whole line (or an end of input) was typed ahead.
pub fn input_waiting() -> bool {
    crate::wait::ready(std::os::fd::AsFd::as_fd(&io::stdin()))
}

fn get(fd: i32) -> io::Result<Termios> {
    let mut t = Termios {
        iflag: 0,
        oflag: 0,
        cflag: 0,
        lflag: 0,
        line: 0,
        cc: [0; 32],
        ispeed: 0,
        ospeed: 0,
        spare: [0; 64],
    };
    // SAFETY: `t` is a writable termios with room to spare; the fd is only read.
    match unsafe { tcgetattr(fd, &mut t) } {
        0 => Ok(t),
        _ => Err(io::Error::last_os_error()),
    }
}

fn set(fd: i32, t: &Termios) -> io::Result<()> {
    set_when(fd, TCSAFLUSH, t)
}

fn set_when(fd: i32, when: i32, t: &Termios) -> io::Result<()> {
    // SAFETY: `t` came from `get` and is only read.
    match unsafe { tcsetattr(fd, when, t) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// A terminal with echo off until dropped.
struct Hidden {
    fd: i32,
    before: Termios,
}

impl Hidden {
    fn new(fd: i32) -> io::Result<Hidden> {
        let before = get(fd)?;
        let mut quiet = before;
        quiet.lflag = (quiet.lflag & !ECHO) | ECHONL;
        set(fd, &quiet)?;
        Ok(Hidden { fd, before })
    }
}

impl Drop for Hidden {
    fn drop(&mut self) {
        let _ = set(self.fd, &self.before);
    }
}

/// Stdin's terminal in raw mode (no echo, no line editing, keys such as
/// Ctrl-C arriving as bytes, one byte enough for a read) until dropped.
/// Output processing stays on, so `\n` still starts a fresh row.
pub struct Raw {
    before: Termios,
}

impl Raw {
    pub fn new() -> io::Result<Raw> {
        let fd = io::stdin().as_raw_fd();
        let before = get(fd)?;
        let mut raw = before;
        raw.iflag &= !(ICRNL | IXON);
        raw.lflag &= !(ECHO | ICANON | ISIG | IEXTEN);
        raw.cc[VMIN] = 1;
        raw.cc[VTIME] = 0;
        // Typed-ahead keys stay for the editor to read.
        set_when(fd, TCSADRAIN, &raw)?;
        Ok(Raw { before })
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // Keys typed while the editor read stay for whatever reads next.
        let _ = set_when(io::stdin().as_raw_fd(), TCSADRAIN, &self.before);
    }
}

/// The width of stdout's terminal in columns, if it says.
pub fn width() -> Option<usize> {
    let mut size = WinSize {
        rows: 0,
        cols: 0,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer.
    let ok = unsafe {
        ioctl(
            io::stdout().as_raw_fd(),
            TIOCGWINSZ,
            &mut size as *mut WinSize,
        )
    };
    (ok == 0 && size.cols > 0).then_some(size.cols as usize)
}

/// Reads one line from stdin: at a terminal, after `prompt` on stderr and
/// with echo off; otherwise just the next line. `None` at end of input.
pub fn read_secret(prompt: &str) -> io::Result<Option<String>> {
    let stdin = io::stdin();
    // Echo goes off before the prompt shows, so nothing typed after it echoes.
    let _hidden = if stdin.is_terminal() {
        let hidden = Hidden::new(stdin.as_raw_fd())?;
        eprint!("{prompt}");
        io::stderr().flush()?;
        Some(hidden)
    } else {
        None
    };
    let mut line = String::new();
    if stdin.lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_that_is_not_a_terminal_is_refused_not_corrupted() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let err = get(file.as_raw_fd()).err().unwrap();
        assert_eq!(err.raw_os_error(), Some(25), "ENOTTY: {err}");
        assert!(Hidden::new(file.as_raw_fd()).is_err());
    }
}
