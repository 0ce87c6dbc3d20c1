//! The crate's one error type. Each variant says in words what went wrong, so a
//! user reading `error: ...` on the client's stderr knows what happened without
//! knowing FTP; where the server refused something its reply is kept inside.

use std::fmt;
use std::io;

use crate::protocol::{Reply, WireError};

/// Everything that can go wrong in a client operation or a server session.
#[derive(Debug)]
pub enum Error {
    /// A socket or file operation failed.
    Io(io::Error),
    /// Connecting to `addr` failed.
    Connect { addr: String, source: io::Error },
    /// The server answered with a reply other than the ones expected.
    Remote(Reply),
    /// The peer broke the protocol: a malformed reply, a wrong byte count.
    Protocol(String),
    /// A local argument was wrong (an unusable file name, a bad port).
    Usage(String),
    /// Ctrl-C or SIGTERM stopped the command; its transfer was aborted (ABOR)
    /// and nothing partial was kept under the final name.
    Stopped,
    /// In active mode the server did not connect back within this long (a
    /// firewall or NAT in the way); the control dialogue is out of step.
    NoDialBack(std::time::Duration),
    /// Ctrl-C or SIGTERM stopped a download; what had arrived, this many
    /// bytes, is kept as its resumable partial file (`GET -c` goes on).
    Kept(u64),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether a transfer failed for want of its data connection, before any
    /// data moved: the server said 425, the passive port did not answer, or
    /// the dial-back did not come. Another try may well work.
    pub fn is_data_connection(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::NoDialBack(_) => true,
            Error::Remote(reply) => reply.code == 425,
            _ => false,
        }
    }
}

impl Error {
    /// Whether a connection (control or data, ours or a batch's other
    /// sessions') went away under a command: closed, reset, or 421.
    pub fn is_lost_connection(&self) -> bool {
        use io::ErrorKind::*;
        match self {
            Error::Io(e) => matches!(
                e.kind(),
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
            ),
            Error::Remote(reply) => reply.code == 421,
            _ => false,
        }
    }
}

/// Says an I/O failure in a few plain words, the way a person would.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".to_string(),
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::NotFound => "no such file or folder".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            "connection closed by the peer".to_string()
        }
        io::ErrorKind::UnexpectedEof => "connection closed unexpectedly".to_string(),
        // Only where no symlink may be followed (`fsys::at`): one was there.
        _ if e.raw_os_error() == Some(crate::fsys::at::ELOOP) => {
            "a symlink is in the way (never followed here)".to_string()
        }
        _ => {
            // std appends " (os error N)"; the words before it are what a person needs.
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => f.write_str(&describe_io(e)),
            Error::Connect { addr, source } => {
                write!(f, "cannot connect to {addr}: {}", describe_io(source))
            }
            Error::Remote(reply) => {
                let what = match reply.code {
                    421 => "the server closed the session",
                    425 => "the server could not open the data connection",
                    426 | 451 => "the transfer failed on the server",
                    452 => "the server's disk is full",
                    552 => "the server's storage allowance is used up",
                    530 => "not logged in",
                    500..=504 => "the server does not accept that command",
                    400..=499 => "the server cannot do it for now",
                    505..=599 => "refused by the server",
                    _ => "unexpected reply from the server",
                };
                write!(f, "{what}: {} {}", reply.code, reply.text())
            }
            Error::Protocol(msg) => write!(f, "protocol error: {msg}"),
            Error::Usage(msg) => f.write_str(msg),
            Error::Stopped => f.write_str("interrupted"),
            Error::NoDialBack(wait) => write!(
                f,
                "the server could not connect back within {} s (a firewall or NAT in the way?); try PASSIVE",
                wait.as_secs()
            ),
            Error::Kept(bytes) => write!(
                f,
                "interrupted; {} kept (GET -c goes on from there)",
                crate::client::units::human_bytes(*bytes)
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Connect { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Io(e) => Error::Io(e),
            WireError::Broken(what) => Error::Protocol(what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_words() {
        let e = Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(e.to_string(), "connection refused");
        let e = Error::Io(io::Error::from_raw_os_error(28));
        assert_eq!(e.to_string(), "no space left on device");
    }

    #[test]
    fn every_refusal_says_what_kind_it_is() {
        let says = |code, text| Error::Remote(Reply::new(code, text)).to_string();
        assert_eq!(
            says(452, "No space."),
            "the server's disk is full: 452 No space."
        );
        assert_eq!(
            says(450, "Busy."),
            "the server cannot do it for now: 450 Busy."
        );
        assert_eq!(
            says(553, "Bad name."),
            "refused by the server: 553 Bad name."
        );
        assert_eq!(
            says(220, "Hi."),
            "unexpected reply from the server: 220 Hi."
        );
    }

    #[test]
    fn remote_errors_keep_the_servers_words() {
        let e = Error::Remote(Reply::new(550, "No such file: a.txt"));
        assert_eq!(
            e.to_string(),
            "refused by the server: 550 No such file: a.txt"
        );
    }
}
