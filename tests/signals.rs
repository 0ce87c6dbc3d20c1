//! The terminal's signal handler: real SIGINT and SIGTERM, raised in this
//! test binary of its own, so that no other test's thread can take them. The
//! handler's only effect on the library is the token it stops.

use std::io::Read;
use std::os::raw::{c_int, c_ulong};
use std::os::unix::thread::JoinHandleExt;
use std::time::Duration;

use dialback::cancel::{Cancel, Stop};
use dialback::signals::{self, SIGINT, SIGTERM};

const SIGHUP: c_int = 1;
const SIG_BLOCK: c_int = 0;
const SIG_UNBLOCK: c_int = 1;
/// `sigset_t` as glibc lays it out on Linux (1,024 bits).
type SigSet = [c_ulong; 128 / std::mem::size_of::<c_ulong>()];

extern "C" {
    fn raise(sig: c_int) -> c_int;
    fn pthread_kill(thread: std::os::unix::thread::RawPthread, sig: c_int) -> c_int;
    fn pthread_sigmask(how: c_int, new: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigaddset(set: *mut SigSet, sig: c_int) -> c_int;
    fn sigismember(set: *const SigSet, sig: c_int) -> c_int;
}

/// The one token for this process (the handler keeps the first it is given).
fn token() -> Cancel {
    static TOKEN: std::sync::OnceLock<Cancel> = std::sync::OnceLock::new();
    TOKEN.get_or_init(Cancel::new).clone()
}

/// Blocks (or with `false`, unblocks) `sig` in the calling thread only.
fn set_blocked(sig: c_int, blocked: bool) {
    let mut set: SigSet = [0; 128 / std::mem::size_of::<c_ulong>()];
    let how = if blocked { SIG_BLOCK } else { SIG_UNBLOCK };
    // SAFETY: `set` is a valid set that outlives both calls.
    unsafe {
        sigaddset(&mut set, sig);
        assert_eq!(pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
    }
}

/// Whether `sig` is blocked in the calling thread.
fn is_blocked(sig: c_int) -> bool {
    let mut now: SigSet = [0; 128 / std::mem::size_of::<c_ulong>()];
    // SAFETY: a null new set only reads the mask into `now`, a valid set.
    unsafe {
        assert_eq!(pthread_sigmask(SIG_BLOCK, std::ptr::null(), &mut now), 0);
        sigismember(&now, sig) == 1
    }
}

#[test]
fn a_held_token_is_stopped_by_the_signal_and_a_blocking_read_is_interrupted() {
    let cancel = token();
    signals::install(&cancel).unwrap();
    let _hold = cancel.hold();
    // SAFETY: raise delivers the signal to this thread, whose handler only records it.
    assert_eq!(unsafe { raise(SIGINT) }, 0);
    assert_eq!(cancel.take(), Some(Stop::Interrupt));
    assert_eq!(cancel.take(), None);

    // A read blocked on an empty pipe returns EINTR when the signal lands
    // (sent until it does, in case the first one came before the read).
    let (mut reader, writer) = std::io::pipe().unwrap();
    let blocked = std::thread::spawn(move || reader.read(&mut [0u8; 1]).map_err(|e| e.kind()));
    while !blocked.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: the thread has not been joined, so its handle is valid.
        unsafe { pthread_kill(blocked.as_pthread_t(), SIGTERM) };
    }
    assert_eq!(
        blocked.join().unwrap(),
        Err(std::io::ErrorKind::Interrupted)
    );
    assert_eq!(cancel.take(), Some(Stop::Terminate));
    assert_eq!(signals::status(Stop::Terminate), 143);
    assert_eq!(signals::status(Stop::Interrupt), 130);
    drop(writer);
}

#[test]
fn signals_blocked_by_the_parent_are_unblocked_so_ctrl_c_arrives() {
    // A thread of its own, as a process started with both blocked would be.
    std::thread::spawn(|| {
        set_blocked(SIGINT, true);
        set_blocked(SIGTERM, true);
        assert!(is_blocked(SIGINT) && is_blocked(SIGTERM));
        signals::install(&token()).unwrap();
        assert!(!is_blocked(SIGINT) && !is_blocked(SIGTERM));
        // Signals it does not handle keep the mask they had.
        set_blocked(SIGHUP, true);
        signals::install(&token()).unwrap();
        assert!(is_blocked(SIGHUP));
        set_blocked(SIGHUP, false);
    })
    .join()
    .unwrap();
}
