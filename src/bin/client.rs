//! The `client` binary: parses its arguments, then runs user commands from
//! `-c`, a script on stdin, or a person at a terminal (with a prompt and a
//! progress line). Results go to stdout, `error: ...` lines to stderr; the exit
//! status is 0 when every command succeeded, 1 when any failed, 2 for usage.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dialback::client::{Client, Direction, Observer, Options, Transfer};
use dialback::shell::{self, human_bytes, human_duration, human_rate, UserCommand};
use dialback::Error;

const USAGE: &str = "\
usage: client [HOST PORT] [options]

Fetches and sends files over FTP. Commands come from -c, from stdin, or from
you at the prompt; type HELP for the list.

options:
  --dir DIR                the local folder for GET and PUT (default: the current one)
  --passive                dial the server for data (EPSV/PASV) instead of PORT/EPRT
  --user NAME              log in as NAME, password from $DIALBACK_PASSWORD (default: anonymous)
  -c 'CMD; CMD'            run these commands and exit
  -e, --stop-on-error      stop at the first failed command
  -q                       no result lines
  -v                       show the control dialogue on stderr
  --connect-timeout SECS   wait for a connection (default 30)
  --stall-timeout SECS     wait for a reply or a byte of data (default 60)
  --help, --version";

struct Args {
    target: Option<(String, u16)>,
    dir: PathBuf,
    options: Options,
    script: Option<String>,
    stop_on_error: bool,
    quiet: bool,
    verbose: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Args>, String> {
    let mut positional = Vec::new();
    let mut parsed = Args {
        target: None,
        dir: PathBuf::from("."),
        options: Options::default(),
        script: None,
        stop_on_error: false,
        quiet: false,
        verbose: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--version" | "-V" => {
                println!("client (dialback) {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--dir" => parsed.dir = PathBuf::from(value(arg)?),
            "--passive" => parsed.options.passive = true,
            "--user" => {
                let user = value(arg)?;
                parsed.options.password = match std::env::var("DIALBACK_PASSWORD") {
                    Ok(p) => p,
                    Err(_) if io::stdin().is_terminal() => ask_password(&user),
                    Err(_) => String::new(),
                };
                parsed.options.user = user;
            }
            "-c" => parsed.script = Some(value(arg)?),
            "-e" | "--stop-on-error" => parsed.stop_on_error = true,
            "-q" | "--quiet" => parsed.quiet = true,
            "-v" | "--verbose" => parsed.verbose = true,
            "--connect-timeout" => parsed.options.connect_timeout = seconds(arg, &value(arg)?)?,
            "--stall-timeout" => parsed.options.stall_timeout = seconds(arg, &value(arg)?)?,
            a if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option {a}")),
            a => positional.push(a.to_string()),
        }
    }
    match &positional[..] {
        [] => {}
        [host, port] => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or(format!("not a port number: {port}"))?;
            parsed.target = Some((host.clone(), port));
        }
        _ => return Err("give both HOST and PORT, or neither".to_string()),
    }
    if !parsed.dir.is_dir() {
        return Err(format!("not a folder: {}", parsed.dir.display()));
    }
    Ok(Some(parsed))
}

/// Asks for a password at the terminal, with echo turned off by `stty`.
fn ask_password(user: &str) -> String {
    eprint!("password for {user}: ");
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let hidden = stty("-echo").is_ok_and(|s| s.success());
    let mut line = String::new();
    let _ = io::stdin().read_line(&mut line);
    if hidden {
        let _ = stty("echo");
    }
    eprintln!();
    line.trim_end_matches(['\r', '\n']).to_string()
}

fn seconds(name: &str, text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{name} needs a positive number of seconds")),
    }
}

/// What running one command leads to.
enum Next {
    Continue,
    Exit,
}

struct Repl {
    connection: Option<(Client, String)>,
    dir: PathBuf,
    options: Options,
    quiet: bool,
    verbose: bool,
    /// A person is at a terminal: show a prompt and progress.
    interactive: bool,
}

impl Repl {
    fn say(&self, line: &str) {
        if !self.quiet {
            // A closed stdout (`client ... | head`) is not an error.
            let _ = writeln!(io::stdout(), "{line}");
        }
    }

    fn prompt(&self) {
        let where_ = self
            .connection
            .as_ref()
            .map_or(String::new(), |(_, name)| format!(" {name}"));
        let mut out = io::stdout();
        let _ = write!(out, "dialback{where_}> ");
        let _ = out.flush();
    }

    fn client(&mut self) -> Result<&mut Client, Error> {
        match &mut self.connection {
            Some((client, _)) => Ok(client),
            None => Err(Error::Usage(
                "not connected; use OPEN HOST PORT".to_string(),
            )),
        }
    }

    fn open(&mut self, host: &str, port: u16) -> Result<(), Error> {
        self.close();
        let observer: Option<Observer> = if self.verbose {
            Some(Box::new(|dir, line| {
                let arrow = if dir == Direction::Sent { '>' } else { '<' };
                eprintln!("{arrow} {line}");
            }))
        } else {
            None
        };
        let client = Client::connect_observed(host, port, self.options.clone(), observer)?;
        let name = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        self.say(&format!("connected to {name}"));
        self.connection = Some((client, name));
        Ok(())
    }

    fn close(&mut self) {
        if let Some((client, _)) = self.connection.take() {
            // The server may be gone already; closing is all that is left to do.
            let _ = client.quit();
        }
    }

    fn run(&mut self, cmd: UserCommand) -> Result<Next, Error> {
        match cmd {
            UserCommand::Nothing => {}
            UserCommand::Exit => return Ok(Next::Exit),
            UserCommand::Help(topic) => {
                let text = shell::help(topic.as_deref()).map_err(Error::Usage)?;
                let _ = write!(io::stdout(), "{text}");
            }
            UserCommand::Open { host, port } => {
                self.open(host.as_deref().unwrap_or("127.0.0.1"), port)?
            }
            UserCommand::Close => match self.connection.take() {
                Some((client, name)) => {
                    let _ = client.quit();
                    self.say(&format!("closed {name}"));
                }
                None => return Err(Error::Usage("not connected".to_string())),
            },
            UserCommand::Passive => {
                self.options.passive = !self.options.passive;
                let passive = self.options.passive;
                if let Some((client, _)) = &mut self.connection {
                    client.set_passive(passive);
                }
                self.say(if passive {
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
                let line = self.get(&remote, local.as_deref().unwrap_or(&remote), resume)?;
                self.say(&line);
            }
            UserCommand::Put { local, remote } => {
                let remote = match remote {
                    Some(r) => r,
                    None => base_name(&local)?,
                };
                let line = self.put(&local, &remote)?;
                self.say(&line);
            }
            UserCommand::Mget(patterns) => {
                let mut names = Vec::new();
                for pattern in &patterns {
                    names.extend(self.remote_matches(pattern)?);
                }
                self.each(&names, |repl, name| repl.get(name, name, false))?;
            }
            UserCommand::Mput(patterns) => {
                let mut names = Vec::new();
                for pattern in &patterns {
                    names.extend(self.local_matches(pattern)?);
                }
                self.each(&names, |repl, name| repl.put(name, &base_name(name)?))?;
            }
            UserCommand::List(path) => {
                let client = self.client()?;
                let mut out = io::stdout().lock();
                client.list(path.as_deref(), false, &mut out)?;
            }
            UserCommand::Cd(path) => {
                let client = self.client()?;
                client.cd(&path)?;
                let now = client.pwd()?;
                self.say(&format!("remote folder: {now}"));
            }
            UserCommand::Pwd => {
                let now = self.client()?.pwd()?;
                self.say(&now);
            }
        }
        Ok(Next::Continue)
    }
}

impl Repl {
    fn get(&mut self, remote: &str, local: &str, resume: bool) -> Result<String, Error> {
        let name = base_name(local)?;
        let dest = self.dir.join(&name);
        let mut progress = Meter::new(&name, self.interactive);
        let client = self.client()?;
        let done = client.get(remote, &dest, resume, &mut |n, total| {
            progress.update(n, total)
        });
        progress.clear();
        Ok(result_line("received", &name, done?))
    }

    fn put(&mut self, local: &str, remote: &str) -> Result<String, Error> {
        let source = self.dir.join(local);
        let mut progress = Meter::new(remote, self.interactive);
        let client = self.client()?;
        let done = client.put(&source, remote, &mut |n, total| progress.update(n, total));
        progress.clear();
        Ok(result_line("sent", remote, done?))
    }

    /// Runs `one` on every name, reporting each; fails if any failed.
    fn each(
        &mut self,
        names: &[String],
        mut one: impl FnMut(&mut Repl, &str) -> Result<String, Error>,
    ) -> Result<(), Error> {
        let mut failed = 0;
        for name in names {
            match one(self, name) {
                Ok(line) => self.say(&line),
                Err(e) => {
                    failed += 1;
                    if self.client().is_ok_and(|c| c.is_broken()) {
                        return Err(e);
                    }
                    eprintln!("error: {name}: {e}");
                }
            }
        }
        match failed {
            0 => Ok(()),
            n => Err(Error::Usage(format!("{n} of {} files failed", names.len()))),
        }
    }

    /// Remote files matching `pattern` (its folder part taken literally), from NLST.
    fn remote_matches(&mut self, pattern: &str) -> Result<Vec<String>, Error> {
        let (folder, glob) = match pattern.rsplit_once('/') {
            Some((f, g)) => (Some(if f.is_empty() { "/" } else { f }), g),
            None => (None, pattern),
        };
        let mut listing = Vec::new();
        self.client()?.list(folder, true, &mut listing)?;
        let mut found: Vec<String> = String::from_utf8_lossy(&listing)
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter_map(|l| l.rsplit('/').next())
            .filter(|name| shell::glob_match(glob, name))
            .map(|name| match folder {
                Some(f) => format!("{}/{name}", f.trim_end_matches('/')),
                None => name.to_string(),
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(Error::Usage(format!("no remote file matches {pattern}")));
        }
        Ok(found)
    }

    /// Plain files in the local folder matching `pattern`.
    fn local_matches(&self, pattern: &str) -> Result<Vec<String>, Error> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() && shell::glob_match(pattern, &name) {
                found.push(name);
            }
        }
        found.sort();
        if found.is_empty() {
            return Err(Error::Usage(format!("no local file matches {pattern}")));
        }
        Ok(found)
    }
}

/// The local name a file is saved under: the last component, never a path.
fn base_name(name: &str) -> Result<String, Error> {
    let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    match base {
        "" | "." | ".." => Err(Error::Usage(format!("no file name in {name:?}"))),
        b if b.starts_with(dialback::fsys::TEMP_PREFIX) => {
            Err(Error::Usage(format!("reserved name {b:?}")))
        }
        b => Ok(b.to_string()),
    }
}

fn result_line(verb: &str, name: &str, t: Transfer) -> String {
    format!(
        "{verb} {name}: {} in {} ({})",
        human_bytes(t.bytes),
        human_duration(t.elapsed),
        human_rate(t.bytes, t.elapsed)
    )
}

/// The live progress line on stderr: shown only to a person at a terminal, only
/// for transfers longer than half a second, redrawn at most ten times a second.
struct Meter<'a> {
    name: &'a str,
    enabled: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl<'a> Meter<'a> {
    fn new(name: &'a str, enabled: bool) -> Meter<'a> {
        Meter {
            name,
            enabled,
            started: Instant::now(),
            drawn: None,
        }
    }

    fn update(&mut self, done: u64, total: Option<u64>) {
        let elapsed = self.started.elapsed();
        if !self.enabled || elapsed < Duration::from_millis(500) {
            return;
        }
        if self
            .drawn
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(Instant::now());
        let rate = done as f64 / elapsed.as_secs_f64();
        let mut line = format!("{} {}", self.name, human_bytes(done));
        if let Some(total) = total.filter(|&t| t > 0) {
            let left = (total.saturating_sub(done) as f64 / rate.max(1.0)) as u64;
            line += &format!(
                " of {} {:>3}% {}/s {}:{:02} left",
                human_bytes(total),
                done * 100 / total,
                human_bytes(rate as u64),
                left / 60,
                left % 60
            );
        } else {
            line += &format!(" {}/s", human_bytes(rate as u64));
        }
        let _ = write!(io::stderr(), "\r\x1b[K{line}");
    }

    fn clear(&self) {
        if self.drawn.is_some() {
            let _ = write!(io::stderr(), "\r\x1b[K");
        }
    }
}

/// Splits `-c`'s text into commands at semicolons outside quotes.
fn split_script(script: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quote = None;
    let mut escaped = false;
    for c in script.chars() {
        match (c, quote) {
            _ if escaped => escaped = false,
            ('\\', _) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (';', None) => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("never empty").push(c);
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("client: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let interactive = args.script.is_none() && io::stdin().is_terminal();
    let mut repl = Repl {
        connection: None,
        dir: args.dir,
        options: args.options,
        quiet: args.quiet,
        verbose: args.verbose,
        interactive: interactive && io::stderr().is_terminal(),
    };
    let mut failed = false;
    if let Some((host, port)) = &args.target {
        if let Err(e) = repl.open(host, *port) {
            eprintln!("error: {e}");
            failed = true;
            if args.stop_on_error {
                return ExitCode::FAILURE;
            }
        }
    }
    let mut lines: Box<dyn Iterator<Item = io::Result<String>>> = match &args.script {
        Some(script) => Box::new(split_script(script).into_iter().map(Ok)),
        None => Box::new(io::stdin().lock().lines()),
    };
    loop {
        if interactive {
            repl.prompt();
        }
        let line = match lines.next() {
            Some(Ok(line)) => line,
            Some(Err(e)) => {
                eprintln!("error: reading commands: {e}");
                failed = true;
                break;
            }
            None => {
                if interactive {
                    println!();
                }
                break;
            }
        };
        let outcome = match line.parse::<UserCommand>() {
            Ok(cmd) => repl.run(cmd),
            Err(msg) => Err(Error::Usage(msg)),
        };
        match outcome {
            Ok(Next::Continue) => {}
            Ok(Next::Exit) => break,
            Err(e) => {
                failed = true;
                let lost = repl.connection.as_ref().is_some_and(|(c, _)| c.is_broken());
                if lost {
                    let (_, name) = repl.connection.take().expect("checked above");
                    eprintln!("error: {e} (connection to {name} lost)");
                } else {
                    eprintln!("error: {e}");
                }
                if args.stop_on_error {
                    break;
                }
            }
        }
    }
    repl.close();
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_are_base_names() {
        assert_eq!(base_name("a/b/c.txt").unwrap(), "c.txt");
        assert_eq!(base_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(base_name("dir/").unwrap(), "dir");
        assert!(base_name("..").is_err());
        assert!(base_name("/").is_err());
    }

    #[test]
    fn scripts_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_script("GET a; PUT \"b;c\""),
            ["GET a", " PUT \"b;c\""]
        );
        assert_eq!(split_script("GET a\\;b"), ["GET a\\;b"]);
    }
}
