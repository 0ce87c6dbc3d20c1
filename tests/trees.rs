//! Recursive transfers end to end through the real binaries: `GET -r` and
//! `PUT -r` copy trees byte for byte in both data-connection modes, a second
//! run moves nothing, a changed file moves alone, `--delete` removes what the
//! source lacks, and failures are counted, named and end with status 1.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{names, pattern, tree_of, Server, TempDir};

/// A tree of 120 files (enough for the client to use several sessions) in
/// nested folders, with an empty file, an empty folder, a name with spaces
/// and one file of a few MiB.
fn make_tree(top: &Path) {
    for d in 0..6 {
        let folder = top.join(format!("d{d}/inner {d}"));
        fs::create_dir_all(&folder).unwrap();
        for f in 0..20 {
            let len = (d * 20 + f) * 97;
            fs::write(
                folder.join(format!("f{f:02}.bin")),
                pattern(len, (d * 20 + f) as u64),
            )
            .unwrap();
        }
    }
    fs::create_dir_all(top.join("empty folder")).unwrap();
    fs::write(top.join("d0/zero"), b"").unwrap();
    fs::write(top.join("big.bin"), pattern(3 << 20, 99)).unwrap();
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

/// Both trees hold the same folders and bytes, and every file has its source's
/// modification time to the second.
fn assert_mirrored(source: &Path, copy: &Path) {
    assert_eq!(tree_of(source), tree_of(copy), "the trees differ");
    for (path, _) in tree_of(source).iter().filter(|(p, _)| !p.ends_with('/')) {
        let secs = |p: &Path| {
            modified(p)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        assert_eq!(
            secs(&source.join(path)),
            secs(&copy.join(path)),
            "time of {path}"
        );
    }
}

/// Sets a file's modification time `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

fn mirror_both_ways(mode: &[&str]) {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    make_tree(&srv.join("photos"));
    age(&srv.join("photos/big.bin"), 3600);
    let server = Server::start(srv.path(), &[]);

    let run = server.client(cli.path(), mode, "GET -r photos\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_mirrored(&srv.join("photos"), &cli.join("photos"));
    assert!(
        run.stdout.contains("received d0/inner 0/f01.bin: 97 B in "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("received photos: 122 files, "),
        "{}",
        run.stdout
    );

    // Nothing changed: nothing moves.
    let again = server.client(cli.path(), mode, "GET -r photos\n");
    assert_eq!(again.code(), 0, "{again:?}");
    assert!(
        again.stdout.contains("received photos: 0 files, 0 B in "),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("; 122 unchanged"), "{}", again.stdout);

    // One file changes on the server, same size, another time: it alone moves.
    let changed = srv.join("photos/d1/inner 1/f03.bin");
    let len = fs::metadata(&changed).unwrap().len() as usize;
    fs::write(&changed, pattern(len, 1234)).unwrap();
    age(&changed, 7200);
    let third = server.client(cli.path(), mode, "GET -r photos\n");
    assert_eq!(third.code(), 0, "{third:?}");
    assert!(
        third.stdout.contains("received photos: 1 file, "),
        "{}",
        third.stdout
    );
    assert_mirrored(&srv.join("photos"), &cli.join("photos"));

    // Up again under another name, then once more with nothing to do.
    let run = server.client(cli.path(), mode, "PUT -r photos backup/photos\n");
    assert_eq!(run.code(), 1, "backup/ does not exist yet: {run:?}");
    let run = server.client(
        cli.path(),
        mode,
        "MKDIR backup\nPUT -r photos backup/photos\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout.contains("sent backup/photos: 122 files, "),
        "{}",
        run.stdout
    );
    assert_mirrored(&cli.join("photos"), &srv.join("backup/photos"));
    let again = server.client(cli.path(), mode, "PUT -r photos backup/photos\n");
    assert!(
        again.stdout.contains(": 0 files, 0 B in "),
        "{}",
        again.stdout
    );
    // No temporary file is left on either side.
    for top in [srv.path(), cli.path()] {
        let text = format!("{:?}", tree_of(top).keys().collect::<Vec<_>>());
        assert!(!text.contains(".dialback-"), "{text}");
    }
}

#[test]
fn trees_mirror_both_ways_in_active_mode() {
    mirror_both_ways(&[]);
}

#[test]
fn trees_mirror_both_ways_in_passive_mode() {
    mirror_both_ways(&["--passive"]);
}

#[test]
fn delete_removes_what_the_source_lacks_and_only_with_the_option() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    make_tree(&cli.join("site"));
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "PUT -r site\n");
    assert_eq!(run.code(), 0, "{run:?}");

    fs::remove_dir_all(cli.join("site/d2")).unwrap();
    fs::remove_file(cli.join("site/big.bin")).unwrap();
    let run = server.client(cli.path(), &[], "PUT -r site\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        srv.join("site/d2/inner 2/f00.bin").exists(),
        "deleted without --delete"
    );
    let run = server.client(cli.path(), &[], "PUT -r --delete site\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout.contains("; 101 unchanged, 23 deleted"),
        "{}",
        run.stdout
    );
    assert_eq!(tree_of(&cli.join("site")), tree_of(&srv.join("site")));

    // And the other way: what the server no longer has goes from the local copy.
    let copy = TempDir::new("copy");
    let run = server.client(copy.path(), &[], "GET -r site\n");
    assert_eq!(run.code(), 0, "{run:?}");
    fs::remove_dir_all(srv.join("site/d3")).unwrap();
    let run = server.client(copy.path(), &[], "GET -r --delete site\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(tree_of(&srv.join("site")), tree_of(&copy.join("site")));
}

#[test]
fn failures_are_counted_and_named_and_the_rest_goes_on() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    make_tree(&srv.join("t"));
    // A local file where the server has a folder: that path clashes.
    fs::create_dir_all(cli.join("t")).unwrap();
    fs::write(cli.join("t/d4"), b"a file, not a folder").unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "GET -r t\nPWD\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(run.stderr.contains("failed: d4"), "{}", run.stderr);
    assert!(
        run.stdout.contains("received t: 102 files"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(cli.join("t/d4")).unwrap(), b"a file, not a folder");
    assert!(
        run.stdout.ends_with("/\n"),
        "the session went on: {}",
        run.stdout
    );

    // A read-only server refuses every upload and folder; nothing lands.
    let ro = TempDir::new("ro");
    let before = names(ro.path());
    let server = Server::start(ro.path(), &["--read-only"]);
    let run = server.client(cli.path(), &[], "PUT -r t\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("550") || run.stderr.contains("553"),
        "{}",
        run.stderr
    );
    assert_eq!(names(ro.path()), before);

    // No such folder on either side.
    let run = server.client(cli.path(), &[], "GET -r nowhere\nPUT -r nowhere\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("nowhere: no such local folder"),
        "{}",
        run.stderr
    );
    assert!(!cli.join("nowhere").exists());
}

/// Issue 21, items 2 and 3: a folder of the local target that is a symlink
/// (to a victim's folder) is never written through nor deleted through; the
/// run names it, fails, and the rest still arrives.
#[test]
fn a_symlinked_local_folder_is_never_written_or_deleted_through() {
    let (srv, cli, victim) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("victim"),
    );
    fs::create_dir_all(srv.join("m/sub")).unwrap();
    fs::write(srv.join("m/sub/authorized_keys"), b"attacker's key").unwrap();
    fs::write(srv.join("m/ok.txt"), b"ok").unwrap();
    fs::write(victim.join("authorized_keys"), b"victim's key").unwrap();
    fs::write(victim.join("only-here"), b"victim's file").unwrap();
    fs::create_dir_all(cli.join("m")).unwrap();
    std::os::unix::fs::symlink(victim.path(), cli.join("m/sub")).unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "GET -r --delete m\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("sub/authorized_keys: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("symlink"), "{}", run.stderr);
    assert_eq!(
        fs::read(victim.join("authorized_keys")).unwrap(),
        b"victim's key"
    );
    assert_eq!(
        fs::read(victim.join("only-here")).unwrap(),
        b"victim's file"
    );
    assert_eq!(fs::read(cli.join("m/ok.txt")).unwrap(), b"ok");
    assert!(
        cli.join("m/sub").is_symlink(),
        "the link itself is left alone"
    );
}

/// Issue 21, items 4 and 5: `GET -c` never appends through a symlink at the
/// destination, and never adopts a partial file that is not plainly ours
/// (a symlink, or a file with a second name someone else could keep).
#[test]
fn resuming_never_goes_through_a_link_or_into_a_file_that_is_not_plainly_ours() {
    let (srv, cli, victim) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("victim"),
    );
    fs::write(srv.join("f.txt"), b"0123456789").unwrap();
    fs::write(victim.join("bashrc"), b"01234").unwrap();
    std::os::unix::fs::symlink(victim.join("bashrc"), cli.join("f.txt")).unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "GET -c f.txt\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert!(
        run.stderr.contains("a symlink; not resumed"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read(victim.join("bashrc")).unwrap(), b"01234");

    // A partial file planted as a link to the victim's file, or hard-linked to it.
    fs::remove_file(cli.join("f.txt")).unwrap();
    let part = cli.join(".dialback-get-f.txt.part");
    for plant in ["symlink", "hard link"] {
        match plant {
            "symlink" => std::os::unix::fs::symlink(victim.join("bashrc"), &part).unwrap(),
            _ => fs::hard_link(victim.join("bashrc"), &part).unwrap(),
        }
        for command in ["GET -c f.txt\n", "GET f.txt\n"] {
            let run = server.client(cli.path(), &[], command);
            assert_eq!(run.code(), 1, "{plant} {command}: {run:?}");
            assert!(run.stderr.contains("left alone"), "{}", run.stderr);
            assert_eq!(
                fs::read(victim.join("bashrc")).unwrap(),
                b"01234",
                "{plant}"
            );
            assert!(!cli.join("f.txt").exists());
        }
        fs::remove_file(&part).unwrap();
    }
    // A partial file of our own is resumed, and a fresh one made exclusively.
    fs::write(&part, b"01234").unwrap();
    let run = server.client(cli.path(), &[], "GET -c f.txt\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.contains("received f.txt: 5 B"), "{}", run.stdout);
    assert_eq!(fs::read(cli.join("f.txt")).unwrap(), b"0123456789");
}

/// Issue 23: a stopped `GET -r` keeps each file's partial download, and the
/// next run goes on from it (REST) when it was written since the remote file
/// last changed; an older partial file, or another version's, is started over.
#[test]
fn a_rerun_of_get_r_goes_on_from_partial_files_written_since_the_remote_changed() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::create_dir_all(srv.join("t")).unwrap();
    let (big, old) = (pattern(1 << 20, 5), pattern(1 << 20, 6));
    fs::write(srv.join("t/big.bin"), &big).unwrap();
    fs::write(srv.join("t/old.bin"), &old).unwrap();
    for name in ["big.bin", "old.bin"] {
        age(&srv.join("t").join(name), 3600);
    }
    fs::create_dir_all(cli.join("t")).unwrap();
    // Half of big.bin, written after the remote file changed: gone on from.
    fs::write(cli.join("t/.dialback-get-big.bin.part"), &big[..1 << 19]).unwrap();
    // A partial old.bin older than the remote file: another version, so
    // started over (its bytes are wrong on purpose).
    let stale = cli.join("t/.dialback-get-old.bin.part");
    fs::write(&stale, vec![0u8; 1 << 19]).unwrap();
    age(&stale, 7200);
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "GET -r t\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(fs::read(cli.join("t/big.bin")).unwrap(), big);
    assert_eq!(fs::read(cli.join("t/old.bin")).unwrap(), old);
    // 512 KiB for big.bin's second half and 1 MiB for old.bin: 1.5 MiB.
    assert!(
        run.stdout.contains("received t: 2 files, 1.5 MiB"),
        "{}",
        run.stdout
    );
    assert_eq!(names(&cli.join("t")), ["big.bin", "old.bin"]);
}
