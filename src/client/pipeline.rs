//! Pipelined batches: many transfers and questions over one control
//! connection, with the commands of up to `WINDOW` jobs sent ahead instead of
//! one round trip per command. RFC 959 servers read commands in order and
//! answer each in turn, so every reply is matched with the job that asked for
//! it by counting. A job that fails is reported and the batch goes on; a
//! broken control dialogue, or a data connection that never comes after the
//! server said 150, ends the batch (the dialogue is out of step for good).
//!
//! Big batches can also be spread over a few sessions at once (`spread`), so
//! that one session's file work overlaps another's waits, as `lftp mirror
//! --parallel` does.
//!
//! The first job's data channel is set up alone, the way single transfers do
//! it (EPRT falling back to PORT, EPSV to PASV), so the rest know which
//! command the server takes. In active mode one listener serves the batch:
//! the server dials it once per job, in order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use super::{interrupted, reported_bytes, Client, Direction, Side, Transfer};
use crate::data;
use crate::fsys::TempFile;
use crate::protocol::{parse_epsv_reply, parse_pasv_reply, Command, Reply};
use crate::time::Civil;
use crate::{Error, Result};

/// How many jobs may be sent ahead of the one whose replies are being read:
/// a few KiB of commands, well inside any socket buffer.
const WINDOW: usize = 32;

/// The most sessions a spread batch uses, counting the one it starts from.
const SESSIONS: usize = 4;

/// A spread batch opens another session for each this many jobs.
const JOBS_PER_SESSION: usize = 16;

/// The most listing text one folder may send (a million entries or so).
const MAX_LISTING: u64 = 64 << 20;

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
}

/// A job whose commands are on their way.
struct Flight {
    index: usize,
    job: Job,
    /// The data connection, when it was made before sending (the first job in
    /// passive mode), or `None` with `announced` when the port is already set.
    stream: Option<TcpStream>,
    /// Whether the channel command was sent with the job (its reply is due).
    channel_sent: bool,
}

/// A reply the batch is owed, in the order the commands went out.
enum Owed {
    Job(Flight),
    /// The reply to an MFMT sent after an upload; only 421 matters.
    Quiet,
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
        let mut jobs = jobs.into_iter().enumerate().peekable();
        let listener = match self.options.passive {
            true => None,
            false => Some(self.data_listener()?),
        };
        let mut owed: VecDeque<Owed> = VecDeque::new();
        let mut out = String::new();
        let mut first = true;
        loop {
            // Top up the window, then send it all in one write.
            while owed.iter().filter(|o| matches!(o, Owed::Job(_))).count() < WINDOW {
                // The first channel is set up alone, so wait until nothing is owed.
                let channel = |j: &(usize, Result<Job>)| matches!(j, (_, Ok(job)) if !matches!(job, Job::Ask(..)));
                if first && !owed.is_empty() && jobs.peek().is_some_and(channel) {
                    break;
                }
                let Some((index, job)) = jobs.next() else {
                    break;
                };
                let job = match job {
                    Ok(job) => job,
                    Err(e) => {
                        events(Event::Finished(index, Err(e)));
                        continue;
                    }
                };
                let mut flight = Flight {
                    index,
                    job,
                    stream: None,
                    channel_sent: false,
                };
                if !matches!(flight.job, Job::Ask(..)) {
                    if first {
                        // Alone, with the fallbacks, before anything else is sent.
                        self.flush(&mut out)?;
                        match &listener {
                            Some(l) => self.announce(l)?,
                            None => flight.stream = Some(self.dial_passive()?),
                        }
                        first = false;
                    } else {
                        let cmd = match &listener {
                            Some(l) => self.port_command(l)?,
                            None if self.extended => Command::Epsv(None),
                            None => Command::Pasv,
                        };
                        self.queue(&mut out, &cmd);
                        flight.channel_sent = true;
                    }
                }
                match &flight.job {
                    Job::Get { remote, .. } => self.queue(&mut out, &Command::Retr(remote.clone())),
                    Job::Put { remote, size, .. } => {
                        self.queue(&mut out, &Command::Allo(*size));
                        self.queue(&mut out, &Command::Stor(remote.clone()));
                    }
                    Job::List(cmd) | Job::Ask(cmd, _) => self.queue(&mut out, &cmd.clone()),
                }
                owed.push_back(Owed::Job(flight));
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
                Owed::Job(flight) => flight,
            };
            let index = flight.index;
            let (result, mfmt) = self.land(flight, listener.as_ref(), events)?;
            if let Some(cmd) = mfmt {
                self.queue(&mut out, &cmd);
                owed.push_back(Owed::Quiet);
            }
            events(Event::Finished(index, result));
        }
    }

    /// Runs jobs `0..count`, made by `make`, over this session and up to
    /// `SESSIONS - 1` more logged in the same way and in the same remote folder,
    /// each taking every n-th job. Works with fewer (or this one alone) when the
    /// server turns extra sessions away. Events arrive here, on this thread.
    pub fn spread(
        &mut self,
        count: usize,
        make: &(dyn Fn(usize) -> Result<Job> + Sync),
        events: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let wanted = SESSIONS.min(count.div_ceil(JOBS_PER_SESSION)).max(1);
        let mut others = Vec::new();
        if wanted > 1 {
            if let Ok(folder) = self.pwd() {
                let host = self.ctrl.peer_addr()?.ip().to_string();
                let port = self.ctrl.peer_addr()?.port();
                for _ in 1..wanted {
                    let Ok(mut other) = Client::connect(&host, port, self.options.clone()) else {
                        break;
                    };
                    if other.cd(&folder).is_err() {
                        break;
                    }
                    other.extended = self.extended;
                    others.push(other);
                }
            }
        }
        let n = others.len() + 1;
        let (tx, rx) = mpsc::channel();
        let results = thread::scope(|scope| {
            let workers: Vec<_> = std::iter::once(self)
                .chain(others.iter_mut())
                .enumerate()
                .map(|(w, client)| {
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let jobs = (w..count).step_by(n).map(make);
                        client.pipeline(jobs, &mut |event| {
                            // The receiver lives until every worker is done.
                            let _ = tx.send(match event {
                                Event::Progress(k, bytes) => Event::Progress(w + k * n, bytes),
                                Event::Finished(k, result) => Event::Finished(w + k * n, result),
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
        for other in others {
            // The work is done; a failed goodbye changes nothing.
            let _ = other.quit();
        }
        for result in results {
            match result {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(())
    }

    /// Adds `cmd` to the commands about to be sent.
    fn queue(&mut self, out: &mut String, cmd: &Command) {
        let line = cmd.to_string();
        self.observe(Direction::Sent, &line);
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

    /// Reads one job's replies and moves its data. The outer error ends the
    /// batch; the inner result is the job's. Also returns the MFMT to send
    /// after an upload that landed.
    fn land(
        &mut self,
        flight: Flight,
        listener: Option<&TcpListener>,
        events: &mut dyn FnMut(Event),
    ) -> Result<(Result<Done>, Option<Command>)> {
        let Flight {
            index,
            mut job,
            mut stream,
            channel_sent,
        } = flight;
        let mut failure = None;
        if channel_sent {
            let reply = self.reply()?;
            match (reply.code, listener) {
                (200, Some(_)) => {}
                (229, None) => stream = Some(self.dial(parse_epsv_reply(&reply.text()))?),
                (227, None) => {
                    let port = reply.lines.iter().find_map(|l| parse_pasv_reply(l));
                    stream = Some(self.dial(port.map(|a| a.port()))?);
                }
                _ => failure = Some(Error::Remote(reply)),
            }
        }
        if let Job::Put { .. } = job {
            // ALLO: servers that do not know it say so, and that is fine.
            self.reply()?;
        }
        let reply = self.reply()?;
        if self.broken {
            return Err(Error::Remote(reply));
        }
        if let Job::Ask(_, ok) = job {
            let result = match ok.contains(&reply.code) {
                true => Ok(Done::Answered(reply)),
                false => Err(Error::Remote(reply)),
            };
            return Ok((result, None));
        }
        if !reply.is_preliminary() {
            return Ok((Err(failure.unwrap_or(Error::Remote(reply))), None));
        }
        let mut stream = match (stream, listener) {
            (Some(s), _) => s,
            (None, Some(l)) => {
                let s = data::accept_from(l, self.server, self.options.connect_timeout, |_| {});
                s.inspect_err(|_| self.broken = true)?
            }
            (None, None) => {
                self.broken = true;
                return Err(Error::Protocol(
                    "the server said 150 without a channel".into(),
                ));
            }
        };
        stream.set_read_timeout(Some(self.options.stall_timeout))?;
        stream.set_write_timeout(Some(self.options.stall_timeout))?;
        let started = Instant::now();
        let progress = &mut |n| events(Event::Progress(index, n));
        let (moved, side) = match &mut job {
            Job::Get { sink, size, .. } => (
                data::receive_file(&mut stream, sink.file(), *size + 1, progress),
                Side::Read,
            ),
            Job::Put { file, .. } => {
                let sent = data::send_file(file, &mut stream, progress);
                let _ = stream.shutdown(Shutdown::Write);
                (sent, Side::Write)
            }
            Job::List(_) => {
                let mut text = Vec::new();
                let read = data::copy(&mut (&stream).take(MAX_LISTING + 1), &mut text, progress);
                let result = match read {
                    Ok(n) if n > MAX_LISTING => {
                        Err(Error::Protocol("the listing is too long".into()))
                    }
                    Ok(_) => Ok(Done::Listed(text)),
                    Err(e) => Err(interrupted(e, Side::Read)),
                };
                drop(stream);
                return Ok((self.finished().and(result), None));
            }
            Job::Ask(..) => unreachable!("answered above"),
        };
        drop(stream);
        // The server's final word first: it says why a copy broke off.
        let done = match self.finished() {
            Ok(done) => done,
            Err(e) => return Ok((Err(e), None)),
        };
        let bytes = match moved {
            Ok(n) => n,
            Err(e) => return Ok((Err(interrupted(e, side)), None)),
        };
        let transfer = Transfer {
            bytes,
            elapsed: started.elapsed(),
        };
        Ok(match job {
            Job::Get { sink, size, remote } => {
                let said = reported_bytes(&done.text());
                let result = if bytes != size || said.is_some_and(|s| s != bytes) {
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
                    return Ok((Err(Error::Protocol(e)), None));
                }
                (
                    Ok(Done::Sent(transfer)),
                    time.map(|t| Command::Mfmt(t, remote)),
                )
            }
            Job::List(_) | Job::Ask(..) => unreachable!("returned above"),
        })
    }
}
