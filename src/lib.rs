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

// Unsafe code is allowed in `zerocopy` alone, for its system calls.
#![deny(unsafe_code)]

pub mod client;
pub mod data;
pub mod error;
pub mod fsys;
pub mod protocol;
pub mod server;
mod session;
pub mod shell;
pub mod time;
mod zerocopy;

pub use error::{Error, Result};
