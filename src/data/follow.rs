//! A checksum computed beside a transfer, in a thread of its own, so that
//! checking a file costs the transfer little more than its own time instead
//! of a second reading of the whole file afterwards.
//!
//! A file being sent is read as it is (with `read_at`, so the transfer's own
//! file position never moves). A file being received is not read back: the
//! receiver hands the thread every byte it writes, through a pipe (`tap`),
//! and a zero-copy receiver `tee(2)`s into it what it splices into the
//! file, without a copy. Reading the file back as it was written, as this
//! did before, cost the receiving side about twice the CPU for the same
//! checksum: on tmpfs the reader and the writer fought over the page
//! cache's locks, and every page read was moved to the active list.

use std::fs::File;
use std::io::{self, PipeReader, PipeWriter, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::zerocopy;
use crate::digest::Algorithm;

/// The buffer the thread reads through.
const BUFFER: usize = 1 << 20;

/// The checksum of a file, computed in a thread while the file is sent or
/// received.
pub struct Follower {
    /// Where a receiver puts what it writes; dropped, it ends the reading.
    tap: Option<PipeWriter>,
    /// Set when nobody wants the checksum any more.
    abandoned: Arc<AtomicBool>,
    /// The checksum and how many bytes it took in, once read.
    done: Receiver<io::Result<(String, u64)>>,
}

/// What the thread reads.
enum Source {
    /// A file's first so many bytes.
    File(File, u64),
    /// A pipe, to its end.
    Tap(PipeReader),
}

impl Follower {
    /// Starts reading the first `len` bytes of `file`, with `held` kept for
    /// as long as the reading runs (a place among the checksums running),
    /// not for as long as the answer waits.
    pub fn reading(
        file: File,
        algorithm: Algorithm,
        len: u64,
        held: impl Send + 'static,
    ) -> io::Result<Follower> {
        Follower::start(Source::File(file, len), None, algorithm, held)
    }

    /// Starts taking in what is written into [`Follower::tap`], until
    /// `ended` or `finish`; `held` as for `reading`.
    pub fn tapped(algorithm: Algorithm, held: impl Send + 'static) -> io::Result<Follower> {
        let (read, write) = io::pipe()?;
        zerocopy::widen(&write);
        Follower::start(Source::Tap(read), Some(write), algorithm, held)
    }

    fn start(
        source: Source,
        tap: Option<PipeWriter>,
        algorithm: Algorithm,
        held: impl Send + 'static,
    ) -> io::Result<Follower> {
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&abandoned);
        let (answer, done) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name("checksum".into())
            .spawn(move || {
                let result = follow(source, algorithm, &stop);
                drop(held);
                // Nobody waits for an abandoned one.
                let _ = answer.send(result);
            })?;
        Ok(Follower {
            tap,
            abandoned,
            done,
        })
    }

    /// Where a receiver writes (or tees) every byte it writes into the file;
    /// `None` unless started `tapped`, or once `ended`.
    pub fn tap(&self) -> Option<&PipeWriter> {
        self.tap.as_ref()
    }

    /// Nothing more comes into the tap: the reading ends there, and ends its
    /// thread (and gives back what it holds), without waiting for `finish`.
    pub fn ended(&mut self) {
        drop(self.tap.take());
    }

    /// The checksum of the file, once read, in hex: it must have come to
    /// `len` bytes in all. `None` if `stopped` says so first (an ABOR,
    /// Ctrl-C), which stops the reading too.
    pub fn finish(mut self, len: u64, stopped: &dyn Fn() -> bool) -> io::Result<Option<String>> {
        // The tap's end is the end of what there is to read.
        self.ended();
        let done = loop {
            if stopped() {
                return Ok(None);
            }
            match self.done.recv_timeout(Duration::from_millis(5)) {
                Ok(done) => break done,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    break Err(io::Error::other("the checksum thread failed"))
                }
            }
        };
        let (hex, read) = done?;
        match read == len {
            true => Ok(Some(hex)),
            false => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the checksum read {read} bytes of {len}"),
            )),
        }
    }
}

impl Drop for Follower {
    /// Unfinished (the transfer failed): the thread stops at its next read
    /// of the file, or at the tap's end, which is dropped with this.
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Release);
    }
}

/// Reads `source` through `algorithm`: the checksum and how many bytes it
/// took in.
fn follow(
    source: Source,
    algorithm: Algorithm,
    abandoned: &AtomicBool,
) -> io::Result<(String, u64)> {
    let mut digest = algorithm.start();
    let mut buf = vec![0u8; BUFFER];
    let mut at = 0u64;
    match source {
        Source::File(file, len) => {
            while at < len {
                if abandoned.load(Ordering::Acquire) {
                    return Err(io::Error::other("abandoned"));
                }
                let want = buf
                    .len()
                    .min(usize::try_from(len - at).unwrap_or(usize::MAX));
                match file.read_at(&mut buf[..want], at) {
                    Ok(0) => {
                        let e = io::ErrorKind::UnexpectedEof;
                        return Err(io::Error::new(e, "the file got shorter"));
                    }
                    Ok(n) => {
                        digest.update(&buf[..n]);
                        at += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // Read as long as anyone writes (never waits for room: the writer
        // waits for this).
        Source::Tap(mut pipe) => loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    digest.update(&buf[..n]);
                    at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        },
    }
    Ok((digest.hex(), at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex_of;
    use std::io::Write;

    fn data() -> Vec<u8> {
        (0..3_000_000u32)
            .map(|i| (i * 31 + i / 977) as u8)
            .collect()
    }

    #[test]
    fn a_file_read_beside_its_transfer_has_the_checksum_of_the_whole() {
        let data = data();
        let path = std::env::temp_dir().join(format!("dialback-follow-{}", std::process::id()));
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        for algorithm in [Algorithm::Sha256, Algorithm::Crc32] {
            let follower = Follower::reading(file.try_clone().unwrap(), algorithm, 3_000_000, ());
            let hex = follower.unwrap().finish(3_000_000, &|| false).unwrap();
            assert_eq!(hex.unwrap(), hex_of(algorithm, &data), "{algorithm:?}");
        }
        // A file that ends short of what was promised is an error, not a hang.
        let short = Follower::reading(file.try_clone().unwrap(), Algorithm::Md5, 3_000_010, ());
        let e = short.unwrap().finish(3_000_010, &|| false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn what_comes_through_the_tap_has_the_checksum_of_the_whole() {
        let data = data();
        for algorithm in [Algorithm::Sha256, Algorithm::Crc32] {
            let follower = Follower::tapped(algorithm, ()).unwrap();
            // More than the pipe holds: the writer waits for the reader.
            for piece in data.chunks(700_001) {
                follower.tap().unwrap().write_all(piece).unwrap();
            }
            let hex = follower.finish(3_000_000, &|| false).unwrap();
            assert_eq!(hex.unwrap(), hex_of(algorithm, &data), "{algorithm:?}");
        }
        // Fewer bytes than the transfer says it moved: an error.
        let follower = Follower::tapped(Algorithm::Md5, ()).unwrap();
        follower.tap().unwrap().write_all(&data[..10]).unwrap();
        assert!(follower.finish(11, &|| false).is_err());
        // A wait that is told to stop stops.
        let slow = Follower::tapped(Algorithm::Md5, ()).unwrap();
        assert_eq!(slow.finish(0, &|| true).unwrap(), None);
    }

    /// Waits until `held` is held by nobody else: the thread ended.
    fn released(held: &Arc<()>) {
        let began = std::time::Instant::now();
        while Arc::strong_count(held) > 1 {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "the thread goes on"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_follower_ended_or_dropped_unfinished_ends_its_thread() {
        let held = Arc::new(());
        let mut follower = Follower::tapped(Algorithm::Sha512, Arc::clone(&held)).unwrap();
        follower.tap().unwrap().write_all(b"more").unwrap();
        follower.ended();
        released(&held);
        assert_eq!(
            follower.finish(4, &|| false).unwrap().map(|h| h.len()),
            Some(128)
        );

        drop(Follower::tapped(Algorithm::Sha512, Arc::clone(&held)).unwrap());
        released(&held);
        let zeros = File::open("/dev/zero").unwrap();
        drop(Follower::reading(zeros, Algorithm::Sha512, u64::MAX, Arc::clone(&held)).unwrap());
        released(&held);
    }
}
