//! Waiting, without a timer that ticks, until a descriptor has something to
//! read or another thread rings an [`Alarm`]: poll(2), which std lacks, is
//! the one `unsafe` concern here.

#![allow(unsafe_code)]

use std::io::{self, PipeReader, PipeWriter, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

extern "C" {
    fn poll(fds: *mut PollFd, n: u64, timeout_ms: i32) -> i32;
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// `poll` events: data to read; the other end hung up; an error.
const POLLIN: i16 = 1;
const POLLERR: i16 = 8;
const POLLHUP: i16 = 16;

/// A wake-up one thread sends another that waits in [`wait`]: once rung,
/// it stays rung.
#[derive(Debug)]
pub struct Alarm {
    read: PipeReader,
    write: PipeWriter,
}

impl Alarm {
    pub fn new() -> io::Result<Alarm> {
        let (read, write) = io::pipe()?;
        Ok(Alarm { read, write })
    }

    /// Wakes whoever waits on this alarm, now or later.
    pub fn ring(&self) {
        // One byte in an empty pipe cannot block; a second ring changes nothing.
        let _ = (&self.write).write(b"!");
    }
}

/// What ended a [`wait`].
#[derive(Debug, PartialEq, Eq)]
pub enum Woke {
    /// The alarm rang.
    Alarm,
    /// The descriptor has something to read (or its end came, or it failed:
    /// the next read says which).
    Readable,
    TimedOut,
}

/// Waits until `fd` (if given) has something to read, `alarm` rings, or
/// `timeout` (if given) passes; a rung alarm wins.
pub fn wait(fd: Option<BorrowedFd>, alarm: &Alarm, timeout: Option<Duration>) -> io::Result<Woke> {
    let watch = |fd: i32| PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    };
    let mut fds = [
        watch(alarm.read.as_raw_fd()),
        watch(fd.map_or(-1, |f| f.as_raw_fd())),
    ];
    let timeout_ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    loop {
        // SAFETY: `fds` is an array of two pollfds that outlives the call; a
        // negative descriptor is one poll ignores.
        let n = unsafe { poll(fds.as_mut_ptr(), fds.len() as u64, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let any = POLLIN | POLLERR | POLLHUP;
        return Ok(match fds {
            [a, _] if a.revents & any != 0 => Woke::Alarm,
            [_, d] if d.revents & any != 0 => Woke::Readable,
            _ => Woke::TimedOut,
        });
    }
}

/// Whether `fd` has something to read now, without waiting.
pub fn ready(fd: BorrowedFd) -> bool {
    let mut one = PollFd {
        fd: fd.as_raw_fd(),
        events: POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and a zero timeout.
    unsafe { poll(&mut one, 1, 0) == 1 && one.revents & POLLIN != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::Instant;

    #[test]
    fn a_wait_ends_with_data_with_the_alarm_or_with_its_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (far, _) = listener.accept().unwrap();
        let alarm = Alarm::new().unwrap();
        let short = Some(Duration::from_millis(30));
        let started = Instant::now();
        assert_eq!(
            wait(Some(far.as_fd()), &alarm, short).unwrap(),
            Woke::TimedOut
        );
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(!ready(far.as_fd()));
        near.write_all(b"ABOR\r\n").unwrap();
        assert_eq!(
            wait(Some(far.as_fd()), &alarm, None).unwrap(),
            Woke::Readable
        );
        assert!(ready(far.as_fd()));
        // Rung from another thread while this one waits on the alarm alone.
        let alarm = std::sync::Arc::new(alarm);
        let ringer = std::sync::Arc::clone(&alarm);
        let ring = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ringer.ring();
        });
        assert_eq!(wait(None, &alarm, None).unwrap(), Woke::Alarm);
        ring.join().unwrap();
        // Rung stays rung, and wins over data.
        assert_eq!(wait(Some(far.as_fd()), &alarm, None).unwrap(), Woke::Alarm);
    }
}
