//! Handlers: HASH (draft-bryan-ftpext-hash), OPTS HASH, and proftpd's
//! XSHA256, XSHA1, XMD5 and XCRC. A checksum reads the whole file, which is
//! long work: the handler only opens the file and plans it (`Step::Checksum`);
//! the driver runs it, where an ABOR stops it, and no more than a few run at
//! once, per address and in the whole server (`Turn`), so that checksums
//! cannot be used to burn the CPU.
//!
//! Two things spare reading a file again. A client that chose an algorithm
//! with OPTS HASH checks its transfers (ours with `--verify`), so each of
//! its downloads and new uploads is read for the checksum beside the
//! transfer (`Ahead`), and the HASH that follows is answered from it. And
//! checksums are remembered by the file's identity (device, inode, size,
//! modification and change time) and answered again while it holds, as
//! proftpd's mod_digest caches them. A change to the file changes its change
//! time, which the kernel keeps in clock ticks: a checksum of a file changed
//! within two seconds before it was begun is not remembered, since a second
//! change in the same tick would leave the identity the same (git's "racy"
//! rule).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::session::{reply, Session, Step};
use crate::data::Follower;
use crate::digest::{self, Algorithm};
use crate::error::describe_io;
use crate::protocol::Reply;

/// A checksum to compute: `file` from `start` to `end` (not included).
#[derive(Debug)]
pub struct Checksum {
    pub(super) file: File,
    pub(super) name: String,
    pub(super) algorithm: Algorithm,
    pub(super) start: u64,
    pub(super) end: u64,
    /// Answer as the X-commands do (250 and the hex), not as HASH (213).
    pub(super) legacy: bool,
}

impl Checksum {
    /// Reads the range through the algorithm; `None` if `stopped` said so
    /// between two reads (an ABOR, the server closing).
    pub fn compute(&mut self, stopped: &dyn Fn() -> bool) -> io::Result<Option<String>> {
        self.file.seek(SeekFrom::Start(self.start))?;
        let len = self.end - self.start;
        digest::of_reader(&mut self.file, self.algorithm, len, stopped)
    }

    /// Computes, and says how it went.
    #[cfg(test)]
    pub fn run(&mut self, stopped: &dyn Fn() -> bool) -> Reply {
        let done = self.compute(stopped);
        self.reply(done)
    }

    /// The reply once computed (or failed, or stopped).
    pub fn reply(&self, done: io::Result<Option<String>>) -> Reply {
        match done {
            Ok(Some(hex)) if self.legacy => Reply::new(250, &hex),
            Ok(Some(hex)) => Reply::new(
                213,
                &format!(
                    "{} {}-{} {hex} {}",
                    self.algorithm.name(),
                    self.start,
                    self.end,
                    self.name
                ),
            ),
            Ok(None) => Reply::new(426, "Checksum aborted."),
            Err(e) => Reply::new(
                451,
                &format!("Cannot read {}: {}.", self.name, describe_io(&e)),
            ),
        }
    }
}

impl<L> Session<L> {
    /// HASH: the file's checksum in the session's algorithm.
    pub(super) fn hash(&mut self, arg: &str) -> Step<L> {
        self.checksum(arg, self.hash_algorithm, None, false)
    }

    /// XSHA256, XSHA1, XMD5, XCRC: in their algorithm, of a range if given.
    pub(super) fn xhash(
        &mut self,
        algorithm: Algorithm,
        arg: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Step<L> {
        self.checksum(arg, algorithm, range, true)
    }

    /// `OPTS HASH [algorithm]`: says, or chooses, HASH's algorithm.
    pub(super) fn opts_hash(&mut self, name: Option<&str>) -> Reply {
        match name.map(Algorithm::from_name) {
            None => {}
            Some(Some(algorithm)) => {
                self.hash_algorithm = algorithm;
                self.hash_chosen = true;
            }
            Some(None) => return Reply::new(501, "Unknown algorithm; FEAT lists them."),
        }
        Reply::new(200, self.hash_algorithm.name())
    }

    /// FEAT's HASH line: every algorithm, the session's own starred.
    pub(super) fn hash_feature(&self) -> String {
        let names: Vec<String> = Algorithm::ALL
            .iter()
            .map(|a| match *a == self.hash_algorithm {
                true => format!("{}*", a.name()),
                false => a.name().to_string(),
            })
            .collect();
        format!("HASH {}", names.join(";"))
    }

    fn checksum(
        &mut self,
        arg: &str,
        algorithm: Algorithm,
        range: Option<(u64, Option<u64>)>,
        legacy: bool,
    ) -> Step<L> {
        let opened = self.resolve(arg).and_then(|v| self.root().open(&v));
        let (file, size) = match opened {
            Ok(f) => f,
            Err(r) => return Step::Reply(self.refuse(arg, r)),
        };
        let (start, end) = match range {
            Some((start, end)) => (start, end.unwrap_or(size).min(size)),
            None => (0, size),
        };
        if start > end {
            return reply(501, &format!("No bytes from {start} to {end} in {arg}."));
        }
        Step::Checksum(Checksum {
            file,
            name: arg.to_string(),
            algorithm,
            start,
            end,
            legacy,
        })
    }
}

impl<L> Session<L> {
    /// The algorithm a transfer is read in on the way, for a client that
    /// checks its transfers (see the top).
    pub fn checksum_ahead(&self) -> Option<Algorithm> {
        self.hash_chosen.then_some(self.hash_algorithm)
    }
}

/// What a remembered checksum holds for: one version of one file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Identity {
    pub fn of(file: &File) -> io::Result<Identity> {
        let m = file.metadata()?;
        Ok(Identity {
            device: m.dev(),
            inode: m.ino(),
            size: m.size(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Whether the file changed less than two seconds before `begun`.
    fn racy(&self, begun: SystemTime) -> bool {
        let since = begun.duration_since(SystemTime::UNIX_EPOCH);
        let begun = since.map_or(0, |d| d.as_secs() as i64);
        self.changed.0 >= begun - 2
    }
}

/// A checksum's key: whose, in what, and of which bytes.
type Key = (Identity, Algorithm, u64, u64);

/// How many checksums are remembered (about 200 bytes each).
const REMEMBERED: usize = 4096;

/// Checksums computed before, the oldest forgotten first.
#[derive(Default)]
struct Remembered {
    sums: HashMap<Key, String>,
    order: VecDeque<Key>,
}

fn remembered() -> std::sync::MutexGuard<'static, Remembered> {
    static SUMS: OnceLock<Mutex<Remembered>> = OnceLock::new();
    let sums = SUMS.get_or_init(Mutex::default);
    sums.lock().unwrap_or_else(|e| e.into_inner())
}

impl Checksum {
    fn key(&self) -> Option<Key> {
        let identity = Identity::of(&self.file).ok()?;
        Some((identity, self.algorithm, self.start, self.end))
    }

    /// The checksum remembered for this file as it is now, if any.
    pub fn recall(&self) -> Option<String> {
        remembered().sums.get(&self.key()?).cloned()
    }

    /// Remembers `hex`, computed from `begun` on, unless the file changed
    /// just before (see the top).
    pub fn remember(&self, hex: &str, begun: SystemTime) {
        if let Some(key) = self.key().filter(|k| !k.0.racy(begun)) {
            let mut r = remembered();
            if r.sums.insert(key, hex.to_string()).is_none() {
                r.order.push_back(key);
            }
            while r.order.len() > REMEMBERED {
                let oldest = r.order.pop_front().expect("not empty");
                r.sums.remove(&oldest);
            }
        }
    }
}

/// A whole file's checksum computed beside its transfer, for the HASH a
/// checking client sends next. Its reading holds a checksum turn while it
/// runs, not while the answer waits for a HASH that may never come.
pub struct Ahead {
    follower: Follower,
    algorithm: Algorithm,
    /// The file once whole: known at a download's start, an upload's end.
    whole: Option<(Identity, u64)>,
    begun: SystemTime,
}

impl Ahead {
    /// Starts reading a download's whole `file` for its checksum; `None` if
    /// no checksum turn is free at once, or the file cannot be opened again.
    pub fn download(file: &File, algorithm: Algorithm, peer: IpAddr) -> Option<Ahead> {
        let len = file.metadata().ok()?.len();
        let turn = Turn::take(peer, Duration::ZERO)?;
        let follower = Follower::reading(file.try_clone().ok()?, algorithm, len, turn).ok()?;
        let mut ahead = Ahead::new(follower, algorithm);
        ahead.whole(file, len);
        Some(ahead)
    }

    /// Starts taking in an upload's bytes for its checksum, as the transfer
    /// writes them into [`Ahead::tap`]; `None` if no checksum turn is free.
    pub fn upload(algorithm: Algorithm, peer: IpAddr) -> Option<Ahead> {
        let turn = Turn::take(peer, Duration::ZERO)?;
        let follower = Follower::tapped(algorithm, turn).ok()?;
        Some(Ahead::new(follower, algorithm))
    }

    fn new(follower: Follower, algorithm: Algorithm) -> Ahead {
        Ahead {
            follower,
            algorithm,
            whole: None,
            begun: SystemTime::now(),
        }
    }

    /// Whether the whole of `file` (a download) has a remembered checksum
    /// in `algorithm` already, so that reading it on the way is no use.
    pub fn known(file: &File, algorithm: Algorithm) -> bool {
        let Ok(identity) = Identity::of(file) else {
            return false;
        };
        let key = (identity, algorithm, 0, identity.size);
        remembered().sums.contains_key(&key)
    }

    /// Where an upload's receiver puts every byte it writes.
    pub fn tap(&self) -> Option<&std::io::PipeWriter> {
        self.follower.tap()
    }

    /// The file is whole: `len` bytes, and `file` as it now is. The
    /// reading of an upload ends there, not at the HASH that may not come.
    pub fn whole(&mut self, file: &File, len: u64) {
        self.follower.ended();
        self.whole = Identity::of(file).ok().map(|i| (i, len));
    }

    /// Whether `job` asks for this file, whole, unchanged since, in this
    /// algorithm.
    pub fn answers(&self, job: &Checksum) -> bool {
        let Some((identity, len)) = self.whole else {
            return false;
        };
        let asks = job.algorithm == self.algorithm && job.start == 0 && job.end == len;
        asks && Identity::of(&job.file).is_ok_and(|now| now == identity)
    }

    /// The checksum `answers` found `job` asking for, once read (`None` if
    /// `stopped` first); remembered as any computed checksum.
    pub fn finish(self, job: &Checksum, stopped: &dyn Fn() -> bool) -> io::Result<Option<String>> {
        let len = self.whole.map_or(job.end, |(_, len)| len);
        let done = self.follower.finish(len, stopped);
        if let Ok(Some(hex)) = &done {
            job.remember(hex, self.begun);
        }
        done
    }
}

/// How many checksums may run at once from one address, and in all.
const PER_ADDRESS: usize = 2;

/// The checksums running now, by address.
struct Running {
    by_address: Mutex<HashMap<IpAddr, usize>>,
    freed: Condvar,
    /// The most in all: the machine's cores (read once; std reads cgroup files).
    total: usize,
}

static RUNNING: std::sync::OnceLock<Running> = std::sync::OnceLock::new();

/// A place among the checksums running; the place is given back when dropped.
pub struct Turn(IpAddr);

impl Turn {
    /// Waits (at most `patience`) until `address` may run one more checksum:
    /// fewer than `PER_ADDRESS` of its own, and fewer than the machine's
    /// cores in all.
    pub fn take(address: IpAddr, patience: Duration) -> Option<Turn> {
        let running = RUNNING.get_or_init(|| Running {
            by_address: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
            total: std::thread::available_parallelism().map_or(2, |n| n.get()),
        });
        let deadline = Instant::now() + patience;
        let mut map = running.by_address.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let mine = map.get(&address).copied().unwrap_or(0);
            if mine < PER_ADDRESS && map.values().sum::<usize>() < running.total {
                *map.entry(address).or_insert(0) += 1;
                return Some(Turn(address));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            map = running
                .freed
                .wait_timeout(map, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(running) = RUNNING.get() {
            let mut map = running.by_address.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(&self.0) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.0);
                }
            }
            running.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::tests::{code, text, Scratch};
    use super::*;

    fn planned<L>(step: Step<L>) -> Checksum {
        match step {
            Step::Checksum(c) => c,
            _ => panic!("not a checksum"),
        }
    }

    #[test]
    fn hash_and_the_x_commands_answer_as_their_specifications_say() {
        let dir = Scratch::new("hash");
        let mut s = dir.logged_in(|_| {});
        // a.txt holds "hello" (Scratch's file).
        let mut c = planned(s.line("HASH a.txt"));
        let want = crate::digest::hex_of(Algorithm::Sha256, b"hello");
        assert_eq!(c.run(&|| false).text(), format!("SHA-256 0-5 {want} a.txt"));
        assert_eq!(text(s.line("OPTS HASH md5")), "MD5");
        assert_eq!(text(s.line("OPTS HASH")), "MD5");
        assert_eq!(code(s.line("OPTS HASH SHA-3")), 501);
        let mut c = planned(s.line("HASH a.txt"));
        assert!(c
            .run(&|| false)
            .text()
            .starts_with("MD5 0-5 5d41402abc4b2a76b9719d911017c592"));
        assert!(
            s.hash_feature().contains("MD5*;CRC32"),
            "{}",
            s.hash_feature()
        );
        let mut c = planned(s.line("XCRC a.txt"));
        let r = c.run(&|| false);
        assert_eq!((r.code, r.text()), (250, "3610a686".to_string()));
        let mut c = planned(s.line("XMD5 a.txt 1 3"));
        let want = crate::digest::hex_of(Algorithm::Md5, b"el");
        assert_eq!(c.run(&|| false).text(), want);
        assert_eq!(code(s.line("XSHA1 a.txt 4 2")), 501);
        assert_eq!(code(s.line("HASH missing")), 550);
        assert_eq!(code(s.line("HASH ../outside")), 550);
        let mut c = planned(s.line("XSHA256 a.txt"));
        assert_eq!(c.run(&|| true).code, 426, "stopped");
    }

    #[test]
    fn a_file_changed_just_before_a_checksum_is_not_remembered() {
        let dir = Scratch::new("racy");
        let path = dir.0.join("a.txt");
        let file = File::open(&path).unwrap();
        let now = SystemTime::now();
        let identity = Identity::of(&file).unwrap();
        assert!(identity.racy(now), "written a moment ago");
        assert!(!identity.racy(now + Duration::from_secs(3)));
        let c = Checksum {
            file,
            name: "a.txt".into(),
            algorithm: Algorithm::Md5,
            start: 0,
            end: 5,
            legacy: false,
        };
        c.remember("racy", now);
        assert_eq!(c.recall(), None);
        c.remember("old enough", now + Duration::from_secs(3));
        assert_eq!(c.recall().as_deref(), Some("old enough"));
        let other = Checksum {
            algorithm: Algorithm::Sha1,
            file: File::open(&path).unwrap(),
            ..c
        };
        assert_eq!(other.recall(), None, "another algorithm");
    }

    #[test]
    fn checksums_take_turns_per_address_and_in_all() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let quick = Duration::from_millis(20);
        let first = Turn::take(a, quick).unwrap();
        let second = Turn::take(a, quick);
        assert!(second.is_some() || std::thread::available_parallelism().unwrap().get() < 2);
        assert!(
            Turn::take(a, quick).is_none(),
            "a third from one address waits, then gives up"
        );
        drop(first);
        assert!(
            Turn::take(a, quick).is_some(),
            "a turn given back is free again"
        );
        drop(second);
        let _ = Turn::take(b, quick);
    }
}
