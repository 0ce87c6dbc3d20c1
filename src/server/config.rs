//! What a server is told at start: the shared root, its limits and timeouts,
//! and how passive mode is offered. Plain data, built by the `server` binary.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use super::door::Door;
use super::gate::Perms;
use super::proxy::Nets;
use crate::data::Limit;
use crate::fsys::Root;

/// Everything a session needs to know about the server it runs in.
#[derive(Debug, Clone)]
pub struct Config {
    /// The shared folder.
    pub root: Root,
    /// Refuse every command that changes the tree, whatever an account may do.
    pub read_only: bool,
    /// Who may log in, and with what permissions and root.
    pub door: Arc<Door>,
    /// Sessions at once; the next one is told 421 and closed.
    pub max_sessions: usize,
    /// Sessions at once from one address (rclone alone opens about 13).
    pub max_per_ip: usize,
    /// How long a connection may take to log in.
    pub login_timeout: Duration,
    /// How long a control connection may stay silent.
    pub idle_timeout: Duration,
    /// How long to wait for a data connection to be made (dialing back or accepting).
    pub connect_timeout: Duration,
    /// How long a transfer may go without moving a byte.
    pub stall_timeout: Duration,
    /// The ports passive listeners may use, inclusive; `None` for any free port.
    pub passive_ports: Option<(u16, u16)>,
    /// The address a PASV reply advertises, for a server behind NAT.
    pub public_address: Option<Ipv4Addr>,
    /// `--xferlog FILE`: every transfer also in wu-ftpd's xferlog format.
    pub xferlog: Option<Arc<super::log::Xferlog>>,
    /// `--proxy-from`: the load balancers whose connections start with a
    /// PROXY protocol header naming the real client (`server::proxy`).
    pub proxy_from: Nets,
    /// `--max-rate`: the most one session's transfers may move per second.
    pub max_rate: Option<u64>,
    /// `--max-total-rate`: the most all transfers together may move per second.
    pub max_total_rate: Option<Arc<Limit>>,
}

impl Config {
    /// The defaults for a root: anyone may log in and do anything, 64 sessions, 16 from one address, 30 s to log
    /// in, 300 s idle, 30 s to connect, 60 s stall.
    pub fn new(root: Root) -> Config {
        Config {
            root,
            read_only: false,
            door: Arc::new(Door::anonymous(Perms::all())),
            max_sessions: 64,
            max_per_ip: 16,
            login_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            passive_ports: None,
            public_address: None,
            xferlog: None,
            proxy_from: Nets::default(),
            max_rate: None,
            max_total_rate: None,
        }
    }
}
