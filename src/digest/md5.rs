//! MD5 (RFC 1321): only for checksums other tools ask for.

/// Per-round shift amounts (RFC 1321 §3.4).
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// The table T: the integer part of 2^32 × |sin(i + 1)|.
fn t() -> [u32; 64] {
    let mut t = [0u32; 64];
    for (i, v) in t.iter_mut().enumerate() {
        *v = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
    }
    t
}

use super::Blocks;

pub struct Md5 {
    state: [u32; 4],
    table: [u32; 64],
    blocks: Blocks<64>,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5 {
            state: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            table: t(),
            blocks: Blocks::default(),
        }
    }
}

fn compress(state: &mut [u32; 4], table: &[u32; 64], block: &[u8; 64]) {
    let mut x = [0u32; 16];
    for (i, word) in block.chunks_exact(4).enumerate() {
        x[i] = u32::from_le_bytes(word.try_into().expect("4 bytes"));
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(table[i]).wrapping_add(x[g]);
        (a, d, c) = (d, c, b);
        b = b.wrapping_add(sum.rotate_left(S[i]));
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

impl Md5 {
    pub fn update(&mut self, data: &[u8]) {
        let (state, table) = (&mut self.state, &self.table);
        self.blocks.update(data, &mut |b| compress(state, table, b));
    }

    /// The message, a 1 bit, zeros, and its length in bits, little-endian (§3.1-3.2).
    pub fn finish(mut self) -> [u8; 16] {
        let bits = (self.blocks.bits() as u64).to_le_bytes();
        let (state, table) = (&mut self.state, &self.table);
        self.blocks.pad(&bits, &mut |b| compress(state, table, b));
        let mut out = [0u8; 16];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}
