//! Pipelined batches: many transfers and questions over one control
//! connection without a round trip per command. RFC 959 servers answer
//! commands in order, so every reply is matched with the job that asked for
//! it by counting. A job that fails (its data connection never coming after
//! the server said 150 included) is reported and the batch goes on; a broken
//! control dialogue ends the batch.
//!
//! How far ahead it sends: commands without data (MKD, DELE, MDTM) up to
//! `WINDOW` at a time. A transfer goes step by step, since servers that read
//! commands while a transfer runs act on them at once and answer out of
//! order: pyftpdlib answers an EPRT only once it has connected, after the
//! RETR sent behind it, and answers an EPRT sent behind a RETR before that
//! RETR's 226. So with such a server a transfer's EPRT (or EPSV) waits for
//! what was sent before it, its RETR (or ALLO and STOR) for the EPRT's reply,
//! and the next command for the final reply. A server known to take commands
//! strictly in order, transfers included (`Client::in_order`: ours and
//! vsftpd), gets each transfer's commands in one write and up to `AHEAD`
//! transfers before the first ends, so in active mode it goes from one
//! dial-back straight to the next: one round trip per download. Ours does
//! block mode too (`MODE B`): a session's files of up to `BLOCK_MAX` go over
//! one data connection, which the first opens and the rest follow on, an
//! upload's blocks right behind its STOR, so that no file waits for a
//! connection or a reply at all.
//!
//! So that one session's file work overlaps another's waits, big batches are
//! spread over up to 16 sessions, opened at once (`spread`), as
//! `lftp mirror --parallel=16` does. Each transfer has a listener of its own
//! in active mode: pyftpdlib dials at EPRT, so a transfer that then fails
//! would leave its connection waiting for the next one to accept.

use std::collections::VecDeque;
use std::fs::File;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use super::{interrupted, reported_bytes, Channel, Client, Flow, Side, Transfer};
use crate::data::{self, CopyError, Pace};
use crate::fsys::TempFile;
use crate::protocol::{parse_epsv_reply, parse_pasv_reply, Command, Reply};
use crate::time::Civil;
use crate::{Error, Result};

/// How many commands without data may be sent ahead of the replies being read:
/// as many as `--verify` checks at once in a mirror, so that a part's HASHes
/// cost one round trip (at 32, 256 of them took 8). Some 15 KiB of commands
/// and 26 KiB of replies, inside the smallest socket buffers Linux starts
/// with (16 KiB to send, 128 KiB to receive).
pub(super) const WINDOW: usize = 256;

/// The most sessions a spread batch uses, counting the one it starts from:
/// as many as rclone and `lftp mirror --parallel=16` open, and the server's
/// own default cap per address.
const SESSIONS: usize = 16;

/// A spread batch opens another session for each this many jobs: a new
/// session costs a few round trips (all of them at once), a job one or more.
const JOBS_PER_SESSION: usize = 4;

/// How many transfers may be asked for before the first of them ends, on a
/// server known to take commands strictly in order (`Client::in_order`):
/// enough that it never waits for the next request, few enough to hold few
/// listeners open.
const AHEAD: usize = 8;

/// The most listing text one folder may send (a million entries or so).
const MAX_LISTING: u64 = 64 << 20;

/// Files up to this size go in block mode where the server has it (ours):
/// all over one data connection, an upload's bytes right behind its STOR, so
/// that a file costs no connection of its own. Bigger ones go in stream
/// mode, each on a connection of its own, which moves them zero-copy.
const BLOCK_MAX: u64 = 1 << 20;

/// One unit of work in a batch.
pub enum Job {
    /// Download `remote` into `sink`; `size` is what the listing said, and
    /// more than that is refused.
    Get {
        remote: String,
        sink: TempFile,
        size: u64,
    },
    /// Upload `file` (`size` bytes) as `remote`, then set its time with MFMT.
    Put {
        file: File,
        remote: String,
        size: u64,
        time: Option<Civil>,
    },
    /// A listing command (MLSD or LIST), its text read whole.
    List(Command),
    /// A command without data (MKD, DELE, RMD, MDTM), and its good codes.
    Ask(Command, &'static [u16]),
}

/// What a job came to.
pub enum Done {
    /// The download, complete and checked, still under its temporary name.
    Got(TempFile, Transfer),
    Sent(Transfer),
    Listed(Vec<u8>),
    Answered(Reply),
}

/// What a batch tells its caller as it goes.
pub enum Event {
    /// Job `index` moved `bytes` so far.
    Progress(usize, u64),
    /// Job `index` ended.
    Finished(usize, Result<Done>),
    /// Something the user should know that is no job's result: the session
    /// went passive after active data connections failed.
    Note(String),
}

/// The extra sessions of one recursive transfer: opened when a batch is first
/// big enough for them, kept for the batches after it (each login costs the
/// server a password check), and closed when dropped.
#[derive(Default)]
pub struct Crew {
    others: Vec<Client>,
    /// The server turned one away, or it could not enter the folder: ask no more.
    full: bool,
}

impl Crew {
    /// Opens sessions like `main` (same login, same remote folder), all at
    /// once, until there are `count`; keeps those the server let in. One
    /// turned away (a per-address cap's 421, say) means ask no more.
    fn hire(&mut self, main: &mut Client, count: usize) -> Result<()> {
        let Ok(folder) = main.pwd() else {
            self.full = true;
            return Ok(());
        };
        let peer = main.ctrl.peer_addr()?;
        let (options, extended) = (&main.options, main.extended);
        let wanted = count.saturating_sub(self.others.len());
        let joined: Vec<Result<Client>> = thread::scope(|scope| {
            let joining: Vec<_> = (0..wanted)
                .map(|_| scope.spawn(|| Client::sibling(peer, options.clone(), &folder)))
                .collect();
            let joined = joining.into_iter().map(|j| j.join());
            joined
                .map(|j| j.unwrap_or_else(|_| Err(Error::Protocol("a login thread failed".into()))))
                .collect()
        });
        for other in joined {
            match other {
                Ok(mut other) => {
                    other.extended = extended;
                    self.others.push(other);
                }
                Err(_) => self.full = true,
            }
        }
        Ok(())
    }
}

impl Client {
    /// Another session to the server at `peer`, logged in as `options` say
    /// and in `folder`: with one flight of commands where the server takes
    /// commands in order (the login has worked once already, so nothing
    /// need wait on an answer), else step by step.
    fn sibling(
        peer: std::net::SocketAddr,
        options: super::Options,
        folder: &str,
    ) -> Result<Client> {
        let mut other = Client::reach(&peer.ip().to_string(), peer.port(), options, None)?;
        let (user, password) = (other.options.user.clone(), other.options.password.clone());
        match other.in_order {
            true => other.log_in_at_once(&user, &password, Some(folder))?,
            false => {
                other.log_in(&user, &password)?;
                other.cd(folder)?;
            }
        }
        Ok(other)
    }
}

impl Drop for Crew {
    /// Says goodbye on every session, then reads the answers: one round
    /// trip for all of them, not one each.
    fn drop(&mut self) {
        // The work is done; a failed goodbye changes nothing. A session out
        // of step (its reply never came) is just closed.
        self.others.retain(|other| !other.is_broken());
        for other in &mut self.others {
            let _ = other.send(&Command::Quit);
        }
        for mut other in self.others.drain(..) {
            let _ = other.reply();
        }
    }
}

/// A job whose first command is on its way: the channel command (EPRT,
/// PORT, EPSV or PASV) of a transfer, or the command of an `Ask`.
struct Flight {
    index: usize,
    job: Job,
    /// Where the server dials back for this transfer (active mode).
    listener: Option<TcpListener>,
    /// How many times this job's data connection has failed before.
    failures: u8,
    /// Whether the transfer's own commands (RETR, STOR...) went with its
    /// channel command, without waiting for that reply.
    sent: bool,
    /// Block mode: its data goes as blocks, on the connection this job's
    /// own channel makes and leaves open (`on_kept` false), or on the one
    /// left open before (`Client::kept`; no channel command then).
    framed: bool,
    on_kept: bool,
    /// An upload on the open connection: how writing its blocks, right
    /// behind its STOR, went.
    wrote: Option<std::result::Result<u64, CopyError>>,
}

/// How a flight came down.
enum Landing {
    /// The job's result, and the MFMT to send after an upload that landed.
    Done(Result<Done>, Option<Command>),
    /// Its data connection could not be made (nothing moved): the job, to
    /// try again, and why.
    Again(Job, Error),
    /// Sent for block mode's open connection, which was closed since (after
    /// another job failed): the job, to send again, no failure of its own.
    Resend(Job),
}

/// A reply the batch is owed, in the order the commands went out.
enum Owed {
    Job(Flight),
    /// The reply to an MFMT sent after an upload; only 421 matters.
    Quiet,
    /// The reply to MODE B (`true`) or MODE S.
    Mode(bool),
}

impl Client {
    /// Runs `jobs` in order, pipelined, and tells `events` how each went. A job
    /// that cannot be made (its local file, say) is reported as failed and not
    /// sent. Returns an error only when the batch had to stop.
    pub fn pipeline(
        &mut self,
        jobs: impl IntoIterator<Item = Result<Job>>,
        events: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let mut jobs = jobs.into_iter().enumerate();
        let mut owed: VecDeque<Owed> = VecDeque::new();
        let mut out = String::new();
        // A job whose data connection failed, with its failures so far.
        let mut again: Option<(usize, Job, u8)> = None;
        // Jobs that wait for block mode's connection to be made, or for the
        // downloads ahead of them to end before their blocks go.
        let mut held: VecDeque<(usize, Job, u8)> = VecDeque::new();
        loop {
            // Top up the window, then send it all in one write. Nothing goes
            // after a transfer until it is done, but to a server that takes
            // commands in order, which gets a transfer's commands in one go
            // and the next transfers' behind them.
            let transfer = |o: &Owed| matches!(o, Owed::Job(f) if !matches!(f.job, Job::Ask(..)));
            let ahead = if self.in_order { AHEAD } else { 1 };
            // After Ctrl-C nothing new goes out; what is owed is still read.
            while owed.len() < WINDOW
                && owed.iter().filter(|o| transfer(o)).count() < ahead
                && !self.options.cancel.is_stopped()
            {
                let (index, mut job, failures) = match again.take().or_else(|| held.pop_front()) {
                    Some(retry) => retry,
                    None => match jobs.next() {
                        None => break,
                        Some((index, Ok(job))) => (index, job, 0),
                        Some((index, Err(e))) => {
                            events(Event::Finished(index, Err(e)));
                            continue;
                        }
                    },
                };
                let framed = self.framed(&job);
                if self.waits(framed, &job, &owed) {
                    held.push_front((index, job, failures));
                    break;
                }
                if framed != self.block && !matches!(job, Job::Ask(..)) {
                    self.queue(&mut out, &Command::Mode(if framed { 'B' } else { 'S' }));
                    owed.push_back(Owed::Mode(framed));
                    (self.block, self.kept) = (framed, None);
                }
                let on_kept = framed && self.kept.is_some();
                let listener = match (&job, self.options.passive) {
                    (Job::Ask(..), _) | (_, true) => None,
                    _ if on_kept => None,
                    (_, false) => Some(self.data_listener()?),
                };
                let cmd = match (&job, &listener) {
                    _ if on_kept => None,
                    (Job::Ask(cmd, _), _) => Some(cmd.clone()),
                    (_, Some(l)) => Some(self.port_command(l)?),
                    (_, None) if self.extended => Some(Command::Epsv(None)),
                    (_, None) => Some(Command::Pasv),
                };
                if let Some(cmd) = cmd {
                    self.queue(&mut out, &cmd);
                }
                let sent = (self.in_order || on_kept) && !matches!(job, Job::Ask(..));
                if sent {
                    for cmd in transfer_commands(&mut job)? {
                        self.queue(&mut out, &cmd);
                    }
                }
                // An upload's blocks go right behind its STOR.
                let wrote = match (&mut job, on_kept) {
                    (Job::Put { file, .. }, true) => {
                        self.flush(&mut out)?;
                        Some(self.write_ahead(file, &mut |n| events(Event::Progress(index, n))))
                    }
                    _ => None,
                };
                owed.push_back(Owed::Job(Flight {
                    index,
                    job,
                    listener,
                    failures,
                    sent,
                    framed,
                    on_kept,
                    wrote,
                }));
            }
            self.flush(&mut out)?;
            let Some(next) = owed.pop_front() else {
                return Ok(());
            };
            let flight = match next {
                Owed::Quiet => {
                    self.reply()?;
                    if self.broken {
                        return Err(Error::Protocol("the server closed the session".into()));
                    }
                    continue;
                }
                Owed::Mode(framed) => {
                    let reply = self.reply()?;
                    if self.broken {
                        return Err(Error::Remote(reply));
                    }
                    // No block mode after all: the job behind it, which made
                    // its own channel, goes in stream mode, and so do the rest.
                    if framed && reply.code != 200 {
                        (self.blocks, self.block) = (false, false);
                    }
                    continue;
                }
                Owed::Job(flight) => flight,
            };
            let (index, failures) = (flight.index, flight.failures + 1);
            let landed = self.land(flight, events)?;
            for note in self.take_notes() {
                events(Event::Note(note));
            }
            let (result, mfmt) = match landed {
                Landing::Done(result, mfmt) => (result, mfmt),
                Landing::Resend(mut job) => {
                    // An upload goes again from its start.
                    if let Job::Put { file, .. } = &mut job {
                        std::io::Seek::rewind(file)?;
                    }
                    again = Some((index, job, failures - 1));
                    continue;
                }
                Landing::Again(job, e) => match super::retry(failures, self.options.passive) {
                    super::Retry::GiveUp => (Err(e), None),
                    retry => {
                        if let super::Retry::Passive = retry {
                            self.options.passive = true;
                            events(Event::Note(super::went_passive(&e)));
                        }
                        again = Some((index, job, failures));
                        continue;
                    }
                },
            };
            if let Some(cmd) = mfmt {
                self.queue(&mut out, &cmd);
                owed.push_back(Owed::Quiet);
            }
            events(Event::Finished(index, result));
        }
    }

    /// Runs the jobs `make` makes of the indices in `order`, over this
    /// session and up to `SESSIONS - 1` of `crew`'s (hired as needed), each
    /// taking every n-th. Works with fewer (or this one alone) when the server
    /// turns extra sessions away. Events, which name the jobs by their
    /// indices, arrive here, on this thread.
    pub fn spread(
        &mut self,
        crew: &mut Crew,
        order: &[usize],
        make: &(dyn Fn(usize) -> Result<Job> + Sync),
        events: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let count = order.len();
        let helpers = match self.active_alone && !self.options.passive {
            true => 0,
            false => SESSIONS.min(count.div_ceil(JOBS_PER_SESSION)).max(1) - 1,
        };
        if crew.others.len() < helpers && !crew.full {
            crew.hire(self, helpers)?;
        }
        let hired = helpers.min(crew.others.len());
        let others = &mut crew.others[..hired];
        let n = others.len() + 1;
        let (tx, rx) = mpsc::channel();
        let results = thread::scope(|scope| {
            let workers: Vec<_> = std::iter::once(self)
                .chain(others.iter_mut())
                .enumerate()
                .map(|(w, client)| {
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let jobs = (w..count).step_by(n).map(|k| make(order[k]));
                        client.pipeline(jobs, &mut |event| {
                            // The receiver lives until every worker is done.
                            let _ = tx.send(match event {
                                Event::Progress(k, bytes) => {
                                    Event::Progress(order[w + k * n], bytes)
                                }
                                Event::Finished(k, result) => {
                                    Event::Finished(order[w + k * n], result)
                                }
                                note => note,
                            });
                        })
                    })
                })
                .collect();
            drop(tx);
            for event in rx {
                events(event);
            }
            let joined = workers.into_iter().map(|w| w.join());
            joined.collect::<Vec<_>>()
        });
        for result in results {
            match result {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(())
    }

    /// Reads the replies to a transfer's own commands, sent with a channel
    /// command that failed: they can only be refusals.
    fn skip_replies(&mut self, job: &mut Job) -> Result<()> {
        for _ in transfer_commands(job)? {
            if self.reply()?.is_preliminary() {
                self.reply()?;
            }
        }
        Ok(())
    }

    /// Finishes a transfer's channel from the reply to its EPRT or EPSV: falls
    /// back to PORT or PASV where the server does not know those, and dials the
    /// passive port. The outer error ends the batch, the inner fails the job.
    fn channel(&mut self, reply: Reply, listener: Option<TcpListener>) -> Result<Result<Channel>> {
        let unknown = matches!(reply.code, 500 | 502) && self.extended && self.server.is_ipv4();
        if unknown {
            self.extended = false;
        }
        Ok(match (listener, reply.code) {
            (Some(l), 200) => Ok(Channel::Listening(l)),
            (Some(l), _) if unknown => match self.announce(&l) {
                Ok(()) => Ok(Channel::Listening(l)),
                Err(e) if self.no_active_mode(&e) => self.dial_passive().map(Channel::Connected),
                Err(e) => Err(e),
            },
            (None, 229) => self
                .dial(parse_epsv_reply(&reply.text()))
                .map(Channel::Connected),
            (None, _) if unknown => self.dial_passive().map(Channel::Connected),
            (None, 227) => {
                let port = reply.lines.iter().find_map(|l| parse_pasv_reply(l));
                self.dial(port.map(|a| a.port())).map(Channel::Connected)
            }
            _ => Err(Error::Remote(reply)),
        })
    }

    /// Whether `job` goes in block mode: a file of up to `BLOCK_MAX` bytes,
    /// in binary, to a server that has block mode and takes commands in order.
    fn framed(&self, job: &Job) -> bool {
        let small = match job {
            Job::Get { size, .. } | Job::Put { size, .. } => *size <= BLOCK_MAX,
            Job::List(_) | Job::Ask(..) => false,
        };
        small && self.blocks && self.in_order && !self.wire_ascii
    }

    /// Whether a transfer must wait for what is `owed` first, given whether
    /// it goes in block mode (`framed`). In block mode: for the connection
    /// to be made by a job still in flight (or made again, once the jobs
    /// sent for one that closed are back); an upload, for the downloads
    /// ahead of it, so that its blocks never fill the connection one way
    /// while the server's fill it the other. In stream mode: for the jobs
    /// still using block mode's connection, which MODE S would close.
    fn waits(&self, framed: bool, job: &Job, owed: &VecDeque<Owed>) -> bool {
        let flights = || {
            owed.iter().filter_map(|o| match o {
                Owed::Job(f) => Some(f),
                _ => None,
            })
        };
        let busy = || flights().any(|f| f.framed);
        match (framed, &self.kept) {
            (false, _) => self.block && !matches!(job, Job::Ask(..)) && busy(),
            (true, None) => busy(),
            (true, Some(_)) => {
                matches!(job, Job::Put { .. })
                    && flights().any(|f| f.framed && matches!(f.job, Job::Get { .. }))
            }
        }
    }

    /// Writes an upload's blocks on the open connection, right behind its
    /// STOR. A failure closes the connection (the server's copy fails
    /// with it).
    fn write_ahead(
        &mut self,
        file: &mut File,
        progress: &mut dyn FnMut(u64),
    ) -> std::result::Result<u64, CopyError> {
        let Some(stream) = &self.kept else {
            return Err(CopyError::Write(std::io::ErrorKind::NotConnected.into()));
        };
        let pace = Pace::new(self.options.limit_rate.clone());
        let written = data::send_blocks(file, stream, &pace, &self.options.cancel, progress);
        if written.is_err() {
            self.kept = None;
        }
        written
    }

    /// Reads one job's replies and moves its data. The outer error ends the
    /// batch; the landing is the job's.
    fn land(&mut self, flight: Flight, events: &mut dyn FnMut(Event)) -> Result<Landing> {
        if flight.on_kept {
            return self.land_on_kept(flight, events);
        }
        let Flight {
            index,
            mut job,
            listener,
            sent,
            framed,
            ..
        } = flight;
        let reply = match &listener {
            Some(_) => self.port_reply()?,
            None => self.reply()?,
        };
        if self.broken {
            return Err(Error::Remote(reply));
        }
        if let Job::Ask(_, ok) = job {
            let result = match ok.contains(&reply.code) {
                true => Ok(Done::Answered(reply)),
                false => Err(Error::Remote(reply)),
            };
            return Ok(Landing::Done(result, None));
        }
        if self.options.cancel.is_stopped() && !sent {
            // Ctrl-C: a transfer not yet asked for is not started, nor its
            // data connection dialed.
            return Ok(Landing::Done(Err(Error::Stopped), None));
        }
        // With the transfer asked for already, a channel that failed leaves
        // its replies to read (no fallback to PORT or PASV in between).
        let refused = sent && !matches!(reply.code, 200 | 227 | 229);
        let channel = match refused {
            true => Err(Error::Remote(reply)),
            false => self.channel(reply, listener)?,
        };
        let channel = match channel {
            Ok(channel) => channel,
            Err(e) => {
                if sent {
                    self.skip_replies(&mut job)?;
                }
                return Ok(match e.is_data_connection() {
                    true => Landing::Again(job, e),
                    false => Landing::Done(Err(e), None),
                });
            }
        };
        if !sent {
            let mut out = String::new();
            for cmd in transfer_commands(&mut job)? {
                self.queue(&mut out, &cmd);
            }
            self.flush(&mut out)?;
        }
        let (offset, reply) = self.opening(&mut job)?;
        if !reply.is_preliminary() {
            let e = Error::Remote(reply);
            return Ok(match e.is_data_connection() {
                true => Landing::Again(job, e),
                false => Landing::Done(Err(e), None),
            });
        }
        let stream = match self.finish_channel(channel) {
            Ok(stream) => Some(stream),
            Err(e) if self.broken => return Err(e),
            // Stopped: the user asked; anything else: the server never dialed.
            Err(Error::Stopped) => return Ok(Landing::Done(Err(Error::Stopped), None)),
            Err(e) => return Ok(Landing::Again(job, e)),
        };
        // The server took MODE B (its reply came first) or block mode is off.
        let framed = framed && self.blocks;
        self.carry(index, job, offset, stream, framed, None, events)
    }

    /// Reads the replies before a transfer's data (ALLO's, REST's and the
    /// 1xx or refusal), and says where the data starts: a download resumes
    /// its partial file (REST) where there is one and the server can.
    fn opening(&mut self, job: &mut Job) -> Result<(u64, Reply)> {
        let mut offset = match job {
            Job::Get { sink, .. } => std::io::Seek::stream_position(sink.file())?,
            _ => 0,
        };
        if let Job::Put { .. } = job {
            // Servers that do not know ALLO say so, and that is fine.
            self.reply()?;
        }
        if let (Job::Get { sink, .. }, true) = (&mut *job, offset > 0) {
            // A server that cannot restart sends the whole file: start over.
            if self.reply()?.code != 350 {
                sink.file().set_len(0)?;
                std::io::Seek::rewind(sink.file())?;
                offset = 0;
            }
        }
        let reply = self.reply()?;
        if self.broken {
            return Err(Error::Remote(reply));
        }
        Ok((offset, reply))
    }

    /// `land` for a job sent for block mode's open connection.
    fn land_on_kept(&mut self, flight: Flight, events: &mut dyn FnMut(Event)) -> Result<Landing> {
        let Flight {
            index,
            mut job,
            wrote,
            ..
        } = flight;
        let (offset, reply) = self.opening(&mut job)?;
        if !reply.is_preliminary() {
            // The server closes the connection on a refused upload (blocks
            // may be on their way), and had none for a 425.
            if matches!(job, Job::Put { .. }) || reply.code == 425 {
                self.kept = None;
            }
            return Ok(match reply.code {
                425 => Landing::Resend(job),
                _ => Landing::Done(Err(Error::Remote(reply)), None),
            });
        }
        // An upload's blocks went with its STOR: only its reply is left.
        let stream = match (&job, self.kept.take()) {
            (Job::Put { .. }, kept) if wrote.is_some() => {
                self.kept = kept;
                None
            }
            (_, Some(kept)) => Some(kept),
            (_, None) => {
                // Closed here since (a job before it failed): the server's
                // copy fails, and the job goes again.
                self.reply()?;
                if self.broken {
                    return Err(Error::Protocol("the server closed the session".into()));
                }
                return Ok(Landing::Resend(job));
            }
        };
        self.carry(index, job, offset, stream, true, wrote, events)
    }

    /// Moves a transfer's data on `stream` (in block mode if `framed`;
    /// an upload's blocks `wrote` already, maybe), reads its final reply,
    /// and checks what came.
    #[allow(clippy::too_many_arguments)]
    fn carry(
        &mut self,
        index: usize,
        mut job: Job,
        offset: u64,
        stream: Option<std::net::TcpStream>,
        framed: bool,
        wrote: Option<std::result::Result<u64, CopyError>>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Landing> {
        let started = Instant::now();
        let mut text = Vec::new();
        let progress = &mut |n| events(Event::Progress(index, n));
        let moved = match framed {
            true => self.block_flow(stream, &mut job, offset, wrote, progress),
            false => {
                let stream = stream.ok_or(Error::Protocol("no data connection".into()))?;
                let flow = match &mut job {
                    Job::Get { sink, size, .. } => {
                        Flow::Receive(sink.file(), *size - offset + 1, None)
                    }
                    Job::Put { file, .. } => Flow::Send(file),
                    Job::List(_) => Flow::Text(&mut text, MAX_LISTING + 1),
                    Job::Ask(..) => unreachable!("answered above"),
                };
                self.flow(stream, flow, progress)
            }
        };
        let (bytes, done) = match moved {
            Ok(moved) => moved,
            Err(e) => {
                // Stopped (Ctrl-C): what arrived stays as the partial
                // file, which the next run goes on from.
                if let (Job::Get { sink, .. }, Error::Stopped) = (job, &e) {
                    sink.keep()?;
                }
                match self.broken {
                    true => return Err(e),
                    false => return Ok(Landing::Done(Err(e), None)),
                }
            }
        };
        let transfer = Transfer {
            bytes,
            elapsed: started.elapsed(),
        };
        let (result, mfmt) = match job {
            Job::Get { sink, size, remote } => {
                let said = reported_bytes(&done.text());
                let result = if offset + bytes != size || said.is_some_and(|s| s != bytes) {
                    Err(Error::Protocol(format!(
                        "{remote}: received {bytes} bytes but the listing said {size}; it changed"
                    )))
                } else {
                    Ok(Done::Got(sink, transfer))
                };
                (result, None)
            }
            Job::Put {
                size, remote, time, ..
            } => {
                if bytes != size {
                    let e = format!("sent {bytes} bytes but the file has {size}; it changed");
                    return Ok(Landing::Done(Err(Error::Protocol(e)), None));
                }
                (
                    Ok(Done::Sent(transfer)),
                    time.map(|t| Command::Mfmt(t, remote)),
                )
            }
            Job::List(_) if bytes > MAX_LISTING => {
                (Err(Error::Protocol("the listing is too long".into())), None)
            }
            Job::List(_) => (Ok(Done::Listed(text)), None),
            Job::Ask(..) => unreachable!("answered above"),
        };
        Ok(Landing::Done(result, mfmt))
    }

    /// A file's data in block mode on `stream`: an upload's blocks (unless
    /// they went with its STOR: `wrote`, and no stream is needed), or a
    /// download's read to its end-of-file block. The connection is kept for
    /// the next job only if the file ended where it should and the server
    /// said so; otherwise it is closed before the final reply is read, so
    /// the server's copy ends.
    fn block_flow(
        &mut self,
        stream: Option<std::net::TcpStream>,
        job: &mut Job,
        offset: u64,
        wrote: Option<std::result::Result<u64, CopyError>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(u64, Reply)> {
        let side = match job {
            Job::Get { .. } => Side::Read,
            _ => Side::Write,
        };
        let (moved, keep) = match (wrote, stream) {
            (Some(wrote), _) => (wrote, self.kept.take()),
            (None, Some(stream)) => {
                let most = match job {
                    Job::Get { size, .. } => *size - offset,
                    _ => u64::MAX,
                };
                let moved = self.block_data(&stream, job, offset, progress);
                // In step only where the file's end-of-file block was read
                // (or sent).
                let in_step = matches!(moved, Ok(n) if n <= most);
                (moved, in_step.then_some(stream))
            }
            (None, None) => return Err(Error::Protocol("no data connection".into())),
        };
        let stopped = self.stop_if_asked(&moved)?;
        let done = self.finished();
        self.after_stop(stopped)?;
        if done.is_ok() {
            self.kept = keep;
        }
        let bytes = moved.map_err(|e| interrupted(e, side))?;
        Ok((bytes, done?))
    }

    /// Moves a file's blocks on `stream`: an upload's, or a download's to
    /// its end-of-file block, or to one byte past its size (the file
    /// changed: `carry` says so, and the connection is out of step).
    fn block_data(
        &mut self,
        stream: &std::net::TcpStream,
        job: &mut Job,
        offset: u64,
        progress: &mut dyn FnMut(u64),
    ) -> std::result::Result<u64, CopyError> {
        // A file's last block goes at once, not behind the last file's ACK.
        stream.set_nodelay(true).map_err(CopyError::Write)?;
        let cancel = self.options.cancel.clone();
        let pace = Pace::new(self.options.limit_rate.clone());
        match job {
            Job::Put { file, .. } => data::send_blocks(file, stream, &pace, &cancel, progress),
            Job::Get { sink, size, .. } => {
                let limit = *size - offset + 1;
                data::receive_blocks(stream, sink.file(), limit, &pace, &cancel, progress)
            }
            _ => Err(CopyError::Read(std::io::Error::other(
                "only files go in block mode",
            ))),
        }
    }
}

/// The order in which to spread files of these `sizes`: those small enough
/// for block mode first, then the bigger ones, each kind as it came, so that
/// a session changes mode (and data connection) once, not at every big file.
pub fn small_first(sizes: impl Iterator<Item = u64>) -> Vec<usize> {
    let mut order: Vec<(bool, usize)> =
        sizes.enumerate().map(|(i, s)| (s > BLOCK_MAX, i)).collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

/// A transfer's own commands, after its channel command: REST (to resume a
/// partial file) and RETR, ALLO and STOR (ALLO is answered at once
/// everywhere, so STOR goes with it), or the listing command.
fn transfer_commands(job: &mut Job) -> Result<Vec<Command>> {
    Ok(match job {
        Job::Get { remote, sink, .. } => {
            let offset = std::io::Seek::stream_position(sink.file())?;
            let rest = (offset > 0).then_some(Command::Rest(offset));
            rest.into_iter()
                .chain([Command::Retr(remote.clone())])
                .collect()
        }
        Job::Put { remote, size, .. } => vec![Command::Allo(*size), Command::Stor(remote.clone())],
        Job::List(cmd) => vec![cmd.clone()],
        Job::Ask(..) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_go_first_each_kind_in_its_own_order() {
        let sizes = [5, 2 << 20, 7, BLOCK_MAX, 3 << 20, 0, BLOCK_MAX + 1];
        assert_eq!(small_first(sizes.into_iter()), [0, 2, 3, 5, 1, 4, 6]);
    }
}
