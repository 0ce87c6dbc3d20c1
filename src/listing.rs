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

/// The entries of an MLSD listing (RFC 3659 §7): `type=file;size=3;modify=...; name`.
/// Links, the folder itself, its parent and unusable names are left out.
pub fn parse_mlsd(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let Some((facts, name)) = line.split_once(' ') else {
            continue;
        };
        let (mut kind, mut size, mut time) = (String::new(), None, None);
        for fact in facts.split(';') {
            let Some((key, value)) = fact.split_once('=') else {
                continue;
            };
            match key.to_ascii_lowercase().as_str() {
                "type" => kind = value.to_ascii_lowercase(),
                "size" => size = value.parse().ok(),
                "modify" => time = Civil::parse_compact(value).map(|c| c.to_unix()),
                _ => {}
            }
        }
        if !plain_name(name) {
            continue;
        }
        match (kind.as_str(), size) {
            ("file", Some(size)) => entries.push(Entry::File(name.into(), Stamp { size, time })),
            ("dir", _) => entries.push(Entry::Folder(name.into())),
            _ => {}
        }
    }
    entries
}

/// The entries of a Unix `ls -l` style LIST (what vsftpd and proftpd send):
/// `-rw-r--r-- 1 owner group 4096 Nov 21 10:00 name`, files and folders only,
/// without times (the minute is all LIST says; MDTM tells the second).
pub fn parse_list(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        // The name is what follows the eighth field, spaces and all.
        let mut rest = line;
        let mut fields = Vec::new();
        for _ in 0..8 {
            rest = rest.trim_start_matches(' ');
            let end = rest.find(' ').unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = &rest[end..];
        }
        let name = rest.strip_prefix(' ').unwrap_or("");
        if !plain_name(name) {
            continue;
        }
        match (line.chars().next(), fields[4].parse()) {
            (Some('-'), Ok(size)) => {
                entries.push(Entry::File(name.into(), Stamp { size, time: None }))
            }
            (Some('d'), _) => entries.push(Entry::Folder(name.into())),
            _ => {}
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    type=file;size=nope; broken\r\n\
                    garbage\r\n";
        let time = Civil::parse_compact("20261121101010").map(|c| c.to_unix());
        assert_eq!(
            parse_mlsd(text),
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
            parse_list(text),
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
}
