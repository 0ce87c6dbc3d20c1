//! Ctrl-C (SIGINT) and SIGTERM for the binaries: the client's terminal, so
//! that stopping it never leaves a temporary file or a terminal in raw mode
//! behind, and the server's graceful stop. std
//! installs no handlers; the unsafe code here is the `sigaction(2)` call and
//! the handler, which only touches atomics and, when nothing needs cleaning
//! up, `_exit(2)`. Only the binaries call this module: the library sees a
//! signal only as its [`Cancel`] token being stopped.
//!
//! The rule: the handler stops the token it was installed with (SIGINT as
//! [`Stop::Interrupt`], SIGTERM as [`Stop::Terminate`]). Code that would leave
//! something behind if the process vanished holds the token
//! ([`Cancel::hold`]) and looks at it between steps; its blocking calls return
//! `EINTR` (the handler is installed without `SA_RESTART`), so it looks at
//! once. A signal that arrives while nothing holds the token ends the process
//! at once, as the default action would, with status 128 + signal. The tests
//! raise real signals, so they live in a test binary of their own
//! (`tests/signals.rs`).
//!
//! The line editor reads Ctrl-Z as a key (raw mode turns the terminal's
//! signals off) and asks [`suspend`] to stop the client as the terminal would
//! have: one `kill(2)` of our own process group.

#![allow(unsafe_code)]

use std::os::raw::c_int;
use std::sync::OnceLock;

use crate::cancel::{Cancel, Stop};

/// The signal numbers (the same on every Linux architecture).
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
pub const SIGHUP: i32 = 1;
/// On x86 and Arm (MIPS, SPARC and Alpha number it otherwise).
const SIGTSTP: i32 = 20;

/// The token the handler stops: the process's one piece of signal state.
static TOKEN: OnceLock<Cancel> = OnceLock::new();

/// Set by SIGHUP, taken by [`hung_up`].
static HANGUP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_hangup(_: c_int) {
    HANGUP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Catches SIGHUP (which would end the process) as a request to reload:
/// [`hung_up`] says whether one came since it was last asked.
pub fn catch_hangup() -> std::io::Result<()> {
    let action = sys::SigAction {
        handler: on_hangup,
        mask: sys::EMPTY,
        flags: 0,
        restorer: 0,
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    if unsafe { sys::sigaction(SIGHUP, &action, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut set = sys::EMPTY;
    // SAFETY: `set` is a valid signal set of ours.
    unsafe { sys::sigaddset(&mut set, SIGHUP) };
    // SAFETY: unblocks SIGHUP for this thread, as `install` does for its signals.
    match unsafe { sys::pthread_sigmask(sys::SIG_UNBLOCK, &set, std::ptr::null_mut()) } {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// Whether SIGHUP came since the last call.
pub fn hung_up() -> bool {
    HANGUP.swap(false, std::sync::atomic::Ordering::SeqCst)
}

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

    pub const SIG_UNBLOCK: c_int = 1;

    extern "C" {
        pub fn sigaction(sig: c_int, new: *const SigAction, old: *mut SigAction) -> c_int;
        pub fn sigaddset(set: *mut SigSet, sig: c_int) -> c_int;
        pub fn pthread_sigmask(how: c_int, new: *const SigSet, old: *mut SigSet) -> c_int;
        pub fn _exit(status: c_int) -> !;
        pub fn kill(pid: c_int, sig: c_int) -> c_int;
    }
}

extern "C" fn on_signal(sig: c_int) {
    // OnceLock::get is one atomic load; stop and held touch atomics only.
    let held = TOKEN.get().is_some_and(|token| {
        token.stop(match sig {
            SIGTERM => Stop::Terminate,
            _ => Stop::Interrupt,
        });
        token.held()
    });
    if !held {
        // SAFETY: _exit is async-signal-safe; nothing is held that needs undoing.
        unsafe { sys::_exit(128 + sig) }
    }
}

/// The exit status for a process that a stop ended, as if by its signal.
pub fn status(stop: Stop) -> u8 {
    128 + match stop {
        Stop::Interrupt => SIGINT,
        Stop::Terminate => SIGTERM,
    } as u8
}

/// Catches SIGINT and SIGTERM for the rest of the process's life, as stops
/// of `token` (the first token given, if called again). Call it
/// before starting threads: it also unblocks both signals in the calling
/// thread, whose mask new threads inherit. A parent may start us with them
/// blocked (some test runners and supervisors do, and `exec` keeps the mask);
/// then Ctrl-C would stay pending forever and a transfer could not be stopped.
pub fn install(token: &Cancel) -> std::io::Result<()> {
    let _ = TOKEN.set(token.clone());
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
