//! The `server` binary: parses its arguments into a `Config`, binds the
//! control port, says where it listens, and serves until killed.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use dialback::fsys::Root;
use dialback::server::{self, Config};

const USAGE: &str = "\
usage: server PORT [options]

Shares a folder over FTP (a strict subset: see README.md). PORT 0 picks a free port.

options:
  --root DIR               the folder to share (default: the current folder)
  --bind ADDR              the address to listen on (default: all, IPv6 and IPv4)
  --read-only              refuse uploads
  --max-sessions N         sessions at once; more are told 421 (default 64)
  --idle-timeout SECS      close a silent control connection (default 300)
  --connect-timeout SECS   wait for a data connection (default 30)
  --stall-timeout SECS     abort a transfer that moves no byte (default 60)
  --passive-ports LOW-HIGH the ports passive mode may use (default: any)
  --public-address IPV4    the address PASV replies give, behind NAT
  --help, --version";

struct Args {
    port: u16,
    bind: Option<IpAddr>,
    root: PathBuf,
    config: Config,
}

fn parse_args(args: &[String]) -> Result<Option<Args>, String> {
    let mut port = None;
    let mut bind = None;
    let mut root = PathBuf::from(".");
    let mut read_only = false;
    let mut max_sessions = 64;
    let (mut idle, mut connect, mut stall) = (300.0, 30.0, 60.0);
    let mut passive_ports = None;
    let mut public_address = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--version" | "-V" => {
                println!("server (dialback) {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--root" => root = PathBuf::from(value(arg)?),
            "--bind" => {
                bind = Some(
                    value(arg)?
                        .parse()
                        .map_err(|_| "--bind needs an IP address")?,
                )
            }
            "--read-only" => read_only = true,
            "--max-sessions" => {
                max_sessions = value(arg)?
                    .parse()
                    .map_err(|_| "--max-sessions needs a whole number")?
            }
            "--idle-timeout" => idle = seconds(arg, &value(arg)?)?,
            "--connect-timeout" => connect = seconds(arg, &value(arg)?)?,
            "--stall-timeout" => stall = seconds(arg, &value(arg)?)?,
            "--passive-ports" => passive_ports = Some(port_range(&value(arg)?)?),
            "--public-address" => {
                public_address = Some(
                    value(arg)?
                        .parse()
                        .map_err(|_| "--public-address needs an IPv4 address")?,
                )
            }
            a if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option {a}")),
            a if port.is_none() => {
                port = Some(
                    a.parse::<u16>()
                        .map_err(|_| format!("not a port number: {a}"))?,
                )
            }
            a => return Err(format!("unexpected argument {a}")),
        }
    }
    let port = port.ok_or("missing PORT")?;
    let root_handle =
        Root::new(&root).map_err(|e| format!("cannot share {}: {e}", root.display()))?;
    let mut config = Config::new(root_handle);
    config.read_only = read_only;
    config.max_sessions = max_sessions;
    config.idle_timeout = Duration::from_secs_f64(idle);
    config.connect_timeout = Duration::from_secs_f64(connect);
    config.stall_timeout = Duration::from_secs_f64(stall);
    config.passive_ports = passive_ports;
    config.public_address = public_address;
    Ok(Some(Args {
        port,
        bind,
        root,
        config,
    }))
}

/// A positive number of seconds, fractions allowed (tests use 0.2).
fn seconds(name: &str, text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("{name} needs a positive number of seconds")),
    }
}

fn port_range(text: &str) -> Result<(u16, u16), String> {
    let bad =
        || format!("--passive-ports needs LOW-HIGH, two ports from 1024, LOW <= HIGH: {text}");
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let (low, high): (u16, u16) = (
        low.parse().map_err(|_| bad())?,
        high.parse().map_err(|_| bad())?,
    );
    if low < 1024 || low > high {
        return Err(bad());
    }
    Ok((low, high))
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
            eprintln!("server: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listeners = match server::bind(args.bind, args.port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("server: cannot listen on port {}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listeners[0].local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    server::log("-", format_args!("sharing {}", args.root.display()));
    match server::run(args.config, listeners) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
