//! The client's user vocabulary, apart from the wire's: splitting a typed line
//! into words (quotes and backslashes), the `UserCommand` each line means, the
//! help texts, and human-readable sizes, durations and rates. Pure functions,
//! so the client binary stays a thin loop.

use std::time::Duration;

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
    /// GET every remote file matching any of these `*`/`?` patterns.
    Mget(Vec<String>),
    /// PUT every local file matching any of these patterns.
    Mput(Vec<String>),
    List(Option<String>),
    Cd(String),
    Pwd,
    Open {
        host: Option<String>,
        port: u16,
    },
    Close,
    Exit,
    Help(Option<String>),
    Passive,
    /// A blank line or a `#` comment.
    Nothing,
}

/// One line of help per command, in the order HELP shows them.
pub const HELP: &[(&str, &str, &str)] = &[
    (
        "GET",
        "GET [-c] remote [local]",
        "download a file into the local folder (-c resumes a partial one)",
    ),
    (
        "REGET",
        "REGET remote [local]",
        "resume a partial download (same as GET -c)",
    ),
    ("PUT", "PUT local [remote]", "upload a file"),
    (
        "MGET",
        "MGET pattern...",
        "download every remote file matching a pattern (* and ?)",
    ),
    (
        "MPUT",
        "MPUT pattern...",
        "upload every local file matching a pattern (* and ?)",
    ),
    (
        "LIST",
        "LIST [path]",
        "list a remote folder (alias LS, DIR)",
    ),
    ("CD", "CD path", "change the remote folder"),
    ("PWD", "PWD", "show the remote folder"),
    (
        "OPEN",
        "OPEN [host] port",
        "connect to a server (host defaults to 127.0.0.1)",
    ),
    (
        "CLOSE",
        "CLOSE",
        "end the connection and stay in the client",
    ),
    (
        "PASSIVE",
        "PASSIVE",
        "toggle passive mode (the client dials the server for data)",
    ),
    (
        "HELP",
        "HELP [command]",
        "list the commands, or explain one",
    ),
    (
        "EXIT",
        "EXIT",
        "end the client (also QUIT, BYE, or end of input)",
    ),
];

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

fn usage(verb: &str) -> String {
    let line = HELP
        .iter()
        .find(|(v, _, _)| *v == verb)
        .map_or(verb, |(_, u, _)| u);
    format!("usage: {line}")
}

impl std::str::FromStr for UserCommand {
    /// What is wrong with the line, in words.
    type Err = String;

    fn from_str(line: &str) -> Result<UserCommand, String> {
        let words = split_words(line)?;
        let Some((verb, args)) = words.split_first() else {
            return Ok(UserCommand::Nothing);
        };
        if verb.starts_with('#') {
            return Ok(UserCommand::Nothing);
        }
        let verb = verb.to_ascii_uppercase();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let owned = |s: &&str| s.to_string();
        Ok(match (verb.as_str(), &args[..]) {
            ("GET" | "RECV", ["-c", remote, rest @ ..]) | ("REGET", [remote, rest @ ..])
                if rest.len() <= 1 =>
            {
                UserCommand::Get {
                    remote: remote.to_string(),
                    local: rest.first().map(owned),
                    resume: true,
                }
            }
            ("GET" | "RECV", [remote, rest @ ..]) if rest.len() <= 1 => UserCommand::Get {
                remote: remote.to_string(),
                local: rest.first().map(owned),
                resume: false,
            },
            ("GET" | "RECV", _) => return Err(usage("GET")),
            ("REGET", _) => return Err(usage("REGET")),
            ("PUT" | "SEND", [local, rest @ ..]) if rest.len() <= 1 => UserCommand::Put {
                local: local.to_string(),
                remote: rest.first().map(owned),
            },
            ("PUT" | "SEND", _) => return Err(usage("PUT")),
            ("MGET", [_, ..]) => UserCommand::Mget(args.iter().map(owned).collect()),
            ("MPUT", [_, ..]) => UserCommand::Mput(args.iter().map(owned).collect()),
            ("MGET", []) => return Err(usage("MGET")),
            ("MPUT", []) => return Err(usage("MPUT")),
            ("LIST" | "LS" | "DIR", []) => UserCommand::List(None),
            ("LIST" | "LS" | "DIR", [path]) => UserCommand::List(Some(path.to_string())),
            ("LIST" | "LS" | "DIR", _) => return Err(usage("LIST")),
            ("CD" | "CWD", [path]) => UserCommand::Cd(path.to_string()),
            ("CD" | "CWD", _) => return Err(usage("CD")),
            ("PWD", []) => UserCommand::Pwd,
            ("OPEN", [port]) => UserCommand::Open {
                host: None,
                port: parse_port(port)?,
            },
            ("OPEN", [host, port]) => UserCommand::Open {
                host: Some(host.to_string()),
                port: parse_port(port)?,
            },
            ("OPEN", _) => return Err(usage("OPEN")),
            ("CLOSE" | "DISCONNECT", []) => UserCommand::Close,
            ("EXIT" | "QUIT" | "BYE", []) => UserCommand::Exit,
            ("HELP" | "?", []) => UserCommand::Help(None),
            ("HELP" | "?", [topic]) => UserCommand::Help(Some(topic.to_ascii_uppercase())),
            ("PASSIVE" | "PASV", []) => UserCommand::Passive,
            ("PWD" | "CLOSE" | "DISCONNECT" | "EXIT" | "QUIT" | "BYE" | "PASSIVE" | "PASV", _) => {
                return Err(format!("{verb} takes no arguments"))
            }
            ("HELP" | "?", _) => return Err(usage("HELP")),
            _ => return Err(unknown(&verb)),
        })
    }
}

fn parse_port(word: &str) -> Result<u16, String> {
    match word.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("not a port number: {word}")),
    }
}

/// The message for an unknown verb, suggesting a known one that is one or two edits away.
fn unknown(verb: &str) -> String {
    let close = HELP
        .iter()
        .map(|(v, _, _)| *v)
        .find(|v| edit_distance(v, verb) <= 1);
    match close {
        Some(v) => format!("unknown command {verb}; did you mean {v}?"),
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

/// Whether `name` matches `pattern`, where `*` stands for any run of characters
/// and `?` for any one character (shell globbing without brackets); as in a
/// shell, a leading dot must be matched by a dot.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and where in the name its match would resume.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(&c) if c == '?' || c == n[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// HELP's text: every command, or one explained.
pub fn help(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => Ok(HELP
            .iter()
            .map(|(_, u, d)| format!("{u:<26} {d}\n"))
            .collect()),
        Some(t) => {
            let t = match t {
                "LS" | "DIR" => "LIST",
                "QUIT" | "BYE" => "EXIT",
                "RECV" => "GET",
                "SEND" => "PUT",
                other => other,
            };
            HELP.iter()
                .find(|(v, _, _)| *v == t)
                .map(|(_, u, d)| format!("{u}: {d}\n"))
                .ok_or_else(|| unknown(t))
        }
    }
}

/// `0 B`, `512 B`, `4.2 KiB`, `18.0 MiB`: binary units, one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `3 ms` below a tenth of a second, `0.21 s` below a minute, `2 min 5 s` above.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100 {
        format!("{ms} ms")
    } else if d.as_secs() < 60 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Bytes per second in human units, `1.3 MiB/s`.
pub fn human_rate(bytes: u64, d: Duration) -> String {
    let secs = d.as_secs_f64().max(1e-6);
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
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
        assert_eq!(parse("GET"), Err("usage: GET [-c] remote [local]".into()));
        assert_eq!(parse("PUT a b c"), Err("usage: PUT local [remote]".into()));
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

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("*.txt", "notes.txt"));
        assert!(!glob_match("*.txt", ".hidden.txt"));
        assert!(glob_match(".*", ".hidden.txt"));
        assert!(!glob_match("*.txt", "notes.txt.bak"));
        assert!(glob_match("f??.dat", "f01.dat"));
        assert!(!glob_match("f??.dat", "f1.dat"));
        assert!(glob_match("*a*b*", "xxaYYbzz"));
        assert!(glob_match("*", ""));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert_eq!(
            parse("mget *.txt a?"),
            Ok(UserCommand::Mget(vec!["*.txt".into(), "a?".into()]))
        );
        assert_eq!(parse("MPUT"), Err("usage: MPUT pattern...".into()));
    }

    #[test]
    fn help_covers_every_command() {
        let all = help(None).unwrap();
        for (verb, _, _) in HELP {
            assert!(all.contains(verb));
        }
        assert!(help(Some("GET"))
            .unwrap()
            .starts_with("GET [-c] remote [local]:"));
        assert!(help(Some("LS")).unwrap().starts_with("LIST"));
        assert!(help(Some("NOPE")).is_err());
    }

    #[test]
    fn sizes_durations_and_rates_read_at_a_glance() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(4300), "4.2 KiB");
        assert_eq!(human_bytes(18 << 20), "18.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(human_duration(Duration::from_millis(3)), "3 ms");
        assert_eq!(human_duration(Duration::from_millis(210)), "0.21 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(human_rate(1 << 20, Duration::from_millis(500)), "2.0 MiB/s");
    }
}
