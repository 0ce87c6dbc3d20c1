//! File checksums for HASH and the X-commands: SHA-256 (the password code's,
//! on the CPU's SHA instructions where present), SHA-512, SHA-1, MD5 and
//! CRC-32, behind one `Digest` fed in pieces. Pure; each algorithm is checked
//! against its standard's test vectors.

mod clmul;
mod crc32;
mod md5;
mod sha1;
mod sha512;

use crate::sha256::Sha256;

/// The checksums offered, by their names in draft-bryan-ftpext-hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
    Sha1,
    Md5,
    Crc32,
}

impl Algorithm {
    /// Every algorithm, the default (SHA-256) first.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Sha1,
        Algorithm::Md5,
        Algorithm::Crc32,
    ];

    /// The name HASH and FEAT use.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512 => "SHA-512",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Md5 => "MD5",
            Algorithm::Crc32 => "CRC32",
        }
    }

    /// The algorithm named `name` (any case; `SHA256` as well as `SHA-256`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let plain: String = name
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().replace('-', "") == plain)
    }

    /// A fresh computation.
    pub fn start(self) -> Digest {
        match self {
            Algorithm::Sha256 => Digest::Sha256(Sha256::default()),
            Algorithm::Sha512 => Digest::Sha512(sha512::Sha512::default()),
            Algorithm::Sha1 => Digest::Sha1(sha1::Sha1::default()),
            Algorithm::Md5 => Digest::Md5(md5::Md5::default()),
            Algorithm::Crc32 => Digest::Crc32(crc32::Crc32::default()),
        }
    }
}

/// A checksum being computed.
pub enum Digest {
    Sha256(Sha256),
    Sha512(sha512::Sha512),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32::Crc32),
}

impl Digest {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digest::Sha256(h) => h.update(data),
            Digest::Sha512(h) => h.update(data),
            Digest::Sha1(h) => h.update(data),
            Digest::Md5(h) => h.update(data),
            Digest::Crc32(h) => h.update(data),
        }
    }

    /// The checksum in lowercase hex, as HASH answers it.
    pub fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Digest::Sha256(h) => h.finish().to_vec(),
            Digest::Sha512(h) => h.finish().to_vec(),
            Digest::Sha1(h) => h.finish().to_vec(),
            Digest::Md5(h) => h.finish().to_vec(),
            Digest::Crc32(h) => h.finish().to_be_bytes().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The message buffer the block hashes share: whole blocks go to the
/// compression function straight from the caller's data, the rest waits.
pub(crate) struct Blocks<const N: usize> {
    block: [u8; N],
    filled: usize,
    /// The message length so far, in bytes.
    length: u128,
}

impl<const N: usize> Default for Blocks<N> {
    fn default() -> Self {
        Blocks {
            block: [0; N],
            filled: 0,
            length: 0,
        }
    }
}

impl<const N: usize> Blocks<N> {
    pub(crate) fn update(&mut self, mut data: &[u8], compress: &mut impl FnMut(&[u8; N])) {
        self.length += data.len() as u128;
        while !data.is_empty() {
            if self.filled == 0 && data.len() >= N {
                let (block, rest) = data.split_at(N);
                compress(block.try_into().expect("N bytes"));
                data = rest;
                continue;
            }
            let n = (N - self.filled).min(data.len());
            self.block[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == N {
                compress(&self.block);
                self.filled = 0;
            }
        }
    }

    /// The message length in bits.
    pub(crate) fn bits(&self) -> u128 {
        self.length * 8
    }

    /// Ends the message as MD5 and SHA do: a 1 bit, zeros, then `length`
    /// (the bit count, in the algorithm's byte order and width) ending a block.
    pub(crate) fn pad(mut self, length: &[u8], compress: &mut impl FnMut(&[u8; N])) {
        self.update(&[0x80], compress);
        while self.filled != N - length.len() {
            self.update(&[0], compress);
        }
        self.update(length, compress);
    }
}

/// The checksum of the next `len` bytes `input` gives, in hex; `None` if
/// `stopped` said so between two reads. Fewer bytes than `len` is an error.
pub fn of_reader(
    input: &mut impl std::io::Read,
    algorithm: Algorithm,
    len: u64,
    stopped: &dyn Fn() -> bool,
) -> std::io::Result<Option<String>> {
    let mut digest = algorithm.start();
    let mut buf = vec![0u8; 256 << 10];
    let mut left = len;
    while left > 0 {
        if stopped() {
            return Ok(None);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match input.read(&mut buf[..want]) {
            Ok(0) => {
                let e =
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file got shorter");
                return Err(e);
            }
            Ok(n) => {
                digest.update(&buf[..n]);
                left -= n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(digest.hex()))
}

/// The checksum of `data`, in hex.
pub fn hex_of(algorithm: Algorithm, data: &[u8]) -> String {
    let mut d = algorithm.start();
    d.update(data);
    d.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_meets_its_standard_vectors() {
        let million_a = vec![b'a'; 1_000_000];
        let cases: &[(Algorithm, &[u8], &str)] = &[
            // FIPS 180-4 examples (NIST's SHA examples document).
            (Algorithm::Sha256, b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Algorithm::Sha512, b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
            (Algorithm::Sha512, b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
            (Algorithm::Sha512, b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
            (Algorithm::Sha512, &million_a, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"),
            // RFC 3174 §7.3.
            (Algorithm::Sha1, b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (Algorithm::Sha1, b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
            (Algorithm::Sha1, &million_a, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
            (Algorithm::Sha1, b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            // RFC 1321 §A.5.
            (Algorithm::Md5, b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (Algorithm::Md5, b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (Algorithm::Md5, b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Md5, b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (Algorithm::Md5, b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (Algorithm::Md5, b"12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"),
            // The CRC-32 check value.
            (Algorithm::Crc32, b"123456789", "cbf43926"),
            (Algorithm::Crc32, b"", "00000000"),
        ];
        for (algorithm, data, want) in cases {
            assert_eq!(
                &hex_of(*algorithm, data),
                want,
                "{algorithm:?} of {} bytes",
                data.len()
            );
        }
    }

    #[test]
    fn pieces_of_any_size_give_the_same_digest() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for algorithm in Algorithm::ALL {
            let whole = hex_of(algorithm, &data);
            for piece in [1, 3, 63, 64, 65, 127, 128, 129, 1000] {
                let mut d = algorithm.start();
                for chunk in data.chunks(piece) {
                    d.update(chunk);
                }
                assert_eq!(d.hex(), whole, "{algorithm:?} in pieces of {piece}");
            }
        }
    }

    #[test]
    fn names_are_read_as_written_anywhere() {
        assert_eq!(Algorithm::from_name("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_name("SHA512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::from_name("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::from_name("CRC32"), Some(Algorithm::Crc32));
        assert_eq!(Algorithm::from_name("SHA-3"), None);
    }
}
