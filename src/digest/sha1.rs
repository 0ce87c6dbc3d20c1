//! SHA-1 (RFC 3174, FIPS 180-4 §6.1): only for checksums other tools ask for.

use super::Blocks;

#[derive(Default)]
pub struct Sha1 {
    state: State,
    blocks: Blocks<64>,
}

struct State([u32; 5]);

impl Default for State {
    fn default() -> Self {
        State([0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0])
    }
}

fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 80];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes(word.try_into().expect("4 bytes"));
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (i, word) in w.iter().enumerate() {
        let (f, k) = match i {
            0..=19 => ((b & c) | (!b & d), 0x5A827999),
            20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
            40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
            _ => (b ^ c ^ d, 0xCA62C1D6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(*word);
        (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

impl Sha1 {
    pub fn update(&mut self, data: &[u8]) {
        let state = &mut self.state.0;
        self.blocks.update(data, &mut |b| compress(state, b));
    }

    pub fn finish(mut self) -> [u8; 20] {
        let bits = (self.blocks.bits() as u64).to_be_bytes();
        let state = &mut self.state.0;
        self.blocks.pad(&bits, &mut |b| compress(state, b));
        let mut out = [0u8; 20];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state.0) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}
