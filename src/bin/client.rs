//! The `client` binary: parses its arguments, then hands commands from `-c`,
//! a script on stdin, or a person at a terminal to the library's interpreter.
//! What is terminal-specific lives here: the prompt and the live progress line
//! (only at a terminal), asking for a password without echo, and the exit
//! status: 0 when every command succeeded, 1 when any failed, 2 for usage.

use std::io::{self, BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use dialback::cli::{self, Flags, Start};
use dialback::client::console::Console;
use dialback::client::interp::Interpreter;
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

fn parse_args(flags: &mut Flags) -> Result<Start<Args>, String> {
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
    while let Some(arg) = flags.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Start::Usage),
            "--version" | "-V" => return Ok(Start::Version),
            "--dir" => parsed.dir = PathBuf::from(flags.value(&arg)?),
            "--passive" => parsed.options.passive = true,
            "--user" => {
                let user = flags.value(&arg)?;
                parsed.options.password = match std::env::var("DIALBACK_PASSWORD") {
                    Ok(p) => p,
                    Err(_) if io::stdin().is_terminal() => ask_password(&user),
                    Err(_) => String::new(),
                };
                parsed.options.user = user;
            }
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
        [host, port] => {
            let port = cli::port(port)
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
    Ok(Start::Run(parsed))
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

fn main() -> ExitCode {
    let args = match cli::start("client", USAGE, parse_args) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let prompting = args.script.is_none() && io::stdin().is_terminal();
    let meter = prompting && io::stderr().is_terminal();
    let mut console = Console::new(args.quiet, prompting, meter);
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
