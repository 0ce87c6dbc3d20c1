//! The process's descriptor limit (`RLIMIT_NOFILE`), which std does not
//! reach: raising the soft limit to the hard one at start, so that the
//! session cap, not a default of 1024, decides how many sessions fit. The
//! only unsafe code is the two libc calls, behind `raise_to_hard`.

#![allow(unsafe_code)]

use std::io;

/// `struct rlimit` on Linux: `rlim_t` is an unsigned long.
#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

const RLIMIT_NOFILE: i32 = 7;

extern "C" {
    fn getrlimit(resource: i32, limit: *mut Rlimit) -> i32;
    fn setrlimit(resource: i32, limit: *const Rlimit) -> i32;
}

fn get() -> io::Result<Rlimit> {
    let mut limit = Rlimit { cur: 0, max: 0 };
    // SAFETY: `limit` is a writable rlimit.
    match unsafe { getrlimit(RLIMIT_NOFILE, &mut limit) } {
        0 => Ok(limit),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Raises the soft descriptor limit to the hard limit; returns the limit now
/// in force (the old one if raising failed).
pub fn raise_to_hard() -> io::Result<u64> {
    let limit = get()?;
    if limit.cur >= limit.max {
        return Ok(limit.cur);
    }
    let raised = Rlimit {
        cur: limit.max,
        max: limit.max,
    };
    // SAFETY: `raised` is a valid rlimit, only read.
    match unsafe { setrlimit(RLIMIT_NOFILE, &raised) } {
        0 => Ok(raised.cur),
        _ => Ok(limit.cur),
    }
}

/// Descriptors one session may hold at once: its control connection, a
/// data connection, the file, the two ends of the splice pipe, and a
/// passive listener.
pub const PER_SESSION: u64 = 6;

/// Descriptors kept for the rest: stdio, listeners, the sweep, the users file,
/// the accept loops' spares.
pub const RESERVE: u64 = 32;

/// How many sessions `limit` descriptors fit.
pub fn sessions_within(limit: u64) -> usize {
    let fit = limit.saturating_sub(RESERVE) / PER_SESSION;
    usize::try_from(fit).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_raised_to_the_hard_one_and_read_back() {
        let now = raise_to_hard().unwrap();
        let limit = get().unwrap();
        assert_eq!(now, limit.cur);
        assert_eq!(limit.cur, limit.max, "soft raised to hard");
        assert_eq!(sessions_within(64), 5);
        assert_eq!(sessions_within(10), 0);
    }
}
