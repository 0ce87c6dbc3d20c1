//! Shell-style wildcards for names: `*` for any run of characters, `?` for any
//! one, `[abc]`, `[a-z]` and `[!x]` for one of a set. Pure; used by the
//! client's MGET and MPUT and by the server's NLST and LIST patterns.

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Star,
    Any,
    /// A bracket set: its ranges (a single character is a range of one), and
    /// whether it is negated (`[!...]` or `[^...]`).
    Set(Vec<(char, char)>, bool),
    Literal(char),
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Set(ranges, negated) => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Literal(l) => *l == c,
        }
    }
}

fn tokens(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push(Token::Star),
            '?' => out.push(Token::Any),
            '[' => {
                // A set ends at the first `]` after its first character; without
                // one, the `[` is an ordinary character, as in a shell.
                let negated = matches!(chars.get(i + 1), Some('!' | '^'));
                let start = i + 1 + usize::from(negated);
                if let Some(len) = chars
                    .get(start + 1..)
                    .and_then(|r| r.iter().position(|&c| c == ']'))
                {
                    let body = &chars[start..start + 1 + len];
                    let mut ranges = Vec::new();
                    let mut k = 0;
                    while k < body.len() {
                        if k + 2 < body.len() && body[k + 1] == '-' {
                            ranges.push((body[k], body[k + 2]));
                            k += 3;
                        } else {
                            ranges.push((body[k], body[k]));
                            k += 1;
                        }
                    }
                    out.push(Token::Set(ranges, negated));
                    i = start + 1 + len + 1;
                    continue;
                }
                out.push(Token::Literal('['));
            }
            c => out.push(Token::Literal(c)),
        }
        i += 1;
    }
    out
}

/// Whether the text has a wildcard, so that it is a pattern rather than a name.
pub fn is_pattern(text: &str) -> bool {
    tokens(text).iter().any(|t| !matches!(t, Token::Literal(_)))
}

/// Whether `name` matches `pattern`; as in a shell, a leading dot must be
/// matched by a dot.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<Token>, Vec<char>) = (tokens(pattern), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and where in the name its match would resume.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some(Token::Star) => {
                star = Some((i, j));
                i += 1;
            }
            Some(t) if t.matches(n[j]) => {
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
    p[i..].iter().all(|t| *t == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn bracket_sets_match_one_character() {
        assert!(glob_match("f[0-9].txt", "f7.txt"));
        assert!(!glob_match("f[0-9].txt", "fx.txt"));
        assert!(glob_match("[!a]*", "bcd"));
        assert!(!glob_match("[^a]*", "abc"));
        assert!(glob_match("[ab]", "b"));
        assert!(glob_match("[]x]", "]"), "a ] first is in the set");
        assert!(glob_match("a[b", "a[b"), "an open [ is literal");
        assert!(
            is_pattern("*.txt")
                && is_pattern("x[12]")
                && !is_pattern("a[b")
                && !is_pattern("plain")
        );
    }
}
