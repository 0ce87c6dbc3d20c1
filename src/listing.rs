//! The wire's listing formats, both ways, in one place: the lines our server
//! writes (`ls -l` for LIST, RFC 3659 facts for MLSD and MLST) and the
//! entries our client reads back from any server's MLSD or LIST. A name a
//! server sends is used only if it is one plain path component
//! ([`plain_name`]), so no listing can lead a client to write outside its
//! target. Pure, but for the metadata of the entries written.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::SystemTime;

use crate::fsys::{Entry as Local, TEMP_PREFIX};
use crate::time::{ls_date, Civil};

impl Local {
    /// An `ls -l` line, the format curl, ftplib, lftp and FileZilla parse.
    pub fn ls_line(&self, now: SystemTime) -> String {
        let m = &self.meta;
        let kind = if m.is_dir() { 'd' } else { '-' };
        let mode = m.permissions().mode();
        let mut perms = String::with_capacity(9);
        for shift in [6, 3, 0] {
            let bits = mode >> shift;
            perms.push(if bits & 4 != 0 { 'r' } else { '-' });
            perms.push(if bits & 2 != 0 { 'w' } else { '-' });
            perms.push(if bits & 1 != 0 { 'x' } else { '-' });
        }
        let modified = m.modified().unwrap_or(now);
        format!(
            "{kind}{perms} {:>3} ftp      ftp      {:>12} {} {}",
            m.nlink(),
            m.len(),
            ls_date(modified, now),
            self.name
        )
    }

    /// RFC 3659 §7 facts and name: `type=file;size=12;modify=20261121070511; name`.
    pub fn mlsx_line(&self) -> String {
        let m = &self.meta;
        let kind = if m.is_dir() { "dir" } else { "file" };
        let modify = m
            .modified()
            .map(|t| Civil::of(t).compact())
            .unwrap_or_default();
        format!(
            "type={kind};size={};modify={modify}; {}",
            m.len(),
            self.name
        )
    }
}

/// How the lines of a listing the server writes look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `ls -l` lines (LIST), the format curl, ftplib, lftp and FileZilla parse.
    Long,
    /// Names alone (NLST).
    Names,
    /// RFC 3659 facts (MLSD).
    Facts,
}

/// A file's size and modification time (Unix seconds), when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub time: Option<i64>,
}

/// Whether a name from a listing can be used as one local path component:
/// not empty, `.` or `..`, without `/`, NUL or other control characters, and
/// not one of our temporary files.
pub fn plain_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..")
        && !name.contains('/')
        && !name.chars().any(char::is_control)
        && !name.starts_with(TEMP_PREFIX)
}

/// An entry of a remote listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File(String, Stamp),
    Folder(String),
}

/// A listing line that fits no format we read: the whole listing is then
/// refused, since a mirror that took it for empty would delete what it lacks.
fn unreadable(line: &str) -> String {
    format!("cannot read the listing line {:?}", line.trim_end())
}

/// The entries of an MLSD listing (RFC 3659 §7): `type=file;size=3;modify=...; name`.
/// Links, the folder itself, its parent and unusable names are left out; a
/// line without facts, or a file without a size, fails the listing.
pub fn parse_mlsd(text: &str) -> Result<Vec<Entry>, String> {
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    let entries = lines.map(|line| parse_facts(line, plain_name));
    entries.filter_map(Result::transpose).collect()
}

/// One line of our server's TREE reply (without its leading space): MLSD's
/// facts, and a path below the folder listed, each of its parts a plain
/// name. `None` for what MLSD leaves out.
pub fn parse_tree_line(line: &str) -> Result<Option<Entry>, String> {
    parse_facts(line, |path| path.split('/').all(plain_name))
}

/// One line of facts and a name, the name kept only if `usable`.
fn parse_facts(line: &str, usable: impl Fn(&str) -> bool) -> Result<Option<Entry>, String> {
    let Some((facts, name)) = line.split_once(' ') else {
        return Err(unreadable(line));
    };
    let (mut kind, mut size, mut time) = (None, None, None);
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (key, value) = fact.split_once('=').ok_or_else(|| unreadable(line))?;
        match key.to_ascii_lowercase().as_str() {
            "type" => kind = Some(value.to_ascii_lowercase()),
            "size" => size = value.parse().ok(),
            "modify" => time = Civil::parse_compact(value).map(|c| c.to_unix()),
            _ => {}
        }
    }
    let kind = kind.ok_or_else(|| unreadable(line))?;
    if !usable(name) {
        return Ok(None);
    }
    match (kind.as_str(), size) {
        ("file", Some(size)) => Ok(Some(Entry::File(name.into(), Stamp { size, time }))),
        ("file", None) => Err(unreadable(line)),
        ("dir", _) => Ok(Some(Entry::Folder(name.into()))),
        _ => Ok(None),
    }
}

/// The entries of a LIST, in either format servers send: Unix `ls -l`
/// (vsftpd, proftpd, pure-ftpd: `-rw-r--r-- 1 owner group 4096 Nov 21 10:00
/// name`) or MS-DOS (IIS, FileZilla Server on Windows: `12-02-26  04:30PM
/// <DIR> photos`, `12-02-26  04:30PM  1234 a.txt`). Files and folders only,
/// without times (the minute is all LIST says; MDTM tells the second); links,
/// devices and the `total` line are left out. A line in neither format fails
/// the listing.
pub fn parse_list(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (kind, size, name) = match dos_line(line).or_else(|| unix_line(line)) {
            Some(parsed) => parsed,
            None if line.starts_with("total ") => continue,
            None => return Err(unreadable(line)),
        };
        if !plain_name(name) {
            continue;
        }
        match (kind, size) {
            ('-', Some(size)) => entries.push(Entry::File(name.into(), Stamp { size, time: None })),
            ('d', _) => entries.push(Entry::Folder(name.into())),
            ('-', None) => return Err(unreadable(line)),
            _ => {}
        }
    }
    Ok(entries)
}

/// The words of `line` up to the `n`th, and what follows the space after it.
fn fields(line: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut rest = line;
    let mut words = Vec::with_capacity(n);
    for _ in 0..n {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        words.push(&rest[..end]);
        rest = &rest[end..];
    }
    Some((words, rest))
}

/// An `ls -l` line as its type letter, its size and its name (spaces kept).
fn unix_line(line: &str) -> Option<(char, Option<u64>, &str)> {
    let kind = line.chars().next().filter(|c| "-dlcbps".contains(*c))?;
    let (words, rest) = fields(line, 8)?;
    let name = rest.strip_prefix(' ')?;
    Some((kind, words[4].parse().ok(), name))
}

/// An MS-DOS line (`MM-DD-YY[YY]  HH:MM(AM|PM)  <DIR>|size  name`) as a
/// type letter, its size and its name.
fn dos_line(line: &str) -> Option<(char, Option<u64>, &str)> {
    let (words, rest) = fields(line, 3)?;
    let date = words[0].as_bytes();
    let dashes = date.len() >= 8 && date[2] == b'-' && date[5] == b'-';
    let digits = date
        .iter()
        .enumerate()
        .all(|(i, b)| i == 2 || i == 5 || b.is_ascii_digit());
    let time = words[1].to_ascii_uppercase();
    let clock = time.len() == 7
        && time.as_bytes()[2] == b':'
        && (time.ends_with("AM") || time.ends_with("PM"));
    if !(dashes && digits && clock) {
        return None;
    }
    let name = rest.trim_start_matches(' ');
    match words[2] {
        "<DIR>" => Some(('d', None, name)),
        size => Some(('-', Some(size.parse().ok()?), name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_line_names_a_path_of_plain_names_only() {
        let line = |path: &str| parse_tree_line(&format!("type=file;size=3; {path}"));
        let file = |path: &str| {
            Some(Entry::File(
                path.into(),
                Stamp {
                    size: 3,
                    time: None,
                },
            ))
        };
        assert_eq!(line("a/b/c.txt"), Ok(file("a/b/c.txt")));
        assert_eq!(line("c.txt"), Ok(file("c.txt")));
        for bad in [
            "a/../b",
            "../b",
            "a//b",
            "/a",
            "a/",
            "a/./b",
            "a/.dialback-1-2.part",
        ] {
            assert_eq!(line(bad), Ok(None), "{bad}");
        }
        assert_eq!(
            parse_tree_line("type=dir; a/b"),
            Ok(Some(Entry::Folder("a/b".into())))
        );
        assert!(parse_tree_line("no facts").is_err());
    }

    #[test]
    fn names_from_a_server_are_single_plain_components() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc",
            "a\nb",
            "a\rb",
            "a\0b",
            ".dialback-1-2.part",
        ] {
            assert!(!plain_name(bad), "{bad:?}");
        }
        for good in ["a", "..a", "a b", "naïve.txt", ".hidden"] {
            assert!(plain_name(good), "{good:?}");
        }
    }

    #[test]
    fn mlsd_listings_give_files_folders_and_times() {
        let text = "type=cdir;modify=20261121101010; .\r\n\
                    type=pdir; ..\r\n\
                    type=file;size=12;modify=20261121101010.123; a b.txt\r\n\
                    Type=DIR;Modify=20260101000000; sub\r\n\
                    type=OS.unix=symlink;size=3; link\r\n\
                    type=file;size=1; ../../etc/passwd\r\n\
                    type=dir; ..\r\n\
                    type=file;size=1; ../../etc/passwd\r\n";
        let time = Civil::parse_compact("20261121101010").map(|c| c.to_unix());
        assert_eq!(
            parse_mlsd(text).unwrap(),
            [
                Entry::File("a b.txt".into(), Stamp { size: 12, time }),
                Entry::Folder("sub".into()),
            ]
        );
    }

    #[test]
    fn unix_listings_give_files_and_folders() {
        let text = "total 8\r\n\
                    -rw-r--r--    1 1000     1000         4096 Nov 21 10:00 two  spaces.txt\r\n\
                    drwxr-xr-x    2 ftp      ftp          4096 Jan  1  2025 sub\r\n\
                    lrwxrwxrwx    1 ftp      ftp             3 Jan  1  2025 link -> sub\r\n\
                    drwxr-xr-x    2 ftp      ftp          4096 Jan  1  2025 ..\r\n\
                    -rw-r--r--    1 ftp      ftp            5 Jan  1  2025 a\\nb/../x\r\n";
        assert_eq!(
            parse_list(text).unwrap(),
            [
                Entry::File(
                    "two  spaces.txt".into(),
                    Stamp {
                        size: 4096,
                        time: None
                    }
                ),
                Entry::Folder("sub".into()),
            ]
        );
    }

    #[test]
    fn ms_dos_listings_give_files_and_folders() {
        let text = "12-02-26  04:30PM       <DIR>          photos\r\n\
                    12-02-26  04:30PM                 1234 a b.txt\r\n\
                    01-15-2025  09:05AM                    0 empty\r\n\
                    12-02-26  04:30PM       <DIR>          ..\r\n";
        let file = |name: &str, size| Entry::File(name.into(), Stamp { size, time: None });
        assert_eq!(
            parse_list(text).unwrap(),
            [
                Entry::Folder("photos".into()),
                file("a b.txt", 1234),
                file("empty", 0)
            ]
        );
    }

    #[test]
    fn a_line_in_no_known_format_fails_the_whole_listing() {
        for text in [
            "-rw-r--r-- 1 a b 5 Jan 1 2025 ok\r\n+i8388621.29609,m824255902,/,\tpub\r\n",
            "garbage\r\n",
            "-rw-r--r-- 1 a b lots Jan 1 2025 sizeless\r\n",
            "12-02-26  04:30PM  many  x\r\n",
        ] {
            let e = parse_list(text).unwrap_err();
            assert!(e.starts_with("cannot read the listing line"), "{e}");
        }
        for text in [
            "garbage\r\n",
            "type=file;modify=20260101000000; sizeless\r\n",
            "size=3; typeless\r\n",
        ] {
            assert!(parse_mlsd(text).is_err(), "{text:?}");
        }
        assert_eq!(parse_list("total 0\r\n\r\n").unwrap(), []);
    }
}
