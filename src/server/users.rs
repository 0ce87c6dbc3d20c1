//! `server user ...`: managing a users file without a text editor. Adds,
//! removes and lists accounts and changes passwords; each change writes the
//! whole file to a temporary name beside it (mode 0600, synced) and renames
//! it into place, so a running server reads either the old file or the new
//! one. A file that others may read is refused: it holds password hashes.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::accounts::{valid_name, Account, Accounts};
use super::gate::Perms;
use crate::password::{Hash, ITERATIONS};

pub const USAGE: &str = "\
usage: server user add FILE NAME [--root DIR] [--perms LETTERS] [--rate RATE] [--iterations N]
       server user passwd FILE NAME [--iterations N]
       server user del FILE NAME
       server user list FILE

Manages the accounts of a users file (server --users FILE). The password is
asked twice without echo at a terminal, or read as one line from stdin.
--root is the folder the user sees as / (default: the current folder);
--perms are pyftpdlib's letters (default: all, elradfmwMT; lr reads only):
  l list  r read  w write  a append  d delete  f rename  m make folders
  M change modes  T change times
--rate is the most each of the user's sessions moves per second (100K, 1.5M;
K = 1024), as --max-rate does for everyone (the stricter wins).";

/// What a password prompt is asked: the words to show; `None` at end of input.
pub type Ask<'a> = &'a mut dyn FnMut(&str) -> io::Result<Option<String>>;

/// Runs `server user ARGS...`; returns what to print, or what went wrong.
pub fn manage(args: &[String], ask: Ask) -> Result<String, String> {
    let (verb, file, rest) = match args {
        [verb, file, rest @ ..] => (verb.as_str(), Path::new(file), rest),
        _ => return Err("missing the command and the users FILE".into()),
    };
    let accounts = read(file, verb == "add")?;
    let (name, options) = match (verb, rest) {
        ("list", []) => return Ok(list(&accounts)),
        ("list", _) => return Err("list takes only the FILE".into()),
        (_, [name, options @ ..]) => (name.as_str(), options),
        _ => return Err(format!("{verb} needs a user NAME")),
    };
    let options = Options::parse(verb, options)?;
    let missing = || format!("no account {name} in {}", file.display());
    // First what needs asking (a password is typed at human speed, and no
    // one else waits meanwhile); then, under the lock, the file is read
    // again, changed and written, so changes made at once all land.
    let change = match verb {
        "add" => {
            if !valid_name(name) {
                return Err(format!(
                    "{name:?} is not a user name (1-64 letters, digits, . _ - @)"
                ));
            }
            if accounts.get(name).is_some() {
                return Err(format!("{name} already has an account; try passwd or del"));
            }
            let root = options.root.clone().unwrap_or_else(|| PathBuf::from("."));
            let root = fs::canonicalize(&root)
                .ok()
                .filter(|r| r.is_dir())
                .ok_or_else(|| format!("not a folder: {}", root.display()))?;
            let perms = options.perms.unwrap_or_else(Perms::all);
            Change::Add(Account {
                name: name.to_string(),
                hash: new_hash(name, options.iterations, ask)?,
                perms,
                rate: options.rate,
                root,
            })
        }
        "passwd" => {
            accounts.get(name).ok_or_else(missing)?;
            Change::Passwd(new_hash(name, options.iterations, ask)?)
        }
        "del" => Change::Del,
        _ => return Err(format!("unknown command {verb}: add, passwd, del or list")),
    };
    let _lock = crate::fsys::lock_beside(file, LOCK_WAIT)
        .map_err(|e| format!("cannot lock {}: {e}", file.display()))?;
    let mut accounts = read(file, verb == "add")?;
    let said = match change {
        Change::Add(account) => {
            if accounts.get(name).is_some() {
                return Err(format!("{name} already has an account; try passwd or del"));
            }
            let said = format!(
                "added {name} ({}) in {}",
                account.perms.letters(),
                account.root.display()
            );
            accounts.put(account);
            said
        }
        Change::Passwd(hash) => {
            let mut account = accounts.get(name).cloned().ok_or_else(missing)?;
            account.hash = hash;
            accounts.put(account);
            format!("changed the password of {name}")
        }
        Change::Del => {
            if !accounts.remove(name) {
                return Err(missing());
            }
            format!("removed {name}")
        }
    };
    crate::fsys::write_private(file, &accounts.to_text())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(said)
}

/// How long `server user` waits for another one to finish with the file.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// What `server user` does to an account, once asked for all it needs.
enum Change {
    Add(Account),
    Passwd(Hash),
    Del,
}

struct Options {
    root: Option<PathBuf>,
    perms: Option<Perms>,
    rate: Option<u64>,
    iterations: u32,
}

impl Options {
    fn parse(verb: &str, args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            root: None,
            perms: None,
            rate: None,
            iterations: ITERATIONS,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match (verb, arg.as_str()) {
                ("add", "--root") => options.root = Some(PathBuf::from(value()?)),
                ("add", "--perms") => options.perms = Some(Perms::parse(value()?)?),
                ("add", "--rate") => options.rate = Some(crate::data::parse_rate(value()?)?),
                ("add" | "passwd", "--iterations") => {
                    options.iterations = value()?
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1000)
                        .ok_or("--iterations needs a whole number from 1000")?
                }
                _ => return Err(format!("{verb} does not take {arg}")),
            }
        }
        Ok(options)
    }
}

/// Asks for a new password (twice at a terminal, where `ask` shows prompts).
fn new_hash(name: &str, iterations: u32, ask: Ask) -> Result<Hash, String> {
    let io = |e: io::Error| format!("cannot read the password: {e}");
    let first = ask(&format!("new password for {name}: "))
        .map_err(io)?
        .ok_or("no password given")?;
    if first.is_empty() {
        return Err("an empty password is not a password".into());
    }
    if std::io::IsTerminal::is_terminal(&io::stdin()) {
        let again = ask("again: ").map_err(io)?.unwrap_or_default();
        if again != first {
            return Err("the two passwords differ; nothing changed".into());
        }
    }
    Hash::new(&first, iterations).map_err(|e| format!("cannot make a salt: {e}"))
}

/// Reads the users file; a missing one is empty when `may_be_new`.
fn read(file: &Path, may_be_new: bool) -> Result<Accounts, String> {
    let shown = file.display();
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound && may_be_new => String::new(),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if let Ok(meta) = fs::metadata(file) {
        if meta.permissions().mode() & 0o044 != 0 {
            return Err(format!(
                "{shown} may be read by others; it holds password hashes (chmod 600 {shown})"
            ));
        }
    }
    Accounts::parse(&text).map_err(|(line, why)| format!("{shown}:{line}: {why}"))
}

fn list(accounts: &Accounts) -> String {
    let lines: Vec<String> = accounts
        .iter()
        .map(|a| {
            let rate = a.rate.map_or(String::new(), |r| format!("rate={r} "));
            format!(
                "{} {} {rate}{}",
                a.name,
                a.perms.letters(),
                a.root.display()
            )
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn accounts_are_added_changed_listed_and_removed() {
        let dir = std::env::temp_dir().join(format!("dialback-users-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users");
        let f = file.display();
        let root = dir.display();
        let mut given = |_: &str| Ok(Some("secret".to_string()));
        let added = manage(
            &args(&format!(
                "add {f} alice --root {root} --perms elr --rate 100K --iterations 1000"
            )),
            &mut given,
        );
        assert_eq!(added, Ok(format!("added alice (lr) in {root}")));
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = manage(&args(&format!("add {f} alice")), &mut given);
        assert!(again.unwrap_err().contains("already has an account"));
        let mut other = |_: &str| Ok(Some("other".to_string()));
        let changed = manage(
            &args(&format!("passwd {f} alice --iterations 1000")),
            &mut other,
        );
        assert_eq!(changed, Ok("changed the password of alice".into()));
        let accounts = Accounts::parse(&fs::read_to_string(&file).unwrap()).unwrap();
        assert!(accounts.get("alice").unwrap().hash.verify("other"));
        assert_eq!(
            manage(&args(&format!("list {f}")), &mut other),
            Ok(format!("alice lr rate=102400 {root}"))
        );
        assert_eq!(
            manage(&args(&format!("del {f} alice")), &mut other),
            Ok("removed alice".into())
        );
        assert!(manage(&args(&format!("del {f} alice")), &mut other).is_err());
        // Refused: a file others may read, no password, a bad name, a missing root.
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let open = manage(&args(&format!("list {f}")), &mut other).unwrap_err();
        assert!(open.contains("may be read by others"), "{open}");
        fs::remove_file(&file).unwrap();
        let mut none = |_: &str| Ok(None);
        assert!(manage(&args(&format!("add {f} bob")), &mut none).is_err());
        assert!(manage(&args(&format!("add {f} a/b")), &mut given).is_err());
        let missing = format!("add {f} bob --root {root}/missing");
        assert!(manage(&args(&missing), &mut given)
            .unwrap_err()
            .contains("not a folder"));
        assert!(!file.exists(), "nothing was written");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            ["users.lock"],
            "no temporary file left, only the lock"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
