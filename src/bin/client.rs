//! The `client` binary: parses its arguments, then hands commands from `-c`,
//! a script on stdin, or a person at a terminal to the library's interpreter.
//! What is terminal-specific is chosen here: the line editor or plain lines,
//! the prompt and the live progress line (only at a terminal), catching
//! Ctrl-C and SIGTERM, and the exit status: 0 when every command succeeded, 1
//! when any failed, 2 for usage, 128 + the signal when one ended the client.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use dialback::cli::{self, Flags, Start};
use dialback::client::console::{self, Console};
use dialback::client::editor::{self, Editor, History, HISTORY_LINES};
use dialback::client::interp::Interpreter;
use dialback::client::login::{find_password, netrc_user, parse_url};
use dialback::client::ports::Lines;
use dialback::client::words::split_script;
use dialback::client::words::FTP_PORT;
use dialback::client::{Direction, Options};
use dialback::signals;

const USAGE: &str = "\
usage: client [HOST [PORT] | ftp://[USER@]HOST[:PORT][/PATH]] [options]

Fetches and sends files over FTP. Commands come from -c, from stdin, or from
you at the prompt; type HELP for the list.

options:
  --dir DIR                the local folder for GET and PUT (default: the current one)
  --passive                dial the server for data (EPSV/PASV) instead of PORT/EPRT
  --verify                 check every GET and PUT against the server's checksum (HASH)
  --limit-rate RATE        the most all transfers together move per second
                           (500, 100K, 1.5M, 2G; K = 1024); RATE at the prompt
  --user NAME              log in as NAME (default: ~/.netrc's login for the host,
                           else anonymous); the password comes from
                           $DIALBACK_PASSWORD, ~/.netrc, or is asked for
  -c 'CMD; CMD'            run these commands and exit
  -e, --stop-on-error      stop at the first failed command
  -q                       no result lines
  -v                       show the control dialogue on stderr
  --connect-timeout SECS   wait for a connection (default 30)
  --stall-timeout SECS     wait for a reply or a byte of data (default 60)
  --help, --version";

struct Args {
    target: Option<(String, u16)>,
    /// The remote folder to start in (an `ftp://` URL's path).
    start_in: Option<String>,
    dir: PathBuf,
    options: Options,
    script: Option<String>,
    stop_on_error: bool,
    quiet: bool,
    verbose: bool,
    /// Whether `--user`, a URL or `~/.netrc` named the user at the start.
    user_named: bool,
}

fn parse_args(flags: &mut Flags) -> Result<Start<Args>, String> {
    let mut positional = Vec::new();
    let mut parsed = Args {
        target: None,
        start_in: None,
        dir: PathBuf::from("."),
        options: Options::default(),
        script: None,
        stop_on_error: false,
        quiet: false,
        verbose: false,
        user_named: false,
    };
    let (mut user, mut password) = (None, None);
    while let Some(arg) = flags.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Start::Usage),
            "--version" | "-V" => return Ok(Start::Version),
            "--dir" => parsed.dir = PathBuf::from(flags.value(&arg)?),
            "--passive" => parsed.options.passive = true,
            "--verify" => parsed.options.verify = true,
            "--limit-rate" => {
                let rate = dialback::data::parse_rate(&flags.value(&arg)?)?;
                parsed.options.limit_rate = Some(dialback::data::Limit::new(rate));
            }
            "--user" => user = Some(flags.value(&arg)?),
            "-c" => parsed.script = Some(flags.value(&arg)?),
            "-e" | "--stop-on-error" => parsed.stop_on_error = true,
            "-q" | "--quiet" => parsed.quiet = true,
            "-v" | "--verbose" => parsed.verbose = true,
            "--connect-timeout" => parsed.options.connect_timeout = flags.seconds(&arg)?,
            "--stall-timeout" => parsed.options.stall_timeout = flags.seconds(&arg)?,
            a if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option {a}")),
            _ => positional.push(arg),
        }
    }
    match &positional[..] {
        [] => {}
        [url] if url.to_ascii_lowercase().starts_with("ftp://") => {
            let url = parse_url(url)?;
            parsed.target = Some((url.host, url.port));
            parsed.start_in = url.path;
            user = user.or(url.user);
            password = url.password;
        }
        // A host alone: FTP's own port, as every FTP client takes it.
        [host] => parsed.target = Some((host.clone(), FTP_PORT)),
        [host, port] => {
            let port = cli::port(port)
                .ok()
                .filter(|&p| p > 0)
                .ok_or(format!("not a port number: {port}"))?;
            parsed.target = Some((host.clone(), port));
        }
        _ => return Err("give HOST [PORT], or an ftp:// URL, or neither".to_string()),
    }
    // No user named: ~/.netrc's login for the host, if it has one.
    if let (None, Some((host, _))) = (&user, &parsed.target) {
        match netrc_user(host)? {
            // Anonymous without a password: the default login already.
            Some((login, None)) if ["anonymous", "ftp"].contains(&login.as_str()) => {}
            Some((login, stored)) => {
                user = Some(login);
                password = password.or(stored);
            }
            None => {}
        }
    }
    parsed.user_named = user.is_some();
    if let Some(user) = user {
        let host = parsed.target.as_ref().map_or("", |(h, _)| h.as_str());
        parsed.options.password = match password {
            Some(p) => p,
            None => find_password(host, &user, &mut ask_at_terminal)?.ok_or_else(|| {
                format!(
                    "--user {user} needs a password: type it at a terminal, or set DIALBACK_PASSWORD, or add it to ~/.netrc"
                )
            })?,
        };
        parsed.options.user = user;
    }
    if !parsed.dir.is_dir() {
        return Err(format!("not a folder: {}", parsed.dir.display()));
    }
    Ok(Start::Run(parsed))
}

/// Asks for a password without echo, if stdin is a terminal.
fn ask_at_terminal(prompt: &str) -> Option<String> {
    if !io::stdin().is_terminal() {
        return None;
    }
    dialback::tty::read_secret(prompt).ok().flatten()
}

fn main() -> ExitCode {
    let args = match cli::start("client", USAGE, parse_args) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let prompting = args.script.is_none() && io::stdin().is_terminal();
    let meter = prompting && io::stderr().is_terminal();
    let mut console = Console::new(args.quiet, prompting, meter);
    // The one token every wait and transfer watches; Ctrl-C and SIGTERM stop it.
    let cancel = args.options.cancel.clone();
    let mut interp = Interpreter::new(args.dir, args.options);
    interp.stop_on_error = args.stop_on_error;
    interp.start_in = args.start_in;
    interp.user_named = args.user_named;
    if args.verbose {
        interp.trace = Some(|dir, line| {
            let arrow = if dir == Direction::Sent { '>' } else { '<' };
            // What a server says is shown, never obeyed by the terminal.
            eprintln!("{arrow} {}", console::printable(line));
        });
    }
    // Ctrl-C and SIGTERM stop a transfer cleanly (no temporary file left);
    // at the prompt Ctrl-C is a key; outside both the client just ends.
    if let Err(e) = signals::install(&cancel) {
        eprintln!("client: cannot catch Ctrl-C: {e}");
    }
    interp.interactive = prompting;
    let mut lines: Box<dyn Lines> = match &args.script {
        Some(script) => Box::new(split_script(script).into_iter().map(Ok)),
        None if prompting && editor::usable() => Box::new(Editor::new(
            History::load(History::default_path(), HISTORY_LINES),
            cancel,
        )),
        // A line at a time, not holding stdin locked: USER may ask for a password.
        None => Box::new(std::iter::from_fn(console::read_line)),
    };
    let target = args.target.as_ref().map(|(h, p)| (h.as_str(), *p));
    let ok = interp.run(target, &mut *lines, &mut console);
    if let Some(stop) = interp.stopped {
        ExitCode::from(signals::status(stop))
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
