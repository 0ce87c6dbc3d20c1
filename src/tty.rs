//! The terminal's modes (termios), which std does not reach: reading a
//! password without echo. The only unsafe code here is the two libc calls,
//! behind `Hidden`, which restores the terminal's mode when dropped.

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
/// `tcsetattr` after output drains, dropping unread input (`TCSAFLUSH`).
const TCSAFLUSH: i32 = 2;

extern "C" {
    fn tcgetattr(fd: i32, termios: *mut Termios) -> i32;
    fn tcsetattr(fd: i32, when: i32, termios: *const Termios) -> i32;
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
    // SAFETY: `t` came from `get` and is only read.
    match unsafe { tcsetattr(fd, TCSAFLUSH, t) } {
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
