//! The users file (`--users FILE`): one account per line, fields separated by
//! spaces, `#` starting a comment line:
//!
//! ```text
//! # name   password hash                                  permissions  [rate=RATE]  root
//! alice    $pbkdf2-b64salt-sha256$600000$SALT$KEY         elradfmwMT   /srv/ftp/alice
//! guest    $pbkdf2-b64salt-sha256$600000$SALT$KEY         lr rate=100K /srv/ftp/public
//! ```
//!
//! `rate=RATE` (optional) limits what each of the account's sessions moves
//! per second, as `--max-rate` does for everyone (the stricter wins).
//!
//! The root is the rest of the line (so it may hold spaces) and must be an
//! absolute path; the user sees it as `/` and never leaves it. Permissions
//! are pyftpdlib's letters (`gate::Perms::parse`). Parsing is pure: a
//! malformed file is refused whole, with the line number and what is wrong.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::gate::Perms;
use crate::password::Hash;

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub hash: Hash,
    pub perms: Perms,
    /// `rate=`: the most each of its sessions moves per second.
    pub rate: Option<u64>,
    pub root: PathBuf,
}

/// Every account of a users file, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accounts(BTreeMap<String, Account>);

impl Accounts {
    /// Parses a users file; the error names the line (from 1) and the fault.
    pub fn parse(text: &str) -> Result<Accounts, (usize, String)> {
        let mut accounts = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let number = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let account = parse_line(line).map_err(|why| (number, why))?;
            if accounts.contains_key(&account.name) {
                return Err((number, format!("{} is defined twice", account.name)));
            }
            accounts.insert(account.name.clone(), account);
        }
        Ok(Accounts(accounts))
    }

    pub fn get(&self, name: &str) -> Option<&Account> {
        self.0.get(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every account, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.0.values()
    }

    /// Adds an account, or replaces the one of the same name.
    pub fn put(&mut self, account: Account) {
        self.0.insert(account.name.clone(), account);
    }

    /// Removes an account; whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        self.0.remove(name).is_some()
    }

    /// Every account's root, once each.
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.0.values().map(|a| a.root.clone()).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// The highest iteration count of any account's hash.
    pub fn most_iterations(&self) -> Option<u32> {
        self.0.values().map(|a| a.hash.iterations).max()
    }

    /// The file's text: a header line and one line per account.
    pub fn to_text(&self) -> String {
        let mut text = String::from("# name password-hash permissions root\n");
        for a in self.0.values() {
            let root = a.root.display();
            let rate = a.rate.map_or(String::new(), |r| format!("rate={r} "));
            text += &format!("{} {} {} {rate}{root}\n", a.name, a.hash, a.perms.letters());
        }
        text
    }
}

fn parse_line(line: &str) -> Result<Account, String> {
    let mut rest = line;
    let mut field = || {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        rest = after;
        word
    };
    let (name, hash, perms, fourth) = (field(), field(), field(), field());
    // `rate=RATE` may come before the root, which is the rest of the line.
    let (rate, root) = match fourth.strip_prefix("rate=") {
        Some(rate) => (Some(crate::data::parse_rate(rate)?), rest.trim()),
        None => (None, line[line.len() - rest.len() - fourth.len()..].trim()),
    };
    if root.is_empty() {
        return Err("expected: name, password hash, permissions, root".into());
    }
    if !valid_name(name) {
        return Err(format!(
            "{name:?} is not a user name (letters, digits, . _ - @)"
        ));
    }
    let hash = hash.parse::<Hash>()?;
    let perms = Perms::parse(perms)?;
    let root = PathBuf::from(root);
    if !root.is_absolute() {
        return Err(format!(
            "the root {} is not an absolute path",
            root.display()
        ));
    }
    Ok(Account {
        name: name.to_string(),
        hash,
        perms,
        rate,
        root,
    })
}

/// A user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> String {
        Hash::new("pw", 1).unwrap().to_string()
    }

    #[test]
    fn a_users_file_parses_and_prints_back() {
        let text = format!(
            "# comment\n\nalice {h} elradfmwMT /srv/ftp/alice\n  guest {h} lr rate=1.5K /srv/ftp/with space \n",
            h = hash()
        );
        let accounts = Accounts::parse(&text).unwrap();
        assert_eq!(accounts.len(), 2);
        let guest = accounts.get("guest").unwrap();
        assert_eq!(guest.root, PathBuf::from("/srv/ftp/with space"));
        assert_eq!(guest.perms.letters(), "lr");
        assert_eq!(guest.rate, Some(1536));
        assert_eq!(accounts.get("alice").unwrap().rate, None);
        assert!(guest.hash.verify("pw"));
        assert_eq!(accounts.get("alice").unwrap().perms, Perms::all());
        assert_eq!(Accounts::parse(&accounts.to_text()), Ok(accounts));
    }

    #[test]
    fn a_malformed_line_is_named_with_its_fault() {
        let h = hash();
        for (text, line, fault) in [
            (format!("a {h} lr /x\nb {h} lr\n"), 2, "expected"),
            (format!("a b {h} lr /x\n"), 1, "not a $pbkdf2"),
            (
                format!("a {h} lrz /x\n"),
                1,
                "unknown permission letter 'z'",
            ),
            (
                format!("a {h} lr relative/root\n"),
                1,
                "not an absolute path",
            ),
            (format!("a/b {h} lr /x\n"), 1, "not a user name"),
            (format!("a {h} lr rate=fast /x\n"), 1, "not a rate"),
            (format!("a {h} lr rate=1M\n"), 1, "expected"),
            (format!("a {h} lr /x\na {h} lr /y\n"), 2, "defined twice"),
            ("a not-a-hash lr /x\n".to_string(), 1, "not a $pbkdf2"),
        ] {
            let (n, why) = Accounts::parse(&text).unwrap_err();
            assert_eq!(n, line, "{text}: {why}");
            assert!(why.contains(fault), "{text}: {why}");
        }
    }

    #[test]
    fn read_only_takes_every_writing_permission_away() {
        let perms = Perms::parse("elrwd").unwrap();
        assert_eq!(perms.letters(), "lrdw");
        assert_eq!(perms.reading_only().letters(), "lr");
    }
}
