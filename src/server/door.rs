//! Who may come in: the users file (read again when it changes), anonymous
//! access, and the defences around checking a password.
//!
//! - A wrong password and an unknown name cost the same (below), get the
//!   same delay and the same reply. Nothing tells which names exist.
//! - Failures from one address make its failing sessions wait: the reply to
//!   the address's n-th failure in a row comes after 0.5 s × 2^(n-1), up to
//!   16 s, and that session cannot try again before. Ten quiet minutes forget
//!   the count. Other sessions from the address (a NAT, an SSH tunnel) are not
//!   held by those delays: a right password among them is answered in its
//!   turn. The door never sleeps: it says how long to wait ([`Verdict`]), and
//!   the session's driver waits, where a server shutting down can end it.
//! - At most half the CPUs check passwords at once, so a burst of wrong
//!   passwords (each a full PBKDF2 run) cannot take the machine from
//!   logged-in users' transfers; waiting checks go fewest-failures-first
//!   (by address), then in order of arrival, so guessing addresses cannot
//!   keep a quiet one waiting.
//! - Every failure costs the same work: an unknown name is checked against a
//!   decoy as slow as the slowest account, and a wrong password for a faster
//!   account is padded with PBKDF2 rounds up to the slowest.
//! - A right password is remembered (as a keyed SHA-256, in memory) for the
//!   life of its account line, so the many sessions lftp, rclone or a tree
//!   transfer open each cost one hash, not one PBKDF2 run, after the first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::accounts::Accounts;
use super::gate::Perms;
use super::log;
use crate::password::{self, Hash};

/// The delay after a first failure by default (`--login-delay`); each
/// failure in a row doubles it, up to 32 times the first.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// How long an address's failures are remembered without a new one.
const FORGET: Duration = Duration::from_secs(600);
/// The names anonymous access answers to (vsftpd's and proftpd's).
const ANONYMOUS: [&str; 2] = ["anonymous", "ftp"];

/// Who got in: their permissions and their root (`None`: the server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub perms: Perms,
    pub root: Option<PathBuf>,
    /// Whether this is anonymous access rather than an account.
    pub anonymous: bool,
    /// The account's own limit on what a session moves per second.
    pub rate: Option<u64>,
}

/// What the door says to a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// In, with these rights.
    In(Entry),
    /// Refused: the reply goes out after this delay, so the session that
    /// failed cannot try again before.
    Refused(Duration),
}

impl Verdict {
    /// The entry, if the login got in.
    pub fn entry(self) -> Option<Entry> {
        match self {
            Verdict::In(entry) => Some(entry),
            _ => None,
        }
    }
}

/// The login rules of a server.
#[derive(Debug)]
pub struct Door {
    users: Option<UsersFile>,
    /// The permissions of anonymous access; `None` when it is off.
    anonymous: Option<Perms>,
    /// Recent failures by address (IPv6 by its /64).
    tries: Mutex<HashMap<IpAddr, Arc<Mutex<Tries>>>>,
    hashing: Turns,
    /// Right passwords seen: name → keyed hash of (account line's hash, password).
    known: Mutex<HashMap<String, [u8; 32]>>,
    /// The key for `known`, random for each run.
    secret: [u8; 32],
    /// The delay after a first failure.
    first_delay: Duration,
}

#[derive(Debug)]
struct UsersFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    accounts: Arc<Accounts>,
    /// The file as it was when read.
    stamp: Stamp,
    /// A version that failed to parse, so its fault is logged once.
    refused: Option<Stamp>,
    /// Whether the file was found missing (and that was logged).
    gone: bool,
    /// What unknown names are checked against: as slow as the slowest account.
    decoy: Hash,
}

/// What tells a changed file: device, inode, size, and change and modification times.
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

#[derive(Debug)]
struct Tries {
    failures: u32,
    last: Instant,
}

impl Door {
    /// Anonymous access only, with these permissions (no users file).
    pub fn anonymous(perms: Perms) -> Door {
        // No accounts, so no password is ever remembered: the key goes unused.
        Door::with(None, Some(perms), [0; 32])
    }

    /// Accounts from the users file at `path`, and anonymous access with
    /// `anonymous` permissions if given. The error names the file and line.
    pub fn with_users(path: &Path, anonymous: Option<Perms>) -> Result<Door, String> {
        let (accounts, stamp) = read(path)?;
        let loaded = Loaded::new(accounts, stamp);
        let users = UsersFile {
            path: path.to_path_buf(),
            loaded: Mutex::new(loaded),
        };
        let mut secret = [0u8; 32];
        password::random_bytes(&mut secret)
            .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
        Ok(Door::with(Some(users), anonymous, secret))
    }

    fn with(users: Option<UsersFile>, anonymous: Option<Perms>, secret: [u8; 32]) -> Door {
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        Door {
            users,
            anonymous,
            tries: Mutex::new(HashMap::new()),
            hashing: Turns::new((cpus / 2).max(1)),
            known: Mutex::new(HashMap::new()),
            secret,
            first_delay: FIRST_DELAY,
        }
    }

    /// The same door, with `first` as the delay after a first failure.
    pub fn with_first_delay(self, first: Duration) -> Door {
        Door {
            first_delay: first,
            ..self
        }
    }

    /// Whether USER needs a real password (there is a users file).
    pub fn has_accounts(&self) -> bool {
        self.users.is_some()
    }

    /// How many accounts there are now, and the users file.
    pub fn accounts(&self) -> Option<(usize, &Path)> {
        let users = self.users.as_ref()?;
        Some((lock(&users.loaded).accounts.len(), &users.path))
    }

    /// How many accounts have each set of permissions, by its letters.
    pub fn permission_sets(&self) -> Vec<(String, usize)> {
        let mut sets = std::collections::BTreeMap::new();
        if let Some(users) = &self.users {
            for account in lock(&users.loaded).accounts.iter() {
                *sets.entry(account.perms.letters()).or_insert(0) += 1;
            }
        }
        sets.into_iter().collect()
    }

    /// The permissions of anonymous access, if it is on.
    pub fn anonymous_perms(&self) -> Option<Perms> {
        self.anonymous
    }

    /// Reads the users file again now (SIGHUP) and logs what changed: the
    /// accounts added, removed or changed. A file that does not parse keeps
    /// the accounts read before, and the log says why.
    pub fn reload(&self) {
        let Some(users) = &self.users else {
            return log::log("-", "reload: no users file; nothing to read");
        };
        let shown = users.path.display();
        let mut loaded = lock(&users.loaded);
        match read(&users.path) {
            Err(why) => log::log(
                "-",
                format_args!("reload: {why}; keeping the accounts read before"),
            ),
            Ok((accounts, stamp)) => {
                let before = &loaded.accounts;
                let names = |a: &Accounts| a.iter().map(|x| x.name.clone()).collect::<Vec<_>>();
                let added: Vec<_> = names(&accounts)
                    .into_iter()
                    .filter(|n| before.get(n).is_none())
                    .collect();
                let removed: Vec<_> = names(before)
                    .into_iter()
                    .filter(|n| accounts.get(n).is_none())
                    .collect();
                let changed: Vec<_> = (accounts.iter())
                    .filter(|a| before.get(&a.name).is_some_and(|b| b != *a))
                    .map(|a| a.name.clone())
                    .collect();
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                log::log(
                    "-",
                    format_args!(
                        "reload: read {shown}: {} accounts; added {}; removed {}; changed {}",
                        accounts.len(),
                        list(&added),
                        list(&removed),
                        list(&changed)
                    ),
                );
                *loaded = Loaded::new(accounts, stamp);
            }
        }
    }

    /// The roots of every account, for the start-up sweep.
    pub fn roots(&self) -> Vec<PathBuf> {
        match &self.users {
            Some(users) => lock(&users.loaded).accounts.roots(),
            None => Vec::new(),
        }
    }

    /// Checks a login from `ip`, now. Takes a password check's time; the
    /// verdict says how long the reply must wait.
    pub fn check(&self, ip: IpAddr, name: &str, password: &str) -> Verdict {
        self.check_at(ip, name, password, Instant::now())
    }

    /// [`Door::check`] as if it were `now`.
    fn check_at(&self, ip: IpAddr, name: &str, password: &str, now: Instant) -> Verdict {
        let Some(users) = &self.users else {
            // No accounts: anyone, with any name and password, as anonymous.
            return match self.anonymous {
                Some(perms) => Verdict::In(Entry {
                    perms,
                    root: None,
                    anonymous: true,
                    rate: None,
                }),
                None => Verdict::Refused(Duration::ZERO),
            };
        };
        let (accounts, decoy) = users.current();
        let account = accounts.get(name);
        if account.is_none() && ANONYMOUS.contains(&name.to_ascii_lowercase().as_str()) {
            if let Some(perms) = self.anonymous {
                return Verdict::In(Entry {
                    perms,
                    root: None,
                    anonymous: true,
                    rate: None,
                });
            }
        }
        let hash = account.map_or(&decoy, |a| &a.hash);
        let entry = account.map(|a| Entry {
            perms: a.perms,
            root: Some(a.root.clone()),
            anonymous: false,
            rate: a.rate,
        });
        let seen = self.seen(hash, password);
        if let (Some(entry), true) = (&entry, self.knows(name, &seen)) {
            return Verdict::In(entry.clone());
        }
        let record = self.record(ip, now);
        let failures = {
            let mut tries = lock(&record);
            if now.saturating_duration_since(tries.last) > FORGET {
                tries.failures = 0;
            }
            tries.failures
        };
        // The check waits its turn, and nothing is locked meanwhile: a right
        // password is never held behind other sessions' delays.
        let right = {
            let _turn = self.hashing.take(failures);
            let right = hash.verify(password);
            if !right {
                // Every failure costs the slowest account's work, whatever
                // the account's own count: the time says nothing of the name.
                password::burn(decoy.iterations.saturating_sub(hash.iterations));
            }
            right
        };
        let mut tries = lock(&record);
        match (right, entry) {
            (true, Some(entry)) => {
                tries.failures = 0;
                lock(&self.known).insert(name.to_string(), seen);
                Verdict::In(entry)
            }
            _ => {
                tries.failures += 1;
                tries.last = now;
                Verdict::Refused(delay(self.first_delay, tries.failures))
            }
        }
    }

    /// The keyed hash that remembers a right password for this account line.
    fn seen(&self, hash: &Hash, password: &str) -> [u8; 32] {
        let mut message = hash.to_string().into_bytes();
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        password::hmac_sha256(&self.secret, &message)
    }

    fn knows(&self, name: &str, seen: &[u8; 32]) -> bool {
        lock(&self.known)
            .get(name)
            .is_some_and(|k| password::same(k, seen))
    }

    fn record(&self, ip: IpAddr, now: Instant) -> Arc<Mutex<Tries>> {
        let key = client_key(ip);
        let mut tries = lock(&self.tries);
        if tries.len() >= 4096 {
            // Keep the table small: drop addresses with nothing to remember.
            tries.retain(|_, t| {
                Arc::strong_count(t) > 1 || now.saturating_duration_since(lock(t).last) < FORGET
            });
        }
        Arc::clone(tries.entry(key).or_insert_with(|| {
            Arc::new(Mutex::new(Tries {
                failures: 0,
                last: now,
            }))
        }))
    }
}

impl UsersFile {
    /// The accounts, read again first if the file changed. A file that no
    /// longer parses leaves the last good accounts in place, and says why once.
    fn current(&self) -> (Arc<Accounts>, Hash) {
        let mut loaded = lock(&self.loaded);
        let Some(now) = stamp(&self.path) else {
            // Gone (deleted, or moved away): no account is valid until it is
            // back. Said once; anonymous access, if on, goes on.
            if !loaded.gone {
                loaded.gone = true;
                let shown = self.path.display();
                log::log(
                    "-",
                    format_args!("{shown} is gone: no account can log in until it is back"),
                );
            }
            return (Arc::new(Accounts::default()), loaded.decoy.clone());
        };
        if loaded.gone {
            loaded.gone = false;
            // Read again whatever its stamp: it may be the very file moved back.
            loaded.stamp = (0, 0, 0, 0, 0, 0, 0);
        }
        if now != loaded.stamp && Some(now) != loaded.refused {
            match read(&self.path) {
                Ok((accounts, stamp)) => {
                    log::log(
                        "-",
                        format_args!(
                            "read {} again: {} accounts",
                            self.path.display(),
                            accounts.len()
                        ),
                    );
                    *loaded = Loaded::new(accounts, stamp);
                }
                Err(why) => {
                    log::log("-", format_args!("{why}; keeping the accounts read before"));
                    loaded.refused = Some(now);
                }
            }
        }
        (Arc::clone(&loaded.accounts), loaded.decoy.clone())
    }
}

impl Loaded {
    fn new(accounts: Accounts, stamp: Stamp) -> Loaded {
        let iterations = accounts.most_iterations().unwrap_or(password::ITERATIONS);
        Loaded {
            accounts: Arc::new(accounts),
            stamp,
            refused: None,
            gone: false,
            decoy: Hash {
                iterations,
                salt: vec![0; 16],
                key: vec![0; 32],
            },
        }
    }
}

/// Reads and parses a users file; the error is `FILE:LINE: fault` or `FILE: fault`.
fn read(path: &Path) -> Result<(Accounts, Stamp), String> {
    let shown = path.display();
    // Stamp first: a change while reading is then seen on the next check.
    let stamp = stamp(path).ok_or_else(|| format!("{shown}: cannot read it"))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let accounts =
        Accounts::parse(&text).map_err(|(line, why)| format!("{shown}:{line}: {why}"))?;
    Ok((accounts, stamp))
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// Who an address is, for the limits set per client: an IPv4 address, or an
/// IPv6 address's /64 (one host or home usually has a whole /64 to pick from).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

/// The delay after the n-th failure in a row (n from 1), `first` after the first.
fn delay(first: Duration, failures: u32) -> Duration {
    first * (1u32 << failures.saturating_sub(1).min(5))
}

/// A lock that a panicking holder cannot poison for good: the data here are
/// counts and caches, right whatever a panic interrupted.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns at hashing: at most `n` at once, and the others served in order of
/// how many failures their address has lately (fewest first), then of
/// arrival. A first login from a quiet address goes ahead of any number of
/// guessing addresses; among one address's sessions, first come first served.
#[derive(Debug)]
struct Turns {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Debug)]
struct Queue {
    free: usize,
    /// Who waits: (their address's failures, their ticket).
    waiting: std::collections::BTreeSet<(u32, u64)>,
    next_ticket: u64,
}

struct Turn<'a>(&'a Turns);

impl Turns {
    fn new(n: usize) -> Turns {
        Turns {
            queue: Mutex::new(Queue {
                free: n,
                waiting: Default::default(),
                next_ticket: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn take(&self, failures: u32) -> Turn<'_> {
        let mut queue = lock(&self.queue);
        let me = (failures, queue.next_ticket);
        queue.next_ticket += 1;
        queue.waiting.insert(me);
        while queue.free == 0 || queue.waiting.first() != Some(&me) {
            queue = self.changed.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        queue.waiting.remove(&me);
        queue.free -= 1;
        if queue.free > 0 {
            // The next in line may go too.
            self.changed.notify_all();
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        lock(&self.0.queue).free += 1;
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempFile(PathBuf);

    impl TempFile {
        fn new(label: &str, text: &str) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("dialback-door-{}-{label}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn line(name: &str, password: &str, perms: &str, root: &str) -> String {
        let hash = Hash::new(password, 1000).unwrap();
        format!("{name} {hash} {perms} {root}\n")
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn without_a_users_file_anyone_comes_in_anonymously() {
        let door = Door::anonymous(Perms::all());
        let entry = door.check(ip(1), "whoever", "").entry().unwrap();
        assert_eq!(entry.perms, Perms::all());
        assert_eq!(entry.root, None);
        assert!(!door.has_accounts());
    }

    #[test]
    fn accounts_get_their_root_and_permissions_and_anonymous_is_asked_for() {
        let file = TempFile::new("accounts", &line("alice", "right", "lr", "/srv/alice"));
        let door = Door::with_users(&file.0, None).unwrap();
        let alice = door.check(ip(2), "alice", "right").entry().unwrap();
        assert_eq!(alice.root, Some(PathBuf::from("/srv/alice")));
        assert_eq!(alice.perms.letters(), "lr");
        assert_eq!(
            door.check(ip(3), "anonymous", "x").entry(),
            None,
            "anonymous is off"
        );
        let open = Door::with_users(&file.0, Some(Perms::read_only())).unwrap();
        let anonymous = open.check(ip(4), "FTP", "x").entry().unwrap();
        assert!(anonymous.anonymous);
        assert_eq!(anonymous.perms, Perms::read_only());
        // The second right login is remembered, not checked again.
        assert!(door.check(ip(5), "alice", "right").entry().is_some());
    }

    #[test]
    fn failures_from_one_address_wait_longer_each_time() {
        assert_eq!(delay(FIRST_DELAY, 1), Duration::from_millis(500));
        assert_eq!(delay(FIRST_DELAY, 2), Duration::from_secs(1));
        assert_eq!(delay(FIRST_DELAY, 6), Duration::from_secs(16));
        assert_eq!(delay(FIRST_DELAY, 1000), Duration::from_secs(16));
        let file = TempFile::new("delay", &line("bob", "right", "lr", "/srv/bob"));
        let door = Door::with_users(&file.0, None).unwrap();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let half = Duration::from_millis(500);
        assert_eq!(
            door.check_at(ip(6), "bob", "wrong", at(0)),
            Verdict::Refused(half)
        );
        // Another session from the address is not held by that delay, and
        // its failure counts for the address: the next delay doubles.
        let second = door.check_at(ip(6), "nobody", "wrong", at(100));
        assert_eq!(second, Verdict::Refused(Duration::from_secs(1)));
        // A success clears the count; another address has its own.
        assert!(matches!(
            door.check_at(ip(6), "bob", "right", at(1500)),
            Verdict::In(_)
        ));
        assert_eq!(
            door.check_at(ip(6), "bob", "wrong", at(1500)),
            Verdict::Refused(half)
        );
        assert!(matches!(
            door.check_at(ip(7), "bob", "right", at(1500)),
            Verdict::In(_)
        ));
        // Ten quiet minutes forget the count.
        assert_eq!(
            door.check_at(ip(6), "bob", "wrong", at(2000)),
            Verdict::Refused(Duration::from_secs(1))
        );
        assert_eq!(
            door.check_at(ip(6), "bob", "wrong", at(700_000)),
            Verdict::Refused(half)
        );
    }

    #[test]
    fn hashing_turns_go_to_the_fewest_failures_then_in_order_of_arrival() {
        let turns = Arc::new(Turns::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = turns.take(0);
        let mut waiting = Vec::new();
        // Guessers (5 failures) arrive first, then a quiet address, then one more guesser.
        for (who, failures) in [("g1", 5), ("g2", 5), ("quiet", 0), ("g3", 5)] {
            let (mine, order) = (turns.clone(), order.clone());
            waiting.push(thread::spawn(move || {
                let _turn = mine.take(failures);
                lock(&order).push(who);
            }));
            // Each is in the queue before the next arrives.
            while lock(&turns.queue).waiting.len() < waiting.len() {
                thread::yield_now();
            }
        }
        drop(held);
        for w in waiting {
            w.join().unwrap();
        }
        assert_eq!(*lock(&order), ["quiet", "g1", "g2", "g3"]);
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_last_good() {
        let file = TempFile::new("reload", &line("carol", "one", "lr", "/srv/carol"));
        let door = Door::with_users(&file.0, None).unwrap();
        assert!(door.check(ip(8), "carol", "one").entry().is_some());
        std::fs::write(&file.0, line("carol", "two", "lrw", "/srv/c2")).unwrap();
        let carol = door.check(ip(8), "carol", "two").entry().unwrap();
        assert_eq!(carol.root, Some(PathBuf::from("/srv/c2")));
        assert!(
            door.check(ip(9), "carol", "one").entry().is_none(),
            "the old password"
        );
        std::fs::write(&file.0, "carol not-a-hash lr /x\n").unwrap();
        assert!(door.check(ip(8), "carol", "two").entry().is_some(), "kept");
        let broken = Door::with_users(&file.0, None).unwrap_err();
        assert!(
            broken.ends_with(":1: not a $pbkdf2-b64salt-sha256$ hash"),
            "{broken}"
        );
    }
}
