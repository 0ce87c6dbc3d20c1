//! Ctrl-C (SIGINT) and SIGTERM for the client, so that stopping it never
//! leaves a temporary file or a terminal in raw mode behind. std installs no
//! handlers; the unsafe code here is the `sigaction(2)` call and the handler,
//! which only touches atomics and, when nothing needs cleaning up, `_exit(2)`.
//!
//! The rule: code that would leave something behind if the process vanished
//! (a transfer writing a temporary file, the line editor holding the terminal
//! raw) holds a [`Guard`] and looks at [`pending`] between steps; its blocking
//! calls return `EINTR` (the handler is installed without `SA_RESTART`), so it
//! looks at once. A signal that arrives while no guard is held ends the
//! process at once, as the default action would, with status 128 + signal.
//!
//! The line editor reads Ctrl-Z as a key (raw mode turns the terminal's
//! signals off) and asks [`suspend`] to stop the client as the terminal would
//! have: one `kill(2)` of our own process group.

#![allow(unsafe_code)]

use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The signal numbers (the same on every Linux architecture).
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
/// On x86 and Arm (MIPS, SPARC and Alpha number it otherwise).
const SIGTSTP: i32 = 20;

/// The last signal caught and not yet taken, or 0.
static PENDING: AtomicI32 = AtomicI32::new(0);
/// How many guards are held.
static GUARDS: AtomicUsize = AtomicUsize::new(0);

mod sys {
    use std::os::raw::{c_int, c_ulong};

    /// `sigset_t` as glibc and musl lay it out on Linux (1,024 bits).
    pub type SigSet = [c_ulong; 128 / std::mem::size_of::<c_ulong>()];
    pub const EMPTY: SigSet = [0; 128 / std::mem::size_of::<c_ulong>()];

    /// `struct sigaction` as glibc and musl lay it out on Linux.
    #[repr(C)]
    pub struct SigAction {
        pub handler: extern "C" fn(c_int),
        pub mask: SigSet,
        pub flags: c_int,
        pub restorer: usize,
    }

    #[cfg(test)]
    pub const SIG_BLOCK: c_int = 0;
    pub const SIG_UNBLOCK: c_int = 1;

    extern "C" {
        pub fn sigaction(sig: c_int, new: *const SigAction, old: *mut SigAction) -> c_int;
        pub fn sigaddset(set: *mut SigSet, sig: c_int) -> c_int;
        #[cfg(test)]
        pub fn sigismember(set: *const SigSet, sig: c_int) -> c_int;
        pub fn pthread_sigmask(how: c_int, new: *const SigSet, old: *mut SigSet) -> c_int;
        pub fn _exit(status: c_int) -> !;
        pub fn kill(pid: c_int, sig: c_int) -> c_int;
    }
}

extern "C" fn on_signal(sig: c_int) {
    PENDING.store(sig, Ordering::SeqCst);
    if GUARDS.load(Ordering::SeqCst) == 0 {
        // SAFETY: _exit is async-signal-safe; nothing is held that needs undoing.
        unsafe { sys::_exit(128 + sig) }
    }
}

/// Catches SIGINT and SIGTERM for the rest of the process's life. Call it
/// before starting threads: it also unblocks both signals in the calling
/// thread, whose mask new threads inherit. A parent may start us with them
/// blocked (some test runners and supervisors do, and `exec` keeps the mask);
/// then Ctrl-C would stay pending forever and a transfer could not be stopped.
pub fn install() -> std::io::Result<()> {
    let mut ours = sys::EMPTY;
    for sig in [SIGINT, SIGTERM] {
        // SAFETY: `ours` is a valid, initialised set and `sig` a valid signal.
        unsafe { sys::sigaddset(&mut ours, sig) };
        let action = sys::SigAction {
            handler: on_signal,
            mask: sys::EMPTY,
            // No SA_RESTART: a blocking read returns EINTR, so its caller looks.
            flags: 0,
            restorer: 0,
        };
        // SAFETY: `action` is a valid sigaction that lives across the call; the
        // old action is not asked for.
        if unsafe { sys::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: `ours` is a valid set; the old mask is not asked for.
    match unsafe { sys::pthread_sigmask(sys::SIG_UNBLOCK, &ours, std::ptr::null_mut()) } {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// Stops the client's process group, as Ctrl-Z does outside raw mode, and
/// returns once the shell resumes it (`fg`). Where nobody could resume it (no
/// job control: the group is orphaned, or SIGTSTP ignored) the kernel drops
/// the signal and this returns at once.
pub fn suspend() {
    // SAFETY: kill has no memory arguments; pid 0 is our own process group.
    unsafe { sys::kill(0, SIGTSTP) };
}

/// The signal caught and not yet taken, if any.
pub fn pending() -> Option<i32> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Takes the pending signal, if any, so that the next one is news.
pub fn take() -> Option<i32> {
    match PENDING.swap(0, Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// While held, a signal is recorded for its holder to act on instead of
/// ending the process.
pub struct Guard(());

/// Holds off the immediate exit until the guard drops.
pub fn guard() -> Guard {
    GUARDS.fetch_add(1, Ordering::SeqCst);
    Guard(())
}

impl Drop for Guard {
    fn drop(&mut self) {
        GUARDS.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::thread::JoinHandleExt;
    use std::time::Duration;

    const SIGHUP: i32 = 1;

    /// Blocks (or with `false`, unblocks) `sig` in the calling thread only.
    fn set_blocked(sig: i32, blocked: bool) {
        let mut set = sys::EMPTY;
        let how = if blocked {
            sys::SIG_BLOCK
        } else {
            sys::SIG_UNBLOCK
        };
        // SAFETY: `set` is a valid set that outlives both calls.
        unsafe {
            sys::sigaddset(&mut set, sig);
            assert_eq!(sys::pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
        }
    }

    /// Whether `sig` is blocked in the calling thread.
    fn is_blocked(sig: i32) -> bool {
        let mut now = sys::EMPTY;
        // SAFETY: a null new set only reads the mask into `now`, a valid set.
        unsafe {
            assert_eq!(
                sys::pthread_sigmask(sys::SIG_BLOCK, std::ptr::null(), &mut now),
                0
            );
            sys::sigismember(&now, sig) == 1
        }
    }

    extern "C" {
        fn raise(sig: c_int) -> c_int;
        fn pthread_kill(thread: std::os::unix::thread::RawPthread, sig: c_int) -> c_int;
    }

    #[test]
    fn a_guarded_signal_is_recorded_and_interrupts_a_blocking_read() {
        install().unwrap();
        let _guard = guard();
        // SAFETY: raise delivers the signal to this thread, whose handler only records it.
        assert_eq!(unsafe { raise(SIGINT) }, 0);
        assert_eq!(pending(), Some(SIGINT));
        assert_eq!(take(), Some(SIGINT));
        assert_eq!(take(), None);

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
        assert_eq!(take(), Some(SIGTERM));
        drop(writer);
    }

    #[test]
    fn signals_blocked_by_the_parent_are_unblocked_so_ctrl_c_arrives() {
        // A thread of its own, as a process started with both blocked would be.
        std::thread::spawn(|| {
            set_blocked(SIGINT, true);
            set_blocked(SIGTERM, true);
            assert!(is_blocked(SIGINT) && is_blocked(SIGTERM));
            install().unwrap();
            assert!(!is_blocked(SIGINT) && !is_blocked(SIGTERM));
            // Signals it does not handle keep the mask they had.
            set_blocked(SIGHUP, true);
            install().unwrap();
            assert!(is_blocked(SIGHUP));
            set_blocked(SIGHUP, false);
        })
        .join()
        .unwrap();
    }
}
