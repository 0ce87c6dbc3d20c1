//! Password hashes for user accounts: HMAC-SHA256 (RFC 2104) and
//! PBKDF2-HMAC-SHA256 (RFC 8018) on `sha256`, written here since the
//! project takes no crates, and the stored form SFTPGo uses,
//! `$pbkdf2-b64salt-sha256$ITERATIONS$SALT$KEY` (salt and key in standard
//! base64), so a users file can move to another server. Pure, apart from
//! reading a fresh salt from `/dev/urandom`.

use std::io::{self, Read};

use crate::sha256::compress;
pub use crate::sha256::{sha256, Sha256};

/// Iterations for new hashes: OWASP's 2023 advice for PBKDF2-HMAC-SHA256.
pub const ITERATIONS: u32 = 600_000;

const PREFIX: &str = "$pbkdf2-b64salt-sha256$";

/// HMAC-SHA256 with its key absorbed once: the inner and outer states after
/// the padded key, from which every message starts.
#[derive(Clone)]
struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl Hmac {
    fn new(key: &[u8]) -> Hmac {
        let mut padded = [0u8; 64];
        if key.len() > 64 {
            padded[..32].copy_from_slice(&sha256(key));
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        let (mut inner, mut outer) = (Sha256::default(), Sha256::default());
        inner.update(&padded.map(|b| b ^ 0x36));
        outer.update(&padded.map(|b| b ^ 0x5c));
        Hmac { inner, outer }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish()
    }
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    Hmac::new(key).mac(&[message])
}

/// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), `out.len()` bytes of derived key.
/// Each iteration is an HMAC of the 32-byte previous one: two compressions
/// from the states after the padded key, on blocks padded once here.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    let prf = Hmac::new(password);
    // A 32-byte message after a 64-byte block: 0x80, zeros, 768 bits.
    let mut block = [0u8; 64];
    block[32] = 0x80;
    block[56..].copy_from_slice(&768u64.to_be_bytes());
    let hmac32 = |u: &[u8; 32], block: &mut [u8; 64]| {
        block[..32].copy_from_slice(u);
        let mut inner = prf.inner.state;
        compress(&mut inner, block);
        for (chunk, word) in block[..32].chunks_exact_mut(4).zip(inner) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        let mut outer = prf.outer.state;
        compress(&mut outer, block);
        let mut mac = [0u8; 32];
        for (chunk, word) in mac.chunks_exact_mut(4).zip(outer) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        mac
    };
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let index = (i as u32 + 1).to_be_bytes();
        let mut u = prf.mac(&[salt, &index]);
        let mut t = u;
        for _ in 1..iterations {
            u = hmac32(&u, &mut block);
            for (t, u) in t.iter_mut().zip(u) {
                *t ^= u;
            }
        }
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
}

/// Whether two byte strings are equal, taking the same time wherever they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of standard base64 text, padded or not; `None` if it is not base64.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Does the work of `iterations` PBKDF2 rounds and throws it away: pads a
/// cheaper check to the cost of a dearer one.
pub fn burn(iterations: u32) {
    if iterations > 0 {
        let mut out = [0u8; 32];
        pbkdf2_sha256(b"", b"padding", iterations, &mut out);
        std::hint::black_box(out);
    }
}

/// A stored password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub key: Vec<u8>,
}

/// Fills `buf` from `/dev/urandom`: salts, and the key of the server's
/// memory of right passwords.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

impl Hash {
    /// A new hash of `password` with a fresh 16-byte salt.
    pub fn new(password: &str, iterations: u32) -> io::Result<Hash> {
        let mut salt = vec![0u8; 16];
        random_bytes(&mut salt)?;
        let mut key = vec![0u8; 32];
        pbkdf2_sha256(password.as_bytes(), &salt, iterations, &mut key);
        Ok(Hash {
            iterations,
            salt,
            key,
        })
    }

    /// Whether `password` is the one this hash was made from.
    pub fn verify(&self, password: &str) -> bool {
        let mut key = vec![0u8; self.key.len()];
        pbkdf2_sha256(password.as_bytes(), &self.salt, self.iterations, &mut key);
        same(&key, &self.key)
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (salt, key) = (base64(&self.salt), base64(&self.key));
        write!(f, "{PREFIX}{}${salt}${key}", self.iterations)
    }
}

impl std::str::FromStr for Hash {
    /// What is wrong with the text, in words.
    type Err = String;

    fn from_str(text: &str) -> Result<Hash, String> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or("not a $pbkdf2-b64salt-sha256$ hash")?;
        let fields: Vec<&str> = rest.split('$').collect();
        let [iterations, salt, key] = fields[..] else {
            return Err("a hash has three fields after its kind".into());
        };
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or("the iteration count is not a positive number")?;
        let salt = unbase64(salt).ok_or("the salt is not base64")?;
        let key = unbase64(key)
            .filter(|k| !k.is_empty())
            .ok_or("the key is not base64")?;
        Ok(Hash {
            iterations,
            salt,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2, 4 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key: Vec<u8> = (1..=25).collect();
        assert_eq!(
            hex(&hmac_sha256(&key, &[0xcd; 50])),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn pbkdf2_matches_rfc_7914() {
        let mut out = [0u8; 64];
        pbkdf2_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        pbkdf2_sha256(b"Password", b"NaCl", 80000, &mut out);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    fn base64_round_trips_and_matches_rfc_4648() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
            assert_eq!(unbase64(coded).unwrap(), plain.as_bytes());
        }
        assert_eq!(unbase64("no spaces"), None);
    }

    #[test]
    fn hashes_verify_their_password_only_and_survive_the_text_form() {
        let hash = Hash::new("correct horse", 1000).unwrap();
        assert!(hash.verify("correct horse"));
        assert!(!hash.verify("correct horsf"));
        assert!(!hash.verify(""));
        let text = hash.to_string();
        assert!(text.starts_with("$pbkdf2-b64salt-sha256$1000$"), "{text}");
        assert_eq!(text.parse::<Hash>(), Ok(hash.clone()));
        assert_ne!(Hash::new("correct horse", 1000).unwrap().salt, hash.salt);
        for bad in [
            "",
            "$pbkdf2-sha256$1000$c2FsdA==$a2V5",
            "$pbkdf2-b64salt-sha256$0$c2FsdA==$a2V5",
            "$pbkdf2-b64salt-sha256$1000$c2FsdA==",
            "$pbkdf2-b64salt-sha256$1000$c2F sdA==$a2V5",
        ] {
            assert!(bad.parse::<Hash>().is_err(), "{bad}");
        }
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
