//! Pipelined mirrors and MGET end to end (issue 24): against a server known
//! to take commands in order (ours, vsftpd) the client asks for the next
//! transfers before one ends, over up to 16 sessions, and reads a tree from
//! ours with one TREE. Every file must still land whole under its own name,
//! a file that fails in the middle of a batch must be named while the rest
//! arrives, and in both data-connection modes.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{free_port, pattern, tree_of, Peer, Run, Server, TempDir};

/// Three folders of 15 files, each of its own size and bytes, so that a
/// reply or a data connection matched with the wrong file shows as a wrong
/// size or wrong bytes. Returns the path (below `top`) of the one in the
/// middle, which the tests make unreadable.
fn make_batch(top: &Path) -> String {
    for d in 0..3 {
        fs::create_dir_all(top.join(format!("d{d}"))).unwrap();
        for f in 0..15 {
            let i = d * 15 + f;
            let name = top.join(format!("d{d}/f{f:02}.bin"));
            fs::write(name, pattern(1000 + 37 * i, i as u64)).unwrap();
        }
    }
    "d1/f07.bin".to_string()
}

/// Makes `path` unreadable to the server (which runs as nobody, or as a
/// user who is not root).
fn unreadable(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o000)).unwrap();
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Checks a GET -r of `source` into `copy` that hit `failed`: the run says
/// which and ends with status 1, every other file is whole, the failed one
/// is not there at all, and no temporary file is left.
fn whole_but(run: &Run, source: &Path, copy: &Path, failed: &str) {
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!("error: 1 failed: {failed}\n")),
        "the failure is named: {}",
        run.stderr
    );
    assert!(run.stdout.contains("44 files"), "{}", run.stdout);
    let mut want = tree_of(source);
    want.remove(failed);
    assert_eq!(tree_of(copy), want, "every other file, whole and in place");
    assert_eq!(leftovers(copy), 0, "no temporary file is left");
}

/// How many of our temporary files there are below `dir`.
fn leftovers(dir: &Path) -> usize {
    let mut found = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            found += leftovers(&entry.path());
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".dialback-")
        {
            found += 1;
        }
    }
    found
}

/// The control lines the client sent and received, from `-v`.
fn dialogue(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("> ") || l.starts_with("< "))
        .collect()
}

/// The most RETRs the session had asked for and not yet seen end (226, or
/// 250 in block mode, where the connection stays open).
fn asked_ahead(lines: &[&str]) -> usize {
    let (mut open, mut most) = (0usize, 0);
    for line in lines {
        if line.starts_with("> RETR") {
            open += 1;
            most = most.max(open);
        } else if line.starts_with("< 226") || line.starts_with("< 250") {
            open = open.saturating_sub(1);
        }
    }
    most
}

#[test]
fn a_pipelined_mirror_from_our_server_is_whole_in_order_and_names_its_one_failure() {
    for mode in [&["-v"][..], &["-v", "--passive"][..]] {
        let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
        let failed = make_batch(&srv.join("t"));
        unreadable(&srv.join("t").join(&failed));
        let run_as: &[&str] = if is_root() {
            &["--run-as", "nobody"]
        } else {
            &[]
        };
        let server = Server::start(srv.path(), run_as);
        let run = server.client(cli.path(), mode, "GET -r t\n");
        whole_but(&run, &srv.join("t"), &cli.join("t"), &failed);
        let lines = dialogue(&run);
        // The whole tree came with one TREE; no folder was listed alone.
        assert!(lines.contains(&"> TREE t"), "{lines:?}");
        assert!(!lines.iter().any(|l| l.starts_with("> MLSD")), "{lines:?}");
        // This session asked for its next transfers before its first ended,
        // in block mode, over one data connection (a refused RETR keeps it).
        assert!(asked_ahead(&lines) >= 2, "pipelined: {lines:?}");
        assert!(lines.contains(&"> MODE B"), "{lines:?}");
        assert_eq!(channels(&lines), 1, "{lines:?}");

        // MGET of one folder goes the same way.
        let (one, mget) = (srv.join("t/d0"), cli.sub("mget"));
        fs::write(one.join("bad.bin"), b"unreadable").unwrap();
        unreadable(&one.join("bad.bin"));
        let run = server.client(&mget, mode, "MGET t/d0/*.bin\n");
        assert_eq!(run.code(), 1, "{run:?}");
        assert!(run.stderr.contains("bad.bin: "), "{}", run.stderr);
        let mut want = tree_of(&one);
        want.remove("bad.bin");
        assert_eq!(tree_of(&mget), want);
        assert_eq!(leftovers(&mget), 0);
        assert!(!dialogue(&run).iter().any(|l| l.starts_with("> SIZE")));
        println!("ours, {mode:?}: GET -r of 45 files and MGET of 16, one unreadable each: named, the rest whole");
    }
}

/// How many data connections the session asked for (EPRT, EPSV).
fn channels(lines: &[&str]) -> usize {
    let asked = |l: &&&str| l.starts_with("> EPRT") || l.starts_with("> EPSV");
    lines.iter().filter(asked).count()
}

/// PUT -r in block mode, over one session, with one upload in the middle
/// refused (its folder is not the server's to write): it is named; the open
/// data connection closes with it (its blocks were on their way), so the
/// uploads sent behind it are answered 425 and go again; and every other
/// file lands whole, over a few data connections, not one each.
#[test]
fn block_mode_uploads_go_on_past_a_refusal_and_land_whole() {
    for mode in [&["-v"][..], &["-v", "--passive"][..]] {
        let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
        let refused = make_batch(&cli.join("t"));
        for f in (0..15).filter(|f| *f != 7) {
            fs::remove_file(cli.join(&format!("t/d1/f{f:02}.bin"))).unwrap();
        }
        // The server (nobody, under root) may write everywhere but back/d1.
        fs::create_dir_all(srv.join("back/d1")).unwrap();
        for open in [srv.path(), &srv.join("back")] {
            fs::set_permissions(open, fs::Permissions::from_mode(0o777)).unwrap();
        }
        fs::set_permissions(srv.join("back/d1"), fs::Permissions::from_mode(0o555)).unwrap();
        let mut args = vec!["--max-per-ip", "1"];
        if is_root() {
            args.extend(["--run-as", "nobody"]);
        }
        let server = Server::start(srv.path(), &args);
        let run = server.client(cli.path(), mode, "PUT -r t back\n");
        assert_eq!(run.code(), 1, "{run:?}");
        let named = format!("error: 1 failed: {refused}\n");
        assert!(run.stderr.contains(&named), "{}", run.stderr);
        let mut want = tree_of(&cli.join("t"));
        want.remove(&refused);
        assert_eq!(tree_of(&srv.join("back")), want);
        assert_eq!(leftovers(&srv.join("back")), 0, "no temporary file is left");
        let lines = dialogue(&run);
        assert!(lines.contains(&"> MODE B"), "{lines:?}");
        let resent = "< 425 No data connection is open";
        assert!(lines.iter().any(|l| l.starts_with(resent)), "{lines:?}");
        assert!(
            channels(&lines) <= 4,
            "{} channels: {lines:?}",
            channels(&lines)
        );
        println!(
            "ours, {mode:?}: PUT -r of 31 files in block mode, one refused: named, the rest whole over {} connections",
            channels(&lines)
        );
    }
}

/// A tree of small files and big ones (over the 1 MiB block mode takes),
/// down and up over one session, in both modes: the small go in block mode,
/// then the big in stream mode, a connection each: one change of mode each
/// way, and every file whole.
#[test]
fn small_files_go_in_block_mode_and_big_ones_in_stream_mode() {
    for mode in [&["-v"][..], &["-v", "--passive"][..]] {
        let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
        make_batch(&srv.join("t"));
        for (i, name) in ["d0/big1.bin", "d1/big2.bin", "big3.bin"]
            .iter()
            .enumerate()
        {
            fs::write(
                srv.join("t").join(name),
                pattern((3 << 19) + i, 90 + i as u64),
            )
            .unwrap();
        }
        let server = Server::start(srv.path(), &["--max-per-ip", "1"]);
        let run = server.client(cli.path(), mode, "GET -r t\nPUT -r t back\n");
        assert_eq!(run.code(), 0, "{run:?}");
        assert_eq!(tree_of(&srv.join("t")), tree_of(&cli.join("t")));
        assert_eq!(tree_of(&srv.join("t")), tree_of(&srv.join("back")));
        let lines = dialogue(&run);
        let count = |what: &str| lines.iter().filter(|l| **l == what).count();
        assert_eq!((count("> MODE B"), count("> MODE S")), (2, 2), "{lines:?}");
        // 45 small files over one connection each way, 3 big over their
        // own, and the MLSD that finds no `back` after TREE found none.
        assert_eq!(channels(&lines), 2 * (1 + 3) + 1, "{lines:?}");
    }
}

/// pyftpdlib (which answers out of order, so it gets each transfer step by
/// step) in both modes: a GET -r of 45 files with one in the middle it
/// refuses (a symlink out of its root), named, and the rest whole. In
/// passive mode the batch goes over several sessions; in active mode, where
/// pyftpdlib 2.2 loses sockets with several at once, over this one alone.
#[test]
#[ignore = "needs pyftpdlib: run with --include-ignored after .ci/install-peers"]
fn a_mirror_from_pyftpdlib_is_whole_and_names_its_one_failure() {
    for mode in [&["-v"][..], &["-v", "--passive"][..]] {
        let (srv, cli, out) = (
            TempDir::new("srv"),
            TempDir::new("cli"),
            TempDir::new("out"),
        );
        let failed = make_batch(&srv.join("t"));
        let outside = out.join("outside.bin");
        fs::write(&outside, b"outside the root").unwrap();
        fs::remove_file(srv.join("t").join(&failed)).unwrap();
        std::os::unix::fs::symlink(&outside, srv.join("t").join(&failed)).unwrap();
        let py = common::pyftpdlib(srv.path(), &[]);
        let port = py.1.to_string();
        let mut args = vec!["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()];
        args.extend_from_slice(mode);
        let run = common::client(&args, "GET -r t\n");
        whole_but(&run, &srv.join("t"), &cli.join("t"), &failed);
        // `-v` shows this session's dialogue: every RETR in active mode,
        // a share of them in passive mode.
        let lines = dialogue(&run);
        let retrs = lines.iter().filter(|l| l.starts_with("> RETR")).count();
        match mode.len() {
            1 => assert_eq!(retrs, 45, "one session: {lines:?}"),
            _ => assert!(retrs < 45, "several sessions: {lines:?}"),
        }
        println!("pyftpdlib, {mode:?}: GET -r of 45 files, one refused: named, the rest whole");
    }
}

/// A server that lets an address have 3 sessions turns the extra ones a
/// mirror opens away (421); the mirror goes on with those it has, and every
/// file arrives.
#[test]
fn a_mirror_makes_do_with_the_sessions_the_server_allows() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    make_batch(&srv.join("t"));
    let server = Server::start(srv.path(), &["--max-per-ip", "3"]);
    let run = server.client(
        cli.path(),
        &[],
        "GET -r t
PUT -r t back
",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(tree_of(&srv.join("t")), tree_of(&cli.join("t")));
    assert_eq!(tree_of(&srv.join("t")), tree_of(&srv.join("back")));
    let log = server.log();
    assert!(
        log.contains("refused: too many"),
        "the cap was reached: {log}"
    );
    let logins = log.matches("logged in as").count();
    assert!((3..=6).contains(&logins), "{logins} logins: {log}");
}

/// A tree deeper than TREE goes (32 folders) is read folder by folder, and
/// mirrors as any other.
#[test]
fn a_tree_deeper_than_tree_goes_is_listed_folder_by_folder() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    let mut deep = srv.join("deep");
    for level in 0..36 {
        deep = deep.join(format!("l{level}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom.txt"), b"bottom").unwrap();
    fs::write(srv.join("deep/top.txt"), b"top").unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &["-v"], "GET -r deep\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stderr
            .contains("< 213 Tree cut short: more than 32 folders deep."),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("> MLSD"), "{}", run.stderr);
    assert_eq!(tree_of(&srv.join("deep")), tree_of(&cli.join("deep")));
}

/// vsftpd (Debian's, run as root for its anonymous user `ftp`), serving
/// `root` on a free port of 127.0.0.1, both modes; stopped on drop.
fn vsftpd(root: &Path, work: &TempDir) -> Peer {
    let port = free_port();
    let empty = work.sub("empty");
    let conf = work.join("vsftpd.conf");
    let settings = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
         background=NO\nanonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\n\
         anon_root={}\nsecure_chroot_dir={}\npasv_enable=YES\nport_enable=YES\n\
         connect_from_port_20=NO\nseccomp_sandbox=NO\nxferlog_enable=NO\n\
         max_clients=0\nmax_per_ip=0\npam_service_name=vsftpd\n",
        root.display(),
        empty.display()
    );
    fs::write(&conf, settings).unwrap();
    let mut cmd = Command::new("/usr/sbin/vsftpd");
    cmd.arg(&conf).stdout(Stdio::null()).stderr(Stdio::null());
    Peer::start(cmd, port, "vsftpd")
}

#[test]
#[ignore = "needs vsftpd and root: run with --include-ignored after .ci/install-peers"]
fn a_pipelined_mirror_from_vsftpd_is_whole_in_order_and_names_its_one_failure() {
    for mode in [&["-v"][..], &["-v", "--passive"][..]] {
        let (srv, cli, work) = (TempDir::new("srv"), TempDir::new("cli"), TempDir::new("vs"));
        let failed = make_batch(&srv.join("t"));
        // vsftpd serves anonymous users as `ftp`, who cannot read this one.
        unreadable(&srv.join("t").join(&failed));
        let vs = vsftpd(srv.path(), &work);
        let port = vs.1.to_string();
        let mut args = vec!["127.0.0.1", &port, "--dir", cli.path().to_str().unwrap()];
        args.extend_from_slice(mode);
        let run = common::client(&args, "GET -r t\n");
        whole_but(&run, &srv.join("t"), &cli.join("t"), &failed);
        let lines = dialogue(&run);
        assert!(asked_ahead(&lines) >= 2, "pipelined: {lines:?}");
        println!("vsftpd, {mode:?}: GET -r of 45 files, one unreadable: named, the rest whole");
    }
}
