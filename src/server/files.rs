//! File management handlers: MKD, RMD, DELE, RNFR, RNTO, MFMT and SITE CHMOD. They act on
//! names, not open files: `fsys` resolves the folder inside the root and
//! never follows the last component (see the README's security model).

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;

use super::log;
use super::session::{Session, Step};
use crate::protocol::Reply;
use crate::time::Civil;

impl<L> Session<L> {
    /// MKD (RFC 959 §4.1.3): 257 with the new folder's path, quoted.
    pub(super) fn mkd(&self, arg: &str) -> Reply {
        match self
            .resolve(arg)
            .and_then(|v| self.root().make_folder(&v).map(|()| v))
        {
            Ok(v) => {
                self.log(format_args!("made folder {}", log::quote(&v.display())));
                Reply::new(257, &format!("{} created.", quote(&v.display())))
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    /// RMD: empty folders only.
    pub(super) fn rmd(&self, arg: &str) -> Reply {
        match self
            .resolve(arg)
            .and_then(|v| self.root().remove_folder(&v).map(|()| v))
        {
            Ok(v) => {
                self.log(format_args!("removed folder {}", log::quote(&v.display())));
                Reply::new(250, &format!("{arg}: folder removed."))
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    /// DELE: files (and symlinks) only.
    pub(super) fn dele(&self, arg: &str) -> Reply {
        match self
            .resolve(arg)
            .and_then(|v| self.root().remove_file(&v).map(|()| v))
        {
            Ok(v) => {
                self.log(format_args!("deleted {}", log::quote(&v.display())));
                Reply::new(250, &format!("{arg}: deleted."))
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    /// RNFR: remembered for the very next command, which should be RNTO.
    pub(super) fn rnfr(&mut self, arg: &str) -> Step<L> {
        match self
            .resolve(arg)
            .and_then(|v| self.root().exists(&v).map(|()| v))
        {
            Ok(v) => {
                self.rename_from = Some(v);
                Step::Reply(Reply::new(350, "Ready for RNTO."))
            }
            Err(r) => Step::Reply(self.refuse(arg, r)),
        }
    }

    /// RNTO: the second half of a rename; 503 unless RNFR came just before.
    pub(super) fn rnto(&self, arg: &str, from: Option<crate::fsys::VPath>) -> Reply {
        let Some(from) = from else {
            return Reply::new(503, "Send RNFR first.");
        };
        match self
            .resolve(arg)
            .and_then(|to| self.root().rename(&from, &to).map(|()| to))
        {
            Ok(to) => {
                let (from, to) = (log::quote(&from.display()), log::quote(&to.display()));
                self.log(format_args!("renamed {from} to {to}"));
                Reply::new(250, &format!("Renamed to {arg}."))
            }
            Err(r) => self.refuse(arg, r),
        }
    }
}

impl<L> Session<L> {
    /// MFMT (draft-somers-ftp-mfxx): 213 with the time the file now has,
    /// read back, since a file system may round or bound what it stores.
    pub(super) fn mfmt(&self, time: Civil, arg: &str) -> Reply {
        let when = crate::time::system_time(time.to_unix());
        let set = self.resolve(arg).and_then(|v| {
            let file = self.root().open_entry(&v)?;
            file.set_modified(when)?;
            Ok(file.metadata()?.modified()?)
        });
        match set {
            Ok(t) => {
                let when = Civil::of(t).compact();
                self.log(format_args!(
                    "set the time of {} to {when}",
                    log::quote(arg)
                ));
                Reply::new(213, &format!("Modify={when}; {arg}"))
            }
            Err(r) => self.refuse(arg, r),
        }
    }

    /// SITE CHMOD: the low nine permission bits of a file or folder.
    pub(super) fn chmod(&self, mode: u32, arg: &str) -> Reply {
        let set = self.resolve(arg).and_then(|v| {
            let file = self.root().open_entry(&v)?;
            Ok(file.set_permissions(Permissions::from_mode(mode & 0o777))?)
        });
        match set {
            Ok(()) => {
                self.log(format_args!(
                    "set the mode of {} to {mode:03o}",
                    log::quote(arg)
                ));
                Reply::new(200, &format!("{arg}: mode set to {mode:03o}."))
            }
            Err(r) => self.refuse(arg, r),
        }
    }
}

/// RFC 959 Appendix II: a pathname in a 257 reply is quoted, inner quotes doubled.
pub fn quote(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::super::session::tests::{code, text, Scratch};
    use std::fs;

    #[test]
    fn folders_are_made_and_removed_inside_the_root() {
        let dir = Scratch::new("mkd");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(text(s.line("MKD new")), "\"/new\" created.");
        assert_eq!(
            text(s.line("XMKD sub/\"q\"")),
            "\"/sub/\"\"q\"\"\" created."
        );
        assert_eq!(code(s.line("MKD new")), 550, "exists");
        assert_eq!(code(s.line("MKD missing/x")), 550, "no parent");
        assert_eq!(
            text(s.line("MKD ../x")),
            "\"/x\" created.",
            "above the root is the root"
        );
        assert_eq!(code(s.line("RMD sub")), 550, "not empty");
        assert_eq!(code(s.line("RMD a.txt")), 550, "a file");
        assert_eq!(code(s.line("RMD /")), 550, "the root");
        assert_eq!(code(s.line("RMD new")), 250);
        assert!(!dir.0.join("new").exists());
    }

    #[test]
    fn rnto_must_follow_rnfr_at_once_and_files_are_replaced_whole() {
        let dir = Scratch::new("rename");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(code(s.line("RNTO b.txt")), 503);
        assert_eq!(code(s.line("RNFR missing")), 550);
        assert_eq!(code(s.line("RNFR a.txt")), 350);
        assert_eq!(code(s.line("NOOP")), 200);
        assert_eq!(
            code(s.line("RNTO c.txt")),
            503,
            "any other command forgets RNFR"
        );
        assert_eq!(code(s.line("RNFR a.txt")), 350);
        assert_eq!(code(s.line("RNTO sub/b.txt")), 250, "over an existing file");
        assert_eq!(fs::read(dir.0.join("sub/b.txt")).unwrap(), b"hello");
        assert_eq!(code(s.line("RNFR sub")), 350);
        assert_eq!(
            text(s.line("RNTO sub/inner")),
            "sub/inner: a folder cannot move into itself."
        );
        assert_eq!(code(s.line("DELE sub")), 550, "a folder");
        assert_eq!(code(s.line("DELE sub/b.txt")), 250);
        assert_eq!(code(s.line("RMD sub")), 250);
    }

    #[test]
    fn times_and_modes_change_only_inside_the_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("mfmt");
        let mut s = dir.logged_in(|_| {});
        assert_eq!(
            text(s.line("MFMT 20200102030405 a.txt")),
            "Modify=20200102030405; a.txt"
        );
        assert_eq!(text(s.line("MDTM a.txt")), "20200102030405");
        assert_eq!(code(s.line("MFMT 20200102030405 ../x")), 550);
        assert_eq!(code(s.line("SITE CHMOD 600 a.txt")), 200);
        let mode = fs::metadata(dir.0.join("a.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(code(s.line("SITE CHMOD 750 sub")), 200);
        assert_eq!(code(s.line("SITE CHMOD 600 /../etc")), 550);
        assert_eq!(code(s.line("SITE HELP")), 214);
    }

    #[test]
    fn a_read_only_server_refuses_every_change() {
        let dir = Scratch::new("ro-files");
        let mut s = dir.logged_in(|c| c.read_only = true);
        for line in [
            "MKD x",
            "RMD sub",
            "DELE a.txt",
            "RNFR a.txt",
            "RNTO b",
            "MFMT 20200102030405 a.txt",
            "SITE CHMOD 777 a.txt",
        ] {
            assert_eq!(
                text(s.line(line)),
                "Permission denied: this server is read-only.",
                "{line}"
            );
        }
        assert!(dir.0.join("a.txt").exists() && dir.0.join("sub").exists());
    }
}
