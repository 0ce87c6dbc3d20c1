//! CRC-32's bulk on the CPU's carry-less multiply (PCLMULQDQ), which folds
//! 64 bytes per step where the tables take 8; the one `unsafe` concern is
//! calling the intrinsics, only after the CPU has said it has them.
//!
//! The message is a polynomial over GF(2), and its CRC depends only on it
//! modulo P. Folding replaces the leading 128 bits `H·x^64 + L` of a stretch
//! followed by `D` more bits with `H·(x^(D+64) mod P) + L·(x^D mod P)`, which
//! is congruent and 96 bits long, and adds it to the bits `D` further on.
//! What is left is one 128-bit value congruent to everything folded, whose
//! CRC the tables then take from a zero state.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// CRC-32's polynomial with its x^32 term, highest power in the top bit.
const P: u64 = 0x1_04C1_1DB7;

/// x^n mod P, highest power in the top bit.
const fn x_pow_mod(n: u32) -> u32 {
    let mut r: u64 = 1;
    let mut i = 0;
    while i < n {
        r <<= 1;
        if r & (1 << 32) != 0 {
            r ^= P;
        }
        i += 1;
    }
    r as u32
}

/// The multipliers that fold 128 bits over a distance of `d` bits, as the
/// bit-reflected operands the instruction takes. The reflected product of
/// two 64-bit operands lands one power low, so each power is one less.
const fn fold_by(d: u32) -> [u64; 2] {
    [
        (x_pow_mod(d + 63) as u64).reverse_bits(),
        (x_pow_mod(d - 1) as u64).reverse_bits(),
    ]
}

const BY_512: [u64; 2] = fold_by(512);
const BY_384: [u64; 2] = fold_by(384);
const BY_256: [u64; 2] = fold_by(256);
const BY_128: [u64; 2] = fold_by(128);

/// Folds the longest run of 16-byte pieces of `data` (at least 64 bytes)
/// with `state` (the running CRC register) mixed into its first bytes.
/// Returns the 16 bytes left, whose CRC from a zero state is the running
/// CRC after those pieces, and how many bytes were folded; `None` if the CPU
/// lacks the instructions or `data` is shorter than 64 bytes.
pub fn fold(state: u32, data: &[u8]) -> Option<([u8; 16], usize)> {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 64
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        let used = data.len() & !15;
        // SAFETY: the features the function is compiled for are present,
        // and it reads only `data[..used]`, whose length is a multiple of 16
        // and at least 64.
        let rest = unsafe { fold_pclmul(state, &data[..used]) };
        return Some((rest, used));
    }
    let _ = (state, data);
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse2,sse4.1")]
unsafe fn fold_pclmul(state: u32, data: &[u8]) -> [u8; 16] {
    let load = |at: usize| _mm_loadu_si128(data.as_ptr().add(at).cast());
    let by = |k: [u64; 2]| _mm_set_epi64x(k[1] as i64, k[0] as i64);
    let step = |x: __m128i, k: __m128i, next: __m128i| {
        let high = _mm_clmulepi64_si128(x, k, 0x00);
        let low = _mm_clmulepi64_si128(x, k, 0x11);
        _mm_xor_si128(_mm_xor_si128(high, low), next)
    };
    let mut x = [load(0), load(16), load(32), load(48)];
    x[0] = _mm_xor_si128(x[0], _mm_cvtsi32_si128(state as i32));
    let mut at = 64;
    let k512 = by(BY_512);
    while at + 64 <= data.len() {
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = step(*xi, k512, load(at + 16 * i));
        }
        at += 64;
    }
    let mut one = step(x[0], by(BY_384), x[3]);
    one = step(x[1], by(BY_256), one);
    one = step(x[2], by(BY_128), one);
    let k128 = by(BY_128);
    while at + 16 <= data.len() {
        one = step(one, k128, load(at));
        at += 16;
    }
    let mut out = [0u8; 16];
    _mm_storeu_si128(out.as_mut_ptr().cast(), one);
    out
}
