//! The socket options std lacks, the module's only `unsafe` (one
//! `setsockopt(2)` each).
//!
//! **Closing a data connection without leaving it in TIME_WAIT.** Whichever
//! end closes first keeps the connection's address pair for a minute; a
//! mirror of a few thousand small files (its own data connection each)
//! leaves that many behind, and on one machine (loopback) ports run out:
//! binding and connecting slow down, then fail with "address already in use".
//! The receiver, once it has read the sender's FIN, has everything and owes
//! nothing, so it can close with a reset (SO_LINGER with a zero timeout):
//! neither end then keeps the pair. A sender never does this, since a reset
//! throws away what it has not sent yet.
//!
//! **Urgent data in line (SO_OOBINLINE).** Clients send ABOR and STAT as TCP
//! urgent data (Python's ftplib, Ruby's Net::FTP: the whole line with
//! MSG_OOB). Without this option the kernel takes the urgent byte, the
//! line's LF, out of the stream, and the line never ends.
//!
//! **Waking a receiver for a useful amount (SO_RCVLOWAT).** A receiving
//! thread blocked on a socket is woken for every segment that arrives; with
//! hundreds of uploads at once from clients that send 8 KiB at a time, those
//! wake-ups are most of the work. With a low-water mark the kernel wakes it
//! once that much has arrived (or the end, a shutdown, an error), and a read
//! still takes whatever is there: a sender slower than the mark is read at
//! the socket's timeout, never taken for stalled while bytes come.

#![allow(unsafe_code)]

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::raw::c_void;

mod sys {
    use std::os::raw::{c_int, c_void};

    pub const SOL_SOCKET: c_int = 1;
    pub const SO_LINGER: c_int = 13;
    pub const SO_OOBINLINE: c_int = 10;
    pub const SO_RCVLOWAT: c_int = 18;

    #[repr(C)]
    pub struct Linger {
        pub l_onoff: c_int,
        pub l_linger: c_int,
    }

    extern "C" {
        pub fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
    }
}

/// Closes a data connection whose sender has finished (its end of file has
/// been read), leaving nothing in TIME_WAIT on either end. If the socket
/// option cannot be set, it closes the ordinary way.
pub fn close_received(stream: TcpStream) {
    reset(stream)
}

/// Ends the sending side of a data connection: with end of file (a FIN) when
/// everything was sent, or, when the send was `abandoned`, with a reset, so
/// the receiver sees a failure and not a short file that looks complete.
pub fn end_sending(stream: TcpStream, abandoned: bool) {
    if abandoned {
        reset(stream)
    } else {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
}

/// Keeps urgent data in the stream where it was sent (SO_OOBINLINE), so a
/// line sent with MSG_OOB arrives whole.
pub fn urgent_inline(stream: &TcpStream) -> std::io::Result<()> {
    set(stream, sys::SO_OOBINLINE, &(1 as std::os::raw::c_int))
}

/// Wakes a thread waiting to read `stream` only once `bytes` have arrived
/// (or its end, or an error): see the module's notes.
pub fn receive_low_water(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
    let bytes = std::os::raw::c_int::try_from(bytes).unwrap_or(std::os::raw::c_int::MAX);
    set(stream, sys::SO_RCVLOWAT, &bytes)
}

/// Closes with a reset (SO_LINGER 0), or the ordinary way if that cannot be set.
fn reset(stream: TcpStream) {
    let linger = sys::Linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = set(&stream, sys::SO_LINGER, &linger);
    drop(stream);
}

/// Sets the socket-level option `name` of `stream` to `value`.
fn set<T>(stream: &TcpStream, name: std::os::raw::c_int, value: &T) -> std::io::Result<()> {
    // SAFETY: the descriptor is open for as long as `stream` lives, and the
    // pointer and length describe `value`, which outlives the call.
    let done = unsafe {
        sys::setsockopt(
            stream.as_raw_fd(),
            sys::SOL_SOCKET,
            name,
            (value as *const T).cast::<c_void>(),
            std::mem::size_of::<T>() as u32,
        )
    };
    match done {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener};

    /// Whether /proc/net/tcp lists the connection between ports `a` and `b`
    /// (either way round) in TIME_WAIT (state 06).
    fn time_wait_between(a: u16, b: u16) -> bool {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let (a, b) = (format!(":{a:04X}"), format!(":{b:04X}"));
        table.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let pair = (f[1].ends_with(&a) && f[2].ends_with(&b))
                || (f[1].ends_with(&b) && f[2].ends_with(&a));
            pair && f[3] == "06"
        })
    }

    /// A sender writes and closes; the receiver reads to the end and closes,
    /// with `close_received` or the ordinary way. Returns whether TIME_WAIT is left.
    fn transfer(at_once: bool) -> bool {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut sender = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let sender_port = sender.local_addr().unwrap().port();
        let (mut receiver, _) = listener.accept().unwrap();
        sender.write_all(b"every byte").unwrap();
        sender.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        receiver.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"every byte");
        if at_once {
            close_received(receiver);
        } else {
            drop(receiver);
        }
        // The sender learns of the close, as it would on a real transfer.
        let mut rest = Vec::new();
        let _ = sender.read_to_end(&mut rest);
        drop(sender);
        std::thread::sleep(std::time::Duration::from_millis(50));
        time_wait_between(port, sender_port)
    }

    #[test]
    fn a_receiver_closing_after_the_end_leaves_no_time_wait() {
        assert!(transfer(false), "an ordinary close leaves TIME_WAIT");
        assert!(!transfer(true), "close_received left TIME_WAIT");
    }
}
