//! Waiting, without a timer that ticks, until a descriptor has something to
//! read or another thread rings an [`Alarm`]: poll(2), which std lacks, is
//! the one `unsafe` concern here.

#![allow(unsafe_code)]

use std::io::{self, PipeReader, PipeWriter, Read, Write};
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

/// `poll` events: data to read; room to write; the other end hung up; an error.
const POLLIN: i16 = 1;
const POLLOUT: i16 = 4;
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

    /// Silences the alarm after a wait said it rang (so there is something
    /// to read, and reading does not block), for an alarm rung again and
    /// again: a later ring wakes the next wait.
    pub fn reset(&self) {
        let _ = (&self.read).read(&mut [0u8; 64]);
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
    let fds: Vec<BorrowedFd> = fd.into_iter().collect();
    let (rang, readable) = wait_any(&fds, alarm, timeout)?;
    Ok(match (rang, readable.first()) {
        (true, _) => Woke::Alarm,
        (false, Some(true)) => Woke::Readable,
        _ => Woke::TimedOut,
    })
}

/// Waits until any of `fds` has something to read (or its end came, or it
/// failed), `alarm` rings, or `timeout` (if given) passes: whether the alarm
/// rang, and which of `fds` are readable.
pub fn wait_any(
    fds: &[BorrowedFd],
    alarm: &Alarm,
    timeout: Option<Duration>,
) -> io::Result<(bool, Vec<bool>)> {
    let watch = |fd: i32| PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    };
    let mut polled: Vec<PollFd> = std::iter::once(alarm.read.as_raw_fd())
        .chain(fds.iter().map(|f| f.as_raw_fd()))
        .map(watch)
        .collect();
    let timeout_ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    loop {
        // SAFETY: `polled` is a vector of pollfds that outlives the call,
        // its length the count given.
        let n = unsafe { poll(polled.as_mut_ptr(), polled.len() as u64, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let any = POLLIN | POLLERR | POLLHUP;
        let mut woke = polled.iter().map(|p| p.revents & any != 0);
        let rang = woke.next().unwrap_or(false);
        return Ok((rang, woke.collect()));
    }
}

/// Whether `fd` has something to read now, without waiting.
pub fn ready(fd: BorrowedFd) -> bool {
    now(fd, POLLIN)
}

/// Whether `fd` has room for a write now (a short one goes without waiting).
pub fn writable(fd: BorrowedFd) -> bool {
    now(fd, POLLOUT)
}

/// Whether `fd` is ready for `event` now, without waiting.
fn now(fd: BorrowedFd, event: i16) -> bool {
    let mut one = PollFd {
        fd: fd.as_raw_fd(),
        events: event,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and a zero timeout.
    unsafe { poll(&mut one, 1, 0) == 1 && one.revents & event != 0 }
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
        assert!(writable(far.as_fd()), "an idle connection has room");
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
