//! Who the client logs in as, and where the password comes from: `ftp://`
//! URLs as curl and lftp take them, the `DIALBACK_PASSWORD` variable, and
//! `~/.netrc` (the `machine`/`login`/`password` file that ftp, curl, lftp
//! and wget share). Parsing is pure; reading the file and the variable is in
//! `stored_password`.

use std::path::Path;

/// The default FTP control port, for an `ftp://` URL without one.
pub const FTP_PORT: u16 = 21;

/// An `ftp://[user[:password]@]host[:port][/path]` URL, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    /// The folder to start in, if the URL names one (`/` is the login folder).
    pub path: Option<String>,
}

/// Parses an `ftp://` URL; the error says what is wrong with it.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let bad = |why: &str| format!("{text}: {why}");
    let rest = match text.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ftp") => rest,
        Some((scheme, _)) => return Err(bad(&format!("{scheme}:// is not ftp://"))),
        None => return Err(bad("not an ftp:// URL")),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    // The last @ ends the user part: passwords may hold an unescaped @.
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((u, p)) => (u, Some(decode(p).ok_or_else(|| bad("bad % escape"))?)),
                None => (info, None),
            };
            let user = decode(user).ok_or_else(|| bad("bad % escape"))?;
            (Some(user).filter(|u| !u.is_empty()), password)
        }
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None | Some("") => FTP_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("not a port number"))?,
    };
    let path = match path {
        None | Some("") => None,
        Some(p) => Some(decode(p).ok_or_else(|| bad("bad % escape"))?),
    };
    Ok(Url {
        user,
        password,
        host: host.to_string(),
        port,
        path,
    })
}

/// Decodes `%XX` escapes; `None` for a malformed one or text that is not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A netrc file's entries: machine (`None` for `default`), login, password.
type NetrcEntry<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn netrc_entries(text: &str) -> Vec<NetrcEntry<'_>> {
    let mut entries: Vec<NetrcEntry> = Vec::new();
    let mut words = netrc_words(text).into_iter();
    while let Some(word) = words.next() {
        match word {
            "machine" => entries.extend(words.next().map(|m| (Some(m), None, None))),
            "default" => entries.push((None, None, None)),
            "login" | "password" => {
                let value = words.next();
                if let Some(last) = entries.last_mut() {
                    match word {
                        "login" => last.1 = value,
                        _ => last.2 = value,
                    }
                }
            }
            _ => {}
        }
    }
    entries
}

/// The password a netrc file's text gives `user` on `host`: the first
/// `machine host` entry with that login, else a `default` entry with it.
pub fn netrc_password(text: &str, host: &str, user: &str) -> Option<String> {
    let entries = netrc_entries(text);
    let find = |machine: Option<&str>| {
        entries
            .iter()
            .find(|(m, login, _)| *m == machine && *login == Some(user))
            .and_then(|(_, _, password)| password.map(str::to_string))
    };
    find(Some(host)).or_else(|| find(None))
}

/// The login (and password) a netrc file's text gives `host` when no user
/// was named: its `machine` entry's, else the `default` entry's, as ftp,
/// lftp and `curl --netrc` take them.
pub fn netrc_login(text: &str, host: &str) -> Option<(String, Option<String>)> {
    let entries = netrc_entries(text);
    let find = |machine: Option<&str>| {
        entries
            .iter()
            .find(|(m, login, _)| *m == machine && login.is_some())
            .map(|(_, login, password)| {
                (
                    login.unwrap_or_default().to_string(),
                    password.map(str::to_string),
                )
            })
    };
    find(Some(host)).or_else(|| find(None))
}

/// The login `~/.netrc` gives `host`, if it names one (see [`netrc_login`]);
/// one that others may read is refused when it holds a password.
pub fn netrc_user(host: &str) -> Result<Option<(String, Option<String>)>, String> {
    from_netrc(|text| netrc_login(text, host), |(_, p)| p.is_some())
}

/// What `find` takes from `~/.netrc`, if there is one; refused when it
/// `holds` a password and others may read the file.
fn from_netrc<T>(
    find: impl FnOnce(&str) -> Option<T>,
    holds: impl FnOnce(&T) -> bool,
) -> Result<Option<T>, String> {
    let Some(path) = std::env::var_os("HOME").map(|h| Path::new(&h).join(".netrc")) else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let found = find(&text);
    if found.as_ref().is_some_and(holds) {
        private(&path)?;
    }
    Ok(found)
}

/// Refuses a netrc that others may read, as the BSD ftp client does.
fn private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
    match mode & 0o077 {
        0 => Ok(()),
        _ => Err(format!(
            "{} holds a password but others may read it (chmod 600 it)",
            path.display()
        )),
    }
}

/// A netrc file's words, less its macros (`macdef NAME` to the next blank line).
fn netrc_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return words;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if word == "macdef" {
            rest = rest.find("\n\n").map_or("", |at| &rest[at..]);
        } else {
            words.push(word);
        }
    }
}

/// The password for `user` on `host`, from its sources in order:
/// `DIALBACK_PASSWORD`, `~/.netrc`, then `ask` (a prompt without echo, where
/// someone can be asked). `Ok(None)` when none has one: the caller says so,
/// and never sends an empty password.
pub fn find_password(
    host: &str,
    user: &str,
    ask: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    match stored_password(host, user)? {
        Some(password) => Ok(Some(password)),
        None => Ok(ask(&format!("password for {user}: "))),
    }
}

/// A password kept for `user` on `host`: `DIALBACK_PASSWORD`, else `~/.netrc`.
/// A netrc that others may read is refused, as the BSD ftp client does.
fn stored_password(host: &str, user: &str) -> Result<Option<String>, String> {
    if let Ok(password) = std::env::var("DIALBACK_PASSWORD") {
        return Ok(Some(password));
    }
    from_netrc(|text| netrc_password(text, host, user), |_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftp_urls_parse_as_curl_and_lftp_read_them() {
        let url = parse_url("ftp://alice:p%40ss@example.org:2121/pub/my%20dir").unwrap();
        assert_eq!(url.user.as_deref(), Some("alice"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(url.host, "example.org");
        assert_eq!(url.port, 2121);
        assert_eq!(url.path.as_deref(), Some("pub/my dir"));
        let plain = parse_url("FTP://host").unwrap();
        assert_eq!((plain.user, plain.port, plain.path), (None, 21, None));
        let v6 = parse_url("ftp://bob@[::1]:6789/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 6789));
        assert_eq!(v6.path, None);
        assert_eq!(
            parse_url("ftp://a@b@host/").unwrap().user.as_deref(),
            Some("a@b")
        );
        for bad in [
            "http://host",
            "host:21",
            "ftp://",
            "ftp://host:0",
            "ftp://host:x",
            "ftp://[::1",
            "ftp://u:%zz@host",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn netrc_gives_the_password_of_the_host_and_login() {
        let text = "machine other login alice password wrong\n\
                    machine example.org login bob password b0b\n\
                    machine example.org\n  login alice\n  password s3cret\n\
                    macdef init\nlogin alice password macro\n\n\
                    default login alice password fallback\n";
        assert_eq!(
            netrc_password(text, "example.org", "alice").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            netrc_password(text, "example.org", "bob").as_deref(),
            Some("b0b")
        );
        assert_eq!(
            netrc_password(text, "elsewhere", "alice").as_deref(),
            Some("fallback")
        );
        assert_eq!(netrc_password(text, "elsewhere", "carol"), None);
        assert_eq!(netrc_password("machine", "x", "y"), None);
    }
}
