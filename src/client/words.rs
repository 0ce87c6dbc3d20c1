//! The client's user vocabulary, apart from the wire's: the commands a person
//! types (one table, `WORDS`, that both the parser and HELP read, so no
//! command can exist without its help row), splitting a typed line into words
//! (quotes and backslashes), and splitting a `-c` script into lines. Pure.

use super::tree::Mirror;

/// A command typed at the client (case-insensitive verbs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    Get {
        remote: String,
        local: Option<String>,
        resume: bool,
    },
    Put {
        local: String,
        remote: Option<String>,
    },
    /// GET -r: make the local folder like the remote one.
    GetTree {
        remote: String,
        local: Option<String>,
        mirror: Mirror,
    },
    /// PUT -r: make the remote folder like the local one.
    PutTree {
        local: String,
        remote: Option<String>,
        mirror: Mirror,
    },
    /// GET every remote file matching any of these `*`/`?` patterns.
    Mget(Vec<String>),
    /// PUT every local file matching any of these patterns.
    Mput(Vec<String>),
    /// LIST with what followed it: `ls` options (`-la`) and a path, passed on.
    List(Option<String>),
    Cd(String),
    Pwd,
    /// Show the local folder.
    Lpwd,
    /// Run a local shell command (`!ls`); `!` alone starts a shell.
    Shell(String),
    /// Delete every remote file matching any of these patterns.
    Mdelete(Vec<String>),
    /// Host, user, folders and modes.
    Status,
    /// A classic command that asks for what is so here already; the line says what.
    Already(&'static str),
    /// ASCII mode (TYPE A) for single GETs and PUTs, or binary (TYPE I).
    Ascii(bool),
    Open {
        host: Option<String>,
        port: u16,
    },
    Close,
    /// Log in again as someone else; the password from the command, the
    /// stored ones, or a prompt.
    User {
        name: String,
        password: Option<String>,
    },
    Exit,
    Help(Option<String>),
    /// Passive mode on, off, or (without a word) the other way.
    Passive(Option<bool>),
    /// The server's checksum of a remote file, in this algorithm or its own.
    Hash(String, Option<String>),
    /// Checking transfers against checksums on, off, or the other way.
    Verify(Option<bool>),
    /// The transfer rate limit: shown (`None`), lifted (`Some(None)`) or set.
    Rate(Option<Option<u64>>),
    /// Make a remote folder.
    Mkdir(String),
    /// Remove an empty remote folder.
    Rmdir(String),
    /// Delete a remote file.
    Delete(String),
    /// Rename (or move) a remote file or folder.
    Rename {
        from: String,
        to: String,
    },
    /// Change the local folder (GET saves there, PUT reads there); home without a path.
    Lcd(Option<String>),
    /// A blank line or a `#` comment.
    Nothing,
}

/// One user command: its verb, the other names it answers to, and its help.
#[derive(Debug, Clone, Copy)]
pub struct Word {
    pub verb: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub about: &'static str,
    /// What each argument names, for Tab (options not counted); the last
    /// one goes for every argument after it.
    pub args: &'static [Kind],
    /// Whether the command cannot change remote folders (so the names Tab
    /// has seen there stay good).
    pub reads_only: bool,
}

/// What a word after a verb names, for Tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Local,
    Remote,
    RemoteFolder,
    Verb,
    Nothing,
}

const fn word(
    verb: &'static str,
    aliases: &'static [&'static str],
    usage: &'static str,
    about: &'static str,
) -> Word {
    Word {
        verb,
        aliases,
        usage,
        about,
        args: &[],
        reads_only: false,
    }
}

impl Word {
    /// The same row, with what its arguments name.
    const fn takes(self, args: &'static [Kind]) -> Word {
        Word { args, ..self }
    }

    /// The same row, for a command that changes nothing on the server.
    const fn reads(self) -> Word {
        Word {
            reads_only: true,
            ..self
        }
    }

    /// What the `n`th argument (options not counted) names.
    pub fn argument(&self, n: usize) -> Kind {
        match self.args {
            [] => Kind::Nothing,
            args => args[n.min(args.len() - 1)],
        }
    }
}

/// Every user command, in the order HELP shows them. The parser looks a typed
/// verb up here first, so a command is reachable only through its row.
pub const WORDS: &[Word] = &[
    word(
        "GET",
        &["RECV"],
        "GET [-c | -r [--delete] [--checksum]] remote [local]",
        "download a file (-c resumes a partial one), or with -r a folder as a \
         mirror: only what differs (--delete also removes local files the \
         server lacks; --checksum compares files by content, not time)",
    )
    .takes(&[Kind::Remote, Kind::Local])
    .reads(),
    word(
        "REGET",
        &[],
        "REGET remote [local]",
        "resume a partial download (same as GET -c)",
    )
    .takes(&[Kind::Remote, Kind::Local])
    .reads(),
    word(
        "PUT",
        &["SEND"],
        "PUT [-r [--delete] [--checksum]] local [remote]",
        "upload a file, or with -r a folder as a mirror: only what differs \
         (--delete also removes remote files the local folder lacks; \
         --checksum compares files by content, not time)",
    )
    .takes(&[Kind::Local, Kind::Remote]),
    word(
        "MGET",
        &[],
        "MGET pattern...",
        "download every remote file matching a pattern (* and ?)",
    )
    .takes(&[Kind::Remote])
    .reads(),
    word(
        "MPUT",
        &[],
        "MPUT pattern...",
        "upload every local file matching a pattern (* and ?)",
    )
    .takes(&[Kind::Local]),
    word(
        "MDELETE",
        &[],
        "MDELETE pattern...",
        "delete every remote file matching a pattern (* and ?)",
    )
    .takes(&[Kind::Remote]),
    word(
        "LIST",
        &["LS", "DIR"],
        "LIST [-options] [path]",
        "list a remote folder (alias LS, DIR; ls options such as -la go to the server)",
    )
    .takes(&[Kind::Remote])
    .reads(),
    word("CD", &["CWD"], "CD path", "change the remote folder")
        .takes(&[Kind::RemoteFolder, Kind::Nothing]),
    word("CDUP", &["UP"], "CDUP", "go up one remote folder (CD ..)"),
    word("PWD", &[], "PWD", "show the remote folder").reads(),
    word("LPWD", &[], "LPWD", "show the local folder").reads(),
    word(
        "LCD",
        &[],
        "LCD [path]",
        "change the local folder, where GET saves and PUT reads (home without a path)",
    )
    .takes(&[Kind::Local, Kind::Nothing])
    .reads(),
    word(
        "!",
        &[],
        "!command",
        "run a local shell command in the local folder (! alone: a shell)",
    )
    .takes(&[Kind::Local])
    .reads(),
    word(
        "MKDIR",
        &["MKD", "MD"],
        "MKDIR path",
        "make a remote folder",
    )
    .takes(&[Kind::RemoteFolder, Kind::Nothing]),
    word(
        "RMDIR",
        &["RMD", "RD"],
        "RMDIR path",
        "remove an empty remote folder",
    )
    .takes(&[Kind::RemoteFolder, Kind::Nothing]),
    word(
        "DELETE",
        &["RM", "DEL"],
        "DELETE path",
        "delete a remote file",
    )
    .takes(&[Kind::Remote]),
    word(
        "RENAME",
        &["MV"],
        "RENAME from to",
        "rename or move a remote file or folder",
    )
    .takes(&[Kind::Remote]),
    word(
        "OPEN",
        &[],
        "OPEN host [port]",
        "connect to a server (port 21 without one; OPEN with a port alone: 127.0.0.1)",
    ),
    word(
        "USER",
        &["LOGIN"],
        "USER name [password]",
        "log in again as someone else (password asked, or from $DIALBACK_PASSWORD or ~/.netrc)",
    ),
    word(
        "CLOSE",
        &["DISCONNECT"],
        "CLOSE",
        "end the connection and stay in the client",
    ),
    word(
        "PASSIVE",
        &["PASV"],
        "PASSIVE [on | off]",
        "passive mode on or off, or the other way (the client dials the server for data)",
    )
    .reads(),
    word(
        "STATUS",
        &[],
        "STATUS",
        "show the server, the user, both folders and the mode",
    )
    .reads(),
    word(
        "BINARY",
        &["BIN", "IMAGE"],
        "BINARY",
        "files move byte for byte (the default)",
    )
    .reads(),
    word(
        "ASCII",
        &[],
        "ASCII",
        "text mode for GET and PUT: line ends CRLF on the wire, the local kind on disk",
    )
    .reads(),
    word(
        "TYPE",
        &[],
        "TYPE [binary | ascii]",
        "set the transfer type (as BINARY or ASCII), or show it",
    )
    .reads(),
    word(
        "HASH",
        &[],
        "HASH [remote [algorithm]]",
        "the server's checksum of a remote file (SHA-256, SHA-512, SHA-1, MD5, CRC32); \
         alone, as in ftp: progress is shown at a terminal already",
    )
    .takes(&[Kind::Remote, Kind::Nothing])
    .reads(),
    word(
        "VERIFY",
        &[],
        "VERIFY [on | off]",
        "check every GET and PUT against the server's checksum (HASH), or stop; alone: the other way",
    )
    .reads(),
    word(
        "RATE",
        &["LIMIT"],
        "RATE [RATE | off]",
        "limit what all transfers together move per second (500, 100K, 1.5M; K = 1024), \
         or lift the limit; alone: show it",
    ),
    word(
        "PROMPT",
        &[],
        "PROMPT",
        "MGET and MPUT never ask about each file",
    )
    .reads(),
    word(
        "HELP",
        &["?"],
        "HELP [command]",
        "list the commands, or explain one",
    )
    .takes(&[Kind::Verb, Kind::Nothing])
    .reads(),
    word(
        "EXIT",
        &["QUIT", "BYE"],
        "EXIT",
        "end the client (also QUIT, BYE, or end of input)",
    ),
];

/// The row for a typed verb or alias, in any case.
pub fn lookup(typed: &str) -> Option<&'static Word> {
    let typed = typed.to_ascii_uppercase();
    WORDS
        .iter()
        .find(|w| w.verb == typed || w.aliases.contains(&typed.as_str()))
}

/// Whether a typed line carries a password (`USER name password`), which
/// must never be written to the history.
pub fn holds_secret(line: &str) -> bool {
    let words =
        split_words(line).unwrap_or_else(|_| line.split_whitespace().map(str::to_string).collect());
    let verb = words.first().and_then(|w| lookup(w)).map(|w| w.verb);
    verb == Some("USER") && words.len() > 2
}

/// Splits a line into words: spaces separate, `"..."` and `'...'` quote, and a
/// backslash takes the next character as it is.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                let next = chars.next().ok_or("a backslash ends the line")?;
                word.get_or_insert_with(String::new).push(next);
            }
            (c, Some(q)) if c == q => quote = None,
            (c, Some(_)) => word.get_or_insert_with(String::new).push(c),
            ('"' | '\'', None) => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (c, None) if c.is_whitespace() => words.extend(word.take()),
            (c, None) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_string());
    }
    words.extend(word);
    Ok(words)
}

impl std::str::FromStr for UserCommand {
    /// What is wrong with the line, in words.
    type Err = String;

    fn from_str(line: &str) -> Result<UserCommand, String> {
        // `!command`: the rest of the line goes to the shell as typed.
        if let Some(command) = line.trim_start().strip_prefix('!') {
            return Ok(UserCommand::Shell(command.trim().to_string()));
        }
        let words = split_words(line)?;
        let Some((typed, args)) = words.split_first() else {
            return Ok(UserCommand::Nothing);
        };
        if typed.starts_with('#') {
            return Ok(UserCommand::Nothing);
        }
        let row = lookup(typed).ok_or_else(|| unknown(&typed.to_ascii_uppercase()))?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let owned = |s: &&str| s.to_string();
        let usage = || format!("usage: {}", row.usage);
        Ok(match (row.verb, &args[..]) {
            ("GET" | "REGET" | "PUT", _) => {
                transfer(row.verb, &args).map_err(|e| format!("{e}; usage: {}", row.usage))?
            }
            ("MGET", [_, ..]) => UserCommand::Mget(args.iter().map(owned).collect()),
            ("MPUT", [_, ..]) => UserCommand::Mput(args.iter().map(owned).collect()),
            ("MDELETE", [_, ..]) => UserCommand::Mdelete(args.iter().map(owned).collect()),
            ("LIST", []) => UserCommand::List(None),
            ("LIST", _) => UserCommand::List(Some(args.join(" "))),
            ("CD", [path]) => UserCommand::Cd(path.to_string()),
            ("CDUP", []) => UserCommand::Cd("..".to_string()),
            ("OPEN", [port]) if port.bytes().all(|b| b.is_ascii_digit()) => UserCommand::Open {
                host: None,
                port: parse_port(port)?,
            },
            ("OPEN", [host]) => UserCommand::Open {
                host: Some(host.to_string()),
                port: FTP_PORT,
            },
            ("OPEN", [host, port]) => UserCommand::Open {
                host: Some(host.to_string()),
                port: parse_port(port)?,
            },
            ("USER", [name]) => UserCommand::User {
                name: name.to_string(),
                password: None,
            },
            ("USER", [name, password]) => UserCommand::User {
                name: name.to_string(),
                password: Some(password.to_string()),
            },
            ("MKDIR", [path]) => UserCommand::Mkdir(path.to_string()),
            ("RMDIR", [path]) => UserCommand::Rmdir(path.to_string()),
            ("DELETE", [path]) => UserCommand::Delete(path.to_string()),
            ("RENAME", [from, to]) => UserCommand::Rename {
                from: from.to_string(),
                to: to.to_string(),
            },
            ("HELP", []) => UserCommand::Help(None),
            ("HELP", [topic]) => UserCommand::Help(Some(topic.to_ascii_uppercase())),
            ("PWD", []) => UserCommand::Pwd,
            ("LCD", []) => UserCommand::Lcd(None),
            ("LCD", [path]) => UserCommand::Lcd(Some(path.to_string())),
            ("CLOSE", []) => UserCommand::Close,
            ("EXIT", []) => UserCommand::Exit,
            ("PASSIVE", []) => UserCommand::Passive(None),
            ("PASSIVE", [on]) => UserCommand::Passive(Some(switch(on).ok_or_else(usage)?)),
            ("LPWD", []) => UserCommand::Lpwd,
            ("STATUS", []) => UserCommand::Status,
            ("BINARY", []) => UserCommand::Ascii(false),
            ("ASCII", []) => UserCommand::Ascii(true),
            ("TYPE", []) => UserCommand::Status,
            ("TYPE", [t]) if binary_type(t) => UserCommand::Ascii(false),
            ("TYPE", [t]) if matches!(t.to_ascii_lowercase().as_str(), "a" | "ascii") => {
                UserCommand::Ascii(true)
            }
            ("HASH", []) => UserCommand::Already("progress is shown at a terminal already"),
            ("HASH", [remote]) => UserCommand::Hash(remote.to_string(), None),
            ("HASH", [remote, algorithm]) => {
                UserCommand::Hash(remote.to_string(), Some(algorithm.to_string()))
            }
            ("VERIFY", []) => UserCommand::Verify(None),
            ("VERIFY", [on]) => UserCommand::Verify(Some(switch(on).ok_or_else(usage)?)),
            ("RATE", []) => UserCommand::Rate(None),
            ("RATE", [off]) if off.eq_ignore_ascii_case("off") => UserCommand::Rate(Some(None)),
            ("RATE", [rate]) => UserCommand::Rate(Some(Some(crate::data::parse_rate(rate)?))),
            ("PROMPT", _) => UserCommand::Already("MGET and MPUT never ask about each file"),
            (_, _) if !row.usage.contains(' ') => {
                return Err(format!("{} takes no arguments", typed.to_ascii_uppercase()))
            }
            _ => return Err(usage()),
        })
    }
}

/// GET, REGET and PUT with their options (`-c`, `-r`, `--delete`) before the names.
fn transfer(verb: &str, args: &[&str]) -> Result<UserCommand, String> {
    let names = args
        .iter()
        .position(|a| !a.starts_with('-'))
        .unwrap_or(args.len());
    let (mut resume, mut recursive) = (verb == "REGET", false);
    let mut mirror = Mirror::default();
    for option in &args[..names] {
        match *option {
            "-c" if verb != "PUT" => resume = true,
            "-r" if verb != "REGET" => recursive = true,
            "--delete" if verb != "REGET" => mirror.delete = true,
            "--checksum" if verb != "REGET" => mirror.checksum = true,
            other => return Err(format!("{verb} has no option {other}")),
        }
    }
    let (first, second) = match &args[names..] {
        [first] => (first.to_string(), None),
        [first, second] => (first.to_string(), Some(second.to_string())),
        _ => return Err(format!("{verb} takes one or two names")),
    };
    if mirror.delete && !recursive {
        return Err("--delete goes with -r".to_string());
    }
    if mirror.checksum && !recursive {
        return Err("--checksum goes with -r".to_string());
    }
    if resume && recursive {
        return Err("-c goes with one file, not with -r".to_string());
    }
    Ok(match (verb, recursive) {
        ("PUT", false) => UserCommand::Put {
            local: first,
            remote: second,
        },
        ("PUT", true) => UserCommand::PutTree {
            local: first,
            remote: second,
            mirror,
        },
        (_, false) => UserCommand::Get {
            remote: first,
            local: second,
            resume,
        },
        (_, true) => UserCommand::GetTree {
            remote: first,
            local: second,
            mirror,
        },
    })
}

/// FTP's own port, for a host given without one.
pub const FTP_PORT: u16 = 21;

/// `on` or `off` (also yes/no, true/false, 1/0).
fn switch(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Whether a TYPE argument names binary (RFC 959's I, or the word).
fn binary_type(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "i" | "binary" | "image" | "l" | "l8"
    )
}

fn parse_port(word: &str) -> Result<u16, String> {
    match word.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("not a port number: {word}")),
    }
}

/// The message for an unknown verb, suggesting a known one that is one edit away.
fn unknown(verb: &str) -> String {
    // `L` and a remote command is a local one that is not here: never
    // answered with the remote one (LCD, LPWD are).
    if verb.len() > 2 && verb.starts_with('L') && lookup(&verb[1..]).is_some() {
        return format!("unknown command {verb}; the local commands are LCD, LPWD and !command");
    }
    match WORDS.iter().find(|w| edit_distance(w.verb, verb) <= 1) {
        Some(w) => format!("unknown command {verb}; did you mean {}?", w.verb),
        None => format!("unknown command {verb}; type HELP for the list"),
    }
}

/// Edit distance between two short words, a swap of neighbours counting as one
/// edit (optimal string alignment), so `GTE` is one away from `GET`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// HELP's text: every command, or one explained (found by verb or alias).
pub fn help(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => Ok(WORDS
            .iter()
            .map(|w| format!("{:<26} {}\n", w.usage, w.about))
            .collect()),
        Some(t) => lookup(t)
            .map(|w| format!("{}: {}\n", w.usage, w.about))
            .ok_or_else(|| unknown(&t.to_ascii_uppercase())),
    }
}

/// Splits `-c`'s text into commands at semicolons outside quotes.
pub fn split_script(script: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quote = None;
    let mut escaped = false;
    for c in script.chars() {
        match (c, quote) {
            _ if escaped => escaped = false,
            ('\\', _) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (';', None) => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("never empty").push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<UserCommand, String> {
        line.parse()
    }

    #[test]
    fn words_split_on_spaces_and_respect_quotes() {
        assert_eq!(
            split_words("GET  \"my notes.txt\"  b").unwrap(),
            ["GET", "my notes.txt", "b"]
        );
        assert_eq!(
            split_words("put my\\ notes.txt 'it''s'").unwrap(),
            ["put", "my notes.txt", "its"]
        );
        assert_eq!(split_words("get \"\"").unwrap(), ["get", ""]);
        assert_eq!(split_words("'a\\b'").unwrap(), ["a\\b"]);
        assert!(split_words("get \"open").is_err());
        assert!(split_words("get a\\").is_err());
    }

    #[test]
    fn verbs_are_case_insensitive() {
        let get = UserCommand::Get {
            remote: "a b".into(),
            local: None,
            resume: false,
        };
        assert_eq!(parse("get \"a b\""), Ok(get.clone()));
        assert_eq!(parse("GeT 'a b'"), Ok(get));
        assert_eq!(parse("quit"), Ok(UserCommand::Exit));
        assert_eq!(parse("Exit"), Ok(UserCommand::Exit));
        assert_eq!(parse("   "), Ok(UserCommand::Nothing));
        assert_eq!(parse("# a comment"), Ok(UserCommand::Nothing));
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            parse("PUT a b"),
            Ok(UserCommand::Put {
                local: "a".into(),
                remote: Some("b".into())
            })
        );
        assert_eq!(
            parse("get -c big.iso"),
            Ok(UserCommand::Get {
                remote: "big.iso".into(),
                local: None,
                resume: true
            })
        );
        assert_eq!(
            parse("open 6789"),
            Ok(UserCommand::Open {
                host: None,
                port: 6789
            })
        );
        assert_eq!(
            parse("open ::1 21"),
            Ok(UserCommand::Open {
                host: Some("::1".into()),
                port: 21
            })
        );
        assert_eq!(
            parse("GET"),
            Err(
                "GET takes one or two names; usage: GET [-c | -r [--delete] [--checksum]] remote [local]".into()
            )
        );
        assert_eq!(
            parse("PUT a b c"),
            Err("PUT takes one or two names; usage: PUT [-r [--delete] [--checksum]] local [remote]".into())
        );
        let tree = |remote: &str, delete, checksum| UserCommand::GetTree {
            remote: remote.into(),
            local: None,
            mirror: Mirror { delete, checksum },
        };
        assert_eq!(parse("get -r photos"), Ok(tree("photos", false, false)));
        assert_eq!(
            parse("GET -r --delete photos"),
            Ok(tree("photos", true, false))
        );
        assert_eq!(
            parse("GET --delete -r photos"),
            Ok(tree("photos", true, false))
        );
        assert_eq!(
            parse("GET -r --checksum --delete photos"),
            Ok(tree("photos", true, true))
        );
        assert_eq!(
            parse("PUT -r --delete photos up"),
            Ok(UserCommand::PutTree {
                local: "photos".into(),
                remote: Some("up".into()),
                mirror: Mirror {
                    delete: true,
                    checksum: false
                }
            })
        );
        for (line, why) in [
            ("GET --delete a", "--delete goes with -r"),
            ("PUT --checksum a", "--checksum goes with -r"),
            ("GET -c -r a", "-c goes with one file, not with -r"),
            ("PUT -c a", "PUT has no option -c"),
            ("REGET -r a", "REGET has no option -r"),
            ("GET -x a", "GET has no option -x"),
        ] {
            let said = parse(line).unwrap_err();
            assert!(said.starts_with(why), "{line}: {said}");
        }
        assert_eq!(
            parse("OPEN host 99999"),
            Err("not a port number: 99999".into())
        );
        assert_eq!(parse("CLOSE now"), Err("CLOSE takes no arguments".into()));
    }

    #[test]
    fn unknown_verbs_suggest_a_close_one() {
        assert_eq!(
            parse("GTE a"),
            Err("unknown command GTE; did you mean GET?".into())
        );
        assert_eq!(
            parse("LSIT"),
            Err("unknown command LSIT; did you mean LIST?".into())
        );
        assert_eq!(
            parse("FROB"),
            Err("unknown command FROB; type HELP for the list".into())
        );
    }

    /// A line that follows a usage row: `[-c]` kept as `-c` (or dropped), other
    /// optional words filled in (or dropped), placeholders given sample values.
    fn example(usage: &str, full: bool) -> String {
        // Of `a | b`, the full line takes `b`.
        let words: Vec<&str> = usage.split(' ').collect();
        let chosen =
            (0..words.len()).filter(|&i| words[i] != "|" && words.get(i + 1) != Some(&"|"));
        chosen
            .map(|i| words[i])
            .filter(|w| full || !w.starts_with('['))
            .map(
                |w| match w.trim_matches(['[', ']']).trim_end_matches("...") {
                    "port" => "6789",
                    "command" => "ls",
                    "pattern" => "*.txt",
                    "from" => "a.txt",
                    "to" => "b.txt",
                    other => other,
                },
            )
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn every_help_row_parses_and_every_command_has_a_row() {
        for row in WORDS {
            for full in [false, true] {
                let line = example(row.usage, full);
                let cmd: UserCommand = line.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_ne!(cmd, UserCommand::Nothing, "{line}");
                for alias in row.aliases {
                    let aliased = line.replacen(row.verb, alias, 1);
                    assert_eq!(aliased.parse::<UserCommand>(), Ok(cmd.clone()), "{aliased}");
                }
            }
            let one = help(Some(&row.verb.to_ascii_lowercase())).unwrap();
            assert_eq!(one, format!("{}: {}\n", row.usage, row.about));
            assert!(help(None).unwrap().contains(row.usage));
        }
        assert!(help(Some("LS")).unwrap().starts_with("LIST"));
        assert!(help(Some("NOPE")).is_err());
    }

    #[test]
    fn scripts_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_script("GET a; PUT \"b;c\""),
            ["GET a", " PUT \"b;c\""]
        );
        assert_eq!(split_script("GET a\\;b"), ["GET a\\;b"]);
    }
}
