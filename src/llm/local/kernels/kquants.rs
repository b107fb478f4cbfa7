//! Q4_K and Q6_K: super-blocks of 256 weights in sub-blocks with integer scales, multiplied by
//! activations quantised in blocks of 256 with the sum of each 16 (llama.cpp's Q8_K).
//!
//! This module holds what the two formats share as GGUF stores them: the activation rows their
//! products read and the decoding of their blocks. The products themselves run on a repacked
//! layout ([`super::packed`]).

use super::{f16_at, quantize_block};

/// Weights per super-block.
pub const BLOCK: usize = 256;
/// Bytes per Q4_K block: f16 scale and minimum scale, 12 bytes of 6-bit scales and minimums,
/// 128 bytes of nibbles.
pub const Q4K_BYTES: usize = 144;
/// Bytes per Q6_K block: 128 bytes of low nibbles, 64 of high bit pairs, 16 signed scales, an
/// f16 scale.
pub const Q6K_BYTES: usize = 210;

/// An activation row quantised to 8 bits per block of [`BLOCK`] values, with the sum of each
/// 16 values.
pub struct Row {
    pub(super) scales: Vec<f32>,
    pub(super) values: Vec<i8>,
    pub(super) sums: Vec<i16>,
}

/// Quantises one activation row for the K-quant kernels.
pub(super) fn quantize(x: &[f32]) -> Row {
    let mut values = Vec::with_capacity(x.len());
    let scales = x.chunks_exact(BLOCK).map(|block| quantize_block(block, &mut values)).collect();
    // At most 16 · 127 in magnitude.
    let sums = values.chunks_exact(16).map(|s| s.iter().map(|&v| v as i16).sum()).collect();
    Row { scales, values, sums }
}

/// Q4_K weights: 4-bit values v in 8 sub-blocks of 32, each with a scale s and a minimum m,
/// weight = d·s·v − dmin·m.
pub struct Q4K;
/// Q6_K weights: 6-bit values v in 16 sub-blocks of 16, each with a signed scale s,
/// weight = d·s·(v − 32).
pub struct Q6K;

/// The eight 6-bit scales and eight 6-bit minimums packed in 12 bytes: the first four of each
/// in the low six bits of bytes 0–3 and 4–7, the last four in the nibbles of bytes 8–11 with
/// their top two bits in the spare bits above. Unpacked four at a time in 32-bit words
/// (llama.cpp's method): branch-free, since it runs once per block.
pub(super) fn q4k_scales(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    const LOW_SIX: u32 = 0x3f3f_3f3f;
    const LOW_FOUR: u32 = 0x0f0f_0f0f;
    const LOW_TWO: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([packed[4 * i], packed[4 * i + 1], packed[4 * i + 2], packed[4 * i + 3]]);
    let (first, second, third) = (word(0), word(1), word(2));
    let scales = [first & LOW_SIX, (third & LOW_FOUR) | (((first >> 6) & LOW_TWO) << 4)];
    let mins = [second & LOW_SIX, ((third >> 4) & LOW_FOUR) | (((second >> 6) & LOW_TWO) << 4)];
    let bytes = |pair: [u32; 2]| {
        let (a, b) = (pair[0].to_le_bytes(), pair[1].to_le_bytes());
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    };
    (bytes(scales), bytes(mins))
}

/// Value `i` (0…255) of a Q4_K block: each 64 values are 32 bytes, low nibbles then high.
fn q4k_value(block: &[u8], i: usize) -> i32 {
    let byte = block[16 + i / 64 * 32 + i % 32];
    (if i % 64 < 32 { byte & 0x0F } else { byte >> 4 }) as i32
}

/// Value `i` (0…255) of a Q6_K block, 0…63: each half of 128 has 64 bytes of nibbles (values
/// l and l + 64 share byte l, l + 32 and l + 96 byte l + 32) and 32 bytes of bit pairs (value
/// l + 32k's pair is bits 2k of byte l).
fn q6k_value(block: &[u8], i: usize) -> i32 {
    let (half, r) = (i / 128, i % 128);
    let (quarter, l) = (r / 32, r % 32);
    let byte = block[64 * half + l + 32 * (quarter % 2)];
    let low = if quarter < 2 { byte & 0x0F } else { byte >> 4 };
    let high = (block[128 + 32 * half + l] >> (2 * quarter)) & 3;
    (low | (high << 4)) as i32
}

impl Q4K {
    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        let (d, dmin) = (f16_at(block), f16_at(&block[2..]));
        let (scales, mins) = q4k_scales(&block[4..16]);
        for (i, o) in out.iter_mut().enumerate() {
            let sub = i / 32;
            *o = d * scales[sub] as f32 * q4k_value(block, i) as f32 - dmin * mins[sub] as f32;
        }
    }
}

impl Q6K {
    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        let d = f16_at(&block[208..]);
        for (i, o) in out.iter_mut().enumerate() {
            *o = d * block[192 + i / 16] as i8 as f32 * (q6k_value(block, i) - 32) as f32;
        }
    }
}
