//! dialback: a file-transfer pair, `server` and `client`, over a strict subset
//! of FTP (RFC 959, with RFC 2428 EPRT/EPSV and RFC 3659 SIZE/REST/MDTM/MLSD).
//! A persistent control connection carries commands and replies; every
//! transfer gets its own short-lived data connection, which by default the
//! server dials back to the client (active mode).
//!
//! Standard library only, blocking `std::net`, one thread per session.
//! Out of scope: TLS (FTP sends passwords in clear: use accounts on trusted
//! networks or through an SSH tunnel), and block or compressed modes. TYPE A
//! converts line ends (`data::ascii`); every other type moves bytes as they are.

//!
//! Runs on Linux only: confinement is the kernel's (`openat2(2)` and the
//! `*at` calls, Linux 5.6 or later; see `fsys`), and transfers use
//! `sendfile(2)` and `splice(2)`. Elsewhere the crate refuses to compile, and
//! on an older kernel the server refuses to start, rather than run with
//! weaker checks.

// Unsafe code is allowed only in the small modules that make system calls std
// lacks, each behind a safe function: `fsys::at` (names below an open
// folder), `data::zerocopy`, `data::sockopt`, `digest::clmul` (carry-less multiply),
// `sha256::shani` (the CPU's SHA instructions), `server::service` (systemd
// sockets, dropping root), `server::fds` (descriptor
// limits), `signals` (Ctrl-C and SIGTERM) and `tty` (termios).
#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("dialback runs on Linux only: its confinement is Linux's openat2");

pub mod cancel;
pub mod cli;
pub mod client;
pub mod data;
pub mod digest;
pub mod error;
pub mod fsys;
pub mod glob;
pub mod listing;
pub mod password;
pub mod protocol;
pub mod server;
pub mod sha256;
pub mod signals;
pub mod time;
pub mod tty;
pub mod wait;

pub use error::{Error, Result};
