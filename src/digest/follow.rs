//! A checksum computed beside a transfer: a thread of its own reads the file
//! as far as the transfer says it has got (`grew`), so that checking a file
//! costs the transfer little more than its own time, instead of a second
//! reading of the whole file afterwards. Reads go through `read_at`, so the
//! transfer's own file position is never moved.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::Algorithm;

/// `end` while the length is not known yet.
const OPEN: u64 = u64::MAX;
/// `end` once nobody wants the checksum any more.
const ABANDONED: u64 = u64::MAX - 1;

#[derive(Default)]
struct Marks {
    /// How many bytes from the start are there to read.
    ready: AtomicU64,
    /// The file's final length, `OPEN` or `ABANDONED`.
    end: AtomicU64,
}

/// The checksum of a file, computed in a thread while the file is written
/// or read by someone else.
pub struct Follower {
    marks: Arc<Marks>,
    thread: Option<JoinHandle<io::Result<String>>>,
}

impl Follower {
    /// Starts reading `file` from its start, as far as `ready` bytes for
    /// now; fails only if no thread can be started.
    pub fn start(file: File, algorithm: Algorithm, ready: u64) -> io::Result<Follower> {
        Follower::holding(file, algorithm, ready, ())
    }

    /// `start`, with `held` kept for as long as the reading runs (a place
    /// among the checksums running), not for as long as the answer waits.
    pub fn holding(
        file: File,
        algorithm: Algorithm,
        ready: u64,
        held: impl Send + 'static,
    ) -> io::Result<Follower> {
        let marks = Arc::new(Marks {
            ready: AtomicU64::new(ready),
            end: AtomicU64::new(OPEN),
        });
        let seen = Arc::clone(&marks);
        let thread = thread::Builder::new()
            .name("checksum".into())
            .spawn(move || {
                let done = follow(&file, algorithm, &seen);
                drop(held);
                done
            })?;
        Ok(Follower {
            marks,
            thread: Some(thread),
        })
    }

    /// The first `len` bytes are there to read.
    pub fn grew(&self, len: u64) {
        self.marks.ready.fetch_max(len, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// The file is whole at `len` bytes: the reading ends there, and ends
    /// its thread, without waiting for `finish`.
    pub fn ends_at(&self, len: u64) {
        self.marks.end.store(len, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// The checksum of the file's first `len` bytes (all of it), in hex,
    /// once read; `None` if `stopped` says so first (an ABOR, Ctrl-C), which
    /// stops the reading too.
    pub fn finish(mut self, len: u64, stopped: &dyn Fn() -> bool) -> io::Result<Option<String>> {
        self.ends_at(len);
        while !self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            if stopped() {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(5));
        }
        let thread = self.thread.take().expect("finished once");
        let done = thread.join();
        done.unwrap_or_else(|_| Err(io::Error::other("the checksum thread failed")))
            .map(Some)
    }
}

impl Drop for Follower {
    /// Unfinished (the transfer failed): the thread stops at its next read.
    fn drop(&mut self) {
        if let Some(t) = &self.thread {
            self.marks.end.store(ABANDONED, Ordering::Release);
            t.thread().unpark();
        }
    }
}

fn follow(file: &File, algorithm: Algorithm, marks: &Marks) -> io::Result<String> {
    let mut digest = algorithm.start();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let end = marks.end.load(Ordering::Acquire);
        if end == ABANDONED {
            return Err(io::Error::other("abandoned"));
        }
        let ready = match end {
            OPEN => marks.ready.load(Ordering::Acquire),
            end => end,
        };
        if at < ready {
            let want = buf
                .len()
                .min(usize::try_from(ready - at).unwrap_or(usize::MAX));
            match file.read_at(&mut buf[..want], at) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "the file got shorter");
                    return Err(e);
                }
                Ok(n) => {
                    digest.update(&buf[..n]);
                    at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        } else if end != OPEN {
            return Ok(digest.hex());
        } else {
            // Woken by `grew` or `finish`; the timeout only guards a lost wake.
            thread::park_timeout(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_followed_as_it_grows_has_the_checksum_of_the_whole() {
        let path = std::env::temp_dir().join(format!("dialback-follow-{}", std::process::id()));
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i * 31 + i / 977) as u8)
            .collect();
        for algorithm in [Algorithm::Sha256, Algorithm::Crc32] {
            let mut out = File::create(&path).unwrap();
            let follower = Follower::start(File::open(&path).unwrap(), algorithm, 0).unwrap();
            let mut written = 0;
            for piece in data.chunks(700_001) {
                out.write_all(piece).unwrap();
                written += piece.len() as u64;
                follower.grew(written);
                thread::sleep(Duration::from_millis(2));
            }
            let hex = follower.finish(written, &|| false).unwrap().unwrap();
            assert_eq!(hex, super::super::hex_of(algorithm, &data), "{algorithm:?}");
        }
        // A file that ends short of what was promised is an error, not a hang.
        let short = Follower::start(File::open(&path).unwrap(), Algorithm::Md5, 0).unwrap();
        assert!(short.finish(data.len() as u64 + 10, &|| false).is_err());
        // A wait that is told to stop stops.
        let slow = Follower::start(File::open(&path).unwrap(), Algorithm::Md5, 0).unwrap();
        assert_eq!(slow.finish(u64::MAX / 2, &|| true).unwrap(), None);
        // Dropped unfinished: the thread stops.
        drop(Follower::start(
            File::open(&path).unwrap(),
            Algorithm::Md5,
            5,
        ));
        std::fs::remove_file(&path).unwrap();
    }
}
