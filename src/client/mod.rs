//! The client library: connect and log in, then get, put and list over data
//! connections that the server dials back to (active, the default) or that we
//! dial (passive). Works against any FTP server that speaks the subset in
//! `protocol`. No terminal code here: progress goes to a callback and the
//! control dialogue to an optional observer.
//!
//! Beside it: the user's vocabulary (`words`, `units`) and the interpreter
//! that runs typed commands on a `Client` (`interp`).

pub mod console;
pub mod editor;
pub mod interp;
pub mod login;
pub mod pipeline;
pub mod ports;
pub mod tree;
pub mod units;
pub mod words;

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, PipeWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::data::ascii::{ToLocal, ToNetwork};
use crate::data::{self, CopyError, Follower, Limit, Pace};
use crate::digest::Algorithm;
use crate::fsys::{at, open_plain, Refusal, TempFile};
use crate::protocol::{
    parse_epsv_reply, parse_pasv_reply, read_line, Command, Line, Reply, MAX_LINE,
};
use crate::{Error, Result};

/// How the client behaves; `Options::default()` is what the `client` binary uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dial the server for data (EPSV, then PASV) instead of letting it dial back.
    pub passive: bool,
    pub user: String,
    pub password: String,
    /// How long to wait for a connection to be made, ours or the server's dial-back.
    pub connect_timeout: Duration,
    /// How long to wait for a reply, or for a transfer to move another byte.
    pub stall_timeout: Duration,
    /// What stops a wait or a transfer early (the terminal's Ctrl-C sets it);
    /// every session a client opens shares it.
    pub cancel: Cancel,
    /// ASCII mode (TYPE A) for single GETs and PUTs: text with its line ends
    /// converted. Mirrors (`-r`) stay byte for byte.
    pub ascii: bool,
    /// Check each single GET and PUT against the server's checksum (HASH).
    pub verify: bool,
    /// `--limit-rate`: the most every transfer of this client together may
    /// move per second (listings go free).
    pub limit_rate: Option<Arc<Limit>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            passive: false,
            user: "anonymous".to_string(),
            password: "dialback@".to_string(),
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            cancel: Cancel::new(),
            ascii: false,
            verify: false,
            limit_rate: None,
        }
    }
}

/// What a finished transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Progress callback: bytes so far, and the total when known.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// Which way a control line went, for the observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Sees every control line, for `-v`.
pub type Observer = Box<dyn FnMut(Direction, &str) + Send>;

/// Whether the server that greets so is known to act on commands strictly
/// in the order sent, a transfer's included, so that the next transfers may
/// be asked for before one ends (see `pipeline`): ours, and vsftpd (its
/// default banner). Tried and left out: proftpd 1.3.8, which stalled on the
/// second of two pipelined transfers, and pyftpdlib, which acts on an EPRT
/// at once and answers out of order.
fn takes_commands_in_order(greeting: &str) -> bool {
    greeting.starts_with("dialback ready") || greeting.contains("(vsFTPd ")
}

/// A logged-in control connection.
pub struct Client {
    ctrl: TcpStream,
    input: BufReader<Stoppable>,
    /// The server's address: data connections are accepted from it alone.
    server: IpAddr,
    options: Options,
    /// Whether the server may understand EPRT and EPSV; off after it says 500/502.
    extended: bool,
    /// Set once a control read or write fails: the dialogue is out of step for good.
    broken: bool,
    /// Whether the server has dialed back to us once (active mode works).
    dialed_back: bool,
    /// Whether the server's TYPE is A now (I after the login).
    wire_ascii: bool,
    observer: Option<Observer>,
    /// What FEAT said, once asked.
    features: Option<Vec<String>>,
    /// Lines for the user that are no command's result (the session went
    /// passive), until `take_notes`.
    notes: Vec<String>,
    /// Whether the note that the server has no HASH was made.
    said_no_hash: bool,
    /// The algorithm `--verify` chose with OPTS HASH, once chosen.
    verify_with: Option<Algorithm>,
    /// The algorithm the session's HASH answers in, once one was chosen
    /// with OPTS HASH (`--verify`, `--checksum` and `HASH remote algorithm`
    /// each choose theirs).
    hash_in: Option<Algorithm>,
    /// Whether the server is known to act on commands strictly in the order
    /// sent, a transfer's included (ours, by its greeting), so that the next
    /// transfers may be asked for before one ends.
    in_order: bool,
    /// Whether the server does block mode (MODE B: ours, by its greeting),
    /// until it says otherwise; batches of small files then go over one
    /// data connection (`pipeline`).
    blocks: bool,
    /// Whether the commands sent so far leave the server in block mode.
    block: bool,
    /// In block mode, the data connection the last transfer left open.
    kept: Option<TcpStream>,
    /// Whether the server's active mode works for one session at a time
    /// only (pyftpdlib 2.2, by its greeting), so that batches in active mode
    /// keep to this session. With several, its event loop at times loses a
    /// socket: a dial-back that connected is never answered, or another
    /// session's next command is never read.
    active_alone: bool,
}

/// Resolves `to` (a host and port, or an address) and connects to its first
/// address that answers within `timeout`. `cancel` ends the wait at once
/// with `Interrupted` (Ctrl-C's signal interrupts nothing here): std retries an interrupted name lookup or connect
/// inside, so both run on a thread of their own, left to end by itself (within
/// the lookup's and the connect's own timeouts) when nobody waits any more.
fn connect<A>(to: A, timeout: Duration, cancel: &Cancel) -> io::Result<TcpStream>
where
    A: ToSocketAddrs + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("connect".into())
        .spawn(move || {
            let addrs = match to.to_socket_addrs() {
                Ok(addrs) => addrs,
                Err(e) => return drop(tx.send(Err(e))),
            };
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for that host");
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(s) => return drop(tx.send(Ok(s))),
                    Err(e) => last = e,
                }
            }
            let _ = tx.send(Err(last));
        })?;
    loop {
        // The answer is taken the moment it comes; the cap only bounds how
        // late a signal is seen.
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(connected) => return connected,
            Err(_) if cancel.is_stopped() => return Err(io::ErrorKind::Interrupted.into()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other("the connecting thread died"))
            }
        }
    }
}

/// The control connection's reading side: a read that a signal interrupts
/// (Ctrl-C, which also sets the client's [`Cancel`]) while the client waits for a reply fails instead
/// of being retried, so a person need not wait out the stall timeout for a
/// server that does not answer. The reply is then lost and the dialogue out
/// of step: the client counts as broken. Replies that are already coming (an
/// aborted transfer's, say) are read as usual after a Ctrl-C; a second one
/// stops that wait too.
///
/// A whole reply must come within the stall timeout (`until`, set as each
/// reply is awaited), not each read of it: a server that drips a byte a
/// second would otherwise hold the client for ever.
struct Stoppable {
    stream: TcpStream,
    cancel: Cancel,
    until: Instant,
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the reply took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        match self.stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && self.cancel.is_stopped() => {
                Err(io::Error::other("interrupted"))
            }
            read => read,
        }
    }
}

/// How long the first dial-back of a session may take: past it, a firewall
/// or NAT is taken to be in the way, and the caller goes on passively.
pub const FIRST_DIAL_BACK: Duration = Duration::from_secs(5);

/// How long the client waits for the reply to an EPRT or PORT, not the
/// whole stall timeout. Some servers answer only once they have dialed back
/// (a firewall in the way then costs them their connect timeout), and
/// pyftpdlib 2.2, with several sessions at once, at times never answers a
/// dial-back that connected (its own timeout closes the session 30 s
/// later). Past this, the command stops with `NoDialBack`, and goes again
/// in passive mode on a new session, as lftp recovers by its timeout.
pub const DIAL_BACK_REPLY: Duration = Duration::from_secs(10);

/// The checksum of `file` from its start, in hex.
pub fn digest_of(file: &mut File, algorithm: Algorithm) -> Result<String> {
    use std::io::Seek;
    file.rewind()?;
    let len = file.metadata()?.len();
    let hex = crate::digest::of_reader(file, algorithm, len, &|| false)?;
    Ok(hex.unwrap_or_default())
}

/// Whether the server's HASH `reply` for `remote` gives `ours`, the
/// checksum in `algorithm` of what came or went: a mismatch is an error
/// that says both (the caller keeps nothing of the file).
fn agree(remote: &str, algorithm: Algorithm, ours: &str, reply: Reply) -> Result<()> {
    let text = reply.text();
    let theirs = match (reply.code, hash_reply(&reply)) {
        (213, Some((a, hex))) if a == algorithm => hex,
        (213, _) => return Err(Error::Protocol(format!("HASH answered {text:?}"))),
        _ => return Err(Error::Remote(reply)),
    };
    match ours == theirs {
        true => Ok(()),
        false => Err(Error::Protocol(format!(
            "{remote}: the {} checksums differ (here {ours}, there {theirs}); nothing was kept",
            algorithm.name()
        ))),
    }
}

/// The algorithm and checksum in a HASH reply (`213 SHA-256 0-5 hex
/// name`), the checksum in lowercase. The answer is the reply's last line:
/// proftpd's first says `Computing SHA-1 digest`.
pub fn hash_reply(reply: &Reply) -> Option<(Algorithm, String)> {
    let words: Vec<&str> = reply.lines.last()?.trim().splitn(4, ' ').collect();
    let algorithm = Algorithm::from_name(words.first()?)?;
    let hex = words.get(2)?;
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (algorithm, hex.to_ascii_lowercase()))
}

/// What a batch does with a transfer whose data connection failed.
#[derive(Debug, PartialEq)]
pub enum Retry {
    /// Try once more the same way, on a fresh connection.
    Again,
    /// Active mode failed twice: go passive for the rest of the session, and try.
    Passive,
    /// Report the file as failed and go on with the next.
    GiveUp,
}

/// The retry rule of mirrors and batches, as lftp's: after a transfer's
/// data connection failed `failures` times (1 or more), a fresh one; then,
/// in active mode, one in passive; then the file is given up.
pub fn retry(failures: u8, passive: bool) -> Retry {
    match (failures, passive) {
        (1, _) => Retry::Again,
        (2, false) => Retry::Passive,
        _ => Retry::GiveUp,
    }
}

/// The line that says a session went passive after `e`.
pub fn went_passive(e: &Error) -> String {
    format!("data connections failed twice in active mode ({e}): going on in passive mode")
}

/// A data connection being set up.
enum Channel {
    Listening(TcpListener),
    Connected(TcpStream),
}

impl Client {
    /// Connects to `host:port`, reads the greeting and logs in.
    pub fn connect(host: &str, port: u16, options: Options) -> Result<Client> {
        Client::connect_observed(host, port, options, None)
    }

    /// Like `connect`, with every control line passed to `observer` (for `-v`).
    pub fn connect_observed(
        host: &str,
        port: u16,
        options: Options,
        observer: Option<Observer>,
    ) -> Result<Client> {
        let mut client = Client::reach(host, port, options, observer)?;
        let (user, password) = (client.options.user.clone(), client.options.password.clone());
        client.log_in(&user, &password)?;
        Ok(client)
    }

    /// Connects and reads the greeting, without logging in (`log_in` does).
    pub fn reach(
        host: &str,
        port: u16,
        options: Options,
        observer: Option<Observer>,
    ) -> Result<Client> {
        let ctrl = connect(
            (host.to_string(), port),
            options.connect_timeout,
            &options.cancel,
        )
        .map_err(|source| match source.kind() {
            io::ErrorKind::Interrupted => Error::Stopped,
            _ => Error::Connect {
                addr: format!("{host}:{port}"),
                source,
            },
        })?;
        ctrl.set_nodelay(true)?;
        ctrl.set_read_timeout(Some(options.stall_timeout))?;
        ctrl.set_write_timeout(Some(options.stall_timeout))?;
        let server = data::canonical(ctrl.peer_addr()?.ip());
        let input = BufReader::new(Stoppable {
            stream: ctrl.try_clone()?,
            cancel: options.cancel.clone(),
            until: Instant::now() + options.stall_timeout,
        });
        let mut client = Client {
            ctrl,
            input,
            server,
            options,
            extended: true,
            broken: false,
            dialed_back: false,
            wire_ascii: false,
            observer,
            features: None,
            notes: Vec::new(),
            said_no_hash: false,
            verify_with: None,
            hash_in: None,
            in_order: false,
            blocks: false,
            block: false,
            kept: None,
            active_alone: false,
        };
        client.greet()?;
        Ok(client)
    }

    fn greet(&mut self) -> Result<()> {
        // 120 says "wait"; a server that keeps saying it gets the stall timeout in all.
        let deadline = Instant::now() + self.options.stall_timeout;
        let mut greeting = self.reply()?;
        while greeting.code == 120 {
            if Instant::now() >= deadline {
                return Err(Error::Protocol("the server never became ready".into()));
            }
            greeting = self.reply()?;
        }
        if greeting.code != 220 {
            return Err(Error::Remote(greeting));
        }
        self.in_order = takes_commands_in_order(&greeting.text());
        self.blocks = greeting.text().starts_with("dialback ready");
        self.active_alone = greeting.text().starts_with("pyftpdlib");
        Ok(())
    }

    /// Logs in as `user` (USER, PASS, then TYPE I). On a session already
    /// logged in, the server logs the last user out first, whatever the outcome.
    pub fn log_in(&mut self, user: &str, password: &str) -> Result<()> {
        // A new login starts the server's settings afresh, stream mode too.
        (self.block, self.kept) = (false, None);
        self.options.user = user.to_string();
        self.options.password = password.to_string();
        if self.in_order {
            return self.log_in_at_once(user, password, None);
        }
        let reply = self.expect(&Command::User(user.to_string()), &[230, 331])?;
        if reply.code == 331 {
            self.expect(&Command::Pass(password.to_string()), &[230, 202])?;
        }
        self.expect(&Command::Type('I'), &[200])?;
        Ok(())
    }

    /// Logs in with one flight of commands: USER, PASS, TYPE I, FEAT (whose
    /// answer is kept) and `cd` there, if given, without waiting on an answer in
    /// between, which only a server that takes commands in order is sent.
    /// A server that needed no password answers PASS with a complaint.
    fn log_in_at_once(&mut self, user: &str, password: &str, cd: Option<&str>) -> Result<()> {
        let mut flight = vec![
            Command::User(user.to_string()),
            Command::Pass(password.to_string()),
            Command::Type('I'),
            Command::Feat,
        ];
        flight.extend(cd.map(|f| Command::Cwd(f.to_string())));
        let mut out = String::new();
        for cmd in &flight {
            self.queue(&mut out, cmd);
        }
        self.flush(&mut out)?;
        let (user, pass) = (self.reply()?, self.reply()?);
        match (user.code, pass.code) {
            (230, _) | (331, 230 | 202) => {}
            (331, _) => return Err(Error::Remote(pass)),
            _ => return Err(Error::Remote(user)),
        }
        let typed = self.reply()?;
        if typed.code != 200 {
            return Err(Error::Remote(typed));
        }
        let features = self.reply()?;
        self.keep_features(&features);
        if cd.is_some() {
            let moved = self.reply()?;
            if !matches!(moved.code, 200 | 250) {
                return Err(Error::Remote(moved));
            }
        }
        Ok(())
    }

    /// Whether the control connection has failed (or the server closed the session),
    /// so that nothing more can be done on it.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether data connections are made by dialing the server.
    pub fn passive(&self) -> bool {
        self.options.passive
    }

    pub fn set_passive(&mut self, passive: bool) {
        self.options.passive = passive;
    }

    /// Checking single GETs and PUTs against the server's checksum on or off.
    pub fn set_verify(&mut self, verify: bool) {
        self.options.verify = verify;
    }

    /// The limit on what this client's transfers move per second.
    pub fn set_limit_rate(&mut self, limit: Option<Arc<Limit>>) {
        self.options.limit_rate = limit;
    }

    /// ASCII mode on or off for the next single GETs and PUTs.
    pub fn set_ascii(&mut self, ascii: bool) {
        self.options.ascii = ascii;
    }

    /// Tells the server TYPE A or TYPE I, if it has the other now.
    fn set_type(&mut self, ascii: bool) -> Result<()> {
        if self.wire_ascii != ascii {
            self.expect(&Command::Type(if ascii { 'A' } else { 'I' }), &[200])?;
            self.wire_ascii = ascii;
        }
        Ok(())
    }

    /// GET in ASCII mode: the text's CRLFs become LFs on the way into a
    /// temporary file, renamed into place once the server says 226. No size
    /// is checked: the wire's count is not the file's.
    fn get_text(&mut self, remote: &str, dest: &Path, progress: Progress) -> Result<Transfer> {
        let started = Instant::now();
        let (dir, name) = at::holder(dest)?;
        let mut sink = TempFile::partial(Arc::new(dir), &name, false)?;
        self.set_type(true)?;
        let channel = self.open_channel()?;
        let stream = self.start(&Command::Retr(remote.to_string()), channel)?;
        let mut text = ToLocal::new(sink.file());
        let moved = self.flow(stream, Flow::Text(&mut text, u64::MAX), &mut |n| {
            progress(n, None)
        });
        let ended = text.finish();
        let (bytes, _) = moved?;
        ended?;
        sink.commit()?;
        Ok(Transfer {
            bytes,
            elapsed: started.elapsed(),
        })
    }

    /// PUT in ASCII mode: the file's LFs go as CRLFs.
    fn put_text(&mut self, local: &Path, remote: &str, progress: Progress) -> Result<Transfer> {
        let started = Instant::now();
        let mut file = open_plain(local, OpenOptions::new().read(true))
            .map_err(|r| local_refusal(local, r))?;
        self.set_type(true)?;
        let channel = self.open_channel()?;
        let stream = self.start(&Command::Stor(remote.to_string()), channel)?;
        let mut text = ToNetwork::new(&mut file);
        let (bytes, _) = self.flow(stream, Flow::SendText(&mut text), &mut |n| {
            progress(n, None)
        })?;
        Ok(Transfer {
            bytes,
            elapsed: started.elapsed(),
        })
    }

    fn observe(&mut self, direction: Direction, line: &str) {
        if let Some(observer) = &mut self.observer {
            observer(direction, line);
        }
    }

    fn send(&mut self, cmd: &Command) -> Result<()> {
        let mut out = String::new();
        self.queue(&mut out, cmd);
        self.flush(&mut out)
    }

    /// Adds `cmd` to the commands about to be sent (shown to `-v` without
    /// its password).
    fn queue(&mut self, out: &mut String, cmd: &Command) {
        let line = cmd.to_string();
        match cmd {
            Command::Pass(_) => self.observe(Direction::Sent, "PASS ****"),
            _ => self.observe(Direction::Sent, &line),
        }
        out.push_str(&line);
        out.push_str("\r\n");
    }

    /// Sends the queued commands in one write.
    fn flush(&mut self, out: &mut String) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let sent = self.ctrl.write_all(out.as_bytes());
        out.clear();
        self.broken |= sent.is_err();
        Ok(sent?)
    }

    fn reply(&mut self) -> Result<Reply> {
        self.reply_within(self.options.stall_timeout)
    }

    /// `reply`, for a reply that must come within `limit`: past it, the
    /// dialogue is out of step for good.
    fn reply_within(&mut self, limit: Duration) -> Result<Reply> {
        self.input.get_mut().until = Instant::now() + limit;
        let reply = Reply::read(&mut self.input);
        self.broken |= reply.as_ref().map_or(true, |r| r.code == 421);
        if reply.is_err() && self.options.cancel.is_stopped() {
            return Err(Error::Stopped);
        }
        let reply = reply?;
        if self.observer.is_some() {
            let wire = reply.to_string();
            for line in wire.lines() {
                self.observe(Direction::Received, line);
            }
        }
        Ok(reply)
    }

    /// Reads one line of a reply that is read line by line (TREE's, which
    /// may be longer than any other).
    fn reply_line(&mut self) -> Result<String> {
        self.input.get_mut().until = Instant::now() + self.options.stall_timeout;
        let line = read_line(&mut self.input, MAX_LINE);
        let broken = |why: &str| Error::Protocol(why.to_string());
        let line = match line {
            Ok(Line::Text(bytes)) => return Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(Line::TooLong) => broken("reply line too long"),
            Ok(Line::Eof) => broken("the server closed the session"),
            Err(_) if self.options.cancel.is_stopped() => Error::Stopped,
            Err(e) => e.into(),
        };
        self.broken = true;
        Err(line)
    }

    /// Sends `cmd` and returns the reply, whatever it is.
    pub fn command(&mut self, cmd: &Command) -> Result<Reply> {
        self.send(cmd)?;
        self.reply()
    }

    /// Sends `cmd` and returns the reply if its code is one of `ok`.
    fn expect(&mut self, cmd: &Command, ok: &[u16]) -> Result<Reply> {
        let reply = self.command(cmd)?;
        if ok.contains(&reply.code) {
            Ok(reply)
        } else {
            Err(Error::Remote(reply))
        }
    }

    /// Reads a transfer's final reply and checks it says success.
    fn finished(&mut self) -> Result<Reply> {
        let reply = self.reply()?;
        match reply.code {
            226 | 250 => Ok(reply),
            _ => Err(Error::Remote(reply)),
        }
    }

    /// After a copy: if the cancel token stopped it, sends ABOR
    /// before the data connection is closed, so that every server, whether or
    /// not it watches for ABOR during a transfer, answers the transfer (426 or
    /// 226) and then the ABOR. Returns whether it did.
    fn stop_if_asked<T, E>(&mut self, copied: &std::result::Result<T, E>) -> Result<bool> {
        if copied.is_ok() || !self.options.cancel.is_stopped() {
            return Ok(false);
        }
        self.send(&Command::Abor)?;
        Ok(true)
    }

    /// Once the transfer's reply is read: after a stop, reads the ABOR's reply
    /// and fails with `Error::Stopped`.
    fn after_stop(&mut self, stopped: bool) -> Result<()> {
        if !stopped {
            return Ok(());
        }
        // Unless a second Ctrl-C gave up on the transfer's reply already.
        if !self.broken {
            self.reply()?;
        }
        Err(Error::Stopped)
    }

    /// The size of a remote file, `None` if the server does not do SIZE.
    pub fn size(&mut self, remote: &str) -> Result<Option<u64>> {
        let reply = self.command(&Command::Size(remote.to_string()))?;
        match reply.code {
            213 => reply
                .text()
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::Protocol(format!("SIZE answered {:?}", reply.text()))),
            500 | 502 | 504 => Ok(None),
            _ => Err(Error::Remote(reply)),
        }
    }

    /// Starts a data connection: a listener announced with EPRT/PORT, or a
    /// connection to the port EPSV/PASV names (always at the server's own address).
    fn open_channel(&mut self) -> Result<Channel> {
        // A single transfer goes in stream mode, on a connection of its own.
        if self.block {
            (self.block, self.kept) = (false, None);
            self.expect(&Command::Mode('S'), &[200])?;
        }
        if self.options.passive {
            return self.dial_passive().map(Channel::Connected);
        }
        let listener = self.data_listener()?;
        match self.announce(&listener) {
            Ok(()) => Ok(Channel::Listening(listener)),
            Err(e) if self.no_active_mode(&e) => self.dial_passive().map(Channel::Connected),
            Err(e) => Err(e),
        }
    }

    /// Whether `e`, the answer to EPRT and PORT, says the server has no
    /// active mode (aioftp: 502 to both); if so, the session goes passive
    /// and a note says so.
    fn no_active_mode(&mut self, e: &Error) -> bool {
        if !matches!(e, Error::Remote(r) if matches!(r.code, 500 | 502 | 504)) {
            return false;
        }
        self.options.passive = true;
        let line = format!("the server has no active mode ({e}): going on in passive mode");
        self.notes.push(line);
        true
    }

    /// The notes since last asked.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// A listener for the server's dial-back, on the control connection's local address.
    fn data_listener(&self) -> Result<TcpListener> {
        Ok(TcpListener::bind((self.ctrl.local_addr()?.ip(), 0))?)
    }

    /// The EPRT (or PORT) command that tells the server where `listener` is.
    fn port_command(&self, listener: &TcpListener) -> Result<Command> {
        let local = listener.local_addr()?;
        let addr = SocketAddr::new(data::canonical(local.ip()), local.port());
        Ok(match self.extended || addr.is_ipv6() {
            true => Command::Eprt(addr),
            false => Command::Port(addr),
        })
    }

    /// Tells the server to dial `listener` next: EPRT, or PORT if it does not know EPRT.
    fn announce(&mut self, listener: &TcpListener) -> Result<()> {
        let cmd = self.port_command(listener)?;
        self.send(&cmd)?;
        let reply = self.port_reply()?;
        match reply.code {
            200 => return Ok(()),
            500 | 502 if matches!(cmd, Command::Eprt(a) if a.is_ipv4()) => self.extended = false,
            _ => return Err(Error::Remote(reply)),
        }
        self.send(&self.port_command(listener)?)?;
        match self.port_reply()? {
            reply if reply.code == 200 => Ok(()),
            reply => Err(Error::Remote(reply)),
        }
    }

    /// The reply to an EPRT or PORT, within `DIAL_BACK_REPLY`; past it,
    /// `NoDialBack` (the dialogue is out of step).
    fn port_reply(&mut self) -> Result<Reply> {
        use io::ErrorKind::{TimedOut, WouldBlock};
        let limit = DIAL_BACK_REPLY.min(self.options.stall_timeout);
        self.reply_within(limit).map_err(|e| match e {
            // A socket's read timeout says WouldBlock.
            Error::Io(e) if matches!(e.kind(), WouldBlock | TimedOut) => Error::NoDialBack(limit),
            e => e,
        })
    }

    fn dial_passive(&mut self) -> Result<TcpStream> {
        let mut port = None;
        if self.extended {
            let reply = self.command(&Command::Epsv(None))?;
            match reply.code {
                229 => port = Some(parse_epsv_reply(&reply.text())),
                500 | 502 if self.server.is_ipv4() => self.extended = false,
                _ => return Err(Error::Remote(reply)),
            }
        }
        let port = match port {
            Some(p) => p,
            // Like curl, use the control connection's address, not the one PASV names,
            // which behind NAT is often unreachable (and could point anywhere).
            None => self
                .expect(&Command::Pasv, &[227])?
                .lines
                .iter()
                .find_map(|l| parse_pasv_reply(l))
                .map(|a| a.port()),
        };
        self.dial(port)
    }

    /// Connects to the server's `port` (from a passive reply) for data.
    ///
    /// A port that answers does so in well under a second, so the first
    /// second is waited here; only a port still silent then is waited for on
    /// `connect`'s thread, where a Ctrl-C stops the wait. A thread for every
    /// transfer cost 1,000 passive 1 KiB GETs about 15% (0.247 s against
    /// 0.287 s, medians of 7 interleaved runs); this way costs nothing (0.239
    /// s against 0.242 s, 9 runs).
    fn dial(&self, port: Option<u16>) -> Result<TcpStream> {
        let port = port.ok_or_else(|| Error::Protocol("no port in the passive reply".into()))?;
        let addr = SocketAddr::new(self.server, port);
        let timeout = self.options.connect_timeout;
        let first = timeout.min(Duration::from_secs(1));
        match TcpStream::connect_timeout(&addr, first) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut && first < timeout => {
                connect(addr, timeout - first, &self.options.cancel)
            }
            connected => connected,
        }
        .map_err(|source| Error::Connect {
            addr: addr.to_string(),
            source,
        })
    }

    /// Finishes a data connection after the server's 150: accept the dial-back
    /// from the server's address only, within the connect timeout. If that
    /// fails, the server's final reply is read so the control dialogue stays
    /// in step.
    fn finish_channel(&mut self, channel: Channel) -> Result<TcpStream> {
        let stream = match channel {
            Channel::Connected(s) => Ok(s),
            Channel::Listening(l) => {
                let (mut timeout, cancel) = (self.options.connect_timeout, &self.options.cancel);
                if !self.dialed_back {
                    timeout = timeout.min(FIRST_DIAL_BACK);
                }
                let accepted = data::accept_from(&l, self.server, timeout, cancel, |_| {});
                self.dialed_back |= accepted.is_ok();
                if accepted
                    .as_ref()
                    .is_err_and(|e| e.kind() == io::ErrorKind::TimedOut)
                    && !self.dialed_back
                {
                    self.broken = true;
                    return Err(Error::NoDialBack(timeout));
                }
                accepted
            }
        };
        let timeouts = |s: TcpStream| {
            s.set_read_timeout(Some(self.options.stall_timeout))?;
            s.set_write_timeout(Some(self.options.stall_timeout))?;
            Ok(s)
        };
        let stream = stream.and_then(timeouts);
        if stream.is_err() && self.options.cancel.is_stopped() {
            // Ctrl-C while the server dials back: its reply may be a while coming.
            self.broken = true;
            return Err(Error::Stopped);
        }
        if stream.is_err() {
            let _ = self.reply();
        }
        Ok(stream?)
    }

    /// Sends a transfer command on a prepared channel; returns the data stream
    /// once the server has said 150/125.
    fn start(&mut self, cmd: &Command, channel: Channel) -> Result<TcpStream> {
        self.send(cmd)?;
        // Until the server has dialed back once, a firewall may be in the way:
        // it gets `FIRST_DIAL_BACK`, not the whole connect timeout.
        let early = match &channel {
            Channel::Listening(listener) if !self.dialed_back => self.first_dial_back(listener)?,
            _ => None,
        };
        let reply = self.reply()?;
        if !reply.is_preliminary() {
            return Err(Error::Remote(reply));
        }
        match early {
            Some(stream) => {
                stream.set_read_timeout(Some(self.options.stall_timeout))?;
                stream.set_write_timeout(Some(self.options.stall_timeout))?;
                Ok(stream)
            }
            None => self.finish_channel(channel),
        }
    }

    /// Waits for whichever comes first after a transfer command in active
    /// mode: the server's dial-back (ours dials before it says 150), or a
    /// reply (others say 150 first, or refuse). Neither within
    /// `FIRST_DIAL_BACK`: the server cannot reach us, and the dialogue is
    /// left out of step (`NoDialBack`), for the caller to go on passively.
    fn first_dial_back(&mut self, listener: &TcpListener) -> Result<Option<TcpStream>> {
        let cancel = self.options.cancel.clone();
        let deadline = Instant::now() + FIRST_DIAL_BACK.min(self.options.connect_timeout);
        loop {
            let nap = Duration::from_millis(20);
            match data::accept_from(listener, self.server, nap, &cancel, |_| {}) {
                Ok(stream) => {
                    self.dialed_back = true;
                    return Ok(Some(stream));
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => {
                    self.broken = true;
                    return Err(match e.kind() {
                        io::ErrorKind::Interrupted => Error::Stopped,
                        _ => e.into(),
                    });
                }
            }
            if self.reply_waiting()? {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                self.broken = true;
                return Err(Error::NoDialBack(FIRST_DIAL_BACK));
            }
        }
    }

    /// Whether a reply (or the end of the connection) has arrived, without waiting.
    fn reply_waiting(&mut self) -> Result<bool> {
        if !self.input.buffer().is_empty() {
            return Ok(true);
        }
        self.ctrl.set_nonblocking(true)?;
        let peeked = self.ctrl.peek(&mut [0u8; 1]);
        self.ctrl.set_nonblocking(false)?;
        match peeked {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The one transfer step every GET, PUT, LIST and batch job takes once
    /// the server has said 150: moves the bytes as `flow` says, sends ABOR
    /// if the cancel token stopped the copy, closes the data connection the
    /// way its direction needs, and reads the final reply. Returns the bytes
    /// moved and that reply. Rate limits, checksums and retries belong here.
    ///
    /// Which failure is reported: a stop first; then, for a send, the
    /// server's reply (a full disk closes the data connection under our
    /// writes, and the reply says so), for a receive the copy's.
    fn flow(
        &mut self,
        mut stream: TcpStream,
        flow: Flow,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(u64, Reply)> {
        let cancel = &self.options.cancel.clone();
        let pace = &Pace::new(self.options.limit_rate.clone());
        let (moved, side) = match flow {
            Flow::Receive(file, limit, tap) => (
                data::receive_file(&mut stream, file, limit, tap, pace, cancel, progress),
                Side::Read,
            ),
            Flow::Send(file) => (
                data::send_file(file, &mut stream, pace, cancel, progress),
                Side::Write,
            ),
            Flow::SendText(input) => (
                data::copy(&mut &mut *input, &mut stream, pace, cancel, progress),
                Side::Write,
            ),
            Flow::Text(out, limit) => (
                data::copy_in(
                    &mut (&stream).take(limit),
                    out,
                    data::LISTING_CHUNK,
                    &Pace::default(),
                    cancel,
                    progress,
                ),
                Side::Read,
            ),
        };
        let stopped = self.stop_if_asked(&moved)?;
        match side {
            Side::Read => data::close_received(stream),
            Side::Write => data::end_sending(stream, stopped),
        }
        let done = self.finished();
        self.after_stop(stopped)?;
        match side {
            Side::Read => {
                let bytes = moved.map_err(|e| interrupted(e, side))?;
                Ok((bytes, done?))
            }
            Side::Write => {
                let done = done?;
                Ok((moved.map_err(|e| interrupted(e, side))?, done))
            }
        }
    }

    /// Downloads `remote` into `out` as it comes (standard output, a
    /// device): nothing to rename, so no temporary file. Fails if the byte
    /// count differs from SIZE.
    pub fn cat(
        &mut self,
        remote: &str,
        out: &mut dyn Write,
        progress: Progress,
    ) -> Result<Transfer> {
        self.set_type(false)?;
        let size = self.size(remote)?;
        let started = Instant::now();
        let channel = self.open_channel()?;
        let stream = self.start(&Command::Retr(remote.to_string()), channel)?;
        let limit = size.map_or(u64::MAX, |total| total + 1);
        let (bytes, _) = self.flow(stream, Flow::Text(out, limit), &mut |n| progress(n, size))?;
        match size {
            Some(total) if bytes != total => Err(Error::Protocol(format!(
                "got {bytes} bytes of the {total} the server announced"
            ))),
            _ => Ok(Transfer {
                bytes,
                elapsed: started.elapsed(),
            }),
        }
    }

    /// Downloads `remote` to the file `dest`. The bytes go to a temporary file that
    /// becomes `dest` only when the byte count matches SIZE and the server's 226.
    /// With `resume`, an existing `dest` is continued from its end (REST) in place.
    pub fn get(
        &mut self,
        remote: &str,
        dest: &Path,
        resume: bool,
        progress: Progress,
    ) -> Result<Transfer> {
        if self.options.ascii && !resume {
            return self.get_text(remote, dest, progress);
        }
        self.set_type(false)?;
        let size = self.size(remote)?;
        let started = Instant::now();
        // Resuming continues the local file itself, or else what a killed download
        // of it left behind; a fresh download starts that partial file over.
        // Both happen in the open folder that holds `dest`, and neither goes
        // through a symlink: a link there is refused, never written through.
        let (dir, name) = at::holder(dest)?;
        let mut sink = match dir.stat(&name, false) {
            Ok(m) if resume && !m.is_dir() => Sink::InPlace(resumable(&dir, &name, dest)?),
            _ => Sink::Temp(TempFile::partial(Arc::new(dir), &name, resume)?),
        };
        let offset = sink.file().metadata()?.len();
        if let Some(total) = size {
            if offset > total {
                return Err(Error::Usage(format!(
                    "the local file is longer ({offset} bytes) than the remote one"
                )));
            }
            if resume && offset == total {
                if let Sink::Temp(t) = sink {
                    t.commit()?;
                }
                return Ok(Transfer {
                    bytes: 0,
                    elapsed: started.elapsed(),
                });
            }
        }
        let channel = self.open_channel()?;
        if offset > 0 {
            self.expect(&Command::Rest(offset), &[350])?;
        }
        // With --verify what arrives is checksummed on its way into the file.
        // Not a resumed download's first part: reading it could take longer
        // than the server waits for the transfer to go on, so the whole file
        // is read afterwards.
        let algorithm = self.verify_algorithm()?;
        let follower = match algorithm {
            Some(a) if offset == 0 => Some(Follower::tapped(a, ())?),
            _ => None,
        };
        let stream = self.start(&Command::Retr(remote.to_string()), channel)?;
        // One byte past the announced size is enough to know the server lies.
        let limit = size.map_or(u64::MAX, |total| total - offset + 1);
        let tap = follower.as_ref().and_then(Follower::tap);
        let flow = Flow::Receive(sink.file(), limit, tap);
        let moved = &mut |n| progress(offset + n, size);
        let (bytes, done) = match self.flow(stream, flow, moved) {
            // Stopped (Ctrl-C): what arrived stays as the resumable partial
            // file, as lftp keeps it; GET -c goes on from its end.
            Err(Error::Stopped) => match sink {
                Sink::Temp(t) => return Err(Error::Kept(t.keep()?)),
                Sink::InPlace(f) => return Err(Error::Kept(f.metadata()?.len())),
            },
            other => other?,
        };
        if let Some(total) = size {
            if offset + bytes > total {
                return Err(Error::Protocol(format!(
                    "the server sent more than the {total} bytes it announced"
                )));
            }
            if offset + bytes < total {
                return Err(Error::Protocol(format!(
                    "received {} bytes but the file has {total}",
                    offset + bytes
                )));
            }
        }
        if let Some(said) = reported_bytes(&done.text()) {
            if said != bytes {
                return Err(Error::Protocol(format!(
                    "received {bytes} bytes but the server says it sent {said}"
                )));
            }
        }
        if let Some(a) = algorithm {
            let follower = match follower {
                Some(f) => f,
                None => Follower::reading(sink.file().try_clone()?, a, offset + bytes, ())?,
            };
            // A mismatch drops the temporary file: nothing under `dest`.
            self.verify(remote, a, follower, offset + bytes)?;
        }
        if let Sink::Temp(t) = sink {
            t.commit()?;
        }
        Ok(Transfer {
            bytes,
            elapsed: started.elapsed(),
        })
    }

    /// The server's checksum of `remote` (HASH), in `algorithm` (chosen
    /// with OPTS HASH) or the server's own; `None` where the server has no
    /// HASH.
    pub fn checksum(
        &mut self,
        remote: &str,
        algorithm: Option<Algorithm>,
    ) -> Result<Option<(Algorithm, String)>> {
        if let Some(a) = algorithm {
            let reply = self.choose_hash(a)?;
            match reply.code {
                200 => {}
                500 | 502 if !self.has_hash()? => return Ok(None),
                _ => return Err(Error::Remote(reply)),
            }
        }
        let reply = self.command(&Command::Hash(remote.to_string()))?;
        match reply.code {
            213 => {}
            500 | 502 => return Ok(None),
            _ => return Err(Error::Remote(reply)),
        }
        let text = reply.text();
        match hash_reply(&reply) {
            Some(answer) => Ok(Some(answer)),
            None => Err(Error::Protocol(format!("HASH answered {text:?}"))),
        }
    }

    fn has_hash(&mut self) -> Result<bool> {
        Ok(self.features()?.iter().any(|f| f.starts_with("HASH")))
    }

    /// Checks the checksum `follower` computed of the first `len` bytes
    /// against the server's of `remote`.
    fn verify(
        &mut self,
        remote: &str,
        algorithm: Algorithm,
        follower: Follower,
        len: u64,
    ) -> Result<()> {
        let cancel = self.options.cancel.clone();
        let ours = follower.finish(len, &|| cancel.is_stopped())?;
        let ours = ours.ok_or(Error::Stopped)?;
        let reply = self.command(&Command::Hash(remote.to_string()))?;
        agree(remote, algorithm, &ours, reply)
    }

    /// The checksums the server's FEAT offers (its HASH line), each with
    /// whether it is the server's own (starred); none without HASH.
    fn offered_hashes(&mut self) -> Result<Vec<(Algorithm, bool)>> {
        Ok((self.features()?.iter())
            .filter_map(|f| f.strip_prefix("HASH "))
            .flat_map(|list| list.split(';'))
            .filter_map(|a| {
                let a = a.trim();
                Algorithm::from_name(a.trim_end_matches('*')).map(|x| (x, a.ends_with('*')))
            })
            .collect())
    }

    /// The checksum `--verify` uses: the fastest of those the server's FEAT
    /// offers (CRC-32 first, made for catching damage in transit), chosen
    /// once per connection with OPTS HASH; `None` if the server has no HASH.
    /// `None` too without `--verify`.
    fn verify_algorithm(&mut self) -> Result<Option<Algorithm>> {
        if !self.options.verify {
            return Ok(None);
        }
        if let Some(a) = self.verify_with {
            // Another command may have chosen another algorithm since.
            if self.hash_in.is_some_and(|now| now != a) {
                self.choose_hash(a)?;
            }
            return Ok(Some(a));
        }
        let offered = self.offered_hashes()?;
        let fastest = [
            Algorithm::Crc32,
            Algorithm::Sha256,
            Algorithm::Md5,
            Algorithm::Sha1,
            Algorithm::Sha512,
        ];
        let listed = |a: &Algorithm| offered.iter().any(|(x, _)| x == a);
        let Some(mut algorithm) = fastest.into_iter().find(listed) else {
            if !self.said_no_hash {
                self.said_no_hash = true;
                let line = "the server has no HASH: --verify checks sizes only";
                self.notes.push(line.to_string());
            }
            return Ok(None);
        };
        // A server that will not switch keeps its own, which HASH then uses.
        let chosen = self.choose_hash(algorithm)?;
        if chosen.code != 200 {
            let own = offered.iter().find(|(_, own)| *own).map(|(a, _)| *a);
            algorithm = own.ok_or(Error::Remote(chosen))?;
        }
        self.verify_with = Some(algorithm);
        Ok(self.verify_with)
    }

    /// Asks the server's HASH to answer in `algorithm` (OPTS HASH), and
    /// remembers it if the server agrees.
    fn choose_hash(&mut self, algorithm: Algorithm) -> Result<Reply> {
        let reply = self.command(&Command::Opts(format!("HASH {}", algorithm.name())))?;
        if reply.code == 200 {
            self.hash_in = Some(algorithm);
        }
        Ok(reply)
    }

    /// Uploads the file `local` as `remote`, announcing its size with ALLO first
    /// so the server can tell a complete upload from a broken one.
    pub fn put(&mut self, local: &Path, remote: &str, progress: Progress) -> Result<Transfer> {
        if self.options.ascii {
            return self.put_text(local, remote, progress);
        }
        self.set_type(false)?;
        let started = Instant::now();
        let mut file = open_plain(local, OpenOptions::new().read(true))
            .map_err(|r| local_refusal(local, r))?;
        let meta = file.metadata()?;
        let size = meta.len();
        // With --verify the file is read for its checksum while it is sent.
        let follower = match self.verify_algorithm()? {
            Some(a) => Some((a, Follower::reading(file.try_clone()?, a, size, ())?)),
            None => None,
        };
        let channel = self.open_channel()?;
        // Servers that do not know ALLO say so (502) or ignore it (202); both are fine.
        let allo = self.command(&Command::Allo(size))?;
        if allo.code == 421 {
            return Err(Error::Remote(allo));
        }
        let stream = self.start(&Command::Stor(remote.to_string()), channel)?;
        let (bytes, _) = self.flow(stream, Flow::Send(&mut file), &mut |n| {
            progress(n, Some(size))
        })?;
        if bytes != size {
            return Err(Error::Protocol(format!(
                "sent {bytes} bytes but the file has {size}; it changed while sending"
            )));
        }
        if let Some((a, follower)) = follower {
            if let Err(e) = self.verify(remote, a, follower, size) {
                // What arrived is not what was sent: it goes.
                let _ = self.delete(remote);
                return Err(e);
            }
        }
        Ok(Transfer {
            bytes,
            elapsed: started.elapsed(),
        })
    }

    /// Copies the listing of a folder whose path has a space to `out`, the
    /// way curl does: CWD into it, LIST, CWD back (pure-ftpd splits LIST's
    /// argument at spaces and lists nothing). A path CWD refuses (a file) is
    /// listed by name after all.
    pub fn list_spaced(&mut self, path: &str, out: &mut dyn Write) -> Result<u64> {
        let here = self.pwd()?;
        match self.cd(path) {
            Ok(_) => {
                let listed = self.list(None, false, out);
                self.cd(&here)?;
                listed
            }
            Err(Error::Remote(reply)) if reply.code == 550 => self.list(Some(path), false, out),
            Err(e) => Err(e),
        }
    }

    /// Copies the listing of `path` (LIST, or NLST with `names_only`) to `out`.
    pub fn list(
        &mut self,
        path: Option<&str>,
        names_only: bool,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let channel = self.open_channel()?;
        let arg = path.map(str::to_string);
        let cmd = if names_only {
            Command::Nlst(arg)
        } else {
            Command::List(arg)
        };
        let stream = self.start(&cmd, channel)?;
        let (bytes, _) = self.flow(stream, Flow::Text(out, u64::MAX), &mut |_| {})?;
        Ok(bytes)
    }

    /// Changes the remote folder.
    pub fn cd(&mut self, path: &str) -> Result<Reply> {
        self.expect(&Command::Cwd(path.to_string()), &[200, 250])
    }

    /// Makes a remote folder.
    pub fn mkdir(&mut self, path: &str) -> Result<Reply> {
        self.expect(&Command::Mkd(path.to_string()), &[257])
    }

    /// Removes an empty remote folder.
    pub fn rmdir(&mut self, path: &str) -> Result<Reply> {
        self.expect(&Command::Rmd(path.to_string()), &[250])
    }

    /// Deletes a remote file.
    pub fn delete(&mut self, path: &str) -> Result<Reply> {
        self.expect(&Command::Dele(path.to_string()), &[250])
    }

    /// Renames a remote file or folder: RNFR, then RNTO.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<Reply> {
        self.expect(&Command::Rnfr(from.to_string()), &[350])?;
        self.expect(&Command::Rnto(to.to_string()), &[250])
    }

    /// The remote folder, as the server quotes it in its 257 reply.
    pub fn pwd(&mut self) -> Result<String> {
        let reply = self.expect(&Command::Pwd, &[257])?;
        let text = reply.text();
        Ok(unquote(&text).unwrap_or(text))
    }

    /// Says goodbye; the connection closes either way.
    pub fn quit(mut self) -> Result<()> {
        self.expect(&Command::Quit, &[221]).map(|_| ())
    }
}

enum Sink {
    Temp(TempFile),
    InPlace(File),
}

impl Sink {
    fn file(&mut self) -> &mut File {
        match self {
            Sink::Temp(t) => t.file(),
            Sink::InPlace(f) => f,
        }
    }
}

/// The local file `name` in `dir`, opened to go on at its end: only a plain
/// file of ours with no other name, and never through a symlink.
fn resumable(dir: &at::Dir, name: &std::ffi::OsStr, shown: &Path) -> Result<File> {
    let refused = |why: &str| Error::Usage(format!("{}: {why}; not resumed", shown.display()));
    let file = dir
        .open_name(name, at::Mode::Append)
        .map_err(|e| match e.raw_os_error() {
            Some(at::ELOOP) => refused("a symlink"),
            _ => local_refusal(shown, Refusal::from(e)),
        })?;
    match at::sole_own_file(&file.metadata()?) {
        true => Ok(file),
        false => Err(refused("not a plain file of ours with one name")),
    }
}

/// A local file that cannot be used, as an error that names it.
fn local_refusal(path: &Path, r: Refusal) -> Error {
    match r {
        Refusal::NotFound => Error::Usage(format!("{}: no such local file", path.display())),
        other => Error::Usage(format!("{}: {other}", path.display())),
    }
}

/// What moves on a data connection, for [`Client::flow`].
enum Flow<'a> {
    /// Into the file at its position, at most this many bytes, and into
    /// the tap if there is one.
    Receive(&'a mut File, u64, Option<&'a PipeWriter>),
    /// The file from its position to its end.
    Send(&'a mut File),
    /// Text (a listing) into a writer, at most this many bytes.
    Text(&'a mut dyn Write, u64),
    /// From a reader to its end (text converted on the way).
    SendText(&'a mut dyn Read),
}

/// Which side of a copy is the data connection.
#[derive(Clone, Copy)]
enum Side {
    Read,
    Write,
}

/// A failed copy as an error: a failure on the data connection interrupted the
/// transfer; one on the local side is the local file's problem.
fn interrupted(e: CopyError, network: Side) -> Error {
    match (e, network) {
        (CopyError::Read(e), Side::Read) | (CopyError::Write(e), Side::Write) => Error::Protocol(
            format!("transfer interrupted: {}", crate::error::describe_io(&e)),
        ),
        (CopyError::Read(e) | CopyError::Write(e), _) => Error::Io(e),
    }
}

/// The byte count a 226 reply states, as in `226 Transfer complete: 1234 bytes.`
pub fn reported_bytes(text: &str) -> Option<u64> {
    let at = text.find(" bytes")?;
    let digits = &text[..at];
    let start = digits
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    digits[start..].parse().ok()
}

/// The pathname in a 257 reply: `"/a ""b"""` is `/a "b"` (RFC 959 Appendix II).
pub fn unquote(text: &str) -> Option<String> {
    let rest = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_are_read_from_final_replies() {
        assert_eq!(reported_bytes("Transfer complete: 1234 bytes."), Some(1234));
        assert_eq!(reported_bytes("Transfer complete."), None);
        assert_eq!(reported_bytes("Sent 0 bytes"), Some(0));
    }

    #[test]
    fn quoted_pathnames_are_unquoted() {
        assert_eq!(
            unquote("\"/a \"\"b\"\"\" is the current folder."),
            Some("/a \"b\"".into())
        );
        assert_eq!(unquote("\"/\""), Some("/".into()));
        assert_eq!(unquote("no quotes"), None);
    }
}
