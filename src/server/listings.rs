//! Listing handlers: LIST, NLST and MLSD over a data connection, STAT with a
//! path and TREE over the control connection (their line formats are
//! `crate::listing`).

use std::io::{self, BufWriter, Write};
use std::time::SystemTime;

use super::session::{Job, Session, Step};
use crate::fsys::{self, Entry, Listing, Root, VPath};
use crate::glob::is_pattern;
use crate::listing::Format;
use crate::protocol::{one_line, Reply, TREE_END};

impl<L> Session<L> {
    /// LIST, NLST, MLSD. `LIST -la dir`: ls options, which clients send out of
    /// habit, are ignored. A wildcard pattern in the last component (`*.txt`,
    /// `sub/f[0-9]?`) lists the matching names of its folder. NLST of a path
    /// answers names with that path in front, as vsftpd and proftpd do, since
    /// classic clients' `mget sub/x` then SIZE and RETR exactly what NLST said.
    pub(super) fn list(&mut self, arg: Option<&str>, format: Format) -> Step<L> {
        let path = match arg {
            Some(a) if a.starts_with('-') => a.split_once(' ').map_or("", |(_, p)| p.trim_start()),
            Some(a) => a,
            None => "",
        };
        let (folder, pattern) = match path.rsplit_once('/') {
            Some((f, last)) if is_pattern(last) => (if f.is_empty() { "/" } else { f }, Some(last)),
            None if is_pattern(path) => ("", Some(path)),
            _ => (path, None),
        };
        let target = if folder.is_empty() { "." } else { folder };
        let listed = self.resolve(target).and_then(|v| self.root().list(&v));
        let mut entries = match listed {
            Ok(e) => e,
            Err(r) => return Step::Reply(self.refuse(target, r)),
        };
        if let Some(p) = pattern {
            entries = entries.only(p);
        }
        // What goes in front of each name NLST sends: the folder as the client wrote it.
        let prefix = match (folder, entries.folder) {
            ("", _) => String::new(),
            (f, true) => format!("{}/", f.trim_end_matches('/')),
            (f, false) => f
                .rsplit_once('/')
                .map_or(String::new(), |(d, _)| format!("{d}/")),
        };
        match self.take_plan() {
            Ok(plan) => Step::Transfer(
                plan,
                Job::List {
                    entries,
                    format,
                    prefix,
                },
            ),
            Err(r) => Step::Reply(r),
        }
    }

    /// STAT path: the `ls -l` listing over the control connection (RFC 959 §4.1.3).
    pub(super) fn stat_path(&self, arg: &str) -> Step<L> {
        match self.resolve(arg).and_then(|v| self.root().list(&v)) {
            Ok(listing) => Step::Status(arg.to_string(), listing),
            Err(r) => Step::Reply(self.refuse(arg, r)),
        }
    }
}

/// How deep TREE goes: each level below holds its folder open, so deeper
/// trees are listed folder by folder (the client does that when TREE says
/// it stopped short).
const TREE_DEPTH: usize = 32;

/// The most entries one TREE answers with: a client holds them all.
const TREE_ENTRIES: usize = 1_000_000;

impl<L> Session<L> {
    /// TREE [path]: every file and folder below a folder, as a walk to be
    /// written as it goes. Each folder below is reached as MLSD of it would
    /// be, so the walk sees what listing folder by folder would.
    pub(super) fn tree(&self, arg: Option<&str>) -> Step<L> {
        let target = arg.filter(|a| !a.is_empty()).unwrap_or(".");
        let listed = self
            .resolve(target)
            .and_then(|v| Ok((self.root().list(&v)?, v)));
        match listed {
            Ok((listing, v)) if listing.folder => Step::Tree(
                target.to_string(),
                Walk::new(self.root().clone(), v, listing),
            ),
            Ok(_) => Step::Reply(Reply::new(
                550,
                &format!("{}: not a folder.", one_line(target)),
            )),
            Err(r) => Step::Reply(self.refuse(target, r)),
        }
    }
}

/// A walk through a folder tree for TREE, depth first, each entry before
/// what is below it, named by its path from the top. It holds one listing
/// open per level (each bounded, see `fsys::Root::list`), so memory stays
/// bounded whatever the tree holds.
#[derive(Debug)]
pub struct Walk {
    root: Root,
    /// The open listings from the top down: each folder's path from the
    /// top, its place below the root, and what is left of its entries.
    open: Vec<(String, VPath, Listing)>,
    /// Entries so far.
    seen: usize,
    /// Why the walk stopped short, if it did.
    failed: Option<String>,
}

impl Walk {
    fn new(root: Root, top: VPath, listing: Listing) -> Walk {
        Walk {
            root,
            open: vec![(String::new(), top, listing)],
            seen: 0,
            failed: None,
        }
    }

    /// Why the walk stopped short; `None` once it went through every folder.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

impl Iterator for Walk {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        while self.failed.is_none() {
            let depth = self.open.len();
            let (prefix, at, listing) = self.open.last_mut()?;
            let Some(mut entry) = listing.next() else {
                if let Some(e) = listing.failed() {
                    self.failed = Some(format!("{prefix}: {e}"));
                }
                self.open.pop();
                continue;
            };
            self.seen += 1;
            if self.seen > TREE_ENTRIES {
                self.failed = Some(format!("more than {TREE_ENTRIES} entries"));
                return None;
            }
            let path = match prefix.is_empty() {
                true => entry.name.clone(),
                false => format!("{prefix}/{}", entry.name),
            };
            if entry.meta.is_dir() && depth >= TREE_DEPTH {
                self.failed = Some(format!("more than {TREE_DEPTH} folders deep"));
            } else if entry.meta.is_dir() {
                let below =
                    fsys::resolve(at, &entry.name).and_then(|v| Ok((self.root.list(&v)?, v)));
                match below {
                    Ok((listing, v)) => self.open.push((path.clone(), v, listing)),
                    Err(r) => self.failed = Some(format!("{path}: {r}")),
                }
            }
            entry.name = path;
            return Some(entry);
        }
        None
    }
}

/// Writes TREE's multi-line 213 reply as `walk` goes: a line of MLSD's facts
/// per entry, named by its path, and a last line that says whether the walk
/// went through every folder (`End of tree.`) or stopped short, and why.
pub fn write_tree(arg: &str, mut walk: Walk, out: &mut dyn Write) -> io::Result<u64> {
    let mut out = Counter(BufWriter::new(out), 0);
    write!(out, "213-Tree of {}:\r\n", one_line(arg))?;
    for e in walk.by_ref() {
        write!(out, " {}\r\n", one_line(&e.mlsx_line()))?;
    }
    match walk.failed() {
        None => write!(out, "213 {TREE_END}\r\n")?,
        Some(why) => write!(out, "213 Tree cut short: {}.\r\n", one_line(why))?,
    }
    out.flush()?;
    Ok(out.1)
}

/// Writes STAT's multi-line 213 reply for `listing` as the folder is read,
/// each line made safe as any reply line is; returns the bytes written.
pub fn write_status(arg: &str, listing: Listing, out: &mut dyn Write) -> io::Result<u64> {
    let now = SystemTime::now();
    let mut out = Counter(BufWriter::new(out), 0);
    write!(out, "213-Status of {}:\r\n", one_line(arg))?;
    for e in listing {
        // A leading space: no entry can look like the reply's last line.
        write!(out, " {}\r\n", one_line(&e.ls_line(now)))?;
    }
    write!(out, "213 End of status.\r\n")?;
    out.flush()?;
    Ok(out.1)
}

/// Writes `entries` to `out` in `format`, each line ending in CRLF, names (in
/// NLST's format) with `prefix` in front; returns the bytes written.
pub fn write(
    entries: &mut Listing,
    format: Format,
    prefix: &str,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let now = SystemTime::now();
    let mut out = Counter(BufWriter::new(out), 0);
    for e in entries.by_ref() {
        let line = match format {
            Format::Long => e.ls_line(now),
            Format::Names => format!("{prefix}{}", e.name),
            Format::Facts => e.mlsx_line(),
        };
        write!(out, "{}\r\n", one_line(&line))?;
    }
    out.flush()?;
    match entries.failed() {
        Some(e) => Err(e),
        None => Ok(out.1),
    }
}

/// A writer that counts what goes through it.
struct Counter<W>(W, u64);

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1 += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::tests::{code, Scratch};
    use super::super::session::Job;
    use super::*;

    fn listed(s: &mut Session<()>, line: &str) -> String {
        s.line("PORT 127,0,0,1,19,137");
        let Step::Transfer(
            _,
            Job::List {
                mut entries,
                format,
                prefix,
            },
        ) = s.line(line)
        else {
            panic!("{line}")
        };
        let mut out = Vec::new();
        write(&mut entries, format, &prefix, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn listings_resolve_like_every_other_name() {
        let dir = Scratch::new("list");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(listed(&mut s, "NLST"), "a.txt\r\nsub\r\n");
        // NLST of a path puts the path in front, as vsftpd and proftpd do.
        assert_eq!(listed(&mut s, "NLST sub"), "sub/b.txt\r\n");
        assert_eq!(listed(&mut s, "NLST sub/"), "sub/b.txt\r\n");
        assert_eq!(listed(&mut s, "NLST sub/b.txt"), "sub/b.txt\r\n");
        assert_eq!(listed(&mut s, "NLST a.txt"), "a.txt\r\n");
        // Wildcards in the last component.
        assert_eq!(listed(&mut s, "NLST *.txt"), "a.txt\r\n");
        assert_eq!(listed(&mut s, "NLST sub/?.t[a-x]t"), "sub/b.txt\r\n");
        assert_eq!(listed(&mut s, "NLST /sub/*"), "/sub/b.txt\r\n");
        assert_eq!(listed(&mut s, "NLST *.zip"), "");
        assert!(listed(&mut s, "LIST -la *.txt").ends_with(" a.txt\r\n"));
        assert!(listed(&mut s, "LIST -la sub").starts_with("-rw"));
        assert!(listed(&mut s, "MLSD").contains("type=dir;"));
        assert_eq!(
            listed(&mut s, "NLST .."),
            "../a.txt\r\n../sub\r\n",
            "above the root is the root"
        );
        assert_eq!(code(s.line("STAT sub")), 213);
        assert_eq!(code(s.line("STAT /../etc")), 550);
    }

    /// TREE's whole reply for `line`, as the driver writes it.
    fn tree(s: &mut Session<()>, line: &str) -> String {
        let Step::Tree(arg, walk) = s.line(line) else {
            panic!("{line}")
        };
        let mut out = Vec::new();
        write_tree(&arg, walk, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The paths a TREE reply names, in its order.
    fn paths(reply: &str) -> Vec<&str> {
        let entries = reply.lines().filter(|l| l.starts_with(' '));
        entries.map(|l| l.split_once("; ").unwrap().1).collect()
    }

    #[test]
    fn tree_walks_every_folder_below_each_before_what_it_holds() {
        let dir = Scratch::new("tree");
        std::fs::create_dir_all(dir.0.join("sub/deeper")).unwrap();
        std::fs::write(dir.0.join("sub/deeper/c.txt"), b"sea").unwrap();
        // A symlink out of the root is left out, as MLSD leaves it out.
        std::os::unix::fs::symlink("/etc", dir.0.join("sub/out")).unwrap();
        let mut s = dir.logged_in(|_| {});
        let all = tree(&mut s, "TREE");
        assert!(all.starts_with("213-Tree of .:\r\n"), "{all}");
        assert!(all.ends_with("213 End of tree.\r\n"), "{all}");
        assert_eq!(
            paths(&all),
            [
                "a.txt",
                "sub",
                "sub/b.txt",
                "sub/deeper",
                "sub/deeper/c.txt"
            ]
        );
        assert!(all.contains(" type=file;size=3;modify="), "{all}");
        assert_eq!(
            paths(&tree(&mut s, "TREE sub")),
            ["b.txt", "deeper", "deeper/c.txt"]
        );
        s.line("CWD sub");
        assert_eq!(paths(&tree(&mut s, "TREE ../sub/deeper")), ["c.txt"]);
        assert_eq!(code(s.line("TREE /a.txt")), 550, "a file is no tree");
        assert_eq!(code(s.line("TREE nowhere")), 550);
        assert_eq!(
            code(s.line("TREE /../..")),
            213,
            "above the root is the root"
        );
    }

    #[test]
    fn tree_stops_short_below_its_depth_and_says_so() {
        let dir = Scratch::new("tree-deep");
        let deep = (0..TREE_DEPTH + 3).fold(dir.0.join("d"), |p, i| p.join(format!("l{i}")));
        std::fs::create_dir_all(&deep).unwrap();
        let mut s = dir.logged_in(|_| {});
        let all = tree(&mut s, "TREE d");
        assert!(
            all.ends_with(&format!(
                "213 Tree cut short: more than {TREE_DEPTH} folders deep.\r\n"
            )),
            "{all}"
        );
        assert_eq!(paths(&all).len(), TREE_DEPTH);
    }
}
