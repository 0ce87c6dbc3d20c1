//! One server session as a state machine, with no sockets in it: a parsed
//! command goes in, and out comes what to do (a reply, a passive listener to
//! open, or a data job: send this file, receive into that one, list this
//! folder). The driver (`driver.rs`) does the socket work and reports back.
//!
//! The state is what RFC 959 says a session keeps: who logged in and with what
//! permissions, the current folder, how the next data connection is made, and
//! the one-shot REST and ALLO. `handle` checks the login and the permission
//! gate (`gate.rs`) once, before any handler runs; the handlers live by family
//! in `login.rs`, `navigation.rs`, `transfers.rs`, `listings.rs` and `files.rs`.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::checksums::Checksum;
use super::gate::{self, Need, Perms};
use super::listings::Walk;
use super::log::{quote, Budget};
use super::Config;
use crate::digest::Algorithm;
use crate::fsys::{self, Listing, Refusal, Root, TempFile, VPath};
use crate::listing::Format;
use crate::protocol::{Command, Reply};

/// How the next data connection is made. `L` is the driver's listener type;
/// the session only holds it.
#[derive(Debug)]
pub enum Plan<L> {
    /// Dial back to this address (PORT, EPRT).
    Active(SocketAddr),
    /// Wait for the client on this listener (PASV, EPSV).
    Passive(L),
    /// Block mode with no new plan: the data connection the last transfer
    /// left open, which the driver holds (RFC 959 §3.4.2).
    Kept,
}

/// What the driver does after a command.
#[derive(Debug)]
pub enum Step<L> {
    /// Send the reply and read the next command.
    Reply(Reply),
    /// Send the reply and close the session.
    Close(Reply),
    /// Send a multi-line 213 reply: `Status of NAME:`, a line per entry, the end
    /// (STAT path, RFC 959 §4.1.3), written as the folder is read.
    Status(String, Listing),
    /// Send TREE's multi-line 213 reply, written as the walk goes.
    Tree(String, Walk),
    /// Open a passive listener on the control connection's local address, and
    /// hand it (or the failure) to `Session::listening` for the reply.
    Listen(Advertise),
    /// Make the data connection as planned, send `Job::opening`, do the job,
    /// and hand the outcome to `Session::finish` for the final reply.
    Transfer(Plan<L>, Job),
    /// Compute a checksum (HASH, XSHA256 and friends) and send its reply.
    Checksum(Checksum),
    /// Wait this long (a login's delay), then take the step. The driver
    /// waits, so that a server shutting down can end the wait.
    Delay(std::time::Duration, Box<Step<L>>),
}

/// What a passive reply will announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advertise {
    /// `227 (h1,h2,h3,h4,p1,p2)` with this address (PASV).
    Pasv(Ipv4Addr),
    /// `229 (|||port|)` (EPSV).
    Epsv,
}

/// The work on a data connection.
#[derive(Debug)]
pub enum Job {
    /// Send `file` from its position, `left` bytes.
    Send {
        file: File,
        name: String,
        left: u64,
        /// TYPE A: line ends made CRLF on the way.
        ascii: bool,
    },
    /// Receive into an upload's file.
    Receive(Upload),
    /// Send a listing; NLST's names with `prefix` in front.
    List {
        entries: Listing,
        format: Format,
        prefix: String,
    },
}

/// An upload under way: where its bytes go, and what a complete one looks
/// like (made by the transfer handlers, finished by `Session::finish`).
#[derive(Debug)]
pub struct Upload {
    pub(super) sink: Sink,
    pub(super) name: String,
    /// The size ALLO announced, if any: fewer bytes mean the sender died.
    pub(super) expected: Option<u64>,
    /// TYPE A: CRLF line ends stored as LF.
    pub(super) ascii: bool,
}

#[derive(Debug)]
pub(super) enum Sink {
    /// A new file, renamed over the name only once complete (STOR).
    Temp(TempFile),
    /// Bytes added to the end of the file only once complete (APPE).
    Append(TempFile, VPath),
    /// The existing file, written in place from an offset (APPE, or REST then STOR).
    InPlace(File),
}

impl Upload {
    /// Whether the bytes make a whole new file (STOR), not an addition.
    pub fn is_new_file(&self) -> bool {
        matches!(self.sink, Sink::Temp(_)) && !self.ascii
    }

    /// The file the bytes go into, at the position they start.
    pub fn file(&mut self) -> &mut File {
        match &mut self.sink {
            Sink::Temp(t) | Sink::Append(t, _) => t.file(),
            Sink::InPlace(f) => f,
        }
    }
}

/// Who is logged in, and what they may do.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    /// Anonymous access rather than an account (xferlog's access mode).
    pub anonymous: bool,
    pub perms: Perms,
    /// The user's own root; `None` for the server's.
    pub root: Option<Root>,
    /// The account's own rate limit (`rate=` in the users file).
    pub rate: Option<u64>,
}

/// One session's state.
pub struct Session<L> {
    pub(super) config: Arc<Config>,
    /// The client's address on the control connection.
    pub(super) peer: SocketAddr,
    /// Our address on the control connection, where passive listeners go.
    pub(super) local: IpAddr,
    /// The name USER gave, waiting for PASS.
    pub(super) user: Option<String>,
    pub(super) login: Option<Login>,
    /// Failed logins in this session; a few close it.
    pub(super) failures: u32,
    pub(super) cwd: VPath,
    pub(super) plan: Option<Plan<L>>,
    /// REST's offset, for the next transfer only (RFC 3659 §5.3).
    pub(super) rest: Option<u64>,
    /// ALLO's size, for the next upload only (RFC 959 §4.1.3).
    pub(super) allo: Option<u64>,
    /// TYPE A: text, its line ends CRLF on the wire and LF on disk.
    pub(super) ascii: bool,
    /// HASH's algorithm (`OPTS HASH`).
    pub(super) hash_algorithm: Algorithm,
    /// Whether the client chose it: a client that checks its transfers, for
    /// which each is read for its checksum on the way (`checksums::Ahead`).
    pub(super) hash_chosen: bool,
    /// After `EPSV ALL` only EPSV may set up data connections (RFC 2428 §4).
    pub(super) epsv_only: bool,
    /// MODE B: files go as blocks, and the data connection stays open from
    /// one transfer to the next.
    pub(super) block: bool,
    /// RNFR's name, for the very next command only, which should be RNTO.
    pub(super) rename_from: Option<VPath>,
    /// What this session may still write to the log this second.
    budget: Budget,
}

impl<L> Session<L> {
    /// The most this session's transfers may move per second: `--max-rate`
    /// or the account's `rate=`, the stricter.
    pub fn rate(&self) -> Option<u64> {
        let own = self.login.as_ref().and_then(|l| l.rate);
        match (self.config.max_rate, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn new(config: Arc<Config>, peer: SocketAddr, local: IpAddr) -> Session<L> {
        Session {
            config,
            peer,
            local,
            user: None,
            login: None,
            failures: 0,
            cwd: VPath::default(),
            plan: None,
            rest: None,
            allo: None,
            hash_algorithm: Algorithm::Sha256,
            hash_chosen: false,
            ascii: false,
            rename_from: None,
            epsv_only: false,
            block: false,
            budget: Budget::new(),
        }
    }

    /// Decides what `cmd` leads to. Never panics on client input.
    pub fn handle(&mut self, cmd: Command) -> Step<L> {
        // RNFR holds for the next command alone, whatever it is (RFC 959 §4.1.3).
        let rename_from = self.rename_from.take();
        let need = gate::need(&cmd);
        let login = match (&self.login, need) {
            (_, Need::Nothing) => None,
            (None, _) => return reply(530, "Log in with USER and PASS first."),
            (Some(login), _) => Some(login),
        };
        // REST and ALLO hold for the next transfer only, whatever comes between and
        // whether or not it is allowed; every transfer command takes them.
        let (rest, allo) = if is_transfer(&cmd) {
            (self.rest.take(), self.allo.take())
        } else {
            (None, None)
        };
        if let (Some(login), Need::Perm(perm)) = (login, need) {
            if !login.perms.allows(perm) {
                self.log(format_args!(
                    "refused {}: no permission for {}",
                    verb(&cmd),
                    perm.doing()
                ));
                let why = if self.config.read_only && perm.writes() {
                    "this server is read-only".to_string()
                } else {
                    format!("{} is not allowed for {}", perm.doing(), login.user)
                };
                return reply(550, &format!("Permission denied: {why}."));
            }
        }
        match cmd {
            Command::User(name) => self.user(name),
            Command::Pass(password) => self.pass(&password),
            Command::Quit => Step::Close(Reply::new(221, "Goodbye.")),
            Command::Rein => Step::Reply(self.rein()),
            Command::Syst => reply(215, "UNIX Type: L8"),
            Command::Feat => Step::Reply(self.feat()),
            Command::Opts(opt) => match opt
                .split_once(' ')
                .map(|(o, rest)| (o.to_ascii_uppercase(), rest))
            {
                Some((o, rest)) if o == "HASH" => {
                    Step::Reply(self.opts_hash(Some(rest.trim()).filter(|r| !r.is_empty())))
                }
                _ if opt.eq_ignore_ascii_case("HASH") => Step::Reply(self.opts_hash(None)),
                _ => Step::Reply(self.opts(&opt)),
            },
            Command::Hash(arg) => self.hash(&arg),
            Command::XHash(algorithm, arg, range) => self.xhash(algorithm, &arg, range),
            Command::Help(_) => Step::Reply(self.help()),
            Command::Noop => reply(200, "OK."),
            Command::Clnt(_) => reply(200, "Noted."),
            Command::Type(t) => {
                self.ascii = t == 'A';
                match self.ascii {
                    true => reply(200, "Type set to A; line ends are CRLF on the wire."),
                    false => reply(200, &format!("Type set to {t}; bytes are sent unchanged.")),
                }
            }
            Command::Mode(mode) => {
                self.block = mode == 'B';
                match self.block {
                    true => reply(200, "Mode set to B; the data connection stays open."),
                    false => reply(200, "Mode set to S."),
                }
            }
            Command::Stru(_) => reply(200, "Structure set to F."),
            Command::Pwd => Step::Reply(self.pwd()),
            Command::Cwd(arg) => Step::Reply(self.cwd(&arg)),
            Command::Cdup => Step::Reply(self.cwd("..")),
            Command::Size(arg) => Step::Reply(self.size(&arg)),
            Command::Mdtm(arg) => Step::Reply(self.mdtm(&arg)),
            Command::Stat(None) => Step::Reply(self.status()),
            Command::Stat(Some(arg)) => self.stat_path(&arg),
            Command::Mlst(arg) => Step::Reply(self.mlst(arg.as_deref().unwrap_or("."))),
            Command::Port(addr) | Command::Eprt(addr) => Step::Reply(self.dial_back_to(addr)),
            Command::Pasv => self.passive(false),
            Command::Epsv(arg) => self.epsv(arg.as_deref()),
            Command::Rest(offset) => Step::Reply(self.rest(offset)),
            Command::Allo(size) => Step::Reply(self.allo(size)),
            Command::Abor => Step::Reply(self.abor()),
            Command::Retr(arg) => self.retr(&arg, rest),
            Command::Stor(arg) => self.stor(&arg, rest, allo),
            Command::Appe(arg) => self.appe(&arg, allo),
            Command::List(arg) => self.list(arg.as_deref(), Format::Long),
            Command::Nlst(arg) => self.list(arg.as_deref(), Format::Names),
            Command::Mlsd(arg) => self.list(arg.as_deref(), Format::Facts),
            Command::Tree(arg) => self.tree(arg.as_deref()),
            Command::Mkd(arg) => Step::Reply(self.mkd(&arg)),
            Command::Rmd(arg) => Step::Reply(self.rmd(&arg)),
            Command::Dele(arg) => Step::Reply(self.dele(&arg)),
            Command::Rnfr(arg) => self.rnfr(&arg),
            Command::Rnto(arg) => Step::Reply(self.rnto(&arg, rename_from)),
            Command::Mfmt(time, arg) => Step::Reply(self.mfmt(time, &arg)),
            Command::SiteChmod(mode, arg) => Step::Reply(self.chmod(mode, &arg)),
            Command::SiteHelp => Step::Reply(Reply::multi(
                214,
                vec![
                    "SITE commands:".into(),
                    " CHMOD mode path".into(),
                    " HELP".into(),
                    "End.".into(),
                ],
            )),
        }
    }

    /// The folder names resolve in: the user's own root, or the shared one.
    pub(super) fn root(&self) -> &Root {
        match &self.login {
            Some(Login {
                root: Some(root), ..
            }) => root,
            _ => &self.config.root,
        }
    }

    /// Whether someone has logged in.
    pub fn logged_in(&self) -> bool {
        self.login.is_some()
    }

    /// Logs an event of this session, within its budget.
    pub fn log(&self, event: impl std::fmt::Display) {
        self.budget.log(self.who(), event);
    }

    /// Who a log line is about: the address, and the user once logged in.
    pub(super) fn who(&self) -> String {
        match &self.login {
            Some(login) => format!("{} {}", self.peer, quote(&login.user)),
            None => self.peer.to_string(),
        }
    }

    /// Resolves a client's name against the current folder, inside the root.
    pub(super) fn resolve(&self, arg: &str) -> Result<VPath, Refusal> {
        fsys::resolve(&self.cwd, arg)
    }

    /// Takes the data plan for a transfer; 503 if there is none.
    pub(super) fn take_plan(&mut self) -> Result<Plan<L>, Reply> {
        match self.plan.take() {
            Some(plan) => Ok(plan),
            None if self.block => Ok(Plan::Kept),
            None => Err(Reply::new(503, "Send PORT, EPRT, PASV or EPSV first.")),
        }
    }

    /// Whether files go as blocks (MODE B).
    pub fn block_mode(&self) -> bool {
        self.block
    }

    /// Maps a refused path to its 550 reply, logging attempts to get out of the root.
    pub(super) fn refuse(&self, arg: &str, why: Refusal) -> Reply {
        // Every refusal is logged, within the session's log budget.
        self.log(format_args!("refused {}: {why}", quote(arg)));
        Reply::new(550, &format!("{arg}: {why}."))
    }
}

/// The greeting sent when the connection opens.
pub fn greeting() -> Reply {
    Reply::new(220, "dialback ready.")
}

/// A step that only replies.
pub(super) fn reply<L>(code: u16, text: &str) -> Step<L> {
    Step::Reply(Reply::new(code, text))
}

/// Whether `cmd` opens a data connection (and so takes REST and ALLO).
fn is_transfer(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Retr(_)
            | Command::Stor(_)
            | Command::Appe(_)
            | Command::List(_)
            | Command::Nlst(_)
            | Command::Mlsd(_)
    )
}

/// The verb of a command, for the log (never its argument, which may be long).
fn verb(cmd: &Command) -> String {
    let line = cmd.to_string();
    line.split(' ').next().unwrap_or("").to_string()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch root holding `a.txt` ("hello") and the folder `sub/` with `b.txt`.
    pub struct Scratch(pub PathBuf);

    impl Scratch {
        pub fn new(label: &str) -> Scratch {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "dialback-session-{}-{n}-{label}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("a.txt"), b"hello").unwrap();
            std::fs::write(dir.join("sub/b.txt"), b"bee").unwrap();
            Scratch(std::fs::canonicalize(dir).unwrap())
        }

        pub fn session(&self, tweak: impl FnOnce(&mut Config)) -> Session<()> {
            let mut config = Config::new(Root::new(&self.0).unwrap());
            tweak(&mut config);
            let peer = "127.0.0.1:40000".parse().unwrap();
            Session::new(Arc::new(config), peer, "127.0.0.1".parse().unwrap())
        }

        /// A session that has logged in.
        pub fn logged_in(&self, tweak: impl FnOnce(&mut Config)) -> Session<()> {
            let mut s = self.session(tweak);
            assert_eq!(code(s.line("USER anonymous")), 331);
            assert_eq!(code(s.line("PASS x")), 230);
            s
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl Session<()> {
        /// Parses a line as the driver would and handles it.
        pub fn line(&mut self, line: &str) -> Step<()> {
            match line.parse::<Command>() {
                Ok(cmd) => self.handle(cmd),
                Err(reply) => Step::Reply(reply),
            }
        }
    }

    /// The reply code a step leads to; 0 for a step that does not reply at once.
    pub fn code(step: Step<()>) -> u16 {
        match step {
            Step::Reply(r) | Step::Close(r) => r.code,
            Step::Status(..) | Step::Tree(..) => 213,
            Step::Delay(_, next) => code(*next),
            Step::Checksum(mut c) => c.run(&|| false).code,
            Step::Listen(_) | Step::Transfer(..) => 0,
        }
    }

    pub fn text(step: Step<()>) -> String {
        match step {
            Step::Reply(r) | Step::Close(r) => r.text(),
            Step::Delay(_, next) => text(*next),
            Step::Checksum(mut c) => c.run(&|| false).text(),
            other => panic!("no reply: {other:?}"),
        }
    }

    #[test]
    fn only_the_login_and_harmless_questions_come_before_login() {
        let dir = Scratch::new("gate");
        let mut s = dir.session(|_| {});
        for line in [
            "PWD",
            "CWD sub",
            "RETR a.txt",
            "STOR x",
            "LIST",
            "PASV",
            "REST 1",
            "TYPE I",
        ] {
            assert_eq!(code(s.line(line)), 530, "{line}");
        }
        for (line, want) in [("SYST", 215), ("FEAT", 211), ("NOOP", 200), ("HELP", 214)] {
            assert_eq!(code(s.line(line)), want, "{line}");
        }
        assert_eq!(code(s.line("PASS x")), 503, "PASS before USER");
        assert_eq!(code(s.line("USER anonymous")), 331);
        assert_eq!(code(s.line("PASS anything")), 230);
        assert_eq!(code(s.line("PWD")), 257);
        // A new USER logs out until PASS.
        assert_eq!(code(s.line("USER other")), 331);
        assert_eq!(code(s.line("PWD")), 530);
        assert!(matches!(s.line("QUIT"), Step::Close(r) if r.code == 221));
    }

    #[test]
    fn the_gate_refuses_writes_on_a_read_only_server_before_any_handler() {
        let dir = Scratch::new("read-only");
        let mut s = dir.logged_in(|c| c.read_only = true);
        assert_eq!(code(s.line("PORT 127,0,0,1,19,137")), 200);
        let refused = s.line("STOR a.txt");
        assert_eq!(
            text(refused),
            "Permission denied: this server is read-only."
        );
        assert_eq!(code(s.line("APPE new.txt")), 550);
        // The refused upload took no data plan, so a read can still use it.
        assert!(matches!(
            s.line("RETR a.txt"),
            Step::Transfer(Plan::Active(_), _)
        ));
        assert_eq!(code(s.line("SIZE a.txt")), 213);
        assert_eq!(std::fs::read(dir.0.join("a.txt")).unwrap(), b"hello");
        assert!(!dir.0.join("new.txt").exists());
    }

    #[test]
    fn malformed_arguments_get_their_reply_and_change_nothing() {
        let dir = Scratch::new("malformed");
        let mut s = dir.logged_in(|_| {});
        for (line, want) in [
            ("PORT 1,2,3", 501),
            ("EPRT |3|x|1|", 501),
            ("REST -5", 501),
            ("TYPE X", 501),
            ("MODE C", 504),
            ("EPSV 3", 501),
            ("OPTS FROB", 501),
            ("RETR", 501),
            ("SITE EXEC sh", 504),
            ("SITE CHMOD 1777 a.txt", 501),
        ] {
            assert_eq!(code(s.line(line)), want, "{line}");
        }
        assert_eq!(text(s.line("PWD")), "\"/\" is the current folder.");
        assert_eq!(code(s.line("RETR a.txt")), 503, "no data plan was made");
    }
}
