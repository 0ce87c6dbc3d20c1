//! Running as a system service: taking the listening sockets systemd opened
//! (socket activation, `LISTEN_FDS`/`LISTEN_PID`), so that port 21 needs no
//! root at all, and, when started as root, dropping to another user right
//! after binding (`--run-as USER`), before any session. The unsafe code is
//! the libc calls std lacks, behind `inherited_listeners` and `run_as`.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::os::raw::c_int;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: c_int = 3;

mod sys {
    use std::os::raw::{c_char, c_int, c_uint};

    /// glibc's and musl's `struct passwd`.
    #[repr(C)]
    pub struct Passwd {
        pub name: *mut c_char,
        pub password: *mut c_char,
        pub uid: c_uint,
        pub gid: c_uint,
        pub gecos: *mut c_char,
        pub dir: *mut c_char,
        pub shell: *mut c_char,
    }

    extern "C" {
        pub fn getpwnam(name: *const c_char) -> *mut Passwd;
        pub fn initgroups(user: *const c_char, group: c_uint) -> c_int;
        pub fn setgid(gid: c_uint) -> c_int;
        pub fn setuid(uid: c_uint) -> c_int;
        pub fn geteuid() -> c_uint;
        pub fn getpid() -> c_int;
        pub fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    }
}

/// The listening sockets systemd handed over, if it did: `LISTEN_PID` names
/// this process and `LISTEN_FDS` counts descriptors from 3. The variables
/// are removed, so nothing started later takes them for its own.
pub fn inherited_listeners() -> io::Result<Option<Vec<TcpListener>>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<c_int>().ok());
    // SAFETY: getpid cannot fail.
    if ours != Some(unsafe { sys::getpid() }) {
        return Ok(None);
    }
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<c_int>().ok());
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let count = count.filter(|n| (1..=64).contains(n)).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "LISTEN_FDS is not a count of sockets",
        )
    })?;
    let mut listeners = Vec::new();
    for fd in FIRST_FD..FIRST_FD + count {
        const F_SETFD: c_int = 2;
        const FD_CLOEXEC: c_int = 1;
        // SAFETY: marks a descriptor systemd gave us close-on-exec; a bad
        // descriptor only makes fcntl fail.
        if unsafe { sys::fcntl(fd, F_SETFD, FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: systemd passed this descriptor to us alone, open and
        // listening; nothing else in the process owns it.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        // A descriptor that is not a listening TCP socket fails here.
        listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(Some(listeners))
}

/// Drops from root to `user` (its uid, its gid and its other groups), for
/// good: afterwards the process cannot become root again. Refused unless
/// running as root.
pub fn run_as(user: &str) -> Result<(u32, u32), String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { sys::geteuid() } != 0 {
        return Err(format!("--run-as {user} needs the server started as root"));
    }
    let name = CString::new(user).map_err(|_| format!("no user {user:?}"))?;
    // SAFETY: `name` is NUL-terminated; the result is read before any other
    // call that could reuse getpwnam's buffer.
    let (uid, gid) = unsafe {
        let entry = sys::getpwnam(name.as_ptr());
        if entry.is_null() {
            return Err(format!("no user {user:?} on this system"));
        }
        ((*entry).uid, (*entry).gid)
    };
    if uid == 0 {
        return Err(format!("--run-as {user}: that is root; name another user"));
    }
    let failed = |what: &str| format!("--run-as {user}: {what}: {}", io::Error::last_os_error());
    // SAFETY: plain system calls on values of ours; each result is checked.
    unsafe {
        if sys::initgroups(name.as_ptr(), gid) != 0 {
            return Err(failed("initgroups"));
        }
        if sys::setgid(gid) != 0 {
            return Err(failed("setgid"));
        }
        if sys::setuid(uid) != 0 {
            return Err(failed("setuid"));
        }
        // For good: root cannot be taken back.
        if sys::setuid(0) == 0 {
            return Err(format!(
                "--run-as {user}: root could be taken back; refusing to run"
            ));
        }
    }
    Ok((uid, gid))
}
