//! The session driver: the socket side of a session. It reads control lines
//! under the idle timeout, hands each parsed command to `Session::handle`, and
//! does what the step says: send the reply, bind a passive listener, or make
//! the data connection and run the job on it. Every wait is bounded: the
//! control read by the idle timeout, data connections by the connect timeout,
//! transfers by the stall timeout.
//!
//! Replies are gathered and written together when the session is about to
//! wait on the client: before reading a control line it does not have yet,
//! before accepting a passive data connection, and before moving data. A
//! client that sends commands together (an MFMT and the next EPRT, ALLO and
//! STOR) so gets their replies in one segment, which on a busy machine saves
//! a wakeup per reply.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::checksums::{Ahead, Checksum, Turn};
use super::listings;
use super::proxy::{self, Origin};
use super::session::{Advertise, Job, Plan, Session, Step};
use super::watch::Watch;
use super::{lock, log, Config, Stops};
use crate::data::ascii::{ToLocal, ToNetwork};
use crate::data::block::BlockWriter;
use crate::data::{self, CopyError, Limit, Pace};
use crate::error::describe_io;
use crate::protocol::{self, Command, Line, Reply, MAX_LINE};

/// Runs one session on an accepted control connection until the client quits,
/// goes away, or stays idle too long. Never panics on client input.
pub(crate) fn serve(stream: Arc<TcpStream>, peer: SocketAddr, config: Arc<Config>, stops: Stops) {
    log(peer, "connected");
    let started = Instant::now();
    // The last line names the user too, as every line after the login does.
    let (who, ended) = match Driver::new(stream, peer, config, stops) {
        Ok(mut driver) => {
            let ended = driver.run();
            (driver.session.who(), ended)
        }
        Err(e) => (peer.to_string(), Err(e)),
    };
    match ended {
        Ok(()) => log(
            who,
            format_args!(
                "disconnected after {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        ),
        Err(e) => log(who, format_args!("disconnected: {}", describe_io(&e))),
    }
}

/// Transfers of at least this many bytes (or of an unknown size) are
/// watched for ABOR while they run.
const WATCHED: u64 = 1 << 20;

struct Driver {
    session: Session<TcpListener>,
    /// The control connection, shared with the line reader and the server's
    /// session table: one descriptor per session, not two (10,000 idle
    /// sessions fit in 10,000).
    ctrl: Arc<TcpStream>,
    /// Replies not yet written.
    out: Vec<u8>,
    config: Arc<Config>,
    peer: SocketAddr,
    stops: Stops,
    /// Whether nothing was waiting behind the command being run: only then
    /// may a STAT sent during its transfer be answered out of turn.
    caught_up: bool,
    /// The last transfer's checksum, read on the way for a checking client.
    ahead: Option<Ahead>,
    /// This session's own limit (`Session::rate`), kept from transfer to
    /// transfer so that a burst of short ones keeps to it too.
    limit: Option<Arc<Limit>>,
    /// In block mode, the data connection the last transfer left open.
    kept: Option<TcpStream>,
}

impl Driver {
    fn new(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        config: Arc<Config>,
        stops: Stops,
    ) -> io::Result<Driver> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(config.stall_timeout))?;
        // A line sent as urgent data (ABOR, STAT) arrives whole, in its place.
        data::urgent_inline(&stream)?;
        let local = data::canonical(stream.local_addr()?.ip());
        Ok(Driver {
            session: Session::new(Arc::clone(&config), peer, local),
            ctrl: stream,
            out: Vec::new(),
            peer,
            stops,
            caught_up: true,
            ahead: None,
            limit: None,
            kept: None,
            config,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut input = BufReader::with_capacity(
            MAX_LINE,
            Deadline {
                stream: Arc::clone(&self.ctrl),
                until: Instant::now(),
            },
        );
        // The greeting went already (`Server::seat`).
        // When the connection started waiting for a login: it gets the login
        // timeout from then in all, whatever it sends meanwhile (a NOOP a
        // second must not hold a seat for ever). REIN starts it again.
        let mut unlogged_since = Some(Instant::now());
        loop {
            let now = Instant::now();
            let idle = now + self.config.idle_timeout;
            let until = match self.session.logged_in() {
                true => {
                    unlogged_since = None;
                    idle
                }
                false => idle.min(*unlogged_since.get_or_insert(now) + self.config.login_timeout),
            };
            input.get_mut().until = until;
            if !input.buffer().contains(&b'\n') {
                self.flush()?;
            }
            if self.stops.closing.is_stopped() {
                return self.closing();
            }
            let line = match protocol::read_line(&mut input, MAX_LINE) {
                Ok(Line::Text(line)) => line,
                Ok(_) if self.stops.closing.is_stopped() => return self.closing(),
                Ok(Line::Eof) => return Ok(()),
                Ok(Line::TooLong) => {
                    self.session.log("closing: control line longer than 4 KiB");
                    self.send(&Reply::new(500, "Line too long; closing."))?;
                    return self.flush();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return self.timed_out();
                }
                Err(e) => return Err(e),
            };
            let commands = protocol::split_commands(&line);
            let last = commands.len().saturating_sub(1);
            for (i, command) in commands.into_iter().enumerate() {
                self.caught_up = i == last && input.buffer().is_empty();
                if self.execute(command, until)? == Ended::Yes {
                    return Ok(());
                }
            }
        }
    }

    /// Runs one control line to its end: parse, decide, wait out a login
    /// delay (no later than `until`, the session's own deadline: the login
    /// timeout counts through the delays too), and do the step. Apart from `run`, so that its temporaries
    /// (commands, steps, replies) are not in the frame every idle session
    /// keeps on its stack: inlined there, they took each idle session's
    /// stack a page further down (18 KiB of memory each instead of 14).
    #[inline(never)]
    fn execute(&mut self, line: &[u8], until: Instant) -> io::Result<Ended> {
        let line = protocol::strip_telnet(line);
        let command = match std::str::from_utf8(&line) {
            Ok(text) => protocol::pathname(text).parse::<Command>(),
            Err(_) => Err(Reply::new(501, "Commands must be UTF-8 (RFC 2640).")),
        };
        let upload = matches!(command, Ok(Command::Stor(_) | Command::Appe(_)));
        let mut step = match command {
            Ok(cmd) => self.session.handle(cmd),
            Err(reply) => Step::Reply(reply),
        };
        // Block mode's open connection goes with MODE S, and with a refused
        // upload: a client may have sent its blocks already, which must not
        // be taken for the next file's.
        if !self.session.block_mode() || (upload && matches!(step, Step::Reply(_))) {
            self.kept = None;
        }
        while let Step::Delay(..) = step {
            step = match step {
                Step::Delay(wait, next) => {
                    self.flush()?;
                    let left = until.saturating_duration_since(Instant::now());
                    if !self.stops.closing.sleep(wait.min(left)) {
                        self.closing()?;
                        return Ok(Ended::Yes);
                    }
                    if wait > left {
                        self.timed_out()?;
                        return Ok(Ended::Yes);
                    }
                    *next
                }
                done => done,
            };
        }
        match step {
            Step::Reply(reply) => self.send(&reply)?,
            Step::Close(reply) => {
                self.send(&reply)?;
                self.flush()?;
                return Ok(Ended::Yes);
            }
            Step::Status(arg, listing) => {
                self.flush()?;
                listings::write_status(&arg, listing, &mut &*self.ctrl)?;
            }
            Step::Tree(arg, walk) => {
                self.flush()?;
                listings::write_tree(&arg, walk, &mut &*self.ctrl)?;
            }
            Step::Listen(advertise) => self.listen(advertise)?,
            Step::Transfer(plan, job) => self.transfer(plan, job)?,
            Step::Checksum(job) => self.checksum(job)?,
            Step::Delay(..) => unreachable!("taken above"),
        }
        Ok(Ended::No)
    }

    /// The idle or login timeout ran out: says which and ends the session.
    #[cold]
    #[inline(never)]
    fn timed_out(&mut self) -> io::Result<()> {
        let what = match self.session.logged_in() {
            true => "Idle timeout",
            false => "Login timeout",
        };
        self.session
            .log(format_args!("closing: {}", what.to_lowercase()));
        self.send(&Reply::new(421, &format!("{what}; closing.")))?;
        self.flush()
    }

    /// The server is shutting down: says so and ends the session.
    fn closing(&mut self) -> io::Result<()> {
        self.session.log("closing: the server is shutting down");
        self.send(&Reply::new(421, "The server is shutting down; closing."))?;
        self.flush()
    }

    /// Adds a reply to those about to be written.
    fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.out.extend_from_slice(reply.to_string().as_bytes());
        Ok(())
    }

    /// Writes the gathered replies, in one write.
    fn flush(&mut self) -> io::Result<()> {
        let written = (&*self.ctrl).write_all(&self.out);
        self.out.clear();
        written
    }

    fn listen(&mut self, advertise: Advertise) -> io::Result<()> {
        let bound = self
            .passive_listener()
            .and_then(|l| Ok((l.local_addr()?.port(), l)));
        let reply = self.session.listening(advertise, bound);
        self.send(&reply)
    }

    /// A listener on the control connection's local address, on a port from
    /// `--passive-ports` if given.
    fn passive_listener(&self) -> io::Result<TcpListener> {
        let local = self.session.local;
        let Some((low, high)) = self.config.passive_ports else {
            return TcpListener::bind((local, 0));
        };
        // Start at a point that varies from call to call so that sessions spread out.
        let span = u32::from(high - low) + 1;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let start = (nanos ^ u32::from(self.peer.port())) % span;
        for i in 0..span {
            let port = low + ((start + i) % span) as u16;
            if let Ok(l) = TcpListener::bind((local, port)) {
                return Ok(l);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every passive port is taken",
        ))
    }

    /// Makes the data connection (or takes the one block mode kept open),
    /// says 150 (or 125), runs the job, and sends the final reply.
    fn transfer(&mut self, plan: Plan<TcpListener>, mut job: Job) -> io::Result<()> {
        let open = matches!(plan, Plan::Kept);
        let made = match (plan, self.kept.take()) {
            (Plan::Kept, Some(kept)) => Ok(kept),
            (Plan::Kept, None) => Err(Reply::new(
                425,
                "No data connection is open (block mode keeps one after a transfer that \
                 went well); send PORT, EPRT, PASV or EPSV.",
            )),
            (plan, _) => self.connect(plan),
        };
        let mut stream = match made {
            Ok(s) => s,
            Err(reply) => return self.send(&reply),
        };
        let block = self.session.block_mode();
        if block {
            // A file's last block goes at once, not behind the last file's ACK.
            stream.set_nodelay(true)?;
        }
        self.send(&job.opening(open))?;
        self.flush()?;
        let started = Instant::now();
        let abort = &self.stops.aborting;
        // A second handle in the server's table, so that stopping transfers
        // can close it under a copy blocked in the kernel.
        *lock(&self.stops.data) = stream.try_clone().ok();
        // A long transfer is watched for the client's ABOR meanwhile.
        let long = match &job {
            Job::Send { left, .. } => *left >= WATCHED,
            Job::Receive(upload) => upload.expected.is_none_or(|n| n >= WATCHED),
            Job::List { .. } => false,
        };
        let counted = Arc::new(AtomicU64::new(0));
        let watcher = match long {
            true => stream.try_clone().ok().and_then(|data| {
                let status = self.caught_up.then(|| job.status());
                let stop = move || drop(data.shutdown(std::net::Shutdown::Both));
                Watch::start(&self.ctrl, stop, Arc::clone(&counted), status)
            }),
            false => None,
        };
        // A checking client's download or new upload is read for its
        // checksum on the way, for the HASH it sends next.
        let peer = self.peer.ip();
        let mut ahead = self.session.checksum_ahead().and_then(|a| match &mut job {
            Job::Send {
                file, ascii: false, ..
            } if !Ahead::known(file, a) => Ahead::download(file, a, peer),
            // What a binary upload in stream mode writes into the file, it
            // tees into the checksum's tap. Others are read when asked.
            Job::Receive(upload) if upload.is_new_file() && !upload.ascii && !block => {
                Ahead::upload(a, peer)
            }
            _ => None,
        });
        let written = match &mut job {
            Job::Receive(upload) if ahead.is_some() => upload.file().try_clone().ok(),
            _ => None,
        };
        let count = &mut |n| counted.store(n, Ordering::Relaxed);
        if abort.is_stopped() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // The session's own limit (changed by a login), and the server's.
        let wanted = self.session.rate();
        if self.limit.as_ref().map(|l| l.rate()) != wanted {
            self.limit = wanted.map(Limit::new);
        }
        let pace = &Pace::new(
            self.limit
                .iter()
                .chain(&self.config.max_total_rate)
                .cloned(),
        );
        let moved = match &mut job {
            _ if block => blocks(&mut job, &stream, pace, abort, count),
            // TYPE A converts line ends on the way, so it cannot go zero-copy.
            Job::Send {
                file, ascii: true, ..
            } => data::copy(&mut ToNetwork::new(file), &mut stream, pace, abort, count),
            Job::Send { file, .. } => data::send_file(file, &mut stream, pace, abort, count),
            Job::Receive(upload) if upload.ascii => {
                let mut text = ToLocal::new(upload.file());
                let moved = data::copy(&mut stream, &mut text, pace, abort, count);
                let ended = text.finish().map_err(CopyError::Write);
                moved.and_then(|n| ended.map(|_| n))
            }
            Job::Receive(upload) => {
                // Many uploads at once: each thread wakes for 256 KiB, not
                // for every segment (a trickle is still read, at the
                // socket's timeout at worst, and its end at once).
                let _ = data::receive_low_water(&stream, 256 << 10);
                let tap = ahead.as_ref().and_then(Ahead::tap);
                data::receive_file(
                    &mut stream,
                    upload.file(),
                    u64::MAX,
                    tap,
                    pace,
                    abort,
                    count,
                )
            }
            Job::List {
                entries,
                format,
                prefix,
            } => listings::write(entries, *format, prefix, &mut stream).map_err(CopyError::Write),
        };
        // Stopping transfers closes the data connection, which an upload
        // without ALLO would read as its end: once stopped, it is not one.
        // An ABOR ended it (the data connection shut down under the copy):
        // an upload whose end was not announced must not pass for whole.
        let abored = watcher.is_some_and(Watch::stop);
        let moved = match moved {
            Ok(_) if abort.is_stopped() => Err(CopyError::Read(io::ErrorKind::Interrupted.into())),
            _ if abored => {
                let e = io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "aborted by the client (ABOR)",
                );
                // The data connection's side of the copy failed.
                Err(match &job {
                    Job::Send { .. } => CopyError::Write(e),
                    _ => CopyError::Read(e),
                })
            }
            moved => moved,
        };
        // Who closes first keeps the connection's TIME_WAIT: after an upload,
        // the client. A reset instead leaves none anywhere, but reaches a
        // client still reading the data connection as an error (Node's
        // libraries fail every upload on it). So a reset only after an
        // upload whose size was announced (ALLO) and came whole: the clients
        // that announce it (ours, lftp, ncftp) have closed the connection
        // by then; Node's never announce. Otherwise a plain close.
        // Block mode keeps the connection for the next transfer (below).
        let mut keep = None;
        match &job {
            _ if block => keep = Some(stream),
            Job::Receive(upload)
                if upload.expected.is_some() && moved.as_ref().ok() == upload.expected.as_ref() =>
            {
                data::close_received(stream)
            }
            _ => drop(stream),
        }
        drop(lock(&self.stops.data).take());
        self.stops.drained(moved.is_err() && abort.is_stopped());
        let bytes = moved.as_ref().ok().copied();
        let mut reply = self.session.finish(job, moved, started.elapsed(), abort);
        // Only after a transfer that went well is the connection where the
        // next file's blocks start; 250, not 226: it is not closed.
        if reply.code == 226 && keep.is_some() {
            reply.code = 250;
            self.kept = keep;
        }
        // An upload is whole once renamed into place, which `finish` did.
        if let (Some(a), Some(file), Some(len)) = (&mut ahead, &written, bytes) {
            a.whole(file, len);
        }
        self.ahead = ahead.filter(|_| reply.code == 226);
        self.send(&reply)
    }

    /// Computes a checksum: once it has a turn (a few at a time, see
    /// `checksums::Turn`), watched for ABOR when long, and sends its reply.
    fn checksum(&mut self, mut job: Checksum) -> io::Result<()> {
        self.flush()?;
        // Read beside the last transfer (and still reading, maybe: its wait
        // is watched for ABOR as a computation is), or remembered.
        let ahead = self.ahead.take().filter(|a| a.answers(&job));
        if ahead.is_none() {
            if let Some(hex) = job.recall() {
                return self.send(&job.reply(Ok(Some(hex))));
            }
        }
        let begun = std::time::SystemTime::now();
        // The reading beside a transfer holds a turn of its own.
        let turn = match ahead {
            Some(_) => None,
            None => match Turn::take(self.peer.ip(), self.config.stall_timeout) {
                Some(turn) => Some(turn),
                None => {
                    let why = "Too many checksums at once; try again later.";
                    return self.send(&Reply::new(450, why));
                }
            },
        };
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = (job.end - job.start >= WATCHED)
            .then(|| {
                let flag = Arc::clone(&stopped);
                let stop = move || flag.store(true, Ordering::SeqCst);
                let status = None::<fn(u64) -> Reply>;
                Watch::start(&self.ctrl, stop, Arc::new(AtomicU64::new(0)), status)
            })
            .flatten();
        let aborting = &self.stops.aborting;
        let stop = &|| stopped.load(Ordering::SeqCst) || aborting.is_stopped();
        let done = match ahead {
            Some(ahead) => ahead.finish(&job, stop),
            None => {
                let done = job.compute(stop);
                if let Ok(Some(hex)) = &done {
                    job.remember(hex, begun);
                }
                done
            }
        };
        watcher.map(Watch::stop);
        drop(turn);
        self.send(&job.reply(done))
    }

    /// Makes the data connection the plan names, within the connect timeout.
    fn connect(&mut self, plan: Plan<TcpListener>) -> Result<TcpStream, Reply> {
        let stream = match plan {
            Plan::Active(addr) => TcpStream::connect_timeout(&addr, self.config.connect_timeout),
            Plan::Kept => Err(io::ErrorKind::NotConnected.into()),
            Plan::Passive(listener) => {
                // The client dials once it has read the EPSV reply.
                self.flush().map_err(|e| Reply::new(425, &format!("{e}")))?;
                let session = &self.session;
                // Through a balancer, the data connection says whose it is too.
                let (proxies, within) = (&self.config.proxy_from, self.config.connect_timeout);
                let whose = |stream: &TcpStream, from: SocketAddr| match proxies.contains(from.ip())
                {
                    false => Some(from),
                    true => match proxy_header(&Arc::new(stream.try_clone().ok()?), within) {
                        Ok(client) => Some(client.unwrap_or(from)),
                        Err(bad) => {
                            session.log(format_args!("refused data connection from {from}: {bad}"));
                            None
                        }
                    },
                };
                data::accept_whose(
                    &listener,
                    self.peer.ip(),
                    self.config.connect_timeout,
                    &self.stops.aborting,
                    whose,
                    |stranger| {
                        session.log(format_args!(
                            "refused data connection from {stranger}: not this client"
                        ));
                    },
                )
            }
        };
        let stream = stream.map_err(|e| {
            self.session
                .log(format_args!("data connection failed: {}", describe_io(&e)));
            Reply::new(
                425,
                &format!("Cannot open the data connection: {}.", describe_io(&e)),
            )
        })?;
        let timeouts = stream
            .set_read_timeout(Some(self.config.stall_timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.config.stall_timeout)));
        timeouts
            .map_err(|e| Reply::new(425, &format!("Cannot set up the data connection: {e}.")))?;
        Ok(stream)
    }
}

/// Does `job` in block mode on `stream`, which stays open: a file or listing
/// sent as blocks ending with the end-of-file flag, an upload read to it.
fn blocks(
    job: &mut Job,
    stream: &TcpStream,
    pace: &Pace,
    abort: &crate::cancel::Cancel,
    count: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    match job {
        Job::Send {
            file, ascii: true, ..
        } => data::send_blocks(&mut ToNetwork::new(file), stream, pace, abort, count),
        Job::Send { file, .. } => data::send_blocks(file, stream, pace, abort, count),
        Job::Receive(upload) if upload.ascii => {
            let mut text = ToLocal::new(upload.file());
            let moved = data::receive_blocks(stream, &mut text, u64::MAX, pace, abort, count);
            let ended = text.finish().map_err(CopyError::Write);
            moved.and_then(|n| ended.map(|_| n))
        }
        Job::Receive(upload) => {
            data::receive_blocks(stream, upload.file(), u64::MAX, pace, abort, count)
        }
        Job::List {
            entries,
            format,
            prefix,
        } => {
            let mut output = BlockWriter::new(stream);
            let n = listings::write(entries, *format, prefix, &mut output);
            n.and_then(|n| output.finish().map(|()| n))
                .map_err(CopyError::Write)
        }
    }
}

/// Whether a control line ended the session.
#[derive(PartialEq, Eq)]
enum Ended {
    Yes,
    No,
}

/// Reads the PROXY protocol header a balancer's connection starts with,
/// within `within` in all: the real client's address, or `None` where the
/// header says to keep the connection's own (a health check).
pub(super) fn proxy_header(
    stream: &Arc<TcpStream>,
    within: Duration,
) -> Result<Option<SocketAddr>, proxy::Bad> {
    let mut input = Deadline {
        stream: Arc::clone(stream),
        until: Instant::now() + within,
    };
    match proxy::read_header(&mut input)? {
        Origin::Client { source, .. } => Ok(Some(SocketAddr::new(
            source.ip().to_canonical(),
            source.port(),
        ))),
        Origin::Own => Ok(None),
    }
}

/// The control connection's reader, with one deadline for a whole line, so a
/// client that trickles a byte at a time cannot hold a session past the idle
/// timeout.
struct Deadline {
    stream: Arc<TcpStream>,
    until: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&*self.stream).read(buf)
    }
}
