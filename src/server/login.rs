//! Login and session handlers: USER, PASS, FEAT, OPTS, HELP. Whether a name
//! and password let someone in, and as whom, is the door's to say
//! (`door.rs`); here a login becomes the session's permissions and root.

use super::door::{Entry, Verdict};
#[cfg(test)]
use super::gate::Perms;
use super::log::quote;
use super::session::{reply, Login, Session, Step};
use crate::fsys::{Root, VPath};
use crate::protocol::{self, Reply};

/// Failed logins after which a session is closed (vsftpd's default too).
const MOST_FAILURES: u32 = 3;

impl<L> Session<L> {
    /// USER: a new name logs out whoever was in, until PASS. The reply is
    /// the same for every name, known or not.
    pub(super) fn user(&mut self, name: String) -> Step<L> {
        self.login = None;
        self.user = Some(name);
        if self.config.door.has_accounts() {
            reply(331, "Password required.")
        } else {
            reply(331, "Anonymous access: any password will do.")
        }
    }

    /// PASS: the door decides; a wrong name and a wrong password get the same
    /// 530 after the same time. The password is never logged.
    pub(super) fn pass(&mut self, password: &str) -> Step<L> {
        let Some(user) = self.user.clone() else {
            return reply(503, "Send USER first.");
        };
        if self.login.is_some() {
            return reply(230, "Already logged in.");
        }
        let entry = match self.config.door.check(self.peer.ip(), &user, password) {
            Verdict::In(entry) => entry,
            Verdict::Refused(wait) => {
                self.failures += 1;
                self.log(format_args!("login refused for {}", quote(&user)));
                let refusal = match self.failures >= MOST_FAILURES {
                    true => Step::Close(Reply::new(530, "Login incorrect; closing.")),
                    false => reply(530, "Login incorrect."),
                };
                return Step::Delay(wait, Box::new(refusal));
            }
        };
        match self.enter(&user, entry) {
            Ok(()) => reply(230, "Logged in."),
            Err(why) => {
                self.log(format_args!("login of {} failed: {why}", quote(&user)));
                Step::Close(Reply::new(421, "Your folder cannot be opened; closing."))
            }
        }
    }

    /// REIN: logs out and forgets every setting, as a new connection has them;
    /// the count of failed logins stays, so REIN cannot buy more guesses.
    pub(super) fn rein(&mut self) -> Reply {
        if let Some(login) = self.login.take() {
            self.log(format_args!("logged out {}", quote(&login.user)));
        }
        self.user = None;
        self.cwd = VPath::default();
        self.plan = None;
        (self.rest, self.allo, self.rename_from) = (None, None, None);
        (self.epsv_only, self.block) = (false, false);
        Reply::new(220, "Logged out; ready for a new user.")
    }

    /// Becomes `user` with what the door gave: a `--read-only` server takes
    /// every writing permission away, and the user starts at their root.
    fn enter(&mut self, user: &str, entry: Entry) -> Result<(), String> {
        let root = match &entry.root {
            None => None,
            Some(dir) => Some(Root::new(dir).map_err(|e| format!("{}: {e}", dir.display()))?),
        };
        let perms = match self.config.read_only {
            true => entry.perms.reading_only(),
            false => entry.perms,
        };
        let letters = perms.letters();
        match &root {
            Some(root) => self.log(format_args!(
                "logged in as {} ({letters}) in {}",
                quote(user),
                root.path().display()
            )),
            None if entry.anonymous && self.config.door.has_accounts() => self.log(format_args!(
                "logged in anonymously as {} ({letters})",
                quote(user)
            )),
            None => self.log(format_args!("logged in as {} ({letters})", quote(user))),
        }
        self.cwd = VPath::default();
        self.failures = 0;
        self.login = Some(Login {
            user: user.to_string(),
            anonymous: entry.anonymous,
            perms,
            root,
            rate: entry.rate,
        });
        Ok(())
    }

    pub(super) fn feat(&self) -> Reply {
        let mut lines = vec!["Features:".to_string()];
        // What FEAT advertises (RFC 2389): exactly what is implemented.
        let mut features: Vec<String> = (protocol::VERBS.iter())
            .filter_map(|v| v.feat)
            .map(|f| match f.starts_with("HASH ") {
                // The session's own algorithm is the starred one.
                true => self.hash_feature(),
                false => f.to_string(),
            })
            .collect();
        features.sort();
        lines.extend(features.iter().map(|f| format!(" {f}")));
        lines.push("End".to_string());
        Reply::multi(211, lines)
    }

    pub(super) fn opts(&self, opt: &str) -> Reply {
        match opt.to_ascii_uppercase().as_str() {
            "UTF8 ON" | "UTF8" | "UTF-8 ON" => Reply::new(200, "UTF-8 is always on."),
            o if o.starts_with("MLST ") => Reply::new(200, "MLST OPTS type;size;modify;"),
            _ => Reply::new(501, "Option not understood."),
        }
    }

    pub(super) fn help(&self) -> Reply {
        let mut lines = vec!["Commands understood:".to_string()];
        let names: Vec<&str> = protocol::VERBS.iter().map(|v| v.names[0]).collect();
        lines.extend(names.chunks(8).map(|c| format!(" {}", c.join(" "))));
        lines.push("Help OK.".to_string());
        Reply::multi(214, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::super::door::Door;
    use super::super::session::tests::{code, text, Scratch};
    use super::*;
    use crate::password::Hash;
    use std::sync::Arc;

    /// A users file beside the scratch root, removed on drop.
    struct Users(std::path::PathBuf);

    impl Users {
        fn new(dir: &Scratch, lines: &[(&str, &str, &str)]) -> Users {
            let path = dir.0.with_extension("users");
            let text: String = lines
                .iter()
                .map(|(name, perms, root)| {
                    let hash = Hash::new("pw", 1000).unwrap();
                    format!("{name} {hash} {perms} {}\n", dir.0.join(root).display())
                })
                .collect();
            std::fs::write(&path, text).unwrap();
            Users(path)
        }
    }

    impl Drop for Users {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn an_account_lands_in_its_own_root_with_its_own_permissions() {
        let dir = Scratch::new("accounts");
        let users = Users::new(&dir, &[("alice", "elr", "sub"), ("bob", "elrwd", "")]);
        let door = Arc::new(Door::with_users(&users.0, None).unwrap());
        let mut s = dir.session(|c| c.door = Arc::clone(&door));
        assert_eq!(text(s.line("USER alice")), "Password required.");
        assert_eq!(code(s.line("PASS pw")), 230);
        assert_eq!(code(s.line("SIZE b.txt")), 213, "sub/ is alice's /");
        assert_eq!(code(s.line("SIZE a.txt")), 550);
        assert_eq!(code(s.line("CWD ..")), 250, "above her root is her root");
        assert_eq!(code(s.line("SIZE ../a.txt")), 550, "still nothing above it");
        assert_eq!(code(s.line("PORT 127,0,0,1,19,137")), 200);
        assert!(matches!(s.line("RETR b.txt"), Step::Transfer(..)));
        for line in [
            "STOR b.txt",
            "DELE b.txt",
            "MKD x",
            "RNFR b.txt",
            "MFMT 20200101000000 b.txt",
        ] {
            let refused = text(s.line(line));
            assert!(
                refused.contains("is not allowed for alice"),
                "{line}: {refused}"
            );
        }
        // bob may delete but not rename; a read-only server leaves him reading.
        let mut s = dir.session(|c| c.door = Arc::clone(&door));
        assert_eq!(code(s.line("USER bob")), 331);
        assert_eq!(code(s.line("PASS pw")), 230);
        assert_eq!(code(s.line("RNFR a.txt")), 550);
        assert_eq!(code(s.line("DELE a.txt")), 250);
        let mut s = dir.session(|c| {
            c.door = Arc::clone(&door);
            c.read_only = true;
        });
        assert_eq!(code(s.line("USER bob")), 331);
        assert_eq!(code(s.line("PASS pw")), 230);
        assert_eq!(code(s.line("DELE sub/b.txt")), 550);
        assert!(dir.0.join("sub/b.txt").exists());
    }

    #[test]
    fn anonymous_is_off_with_accounts_unless_asked_for() {
        let dir = Scratch::new("anonymous");
        let users = Users::new(&dir, &[("alice", "elr", "sub")]);
        let closed = Arc::new(Door::with_users(&users.0, None).unwrap());
        let mut s = dir.session(|c| c.door = closed);
        assert_eq!(text(s.line("USER anonymous")), "Password required.");
        assert_eq!(code(s.line("PASS guest@")), 530);
        assert_eq!(code(s.line("PWD")), 530);
        let ro = Arc::new(Door::with_users(&users.0, Some(Perms::read_only())).unwrap());
        let mut s = dir.session(|c| c.door = ro);
        assert_eq!(code(s.line("USER anonymous")), 331);
        assert_eq!(code(s.line("PASS guest@")), 230);
        assert_eq!(code(s.line("SIZE a.txt")), 213, "the server's root");
        assert_eq!(code(s.line("DELE a.txt")), 550);
    }

    #[test]
    fn rein_logs_out_and_forgets_settings_but_not_failures() {
        let dir = Scratch::new("rein");
        let users = Users::new(&dir, &[("alice", "elr", "sub")]);
        let door = Arc::new(Door::with_users(&users.0, None).unwrap());
        let mut s = dir.session(|c| c.door = door);
        assert_eq!(code(s.line("REIN")), 530, "only after a login");
        assert_eq!(code(s.line("USER alice")), 331);
        assert_eq!(code(s.line("PASS pw")), 230);
        s.failures = 1;
        assert_eq!(code(s.line("REST 5")), 350);
        assert_eq!(code(s.line("REIN")), 220);
        assert_eq!(code(s.line("PWD")), 530, "logged out");
        assert_eq!(s.rest, None, "REST forgotten");
        assert_eq!(s.failures, 1, "failures kept");
    }

    #[test]
    fn feat_and_help_say_exactly_what_is_implemented() {
        let dir = Scratch::new("feat");
        let mut s = dir.session(|_| {});
        let Step::Reply(feat) = s.line("FEAT") else {
            panic!()
        };
        let features: Vec<&str> = feat.lines[1..feat.lines.len() - 1]
            .iter()
            .map(|l| l.trim())
            .collect();
        // Every row's FEAT line, sorted (tests/session.rs checks the exact list).
        let mut rows: Vec<&str> = protocol::VERBS.iter().filter_map(|v| v.feat).collect();
        rows.sort();
        assert_eq!(features, rows);
        let Step::Reply(help) = s.line("HELP") else {
            panic!()
        };
        let named: Vec<&str> = help.lines[1..help.lines.len() - 1]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect();
        let verbs: Vec<&str> = protocol::VERBS.iter().map(|v| v.names[0]).collect();
        assert_eq!(named, verbs);
        assert_eq!(code(s.line("OPTS utf8 on")), 200);
        assert_eq!(
            text(s.line("OPTS MLST size;")),
            "MLST OPTS type;size;modify;"
        );
    }
}
