//! The `server` binary: parses its arguments into a `Config`, binds the
//! control port, says where it listens and who may do what, and serves until
//! killed. `server user ...` manages a users file instead.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use dialback::cancel::Cancel;
use dialback::cli::{self, Flags, Start};
use dialback::data;
use dialback::fsys::Root;
use dialback::server::door::{Door, FIRST_DELAY};
use dialback::server::gate::Perms;
use dialback::server::{self, users, Config, Server};
use dialback::signals;

const USAGE: &str = "\
usage: server PORT [options]
       server user add|passwd|del|list FILE ...   (server user --help)

Shares a folder over FTP (a strict subset: see README.md). PORT 0 picks a free port.
Without --users, anyone who can reach the port may log in with any name.

options:
  --root DIR               the folder to share (default: the current folder)
  --bind ADDR              the address to listen on (default: all, IPv6 and IPv4)
  --users FILE             accounts: each logs in with a password to its own root
  --anonymous ro|rw        with --users, let anyone in as anonymous too
  --read-only              refuse every change, whoever logs in
  --max-sessions N         sessions at once; more are told 421 (default 64)
  --max-per-ip N           sessions at once from one address (default 16)
  --login-timeout SECS     close a connection that has not logged in (default 30)
  --login-delay SECS       wait after a failed login, doubling with each failure
                           in a row from one address up to 32 times (default 0.5)
  --idle-timeout SECS      close a silent control connection (default 300)
  --connect-timeout SECS   wait for a data connection (default 30)
  --stall-timeout SECS     abort a transfer that moves no byte (default 60)
  --shutdown-grace SECS    on SIGTERM or Ctrl-C, how long transfers may go on
                           before they are stopped (default 30; a second
                           signal stops them at once)
  --passive-ports LOW-HIGH the ports passive mode may use (default: any)
  --public-address ADDR    the address PASV replies give, behind NAT or a
                           balancer: IPv4, or a host name (looked up again
                           when a PASV finds the last look-up 10 s old)
  --proxy-from CIDR[,CIDR] load balancers whose connections, control and
                           passive data alike, start with a PROXY protocol
                           (v1 or v2) header naming the real client; required
                           from them, never read from anyone else
  --max-rate RATE          the most one session's transfers move per second,
                           each way (500, 100K, 1.5M, 2G; K = 1024)
  --max-total-rate RATE    the most all transfers together move per second
  --run-as USER            started as root: become USER once listening
  --xferlog FILE           also log transfers in wu-ftpd's xferlog format
  --help, --version

Signals: SIGTERM or Ctrl-C stops gracefully (twice: at once); SIGHUP reads
the users file again. Under systemd, sockets it passes (LISTEN_FDS) are used
instead of binding PORT; see 'Running as a service' in README.md.";

struct Args {
    port: u16,
    /// `--users FILE` and `--anonymous`, read in `main`: a bad file is not a usage error.
    users: Option<PathBuf>,
    anonymous: Option<Perms>,
    login_delay: Duration,
    /// How long transfers may go on after SIGTERM.
    grace: Duration,
    bind: Option<IpAddr>,
    root: PathBuf,
    config: Config,
    /// `--run-as USER`: drop from root to USER once bound.
    run_as: Option<String>,
}

fn parse_args(flags: &mut Flags) -> Result<Start<Args>, String> {
    let (mut port, mut bind, mut root) = (None, None, PathBuf::from("."));
    let (mut run_as, mut xferlog, mut proxy_from) = (None, None, None);
    let (mut max_rate, mut max_total_rate) = (None, None);
    let (mut read_only, mut max_sessions, mut passive_ports, mut public_address) =
        (false, None, None, None);
    let (mut idle, mut connect, mut stall) = (None, None, None);
    let (mut per_ip, mut login, mut login_delay) = (None, None, None);
    let mut grace = Duration::from_secs(30);
    let (mut users, mut anonymous) = (None, None);
    while let Some(arg) = flags.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Start::Usage),
            "--version" | "-V" => return Ok(Start::Version),
            "--root" => root = PathBuf::from(flags.value(&arg)?),
            "--bind" => bind = Some(flags.parsed(&arg, "an IP address")?),
            "--run-as" => run_as = Some(flags.value(&arg)?),
            "--xferlog" => xferlog = Some(PathBuf::from(flags.value(&arg)?)),
            "--read-only" => read_only = true,
            "--users" => users = Some(PathBuf::from(flags.value(&arg)?)),
            "--anonymous" => {
                anonymous = Some(match flags.value(&arg)?.as_str() {
                    "ro" => Perms::read_only(),
                    "rw" => Perms::all(),
                    other => return Err(format!("--anonymous needs ro or rw, not {other}")),
                })
            }
            "--max-sessions" => max_sessions = Some(flags.parsed(&arg, "a whole number")?),
            "--max-per-ip" => per_ip = Some(flags.parsed(&arg, "a whole number")?),
            "--login-timeout" => login = Some(flags.seconds(&arg)?),
            "--login-delay" => login_delay = Some(flags.seconds(&arg)?),
            "--shutdown-grace" => grace = flags.seconds(&arg)?,
            "--idle-timeout" => idle = Some(flags.seconds(&arg)?),
            "--connect-timeout" => connect = Some(flags.seconds(&arg)?),
            "--stall-timeout" => stall = Some(flags.seconds(&arg)?),
            "--passive-ports" => passive_ports = Some(port_range(&flags.value(&arg)?)?),
            "--public-address" => {
                public_address = Some(server::Public::parse(&flags.value(&arg)?)?)
            }
            "--proxy-from" => proxy_from = Some(server::proxy::Nets::parse(&flags.value(&arg)?)?),
            "--max-rate" => max_rate = Some(data::parse_rate(&flags.value(&arg)?)?),
            "--max-total-rate" => max_total_rate = Some(data::parse_rate(&flags.value(&arg)?)?),
            a if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option {a}")),
            a if port.is_none() => port = Some(cli::port(a)?),
            a => return Err(format!("unexpected argument {a}")),
        }
    }
    let port = port.ok_or("missing PORT")?;
    let shared = Root::new(&root).map_err(|e| format!("cannot share {}: {e}", root.display()))?;
    let mut config = Config::new(shared);
    config.read_only = read_only;
    config.max_sessions = max_sessions.unwrap_or(config.max_sessions);
    config.max_per_ip = per_ip.unwrap_or(config.max_per_ip);
    config.login_timeout = login.unwrap_or(config.login_timeout);
    config.idle_timeout = idle.unwrap_or(config.idle_timeout);
    config.connect_timeout = connect.unwrap_or(config.connect_timeout);
    config.stall_timeout = stall.unwrap_or(config.stall_timeout);
    config.passive_ports = passive_ports;
    config.public_address = public_address;
    config.proxy_from = proxy_from.unwrap_or_default();
    config.max_rate = max_rate;
    config.max_total_rate = max_total_rate.map(data::Limit::new);
    if let Some(path) = xferlog {
        let log = server::Xferlog::open(&path)
            .map_err(|e| format!("--xferlog {}: {e}", path.display()))?;
        config.xferlog = Some(Arc::new(log));
    }
    Ok(Start::Run(Args {
        port,
        login_delay: login_delay.unwrap_or(FIRST_DELAY),
        grace,
        users,
        anonymous,
        bind,
        root,
        config,
        run_as,
    }))
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

/// One line on who may do what, so that an open server is never a surprise.
fn who_may(config: &Config, port: u16, root: &std::path::Path) -> String {
    let door = &config.door;
    let can = |perms: Perms| match (config.read_only, perms.letters().as_str()) {
        (false, "lradfmwMT") => "read and write",
        (true, _) | (_, "lr") => "read",
        _ => "use",
    };
    let anonymous = door.anonymous_perms();
    match (door.accounts(), anonymous) {
        (None, Some(perms)) => format!(
            "anyone who can reach port {port} can {} {}",
            can(perms),
            root.display()
        ),
        (None, None) => "nobody can log in".to_string(),
        (Some((n, file)), None) => format!(
            "{} from {} can log in; anonymous login is off",
            accounts(n),
            file.display()
        ),
        (Some((n, file)), Some(perms)) => format!(
            "{} from {} can log in, and anyone who can reach port {port} can {} {}",
            accounts(n),
            file.display(),
            can(perms),
            root.display()
        ),
    }
}

/// The rest of who may do what, and the limits: one line.
fn limits(config: &Config) -> String {
    let sets: Vec<String> = (config.door.permission_sets().into_iter())
        .map(|(letters, n)| format!("{n} with {letters}"))
        .collect();
    let accounts = match sets.is_empty() {
        true => String::new(),
        false => format!("accounts: {}; ", sets.join(", ")),
    };
    let mode = if config.read_only { "read-only; " } else { "" };
    let passive = match (config.passive_ports, &config.public_address) {
        (Some((low, high)), Some(public)) => format!("passive ports {low}-{high} at {public}"),
        (Some((low, high)), None) => format!("passive ports {low}-{high}"),
        (None, Some(public)) => format!("passive ports any, at {public}"),
        (None, None) => "passive ports any".to_string(),
    };
    let secs = |d: Duration| d.as_secs_f64();
    let mut rates = String::new();
    if let Some(rate) = config.max_rate {
        rates += &format!("; {rate} bytes/s a session");
    }
    if let Some(limit) = &config.max_total_rate {
        rates += &format!("; {} bytes/s in all", limit.rate());
    }
    format!(
        "{accounts}{mode}{passive}; at most {} sessions, {} per address; login within {} s, idle {} s{rates}",
        config.max_sessions,
        config.max_per_ip,
        secs(config.login_timeout),
        secs(config.idle_timeout)
    )
}

fn accounts(n: usize) -> String {
    match n {
        1 => "1 account".to_string(),
        n => format!("{n} accounts"),
    }
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("user") {
        return manage_users(&all[1..]);
    }
    let mut args = match cli::start("server", USAGE, parse_args) {
        Ok(args) => args,
        Err(status) => return status,
    };
    // The session cap must fit in the descriptors the process may open.
    match server::fds::raise_to_hard() {
        Ok(limit) => {
            let fit = server::fds::sessions_within(limit).max(1);
            if args.config.max_sessions > fit {
                eprintln!(
                    "server: the descriptor limit ({limit}) fits {fit} sessions beside room for \
                     transfers; --max-sessions lowered from {} to {fit}",
                    args.config.max_sessions
                );
                args.config.max_sessions = fit;
            }
        }
        Err(e) => eprintln!("server: cannot read the descriptor limit: {e}"),
    }
    let door = match &args.users {
        Some(file) => Door::with_users(file, args.anonymous),
        None => Ok(Door::anonymous(args.anonymous.unwrap_or_else(Perms::all))),
    };
    match door {
        Ok(door) => args.config.door = Arc::new(door.with_first_delay(args.login_delay)),
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Sockets systemd opened (socket activation), else our own.
    let inherited = match server::service::inherited_listeners() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("server: the sockets systemd passed cannot be used: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bound = match inherited {
        Some(listeners) => Ok(listeners),
        None => server::bind(args.bind, args.port),
    };
    let listeners = match bound {
        Ok(l) => l,
        Err(e) => {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "; another program (or another server) has it: stop that one, or pick another PORT (0 picks a free one)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "; ports below 1024 need root or CAP_NET_BIND_SERVICE: pick one from 1024, or see 'Running as a service' in the README"
                }
                _ => "",
            };
            eprintln!(
                "server: cannot listen on port {}: {}{hint}",
                args.port,
                dialback::error::describe_io(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    // Root is needed no longer than binding: drop it before any session.
    if let Some(user) = &args.run_as {
        match server::service::run_as(user) {
            Ok((uid, gid)) => server::log(
                "-",
                format_args!("running as {user} (uid {uid}, gid {gid})"),
            ),
            Err(e) => {
                eprintln!("server: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let addr = match listeners[0].local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Whoever started us may stop reading: a closed stdout is not an error.
    let said = format!(
        "listening on {addr}\n{}\n{}\n",
        who_may(&args.config, addr.port(), &args.root),
        limits(&args.config)
    );
    let mut out = std::io::stdout();
    let _ = out.write_all(said.as_bytes()).and_then(|()| out.flush());
    server::log("-", format_args!("sharing {}", args.root.display()));
    let door = Arc::clone(&args.config.door);
    let server = Server::new(args.config, listeners);
    stop_on_signals(&server, args.grace, door);
    match server.run() {
        Ok(()) => {
            let (finished, aborted) = server.drained();
            server::log(
                "-",
                format_args!("stopped: {finished} transfers finished, {aborted} stopped"),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C) stops the server gracefully: no new
/// connections, 421 to idle sessions, transfers given `grace` to finish; a
/// second signal stops them at once. SIGHUP reads the users file again and
/// logs what changed (`kill -HUP`). The handlers only mark a token or a
/// flag, which one thread of our own watches.
fn stop_on_signals(server: &Server, grace: Duration, door: Arc<Door>) {
    let token = Cancel::new();
    if let Err(e) = signals::install(&token) {
        server::log("-", format_args!("cannot catch SIGTERM: {e}"));
        return;
    }
    if let Err(e) = signals::catch_hangup() {
        server::log("-", format_args!("cannot catch SIGHUP: {e}"));
    }
    let reload = move || {
        if signals::hung_up() {
            door.reload();
        }
    };
    let hold = token.clone();
    let server = server.clone();
    let watch = move || {
        while token.take().is_none() {
            std::thread::sleep(Duration::from_millis(50));
            reload();
        }
        server::log(
            "-",
            format_args!(
                "stopping: {} sessions; transfers get {:.0} s (a second signal stops them now)",
                server.sessions(),
                grace.as_secs_f64()
            ),
        );
        let draining = server.clone();
        let _ = std::thread::Builder::new()
            .name("drain".into())
            .spawn(move || draining.shutdown(grace));
        while token.take().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        server::log("-", "stopping transfers now");
        server.abort();
    };
    match std::thread::Builder::new()
        .name("signals".into())
        .spawn(watch)
    {
        // Held for the process's life once someone watches: a signal is then
        // always ours to act on (without a watcher, it ends the process).
        Ok(_) => std::mem::forget(hold.hold()),
        Err(e) => server::log("-", format_args!("cannot watch for SIGTERM: {e}")),
    }
}

/// `server user ...`: exit 0 with the result on stdout, 1 with the error, 2 for usage.
fn manage_users(args: &[String]) -> ExitCode {
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", users::USAGE);
        return if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    match users::manage(args, &mut dialback::tty::read_secret) {
        Ok(said) => {
            if !said.is_empty() {
                println!("{said}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
