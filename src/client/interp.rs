//! The client's interpreter: runs user commands (`words::UserCommand`) on a
//! `Client`, expands MGET and MPUT patterns, decides what a failure means for
//! the rest of a batch or a script, and reports everything through `Output`,
//! so a terminal, a script runner and a test all drive the same code.

use std::collections::HashMap;

use std::path::{Path, PathBuf};

use super::login::{find_password, netrc_user};
use super::ports::{Complete, Lines, Output};
use super::tree;
use super::units::{human_bytes, human_duration, human_rate, result_line};
use super::words::{self, Kind, UserCommand};
use super::{Client, Direction, Observer, Options, Retry};
use crate::cancel::Stop;
use crate::digest::Algorithm;
use crate::error::describe_io;
use crate::fsys::TEMP_PREFIX;
use crate::glob::Pattern;
use crate::Error;

/// An `Output` that says nothing: a reconnection's own lines are summed up
/// in one by its caller.
struct Quiet(std::io::Sink);

impl Output for Quiet {
    fn say(&mut self, _: &str) {}
    fn error(&mut self, _: &str) {}
    fn text(&mut self) -> &mut dyn std::io::Write {
        &mut self.0
    }
}

/// What running one command leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Exit,
}

/// The interpreter's state: the connection, if any, and the local folder.
pub struct Interpreter {
    connection: Option<(Client, String)>,
    dir: PathBuf,
    options: Options,
    /// Stop at the first failed command (`-e`).
    pub stop_on_error: bool,
    /// Sees every control line (`-v`).
    pub trace: Option<fn(Direction, &str)>,
    /// Why the last connection ended or failed, said with "not connected".
    lost: Option<String>,
    /// The host and port of the connection, for finding a stored password
    /// and for connecting again.
    host: String,
    port: u16,
    /// The remote folder a CD last reached, to go back to after reconnecting.
    remote_dir: Option<String>,
    /// The remote folder to change to once connected (an `ftp://` URL's path).
    pub start_in: Option<String>,
    /// A person gives the commands: Ctrl-C stops the command, not the client.
    pub interactive: bool,
    /// The user was named (`--user`, a URL, USER): OPEN keeps that login
    /// rather than look for the host's in `~/.netrc`.
    pub user_named: bool,
    /// What stop ended the run (SIGTERM, or Ctrl-C in a script).
    pub stopped: Option<Stop>,
    /// Remote folders' names for Tab, until a command may have changed them.
    remote_names: HashMap<String, Vec<String>>,
}

impl Interpreter {
    /// An interpreter saving into and sending from `dir`, connecting with `options`.
    pub fn new(dir: PathBuf, options: Options) -> Interpreter {
        Interpreter {
            connection: None,
            dir,
            options,
            stop_on_error: false,
            trace: None,
            lost: None,
            host: String::new(),
            port: 0,
            remote_dir: None,
            start_in: None,
            interactive: false,
            user_named: false,
            stopped: None,
            remote_names: HashMap::new(),
        }
    }

    /// Connects to `target` if given, then runs every line until EXIT, the end
    /// of the lines, or (with `stop_on_error`) a failure. A failed command is
    /// reported and the rest go on. Returns whether every command succeeded.
    pub fn run(
        &mut self,
        target: Option<(&str, u16)>,
        lines: &mut dyn Lines,
        out: &mut dyn Output,
    ) -> bool {
        let mut ok = true;
        if let Some((host, port)) = target {
            let start_in = self.start_in.take();
            let opened = self.open(host, port, out);
            if let Err(e) = opened.and_then(|()| match start_in {
                Some(path) => self.start_in(path, out),
                None => Ok(()),
            }) {
                ok = self.failed(&e, out);
                if self.stop_on_error {
                    return false;
                }
            }
        }
        loop {
            let prompt = self.prompt();
            let line = lines.next_line(&prompt, out, self);
            if let Some(stop) = self.options.cancel.take() {
                // SIGTERM (or a signal the line editor caught) while waiting for a line.
                self.stopped = Some(stop);
                ok = false;
                break;
            }
            let line = match line {
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    out.error(&format!("reading commands: {e}"));
                    ok = false;
                    break;
                }
                None => {
                    out.input_ended();
                    break;
                }
            };
            let hold = self.options.cancel.hold();
            let mut done = self.execute(&line, out);
            if self.connect_again(&done, is_mirror(&line), out) {
                done = self.execute(&line, out);
            }
            self.say_notes(out);
            if !reads_only(&line) {
                self.remote_names.clear();
            }
            if let Some(stop) = self.options.cancel.take() {
                // The command has stopped: a transfer was aborted and nothing
                // partial kept. A person gets the prompt back; a script ends.
                out.progress_done();
                match self.forget_if_broken() {
                    // Stopped while waiting for a reply: the dialogue is out of step.
                    Some(name) => out.error(&format!(
                        "{}: interrupted; the connection to {name} is closed",
                        line.trim()
                    )),
                    None => {
                        let what = match &done {
                            Err(kept @ Error::Kept(_)) => kept.to_string(),
                            _ => "interrupted".to_string(),
                        };
                        out.error(&format!("{}: {what}", line.trim()))
                    }
                }
                ok = false;
                if stop == Stop::Terminate || !self.interactive {
                    self.stopped = Some(stop);
                    break;
                }
                continue;
            }
            drop(hold);
            match done {
                Ok(Next::Continue) => {}
                Ok(Next::Exit) => break,
                Err(e) => {
                    ok = self.failed(&e, out);
                    if self.stop_on_error {
                        break;
                    }
                }
            }
        }
        self.close();
        ok
    }

    /// Reports a failed command, and forgets a connection that it broke. Returns false.
    fn failed(&mut self, e: &Error, out: &mut dyn Output) -> bool {
        match self.forget_if_broken() {
            Some(name) => out.error(&format!("{e} (connection to {name} lost)")),
            None => out.error(&e.to_string()),
        }
        false
    }

    /// Drops the connection if it is broken; returns its name if it was.
    fn forget_if_broken(&mut self) -> Option<String> {
        let lost = self.connection.as_ref().is_some_and(|(c, _)| c.is_broken());
        let (_, name) = self.connection.take_if(|_| lost)?;
        self.lost = Some(format!("the connection to {name} was lost"));
        Some(name)
    }

    /// The prompt for the next command: `dialback host:port> `.
    pub fn prompt(&self) -> String {
        match &self.connection {
            Some((_, name)) => format!("dialback {name}> "),
            None => "dialback> ".to_string(),
        }
    }

    /// Parses and runs one typed line.
    pub fn execute(&mut self, line: &str, out: &mut dyn Output) -> Result<Next, Error> {
        let cmd = line.parse::<UserCommand>().map_err(Error::Usage)?;
        self.run_command(cmd, out)
    }

    /// Runs one command.
    pub fn run_command(&mut self, cmd: UserCommand, out: &mut dyn Output) -> Result<Next, Error> {
        match cmd {
            UserCommand::Nothing => {}
            UserCommand::Exit => return Ok(Next::Exit),
            UserCommand::Help(topic) => {
                let text = words::help(topic.as_deref()).map_err(Error::Usage)?;
                // A closed stdout (`client ... | head`) is not an error.
                let _ = out.text().write_all(text.as_bytes());
            }
            UserCommand::Open { host, port } => {
                let host = host.as_deref().unwrap_or("127.0.0.1");
                if !self.user_named {
                    // The host's own login from ~/.netrc, else anonymous.
                    let (user, password) = match netrc_user(host).map_err(Error::Usage)? {
                        Some((login, Some(password))) => (login, password),
                        Some((login, None)) if !["anonymous", "ftp"].contains(&login.as_str()) => {
                            let password = self.password_for(host, &login, out)?;
                            (login, password)
                        }
                        _ => {
                            let plain = Options::default();
                            (plain.user, plain.password)
                        }
                    };
                    self.options.user = user;
                    self.options.password = password;
                }
                self.open(host, port, out)?
            }
            UserCommand::Close => match self.connection.take() {
                Some((client, name)) => {
                    // The server may be gone already; closing is all that is left to do.
                    let _ = client.quit();
                    out.say(&format!("closed {name}"));
                }
                None => return Err(Error::Usage("not connected".to_string())),
            },
            UserCommand::User { name, password } => {
                let host = self.host.clone();
                self.client()?;
                let password = match password {
                    Some(p) => p,
                    None => self.password_for(&host, &name, out)?,
                };
                self.client()?.log_in(&name, &password)?;
                self.user_named = true;
                self.options.user = name.clone();
                self.options.password = password;
                out.say(&format!("logged in as {name}"));
            }
            UserCommand::Passive(on) => {
                self.options.passive = on.unwrap_or(!self.options.passive);
                let passive = self.options.passive;
                if let Some((client, _)) = &mut self.connection {
                    client.set_passive(passive);
                }
                out.say(if passive {
                    "passive mode on"
                } else {
                    "passive mode off: the server dials back"
                });
            }
            UserCommand::Get {
                remote,
                local,
                resume,
            } => {
                let line = self.get(&remote, local.as_deref(), resume, out)?;
                if !line.is_empty() {
                    out.say(&line);
                }
            }
            UserCommand::Put { local, remote } => {
                let remote = match remote {
                    Some(r) => r,
                    None => base_name(&local)?,
                };
                let line = self.put(&local, &remote, out)?;
                out.say(&line);
            }
            UserCommand::GetTree {
                remote,
                local,
                mirror,
            } => {
                let name = match local {
                    Some(local) => local,
                    None => base_name(&remote)?,
                };
                let dest = self.dir.join(&name);
                let client = self.client()?;
                let mut tally = Tally::default();
                let summary = client.get_tree(&remote, &dest, mirror, &mut |p| {
                    tally.tell(out, "received", p)
                });
                summarize("received", &name, summary, out)?;
            }
            UserCommand::PutTree {
                local,
                remote,
                mirror,
            } => {
                let remote = match remote {
                    Some(remote) => remote,
                    None => base_name(&local)?,
                };
                let source = self.dir.join(&local);
                let client = self.client()?;
                let mut tally = Tally::default();
                let summary = client.put_tree(&source, &remote, mirror, &mut |p| {
                    tally.tell(out, "sent", p)
                });
                summarize("sent", &remote, summary, out)?;
            }
            // Bytes as they are (checked with --verify): through the mirrors' engine.
            UserCommand::Mget(patterns) if !self.options.ascii => self.mget(&patterns, out)?,
            UserCommand::Mget(patterns) => {
                let mut names = Vec::new();
                for pattern in &patterns {
                    names.extend(self.remote_matches(pattern)?);
                }
                self.each(&names, out, |me, name, out| me.get(name, None, false, out))?;
            }
            UserCommand::Mdelete(patterns) => {
                let mut names = Vec::new();
                for pattern in &patterns {
                    names.extend(self.remote_matches(pattern)?);
                }
                self.each(&names, out, |me, name, _| {
                    me.client()?.delete(name)?;
                    Ok(format!("deleted {name}"))
                })?;
            }
            UserCommand::Lpwd => out.say(&format!("local folder: {}", self.dir.display())),
            UserCommand::Shell(command) => self.shell(&command)?,
            UserCommand::Status => {
                let server = match &self.connection {
                    Some((_, name)) => format!("connected to {name} as {}", self.options.user),
                    None => "not connected".to_string(),
                };
                out.say(&server);
                if let Ok(client) = self.client() {
                    let now = client.pwd()?;
                    out.say(&format!("remote folder: {now}"));
                }
                out.say(&format!("local folder: {}", self.dir.display()));
                let mode = match self.options.passive {
                    true => "passive (the client dials the server for data)",
                    false => "active (the server dials back for data)",
                };
                let kind = if self.options.ascii {
                    "ascii"
                } else {
                    "binary"
                };
                out.say(&format!("mode: {mode}; type: {kind}"));
            }
            UserCommand::Already(what) => out.say(what),
            UserCommand::Hash(remote, algorithm) => {
                let algorithm = match algorithm {
                    Some(name) => Some(Algorithm::from_name(&name).ok_or_else(|| {
                        Error::Usage(format!(
                            "{name}: no such checksum; SHA-256, SHA-512, SHA-1, MD5 or CRC32"
                        ))
                    })?),
                    None => None,
                };
                match self.client()?.checksum(&remote, algorithm)? {
                    Some((algorithm, hex)) => {
                        out.say(&format!("{} {hex} {remote}", algorithm.name()))
                    }
                    None => return Err(Error::Usage("the server has no HASH".into())),
                }
            }
            UserCommand::Verify(on) => {
                self.options.verify = on.unwrap_or(!self.options.verify);
                let verify = self.options.verify;
                if let Some((client, _)) = &mut self.connection {
                    client.set_verify(verify);
                }
                out.say(match verify {
                    true => "verify on: every GET and PUT is checked against the server's checksum",
                    false => "verify off: sizes only",
                });
            }
            UserCommand::Rate(set) => {
                if let Some(rate) = set {
                    self.options.limit_rate = rate.map(crate::data::Limit::new);
                    if let Some((client, _)) = &mut self.connection {
                        client.set_limit_rate(self.options.limit_rate.clone());
                    }
                }
                out.say(&match &self.options.limit_rate {
                    Some(limit) => format!("rate: at most {}/s", human_bytes(limit.rate())),
                    None => "rate: no limit".to_string(),
                });
            }
            UserCommand::Ascii(ascii) => {
                self.options.ascii = ascii;
                if let Some((client, _)) = &mut self.connection {
                    client.set_ascii(ascii);
                }
                out.say(match ascii {
                    true => {
                        "ascii: GET and PUT convert line ends (CRLF on the wire); -r stays binary"
                    }
                    false => "binary: files move byte for byte",
                });
            }
            UserCommand::Mput(patterns) => {
                let mut names = Vec::new();
                for pattern in &patterns {
                    names.extend(local_matches(&self.dir, pattern)?);
                }
                self.each(&names, out, |me, name, out| {
                    me.put(name, &base_name(name)?, out)
                })?;
            }
            UserCommand::List(path) => match path {
                // A path with a space, no ls options: CWD there first.
                Some(p) if p.contains(' ') && !p.starts_with('-') => {
                    self.client()?.list_spaced(&p, out.text())?;
                }
                path => {
                    self.client()?.list(path.as_deref(), false, out.text())?;
                }
            },
            UserCommand::Cd(path) => {
                let client = self.client()?;
                client.cd(&path)?;
                let now = client.pwd()?;
                out.say(&format!("remote folder: {now}"));
                self.remote_dir = Some(now);
            }
            UserCommand::Mkdir(path) => {
                self.client()?.mkdir(&path)?;
                out.say(&format!("made {path}"));
            }
            UserCommand::Rmdir(path) => {
                self.client()?.rmdir(&path)?;
                out.say(&format!("removed {path}"));
            }
            UserCommand::Delete(path) => {
                self.client()?.delete(&path)?;
                out.say(&format!("deleted {path}"));
            }
            UserCommand::Rename { from, to } => {
                self.client()?.rename(&from, &to)?;
                out.say(&format!("renamed {from} to {to}"));
            }
            UserCommand::Pwd => {
                let now = self.client()?.pwd()?;
                out.say(&now);
            }
            UserCommand::Lcd(path) => {
                let home = std::env::var_os("HOME").map(PathBuf::from);
                let to = match path {
                    Some(path) => self.dir.join(path),
                    None => home.ok_or_else(|| Error::Usage("LCD: HOME is not set".into()))?,
                };
                let to = std::fs::canonicalize(&to)
                    .and_then(|p| p.read_dir().map(|_| p))
                    .map_err(|e| Error::Usage(format!("{}: {}", to.display(), describe_io(&e))))?;
                out.say(&format!("local folder now {}", to.display()));
                self.dir = to;
            }
        }
        Ok(Next::Continue)
    }

    /// Says what the session noted (it went passive), and keeps the mode.
    fn say_notes(&mut self, out: &mut dyn Output) {
        if let Some((client, _)) = &mut self.connection {
            for note in client.take_notes() {
                out.say(&note);
            }
            self.options.passive = client.passive();
        }
    }

    fn client(&mut self) -> Result<&mut Client, Error> {
        match &mut self.connection {
            Some((client, _)) => Ok(client),
            None => Err(Error::Usage(match &self.lost {
                Some(why) => format!("not connected ({why}); use OPEN HOST PORT"),
                None => "not connected; use OPEN HOST PORT".to_string(),
            })),
        }
    }

    /// The password for `user` on `host`: stored, or asked at the terminal.
    fn password_for(&self, host: &str, user: &str, out: &mut dyn Output) -> Result<String, Error> {
        let found = find_password(host, user, &mut |prompt| out.ask_secret(prompt));
        found.map_err(Error::Usage)?.ok_or_else(|| {
            Error::Usage(format!(
                "no password for {user}: type it at a terminal, or set DIALBACK_PASSWORD, or add it to ~/.netrc"
            ))
        })
    }

    /// Goes to a URL's path: a folder to start in, or else a file, which is
    /// downloaded into the local folder (as curl and lftp do with a URL that
    /// names a file).
    fn start_in(&mut self, path: String, out: &mut dyn Output) -> Result<(), Error> {
        match self.run_command(UserCommand::Cd(path.clone()), out) {
            Err(Error::Remote(reply)) if reply.code == 550 && !path.ends_with('/') => {
                let get = UserCommand::Get {
                    remote: path,
                    local: None,
                    resume: false,
                };
                self.run_command(get, out).map(drop)
            }
            done => done.map(drop),
        }
    }

    /// After a command that failed before doing anything because of the
    /// connection, connects again in the same way, goes back to the same
    /// remote folder, and says so; returns whether the command may run again.
    /// Two such failures: the server closed an idle session (421), and in
    /// active mode the server could not connect back (a firewall or NAT),
    /// after which the session goes on in passive mode, as tnftp, lftp and
    /// curl do by default. A third, for a mirror only (which copies just
    /// what differs and resumes partial files, so running it again is
    /// safe): the connection was lost on the way, as when one of several
    /// servers behind a load balancer goes down.
    fn connect_again(
        &mut self,
        done: &Result<Next, Error>,
        mirror: bool,
        out: &mut dyn Output,
    ) -> bool {
        let lost = self.connection.as_ref().is_some_and(|(c, _)| c.is_broken());
        let why = match done {
            Err(Error::Stopped | Error::Kept(_)) => return false,
            Err(Error::NoDialBack(_)) => {
                self.options.passive = true;
                "the server could not connect back (a firewall or NAT?): going on in passive mode"
                    .to_string()
            }
            Err(e) if mirror && (lost || e.is_lost_connection()) => {
                format!("{e}: a connection was lost")
            }
            Err(Error::Remote(reply)) if reply.code == 421 && self.connection.is_some() => {
                format!(
                    "the server closed the session ({})",
                    reply.text().trim_end_matches('.')
                )
            }
            _ => return false,
        };
        if self.options.cancel.is_stopped() {
            return false;
        }
        let (host, port, folder) = (self.host.clone(), self.port, self.remote_dir.clone());
        self.connection = None;
        let reopened = self
            .open(&host, port, &mut Quiet(std::io::sink()))
            .and_then(|()| match &folder {
                Some(folder) => self.client()?.cd(folder).map(drop),
                None => Ok(()),
            });
        match reopened {
            Ok(()) => {
                self.remote_dir = folder;
                let back = self.remote_dir.as_deref().map(|f| format!(", back in {f}"));
                out.say(&format!(
                    "{why}; connected again{}",
                    back.unwrap_or_default()
                ));
                true
            }
            Err(e) => {
                out.error(&format!("{why}; cannot connect again: {e}"));
                false
            }
        }
    }

    fn open(&mut self, host: &str, port: u16, out: &mut dyn Output) -> Result<(), Error> {
        self.close();
        self.host = host.to_string();
        self.port = port;
        self.remote_dir = None;
        let observer: Option<Observer> = self.trace.map(|trace| Box::new(trace) as Observer);
        let mut client = Client::reach(host, port, self.options.clone(), observer)
            .inspect_err(|e| self.lost = Some(format!("{host} {port}: {e}")))?;
        let (user, password) = (self.options.user.clone(), self.options.password.clone());
        let login = client.log_in(&user, &password);
        let name = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match login {
            // Refused: stay connected, so that USER can try another name.
            Err(Error::Remote(reply)) if reply.code == 530 && !client.is_broken() => {
                self.lost = None;
                out.say(&format!("connected to {name}"));
                self.connection = Some((client, name));
                Err(Error::Usage(format!(
                    "not logged in as {user}: {}; try USER NAME",
                    reply.text().trim_end_matches('.')
                )))
            }
            Err(e) => {
                self.lost = Some(format!("{host} {port}: {e}"));
                Err(e)
            }
            Ok(()) => {
                self.lost = None;
                out.say(&format!("connected to {name}"));
                self.connection = Some((client, name));
                Ok(())
            }
        }
    }

    /// Runs `command` with the shell in the local folder (`$SHELL` alone for
    /// an empty one), with the terminal its own until it ends.
    fn shell(&self, command: &str) -> Result<(), Error> {
        let shell = std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into());
        let mut run = std::process::Command::new(if command.is_empty() {
            shell.as_os_str()
        } else {
            std::ffi::OsStr::new("/bin/sh")
        });
        if !command.is_empty() {
            run.args(["-c", command]);
        }
        let status = run
            .current_dir(&self.dir)
            .status()
            .map_err(|e| Error::Usage(format!("cannot run the shell: {}", describe_io(&e))))?;
        match status.code() {
            Some(0) => Ok(()),
            Some(code) => Err(Error::Usage(format!("the command exited with {code}"))),
            None => Err(Error::Usage("the command was ended by a signal".into())),
        }
    }

    /// Says goodbye to the server, if connected.
    pub fn close(&mut self) {
        if let Some((client, _)) = self.connection.take() {
            // The server may be gone already; closing is all that is left to do.
            let _ = client.quit();
        }
    }

    /// GET `remote`. A local name the user typed is used as typed: a path
    /// (into a folder, the remote base name), `-` for standard output, or a
    /// device such as `/dev/null`; without one, the remote base name in the
    /// local folder (a name from a server is never more than a base name).
    fn get(
        &mut self,
        remote: &str,
        local: Option<&str>,
        resume: bool,
        out: &mut dyn Output,
    ) -> Result<String, Error> {
        let (shown, dest) = match local {
            None => {
                let name = base_name(remote)?;
                (name.clone(), self.dir.join(name))
            }
            Some("-") => {
                // Standard output holds the file alone: no result line there.
                self.client()?.cat(remote, out.text(), &mut |_, _| {})?;
                return Ok(String::new());
            }
            Some(typed) => {
                let path = self.dir.join(typed);
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => (typed.to_string(), path.join(base_name(remote)?)),
                    Ok(m) if !m.is_file() => {
                        let mut device = crate::fsys::open_device(&path)
                            .map_err(|e| Error::Usage(format!("{typed}: {}", describe_io(&e))))?;
                        let done = self.client()?.cat(remote, &mut device, &mut |n, total| {
                            out.progress(typed, n, total)
                        });
                        out.progress_done();
                        return Ok(result_line("received", typed, done?));
                    }
                    _ => (typed.to_string(), path),
                }
            }
        };
        let client = self.client()?;
        let done = client.get(remote, &dest, resume, &mut |n, total| {
            out.progress(&shown, n, total)
        });
        out.progress_done();
        Ok(result_line("received", &shown, done?))
    }

    fn put(&mut self, local: &str, remote: &str, out: &mut dyn Output) -> Result<String, Error> {
        let source = self.dir.join(local);
        let client = self.client()?;
        let done = client.put(&source, remote, &mut |n, total| {
            out.progress(remote, n, total)
        });
        out.progress_done();
        Ok(result_line("sent", remote, done?))
    }

    /// Runs `one` on every name, reporting each; one file's failure does not
    /// stop the others, unless it broke the connection. Fails if any failed.
    fn each(
        &mut self,
        names: &[String],
        out: &mut dyn Output,
        mut one: impl FnMut(&mut Interpreter, &str, &mut dyn Output) -> Result<String, Error>,
    ) -> Result<(), Error> {
        let mut failed = 0;
        for name in names {
            let mut failures = 0;
            let done = loop {
                let done = one(self, name, out);
                self.say_notes(out);
                let broken = self.client().is_ok_and(|c| c.is_broken());
                match &done {
                    Err(e) if e.is_data_connection() && !broken => {
                        failures += 1;
                        match super::retry(failures, self.options.passive) {
                            Retry::GiveUp => break done,
                            Retry::Passive => {
                                self.options.passive = true;
                                self.client()?.set_passive(true);
                                out.say(&super::went_passive(e));
                            }
                            Retry::Again => {}
                        }
                    }
                    _ => break done,
                }
            };
            match done {
                Ok(line) => out.say(&line),
                // Ctrl-C stops the whole batch, not one file of it.
                Err(e @ (Error::Stopped | Error::Kept(_))) => return Err(e),
                Err(e) => {
                    failed += 1;
                    if self.client().is_ok_and(|c| c.is_broken()) {
                        return Err(e);
                    }
                    out.error(&format!("{name}: {e}"));
                }
            }
        }
        match failed {
            0 => Ok(()),
            n => Err(Error::Usage(format!("{n} of {} files failed", names.len()))),
        }
    }

    /// MGET through the engine mirrors use: each folder's listing gives the
    /// files that match and their sizes (no SIZE per file), and they come
    /// over this session and others opened at once, pipelined, each under
    /// its own name here, as GET would leave it. A listing that cannot be
    /// read (a LIST in no format we know) leaves MGET to NLST and a GET
    /// per file.
    fn mget(&mut self, patterns: &[String], out: &mut dyn Output) -> Result<(), Error> {
        let mut wanted = Vec::new();
        for pattern in patterns {
            let (folder, glob) = split_pattern(pattern);
            let entries = match self.client()?.entries(folder.unwrap_or("")) {
                Ok(entries) => entries,
                Err(Error::Protocol(_)) => {
                    let mut names = Vec::new();
                    for pattern in patterns {
                        names.extend(self.remote_matches(pattern)?);
                    }
                    return self.each(&names, out, |me, name, out| me.get(name, None, false, out));
                }
                Err(e) => return Err(e),
            };
            let glob = Pattern::new(glob);
            let mut found = Vec::new();
            for entry in entries {
                let (crate::listing::Entry::File(name, _) | crate::listing::Entry::Folder(name)) =
                    &entry;
                if !glob.matches(name) {
                    continue;
                }
                let remote = in_folder(folder, name);
                found.push(match entry {
                    crate::listing::Entry::File(name, stamp) => Ok(tree::Wanted {
                        remote,
                        name,
                        size: stamp.size,
                    }),
                    crate::listing::Entry::Folder(_) => Err(remote),
                });
            }
            if found.is_empty() {
                return Err(Error::Usage(format!("no remote file matches {pattern}")));
            }
            found
                .sort_by_cached_key(|w| w.as_ref().map_or_else(Clone::clone, |w| w.remote.clone()));
            wanted.extend(found);
        }
        // A folder that matches is left out, and said so (as ncftp's mget does).
        let mut files = Vec::new();
        for want in wanted {
            match want {
                Ok(file) => files.push(file),
                Err(folder) => out.say(&format!(
                    "skipped {folder}: a folder (GET -r fetches folders)"
                )),
            }
        }
        let (dir, total) = (self.dir.clone(), files.len());
        let (mut failed, mut stopped) = (0, false);
        let mut done = |name: &str, result: Result<super::Transfer, Error>| match result {
            Ok(t) => out.say(&result_line("received", name, t)),
            Err(e) => {
                failed += 1;
                stopped |= matches!(e, Error::Stopped);
                out.error(&format!("{name}: {e}"));
            }
        };
        let got = self.client()?.get_files(&files, &dir, &mut done);
        self.say_notes(out);
        got?;
        match (stopped, failed) {
            (true, _) => Err(Error::Stopped),
            (_, 0) => Ok(()),
            (_, n) => Err(Error::Usage(format!("{n} of {total} files failed"))),
        }
    }

    /// Remote files matching `pattern` (its folder part taken literally), from NLST.
    fn remote_matches(&mut self, pattern: &str) -> Result<Vec<String>, Error> {
        let (folder, glob) = split_pattern(pattern);
        let mut listing = Vec::new();
        let found = match self.client()?.list(folder, true, &mut listing) {
            Ok(_) => matching_names(&listing, folder, glob),
            // No NLST (aioftp): the files of MLSD or LIST, which every server has.
            Err(Error::Remote(reply)) if matches!(reply.code, 500 | 502 | 504) => {
                let entries = self.client()?.entries(folder.unwrap_or(""))?;
                let names: Vec<u8> = (entries.iter())
                    .filter_map(|e| match e {
                        crate::listing::Entry::File(name, _) => Some(format!("{name}\r\n")),
                        crate::listing::Entry::Folder(_) => None,
                    })
                    .collect::<String>()
                    .into_bytes();
                matching_names(&names, folder, glob)
            }
            Err(e) => return Err(e),
        };
        if found.is_empty() {
            return Err(Error::Usage(format!("no remote file matches {pattern}")));
        }
        Ok(found)
    }
}

/// Whether a line cannot change remote folders (so their names stay cached):
/// an unknown verb changes nothing.
fn reads_only(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    words::lookup(first).is_none_or(|w| w.reads_only)
}

/// `folder/name` split into the folder to list (`""` for the current one)
/// and the start of the name.
fn folder_and_start(prefix: &str) -> (&str, &str) {
    match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    }
}

impl Complete for Interpreter {
    fn candidates(&mut self, head: &str, prefix: &str) -> Vec<String> {
        let done = words::split_words(head).unwrap_or_default();
        let kind = match done.first() {
            None => Kind::Verb,
            Some(verb) => match words::lookup(verb) {
                Some(w) => {
                    let args = done[1..].iter().filter(|a| !a.starts_with('-')).count();
                    w.argument(args)
                }
                None => Kind::Nothing,
            },
        };
        let (folder, start) = folder_and_start(prefix);
        let names = match kind {
            Kind::Nothing => return Vec::new(),
            Kind::Verb => {
                // In the case the person types in.
                let lower = prefix.chars().any(|c| c.is_ascii_lowercase()) || prefix.is_empty();
                let all = words::WORDS
                    .iter()
                    .flat_map(|w| std::iter::once(&w.verb).chain(w.aliases));
                let fits = all.filter(|v| v.starts_with(&prefix.to_ascii_uppercase()));
                let fits = fits.filter(|v| v.chars().all(|c| c.is_ascii_alphabetic()));
                return fits
                    .map(|v| {
                        if lower {
                            v.to_ascii_lowercase()
                        } else {
                            v.to_string()
                        }
                    })
                    .collect();
            }
            Kind::Local => local_names(&self.dir.join(folder)),
            Kind::Remote | Kind::RemoteFolder => match self.remote_names(folder) {
                Some(names) => names,
                None => return Vec::new(),
            },
        };
        names
            .into_iter()
            .filter(|n| n.starts_with(start) && (kind != Kind::RemoteFolder || n.ends_with('/')))
            .filter(|n| start.starts_with('.') || !n.starts_with('.'))
            .map(|n| format!("{folder}{n}"))
            .collect()
    }
}

impl Interpreter {
    /// The names in a remote folder, folders ending in `/`: asked once, then
    /// kept until a command may have changed them.
    fn remote_names(&mut self, folder: &str) -> Option<Vec<String>> {
        if !self.remote_names.contains_key(folder) {
            let client = self.client().ok()?;
            let entries = client.entries(folder).ok()?;
            let names = entries.into_iter().map(|e| match e {
                crate::listing::Entry::File(name, _) => name,
                crate::listing::Entry::Folder(name) => name + "/",
            });
            self.remote_names
                .insert(folder.to_string(), names.collect());
        }
        self.remote_names.get(folder).cloned()
    }
}

/// The names in a local folder, folders ending in `/`, temporary files left out.
fn local_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let folder = e.path().is_dir();
            (!name.starts_with(TEMP_PREFIX)).then(|| if folder { name + "/" } else { name })
        })
        .collect()
}

/// A recursive transfer's running totals: one progress line for the whole
/// tree, naming the file that moved last, with the bytes of all of them.
#[derive(Default)]
struct Tally {
    files: usize,
    bytes: u64,
    finished: usize,
    finished_bytes: u64,
    /// The files on their way (several sessions at once), and their bytes so far.
    moving: HashMap<String, u64>,
    /// The notes said so far.
    noted: std::collections::HashSet<String>,
}

impl Tally {
    /// Reports one step of a recursive transfer.
    fn tell(&mut self, out: &mut dyn Output, verb: &str, progress: tree::Progress) {
        match progress {
            tree::Progress::Planned(files, bytes) => (self.files, self.bytes) = (files, bytes),
            tree::Progress::Moving(path, done) => {
                self.moving.insert(path.to_string(), done);
                let done = self.finished_bytes + self.moving.values().sum::<u64>();
                let name = format!("{path} ({} of {} files)", self.finished + 1, self.files);
                out.progress(&name, done, Some(self.bytes));
            }
            tree::Progress::Moved(path, result) => {
                self.moving.remove(path);
                self.finished += 1;
                match result {
                    Ok(t) => {
                        self.finished_bytes += t.bytes;
                        out.say(&result_line(verb, path, *t))
                    }
                    Err(e) => out.error(&format!("{path}: {e}")),
                }
            }
            // Each session of the tree may say the same.
            tree::Progress::Note(line) => {
                if self.noted.insert(line.to_string()) {
                    out.say(line)
                }
            }
        }
    }
}

/// The summary line of a recursive transfer, `received photos: 20 files, 1.2 MiB
/// in 0.21 s (5.7 MiB/s); 3 unchanged, 1 deleted`; an error if anything failed.
fn summarize(
    verb: &str,
    name: &str,
    s: Result<tree::Summary, Error>,
    out: &mut dyn Output,
) -> Result<(), Error> {
    // The tree's progress line ends first, whatever the outcome.
    out.progress_done();
    let s = s?;
    let mut line = format!(
        "{verb} {name}: {} file{}, {} in {} ({}); {} unchanged",
        s.files,
        if s.files == 1 { "" } else { "s" },
        human_bytes(s.bytes),
        human_duration(s.elapsed),
        human_rate(s.bytes, s.elapsed),
        s.unchanged
    );
    if s.deleted > 0 {
        line.push_str(&format!(", {} deleted", s.deleted));
    }
    out.say(&line);
    if s.failed.is_empty() {
        return Ok(());
    }
    let mut names: Vec<&str> = s.failed.iter().take(5).map(|(p, _)| p.as_str()).collect();
    if s.failed.len() > 5 {
        names.push("...");
    }
    Err(Error::Usage(format!(
        "{} failed: {}",
        s.failed.len(),
        names.join(", ")
    )))
}

/// Whether a typed line is a mirror (`GET -r`, `PUT -r`).
fn is_mirror(line: &str) -> bool {
    matches!(
        line.parse::<UserCommand>(),
        Ok(UserCommand::GetTree { .. } | UserCommand::PutTree { .. })
    )
}

/// `sub/*.txt` is the folder `sub` and the pattern `*.txt`; `/x*` is `/` and `x*`.
fn split_pattern(pattern: &str) -> (Option<&str>, &str) {
    match pattern.rsplit_once('/') {
        Some((f, g)) => (Some(if f.is_empty() { "/" } else { f }), g),
        None => (None, pattern),
    }
}

/// `name` in the remote `folder` as a pattern gave it (`None`: the current one).
fn in_folder(folder: Option<&str>, name: &str) -> String {
    match folder {
        Some(f) => format!("{}/{name}", f.trim_end_matches('/')),
        None => name.to_string(),
    }
}

/// The names in an NLST listing of `folder` that match `glob`, sorted, with the
/// folder in front. A server may answer bare names or `folder/name`; either way
/// only the last component is matched.
fn matching_names(listing: &[u8], folder: Option<&str>, glob: &str) -> Vec<String> {
    let glob = Pattern::new(glob);
    let mut found: Vec<String> = String::from_utf8_lossy(listing)
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| l.rsplit('/').next())
        .filter(|name| glob.matches(name))
        .map(|name| in_folder(folder, name))
        .collect();
    found.sort();
    found
}

/// Plain files in `dir` matching `pattern`, sorted.
fn local_matches(dir: &Path, pattern: &str) -> Result<Vec<String>, Error> {
    let (mut found, glob) = (Vec::new(), Pattern::new(pattern));
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && glob.matches(&name) {
            found.push(name);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Error::Usage(format!("no local file matches {pattern}")));
    }
    Ok(found)
}

/// The local name a file is saved under: the last component, never a path, so
/// a remote name can never place a file outside the local folder.
pub fn base_name(name: &str) -> Result<String, Error> {
    let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    match base {
        "" | "." | ".." => Err(Error::Usage(format!("no file name in {name:?}"))),
        b if b.starts_with(TEMP_PREFIX) => Err(Error::Usage(format!("reserved name {b:?}"))),
        b if b.chars().any(char::is_control) => Err(Error::Usage(format!(
            "refusing the name {b:?}: it has control characters"
        ))),
        b => Ok(b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsys::Root;
    use crate::server::{self, Config};
    use std::io::{self, Write};
    use std::net::TcpListener;

    /// Collects what the interpreter says, as a terminal would show it.
    #[derive(Default)]
    struct Screen {
        said: Vec<String>,
        errors: Vec<String>,
        text: Vec<u8>,
    }

    impl Output for Screen {
        fn say(&mut self, line: &str) {
            self.said.push(line.to_string());
        }
        fn error(&mut self, line: &str) {
            self.errors.push(line.to_string());
        }
        fn text(&mut self) -> &mut dyn Write {
            &mut self.text
        }
    }

    fn scratch(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dialback-interp-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The real server, in this process on a free port, sharing `root`.
    fn serve(root: &Path) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = Config::new(Root::new(root).unwrap());
        std::thread::spawn(move || server::Server::new(config, vec![listener]).run());
        port
    }

    fn lines(script: &str) -> impl Iterator<Item = io::Result<String>> {
        words::split_script(script).into_iter().map(Ok)
    }

    #[test]
    fn a_tree_shows_one_progress_line_with_the_current_file_and_the_totals() {
        #[derive(Default)]
        struct Seen {
            progress: Vec<(String, u64, Option<u64>)>,
            said: Vec<String>,
        }
        impl Output for Seen {
            fn say(&mut self, line: &str) {
                self.said.push(line.to_string());
            }
            fn error(&mut self, line: &str) {
                self.said.push(format!("error: {line}"));
            }
            fn text(&mut self) -> &mut dyn Write {
                unreachable!()
            }
            fn progress(&mut self, name: &str, done: u64, total: Option<u64>) {
                self.progress.push((name.to_string(), done, total));
            }
        }
        let (mut seen, mut tally) = (Seen::default(), Tally::default());
        let done = Ok(crate::client::Transfer {
            bytes: 100,
            elapsed: std::time::Duration::from_millis(5),
        });
        let failed = Err(Error::Usage("no".into()));
        let steps = [
            tree::Progress::Planned(3, 350),
            tree::Progress::Moving("a", 50),
            tree::Progress::Moving("b", 100),
            tree::Progress::Moved("a", &done),
            tree::Progress::Moving("b", 150),
            tree::Progress::Moved("b", &failed),
            tree::Progress::Moving("c", 10),
        ];
        for step in steps {
            tally.tell(&mut seen, "received", step);
        }
        let line = |n: &str, d, t| (n.to_string(), d, Some(t));
        assert_eq!(
            seen.progress,
            [
                line("a (1 of 3 files)", 50, 350),
                line("b (1 of 3 files)", 150, 350),
                line("b (2 of 3 files)", 250, 350),
                line("c (3 of 3 files)", 110, 350),
            ]
        );
        assert!(
            seen.said[0].starts_with("received a: 100 B"),
            "{:?}",
            seen.said
        );
        assert_eq!(seen.said[1], "error: b: no");
    }

    #[test]
    fn local_names_are_base_names() {
        assert_eq!(base_name("a/b/c.txt").unwrap(), "c.txt");
        assert_eq!(base_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(base_name("dir/").unwrap(), "dir");
        assert!(base_name("..").is_err());
        assert!(base_name("/").is_err());
        assert!(base_name("x/.dialback-1-2.part").is_err());
        assert!(base_name("evil\x1b]0;pwned\x07").is_err());
    }

    #[test]
    fn remote_patterns_match_the_last_component_and_keep_the_folder() {
        assert_eq!(split_pattern("sub/*.txt"), (Some("sub"), "*.txt"));
        assert_eq!(split_pattern("/x*"), (Some("/"), "x*"));
        assert_eq!(split_pattern("*.txt"), (None, "*.txt"));
        // Bare names (ours) and folder/name (vsftpd, proftpd) both work.
        let listing = b"b.txt\r\nsub/a.txt\r\nc.bin\r\n.hidden.txt\r\n";
        assert_eq!(
            matching_names(listing, Some("sub/"), "*.txt"),
            ["sub/a.txt", "sub/b.txt"]
        );
        assert_eq!(matching_names(listing, None, "?.bin"), ["c.bin"]);
        assert!(matching_names(listing, None, "*.zip").is_empty());
    }

    #[test]
    fn mput_sends_matching_plain_files_and_mget_brings_them_back() {
        let (srv, cli) = (scratch("srv"), scratch("cli"));
        std::fs::create_dir(cli.join("folder.txt")).unwrap();
        for name in ["a.txt", "b.txt", "c.bin"] {
            std::fs::write(cli.join(name), name).unwrap();
        }
        let port = serve(&srv);
        let mut interp = Interpreter::new(cli.clone(), Options::default());
        let mut screen = Screen::default();
        let script = "MPUT *.txt; MGET nothing*; MGET ?.txt";
        let ok = interp.run(Some(("127.0.0.1", port)), &mut lines(script), &mut screen);
        assert!(!ok, "MGET nothing* must fail");
        assert_eq!(screen.errors, ["no remote file matches nothing*"]);
        let sent: Vec<_> = screen
            .said
            .iter()
            .filter(|l| l.starts_with("sent "))
            .collect();
        let got: Vec<_> = screen
            .said
            .iter()
            .filter(|l| l.starts_with("received "))
            .collect();
        assert_eq!((sent.len(), got.len()), (2, 2), "{:?}", screen.said);
        assert_eq!(std::fs::read(srv.join("b.txt")).unwrap(), b"b.txt");
        assert!(!srv.join("c.bin").exists() && !srv.join("folder.txt").exists());
        std::fs::remove_dir_all(&srv).unwrap();
        std::fs::remove_dir_all(&cli).unwrap();
    }

    #[test]
    fn lcd_moves_where_get_saves_and_put_reads_and_a_bad_folder_changes_nothing() {
        let (srv, cli) = (scratch("srv-lcd"), scratch("cli-lcd"));
        std::fs::write(srv.join("r.txt"), b"remote").unwrap();
        std::fs::create_dir(cli.join("in")).unwrap();
        std::fs::write(cli.join("in/l.txt"), b"local").unwrap();
        let port = serve(&srv);
        let mut interp = Interpreter::new(cli.clone(), Options::default());
        let mut screen = Screen::default();
        let script = "lcd nowhere; LCD in; GET r.txt; PUT l.txt; LCD ..; GET r.txt top.txt";
        let ok = interp.run(Some(("127.0.0.1", port)), &mut lines(script), &mut screen);
        assert!(!ok, "LCD nowhere must fail");
        assert_eq!(screen.errors.len(), 1, "{:?}", screen.errors);
        assert!(screen.errors[0].contains("nowhere"), "{:?}", screen.errors);
        let inside = std::fs::canonicalize(cli.join("in")).unwrap();
        assert!(screen
            .said
            .contains(&format!("local folder now {}", inside.display())));
        assert_eq!(std::fs::read(cli.join("in/r.txt")).unwrap(), b"remote");
        assert_eq!(std::fs::read(srv.join("l.txt")).unwrap(), b"local");
        assert_eq!(std::fs::read(cli.join("top.txt")).unwrap(), b"remote");
        std::fs::remove_dir_all(&srv).unwrap();
        std::fs::remove_dir_all(&cli).unwrap();
    }

    /// Issue 21, item 3: the local tree is read before the downloads and
    /// deletions. A folder of it swapped for a symlink to a victim's folder in
    /// between (here exactly then, from the progress report that the plan is
    /// made) is refused and named; nothing in the victim's folder goes.
    #[test]
    fn a_local_folder_swapped_for_a_link_mid_run_is_not_deleted_through() {
        let (srv, cli, victim) = (scratch("swap-srv"), scratch("swap-cli"), scratch("swap-v"));
        std::fs::create_dir_all(srv.join("m")).unwrap();
        std::fs::write(srv.join("m/new.txt"), b"new").unwrap();
        std::fs::create_dir_all(cli.join("m/old")).unwrap();
        std::fs::write(cli.join("m/old/x"), b"old").unwrap();
        std::fs::write(victim.join("x"), b"victim").unwrap();
        let port = serve(&srv);
        let mut client = Client::connect("127.0.0.1", port, Default::default()).unwrap();
        let (old, spare) = (cli.join("m/old"), cli.join("spare"));
        let summary = client
            .get_tree(
                "m",
                &cli.join("m"),
                super::tree::Mirror {
                    delete: true,
                    checksum: false,
                },
                &mut |p| {
                    if let tree::Progress::Planned(..) = p {
                        std::fs::rename(&old, &spare).unwrap();
                        std::os::unix::fs::symlink(&victim, &old).unwrap();
                    }
                },
            )
            .unwrap();
        let failed: Vec<_> = summary
            .failed
            .iter()
            .map(|(p, e)| format!("{p}: {e}"))
            .collect();
        let want = [
            "old/x: a symlink is in the way (never followed here)",
            "old: not a directory",
        ];
        assert_eq!(failed, want);
        assert!(old.is_symlink(), "the link itself is left alone");
        assert_eq!(std::fs::read(victim.join("x")).unwrap(), b"victim");
        assert_eq!(std::fs::read(cli.join("m/new.txt")).unwrap(), b"new");
        for dir in [srv, cli, victim] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn one_failed_file_does_not_stop_a_batch_but_stop_on_error_stops_a_script() {
        let (srv, cli) = (scratch("srv-batch"), scratch("cli-batch"));
        std::fs::write(srv.join("a.txt"), b"a").unwrap();
        std::fs::write(srv.join("b.txt"), b"b").unwrap();
        std::fs::write(srv.join("c.txt"), b"c").unwrap();
        // A folder here where b.txt would land: that one file fails.
        std::fs::create_dir(cli.join("b.txt")).unwrap();
        let port = serve(&srv);
        let mut interp = Interpreter::new(cli.clone(), Options::default());
        let mut screen = Screen::default();
        let ok = interp.run(
            Some(("127.0.0.1", port)),
            &mut lines("MGET *.txt; PWD"),
            &mut screen,
        );
        assert!(!ok);
        assert_eq!(screen.errors.len(), 2, "{:?}", screen.errors);
        assert!(
            screen.errors[0].starts_with("b.txt: "),
            "{:?}",
            screen.errors
        );
        assert_eq!(screen.errors[1], "1 of 3 files failed");
        assert_eq!(screen.said.last().unwrap(), "/", "the script went on");
        assert!(cli.join("a.txt").exists() && cli.join("c.txt").exists());

        let mut stopping = Interpreter::new(cli.clone(), Options::default());
        stopping.stop_on_error = true;
        let mut screen = Screen::default();
        let script = "GET missing; PWD";
        assert!(!stopping.run(Some(("127.0.0.1", port)), &mut lines(script), &mut screen));
        assert_eq!(screen.said, [format!("connected to 127.0.0.1:{port}")]);
        std::fs::remove_dir_all(&srv).unwrap();
        std::fs::remove_dir_all(&cli).unwrap();
    }

    #[test]
    fn folders_are_made_renamed_and_removed_on_the_server() {
        let (srv, cli) = (scratch("srv-files"), scratch("cli-files"));
        std::fs::write(srv.join("a.txt"), b"a").unwrap();
        let port = serve(&srv);
        let mut interp = Interpreter::new(cli.clone(), Options::default());
        let mut screen = Screen::default();
        let script = "mkdir d; mv a.txt d/b.txt; rm d/b.txt; rmdir d; rmdir nothere";
        assert!(!interp.run(Some(("127.0.0.1", port)), &mut lines(script), &mut screen));
        assert_eq!(
            screen.said[1..],
            [
                "made d",
                "renamed a.txt to d/b.txt",
                "deleted d/b.txt",
                "removed d"
            ]
        );
        assert_eq!(screen.errors.len(), 1, "{:?}", screen.errors);
        assert!(screen.errors[0].starts_with("refused by the server: 550 "));
        assert_eq!(std::fs::read_dir(&srv).unwrap().count(), 0);
        std::fs::remove_dir_all(&srv).unwrap();
        std::fs::remove_dir_all(&cli).unwrap();
    }

    #[test]
    fn commands_without_a_connection_say_how_to_get_one() {
        let mut interp = Interpreter::new(scratch("none"), Options::default());
        let mut screen = Screen::default();
        let ok = interp.run(None, &mut lines("GET a; HELP put; EXIT; PWD"), &mut screen);
        assert!(!ok);
        assert_eq!(screen.errors, ["not connected; use OPEN HOST PORT"]);
        assert_eq!(
            String::from_utf8(screen.text).unwrap(),
            words::help(Some("PUT")).unwrap()
        );
        assert!(screen.said.is_empty(), "EXIT ends the script before PWD");
    }

    #[test]
    fn after_a_failed_login_not_connected_says_why() {
        let mut interp = Interpreter::new(scratch("refused"), Options::default());
        let mut screen = Screen::default();
        // Nothing listens on port 1 of this machine.
        interp.run(Some(("127.0.0.1", 1)), &mut lines("PWD"), &mut screen);
        assert_eq!(screen.errors.len(), 2, "{:?}", screen.errors);
        assert!(
            screen.errors[1].starts_with("not connected (127.0.0.1 1: cannot connect"),
            "{:?}",
            screen.errors
        );
    }
}
