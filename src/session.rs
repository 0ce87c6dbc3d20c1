//! One server session: the control connection's read-parse-reply loop and the
//! state it keeps (login, current folder, the pending data channel, REST and
//! ALLO), and the transfers themselves. Every wait is bounded: the control read
//! by the idle timeout, data connections by the connect timeout, transfers by
//! the stall timeout.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Instant, SystemTime};

use crate::data::{self, CopyError};
use crate::error::describe_io;
use crate::fsys::{self, Refusal, VPath};
use crate::protocol::{self, format_port, Command, Line, Reply, MAX_LINE};
use crate::server::{log, Config};
use crate::time::Civil;

/// What FEAT advertises (RFC 2389): exactly what is implemented.
const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "MLST type*;size*;modify*;",
    "PASV",
    "REST STREAM",
    "SIZE",
    "UTF8",
];

/// How the next data connection will be made.
enum DataPlan {
    /// Dial back to this address (PORT, EPRT).
    Active(SocketAddr),
    /// Wait for the client on this listener (PASV, EPSV).
    Passive(TcpListener),
}

/// What the loop does after a command.
enum Flow {
    Continue,
    Close,
}

/// Runs one session on an accepted control connection until the client quits,
/// goes away, or stays idle too long. Never panics on client input.
pub fn serve(stream: TcpStream, peer: SocketAddr, config: &Config) {
    log(peer, "connected");
    let started = Instant::now();
    match Session::new(&stream, peer, config).and_then(|mut s| s.run(stream)) {
        Ok(()) => log(
            peer,
            format_args!(
                "disconnected after {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        ),
        Err(e) => log(peer, format_args!("disconnected: {}", describe_io(&e))),
    }
}

struct Session<'a> {
    config: &'a Config,
    peer: SocketAddr,
    /// Our address on the control connection, where passive listeners go.
    local: IpAddr,
    user: Option<String>,
    logged_in: bool,
    cwd: VPath,
    plan: Option<DataPlan>,
    rest: Option<u64>,
    allo: Option<u64>,
}

impl<'a> Session<'a> {
    fn new(stream: &TcpStream, peer: SocketAddr, config: &'a Config) -> io::Result<Session<'a>> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(config.stall_timeout))?;
        Ok(Session {
            config,
            peer,
            local: data::canonical(stream.local_addr()?.ip()),
            user: None,
            logged_in: false,
            cwd: VPath::default(),
            plan: None,
            rest: None,
            allo: None,
        })
    }

    fn run(&mut self, stream: TcpStream) -> io::Result<()> {
        let mut ctrl = stream.try_clone()?;
        let mut input = BufReader::with_capacity(
            MAX_LINE,
            Deadline {
                stream,
                until: Instant::now(),
            },
        );
        send(&mut ctrl, &Reply::new(220, "dialback ready."))?;
        loop {
            input.get_mut().until = Instant::now() + self.config.idle_timeout;
            let line = match protocol::read_line(&mut input, MAX_LINE) {
                Ok(Line::Text(line)) => line,
                Ok(Line::Eof) => return Ok(()),
                Ok(Line::TooLong) => {
                    log(self.peer, "closing: control line longer than 4 KiB");
                    send(&mut ctrl, &Reply::new(500, "Line too long; closing."))?;
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    log(self.peer, "closing: idle timeout");
                    send(&mut ctrl, &Reply::new(421, "Idle timeout; closing."))?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let line = protocol::strip_telnet(&line);
            let command = match std::str::from_utf8(&line) {
                Ok(text) => text.parse::<Command>(),
                Err(_) => Err(Reply::new(501, "Commands must be UTF-8 (RFC 2640).")),
            };
            let flow = match command {
                Ok(cmd) => self.handle(cmd, &mut ctrl)?,
                Err(reply) => {
                    send(&mut ctrl, &reply)?;
                    Flow::Continue
                }
            };
            if let Flow::Close = flow {
                return Ok(());
            }
        }
    }

    fn handle(&mut self, cmd: Command, ctrl: &mut TcpStream) -> io::Result<Flow> {
        let open = matches!(
            cmd,
            Command::User(_)
                | Command::Pass(_)
                | Command::Quit
                | Command::Feat
                | Command::Syst
                | Command::Help(_)
                | Command::Noop
                | Command::Opts(_)
        );
        if !open && !self.logged_in {
            send(ctrl, &Reply::new(530, "Log in with USER and PASS first."))?;
            return Ok(Flow::Continue);
        }
        // REST and ALLO hold for the next transfer only (RFC 3659 §5.3, RFC 959 §4.1.3),
        // whatever else comes between; every transfer command takes them.
        let transfer = matches!(
            cmd,
            Command::Retr(_)
                | Command::Stor(_)
                | Command::Appe(_)
                | Command::List(_)
                | Command::Nlst(_)
                | Command::Mlsd(_)
        );
        let (rest, allo) = if transfer {
            (self.rest.take(), self.allo.take())
        } else {
            (None, None)
        };
        let reply = match cmd {
            Command::User(name) => {
                self.logged_in = false;
                self.user = Some(name);
                Reply::new(331, "Anonymous access: any password will do.")
            }
            Command::Pass(_) => match &self.user {
                None => Reply::new(503, "Send USER first."),
                Some(user) => {
                    if !self.logged_in {
                        log(self.peer, format_args!("logged in as {user:?}"));
                    }
                    self.logged_in = true;
                    Reply::new(230, "Logged in.")
                }
            },
            Command::Quit => {
                send(ctrl, &Reply::new(221, "Goodbye."))?;
                return Ok(Flow::Close);
            }
            Command::Syst => Reply::new(215, "UNIX Type: L8"),
            Command::Feat => {
                let mut lines = vec!["Features:".to_string()];
                lines.extend(FEATURES.iter().map(|f| format!(" {f}")));
                lines.push("End".to_string());
                Reply::multi(211, lines)
            }
            Command::Opts(opt) => match opt.to_ascii_uppercase().as_str() {
                "UTF8 ON" | "UTF8" | "UTF-8 ON" => Reply::new(200, "UTF-8 is always on."),
                o if o.starts_with("MLST ") => Reply::new(200, "MLST OPTS type;size;modify;"),
                _ => Reply::new(501, "Option not understood."),
            },
            Command::Help(_) => {
                let mut lines = vec!["Commands understood:".to_string()];
                lines.extend(
                    Command::VERBS
                        .chunks(8)
                        .map(|c| format!(" {}", c.join(" "))),
                );
                lines.push("Help OK.".to_string());
                Reply::multi(214, lines)
            }
            Command::Noop => Reply::new(200, "OK."),
            Command::Type(t) => {
                Reply::new(200, &format!("Type set to {t}; bytes are sent unchanged."))
            }
            Command::Mode(_) => Reply::new(200, "Mode set to S."),
            Command::Stru(_) => Reply::new(200, "Structure set to F."),
            Command::Pwd => Reply::new(
                257,
                &format!("{} is the current folder.", quote(&self.cwd.display())),
            ),
            Command::Cwd(arg) => self.cwd(&arg),
            Command::Cdup => self.cwd(".."),
            Command::Size(arg) => match self.stat(&arg) {
                Ok(m) if m.is_file() => Reply::new(213, &m.len().to_string()),
                Ok(_) => self.refuse(&arg, Refusal::NotAFile),
                Err(r) => self.refuse(&arg, r),
            },
            Command::Mdtm(arg) => match self.stat(&arg) {
                Ok(m) if m.is_file() => {
                    let t = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    Reply::new(213, &Civil::of(t).compact())
                }
                Ok(_) => self.refuse(&arg, Refusal::NotAFile),
                Err(r) => self.refuse(&arg, r),
            },
            Command::Port(addr) | Command::Eprt(addr) => self.dial_back_to(addr),
            Command::Pasv => self.passive(false),
            Command::Epsv(arg) => match arg.as_deref().map(str::to_ascii_uppercase).as_deref() {
                None => self.passive(true),
                Some("ALL") => Reply::new(200, "EPSV ALL accepted."),
                Some("1") if self.local.is_ipv4() => self.passive(true),
                Some("2") if self.local.is_ipv6() => self.passive(true),
                Some("1" | "2") => {
                    Reply::new(522, &format!("Use protocol ({}).", family(self.local)))
                }
                Some(_) => Reply::new(501, "EPSV takes 1, 2 or ALL."),
            },
            Command::Rest(offset) => {
                self.rest = Some(offset);
                Reply::new(
                    350,
                    &format!("Restarting at {offset}; send RETR, STOR or APPE."),
                )
            }
            Command::Allo(size) => {
                self.allo = Some(size);
                Reply::new(200, &format!("Expecting {size} bytes."))
            }
            Command::Retr(arg) => self.retrieve(&arg, rest, ctrl)?,
            Command::Stor(arg) => self.store(&arg, Start::Fresh(rest, allo), ctrl)?,
            Command::Appe(arg) => self.store(&arg, Start::Append(allo), ctrl)?,
            Command::List(arg) => self.listing(arg.as_deref(), Format::Long, ctrl)?,
            Command::Nlst(arg) => self.listing(arg.as_deref(), Format::Names, ctrl)?,
            Command::Mlsd(arg) => self.listing(arg.as_deref(), Format::Facts, ctrl)?,
            Command::Mlst(arg) => self.mlst(arg.as_deref().unwrap_or(".")),
            Command::Stat(None) => Reply::multi(
                211,
                vec![
                    "dialback status:".to_string(),
                    format!(" Connected from {}", self.peer),
                    format!(" Current folder {}", self.cwd.display()),
                    "End of status.".to_string(),
                ],
            ),
            Command::Stat(Some(arg)) => match self.entries(&arg) {
                Ok(entries) => {
                    let now = SystemTime::now();
                    let mut lines = vec![format!("Status of {arg}:")];
                    lines.extend(entries.iter().map(|e| format!(" {}", e.ls_line(now))));
                    lines.push("End of status.".to_string());
                    Reply::multi(213, lines)
                }
                Err(r) => self.refuse(&arg, r),
            },
            Command::Abor => {
                self.plan = None;
                Reply::new(226, "No transfer to abort.")
            }
        };
        send(ctrl, &reply)?;
        Ok(Flow::Continue)
    }

    /// Maps a refused path to its 550 reply, logging attempts to get out of the root.
    fn refuse(&self, arg: &str, why: Refusal) -> Reply {
        let text = match why {
            Refusal::Escape => {
                log(
                    self.peer,
                    format_args!("refused {arg:?}: outside the shared folder"),
                );
                format!("{arg}: outside the shared folder; permission denied.")
            }
            Refusal::NotFound => format!("{arg}: no such file or folder."),
            Refusal::NotAFile => format!("{arg}: not a plain file."),
            Refusal::NotAFolder => format!("{arg}: not a folder."),
            Refusal::BadName => {
                log(self.peer, format_args!("refused {arg:?}: bad name"));
                format!("{arg}: bad name.")
            }
            Refusal::Io(e) => format!("{arg}: {}.", describe_io(&e)),
        };
        Reply::new(550, &text)
    }

    fn stat(&self, arg: &str) -> Result<std::fs::Metadata, Refusal> {
        self.config.root.stat(&fsys::resolve(&self.cwd, arg)?)
    }

    fn cwd(&mut self, arg: &str) -> Reply {
        let target =
            fsys::resolve(&self.cwd, arg).and_then(|v| self.config.root.folder(&v).map(|()| v));
        match target {
            Ok(v) => {
                self.cwd = v;
                Reply::new(250, &format!("Current folder is {}.", self.cwd.display()))
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    fn dial_back_to(&mut self, addr: SocketAddr) -> Reply {
        let ip = data::canonical(addr.ip());
        if ip != self.peer.ip() || addr.port() < 1024 {
            // RFC 2577 §3: a data connection goes only to the client itself, never to a privileged port.
            log(
                self.peer,
                format_args!("refused data connection to {addr}: not this client or a low port"),
            );
            return Reply::new(
                504,
                "Data connections go only to your own address, on a port from 1024.",
            );
        }
        self.plan = Some(DataPlan::Active(SocketAddr::new(ip, addr.port())));
        Reply::new(200, "Data address accepted.")
    }

    fn passive(&mut self, extended: bool) -> Reply {
        self.plan = None;
        let advertised = match (extended, self.local, self.config.public_address) {
            (true, _, _) => None,
            (false, _, Some(public)) => Some(public),
            (false, IpAddr::V4(v4), None) => Some(v4),
            (false, IpAddr::V6(_), None) => return Reply::new(522, "PASV is IPv4 only; use EPSV."),
        };
        let bound = self
            .passive_listener()
            .and_then(|l| Ok((l.local_addr()?.port(), l)));
        let (port, listener) = match bound {
            Ok(b) => b,
            Err(e) => {
                let why = describe_io(&e);
                return Reply::new(425, &format!("Cannot open a passive port: {why}."));
            }
        };
        self.plan = Some(DataPlan::Passive(listener));
        match advertised {
            Some(ip) => Reply::new(
                227,
                &format!(
                    "Entering Passive Mode ({}).",
                    format_port(std::net::SocketAddrV4::new(ip, port))
                ),
            ),
            None => Reply::new(
                229,
                &format!("Entering Extended Passive Mode (|||{port}|)."),
            ),
        }
    }

    fn passive_listener(&self) -> io::Result<TcpListener> {
        let Some((low, high)) = self.config.passive_ports else {
            return TcpListener::bind((self.local, 0));
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
            if let Ok(l) = TcpListener::bind((self.local, port)) {
                return Ok(l);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every passive port is taken",
        ))
    }

    /// Makes the data connection the last PORT/EPRT/PASV/EPSV asked for.
    fn connect(&mut self) -> Result<TcpStream, Reply> {
        let stream = match self.plan.take() {
            None => return Err(Reply::new(503, "Send PORT, EPRT, PASV or EPSV first.")),
            Some(DataPlan::Active(addr)) => {
                TcpStream::connect_timeout(&addr, self.config.connect_timeout)
            }
            Some(DataPlan::Passive(listener)) => {
                let peer = self.peer;
                data::accept_from(
                    &listener,
                    peer.ip(),
                    self.config.connect_timeout,
                    |stranger| {
                        log(
                            peer,
                            format_args!(
                                "refused data connection from {stranger}: not this client"
                            ),
                        );
                    },
                )
            }
        };
        let stream = stream.map_err(|e| {
            log(
                self.peer,
                format_args!("data connection failed: {}", describe_io(&e)),
            );
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

    fn retrieve(
        &mut self,
        arg: &str,
        rest: Option<u64>,
        ctrl: &mut TcpStream,
    ) -> io::Result<Reply> {
        let offset = rest.unwrap_or(0);
        let opened = fsys::resolve(&self.cwd, arg).and_then(|v| self.config.root.open(&v));
        let (mut file, size) = match opened {
            Ok(f) => f,
            Err(r) => return Ok(self.refuse(arg, r)),
        };
        if offset > size {
            return Ok(Reply::new(
                554,
                &format!("Restart offset {offset} is past the end ({size} bytes)."),
            ));
        }
        if let Err(e) = io::Seek::seek(&mut file, io::SeekFrom::Start(offset)) {
            return Ok(Reply::new(
                451,
                &format!("Cannot read {arg}: {}.", describe_io(&e)),
            ));
        }
        let mut stream = match self.connect() {
            Ok(s) => s,
            Err(reply) => return Ok(reply),
        };
        let left = size - offset;
        send(
            ctrl,
            &Reply::new(150, &format!("Sending {arg} ({left} bytes).")),
        )?;
        let started = Instant::now();
        let sent = data::send_file(&mut file, &mut stream, &mut |_| {});
        drop(stream);
        let ms = started.elapsed().as_millis();
        Ok(match sent {
            Ok(n) => {
                log(
                    self.peer,
                    format_args!("sent {arg:?}: {n} bytes in {ms} ms, ok"),
                );
                Reply::new(226, &format!("Transfer complete: {n} bytes."))
            }
            Err(CopyError::Read(e)) => {
                let why = format!("cannot read {arg}: {}", describe_io(&e));
                log(self.peer, format_args!("sending failed: {why}"));
                Reply::new(451, &format!("Transfer aborted: {why}."))
            }
            Err(CopyError::Write(e)) => {
                let why = describe_io(&e);
                log(self.peer, format_args!("sending {arg:?} failed: {why}"));
                Reply::new(426, &format!("Transfer aborted: {why}."))
            }
        })
    }

    /// STOR writes a temporary file renamed into place only when complete; APPE,
    /// and STOR after REST, resume the named file in place.
    fn store(&mut self, arg: &str, start: Start, ctrl: &mut TcpStream) -> io::Result<Reply> {
        if self.config.read_only {
            log(
                self.peer,
                format_args!("refused upload of {arg:?}: read-only"),
            );
            return Ok(Reply::new(
                550,
                "Permission denied: this server is read-only.",
            ));
        }
        let root = &self.config.root;
        let (in_place, expected) = match start {
            Start::Fresh(Some(offset), allo) if offset > 0 => (Some(Some(offset)), allo),
            Start::Fresh(_, allo) => (None, allo),
            Start::Append(allo) => (Some(None), allo),
        };
        // Appending to nothing is creating: that goes through a temporary file too.
        let sink = fsys::resolve(&self.cwd, arg).and_then(|v| match in_place {
            Some(offset) => match root.open_at(&v, offset) {
                Err(Refusal::NotFound) if offset.is_none() => root.create(&v).map(Sink::Temp),
                opened => opened.map(Sink::InPlace),
            },
            None => root.create(&v).map(Sink::Temp),
        });
        let mut sink = match sink {
            Ok(s) => s,
            Err(r) => return Ok(self.refuse(arg, r)),
        };
        let file = match &mut sink {
            Sink::Temp(t) => t.file(),
            Sink::InPlace(f) => f,
        };
        let mut stream = match self.connect() {
            Ok(s) => s,
            Err(reply) => return Ok(reply),
        };
        send(ctrl, &Reply::new(150, &format!("Ready to receive {arg}.")))?;
        let started = Instant::now();
        let received = data::receive_file(&mut stream, file, &mut |_| {});
        drop(stream);
        let ms = started.elapsed().as_millis();
        let (code, outcome) = match (received, expected) {
            (Err(CopyError::Read(e)), _) => (426, format!("connection lost: {}", describe_io(&e))),
            (Err(CopyError::Write(e)), _) => (451, format!("cannot write: {}", describe_io(&e))),
            (Ok(n), Some(want)) if n != want => {
                (451, format!("got {n} of the {want} bytes announced"))
            }
            (Ok(n), _) => match sink {
                Sink::Temp(t) => match t.commit() {
                    Ok(()) => (226, format!("{n} bytes")),
                    Err(e) => (451, format!("cannot save: {}", describe_io(&e))),
                },
                // REST then STOR overwrites from the offset: the file ends where the upload did.
                Sink::InPlace(mut f) => {
                    match io::Seek::stream_position(&mut f).and_then(|end| f.set_len(end)) {
                        Ok(()) => (226, format!("{n} bytes")),
                        Err(e) => (451, format!("cannot save: {}", describe_io(&e))),
                    }
                }
            },
        };
        if code == 226 {
            log(
                self.peer,
                format_args!("received {arg:?}: {outcome} in {ms} ms, ok"),
            );
            Ok(Reply::new(226, &format!("Transfer complete: {outcome}.")))
        } else {
            let kept = if in_place.is_some() {
                "what arrived was kept"
            } else {
                "nothing was saved"
            };
            log(
                self.peer,
                format_args!("receiving {arg:?} failed: {outcome}; {kept}"),
            );
            Ok(Reply::new(
                code,
                &format!("Upload failed: {outcome}; {kept}."),
            ))
        }
    }

    fn entries(&self, arg: &str) -> Result<Vec<fsys::Entry>, Refusal> {
        self.config.root.list(&fsys::resolve(&self.cwd, arg)?)
    }

    fn listing(
        &mut self,
        arg: Option<&str>,
        format: Format,
        ctrl: &mut TcpStream,
    ) -> io::Result<Reply> {
        // `LIST -la dir`: ls options, which clients send out of habit, are ignored.
        let path = match arg {
            Some(a) if a.starts_with('-') => a.split_once(' ').map_or(".", |(_, p)| p.trim_start()),
            Some(a) => a,
            None => ".",
        };
        let entries = match self.entries(path) {
            Ok(e) => e,
            Err(r) => return Ok(self.refuse(path, r)),
        };
        let mut stream = match self.connect() {
            Ok(s) => s,
            Err(reply) => return Ok(reply),
        };
        send(
            ctrl,
            &Reply::new(150, &format!("Listing {} entries.", entries.len())),
        )?;
        let now = SystemTime::now();
        let written = (|| {
            let mut out = BufWriter::new(&mut stream);
            for e in &entries {
                match format {
                    Format::Long => write!(out, "{}\r\n", e.ls_line(now))?,
                    Format::Names => write!(out, "{}\r\n", e.name)?,
                    Format::Facts => write!(out, "{}\r\n", e.mlsx_line())?,
                }
            }
            out.flush()
        })();
        drop(stream);
        Ok(match written {
            Ok(()) => Reply::new(226, "Listing sent."),
            Err(e) => Reply::new(426, &format!("Listing aborted: {}.", describe_io(&e))),
        })
    }

    fn mlst(&self, arg: &str) -> Reply {
        let found = fsys::resolve(&self.cwd, arg).and_then(|v| {
            let meta = self.config.root.stat(&v)?;
            Ok(fsys::Entry {
                name: v.display(),
                meta,
            })
        });
        match found {
            Ok(entry) => Reply::multi(
                250,
                vec![
                    format!("Listing {arg}"),
                    format!(" {}", entry.mlsx_line()),
                    "End".to_string(),
                ],
            ),
            Err(r) => self.refuse(arg, r),
        }
    }
}

/// Where an upload starts: a new file (unless REST gave an offset), or the end of the file.
enum Start {
    Fresh(Option<u64>, Option<u64>),
    Append(Option<u64>),
}

/// The control connection's reader, with one deadline for a whole line, so a
/// client that trickles a byte at a time cannot hold a session past the idle
/// timeout.
struct Deadline {
    stream: TcpStream,
    until: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

enum Sink {
    Temp(fsys::TempFile),
    InPlace(std::fs::File),
}

enum Format {
    Long,
    Names,
    Facts,
}

/// RFC 959 Appendix II: a pathname in a 257 reply is quoted, inner quotes doubled.
fn quote(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

fn family(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        1
    } else {
        2
    }
}

/// Writes a reply in one write, so small replies go out in one segment.
fn send(ctrl: &mut TcpStream, reply: &Reply) -> io::Result<()> {
    ctrl.write_all(reply.to_string().as_bytes())
}
