//! Test support: a temp folder per test, the real `server` binary started on
//! port 0 (killed on drop, its log printed if the test fails), the real
//! `client` binary run with a watchdog, and a raw control connection for
//! speaking FTP by hand.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dialback::protocol::{Command as Ftp, Reply};

/// A fresh folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("dialback-test-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(fs::canonicalize(&dir).expect("canonical temp dir"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Makes a sub-folder.
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::create_dir_all(&p).expect("create sub dir");
        p
    }
}

/// A free TCP port on 127.0.0.1, for a peer server that needs one named.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A peer's server (pyftpdlib, proftpd) started with `cmd` to listen on
/// `port`, once it accepts connections; killed on drop. Its standard error
/// is read and dropped, so that it never blocks on a full pipe.
pub struct Peer(pub Child, pub u16);

impl Peer {
    pub fn start(cmd: Command, port: u16, name: &str) -> Peer {
        Peer::start_at(cmd, "127.0.0.1", port, name)
    }

    /// Started to listen on `host`:`port`.
    pub fn start_at(mut cmd: Command, host: &str, port: u16, name: &str) -> Peer {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}: install it with `bash .ci/install-peers`"));
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        let start = std::time::Instant::now();
        while TcpStream::connect((host, port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}): install it with `bash .ci/install-peers`");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{name} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Peer(child, port)
    }
}

/// pyftpdlib serving `root` read-write on a free port of 127.0.0.1,
/// anonymously unless `extra` names a user; stopped on drop.
pub fn pyftpdlib(root: &Path, extra: &[&str]) -> Peer {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pyftpdlib", "-i", "127.0.0.1", "-w", "-p"])
        .arg(port.to_string())
        .arg("-d")
        .arg(root)
        .args(extra);
    Peer::start(cmd, port, "pyftpdlib")
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes of every value (xorshift), for files compared byte for byte.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Names of the files in a folder, sorted, hidden ones included.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every folder (ending in `/`) and file below `top` with its bytes, by path
/// below `top`: two trees are the same when these are equal. The server's
/// and client's temporary files (`.dialback-...`) are left out.
pub fn tree_of(top: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for entry in fs::read_dir(top.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let path = rel.join(entry.file_name());
            let name = path.to_str().unwrap().to_string();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".dialback-")
            {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                out.insert(name + "/", Vec::new());
                todo.push(path);
            } else {
                out.insert(name, fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

/// Waits for `cond` to hold, up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The real server, started on port 0 in its own folder; killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _logs: TempDir,
}

impl Server {
    /// Starts `server 0 --root ROOT ARGS...` and waits for its `listening on` line.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        let logs = TempDir::new("server-log");
        let log = logs.join("stderr.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .arg("0")
            .arg("--root")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start server");
        let port = listening_port(&mut child);
        Server {
            child,
            port,
            log,
            _logs: logs,
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A logged-in raw control connection.
    pub fn login(&self) -> Ctrl {
        let mut c = Ctrl::connect(self.port);
        c.expect("USER anonymous", 331);
        c.expect("PASS x", 230);
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends the server a signal (`kill -SIG`).
    pub fn signal(&self, sig: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{sig}");
    }

    /// Waits up to `limit` for the server to exit, and returns its status code.
    pub fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the client binary against this server.
    pub fn client(&self, dir: &Path, args: &[&str], stdin: &str) -> Run {
        let port = self.port.to_string();
        let mut all = vec!["127.0.0.1", port.as_str(), "--dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        client(&all, stdin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log());
        }
    }
}

/// Reads the port from the `listening on ADDR:PORT` line a server started with
/// a piped stdout prints first (run directly or under a wrapper such as `unshare`).
pub fn listening_port(child: &mut Child) -> u16 {
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut first)
        .unwrap();
    first
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"))
}

/// The client binary started on `port`, saving into `dir`, with `commands` on
/// its stdin and its output in `out`; the caller waits for or kills it.
pub fn client_in_background(port: u16, dir: &Path, commands: &[u8], out: &TempDir) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["127.0.0.1", &port.to_string(), "--dir"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(fs::File::create(out.join("stdout")).unwrap())
        .stderr(fs::File::create(out.join("stderr")).unwrap())
        .spawn()
        .expect("start client");
    child.stdin.take().unwrap().write_all(commands).unwrap();
    child
}

/// What a client run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// Runs the client binary with `args`, feeding it `stdin`; killed after 120 s.
pub fn client(args: &[&str], stdin: &str) -> Run {
    let out = TempDir::new("client-out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(fs::File::create(out.join("stdout")).unwrap())
        .stderr(fs::File::create(out.join("stderr")).unwrap())
        .spawn()
        .expect("start client");
    // A client that exits early closes its stdin; that is not the test's failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!(
                "client {args:?} hung; stderr: {}",
                fs::read_to_string(out.join("stderr")).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: fs::read_to_string(out.join("stdout")).unwrap(),
        stderr: fs::read_to_string(out.join("stderr")).unwrap(),
    }
}

/// Runs `server user ARGS...` with `stdin`; returns (status, stdout, stderr).
pub fn user_cmd(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Adds an account to the users `file` through `server user add`, the
/// password on stdin; the iteration count is the test's (debug builds hash slowly).
pub fn add_user(
    file: &Path,
    name: &str,
    password: &str,
    root: &Path,
    perms: &str,
    iterations: u32,
) {
    let iterations = iterations.to_string();
    let args = [
        "add",
        file.to_str().unwrap(),
        name,
        "--root",
        root.to_str().unwrap(),
        "--perms",
        perms,
        "--iterations",
        &iterations,
    ];
    let (code, out, err) = user_cmd(&args, &format!("{password}\n"));
    assert_eq!(code, 0, "{out}{err}");
}

/// A control connection driven by hand.
pub struct Ctrl {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Ctrl {
    /// Connects and reads the 220 greeting.
    pub fn connect(port: u16) -> Ctrl {
        let mut c = Ctrl::connect_raw(port);
        let greeting = c.reply();
        assert_eq!(greeting.code, 220, "{greeting:?}");
        c
    }

    /// Connects without reading anything.
    pub fn connect_raw(port: u16) -> Ctrl {
        Ctrl::connect_raw_to("127.0.0.1", port)
    }

    pub fn connect_raw_to(host: &str, port: u16) -> Ctrl {
        let stream = TcpStream::connect((host, port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Ctrl { stream, reader }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub fn reply(&mut self) -> Reply {
        Reply::read(&mut self.reader).expect("read reply")
    }

    /// Sends a line and asserts the reply's code.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        self.send(line);
        let reply = self.reply();
        assert_eq!(reply.code, code, "{line:?} got {reply:?}");
        reply
    }

    /// Sends a line and checks the reply's first digit (5 for a refusal).
    pub fn expect_class(&mut self, line: &str, class: u16) -> Reply {
        self.send(line);
        let reply = self.reply();
        assert_eq!(reply.code / 100, class, "{line:?} got {reply:?}");
        reply
    }

    /// Reads whatever else comes until the server closes (or 5 s pass).
    pub fn rest(&mut self) -> String {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut s = String::new();
        let _ = self.reader.read_to_string(&mut s);
        s
    }

    /// Opens a passive data connection (EPSV) and returns it.
    pub fn epsv(&mut self) -> TcpStream {
        let reply = self.expect("EPSV", 229);
        let data_port = dialback::protocol::parse_epsv_reply(&reply.text()).unwrap();
        TcpStream::connect(("127.0.0.1", data_port)).expect("data connect")
    }
}

/// How `fake_server` misbehaves on RETR.
#[derive(Clone, Copy)]
pub enum Lie {
    /// Sends half the bytes, then dies (closes everything).
    DieMidway,
    /// Sends half the bytes, closes the data connection and says 226.
    ShortButHappy,
    /// Says SIZE 1000 but sends 2000 bytes and 226.
    TooLong,
    /// Never says anything at all.
    Silent,
    /// Tells the truth, but knows only RFC 959: 502 for EPRT and EPSV.
    OldSchool,
    /// Tells the truth, slowly: 1000 bytes in a hundred pieces over about 1.5 s.
    Slow,
    /// Tells the truth, very slowly: 1000 bytes in a hundred pieces over about
    /// 20 s, so that a test can interrupt the transfer however busy the machine.
    Trickle,
    /// Answers the login, then never answers CWD (and holds the session open).
    Deaf,
    /// Greets with a line that is not an FTP reply.
    Garbage,
    /// Greets with a multi-line reply that never ends.
    Endless,
    /// Answers EPSV with a port that never answers (`black_hole`).
    DeadPassive,
    /// Says `120` (not ready yet) every 50 ms, forever.
    NeverReady,
    /// Sends half the bytes, then holds the data connection open and says nothing.
    HoldsData,
    /// Says SIZE 1000, then sends up to 200 MiB, counting in `FLOOD_SENT` what the
    /// client took before it closed the data connection.
    Flood,
    /// Has no MLSD, and answers LIST with a Unix line, then one in a format
    /// nobody reads (EPLF).
    OddListing,
    /// Greets one byte every 100 ms, for ever: each read gets something.
    Drip,
    /// Has no MLSD, and every folder's LIST shows a folder `again` (so the
    /// tree never ends) and 100 files.
    Bottomless,
    /// Splits LIST's argument at spaces, as pure-ftpd does: a folder whose
    /// name has one lists empty unless the client CWDs into it first.
    SplitsList,
    /// Has no NLST (as aioftp): 502; LIST shows `a.txt` (500 bytes), `b.log`
    /// and a folder.
    NoNlst,
    /// Lists `a.txt`, `b.txt` and `c.txt` (500 bytes each, in LIST and NLST),
    /// and answers the first RETR of each with 425 (no data connection).
    FlakyData,
    /// As `FlakyData`, but every RETR in active mode gets 425: only passive works.
    NoActiveData,
    /// As `FlakyData` without the 425s, and with a HASH whose checksum is
    /// never the file's (a file changed on the server between transfer and
    /// check); FEAT offers SHA-256 (its own) and CRC32, but OPTS HASH will not
    /// switch.
    WrongHash,
    /// As `FlakyData` without the 425s, but never answers EPRT or PORT (as
    /// pyftpdlib at times, its dial-back made): only passive works.
    MuteEprt,
}

/// How many bytes `Lie::Flood` got into the data connection.
pub static FLOOD_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A port whose listen queue is full, so that a new connection to it hangs
/// (its SYNs are dropped) until the one connecting gives up. The port stays
/// that way while the returned listener and connections are held.
pub fn black_hole() -> (u16, TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    while held.len() < 10_000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return (addr.port(), listener, held)
            }
            Err(e) => panic!("filling the listen queue, {} in: {e}", held.len()),
        }
    }
    panic!("the listen queue never filled");
}

/// A one-session FTP server that misbehaves as told (two sessions for
/// `MuteEprt`, which sends the client away to come back); returns its port.
pub fn fake_server(lie: Lie) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let sessions = if let Lie::MuteEprt = lie { 2 } else { 1 };
        for ctrl in listener.incoming().take(sessions) {
            fake_session(ctrl.unwrap(), lie);
        }
    });
    port
}

/// One session of `fake_server`.
fn fake_session(ctrl: TcpStream, lie: Lie) {
    // Replies go out at once, as a real server's do (no 40 ms waits for ACKs).
    let _ = ctrl.set_nodelay(true);
    let mut out = ctrl.try_clone().unwrap();
    match lie {
        Lie::Silent => return thread::sleep(Duration::from_secs(30)),
        Lie::Garbage => {
            let _ = out.write_all(b"hello there\r\n");
            return thread::sleep(Duration::from_secs(30));
        }
        Lie::NeverReady => {
            while out.write_all(b"120 not ready yet\r\n").is_ok() {
                thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        Lie::Endless => {
            let _ = out.write_all(b"220-welcome\r\n");
            while out.write_all(b"220-and more\r\n").is_ok() {}
            return;
        }
        Lie::Drip => {
            let _ = out.write_all(b"220 ");
            while out.write_all(b"x").is_ok() {
                thread::sleep(Duration::from_millis(100));
            }
            return;
        }
        _ => {}
    }
    out.write_all(b"220 fake\r\n").unwrap();
    let mut dial: Option<SocketAddr> = None;
    let mut passive: Option<TcpListener> = None;
    let mut _black_holes = Vec::new();
    let mut retrs = 0;
    for line in BufReader::new(ctrl).lines() {
        let Ok(line) = line else { return };
        let cmd: Ftp = match line.parse() {
            Ok(c) => c,
            Err(reply) => {
                let _ = out.write_all(reply.to_string().as_bytes());
                continue;
            }
        };
        let refused = match (&lie, &cmd) {
            (Lie::FlakyData, Ftp::Retr(_)) => {
                retrs += 1;
                retrs % 2 == 1
            }
            (Lie::NoActiveData, Ftp::Retr(_)) => dial.is_some(),
            _ => false,
        };
        let flaky = matches!(
            lie,
            Lie::FlakyData | Lie::NoActiveData | Lie::WrongHash | Lie::MuteEprt
        );
        let reply: &[u8] = match cmd {
            _ if refused => {
                (dial, passive) = (None, None);
                b"425 Cannot open the data connection\r\n"
            }
            Ftp::Epsv(_) if flaky => {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let port = l.local_addr().unwrap().port();
                passive = Some(l);
                let reply = format!("229 Entering Extended Passive Mode (|||{port}|)\r\n");
                out.write_all(reply.as_bytes()).unwrap();
                continue;
            }
            Ftp::List(_) | Ftp::Nlst(_) if flaky => {
                let mut data = match (dial.take(), passive.take()) {
                    (Some(addr), _) => TcpStream::connect(addr).unwrap(),
                    (None, Some(l)) => l.accept().unwrap().0,
                    (None, None) => panic!("a listing before PORT or PASV"),
                };
                out.write_all(b"150 here it comes\r\n").unwrap();
                for name in ["a.txt", "b.txt", "c.txt"] {
                    let line = match cmd {
                        Ftp::Nlst(_) => format!("{name}\r\n"),
                        _ => format!("-rw-r--r-- 1 ftp ftp 500 Jan 1 2025 {name}\r\n"),
                    };
                    data.write_all(line.as_bytes()).unwrap();
                }
                drop(data);
                b"226 done\r\n"
            }
            Ftp::Feat if matches!(lie, Lie::WrongHash) => {
                b"211-Features:\r\n HASH SHA-256*;CRC32\r\n211 End\r\n"
            }
            Ftp::Opts(_) if matches!(lie, Lie::WrongHash) => b"501 not that one\r\n",
            Ftp::Hash(_) if matches!(lie, Lie::WrongHash) => {
                b"213 SHA-256 0-500 0000000000000000000000000000000000000000000000000000000000000000 x\r\n"
            }
            Ftp::Hash(_) => b"502 no such thing here\r\n",
            Ftp::User(_) => b"331 ok\r\n",
            Ftp::Pass(_) => b"230 ok\r\n",
            Ftp::Size(_) if flaky || matches!(lie, Lie::NoNlst) => b"213 500\r\n",
            Ftp::Size(_) => b"213 1000\r\n",
            Ftp::Nlst(_) if matches!(lie, Lie::NoNlst) => b"502 NLST is not here\r\n",
            Ftp::Pwd
                if flaky
                    || matches!(lie, Lie::OddListing | Lie::Bottomless | Lie::SplitsList) =>
            {
                b"257 \"/\"\r\n"
            }
            Ftp::Cwd(_)
                if flaky
                    || matches!(lie, Lie::OddListing | Lie::Bottomless | Lie::SplitsList) =>
            {
                b"250 ok\r\n"
            }
            Ftp::List(ref arg) if matches!(lie, Lie::SplitsList) => {
                let mut data = TcpStream::connect(dial.take().expect("EPRT first")).unwrap();
                out.write_all(b"150 here it comes\r\n").unwrap();
                if arg.as_deref().is_none_or(|a| !a.contains(' ')) {
                    let _ = data.write_all(b"-rw-r--r-- 1 ftp ftp 5 Jan 1 2025 inside.txt\r\n");
                }
                drop(data);
                b"226 done\r\n"
            }
            Ftp::Eprt(_) | Ftp::Epsv(_) if matches!(lie, Lie::OldSchool) => b"502 what?\r\n",
            Ftp::Eprt(_) | Ftp::Port(_) if matches!(lie, Lie::MuteEprt) => continue,
            Ftp::Port(a) | Ftp::Eprt(a) => {
                dial = Some(a);
                b"200 ok\r\n"
            }
            Ftp::Epsv(_) if matches!(lie, Lie::DeadPassive) => {
                let hole = black_hole();
                let reply = format!("229 Entering Extended Passive Mode (|||{}|)\r\n", hole.0);
                _black_holes.push(hole);
                out.write_all(reply.as_bytes()).unwrap();
                continue;
            }
            Ftp::Pasv => {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let [p1, p2] = l.local_addr().unwrap().port().to_be_bytes();
                passive = Some(l);
                let reply = format!("227 Entering Passive Mode (127,0,0,1,{p1},{p2})\r\n");
                out.write_all(reply.as_bytes()).unwrap();
                continue;
            }
            // A slow listing too, for Ctrl-C during LIST.
            Ftp::List(_) if matches!(lie, Lie::OddListing) => {
                let mut data = TcpStream::connect(dial.take().expect("EPRT first")).unwrap();
                out.write_all(b"150 here it comes\r\n").unwrap();
                data.write_all(b"-rw-r--r-- 1 ftp ftp 5 Jan 1 2025 keep.txt\r\n")
                    .unwrap();
                data.write_all(b"+i8388621.29609,m824255902,/,\tpub\r\n")
                    .unwrap();
                drop(data);
                b"226 done\r\n"
            }
            Ftp::List(_) if matches!(lie, Lie::NoNlst) => {
                let mut data = TcpStream::connect(dial.take().expect("EPRT first")).unwrap();
                out.write_all(b"150 here it comes\r\n").unwrap();
                let _ = data.write_all(
                    b"-rw-r--r-- 1 ftp ftp 500 Jan 1 2025 a.txt\r\n\
                      -rw-r--r-- 1 ftp ftp 9 Jan 1 2025 b.log\r\n\
                      drwxr-xr-x 1 ftp ftp 0 Jan 1 2025 c.txt.d\r\n",
                );
                drop(data);
                b"226 done\r\n"
            }
            Ftp::List(_) if matches!(lie, Lie::Bottomless) => {
                let mut data = TcpStream::connect(dial.take().expect("EPRT first")).unwrap();
                out.write_all(b"150 here it comes\r\n").unwrap();
                let mut text = b"drwxr-xr-x 1 ftp ftp 0 Jan 1 2025 again\r\n".to_vec();
                for i in 0..100 {
                    text.extend(format!("-rw-r--r-- 1 ftp ftp 5 Jan 1 2025 f{i}\r\n").bytes());
                }
                let _ = data.write_all(&text);
                drop(data);
                b"226 done\r\n"
            }
            Ftp::Retr(_) | Ftp::List(_)
                if matches!(cmd, Ftp::Retr(_)) || matches!(lie, Lie::Trickle) =>
            {
                let mut data = match (dial.take(), passive.take()) {
                    (Some(addr), _) => TcpStream::connect(addr).unwrap(),
                    (None, Some(l)) => l.accept().unwrap().0,
                    (None, None) => panic!("RETR before PORT or PASV"),
                };
                out.write_all(b"150 here it comes\r\n").unwrap();
                if let Lie::Flood = lie {
                    let block = vec![7u8; 1 << 20];
                    for _ in 0..200 {
                        if data.write_all(&block).is_err() {
                            break;
                        }
                        FLOOD_SENT.fetch_add(1 << 20, Ordering::SeqCst);
                    }
                    drop(data);
                    let _ = out.write_all(b"226 done\r\n");
                    continue;
                }
                let n = match lie {
                    Lie::TooLong => 2000,
                    Lie::OldSchool | Lie::Slow | Lie::Trickle => 1000,
                    _ => 500,
                };
                let bytes = pattern(n, 9);
                if let Lie::Slow | Lie::Trickle = lie {
                    let pause = match lie {
                        Lie::Slow => Duration::from_millis(15),
                        _ => Duration::from_millis(200),
                    };
                    let sent = bytes.chunks(10).all(|piece| {
                        thread::sleep(pause);
                        data.write_all(piece).is_ok()
                    });
                    if !sent {
                        // The client gave up on the transfer (Ctrl-C).
                        let _ = out.write_all(b"426 transfer aborted\r\n");
                        continue;
                    }
                } else {
                    data.write_all(&bytes).unwrap();
                }
                if let Lie::HoldsData = lie {
                    // The data connection stays open and silent: only the
                    // client's own stall timeout can end its wait.
                    thread::sleep(Duration::from_secs(30));
                    drop(data);
                    return;
                }
                drop(data);
                match lie {
                    Lie::DieMidway => return,
                    _ => b"226 done\r\n",
                }
            }
            Ftp::Cwd(_) if matches!(lie, Lie::Deaf) => {
                return thread::sleep(Duration::from_secs(90));
            }
            Ftp::Quit => b"221 bye\r\n",
            _ => b"200 ok\r\n",
        };
        if out.write_all(reply).is_err() {
            return;
        }
    }
}

/// A program run on a pseudo-terminal (util-linux `script`) with TERM=xterm
/// and its own state folder (for the client's history): keys are typed into
/// it and everything it shows is collected.
pub struct Pty {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    shown: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
    /// How far `wait_for` has read.
    seen: usize,
}

impl Pty {
    /// Runs the shell command `line` with `state` as XDG_STATE_HOME.
    ///
    /// The shell is always /bin/sh, whatever $SHELL says (`script` runs
    /// $SHELL, else /bin/sh; CI's is not bash). dash, unlike bash, does not
    /// exec a lone command: it stays in the program's process group, dies of
    /// a Ctrl-C typed at the terminal, and `script` then closes the terminal
    /// under the program. A line that types Ctrl-C outside the editor must
    /// `exec` its program, which is then alone in the foreground, as under
    /// an interactive shell.
    pub fn spawn(line: &str, state: &Path) -> Pty {
        let mut child = Command::new("script")
            .args(["-qfec", line, "/dev/null"])
            .env("SHELL", "/bin/sh")
            .env("TERM", "xterm")
            .env("XDG_STATE_HOME", state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script` runs a program on a pseudo-terminal");
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let reader = {
            let shown = std::sync::Arc::clone(&shown);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stdout.read(&mut buf) {
                    shown.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let stdin = child.stdin.take();
        Pty {
            child,
            stdin,
            shown,
            reader: Some(reader),
            seen: 0,
        }
    }

    /// Everything shown so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }

    /// Waits (up to 20 s) until `text` shows after what was waited for
    /// before; panics with the screen if it does not.
    pub fn wait_for(&mut self, text: &str) {
        let mut seen = self.seen;
        let showed = eventually(Duration::from_secs(20), || {
            let screen = self.screen();
            match screen.get(seen..).and_then(|s| s.find(text)) {
                Some(at) => {
                    seen += at + text.len();
                    true
                }
                None => false,
            }
        });
        assert!(
            showed,
            "no {text:?} after byte {} of {:?}",
            self.seen,
            self.screen()
        );
        self.seen = seen;
    }

    /// Types `keys` (raw bytes: `\x1b[A` is the up arrow, `\x03` Ctrl-C).
    pub fn keys(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("still typing");
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Stops typing and waits (up to 20 s) for the program to end; returns
    /// its exit status and everything it showed.
    pub fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let ended = eventually(Duration::from_secs(20), || {
            self.child.try_wait().unwrap().is_some()
        });
        if !ended {
            let _ = self.child.kill();
        }
        let status = self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
        assert!(ended, "still running: {:?}", self.screen());
        (status, self.screen())
    }
}
