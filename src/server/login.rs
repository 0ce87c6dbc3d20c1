//! Login and session handlers: USER, PASS, FEAT, OPTS, HELP. The server is
//! anonymous: any name and password log in, with every permission, or only the
//! reading ones on a `--read-only` server.

use super::gate::Perms;
use super::log::quote;
use super::session::{reply, Login, Session, Step};
use crate::protocol::{Command, Reply};

/// What FEAT advertises (RFC 2389): exactly what is implemented.
pub const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "MFMT",
    "MLST type*;size*;modify*;",
    "PASV",
    "REST STREAM",
    "SIZE",
    "UTF8",
];

impl<L> Session<L> {
    /// USER: a new name logs out whoever was in, until PASS.
    pub(super) fn user(&mut self, name: String) -> Step<L> {
        self.login = None;
        self.user = Some(name);
        reply(331, "Anonymous access: any password will do.")
    }

    pub(super) fn pass(&mut self) -> Step<L> {
        let Some(user) = &self.user else {
            return reply(503, "Send USER first.");
        };
        let perms = if self.config.read_only {
            Perms::read_only()
        } else {
            Perms::all()
        };
        if self.login.is_none() {
            let letters = perms.letters();
            self.log(format_args!("logged in as {} ({letters})", quote(user)));
        }
        self.login = Some(Login {
            user: user.clone(),
            perms,
        });
        reply(230, "Logged in.")
    }

    pub(super) fn feat(&self) -> Reply {
        let mut lines = vec!["Features:".to_string()];
        lines.extend(FEATURES.iter().map(|f| format!(" {f}")));
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
        lines.extend(
            Command::VERBS
                .chunks(8)
                .map(|c| format!(" {}", c.join(" "))),
        );
        lines.push("Help OK.".to_string());
        Reply::multi(214, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::tests::{code, text, Scratch};
    use super::*;

    #[test]
    fn feat_and_help_say_exactly_what_is_implemented() {
        let dir = Scratch::new("feat");
        let mut s = dir.session(|_| {});
        let Step::Reply(feat) = s.line("FEAT") else {
            panic!()
        };
        assert_eq!(feat.lines.len(), FEATURES.len() + 2);
        let Step::Reply(help) = s.line("HELP") else {
            panic!()
        };
        let named: Vec<&str> = help.lines[1..help.lines.len() - 1]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect();
        assert_eq!(named, Command::VERBS);
        assert_eq!(code(s.line("OPTS utf8 on")), 200);
        assert_eq!(
            text(s.line("OPTS MLST size;")),
            "MLST OPTS type;size;modify;"
        );
    }
}
