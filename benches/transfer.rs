//! `cargo bench`: dialback beside the best-known peers, measured in one run on
//! loopback with every file in /dev/shm (tmpfs), so the disk is out of the
//! picture. Prints a table of times, ratios against the targets, throughputs
//! and peak memory, and names any peer it could not find.
//!
//! Peers: vsftpd (Debian's package; needs root, as vsftpd itself does) and curl.
//! Each figure is the best of a few runs, since the machine is shared and noisy.
//! `DIALBACK_BENCH_QUICK=1` makes the big file 256 MiB for a fast look.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{have, make_file, make_tree, same_tree, spawn_vsftpd, Started, Work};

const SERVER: &str = env!("CARGO_BIN_EXE_server");
const CLIENT: &str = env!("CARGO_BIN_EXE_client");
/// Rounds of each single-transfer measurement (the issue: at least seven).
const RUNS: usize = 7;
/// curl's flag for active mode (it takes the address to announce).
const ACTIVE: &str = "-P";

fn same_bytes(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = match (fs::File::open(a), fs::File::open(b)) {
        (Ok(x), Ok(y)) => (x, y),
        _ => return false,
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// The peak resident memory (VmHWM) of a live process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs a command to completion; returns its wall time and peak memory.
fn timed(cmd: &mut Command) -> (f64, u64) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            assert!(status.success(), "{cmd:?} failed: {err}");
            return (start.elapsed().as_secs_f64(), peak);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

type Maker<'a> = Box<dyn FnMut() -> Command + 'a>;

/// Our command against a peer's over `RUNS` rounds, taking turns (who goes
/// first alternates), so that both see the same machine; `between` runs
/// before each run (to check and remove the last copy).
struct Paired {
    /// Our times: median, fastest, slowest.
    ours: [f64; 3],
    peer: Option<[f64; 3]>,
    /// The per-round ratios ours/peer: median, lowest, highest.
    ratios: Option<[f64; 3]>,
    /// Our command's highest peak memory, KiB.
    peak: u64,
}

fn summary(mut t: Vec<f64>) -> [f64; 3] {
    t.sort_by(f64::total_cmp);
    [t[t.len() / 2], t[0], t[t.len() - 1]]
}

fn pair<'a>(mut ours: Maker<'a>, mut peer: Option<Maker<'a>>, between: &mut dyn FnMut()) -> Paired {
    let (mut mine, mut theirs, mut peak) = (Vec::new(), Vec::new(), 0);
    for round in 0..RUNS {
        let mut run_ours = |between: &mut dyn FnMut()| {
            between();
            let (t, kib) = timed(&mut ours());
            mine.push(t);
            peak = peak.max(kib);
        };
        let mut run_peer = |between: &mut dyn FnMut()| {
            if let Some(make) = &mut peer {
                between();
                theirs.push(timed(&mut make()).0);
            }
        };
        if round % 2 == 0 {
            run_ours(between);
            run_peer(between);
        } else {
            run_peer(between);
            run_ours(between);
        }
    }
    between();
    let ratios = (!theirs.is_empty())
        .then(|| summary(mine.iter().zip(&theirs).map(|(a, b)| a / b).collect()));
    Paired {
        ours: summary(mine),
        peer: (!theirs.is_empty()).then(|| summary(theirs)),
        ratios,
        peak,
    }
}

/// Each command's times over `rounds` rounds, the commands taking turns (so
/// that all see the same machine), as (median, fastest, slowest); `between`
/// runs before each run.
fn medians(mut makers: Vec<Maker>, rounds: usize, between: &mut dyn FnMut()) -> Vec<[f64; 3]> {
    let mut times = vec![Vec::new(); makers.len()];
    for _ in 0..rounds {
        for (make, t) in makers.iter_mut().zip(times.iter_mut()) {
            between();
            t.push(timed(&mut make()).0);
        }
    }
    between();
    (times.into_iter())
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            [t[t.len() / 2], t[0], t[t.len() - 1]]
        })
        .collect()
}

/// `0.21 s (0.19-0.30)`: a median with its spread.
fn spread(m: [f64; 3]) -> String {
    format!("{:.3} s ({:.3}-{:.3})", m[0], m[1], m[2])
}

/// Makes the benchmark's tree: `folders` folders of `files` files of 4 KiB.
/// Ours raced against the peer's command, when the peers are there.
/// Checks a copy against its source, if the copy is there, then removes it.
fn check_and_remove(source: &Path, copy: &Path) {
    if copy.exists() {
        assert!(
            same_bytes(source, copy),
            "{} differs from {}",
            copy.display(),
            source.display()
        );
        fs::remove_file(copy).unwrap();
    }
}

fn start_ours(root: &Path) -> (Started, u16) {
    start_ours_with(root, &[])
}

fn start_ours_with(root: &Path, extra: &[&str]) -> (Started, u16) {
    let mut child = Command::new(SERVER)
        // Every benchmark client comes from 127.0.0.1: 32 at once among them.
        .args(["0", "--bind", "127.0.0.1", "--max-per-ip", "64", "--root"])
        .arg(root)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    (Started(child), port)
}

/// vsftpd in the foreground on a free port of 127.0.0.1 (see
/// `common::spawn_vsftpd`), once it listens.
fn start_vsftpd(work: &Work, root: &Path) -> Result<(Started, u16), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = spawn_vsftpd(Command::new("env"), work, root, "127.0.0.1", port)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("vsftpd did not start".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok((started, port))
}

/// The seconds in a client's result line: `received big.bin: 256.0 MiB in
/// 5.02 s (51.0 MiB/s)`.
fn transfer_seconds(said: &str) -> f64 {
    let line = said
        .lines()
        .find(|l| l.starts_with("received "))
        .expect(said);
    let after = line.rsplit_once(" in ").expect(line).1;
    after
        .split(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .expect(line)
}

fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn client(port: u16, dir: &Path, script: &str) -> Command {
    let mut c = Command::new(CLIENT);
    c.args(["127.0.0.1", &port.to_string(), "-q", "-e", "--dir"])
        .arg(dir)
        .args(["-c", script]);
    c
}

fn curl(args: &[&str]) -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--fail"]).args(args);
    c
}

/// Plain TCP over loopback with std: a sender writing 1 MiB blocks into a
/// receiver that discards them. Returns bytes per second.
fn plain_tcp(bytes: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while s.read(&mut buf).unwrap() > 0 {}
    });
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    let block = vec![7u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        s.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    drop(s);
    sink.join().unwrap();
    bytes as f64 / start.elapsed().as_secs_f64()
}

struct Table(Vec<[String; 5]>);

impl Table {
    fn row(&mut self, what: &str, ours: String, peer: String, ratio: String, target: &str) {
        self.0.push([what.into(), ours, peer, ratio, target.into()]);
    }

    fn print(&self) {
        let head = ["measure", "dialback", "peer", "ratio", "target"];
        let widths: Vec<usize> = (0..5)
            .map(|i| {
                self.0
                    .iter()
                    .map(|r| r[i].len())
                    .chain([head[i].len()])
                    .max()
                    .unwrap()
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&head.map(String::from));
        println!(
            "|{}|",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &self.0 {
            line(r);
        }
    }
}

/// A paired measurement's row: both sides' medians with their spread, and
/// the median per-round ratio against `target` (lower is better).
fn paired_row(table: &mut Table, what: &str, p: &Paired, target: f64) {
    let ratio = p.ratios.map_or_else(
        || "n/a".to_string(),
        |r| format!("{} ({:.2}-{:.2})", verdict(r[0], target, false), r[1], r[2]),
    );
    table.row(
        what,
        spread(p.ours),
        p.peer.map_or_else(|| "n/a".to_string(), spread),
        ratio,
        &format!("<= {target}x"),
    );
}

fn mib_s(bytes: u64, t: f64) -> String {
    format!("{:.0} MiB/s", bytes as f64 / t / (1 << 20) as f64)
}

fn verdict(ratio: f64, target: f64, higher_is_better: bool) -> String {
    let ok = if higher_is_better {
        ratio >= target
    } else {
        ratio <= target
    };
    format!("{ratio:.2}x {}", if ok { "ok" } else { "MISSED" })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var("DIALBACK_BENCH_QUICK").is_ok();
    let big_len: u64 = if quick { 256 << 20 } else { 1 << 30 };
    let work = Work::new("bench");
    let (srv, vs_root, cli) = (work.dir("srv"), work.dir("vsftpd"), work.dir("cli"));
    fs::create_dir_all(vs_root.join("up")).unwrap();
    fs::create_dir_all(vs_root.join("small")).unwrap();
    fs::create_dir_all(srv.join("small")).unwrap();
    println!(
        "dialback benchmark: {} MiB file, files in {}; median (fastest-slowest) of {RUNS} interleaved runs; ratios are medians of the per-round ratios",
        big_len >> 20,
        work.0.display()
    );
    make_file(&srv.join("big.bin"), big_len, 1);
    fs::hard_link(srv.join("big.bin"), vs_root.join("big.bin")).unwrap();
    make_file(&cli.join("up.bin"), big_len, 2);
    for i in 0..1000 {
        let name = format!("small/f{i:04}");
        make_file(&srv.join(&name), 1024, i);
        fs::hard_link(srv.join(&name), vs_root.join(&name)).unwrap();
    }

    let mut missing = Vec::new();
    let curl_ok = have("curl");
    if !curl_ok {
        missing.push("curl not installed (apt-get install curl)".to_string());
    }
    let (_ours, port) = start_ours(&srv);
    let vsftpd = match start_vsftpd(&work, &vs_root) {
        Ok(v) => Some(v),
        Err(why) => {
            missing.push(why);
            None
        }
    };
    let vport = vsftpd.as_ref().map(|v| v.1);
    let peer_ok = curl_ok && vport.is_some();
    let got = cli.join("big.bin");
    let got_s = got.to_str().unwrap().to_string();
    let up_s = cli.join("up.bin").to_str().unwrap().to_string();
    let vs_url = |path: &str| format!("ftp://127.0.0.1:{}/{path}", vport.unwrap_or(0));
    let ours_url = |path: &str| format!("ftp://127.0.0.1:{port}/{path}");
    let (big, up) = (srv.join("big.bin"), cli.join("up.bin"));
    let mut check_get = || check_and_remove(&big, &got);
    let mut check_put = || {
        check_and_remove(&up, &srv.join("up.bin"));
        check_and_remove(&up, &vs_root.join("up/up.bin"));
    };
    let mut table = Table(Vec::new());
    let na = || "n/a".to_string();

    // 0. pyftpdlib's own benchmark (issue 24): 300 clients at once log in,
    // RETR and STOR 1 MiB each, against pyftpdlib and ours in turns. First,
    // while the machine is fresh: after the rows of thousands of connections
    // below (their TIME_WAITs, 10,000 sessions torn down) one round read 2-4x
    // slower than by hand.
    match ftpbench_script() {
        Some(script) => ftpbench_rows(&mut table, &work, &script, if quick { 1 } else { 3 }),
        None => missing.push(
            "ftpbench not installed (bash .ci/install-peers: pyftpdlib's script and psutil)".into(),
        ),
    }

    // 1. GET to a file: our pair against curl fetching from vsftpd.
    let get = pair(
        Box::new(|| client(port, &cli, "GET big.bin")),
        peer_ok.then(|| Box::new(|| curl(&["-o", &got_s, &vs_url("big.bin")])) as Maker),
        &mut check_get,
    );
    let client_peak = get.peak;
    let server_peak = peak_kib(_ours.0.id()).unwrap_or(0);
    paired_row(
        &mut table,
        "GET 1 file to a file: client<-server vs curl<-vsftpd",
        &get,
        0.5,
    );
    let ours_get = get.ours[0];

    // 2. PUT: our pair against curl -T to vsftpd.
    let put = pair(
        Box::new(|| client(port, &cli, "PUT up.bin")),
        peer_ok.then(|| Box::new(|| curl(&["-T", &up_s, &vs_url("up/up.bin")])) as Maker),
        &mut check_put,
    );
    let put_peak = put.peak;
    let server_peak = server_peak.max(peak_kib(_ours.0.id()).unwrap_or(0));
    paired_row(
        &mut table,
        "PUT 1 file: client->server vs curl -T->vsftpd",
        &put,
        0.7,
    );

    // 2b. Verified transfers (issue 27): --verify against the same command
    // without it, taking turns. Both sides compute the checksum while the
    // bytes move, for a client that chose an algorithm: the sender reads its
    // file for it, the receiver takes what it writes through a tap (tee), so
    // the check costs little more than the transfer.
    let cli_ref = &cli;
    let verified = |script: &'static str| {
        Box::new(move || {
            let mut c = client(port, cli_ref, script);
            c.arg("--verify");
            c
        }) as Maker
    };
    let plain = |script: &'static str| Box::new(move || client(port, cli_ref, script)) as Maker;
    // A checksum is remembered while the file is unchanged: changing its
    // mode changes its identity, so the server must read it again.
    let fresh = |path: &Path| {
        let mode = fs::metadata(path).unwrap().permissions();
        fs::set_permissions(path, mode).unwrap();
    };
    let vget = pair(
        verified("GET big.bin"),
        Some(plain("GET big.bin")),
        &mut || {
            fresh(&big);
            check_get()
        },
    );
    paired_row(
        &mut table,
        "GET 1 file --verify (CRC-32), checksummed on both sides, vs without",
        &vget,
        1.3,
    );
    // A checksum of a file changed in the two seconds before it began is not
    // remembered (the last row's `fresh`), so this row waits them out and
    // has the checksum computed once first: else in quick mode, whose runs
    // all fall in those seconds, the server read the file every time.
    thread::sleep(Duration::from_millis(2100));
    timed(&mut verified("GET big.bin")());
    check_get();
    let vget = pair(
        verified("GET big.bin"),
        Some(plain("GET big.bin")),
        &mut check_get,
    );
    paired_row(
        &mut table,
        "GET 1 file --verify, the server's checksum remembered, vs without",
        &vget,
        1.3,
    );
    let vput = pair(
        verified("PUT up.bin"),
        Some(plain("PUT up.bin")),
        &mut || check_and_remove(&up, &srv.join("up.bin")),
    );
    paired_row(
        &mut table,
        "PUT 1 file --verify (CRC-32), checksummed on both sides, vs without",
        &vput,
        1.3,
    );

    // 2c. The server's SHA-256 (HASH through our client) against OpenSSL's on
    // the same file, which each run reads and hashes (`fresh`).
    if have_openssl() {
        let big_s = big.to_str().unwrap().to_string();
        let sums = pair(
            plain("HASH big.bin sha-256"),
            Some(Box::new(|| {
                let mut c = Command::new("openssl");
                c.args(["dgst", "-sha256", &big_s]);
                c
            })),
            &mut || fresh(&big),
        );
        let throughput = mib_s(big_len, sums.ours[0]);
        let ratio = sums.ratios.map_or_else(na, |r| {
            // Speed is the inverse of time: ours/openssl as a speed ratio.
            let speed = 1.0 / r[0];
            format!(
                "{} ({:.2}-{:.2})",
                verdict(speed, 0.9, true),
                1.0 / r[2],
                1.0 / r[1]
            )
        });
        table.row(
            "SHA-256 of 1 file: HASH via our server vs openssl dgst -sha256 (speed)",
            format!("{} ({throughput})", spread(sums.ours)),
            sums.peer.map_or_else(na, spread),
            ratio,
            ">= 0.9x",
        );
    } else {
        missing.push("openssl not installed: no SHA-256 row".to_string());
    }
    let crc = medians(vec![plain("HASH big.bin crc32")], RUNS, &mut || fresh(&big));
    table.row(
        "CRC-32 of 1 file: HASH via our server (carry-less multiply)",
        format!("{} ({})", spread(crc[0]), mib_s(big_len, crc[0][0])),
        "-".into(),
        "-".into(),
        "(figure)",
    );

    // 2d. Bandwidth limits (issue 26): a limit set to move the big file in
    // 5 s, on the server (--max-rate) and on the client (--limit-rate); the
    // rate measured over the whole transfer against the limit.
    // The time is the transfer's own, from the client's result line (RETR
    // to 226), not the process's, whose start and login are no part of it.
    let limit = big_len / 5;
    let limit_s = limit.to_string();
    let (_limited, lport) = start_ours_with(&srv, &["--max-rate", &limit_s]);
    let rounds = if quick { 1 } else { 3 };
    for (what, port, extra) in [
        ("server --max-rate", lport, None),
        (
            "client --limit-rate",
            port,
            Some(["--limit-rate", limit_s.as_str()]),
        ),
    ] {
        let mut took = Vec::new();
        for _ in 0..rounds {
            let mut c = Command::new(CLIENT);
            c.args(["127.0.0.1", &port.to_string(), "--dir"]).arg(&cli);
            c.args(["-c", "GET big.bin"]).args(extra.iter().flatten());
            let out = c.output().unwrap();
            assert!(out.status.success(), "{out:?}");
            took.push(transfer_seconds(&String::from_utf8_lossy(&out.stdout)));
            check_get();
        }
        let m = summary(took);
        let off = (big_len as f64 / m[0] / limit as f64 - 1.0) * 100.0;
        let verdict = if off.abs() <= 5.0 { "ok" } else { "MISSED" };
        table.row(
            &format!("GET under a {what} of {} MiB/s: measured rate", limit >> 20),
            format!("{} ({:+.1}%)", mib_s(big_len, m[0]), off),
            "-".into(),
            format!("{verdict} ({:.2} s)", m[0]),
            "within 5%",
        );
    }

    // 3. curl as the client of both servers: GET to /dev/null, and PUT. In active
    // mode: in passive mode curl 7.88 often waits out its 200 ms connect timer
    // before using a data connection that is already up, more often the faster the
    // server answers EPSV (seen with --trace-time), which measures curl, not the server.
    if curl_ok {
        let null = pair(
            Box::new(|| curl(&[ACTIVE, "127.0.0.1", "-o", "/dev/null", &ours_url("big.bin")])),
            vport.map(|_| {
                Box::new(|| curl(&[ACTIVE, "127.0.0.1", "-o", "/dev/null", &vs_url("big.bin")]))
                    as Maker
            }),
            &mut || {},
        );
        paired_row(
            &mut table,
            "curl -P GET to /dev/null: from server vs from vsftpd",
            &null,
            1.0,
        );
        let curl_put = pair(
            Box::new(|| curl(&[ACTIVE, "127.0.0.1", "-T", &up_s, &ours_url("up.bin")])),
            vport.map(|_| {
                Box::new(|| curl(&[ACTIVE, "127.0.0.1", "-T", &up_s, &vs_url("up/up.bin")]))
                    as Maker
            }),
            &mut check_put,
        );
        paired_row(
            &mut table,
            "curl -P -T PUT: to server vs to vsftpd",
            &curl_put,
            0.8,
        );
    }

    // 4. Our client against vsftpd, against curl's time for the same GET and PUT.
    if let Some(v) = vport.filter(|_| peer_ok) {
        let vs_get = pair(
            Box::new(|| client(v, &cli, "GET big.bin")),
            Some(Box::new(|| curl(&["-o", &got_s, &vs_url("big.bin")]))),
            &mut check_get,
        );
        paired_row(
            &mut table,
            "GET to a file from vsftpd: client vs curl",
            &vs_get,
            0.6,
        );
        let vs_put = pair(
            Box::new(|| client(v, &cli, "CD up; PUT up.bin")),
            Some(Box::new(|| curl(&["-T", &up_s, &vs_url("up/up.bin")]))),
            &mut check_put,
        );
        paired_row(&mut table, "PUT to vsftpd: client vs curl -T", &vs_put, 0.8);
    }

    // 5. The ceiling: one plain std TCP stream over loopback.
    let ceiling = (0..RUNS).map(|_| plain_tcp(big_len)).fold(0.0, f64::max);
    let ours_rate = big_len as f64 / ours_get;
    table.row(
        "GET throughput vs one plain TCP stream (discarding)",
        mib_s(big_len, ours_get),
        format!("{:.0} MiB/s", ceiling / (1 << 20) as f64),
        format!("{:.2} of it", ours_rate / ceiling),
        "(figure)",
    );

    // 7. 32 clients at once, each a different 64 MiB file, on a fresh server.
    let crowd_len: u64 = if quick { 16 << 20 } else { 64 << 20 };
    let crowd = work.dir("crowd");
    for i in 0..32 {
        make_file(&crowd.join(format!("c{i:02}.bin")), crowd_len, 100 + i);
    }
    let (fresh, fport) = start_ours(&crowd);
    let start = Instant::now();
    let mut children = Vec::new();
    for i in 0..32 {
        let dir = work.dir(&format!("crowd-out-{i:02}"));
        let child = client(fport, &dir, &format!("GET c{i:02}.bin"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        children.push((Instant::now(), child, dir));
    }
    let mut crowd_peak = 0;
    let mut times = vec![0.0f64; 32];
    let mut left = 32;
    while left > 0 {
        crowd_peak = crowd_peak.max(peak_kib(fresh.0.id()).unwrap_or(0));
        for (i, (started, child, _)) in children.iter_mut().enumerate() {
            if times[i] == 0.0 {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "crowd client {i} failed");
                    times[i] = started.elapsed().as_secs_f64();
                    left -= 1;
                }
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    let total = start.elapsed().as_secs_f64();
    for (i, (_, _, dir)) in children.iter().enumerate() {
        let name = format!("c{i:02}.bin");
        assert!(
            same_bytes(&crowd.join(&name), &dir.join(&name)),
            "crowd file {i} differs"
        );
    }
    let (slow, fast) = times
        .iter()
        .fold((0.0f64, f64::MAX), |(s, f), &t| (s.max(t), f.min(t)));
    table.row(
        &format!(
            "32 clients x {} MiB at once: aggregate, every byte checked",
            crowd_len >> 20
        ),
        mib_s(32 * crowd_len, total),
        format!("slowest/fastest {:.2}", slow / fast),
        "-".into(),
        "(figure)",
    );

    // 8. A tree of 2,000 files of 4 KiB in 50 folders, down and up: our
    // client's GET -r / PUT -r against lftp's mirror with four connections
    // on vsftpd; then a second GET -r with nothing changed.
    let lftp_ok = have("lftp") && vport.is_some();
    if !have("lftp") {
        missing.push("lftp not installed (apt-get install lftp)".to_string());
    }
    let rounds = if quick { 3 } else { 7 };
    make_tree(&srv.join("tree"), 50, 40);
    make_tree(&vs_root.join("tree"), 50, 40);
    make_tree(&cli.join("tree"), 50, 40);
    let (down, vs_down) = (work.dir("tree-down"), work.dir("tree-down-lftp"));
    let lftp = |script: String| {
        let mut c = Command::new("lftp");
        let url = format!("ftp://anonymous:x@127.0.0.1:{}", vport.unwrap_or(0));
        c.args([
            "-e",
            &format!("set net:max-retries 1; {script}; quit"),
            &url,
        ]);
        c
    };
    let mut clear_down = || {
        for (copy, source) in [(&down, &srv), (&vs_down, &vs_root)] {
            let got = copy.join("tree");
            if got.exists() {
                assert!(
                    same_tree(&source.join("tree"), &got),
                    "{} differs",
                    got.display()
                );
                fs::remove_dir_all(&got).unwrap();
            }
        }
    };
    let vs_down_s = vs_down.join("tree").to_str().unwrap().to_string();
    let mut makers: Vec<Maker> = vec![Box::new(|| client(port, &down, "GET -r tree"))];
    if lftp_ok {
        makers.push(Box::new(|| {
            lftp(format!("mirror --parallel=4 tree {vs_down_s}"))
        }));
    }
    let got = medians(makers, rounds, &mut clear_down);
    let files_s = |m: [f64; 3]| format!("{:.0}/s, {}", 2000.0 / m[0], spread(m));
    table.row(
        "GET -r 2,000 x 4 KiB in 50 folders, files/s: client<-server vs lftp mirror --parallel=4<-vsftpd",
        files_s(got[0]),
        got.get(1).map_or_else(na, |&p| files_s(p)),
        got.get(1).map_or_else(na, |p| verdict(p[0] / got[0][0], 2.0, true)),
        ">= 2x",
    );
    // Nothing changed since the last run: nothing moves.
    timed(&mut client(port, &down, "GET -r tree"));
    let again = medians(
        vec![Box::new(|| client(port, &down, "GET -r tree"))],
        rounds,
        &mut || {},
    );
    assert!(same_tree(&srv.join("tree"), &down.join("tree")));
    table.row(
        "GET -r again with nothing changed: time of the first run",
        spread(again[0]),
        "-".into(),
        verdict(again[0][0] / got[0][0], 0.10, false),
        "<= 0.10x",
    );
    let cli_tree = cli.join("tree").to_str().unwrap().to_string();
    let mut clear_up = || {
        for copy in [srv.join("up-tree"), vs_root.join("up/tree")] {
            if copy.exists() {
                assert!(
                    same_tree(&cli.join("tree"), &copy),
                    "{} differs",
                    copy.display()
                );
                fs::remove_dir_all(&copy).unwrap();
            }
        }
    };
    let mut makers: Vec<Maker> = vec![Box::new(|| client(port, &cli, "PUT -r tree up-tree"))];
    if lftp_ok {
        makers.push(Box::new(|| {
            lftp(format!("mirror -R --parallel=4 {cli_tree} up/tree"))
        }));
    }
    let sent = medians(makers, rounds, &mut clear_up);
    table.row(
        "PUT -r 2,000 x 4 KiB in 50 folders, files/s: client->server vs lftp mirror -R --parallel=4->vsftpd",
        files_s(sent[0]),
        sent.get(1).map_or_else(na, |&p| files_s(p)),
        sent.get(1).map_or_else(na, |p| verdict(p[0] / sent[0][0], 2.0, true)),
        ">= 2x",
    );

    timed(&mut client(port, &cli, "PUT -r tree up-tree"));
    let again = medians(
        vec![Box::new(|| client(port, &cli, "PUT -r tree up-tree"))],
        rounds,
        &mut || {},
    );
    clear_up();
    table.row(
        "PUT -r again with nothing changed: time of the first run",
        spread(again[0]),
        "-".into(),
        verdict(again[0][0] / sent[0][0], 0.10, false),
        "<= 0.10x",
    );

    // 6. 1000 files of 1 KiB in one session, after the trees: curl and
    // vsftpd leave a TIME_WAIT per file (seven rounds: about 14,000), and
    // with that many, making connections slows for minutes: the tree rows
    // read 3-5x slower when they came after this one.
    let small_dir = work.dir("small-out");
    let script: String = (0..1000).map(|i| format!("GET small/f{i:04}; ")).collect();
    let out_pattern = format!("{}/f#1", small_dir.display());
    let mut clear_small = || {
        for entry in fs::read_dir(&small_dir).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(same_bytes(
                &srv.join("small").join(&name),
                &small_dir.join(&name)
            ));
            fs::remove_file(small_dir.join(&name)).unwrap();
        }
    };
    let small = pair(
        Box::new(|| client(port, &small_dir, &script)),
        // Active mode: curl 7.88 in passive mode often sleeps a second between files.
        peer_ok.then(|| {
            let url = vs_url("small/f[0000-0999]");
            Box::new(move || {
                curl(&[
                    "-P",
                    "127.0.0.1",
                    "--disable-eprt",
                    "-o",
                    &out_pattern,
                    &url,
                ])
            }) as Maker
        }),
        &mut clear_small,
    );
    let files_s = |t: f64| format!("{:.0}/s", 1000.0 / t);
    table.row(
        "1000 x 1 KiB in one session, files/s: client<-server vs curl<-vsftpd",
        format!(
            "{} ({}-{})",
            files_s(small.ours[0]),
            files_s(small.ours[2]),
            files_s(small.ours[1])
        ),
        small.peer.map_or_else(na, |p| {
            format!("{} ({}-{})", files_s(p[0]), files_s(p[2]), files_s(p[1]))
        }),
        // The median of the per-round ratios peer/ours, so higher is better.
        small.ratios.map_or_else(na, |r| {
            format!(
                "{} ({:.2}-{:.2})",
                verdict(1.0 / r[0], 1.5, true),
                1.0 / r[2],
                1.0 / r[1]
            )
        }),
        ">= 1.5x",
    );

    // 9. One password check at the default iteration count, beside Python's
    // hashlib (OpenSSL) with the same parameters.
    let (mut ours_kdf, mut py_kdf) = (Vec::new(), Vec::new());
    let py = format!(
        "import hashlib,time\nt=time.perf_counter()\n\
         hashlib.pbkdf2_hmac('sha256',b'password',b'0123456789abcdef',{},32)\n\
         print(time.perf_counter()-t)",
        dialback::password::ITERATIONS
    );
    for _ in 0..rounds {
        let start = Instant::now();
        let mut key = [0u8; 32];
        let iterations = dialback::password::ITERATIONS;
        dialback::password::pbkdf2_sha256(b"password", b"0123456789abcdef", iterations, &mut key);
        ours_kdf.push(start.elapsed().as_secs_f64());
        let out = Command::new("python3").args(["-c", &py]).output();
        let secs = out.ok().and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        });
        py_kdf.extend(secs);
    }
    let ms = |mut t: Vec<f64>| {
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        (
            median,
            format!(
                "{:.0} ms ({:.0}-{:.0})",
                median * 1e3,
                t[0] * 1e3,
                t[t.len() - 1] * 1e3
            ),
        )
    };
    let (ours_median, ours_text) = ms(ours_kdf);
    let py_row = (!py_kdf.is_empty()).then(|| ms(py_kdf));
    table.row(
        &format!(
            "PBKDF2-HMAC-SHA256, {} iterations: ours vs Python hashlib (OpenSSL)",
            dialback::password::ITERATIONS
        ),
        ours_text,
        py_row.as_ref().map_or_else(na, |p| p.1.clone()),
        py_row
            .as_ref()
            .map_or_else(na, |p| verdict(ours_median / p.0, 1.5, false)),
        "<= 1.5x",
    );

    // 9b. What a password adds to a session's setup: a fresh server each
    // round, so the first login of the user is a full check.
    let users_file = work.0.join("users");
    let mut accounts = dialback::server::accounts::Accounts::default();
    accounts.put(dialback::server::accounts::Account {
        name: "alice".into(),
        hash: dialback::password::Hash::new("pw", dialback::password::ITERATIONS).unwrap(),
        perms: dialback::server::gate::Perms::all(),
        rate: None,
        root: srv.clone(),
    });
    fs::write(&users_file, accounts.to_text()).unwrap();
    let users_arg = users_file.to_str().unwrap().to_string();
    let mut logins: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        let (_server, port) = start_ours_with(&srv, &["--users", &users_arg, "--anonymous", "rw"]);
        for (i, (user, password)) in [("anonymous", "x"), ("alice", "pw"), ("alice", "pw")]
            .into_iter()
            .enumerate()
        {
            logins[i].push(time_login(port, user, password));
        }
    }
    let [anonymous, first, again] = logins.map(ms);
    table.row(
        "login: anonymous / first with a password / again: added time vs one check",
        format!("{} / {} / {}", anonymous.1, first.1, again.1),
        format!("one check {:.0} ms", ours_median * 1e3),
        verdict((first.0 - anonymous.0) / ours_median, 1.2, false),
        "<= 1.2x",
    );

    // 10. Memory.
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    table.row(
        &format!(
            "peak RSS during {} MiB GET and PUT: server / client",
            big_len >> 20
        ),
        format!("{} / {}", mib(server_peak), mib(client_peak.max(put_peak))),
        "-".into(),
        "-".into(),
        "<= 8 MiB each",
    );
    table.row(
        "peak RSS of the server with 32 sessions",
        mib(crowd_peak),
        "-".into(),
        "-".into(),
        "<= 64 MiB",
    );

    // 11. Scale: idle sessions (connected and greeted). Memory per session
    // from the servers' PSS, sessions opened per second, both against
    // vsftpd; then 10,000 at once on ours alone.
    let n = 1000;
    let (scale_server, sport) = start_ours_with(
        &srv,
        &[
            "--max-sessions",
            "12000",
            "--max-per-ip",
            "12000",
            "--login-timeout",
            "600",
        ],
    );
    let ours_pss = |_: ()| pss_kib(&[scale_server.0.id()]);
    let (ours_per, ours_rate) = idle_sessions(sport, n, &ours_pss);
    let vs = vport.map(|v| idle_sessions(v, n, &|_: ()| pss_kib(&pids_named("vsftpd"))));
    table.row(
        "1,000 idle sessions: memory each (PSS) ours vs vsftpd",
        format!("{ours_per:.1} KiB"),
        vs.map_or_else(na, |v| format!("{:.1} KiB", v.0)),
        vs.map_or_else(na, |v| verdict(ours_per / v.0, 0.2, false)),
        "<= 0.2x",
    );
    table.row(
        "sessions opened per second (connect to 220), ours vs vsftpd",
        format!("{ours_rate:.0}/s"),
        vs.map_or_else(na, |v| format!("{:.0}/s", v.1)),
        vs.map_or_else(na, |v| verdict(ours_rate / v.1, 5.0, true)),
        ">= 5x",
    );
    // 10,000 held at once: the server's peak memory, and how long a new
    // client waits for its greeting meanwhile (median of 7).
    let held: Vec<TcpStream> = (0..10_000).map(|_| greeted(sport)).collect();
    let mut waits: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            drop(greeted(sport));
            start.elapsed().as_secs_f64()
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    let peak = peak_kib(scale_server.0.id()).unwrap_or(0);
    drop(held);
    table.row(
        "10,000 idle sessions at once (ours): peak RSS / a new client's wait for 220",
        format!(
            "{:.1} MiB / {:.2} ms ({:.2}-{:.2})",
            peak as f64 / 1024.0,
            waits[3] * 1e3,
            waits[0] * 1e3,
            waits[6] * 1e3
        ),
        "-".into(),
        "-".into(),
        "(figure)",
    );
    drop(scale_server);

    println!();
    table.print();
    if missing.is_empty() {
        println!("\nall peers found");
    } else {
        for m in missing {
            println!("\npeer missing: {m}");
        }
    }
}

/// Seconds from connecting to the 230 of a login as `user`.
fn time_login(port: u16, user: &str, password: &str) -> f64 {
    use std::io::{BufRead, BufReader, Write};
    let start = Instant::now();
    let mut ctrl = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut input = BufReader::new(ctrl.try_clone().unwrap());
    let mut expect = |code: &str| {
        let mut line = String::new();
        input.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
    };
    expect("220");
    ctrl.write_all(format!("USER {user}\r\n").as_bytes())
        .unwrap();
    expect("331");
    ctrl.write_all(format!("PASS {password}\r\n").as_bytes())
        .unwrap();
    expect("230");
    let secs = start.elapsed().as_secs_f64();
    let _ = ctrl.write_all(b"QUIT\r\n");
    secs
}

/// A connection that has read its 220 greeting.
fn greeted(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "closed before its greeting"
        );
        got.push(byte[0]);
    }
    assert!(got.starts_with(b"220"), "{}", String::from_utf8_lossy(&got));
    stream
}

/// Opens `n` idle sessions on `port` one after another and holds them:
/// returns the memory each adds (KiB of `pss` over the baseline, per
/// session) and how many opened per second.
fn idle_sessions(port: u16, n: usize, pss: &dyn Fn(()) -> u64) -> (f64, f64) {
    drop(greeted(port));
    thread::sleep(Duration::from_millis(200));
    let before = pss(());
    let start = Instant::now();
    let held: Vec<TcpStream> = (0..n).map(|_| greeted(port)).collect();
    let rate = n as f64 / start.elapsed().as_secs_f64();
    thread::sleep(Duration::from_millis(200));
    let after = pss(());
    drop(held);
    thread::sleep(Duration::from_millis(500));
    (after.saturating_sub(before) as f64 / n as f64, rate)
}

/// The summed proportional set size of these processes, in KiB.
fn pss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let line = text.lines().find(|l| l.starts_with("Pss:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// The processes whose command name is `name`.
fn pids_named(name: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

/// pyftpdlib's `ftpbench`, as `.ci/install-peers` leaves it in
/// `$DIALBACK_PEERS/ftpbench` (its source package's script, with psutil).
fn ftpbench_script() -> Option<PathBuf> {
    let peers = match std::env::var_os("DIALBACK_PEERS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/dialback-peers"),
    };
    let script = peers.join("ftpbench/ftpbench");
    let psutil = Command::new("python3")
        .args(["-c", "import psutil, pyftpdlib"])
        .status()
        .is_ok_and(|s| s.success());
    (script.exists() && psutil).then_some(script)
}

/// pyftpdlib serving its root anonymously, read-write, with no connection
/// limits, as ftpbench's comparisons run it.
const PYFTPDLIB: &str = "
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer()
a.add_anonymous(sys.argv[2], perm='elradfmwMT')
FTPHandler.authorizer = a
s = FTPServer(('127.0.0.1', int(sys.argv[1])), FTPHandler)
s.max_cons = 0
s.max_cons_per_ip = 0
s.serve_forever()
";

/// ftpbench's concurrence figures for one server: seconds for the logins,
/// the RETRs and the STORs of 300 clients, and the most memory it saw the
/// server use (MB).
fn ftpbench_once(script: &Path, port: u16, pid: u32) -> [f64; 4] {
    let out = Command::new("python3")
        .arg(script)
        .args([
            "-u",
            "anonymous",
            "-p",
            "x",
            "-H",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .args([
            "-b",
            "concurrence",
            "-n",
            "300",
            "-s",
            "1M",
            "-k",
            &pid.to_string(),
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let find = |what: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what}: {text}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let secs = words.iter().position(|w| *w == "secs").expect(line);
        let mem = words
            .get(secs + 1)
            .and_then(|m| m.strip_suffix('M')?.parse().ok());
        (
            words[secs - 1].parse::<f64>().expect(line),
            mem.unwrap_or(0.0),
        )
    };
    let (login, m1): (f64, f64) = find("clients (connect, login)");
    let (retr, m2) = find("clients (RETR");
    let (stor, m3) = find("clients (STOR");
    [login, retr, stor, m1.max(m2).max(m3)]
}

fn ftpbench_rows(table: &mut Table, work: &Work, script: &Path, rounds: usize) {
    let (py_root, our_root) = (work.dir("ftpbench-py"), work.dir("ftpbench-ours"));
    let mut figures: [Vec<[f64; 4]>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for turn in 0..2 {
            let which = (turn + round) % 2;
            if which == 0 {
                let port = TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let py = Started(
                    Command::new("python3")
                        .args(["-c", PYFTPDLIB, &port.to_string()])
                        .arg(&py_root)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
                let deadline = Instant::now() + Duration::from_secs(10);
                while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline
                {
                    thread::sleep(Duration::from_millis(50));
                }
                figures[0].push(ftpbench_once(script, port, py.0.id()));
            } else {
                let limits = ["--max-per-ip", "1000", "--max-sessions", "1000"];
                let (ours, port) = start_ours_with(&our_root, &limits);
                figures[1].push(ftpbench_once(script, port, ours.0.id()));
            }
        }
    }
    let median = |side: usize, i: usize| {
        let mut v: Vec<f64> = figures[side].iter().map(|f| f[i]).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    for (i, what) in ["connect and log in", "RETR 1 MiB", "STOR 1 MiB"]
        .iter()
        .enumerate()
    {
        let (o, o_lo, o_hi) = median(1, i);
        let (p, p_lo, p_hi) = median(0, i);
        table.row(
            &format!("ftpbench, 300 clients at once {what}: ours vs pyftpdlib"),
            format!("{o:.2} s ({o_lo:.2}-{o_hi:.2})"),
            format!("{p:.2} s ({p_lo:.2}-{p_hi:.2})"),
            verdict(o / p, 0.7, false),
            "<= 0.7x",
        );
    }
    let (o, ..) = median(1, 3);
    let (p, ..) = median(0, 3);
    table.row(
        "ftpbench, 300 clients: server memory (its own figure), ours vs pyftpdlib",
        format!("{o:.1} MB"),
        format!("{p:.1} MB"),
        verdict(o / p, 0.5, false),
        "<= 0.5x",
    );
}
