//! The one permission gate: every command names what it needs in `need`, and
//! `Session::handle` checks that before any handler runs. Permissions are
//! letters in the manner of pyftpdlib's `elradfmwMT` (`lradfmwMT` here); today a login gets all of
//! them, or only the reading ones on a `--read-only` server. Accounts will
//! give each user their own set here, and nowhere else.

use crate::protocol::Command;

/// What a command needs before its handler may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Allowed before login: the login itself and harmless questions.
    Nothing,
    /// A logged-in session, no particular permission.
    Login,
    /// A logged-in session with this permission.
    Perm(Perm),
}

/// One permission, as a letter like pyftpdlib's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// `l`: list folders and read file details (LIST, NLST, MLSD, MLST, SIZE, MDTM, STAT path).
    List,
    /// `r`: read file contents (RETR).
    Read,
    /// `w`: create and overwrite files (STOR).
    Write,
    /// `a`: append to files (APPE).
    Append,
    /// `d`: delete files and folders (DELE, RMD).
    Delete,
    /// `f`: rename files and folders (RNFR, RNTO).
    Rename,
    /// `m`: make folders (MKD).
    Mkdir,
    /// `M`: change permission bits (SITE CHMOD).
    Mode,
    /// `T`: change modification times (MFMT).
    Times,
}

impl Perm {
    /// In pyftpdlib's order of letters.
    const ALL: [Perm; 9] = [
        Perm::List,
        Perm::Read,
        Perm::Append,
        Perm::Delete,
        Perm::Rename,
        Perm::Mkdir,
        Perm::Write,
        Perm::Mode,
        Perm::Times,
    ];

    fn bit(self) -> u16 {
        1 << (self as u8)
    }

    /// The letter, as pyftpdlib writes it.
    pub fn letter(self) -> char {
        match self {
            Perm::List => 'l',
            Perm::Read => 'r',
            Perm::Write => 'w',
            Perm::Append => 'a',
            Perm::Delete => 'd',
            Perm::Rename => 'f',
            Perm::Mkdir => 'm',
            Perm::Mode => 'M',
            Perm::Times => 'T',
        }
    }

    /// What the permission lets a user do, for a refusal's words.
    pub fn doing(self) -> &'static str {
        match self {
            Perm::List => "listing",
            Perm::Read => "reading",
            Perm::Write => "uploading",
            Perm::Append => "appending",
            Perm::Delete => "deleting",
            Perm::Rename => "renaming",
            Perm::Mkdir => "making folders",
            Perm::Mode => "changing permissions",
            Perm::Times => "changing times",
        }
    }

    /// Whether it changes the tree (so a read-only server never grants it).
    pub fn writes(self) -> bool {
        !matches!(self, Perm::List | Perm::Read)
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms(u16);

impl Perms {
    /// Every permission.
    pub fn all() -> Perms {
        Perms(Perm::ALL.iter().fold(0, |bits, p| bits | p.bit()))
    }

    /// The permissions that do not change the tree.
    pub fn read_only() -> Perms {
        Perms(
            Perm::ALL
                .iter()
                .filter(|p| !p.writes())
                .fold(0, |bits, p| bits | p.bit()),
        )
    }

    pub fn allows(self, perm: Perm) -> bool {
        self.0 & perm.bit() != 0
    }

    /// Permissions from their letters (`lr`, `elradfmwMT`); `e`, pyftpdlib's
    /// letter for changing folders, is accepted and always held.
    pub fn parse(letters: &str) -> Result<Perms, String> {
        letters.chars().try_fold(Perms(0), |held, c| {
            if c == 'e' {
                return Ok(held);
            }
            match Perm::ALL.iter().find(|p| p.letter() == c) {
                Some(p) => Ok(Perms(held.0 | p.bit())),
                None => Err(format!(
                    "unknown permission letter {c:?} (known: elradfmwMT)"
                )),
            }
        })
    }

    /// These permissions less every one that changes the tree.
    pub fn reading_only(self) -> Perms {
        Perms(self.0 & Perms::read_only().0)
    }

    /// The letters of the permissions held, in pyftpdlib's order.
    pub fn letters(self) -> String {
        Perm::ALL
            .iter()
            .filter(|p| self.allows(**p))
            .map(|p| p.letter())
            .collect()
    }
}

/// What `cmd` needs: the one table of the gate. A new command adds its row here.
pub fn need(cmd: &Command) -> Need {
    use Command as C;
    match cmd {
        C::User(_) | C::Pass(_) | C::Quit | C::Feat | C::Syst | C::Help(_) | C::Noop => {
            Need::Nothing
        }
        C::Opts(_) => Need::Nothing,
        C::Clnt(_) => Need::Login,
        C::Type(_) | C::Mode(_) | C::Stru(_) | C::Pwd | C::Cwd(_) | C::Cdup => Need::Login,
        C::Port(_) | C::Eprt(_) | C::Pasv | C::Epsv(_) | C::Rest(_) | C::Allo(_) | C::Abor => {
            Need::Login
        }
        C::Stat(None) | C::Rein => Need::Login,
        C::Size(_) | C::Mdtm(_) | C::Mlst(_) | C::Stat(Some(_)) => Need::Perm(Perm::List),
        C::List(_) | C::Nlst(_) | C::Mlsd(_) | C::Tree(_) => Need::Perm(Perm::List),
        C::Retr(_) | C::Hash(_) | C::XHash(..) => Need::Perm(Perm::Read),
        C::Stor(_) => Need::Perm(Perm::Write),
        C::Appe(_) => Need::Perm(Perm::Append),
        C::Mkd(_) => Need::Perm(Perm::Mkdir),
        C::Rmd(_) | C::Dele(_) => Need::Perm(Perm::Delete),
        C::Rnfr(_) | C::Rnto(_) => Need::Perm(Perm::Rename),
        C::Mfmt(..) => Need::Perm(Perm::Times),
        C::SiteChmod(..) => Need::Perm(Perm::Mode),
        C::SiteHelp => Need::Login,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_grants_exactly_the_permissions_that_change_nothing() {
        assert_eq!(Perms::all().letters(), "lradfmwMT");
        assert_eq!(Perms::read_only().letters(), "lr");
        for p in Perm::ALL {
            assert!(Perms::all().allows(p));
            assert_eq!(Perms::read_only().allows(p), !p.writes(), "{p:?}");
        }
    }

    #[test]
    fn every_verb_has_a_row_and_only_login_questions_are_open() {
        // One example of every verb, each with its row (the match is exhaustive).
        let open: Vec<&str> = crate::protocol::VERBS
            .iter()
            .map(|v| v.example)
            .filter(|line| need(&line.parse().unwrap()) == Need::Nothing)
            .collect();
        assert_eq!(
            open,
            [
                "FEAT",
                "HELP",
                "NOOP",
                "OPTS UTF8 ON",
                "PASS x",
                "QUIT",
                "SYST",
                "USER a"
            ]
        );
    }

    #[test]
    fn commands_that_change_the_tree_need_a_writing_permission() {
        for (line, perm) in [
            ("STOR a", Perm::Write),
            ("APPE a", Perm::Append),
            ("RETR a", Perm::Read),
            ("LIST", Perm::List),
            ("SIZE a", Perm::List),
            ("MKD a", Perm::Mkdir),
            ("RMD a", Perm::Delete),
            ("DELE a", Perm::Delete),
            ("RNFR a", Perm::Rename),
            ("RNTO a", Perm::Rename),
        ] {
            let cmd: Command = line.parse().unwrap();
            assert_eq!(need(&cmd), Need::Perm(perm), "{line}");
        }
    }
}
