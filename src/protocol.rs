//! The wire vocabulary: FTP commands and replies as plain data, how they are
//! parsed from and written to the control connection, and the host-port
//! notations of PORT/PASV (RFC 959) and EPRT/EPSV (RFC 2428). No sockets here:
//! everything reads from a `BufRead` or returns a value, so it is all tested
//! on byte strings.

use std::fmt;
use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::str::FromStr;

use crate::digest::Algorithm;
use crate::time::Civil;

/// The longest control line either side accepts, CRLF included. Anything longer
/// is refused without being buffered.
pub const MAX_LINE: usize = 4096;

/// The last line's text of a TREE reply that holds the whole tree; any other
/// says why the tree stopped short.
pub const TREE_END: &str = "End of tree.";

/// The most lines a multi-line reply may have before we call the peer broken.
const MAX_REPLY_LINES: usize = 10_000;

/// One line read from a control connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line's bytes without the line ending (CRLF or a bare LF).
    Text(Vec<u8>),
    /// The line is longer than the limit; nothing past the limit was read.
    TooLong,
    /// The peer closed the connection (a last line without an ending counts as a line).
    Eof,
}

/// Reads one line of at most `max` bytes (RFC 959 §4.1: lines end in CRLF; a bare
/// LF is accepted too, as every real server does). Memory use is bounded by `max`.
pub fn read_line(r: &mut impl BufRead, max: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                Line::Eof
            } else {
                Line::Text(line)
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1),
            None => (buf, 0),
        };
        // The line so far, this chunk and the LF that must still end it.
        if line.len() + chunk.len() + 1 > max {
            return Ok(Line::TooLong);
        }
        line.extend_from_slice(chunk);
        if done > 0 {
            r.consume(done);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Text(line));
        }
        let n = chunk.len();
        r.consume(n);
    }
}

/// Removes Telnet IAC sequences (RFC 854), which some clients put before ABOR;
/// `IAC IAC` stands for a literal 0xFF byte. The BSD clients send ABOR after
/// `IAC IP IAC` as urgent data and then `DM ABOR`: the urgent byte (the second
/// IAC) leaves the stream, so the line arrives as `IAC IP DM ABOR` and the Data
/// Mark stands alone. A line never starts with 0xF2 otherwise (in UTF-8 it
/// would begin a four-byte character, never a verb), so a leading one goes too.
pub fn strip_telnet(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            0xFF => match bytes.peek() {
                Some(0xFF) => {
                    out.push(0xFF);
                    bytes.next();
                }
                // WILL, WONT, DO, DONT and their option.
                Some(0xFB..=0xFE) => {
                    bytes.next();
                    bytes.next();
                }
                Some(0xF0..=0xFA) => {
                    bytes.next();
                }
                // An IAC whose command went as urgent data.
                _ => {}
            },
            0xF2 if out.is_empty() => {}
            _ => out.push(b),
        }
    }
    out
}

/// A command sent on the control connection, as RFC 959, 2428 and 3659 define it.
/// Only the commands dialback implements are here; any other verb parses to a 502.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Syst,
    Feat,
    Opts(String),
    /// `TYPE A`, `TYPE I` or `TYPE L 8`; every type moves bytes unchanged.
    Type(char),
    Mode(char),
    Stru(char),
    Pwd,
    Cwd(String),
    Cdup,
    Noop,
    Size(String),
    Mdtm(String),
    Port(SocketAddr),
    Eprt(SocketAddr),
    Pasv,
    Epsv(Option<String>),
    Retr(String),
    Stor(String),
    Appe(String),
    /// The size of the coming upload (RFC 959 §4.1.3), which lets the server tell a
    /// complete upload from a sender that died.
    Allo(u64),
    Rest(u64),
    List(Option<String>),
    Nlst(Option<String>),
    Mlsd(Option<String>),
    Mlst(Option<String>),
    /// `TREE [path]`, our own extension (announced in FEAT): every file and
    /// folder below a folder, in MLSD's facts with paths below it, over the
    /// control connection as one 213 reply, so a mirror reads a whole tree
    /// in one round trip.
    Tree(Option<String>),
    Abor,
    Stat(Option<String>),
    Help(Option<String>),
    Quit,
    /// Log out and start over, keeping the connection (RFC 959 §4.1.1).
    Rein,
    /// Make a folder (RFC 959 §4.1.3; XMKD is RFC 775's name for it).
    Mkd(String),
    /// Remove an empty folder.
    Rmd(String),
    /// Delete a file.
    Dele(String),
    /// Rename from: the first half of a rename; RNTO must come next.
    Rnfr(String),
    /// Rename to.
    Rnto(String),
    /// Set a file's modification time (draft-somers-ftp-mfxx): `YYYYMMDDHHMMSS` UTC, then the path.
    Mfmt(Civil, String),
    /// `SITE CHMOD mode path`: a file's or folder's permission bits (the low nine).
    SiteChmod(u32, String),
    /// `SITE HELP`.
    SiteHelp,
    /// `CLNT name`: the client says what program it is (Serv-U's extension).
    Clnt(String),
    /// `HASH path` (draft-bryan-ftpext-hash): the file's checksum, in the
    /// algorithm `OPTS HASH` chose.
    Hash(String),
    /// `XSHA256`, `XSHA1`, `XMD5`, `XCRC path [start [end]]`: a checksum in a
    /// fixed algorithm, as proftpd's mod_digest answers it (250 and the hex).
    XHash(Algorithm, String, Option<(u64, Option<u64>)>),
}

/// One row per verb the server implements: its names (the first is the one
/// HELP shows; the others are RFC 775's X-names), one valid line (what the
/// parser is tested against), its FEAT line if it has one (RFC 2389), and how
/// its argument becomes a [`Command`]. Adding a verb adds a variant, a row,
/// and a `Display` arm here; the server's gate and session tables are
/// exhaustive matches, so the compiler asks for the rest.
pub struct Verb {
    pub names: &'static [&'static str],
    pub example: &'static str,
    pub feat: Option<&'static str>,
    parse: fn(Arg) -> Result<Command, Reply>,
}

/// The verbs, in alphabetical order.
pub const VERBS: &[Verb] = &[
    Verb {
        names: &["ABOR"],
        example: "ABOR",
        feat: None,
        parse: |a| a.none(Command::Abor),
    },
    Verb {
        names: &["ALLO"],
        example: "ALLO 10",
        feat: None,
        parse: |a| Ok(Command::Allo(parse_allo(&a.needs("a size")?)?)),
    },
    Verb {
        names: &["APPE"],
        example: "APPE a",
        feat: None,
        parse: |a| Ok(Command::Appe(a.path()?)),
    },
    Verb {
        names: &["CDUP", "XCUP"],
        example: "CDUP",
        feat: None,
        parse: |a| a.none(Command::Cdup),
    },
    Verb {
        names: &["CLNT"],
        example: "CLNT dialback 0.1.0",
        feat: None,
        parse: |a| Ok(Command::Clnt(a.needs("a client name")?)),
    },
    Verb {
        names: &["CWD", "XCWD"],
        example: "CWD a",
        feat: None,
        parse: |a| Ok(Command::Cwd(a.path()?)),
    },
    Verb {
        names: &["DELE"],
        example: "DELE a",
        feat: None,
        parse: |a| Ok(Command::Dele(a.path()?)),
    },
    Verb {
        names: &["EPRT"],
        example: "EPRT |1|127.0.0.1|5000|",
        feat: Some("EPRT"),
        parse: |a| {
            let bad = || syntax("EPRT wants |1|IPv4|port| or |2|IPv6|port|.");
            Ok(Command::Eprt(
                parse_eprt(&a.needs("an address")?).ok_or_else(bad)?,
            ))
        },
    },
    Verb {
        names: &["EPSV"],
        example: "EPSV",
        feat: Some("EPSV"),
        parse: |a| Ok(Command::Epsv(a.optional())),
    },
    Verb {
        names: &["FEAT"],
        example: "FEAT",
        feat: None,
        parse: |a| a.none(Command::Feat),
    },
    Verb {
        names: &["HASH"],
        example: "HASH a",
        feat: Some("HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32"),
        parse: |a| Ok(Command::Hash(a.path()?)),
    },
    Verb {
        names: &["HELP"],
        example: "HELP",
        feat: None,
        parse: |a| Ok(Command::Help(a.optional())),
    },
    Verb {
        names: &["LIST"],
        example: "LIST",
        feat: None,
        parse: |a| Ok(Command::List(a.optional())),
    },
    Verb {
        names: &["MDTM"],
        example: "MDTM a",
        feat: Some("MDTM"),
        parse: |a| Ok(Command::Mdtm(a.path()?)),
    },
    Verb {
        names: &["MFMT"],
        example: "MFMT 20261121070511 a",
        feat: Some("MFMT"),
        parse: |a| {
            let arg = a.needs("a time and a pathname")?;
            let bad = || syntax("MFMT wants YYYYMMDDHHMMSS and a pathname.");
            let (time, path) = arg.split_once(' ').ok_or_else(bad)?;
            let time = Civil::parse_compact(time).ok_or_else(bad)?;
            Ok(Command::Mfmt(time, path.to_string()))
        },
    },
    Verb {
        names: &["MKD", "XMKD"],
        example: "MKD a",
        feat: None,
        parse: |a| Ok(Command::Mkd(a.path()?)),
    },
    Verb {
        names: &["MLSD"],
        example: "MLSD",
        feat: None,
        parse: |a| Ok(Command::Mlsd(a.optional())),
    },
    Verb {
        names: &["MLST"],
        example: "MLST a",
        feat: Some("MLST type*;size*;modify*;"),
        parse: |a| Ok(Command::Mlst(a.optional())),
    },
    Verb {
        names: &["MODE"],
        example: "MODE S",
        feat: None,
        parse: |a| Ok(Command::Mode(parse_letter(&a.needs("a mode")?, "SB")?)),
    },
    Verb {
        names: &["NLST"],
        example: "NLST",
        feat: None,
        parse: |a| Ok(Command::Nlst(a.optional())),
    },
    Verb {
        names: &["NOOP"],
        example: "NOOP",
        feat: None,
        parse: |a| a.none(Command::Noop),
    },
    Verb {
        names: &["OPTS"],
        example: "OPTS UTF8 ON",
        feat: Some("UTF8"),
        parse: |a| Ok(Command::Opts(a.needs("an option")?)),
    },
    Verb {
        names: &["PASS"],
        example: "PASS x",
        feat: None,
        parse: |a| Ok(Command::Pass(a.text.unwrap_or("").to_string())),
    },
    Verb {
        names: &["PASV"],
        example: "PASV",
        feat: Some("PASV"),
        parse: |a| a.none(Command::Pasv),
    },
    Verb {
        names: &["PORT"],
        example: "PORT 127,0,0,1,19,137",
        feat: None,
        parse: |a| {
            let bad = || syntax("PORT wants h1,h2,h3,h4,p1,p2 with numbers 0-255.");
            let addr = parse_port(&a.needs("an address")?).ok_or_else(bad)?;
            Ok(Command::Port(SocketAddr::V4(addr)))
        },
    },
    Verb {
        names: &["PWD", "XPWD"],
        example: "PWD",
        feat: None,
        parse: |a| a.none(Command::Pwd),
    },
    Verb {
        names: &["QUIT"],
        example: "QUIT",
        feat: None,
        parse: |a| a.none(Command::Quit),
    },
    Verb {
        names: &["REIN"],
        example: "REIN",
        feat: None,
        parse: |a| a.none(Command::Rein),
    },
    Verb {
        names: &["REST"],
        example: "REST 5",
        feat: Some("REST STREAM"),
        parse: |a| {
            let bad = |_| syntax("REST wants a byte offset from 0 to 18446744073709551615.");
            Ok(Command::Rest(a.needs("an offset")?.parse().map_err(bad)?))
        },
    },
    Verb {
        names: &["RETR"],
        example: "RETR a",
        feat: None,
        parse: |a| Ok(Command::Retr(a.path()?)),
    },
    Verb {
        names: &["RMD", "XRMD"],
        example: "RMD a",
        feat: None,
        parse: |a| Ok(Command::Rmd(a.path()?)),
    },
    Verb {
        names: &["RNFR"],
        example: "RNFR a",
        feat: None,
        parse: |a| Ok(Command::Rnfr(a.path()?)),
    },
    Verb {
        names: &["RNTO"],
        example: "RNTO b",
        feat: None,
        parse: |a| Ok(Command::Rnto(a.path()?)),
    },
    Verb {
        names: &["SITE"],
        example: "SITE CHMOD 640 a",
        feat: None,
        parse: |a| parse_site(&a.needs("a command")?),
    },
    Verb {
        names: &["SIZE"],
        example: "SIZE a",
        feat: Some("SIZE"),
        parse: |a| Ok(Command::Size(a.path()?)),
    },
    Verb {
        names: &["STAT"],
        example: "STAT",
        feat: None,
        parse: |a| Ok(Command::Stat(a.optional())),
    },
    Verb {
        names: &["STOR"],
        example: "STOR a",
        feat: None,
        parse: |a| Ok(Command::Stor(a.path()?)),
    },
    Verb {
        names: &["STRU"],
        example: "STRU F",
        feat: None,
        parse: |a| Ok(Command::Stru(parse_letter(&a.needs("a structure")?, "F")?)),
    },
    Verb {
        names: &["SYST"],
        example: "SYST",
        feat: None,
        parse: |a| a.none(Command::Syst),
    },
    Verb {
        names: &["TREE"],
        example: "TREE",
        feat: Some("TREE"),
        parse: |a| Ok(Command::Tree(a.optional())),
    },
    Verb {
        names: &["TYPE"],
        example: "TYPE I",
        feat: None,
        parse: |a| Ok(Command::Type(parse_type(&a.needs("a type")?)?)),
    },
    Verb {
        names: &["USER"],
        example: "USER a",
        feat: None,
        parse: |a| Ok(Command::User(a.needs("a user name")?)),
    },
    Verb {
        names: &["XCRC"],
        example: "XCRC a",
        feat: None,
        parse: |a| x_hash(a, Algorithm::Crc32),
    },
    Verb {
        names: &["XMD5"],
        example: "XMD5 a",
        feat: None,
        parse: |a| x_hash(a, Algorithm::Md5),
    },
    Verb {
        names: &["XSHA1"],
        example: "XSHA1 a",
        feat: None,
        parse: |a| x_hash(a, Algorithm::Sha1),
    },
    Verb {
        names: &["XSHA256"],
        example: "XSHA256 a",
        feat: None,
        parse: |a| x_hash(a, Algorithm::Sha256),
    },
];

/// A verb's argument, as the parser sees it.
#[derive(Clone, Copy)]
struct Arg<'a> {
    verb: &'a str,
    text: Option<&'a str>,
}

impl Arg<'_> {
    /// The argument, which must be there.
    fn needs(self, what: &str) -> Result<String, Reply> {
        match self.text {
            Some(a) if !a.is_empty() => Ok(a.to_string()),
            _ => Err(syntax(&format!("{} needs {what}.", self.verb))),
        }
    }

    fn path(self) -> Result<String, Reply> {
        self.needs("a pathname")
    }

    /// `cmd`, for a verb that takes no argument.
    fn none(self, cmd: Command) -> Result<Command, Reply> {
        match self.text {
            None => Ok(cmd),
            Some(_) => Err(syntax(&format!("{} takes no argument.", self.verb))),
        }
    }

    fn optional(self) -> Option<String> {
        self.text.filter(|a| !a.is_empty()).map(str::to_string)
    }
}

/// An X-command (proftpd's mod_digest): a path, then perhaps a range.
fn x_hash(a: Arg, algorithm: Algorithm) -> Result<Command, Reply> {
    let (path, range) = split_range(&a.path()?);
    Ok(Command::XHash(algorithm, path, range))
}

/// Splits the numbers an X-command may end with (a start, then an end) off
/// its path, as proftpd reads them; a path that is only numbers stays whole.
fn split_range(arg: &str) -> (String, Option<(u64, Option<u64>)>) {
    let words: Vec<&str> = arg.rsplitn(3, ' ').collect();
    let num = |w: &str| w.parse::<u64>().ok();
    match words.as_slice() {
        [end, start, path] if num(start).is_some() && num(end).is_some() && !path.is_empty() => {
            (path.to_string(), num(start).map(|s| (s, num(end))))
        }
        [start, path, ..] if num(start).is_some() && !path.is_empty() => {
            let path = arg[..arg.len() - start.len() - 1].to_string();
            (path, num(start).map(|s| (s, None)))
        }
        _ => (arg.to_string(), None),
    }
}

/// Splits `VERB arg` at the first space; the argument keeps inner and trailing
/// spaces, since a pathname may contain them (RFC 959 §5.3.2).
fn split_verb(line: &str) -> (&str, Option<&str>) {
    match line.split_once(' ') {
        Some((verb, arg)) => (verb, Some(arg)),
        None => (line, None),
    }
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, text)
}

impl FromStr for Command {
    /// A parse failure is the reply to send back: 500 for a line that is not a
    /// command, 501 for bad arguments, 502 for a verb we do not implement,
    /// 504 for a parameter we do not support.
    type Err = Reply;

    fn from_str(line: &str) -> Result<Command, Reply> {
        let (verb, text) = split_verb(line);
        // Verbs are letters (XSHA256 and XSHA1, proftpd's, end in digits).
        let letters = verb.bytes().take_while(u8::is_ascii_alphabetic).count();
        if letters == 0 || verb.len() > 7 || !verb.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Reply::new(500, "Syntax error, command unrecognized."));
        }
        let verb = verb.to_ascii_uppercase();
        match VERBS.iter().find(|v| v.names.contains(&verb.as_str())) {
            Some(row) => (row.parse)(Arg { verb: &verb, text }),
            None => Err(Reply::new(
                502,
                &format!("Command not implemented: {verb}."),
            )),
        }
    }
}

/// `SITE CHMOD mode path` (mode in octal, the low nine bits) and `SITE HELP`.
fn parse_site(arg: &str) -> Result<Command, Reply> {
    let (sub, rest) = arg.split_once(' ').unwrap_or((arg, ""));
    match sub.to_ascii_uppercase().as_str() {
        "HELP" => Ok(Command::SiteHelp),
        "CHMOD" => {
            let bad = || syntax("SITE CHMOD wants an octal mode (up to 777) and a pathname.");
            let (mode, path) = rest.split_once(' ').ok_or_else(bad)?;
            let mode = u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o777);
            match (mode, path) {
                (Some(m), p) if !p.is_empty() => Ok(Command::SiteChmod(m, p.to_string())),
                _ => Err(bad()),
            }
        }
        _ => Err(Reply::new(504, "SITE takes CHMOD or HELP.")),
    }
}

/// `TYPE A [N]`, `TYPE I`, `TYPE L 8` (RFC 959 §4.1.2); the others are valid but unsupported.
fn parse_type(arg: &str) -> Result<char, Reply> {
    match arg.to_ascii_uppercase().as_str() {
        "A" | "A N" => Ok('A'),
        "I" | "L 8" => Ok('I'),
        "E" | "A T" | "A C" | "E N" | "E T" | "E C" => Err(Reply::new(504, "Only types A and I.")),
        _ => Err(syntax("Unknown type.")),
    }
}

/// MODE and STRU take one letter, of those `supported`: stream and block
/// modes, file structure.
fn parse_letter(arg: &str, supported: &str) -> Result<char, Reply> {
    let upper = arg.to_ascii_uppercase();
    match upper.as_str() {
        s if s.len() == 1 && supported.contains(s) => Ok(s.chars().next().unwrap_or('S')),
        "S" | "B" | "C" | "F" | "R" | "P" => Err(Reply::new(504, "Parameter not supported.")),
        _ => Err(syntax("Unknown parameter.")),
    }
}

/// `ALLO n` or `ALLO n R m` (RFC 959 §4.1.3): the size is the first number.
fn parse_allo(arg: &str) -> Result<u64, Reply> {
    let first = arg.split(' ').next().unwrap_or("");
    first
        .parse()
        .map_err(|_| syntax("ALLO wants a size in bytes."))
}

/// Parses the `h1,h2,h3,h4,p1,p2` of PORT and of a PASV reply (RFC 959 §4.1.2).
pub fn parse_port(arg: &str) -> Option<SocketAddrV4> {
    let mut n = [0u8; 6];
    let mut parts = arg.trim().split(',');
    for slot in &mut n {
        let part = parts.next()?.trim();
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    Some(SocketAddrV4::new(ip, u16::from_be_bytes([n[4], n[5]])))
}

/// Formats an IPv4 address and port as `h1,h2,h3,h4,p1,p2`.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// Parses EPRT's `<d>proto<d>address<d>port<d>` (RFC 2428 §2), where `d` is any
/// printable ASCII character and proto is 1 (IPv4) or 2 (IPv6).
pub fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let d = arg.chars().next().filter(|c| c.is_ascii_graphic())?;
    let fields: Vec<&str> = arg[1..].strip_suffix(d)?.split(d).collect();
    let [proto, ip, port] = fields[..] else {
        return None;
    };
    let port: u16 = port.parse().ok()?;
    let ip: IpAddr = match proto {
        "1" => IpAddr::V4(ip.parse().ok()?),
        "2" => IpAddr::V6(ip.parse().ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Formats an address as EPRT's `|1|a.b.c.d|port|` or `|2|v6|port|`.
pub fn format_eprt(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

/// Finds the address in a 227 reply's text, wherever the server put it (RFC 1123
/// §4.1.2.6: clients must scan for the first digit).
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddrV4> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ','))
        .unwrap_or(rest.len());
    parse_port(&rest[..end])
}

/// Finds the port in a 229 reply's `(<d><d><d>port<d>)` (RFC 2428 §3).
pub fn parse_epsv_reply(text: &str) -> Option<u16> {
    let inner = &text[text.find('(')? + 1..];
    let inner = &inner[..inner.find(')')?];
    let d = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(d).collect();
    match fields[..] {
        ["", "", "", port, ""] => port.parse().ok(),
        _ => None,
    }
}

impl fmt::Display for Command {
    /// The command as it goes on the wire, without the CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |f: &mut fmt::Formatter<'_>, verb: &str, arg: &Option<String>| match arg {
            Some(a) => write!(f, "{verb} {a}"),
            None => f.write_str(verb),
        };
        match self {
            Command::User(s) => write!(f, "USER {s}"),
            Command::Pass(s) => write!(f, "PASS {s}"),
            Command::Syst => f.write_str("SYST"),
            Command::Feat => f.write_str("FEAT"),
            Command::Opts(s) => write!(f, "OPTS {s}"),
            Command::Type(c) => write!(f, "TYPE {c}"),
            Command::Mode(c) => write!(f, "MODE {c}"),
            Command::Stru(c) => write!(f, "STRU {c}"),
            Command::Pwd => f.write_str("PWD"),
            Command::Cwd(s) => write!(f, "CWD {s}"),
            Command::Cdup => f.write_str("CDUP"),
            Command::Noop => f.write_str("NOOP"),
            Command::Clnt(s) => write!(f, "CLNT {s}"),
            Command::Hash(s) => write!(f, "HASH {s}"),
            Command::XHash(algorithm, s, range) => {
                let verb = match algorithm {
                    Algorithm::Crc32 => "XCRC",
                    Algorithm::Md5 => "XMD5",
                    Algorithm::Sha1 => "XSHA1",
                    Algorithm::Sha256 | Algorithm::Sha512 => "XSHA256",
                };
                write!(f, "{verb} {s}")?;
                match range {
                    Some((start, Some(end))) => write!(f, " {start} {end}"),
                    Some((start, None)) => write!(f, " {start}"),
                    None => Ok(()),
                }
            }
            Command::Size(s) => write!(f, "SIZE {s}"),
            Command::Mdtm(s) => write!(f, "MDTM {s}"),
            Command::Port(SocketAddr::V4(a)) => write!(f, "PORT {}", format_port(*a)),
            Command::Port(a) | Command::Eprt(a) => write!(f, "EPRT {}", format_eprt(*a)),
            Command::Pasv => f.write_str("PASV"),
            Command::Epsv(a) => opt(f, "EPSV", a),
            Command::Retr(s) => write!(f, "RETR {s}"),
            Command::Stor(s) => write!(f, "STOR {s}"),
            Command::Appe(s) => write!(f, "APPE {s}"),
            Command::Allo(n) => write!(f, "ALLO {n}"),
            Command::Rest(n) => write!(f, "REST {n}"),
            Command::List(a) => opt(f, "LIST", a),
            Command::Nlst(a) => opt(f, "NLST", a),
            Command::Mlsd(a) => opt(f, "MLSD", a),
            Command::Mlst(a) => opt(f, "MLST", a),
            Command::Tree(a) => opt(f, "TREE", a),
            Command::Abor => f.write_str("ABOR"),
            Command::Stat(a) => opt(f, "STAT", a),
            Command::Help(a) => opt(f, "HELP", a),
            Command::Quit => f.write_str("QUIT"),
            Command::Rein => f.write_str("REIN"),
            Command::Mkd(s) => write!(f, "MKD {s}"),
            Command::Rmd(s) => write!(f, "RMD {s}"),
            Command::Dele(s) => write!(f, "DELE {s}"),
            Command::Rnfr(s) => write!(f, "RNFR {s}"),
            Command::Rnto(s) => write!(f, "RNTO {s}"),
            Command::Mfmt(t, s) => write!(f, "MFMT {} {s}", t.compact()),
            Command::SiteChmod(m, s) => write!(f, "SITE CHMOD {m:o} {s}"),
            Command::SiteHelp => f.write_str("SITE HELP"),
        }
    }
}

/// A server reply: a three-digit code and one or more lines of text (RFC 959 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_string()],
        }
    }

    /// A multi-line reply; the first and last lines carry the code.
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, lines }
    }

    /// The reply's text, its lines joined by spaces.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// 1yz: the action has begun; another reply follows.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// Reads one reply, single or multi-line (RFC 959 §4.2: `ddd-` opens a multi-line
    /// reply, which ends at a line that starts `ddd ` with the same code).
    pub fn read(r: &mut impl BufRead) -> Result<Reply, WireError> {
        let first = match read_line(r, MAX_LINE)? {
            Line::Text(t) => String::from_utf8_lossy(&t).into_owned(),
            Line::TooLong => return Err(WireError::Broken("reply line too long".into())),
            Line::Eof => {
                return Err(WireError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                )))
            }
        };
        let (code, sep, text) = split_reply_line(&first)
            .ok_or_else(|| WireError::Broken(format!("malformed reply {first:?}")))?;
        let mut lines = vec![text.to_string()];
        if sep == '-' {
            loop {
                let line = match read_line(r, MAX_LINE)? {
                    Line::Text(t) => String::from_utf8_lossy(&t).into_owned(),
                    Line::TooLong => return Err(WireError::Broken("reply line too long".into())),
                    Line::Eof => {
                        return Err(WireError::Broken("multi-line reply cut short".into()))
                    }
                };
                if lines.len() >= MAX_REPLY_LINES {
                    return Err(WireError::Broken("multi-line reply too long".into()));
                }
                match split_reply_line(&line) {
                    Some((c, ' ', text)) if c == code => {
                        lines.push(text.to_string());
                        break;
                    }
                    _ => lines.push(line),
                }
            }
        }
        Ok(Reply { code, lines })
    }
}

/// Why a reply could not be read: the connection failed, or the peer broke the protocol.
#[derive(Debug)]
pub enum WireError {
    Io(io::Error),
    /// What the peer sent is not an FTP reply (RFC 959 §4.2), in a few words.
    Broken(String),
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "{e}"),
            WireError::Broken(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for WireError {}

/// Splits `ddd text`, `ddd-text` or a bare `ddd` into code, separator and text.
fn split_reply_line(line: &str) -> Option<(u16, char, &str)> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !line.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let code: u16 = digits.parse().ok()?;
    if !(100..600).contains(&code) {
        return None;
    }
    match line[3..].chars().next() {
        None => Some((code, ' ', "")),
        Some(sep @ (' ' | '-')) => Some((code, sep, &line[4..])),
        Some(_) => None,
    }
}

/// Text made safe for one line on the wire: a CR goes as CR NUL (RFC 2640
/// §3.1), and an LF, which no line may hold, as the two characters `\n`.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\r', '\n']) {
        text.replace('\r', "\r\0").replace('\n', "\\n").into()
    } else {
        text.into()
    }
}

/// The commands in one received line. Python's `ftplib.abort()` and Ruby's
/// `Net::FTP#abort` and `#status` send `ABOR\r\n` or `STAT\r\n` as urgent
/// data, so the LF leaves the stream and the command runs into the next one
/// (`ABOR\rNOOP`): an ABOR or STAT ended by a bare CR is taken apart from
/// what follows, as vsftpd and pyftpdlib take it. Any other line is one
/// command (a CR in a name comes as CR NUL, RFC 2640).
pub fn split_commands(line: &[u8]) -> Vec<&[u8]> {
    let text = line.strip_prefix(b"\xff\xf4").unwrap_or(line);
    let skipped = line.len() - text.len();
    let verb = text
        .iter()
        .position(|&b| b != 0xFF && b != 0xF2)
        .unwrap_or(text.len());
    match text.get(verb..verb + 5) {
        Some(head)
            if head[4] == b'\r'
                && (head[..4].eq_ignore_ascii_case(b"ABOR")
                    || head[..4].eq_ignore_ascii_case(b"STAT")) =>
        {
            let end = skipped + verb + 4;
            let rest = &line[end + 1..];
            match rest.is_empty() {
                true => vec![&line[..end]],
                false => vec![&line[..end], rest],
            }
        }
        _ => vec![line],
    }
}

/// A pathname from a command line, with RFC 2640 §3.1's CR NUL turned back into CR.
pub fn pathname(arg: &str) -> std::borrow::Cow<'_, str> {
    if arg.contains("\r\0") {
        arg.replace("\r\0", "\r").into()
    } else {
        arg.into()
    }
}

impl fmt::Display for Reply {
    /// The reply as it goes on the wire, CRLFs included. Inner lines of a multi-line
    /// reply that could be read as a final line get a leading space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            // No text, a file name least of all, may end a line early.
            let line = one_line(line);
            if i == last {
                write!(f, "{} {line}\r\n", self.code)?;
            } else if i == 0 {
                write!(f, "{}-{line}\r\n", self.code)?;
            } else if line.starts_with(|c: char| c.is_ascii_digit()) {
                write!(f, " {line}\r\n")?;
            } else {
                write!(f, "{line}\r\n")?;
            }
        }
        if self.lines.is_empty() {
            write!(f, "{} \r\n", self.code)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, u16> {
        line.parse::<Command>().map_err(|r| r.code)
    }

    #[test]
    fn an_urgent_abor_or_stat_is_taken_apart_from_the_next_command() {
        assert_eq!(split_commands(b"ABOR\rNOOP"), [&b"ABOR"[..], &b"NOOP"[..]]);
        assert_eq!(split_commands(b"stat\rSYST"), [&b"stat"[..], &b"SYST"[..]]);
        assert_eq!(
            split_commands(b"\xff\xf4\xffABOR\rPWD"),
            [&b"\xff\xf4\xffABOR"[..], &b"PWD"[..]]
        );
        assert_eq!(split_commands(b"STAT\r"), [&b"STAT"[..]]);
        // Anything else is one command, whatever CRs it holds.
        assert_eq!(split_commands(b"RETR a\rb"), [&b"RETR a\rb"[..]]);
        assert_eq!(split_commands(b""), [&b""[..]]);
    }

    #[test]
    fn every_verb_and_alias_parses_its_example_and_prints_it_back() {
        let names: Vec<&str> = VERBS.iter().map(|v| v.names[0]).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "alphabetical, once each");
        for verb in VERBS {
            let cmd = parse(verb.example).unwrap_or_else(|code| panic!("{}: {code}", verb.example));
            assert!(verb.example.starts_with(verb.names[0]), "{}", verb.example);
            assert_eq!(cmd.to_string(), verb.example);
            for alias in verb.names {
                let line = verb
                    .example
                    .replacen(verb.names[0], &alias.to_lowercase(), 1);
                assert_eq!(parse(&line), Ok(cmd.clone()), "{line}");
            }
        }
    }

    #[test]
    fn lines_end_in_crlf_or_lf() {
        let mut r = &b"USER a\r\nPASS b\nNOOP"[..];
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Line::Text(b"USER a".to_vec())
        );
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Line::Text(b"PASS b".to_vec())
        );
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Line::Text(b"NOOP".to_vec())
        );
        assert_eq!(read_line(&mut r, 100).unwrap(), Line::Eof);
    }

    #[test]
    fn long_lines_are_refused_without_reading_past_the_limit() {
        let long = vec![b'A'; 10_000];
        let mut r = io::BufReader::with_capacity(64, &long[..]);
        assert_eq!(read_line(&mut r, MAX_LINE).unwrap(), Line::TooLong);
        // The limit counts the line ending.
        let mut r = &b"abc\r\nabcd\r\n"[..];
        assert_eq!(read_line(&mut r, 5).unwrap(), Line::Text(b"abc".to_vec()));
        assert_eq!(read_line(&mut r, 5).unwrap(), Line::TooLong);
    }

    #[test]
    fn telnet_sequences_are_removed() {
        assert_eq!(strip_telnet(b"\xff\xf4\xff\xf2ABOR"), b"ABOR");
        assert_eq!(strip_telnet(b"RETR a\xff\xffb"), b"RETR a\xffb");
        // What arrives from the BSD clients (inetutils-ftp, tnftp): the second IAC
        // went as urgent data, leaving the Data Mark alone before ABOR.
        assert_eq!(strip_telnet(b"\xff\xf4\xf2ABOR"), b"ABOR");
        // The same with the Data Mark as the urgent byte: the IAC before it is alone.
        assert_eq!(strip_telnet(b"\xff\xf4\xffABOR"), b"ABOR");
        assert_eq!(strip_telnet(b"\xff\xfd\x01NOOP"), b"NOOP");
    }

    #[test]
    fn verbs_are_case_insensitive_and_arguments_keep_spaces() {
        assert_eq!(
            parse("retr my notes.txt "),
            Ok(Command::Retr("my notes.txt ".into()))
        );
        assert_eq!(parse("Quit"), Ok(Command::Quit));
        assert_eq!(parse("XPWD"), Ok(Command::Pwd));
    }

    #[test]
    fn wrong_lines_get_the_rfc_959_codes() {
        assert_eq!(parse(""), Err(500));
        assert_eq!(parse("\r"), Err(500));
        assert_eq!(parse("RE\0TR x"), Err(500));
        assert_eq!(
            parse("SITE CHMOD 777 x"),
            Ok(Command::SiteChmod(0o777, "x".into()))
        );
        assert_eq!(parse("SITE CHMOD 4755 x"), Err(501), "no set-id bits");
        assert_eq!(parse("SITE CHMOD 9 x"), Err(501));
        assert_eq!(parse("SITE EXEC sh"), Err(504));
        assert_eq!(parse("MFMT 20260230000000 a"), Err(501), "no such date");
        assert_eq!(parse("MFMT 20261121070511"), Err(501));
        assert_eq!(parse("XMKD new"), Ok(Command::Mkd("new".into())));
        assert_eq!(parse("DELE"), Err(501));
        assert_eq!(parse("RETR"), Err(501));
        assert_eq!(parse("RETR "), Err(501));
        assert_eq!(parse("PASV now"), Err(501));
        assert_eq!(parse("TYPE E"), Err(504));
        assert_eq!(parse("TYPE Z"), Err(501));
        assert_eq!(parse("MODE C"), Err(504));
        assert_eq!(parse("REST -1"), Err(501));
        assert_eq!(parse("REST 99999999999999999999"), Err(501));
        assert_eq!(
            parse("REST 18446744073709551615"),
            Ok(Command::Rest(u64::MAX))
        );
    }

    #[test]
    fn types_all_mean_bytes_unchanged() {
        assert_eq!(parse("TYPE I"), Ok(Command::Type('I')));
        assert_eq!(parse("type a"), Ok(Command::Type('A')));
        assert_eq!(parse("TYPE L 8"), Ok(Command::Type('I')));
    }

    #[test]
    fn port_follows_rfc_959() {
        let addr = "127.0.0.1:5001".parse().unwrap();
        assert_eq!(parse("PORT 127,0,0,1,19,137"), Ok(Command::Port(addr)));
        assert_eq!(parse("PORT 1,2,3"), Err(501));
        assert_eq!(parse("PORT 999,0,0,1,0,1"), Err(501));
        assert_eq!(parse("PORT 1,2,3,4,5,6,7"), Err(501));
        assert_eq!(parse("PORT +1,2,3,4,5,6"), Err(501));
        assert_eq!(
            format_port("10.0.0.2:65535".parse().unwrap()),
            "10,0,0,2,255,255"
        );
    }

    #[test]
    fn eprt_follows_rfc_2428() {
        let v6: SocketAddr = "[::1]:6000".parse().unwrap();
        assert_eq!(parse("EPRT |2|::1|6000|"), Ok(Command::Eprt(v6)));
        assert_eq!(
            parse("EPRT !1!127.0.0.1!80!"),
            Ok(Command::Eprt("127.0.0.1:80".parse().unwrap()))
        );
        assert_eq!(parse("EPRT |9|x|y|"), Err(501));
        assert_eq!(parse("EPRT |1|::1|80|"), Err(501));
        assert_eq!(parse("EPRT |1|1.2.3.4|80"), Err(501));
        assert_eq!(format_eprt(v6), "|2|::1|6000|");
    }

    #[test]
    fn passive_replies_are_found_wherever_the_server_puts_them() {
        let want = "127.0.0.1:5001".parse().unwrap();
        assert_eq!(
            parse_pasv_reply("Entering Passive Mode (127,0,0,1,19,137)."),
            Some(want)
        );
        assert_eq!(parse_pasv_reply("=127,0,0,1,19,137"), Some(want));
        assert_eq!(parse_pasv_reply("no address"), None);
        assert_eq!(
            parse_epsv_reply("Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(parse_epsv_reply("ok (!!!6446!)"), Some(6446));
        assert_eq!(parse_epsv_reply("(|1|::1|6446|)"), None);
    }

    #[test]
    fn commands_print_as_they_parse() {
        for line in [
            "RETR a b",
            "PORT 127,0,0,1,19,137",
            "EPRT |2|::1|6000|",
            "LIST",
            "ALLO 12",
            "EPSV",
        ] {
            assert_eq!(parse(line).unwrap().to_string(), line);
        }
    }

    #[test]
    fn single_and_multi_line_replies_are_read() {
        let mut r = &b"220 hi\r\n211-Features:\r\n EPRT\r\n SIZE\r\n211 End\r\n"[..];
        assert_eq!(Reply::read(&mut r).unwrap(), Reply::new(220, "hi"));
        let feat = Reply::read(&mut r).unwrap();
        assert_eq!(feat.code, 211);
        assert_eq!(feat.lines, ["Features:", " EPRT", " SIZE", "End"]);
    }

    #[test]
    fn multi_line_replies_end_only_at_their_own_code() {
        // RFC 959 §4.2: an inner line may begin with another code, or the same code and a dash.
        let mut r = &b"220-Welcome\r\n220-still\r\n123 not the end\r\n220 ready\r\n"[..];
        let reply = Reply::read(&mut r).unwrap();
        assert_eq!(reply.lines.len(), 4);
        assert_eq!(reply.lines[3], "ready");
        let mut r = &b"220\r\n"[..];
        assert_eq!(Reply::read(&mut r).unwrap().code, 220);
    }

    #[test]
    fn broken_replies_are_errors() {
        for bytes in [
            &b"hello\r\n"[..],
            b"99 x\r\n",
            b"2200 x\r\n",
            b"211-a\r\nb\r\n",
            b"",
        ] {
            let mut r = bytes;
            assert!(Reply::read(&mut r).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn no_text_breaks_a_reply_line() {
        let reply = Reply::multi(213, vec!["a".into(), "x\r\n226 fake".into(), "end".into()]);
        let wire = reply.to_string();
        assert_eq!(wire, "213-a\r\nx\r\0\\n226 fake\r\n213 end\r\n");
        assert_eq!(Reply::read(&mut wire.as_bytes()).unwrap().lines.len(), 3);
        assert_eq!(pathname("a\r\0b"), "a\rb");
        assert_eq!(one_line("a\rb"), "a\r\0b");
    }

    #[test]
    fn replies_print_as_they_read() {
        let reply = Reply::multi(211, vec!["Features:".into(), " SIZE".into(), "End".into()]);
        let wire = reply.to_string();
        assert_eq!(wire, "211-Features:\r\n SIZE\r\n211 End\r\n");
        assert_eq!(Reply::read(&mut wire.as_bytes()).unwrap(), reply);
        // An inner line that looks like a final line is shielded by a space.
        let tricky = Reply::multi(250, vec!["a".into(), "250 b".into(), "c".into()]);
        assert_eq!(
            Reply::read(&mut tricky.to_string().as_bytes())
                .unwrap()
                .lines
                .len(),
            3
        );
    }
}
