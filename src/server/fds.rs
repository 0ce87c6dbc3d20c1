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

/// Descriptors a transfer takes beside its session's control connection: the
/// data connection, the file, the two ends of the splice pipe, and a passive
/// listener.
pub const PER_TRANSFER: u64 = 5;

/// Descriptors kept for the rest: stdio, listeners, the sweep, the users file,
/// the accept loops' spares.
pub const RESERVE: u64 = 32;

/// How many sessions `limit` descriptors fit. A session holds one (its
/// control connection); a quarter of what is left, up to 256 transfers'
/// worth, stays free for transfers. A transfer that finds none left fails
/// with its reply (425, 550, 451), and its session goes on.
pub fn sessions_within(limit: u64) -> usize {
    let free = limit.saturating_sub(RESERVE);
    let transfers = (free / 4).min(256 * PER_TRANSFER);
    usize::try_from(free - transfers).unwrap_or(usize::MAX)
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
        assert_eq!(sessions_within(64), 24);
        assert_eq!(sessions_within(20_000), 18_688);
        assert_eq!(sessions_within(10), 0);
    }
}
