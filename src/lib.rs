//! dialback: a file-transfer pair, `server` and `client`, over a strict subset
//! of FTP (RFC 959, with RFC 2428 EPRT/EPSV and RFC 3659 SIZE/REST/MDTM/MLSD).
//! A persistent control connection carries commands and replies; every
//! transfer gets its own short-lived data connection, which by default the
//! server dials back to the client (active mode).
//!
//! Standard library only, blocking `std::net`, one thread per session.
//! Out of scope: TLS, accounts and passwords on the server (it is anonymous,
//! like a public FTP folder), ASCII conversion (every TYPE moves bytes as
//! they are), and block or compressed modes.

//!
//! Runs on Linux only: confinement reads `/proc/self/fd` to check what an open
//! file really is (and refuses the file when it cannot), and transfers use
//! `sendfile(2)` and `splice(2)`. Elsewhere the crate refuses to compile rather than run with
//! weaker checks.

// Unsafe code is allowed in `data::zerocopy` alone, for its system calls.
#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("dialback runs on Linux only: its confinement checks need /proc/self/fd");

pub mod cli;
pub mod client;
pub mod data;
pub mod error;
pub mod fsys;
pub mod glob;
pub mod password;
pub mod protocol;
pub mod server;
pub mod time;

pub use error::{Error, Result};
