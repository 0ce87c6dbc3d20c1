//! The classic `ftp` client's habits, typed as a person who knows it would,
//! through the real binaries: each works, or says in one line what to type
//! instead (issue 23).

mod common;

use std::fs;

use common::{names, Server, TempDir};

#[test]
fn the_classic_vocabulary_works() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    fs::write(srv.join("a.txt"), b"aaa").unwrap();
    fs::write(srv.join("b.log"), b"b").unwrap();
    fs::write(srv.join("c.log"), b"c").unwrap();
    fs::create_dir(cli.join("here")).unwrap();
    let server = Server::start(srv.path(), &[]);
    let run = server.client(
        cli.path(),
        &[],
        "binary\ntype i\nhash\nprompt\nlcd here\nlpwd\nmd made\ncd made\ncdup\ncd ..\npwd\n\
         rd made\nmdelete *.log\nls -l\ndir\npassive on\nget a.txt\npassive off\n!ls > listed\n\
         status\n?\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    let out = &run.stdout;
    for said in [
        "binary: files move byte for byte",
        "progress is shown at a terminal already",
        "MGET and MPUT never ask about each file",
        "local folder now ",
        "remote folder: /made",
        "deleted b.log",
        "deleted c.log",
        "passive mode on",
        "passive mode off: the server dials back",
        "received a.txt: 3 B",
        "mode: active (the server dials back for data); type: binary",
        "LPWD",
    ] {
        assert!(out.contains(said), "{said:?} missing from:\n{out}");
    }
    // `cd ..` and `cdup` at the root stay there; `ls -l` is a long listing.
    assert!(out.contains("\"/\"") || out.contains("\n/\n"), "{out}");
    assert!(out.contains("-rw"), "{out}");
    assert_eq!(names(srv.path()), ["a.txt"]);
    // `lcd` moved GET and `!` alike: both wrote into `here`.
    assert_eq!(names(&cli.join("here")), ["a.txt", "listed"]);
    assert!(fs::read_to_string(cli.join("here/listed"))
        .unwrap()
        .contains("a.txt"));
}

#[test]
fn what_is_not_here_says_what_to_type_instead() {
    let (srv, cli) = (TempDir::new("srv"), TempDir::new("cli"));
    let server = Server::start(srv.path(), &[]);
    let run = server.client(cli.path(), &[], "ascii\nlls\nlmkdir x\n");
    assert_eq!(run.code(), 1, "{run:?}");
    let err = &run.stderr;
    assert!(
        err.contains("ASCII mode is not offered: files move byte for byte, as BINARY"),
        "{err}"
    );
    // A local command that is not here is never answered with the remote one.
    assert!(
        err.contains("unknown command LLS; the local commands are LCD, LPWD and !command"),
        "{err}"
    );
    assert!(
        err.contains("unknown command LMKDIR; the local commands"),
        "{err}"
    );
}

#[test]
fn a_host_alone_means_port_21_and_netrc_names_the_user() {
    let (srv, cli, home) = (
        TempDir::new("srv"),
        TempDir::new("cli"),
        TempDir::new("home"),
    );
    let users = TempDir::new("users");
    let file = users.join("users");
    common::add_user(&file, "alice", "secret", srv.path(), "elr", 1000);
    let server = Server::start(srv.path(), &["--users", file.to_str().unwrap()]);
    fs::write(
        home.join(".netrc"),
        "machine 127.0.0.1 login alice password secret\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(home.join(".netrc"), fs::Permissions::from_mode(0o600)).unwrap();
    // No --user: the netrc's login for the host is the one used.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["127.0.0.1", &server.port.to_string(), "--dir"])
        .arg(cli.path())
        .args(["-c", "status"])
        .env("HOME", home.path())
        .env_remove("DIALBACK_PASSWORD")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{run:?}");
    assert!(out.contains("as alice"), "{out}");
    // OPEN with a host alone dials port 21.
    let run = server.client(cli.path(), &[], "close\nopen 127.0.0.1\n");
    assert!(run.stderr.contains("127.0.0.1:21"), "{run:?}");
}
