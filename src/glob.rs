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

/// A pattern read once, to be matched against many names.
#[derive(Debug, Clone)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// Whether it starts with a dot, which alone matches a leading dot.
    dot: bool,
    /// How many characters a name needs at least (the tokens other than `*`).
    least: usize,
}

impl Pattern {
    /// Reads `pattern` in one pass: each `[` finds its `]` through a table of
    /// where the next `]` is, built from the end, so that a pattern of many
    /// unclosed `[` costs no more than its length.
    pub fn new(pattern: &str) -> Pattern {
        let chars: Vec<char> = pattern.chars().collect();
        let mut next_close = vec![usize::MAX; chars.len() + 1];
        for i in (0..chars.len()).rev() {
            next_close[i] = if chars[i] == ']' {
                i
            } else {
                next_close[i + 1]
            };
        }
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                // Runs of `*` mean what one does.
                '*' if tokens.last() == Some(&Token::Star) => {}
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '[' => {
                    // A set ends at the first `]` after its first character;
                    // without one, the `[` is an ordinary character, as in a shell.
                    let negated = matches!(chars.get(i + 1), Some('!' | '^'));
                    let start = i + 1 + usize::from(negated);
                    let close = next_close.get(start + 1).copied().unwrap_or(usize::MAX);
                    if close == usize::MAX {
                        tokens.push(Token::Literal('['));
                    } else {
                        tokens.push(set(&chars[start..close], negated));
                        i = close + 1;
                        continue;
                    }
                }
                c => tokens.push(Token::Literal(c)),
            }
            i += 1;
        }
        let least = tokens.iter().filter(|t| **t != Token::Star).count();
        Pattern {
            tokens,
            dot: pattern.starts_with('.'),
            least,
        }
    }

    /// Whether it has a wildcard, so that it is a pattern rather than a name.
    pub fn is_pattern(&self) -> bool {
        self.tokens.iter().any(|t| !matches!(t, Token::Literal(_)))
    }

    /// Whether `name` matches; as in a shell, a leading dot must be matched by
    /// a dot. At most (name length × pattern length) steps, and none for a
    /// name shorter than the pattern needs.
    pub fn matches(&self, name: &str) -> bool {
        if name.starts_with('.') && !self.dot {
            return false;
        }
        let n: Vec<char> = name.chars().collect();
        if n.len() < self.least {
            return false;
        }
        let p = &self.tokens;
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
}

/// A bracket set's body (after `[` and a `!` or `^`, before `]`).
fn set(body: &[char], negated: bool) -> Token {
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
    Token::Set(ranges, negated)
}

/// Whether the text has a wildcard, so that it is a pattern rather than a name.
pub fn is_pattern(text: &str) -> bool {
    Pattern::new(text).is_pattern()
}

/// Whether `name` matches `pattern` (see [`Pattern::matches`]); to match many
/// names, make the [`Pattern`] once.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    Pattern::new(pattern).matches(name)
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

    #[test]
    fn hostile_patterns_cost_their_length_not_its_square() {
        // 4,080 unclosed `[` and a `*`, against 2,000 names: each `[` once
        // searched to the end of the pattern, and the pattern was read again
        // for every name (7.6 s on the server).
        let pattern = Pattern::new(&format!("{}*", "[".repeat(4080)));
        assert_eq!(pattern.least, 4080);
        let names: Vec<String> = (0..2000).map(|i| format!("[[[[file{i}")).collect();
        let start = std::time::Instant::now();
        assert!(!names.iter().any(|n| pattern.matches(n)));
        let stars = Pattern::new(&"*a".repeat(2000));
        assert!(
            !stars.matches(&"a".repeat(255)),
            "too short for the pattern"
        );
        assert!(Pattern::new("**a***").matches("xa"), "runs of * are one");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
