//! Listing handlers: LIST, NLST and MLSD over a data connection, STAT with a
//! path over the control connection, and the line formats they write.

use std::io::{self, BufWriter, Write};
use std::time::SystemTime;

use super::session::{Job, Session, Step};
use crate::fsys::Entry;
use crate::protocol::{one_line, Reply};

/// How a listing's lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `ls -l` lines (LIST), the format curl, ftplib, lftp and FileZilla parse.
    Long,
    /// Names alone (NLST).
    Names,
    /// RFC 3659 facts (MLSD).
    Facts,
}

impl<L> Session<L> {
    /// LIST, NLST, MLSD. `LIST -la dir`: ls options, which clients send out of
    /// habit, are ignored.
    pub(super) fn list(&mut self, arg: Option<&str>, format: Format) -> Step<L> {
        let path = match arg {
            Some(a) if a.starts_with('-') => a.split_once(' ').map_or(".", |(_, p)| p.trim_start()),
            Some(a) => a,
            None => ".",
        };
        let entries = match self.resolve(path).and_then(|v| self.root().list(&v)) {
            Ok(e) => e,
            Err(r) => return Step::Reply(self.refuse(path, r)),
        };
        match self.take_plan() {
            Ok(plan) => Step::Transfer(plan, Job::List { entries, format }),
            Err(r) => Step::Reply(r),
        }
    }

    /// STAT path: the `ls -l` listing over the control connection (RFC 959 §4.1.3).
    pub(super) fn stat_path(&self, arg: &str) -> Reply {
        match self.resolve(arg).and_then(|v| self.root().list(&v)) {
            Ok(entries) => {
                let now = SystemTime::now();
                let mut lines = vec![format!("Status of {arg}:")];
                lines.extend(entries.iter().map(|e| format!(" {}", e.ls_line(now))));
                lines.push("End of status.".to_string());
                Reply::multi(213, lines)
            }
            Err(r) => self.refuse(arg, r),
        }
    }
}

/// Writes `entries` to `out` in `format`, each line ending in CRLF; returns the bytes written.
pub fn write(entries: &[Entry], format: Format, out: &mut dyn Write) -> io::Result<u64> {
    let now = SystemTime::now();
    let mut out = Counter(BufWriter::new(out), 0);
    for e in entries {
        let line = match format {
            Format::Long => e.ls_line(now),
            Format::Names => e.name.clone(),
            Format::Facts => e.mlsx_line(),
        };
        write!(out, "{}\r\n", one_line(&line))?;
    }
    out.flush()?;
    Ok(out.1)
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
        let Step::Transfer(_, Job::List { entries, format }) = s.line(line) else {
            panic!("{line}")
        };
        let mut out = Vec::new();
        write(&entries, format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn listings_resolve_like_every_other_name() {
        let dir = Scratch::new("list");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(listed(&mut s, "NLST"), "a.txt\r\nsub\r\n");
        assert_eq!(listed(&mut s, "NLST sub"), "b.txt\r\n");
        assert!(listed(&mut s, "LIST -la sub").starts_with("-rw"));
        assert!(listed(&mut s, "MLSD").contains("type=dir;"));
        assert_eq!(code(s.line("NLST ..")), 550);
        assert_eq!(code(s.line("STAT sub")), 213);
        assert_eq!(code(s.line("STAT /../etc")), 550);
    }
}
