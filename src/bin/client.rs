//! The `client` binary: parses its arguments, then hands commands from `-c`,
//! a script on stdin, or a person at a terminal to the library's interpreter.
//! What is terminal-specific lives here: the prompt and the live progress line
//! (only at a terminal), asking for a password without echo, and the exit
//! status: 0 when every command succeeded, 1 when any failed, 2 for usage.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dialback::client::interp::{Interpreter, Output};
use dialback::client::units::human_bytes;
use dialback::client::words::split_script;
use dialback::client::{Direction, Options};

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

/// The terminal (or the pipes) the client writes to.
struct Console {
    stdout: io::Stdout,
    quiet: bool,
    /// A person types the commands: show a prompt.
    prompting: bool,
    /// ... and sees stderr: show live progress.
    meter: Option<Option<Meter>>,
}

impl Output for Console {
    fn say(&mut self, line: &str) {
        if !self.quiet {
            // A closed stdout (`client ... | head`) is not an error.
            let _ = writeln!(self.stdout, "{line}");
        }
    }

    fn error(&mut self, line: &str) {
        eprintln!("error: {line}");
    }

    fn text(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn progress(&mut self, name: &str, done: u64, total: Option<u64>) {
        if let Some(meter) = &mut self.meter {
            meter
                .get_or_insert_with(|| Meter::new(name))
                .update(done, total);
        }
    }

    fn progress_done(&mut self) {
        if let Some(Some(meter)) = self.meter.as_mut().map(Option::take) {
            meter.clear();
        }
    }

    fn prompt(&mut self, prompt: &str) {
        if self.prompting {
            let _ = write!(self.stdout, "{prompt}");
            let _ = self.stdout.flush();
        }
    }

    fn input_ended(&mut self) {
        if self.prompting {
            let _ = writeln!(self.stdout);
        }
    }
}

/// The live progress line on stderr: shown only to a person at a terminal, only
/// for transfers longer than half a second, redrawn at most ten times a second.
struct Meter {
    name: String,
    started: Instant,
    drawn: Option<Instant>,
}

impl Meter {
    fn new(name: &str) -> Meter {
        Meter {
            name: name.to_string(),
            started: Instant::now(),
            drawn: None,
        }
    }

    fn update(&mut self, done: u64, total: Option<u64>) {
        let elapsed = self.started.elapsed();
        if elapsed < Duration::from_millis(500) {
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
    let prompting = args.script.is_none() && io::stdin().is_terminal();
    let mut console = Console {
        stdout: io::stdout(),
        quiet: args.quiet,
        prompting,
        meter: (prompting && io::stderr().is_terminal()).then_some(None),
    };
    let mut interp = Interpreter::new(args.dir, args.options);
    interp.stop_on_error = args.stop_on_error;
    if args.verbose {
        interp.trace = Some(|dir, line| {
            let arrow = if dir == Direction::Sent { '>' } else { '<' };
            eprintln!("{arrow} {line}");
        });
    }
    let mut lines: Box<dyn Iterator<Item = io::Result<String>>> = match &args.script {
        Some(script) => Box::new(split_script(script).into_iter().map(Ok)),
        None => Box::new(io::stdin().lock().lines()),
    };
    let target = args.target.as_ref().map(|(h, p)| (h.as_str(), *p));
    if interp.run(target, &mut lines, &mut console) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
