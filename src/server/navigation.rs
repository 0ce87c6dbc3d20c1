//! Navigation and status handlers: PWD, CWD, CDUP, SIZE, MDTM, MLST and STAT
//! without a path. Every name resolves inside the root through `fsys`.

use std::fs::Metadata;
use std::time::SystemTime;

use super::files::quote;
use super::session::Session;
use crate::fsys::{Entry, Refusal};
use crate::protocol::Reply;
use crate::time::Civil;

impl<L> Session<L> {
    pub(super) fn pwd(&self) -> Reply {
        Reply::new(
            257,
            &format!("{} is the current folder.", quote(&self.cwd.display())),
        )
    }

    /// CWD, and CDUP as `CWD ..`: the current folder changes only to a folder inside the root.
    pub(super) fn cwd(&mut self, arg: &str) -> Reply {
        let target = self
            .resolve(arg)
            .and_then(|v| self.root().folder(&v).map(|()| v));
        match target {
            Ok(v) => {
                self.cwd = v;
                Reply::new(250, &format!("Current folder is {}.", self.cwd.display()))
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    pub(super) fn size(&self, arg: &str) -> Reply {
        match self.file_meta(arg) {
            Ok(m) => Reply::new(213, &m.len().to_string()),
            Err(r) => self.refuse(arg, r),
        }
    }

    /// MDTM (RFC 3659 §3): the modification time as `YYYYMMDDHHMMSS` in UTC.
    pub(super) fn mdtm(&self, arg: &str) -> Reply {
        match self.file_meta(arg) {
            Ok(m) => {
                let t = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                Reply::new(213, &Civil::of(t).compact())
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    /// The metadata of a plain file; anything else is refused.
    fn file_meta(&self, arg: &str) -> Result<Metadata, Refusal> {
        let meta = self.root().stat(&self.resolve(arg)?)?;
        if meta.is_file() {
            Ok(meta)
        } else {
            Err(Refusal::NotAFile)
        }
    }

    /// MLST (RFC 3659 §7): the facts of one name, over the control connection.
    pub(super) fn mlst(&self, arg: &str) -> Reply {
        let found = self.resolve(arg).and_then(|v| {
            let meta = self.root().stat(&v)?;
            Ok(Entry {
                name: v.display(),
                meta,
            })
        });
        match found {
            Ok(entry) => Reply::multi(
                250,
                vec![
                    format!("Listing {arg}"),
                    format!(" {}", entry.mlsx_line()),
                    "End".to_string(),
                ],
            ),
            Err(r) => self.refuse(arg, r),
        }
    }

    /// STAT without a path: the session's status.
    pub(super) fn status(&self) -> Reply {
        Reply::multi(
            211,
            vec![
                "dialback status:".to_string(),
                format!(" Connected from {}", self.peer),
                format!(" Current folder {}", self.cwd.display()),
                "End of status.".to_string(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::tests::{code, text, Scratch};

    #[test]
    fn folders_change_only_to_folders_inside_the_root() {
        let dir = Scratch::new("cwd");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(text(s.line("CWD sub")), "Current folder is /sub.");
        assert_eq!(text(s.line("PWD")), "\"/sub\" is the current folder.");
        assert_eq!(code(s.line("CWD ../..")), 250, "above the root is the root");
        assert_eq!(text(s.line("PWD")), "\"/\" is the current folder.");
        assert_eq!(code(s.line("CWD sub")), 250);
        assert_eq!(code(s.line("CWD b.txt")), 550, "a file is not a folder");
        assert_eq!(code(s.line("CWD nowhere")), 550);
        assert_eq!(text(s.line("PWD")), "\"/sub\" is the current folder.");
        assert_eq!(code(s.line("CDUP")), 250);
        assert_eq!(code(s.line("CDUP")), 250, "CDUP at the root stays there");
        assert_eq!(text(s.line("PWD")), "\"/\" is the current folder.");
    }

    #[test]
    fn sizes_and_times_are_for_plain_files_inside_the_root() {
        let dir = Scratch::new("size");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(text(s.line("SIZE a.txt")), "5");
        assert_eq!(text(s.line("SIZE sub/../sub/b.txt")), "3");
        assert_eq!(text(s.line("SIZE sub")), "sub: not a plain file.");
        assert_eq!(
            text(s.line("SIZE ../a.txt")),
            "5",
            "above the root is the root"
        );
        assert_eq!(text(s.line("MDTM a.txt")).len(), 14);
        assert_eq!(code(s.line("MDTM missing")), 550);
        assert_eq!(code(s.line("MLST sub/b.txt")), 250);
        assert_eq!(code(s.line("STAT")), 211);
    }
}
