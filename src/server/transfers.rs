//! Transfer handlers: how the data connection is made (PORT, EPRT, PASV,
//! EPSV), the one-shot REST and ALLO, RETR, STOR and APPE, and the rules that
//! turn a finished copy into the final reply. The file work that must happen
//! before the 150 (opening, creating the temporary file) happens here, so a
//! refusal comes before any data connection is made.

use std::io::{self, Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use super::log::{log, quote};
use super::session::{reply, Advertise, Job, Plan, Session, Sink, Step, Upload};
use crate::cancel::Cancel;
use crate::data::{self, CopyError};
use crate::error::describe_io;
use crate::fsys::Refusal;
use crate::protocol::{format_port, Reply};

impl Job {
    /// The 150 that goes out once the data connection is made, or the 125
    /// on one that was `open` already (block mode).
    pub fn opening(&self, open: bool) -> Reply {
        let code = if open { 125 } else { 150 };
        match self {
            Job::Send { name, left, .. } => {
                Reply::new(code, &format!("Sending {name} ({left} bytes)."))
            }
            Job::Receive(upload) => Reply::new(code, &format!("Ready to receive {}.", upload.name)),
            Job::List { .. } => Reply::new(code, "Here comes the listing."),
        }
    }

    /// What STAT answers while this job runs, given the bytes moved so far
    /// (RFC 959: the status of the transfer in progress).
    pub fn status(&self) -> impl Fn(u64) -> Reply + Send + 'static {
        let (verb, name, of) = match self {
            Job::Send { name, left, .. } => ("Sending", name.clone(), format!(" of {left}")),
            Job::Receive(upload) => ("Receiving", upload.name.clone(), String::new()),
            Job::List { .. } => ("Sending", "a listing".to_string(), String::new()),
        };
        move |moved| Reply::new(213, &format!("{verb} {name}: {moved}{of} bytes so far."))
    }
}

impl<L> Session<L> {
    /// PORT and EPRT: RFC 2577 §3, a data connection goes only to the client
    /// itself, never to a privileged port.
    pub(super) fn dial_back_to(&mut self, addr: SocketAddr) -> Reply {
        if self.epsv_only {
            return Reply::new(501, "EPSV ALL is in effect: use EPSV.");
        }
        let ip = data::canonical(addr.ip());
        if ip != self.peer.ip() || addr.port() < 1024 {
            self.log(format_args!(
                "refused data connection to {addr}: not this client or a low port"
            ));
            return Reply::new(
                504,
                "Data connections go only to your own address, on a port from 1024.",
            );
        }
        self.plan = Some(Plan::Active(SocketAddr::new(ip, addr.port())));
        Reply::new(200, "Data address accepted.")
    }

    /// PASV (`extended` false) and EPSV: asks the driver for a listener.
    pub(super) fn passive(&mut self, extended: bool) -> Step<L> {
        if self.epsv_only && !extended {
            return reply(501, "EPSV ALL is in effect: use EPSV.");
        }
        self.plan = None;
        let advertise = match (extended, self.local, &self.config.public_address) {
            (true, _, _) => Advertise::Epsv,
            (false, _, Some(public)) => Advertise::Pasv(public.now()),
            (false, IpAddr::V4(v4), None) => Advertise::Pasv(v4),
            (false, IpAddr::V6(_), None) => return reply(522, "PASV is IPv4 only; use EPSV."),
        };
        Step::Listen(advertise)
    }

    /// EPSV's argument (RFC 2428 §3): none, the control connection's family, or ALL.
    pub(super) fn epsv(&mut self, arg: Option<&str>) -> Step<L> {
        let family = if self.local.is_ipv4() { "1" } else { "2" };
        match arg.map(str::to_ascii_uppercase).as_deref() {
            None => self.passive(true),
            Some("ALL") => {
                self.epsv_only = true;
                reply(200, "EPSV ALL accepted: only EPSV from now on.")
            }
            Some(f) if f == family => self.passive(true),
            Some("1" | "2") => reply(522, &format!("Use protocol ({family}).")),
            Some(_) => reply(501, "EPSV takes 1, 2 or ALL."),
        }
    }

    /// The driver's answer to `Step::Listen`: the listener and its port, or why not.
    pub fn listening(&mut self, advertise: Advertise, bound: io::Result<(u16, L)>) -> Reply {
        let (port, listener) = match bound {
            Ok(b) => b,
            Err(e) => {
                let why = describe_io(&e);
                return Reply::new(425, &format!("Cannot open a passive port: {why}."));
            }
        };
        self.plan = Some(Plan::Passive(listener));
        match advertise {
            Advertise::Pasv(ip) => Reply::new(
                227,
                &format!(
                    "Entering Passive Mode ({}).",
                    format_port(SocketAddrV4::new(ip, port))
                ),
            ),
            Advertise::Epsv => Reply::new(
                229,
                &format!("Entering Extended Passive Mode (|||{port}|)."),
            ),
        }
    }

    pub(super) fn rest(&mut self, offset: u64) -> Reply {
        self.rest = Some(offset);
        Reply::new(
            350,
            &format!("Restarting at {offset}; send RETR, STOR or APPE."),
        )
    }

    pub(super) fn allo(&mut self, size: u64) -> Reply {
        self.allo = Some(size);
        Reply::new(200, &format!("Expecting {size} bytes."))
    }

    /// ABOR: no transfer runs while a command is read, so only the plan goes.
    pub(super) fn abor(&mut self) -> Reply {
        self.plan = None;
        Reply::new(226, "ABOR done: no transfer is running now.")
    }

    /// RETR from REST's offset, if one was given.
    pub(super) fn retr(&mut self, arg: &str, rest: Option<u64>) -> Step<L> {
        let offset = rest.unwrap_or(0);
        let opened = self.resolve(arg).and_then(|v| self.root().open(&v));
        let (mut file, size) = match opened {
            Ok(f) => f,
            Err(r) => return Step::Reply(self.refuse(arg, r)),
        };
        if offset > size {
            let text = format!("Restart offset {offset} is past the end ({size} bytes).");
            return reply(554, &text);
        }
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            return reply(451, &format!("Cannot read {arg}: {}.", describe_io(&e)));
        }
        match self.take_plan() {
            Ok(plan) => Step::Transfer(
                plan,
                Job::Send {
                    file,
                    name: arg.to_string(),
                    left: size - offset,
                    ascii: self.ascii,
                },
            ),
            Err(r) => Step::Reply(r),
        }
    }

    /// STOR writes a temporary file renamed into place only when complete; after
    /// REST with an offset it resumes the named file in place.
    pub(super) fn stor(&mut self, arg: &str, rest: Option<u64>, allo: Option<u64>) -> Step<L> {
        let sink = self.resolve(arg).and_then(|v| match rest {
            Some(offset) if offset > 0 => self.root().open_at(&v, offset).map(Sink::InPlace),
            _ => self.root().create(&v).map(Sink::Temp),
        });
        self.upload(arg, sink, allo)
    }

    /// APPE receives into a temporary file and adds it to the end of the file
    /// only when complete, so a failed append leaves the file as it was and
    /// appends at the same time each land whole.
    pub(super) fn appe(&mut self, arg: &str, allo: Option<u64>) -> Step<L> {
        let sink = self
            .resolve(arg)
            .and_then(|v| Ok(Sink::Append(self.root().create_append(&v)?, v)));
        self.upload(arg, sink, allo)
    }

    fn upload(&mut self, arg: &str, sink: Result<Sink, Refusal>, expected: Option<u64>) -> Step<L> {
        let sink = match sink {
            Ok(s) => s,
            Err(r) => return Step::Reply(self.refuse(arg, r)),
        };
        match self.take_plan() {
            Ok(plan) => Step::Transfer(
                plan,
                Job::Receive(Upload {
                    sink,
                    name: arg.to_string(),
                    // In ASCII the size on the wire is not the file's (Perl's
                    // Net::FTP announces the local file's, with LF ends).
                    expected: expected.filter(|_| !self.ascii),
                    ascii: self.ascii,
                }),
            ),
            // The sink is dropped: an uncommitted temporary file removes itself.
            Err(r) => Step::Reply(r),
        }
    }

    /// The final reply for a job the driver ran: `moved` is what the copy did.
    /// `abort` ends a wait for an append's lock (the server's shutdown grace is over).
    pub fn finish(
        &self,
        job: Job,
        moved: Result<u64, CopyError>,
        took: Duration,
        abort: &Cancel,
    ) -> Reply {
        let ms = took.as_millis();
        match job {
            Job::Send { name, ascii, .. } => {
                let bytes = *moved.as_ref().unwrap_or(&0);
                self.xferlog(&name, bytes, ms, ascii, true, moved.is_ok());
                self.sent(&name, moved, ms)
            }
            Job::Receive(upload) => {
                let (name, ascii) = (upload.name.clone(), upload.ascii);
                let bytes = *moved.as_ref().unwrap_or(&0);
                let reply = self.received(upload, moved, ms, abort);
                self.xferlog(&name, bytes, ms, ascii, false, reply.code == 226);
                reply
            }
            Job::List { .. } => match moved {
                Ok(_) => Reply::new(226, "Listing sent."),
                Err(CopyError::Read(e) | CopyError::Write(e)) => {
                    Reply::new(426, &format!("Listing aborted: {}.", describe_io(&e)))
                }
            },
        }
    }

    /// The transfer's line in the xferlog, if the server keeps one.
    fn xferlog(
        &self,
        name: &str,
        bytes: u64,
        ms: u128,
        ascii: bool,
        outgoing: bool,
        complete: bool,
    ) {
        let (Some(xferlog), Some(login)) = (&self.config.xferlog, &self.login) else {
            return;
        };
        let path = self
            .resolve(name)
            .map_or_else(|_| name.to_string(), |v| v.display());
        xferlog.write(&super::log::Transfer {
            seconds: (ms / 1000) as u64,
            host: self.peer.ip(),
            bytes,
            path: &path,
            ascii,
            outgoing,
            anonymous: login.anonymous,
            user: &login.user,
            complete,
        });
    }

    fn sent(&self, name: &str, moved: Result<u64, CopyError>, ms: u128) -> Reply {
        match moved {
            Ok(n) => {
                // A completed transfer is always logged: each costs a data connection, so a
                // client cannot flood the log with them the way it can with refusals.
                log(
                    self.who(),
                    format_args!(
                        "sent {}: {n} bytes in {ms} ms{}, ok",
                        quote(name),
                        rate(n, ms)
                    ),
                );
                Reply::new(226, &format!("Transfer complete: {n} bytes."))
            }
            Err(CopyError::Read(e)) => {
                let why = format!("cannot read {name}: {}", describe_io(&e));
                self.log(format_args!("sending failed: {why}"));
                Reply::new(451, &format!("Transfer aborted: {why}."))
            }
            Err(CopyError::Write(e)) => {
                let why = describe_io(&e);
                self.log(format_args!("sending {} aborted: {why}", quote(name)));
                Reply::new(426, &format!("Transfer aborted: {why}."))
            }
        }
    }

    /// An upload is kept only when it is complete: no read error, no write
    /// error, and as many bytes as ALLO announced. A temporary file is then
    /// renamed into place; an in-place file is cut where the upload ended.
    fn received(
        &self,
        upload: Upload,
        moved: Result<u64, CopyError>,
        ms: u128,
        abort: &Cancel,
    ) -> Reply {
        let Upload {
            sink,
            name,
            expected,
            ..
        } = upload;
        let in_place = matches!(sink, Sink::InPlace(_));
        let (code, outcome) = match (moved, expected) {
            (Err(CopyError::Read(e)), _) => (426, format!("connection lost: {}", describe_io(&e))),
            (Err(CopyError::Write(e)), _) => {
                (no_room(&e), format!("cannot write: {}", describe_io(&e)))
            }
            (Ok(n), Some(want)) if n != want => {
                (451, format!("got {n} of the {want} bytes announced"))
            }
            (Ok(n), _) => {
                let saved = match sink {
                    Sink::Temp(t) => t.commit(),
                    Sink::Append(t, v) => self
                        .root()
                        .append(t, &v, self.config.stall_timeout, abort)
                        .map_err(|r| match r {
                            Refusal::Io(e) => e,
                            other => io::Error::other(other.to_string()),
                        }),
                    // REST then STOR overwrites from the offset: the file ends where the upload did.
                    Sink::InPlace(mut f) => f.stream_position().and_then(|end| f.set_len(end)),
                };
                match saved {
                    Ok(()) => (226, format!("{n} bytes")),
                    Err(e) => (no_room(&e), format!("cannot save: {}", describe_io(&e))),
                }
            }
        };
        if code == 226 {
            log(
                self.who(),
                format_args!("received {}: {outcome} in {ms} ms, ok", quote(&name)),
            );
            return Reply::new(226, &format!("Transfer complete: {outcome}."));
        }
        let kept = if in_place {
            "what arrived was kept"
        } else {
            "nothing was saved"
        };
        self.log(format_args!(
            "receiving {} failed: {outcome}; {kept}",
            quote(&name)
        ));
        Reply::new(code, &format!("Upload failed: {outcome}; {kept}."))
    }
}

/// A transfer's rate for its log line, `(1.2 MiB/s)`, once it took a moment.
fn rate(bytes: u64, ms: u128) -> String {
    match ms {
        0 => String::new(),
        ms => format!(
            " ({}/s)",
            crate::client::units::human_bytes((bytes as u128 * 1000 / ms) as u64)
        ),
    }
}

/// The code for a failed write: 452 when the disk is full, 552 when a quota is
/// used up (RFC 959 §4.2), 451 for anything else.
fn no_room(e: &io::Error) -> u16 {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    match e.raw_os_error() {
        Some(ENOSPC) => 452,
        Some(EDQUOT) => 552,
        _ => 451,
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::tests::{code, text, Scratch};
    use super::*;
    use std::io::Write;

    #[test]
    fn data_connections_go_only_to_the_client_on_a_high_port() {
        let dir = Scratch::new("bounce");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(code(s.line("PORT 10,0,0,9,19,137")), 504, "another host");
        assert_eq!(code(s.line("EPRT |1|127.0.0.1|21|")), 504, "a low port");
        assert_eq!(code(s.line("EPRT |1|127.0.0.1|5000|")), 200);
        let Step::Transfer(Plan::Active(addr), _) = s.line("RETR a.txt") else {
            panic!("RETR after EPRT must dial back")
        };
        assert_eq!(addr, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(
            code(s.line("RETR a.txt")),
            503,
            "a plan serves one transfer"
        );
    }

    #[test]
    fn passive_replies_name_the_port_the_driver_bound() {
        let dir = Scratch::new("pasv");
        let mut s = dir.logged_in(|c| {
            c.public_address = Some(crate::server::Public::fixed("192.0.2.7".parse().unwrap()))
        });
        let Step::Listen(how) = s.line("PASV") else {
            panic!()
        };
        let r = s.listening(how, Ok((5001, ())));
        assert_eq!(r.text(), "Entering Passive Mode (192,0,2,7,19,137).");
        let Step::Listen(how) = s.line("EPSV") else {
            panic!()
        };
        assert_eq!(s.listening(how, Ok((6446, ()))).code, 229);
        assert_eq!(code(s.line("EPSV 2")), 522, "IPv4 control connection");
        let Step::Listen(how) = s.line("EPSV 1") else {
            panic!()
        };
        let failed = s.listening(how, Err(io::ErrorKind::AddrInUse.into()));
        assert_eq!(failed.code, 425);
        assert_eq!(code(s.line("LIST")), 503, "a failed PASV leaves no plan");
    }

    #[test]
    fn after_epsv_all_only_epsv_sets_up_data_connections() {
        let dir = Scratch::new("epsv-all");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(code(s.line("EPSV ALL")), 200);
        for line in ["PORT 127,0,0,1,19,137", "EPRT |1|127.0.0.1|5000|", "PASV"] {
            assert_eq!(code(s.line(line)), 501, "{line}");
        }
        assert!(matches!(s.line("EPSV"), Step::Listen(Advertise::Epsv)));
    }

    #[test]
    fn rest_and_allo_hold_for_the_next_transfer_only() {
        let dir = Scratch::new("rest");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(code(s.line("REST 2")), 350);
        assert_eq!(code(s.line("NOOP")), 200);
        assert_eq!(code(s.line("PORT 127,0,0,1,19,137")), 200);
        let Step::Transfer(_, Job::Send { left, .. }) = s.line("RETR a.txt") else {
            panic!()
        };
        assert_eq!(left, 3, "REST survives other commands");
        s.line("PORT 127,0,0,1,19,137");
        let Step::Transfer(_, Job::Send { left, .. }) = s.line("RETR a.txt") else {
            panic!()
        };
        assert_eq!(left, 5, "REST is used up");
        // A refused transfer uses them up too.
        assert_eq!(code(s.line("REST 99")), 350);
        assert_eq!(code(s.line("RETR a.txt")), 554);
        assert_eq!(code(s.line("RETR a.txt")), 503, "offset gone, no plan");
        assert_eq!(code(s.line("ALLO 3")), 200);
        assert_eq!(code(s.line("RETR missing")), 550);
        s.line("PORT 127,0,0,1,19,137");
        let Step::Transfer(_, Job::Receive(up)) = s.line("STOR c.txt") else {
            panic!()
        };
        assert_eq!(up.expected, None, "ALLO was taken by the RETR");
        // In ASCII, ALLO counts what the client has (Perl: LF ends), not the
        // wire's CRLF: a hint, never checked.
        assert_eq!(code(s.line("TYPE A")), 200);
        assert_eq!(code(s.line("ALLO 3")), 200);
        s.line("PORT 127,0,0,1,19,137");
        let Step::Transfer(_, Job::Receive(up)) = s.line("STOR c.txt") else {
            panic!()
        };
        assert_eq!(up.expected, None, "ALLO in ASCII");
    }

    #[test]
    fn an_upload_is_kept_only_when_complete() {
        let dir = Scratch::new("finish");
        let mut s = dir.logged_in(|_| {});
        let store = |s: &mut Session<()>, line: &str, allo: Option<u64>| {
            if let Some(n) = allo {
                assert_eq!(code(s.line(&format!("ALLO {n}"))), 200);
            }
            s.line("PORT 127,0,0,1,19,137");
            let Step::Transfer(_, Job::Receive(mut up)) = s.line(line) else {
                panic!("{line}")
            };
            up.file().write_all(b"new!").unwrap();
            Job::Receive(up)
        };
        let took = Duration::from_millis(1);
        let short = store(&mut s, "STOR a.txt", Some(10));
        let r = s.finish(short, Ok(4), took, &Cancel::new());
        assert_eq!(
            (r.code, r.text().as_str()),
            (
                451,
                "Upload failed: got 4 of the 10 bytes announced; nothing was saved."
            )
        );
        let full = store(&mut s, "STOR a.txt", None);
        let enospc = CopyError::Write(io::Error::from_raw_os_error(28));
        assert_eq!(s.finish(full, Err(enospc), took, &Cancel::new()).code, 452);
        let cut = store(&mut s, "STOR a.txt", None);
        let lost = CopyError::Read(io::ErrorKind::ConnectionReset.into());
        assert_eq!(s.finish(cut, Err(lost), took, &Cancel::new()).code, 426);
        assert_eq!(std::fs::read(dir.0.join("a.txt")).unwrap(), b"hello");
        let whole = store(&mut s, "STOR a.txt", Some(4));
        assert_eq!(s.finish(whole, Ok(4), took, &Cancel::new()).code, 226);
        assert_eq!(std::fs::read(dir.0.join("a.txt")).unwrap(), b"new!");
        let appended = store(&mut s, "APPE a.txt", None);
        assert_eq!(s.finish(appended, Ok(4), took, &Cancel::new()).code, 226);
        assert_eq!(std::fs::read(dir.0.join("a.txt")).unwrap(), b"new!new!");
        // No temporary file is left by any of them.
        let mut names: Vec<_> = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "sub"]);
    }

    #[test]
    fn uploads_resolve_inside_the_root_and_never_over_a_folder() {
        let dir = Scratch::new("store");
        let mut s = dir.logged_in(|_| {});
        std::os::unix::fs::symlink("/", dir.0.join("out")).unwrap();
        s.line("PORT 127,0,0,1,19,137");
        for (line, why) in [
            (
                "STOR out/x",
                "out/x: outside the shared folder; permission denied.",
            ),
            ("STOR sub", "sub: not a plain file."),
            ("STOR nowhere/x", "nowhere/x: no such file or folder."),
            (
                "APPE .dialback-1-1.part",
                ".dialback-1-1.part: no such file or folder.",
            ),
        ] {
            assert_eq!(text(s.line(line)), why, "{line}");
        }
        assert!(
            matches!(s.line("STOR sub/new"), Step::Transfer(..)),
            "the plan survived the refusals"
        );
    }
}
