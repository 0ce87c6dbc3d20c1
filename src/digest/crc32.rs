//! CRC-32 as zip, PNG and Ethernet compute it (reflected polynomial
//! 0xEDB88320, initial and final value all ones), eight bytes at a time
//! with eight tables ("slicing by 8"), and 64 or 256 at a time on the CPU's
//! carry-less multiply where it has one (`clmul`).

use super::clmul;

const POLY: u32 = 0xEDB8_8320;

fn tables() -> Box<[[u32; 256]; 8]> {
    let mut t = Box::new([[0u32; 256]; 8]);
    for i in 0..256 {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
        }
        t[0][i] = c;
    }
    for i in 0..256 {
        for k in 1..8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
        }
    }
    t
}

pub struct Crc32 {
    crc: u32,
    tables: Box<[[u32; 256]; 8]>,
}

impl Default for Crc32 {
    fn default() -> Self {
        Crc32 {
            crc: !0,
            tables: tables(),
        }
    }
}

impl Crc32 {
    pub fn update(&mut self, mut data: &[u8]) {
        if let Some((rest, used)) = clmul::fold(self.crc, data) {
            self.crc = self.by_tables(0, &rest);
            data = &data[used..];
        }
        self.crc = self.by_tables(self.crc, data);
    }

    /// The CRC register after `data`, from `crc`, eight bytes at a time.
    fn by_tables(&self, mut crc: u32, data: &[u8]) -> u32 {
        let t = &self.tables;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
            let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            crc = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][(hi & 0xff) as usize]
                ^ t[2][((hi >> 8) & 0xff) as usize]
                ^ t[1][((hi >> 16) & 0xff) as usize]
                ^ t[0][(hi >> 24) as usize];
        }
        for &b in chunks.remainder() {
            crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xff) as usize];
        }
        crc
    }

    pub fn finish(self) -> u32 {
        !self.crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_carry_less_multiply_agrees_with_the_tables() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 131 + i / 7) as u8).collect();
        let mut folded = false;
        let lens = [
            64, 65, 79, 80, 127, 128, 129, 192, 255, 256, 257, 320, 511, 512,
        ];
        for len in lens.into_iter().chain([527, 768, 1000, 1024, 4096, 4991]) {
            for start in [0, 1, 5] {
                let piece = &data[start..start + len.min(data.len() - start)];
                for state in [!0u32, 0, 0x1234_5678] {
                    let t = Crc32::default();
                    let want = t.by_tables(state, piece);
                    if let Some((rest, used)) = clmul::fold(state, piece) {
                        folded = true;
                        let got = t.by_tables(t.by_tables(0, &rest), &piece[used..]);
                        assert_eq!(got, want, "{len} bytes from {start}, state {state:x}");
                    }
                }
            }
        }
        println!("carry-less multiply on this CPU: {folded}");
    }
}
