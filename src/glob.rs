//! Shell-style wildcards for names: `*` for any run of characters, `?` for any
//! one. Pure; used by the client's MGET and MPUT.

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
}
