//! Q5_0 and Q8_0 as GGUF stores them: blocks of 32 weights with one f16 scale, and the
//! activation rows their products read, quantised in blocks of 32 (llama.cpp's Q8_0
//! activations). The products themselves run on a repacked layout ([`super::packed`]).

use super::{f16_at, quantize_block};

/// Weights per block.
pub const BLOCK: usize = 32;

/// An activation row quantised to 8 bits per block of [`BLOCK`] values, with each block's sum:
/// what turns a product with weights made unsigned by an offset back into the signed product.
pub struct Row {
    pub(super) scales: Vec<f32>,
    pub(super) values: Vec<i8>,
    pub(super) sums: Vec<i32>,
}

/// Quantises one activation row for the 32-weight formats.
pub(super) fn quantize(x: &[f32]) -> Row {
    let mut values = Vec::with_capacity(x.len());
    let scales = x.chunks_exact(BLOCK).map(|block| quantize_block(block, &mut values)).collect();
    let sums = values.chunks_exact(BLOCK).map(|block| block.iter().map(|&v| v as i32).sum()).collect();
    Row { scales, values, sums }
}

/// Q5_0: an f16 scale, the 32 fifth bits, 16 bytes of low nibbles; weights −16…15.
pub struct Q5_0;
/// Q8_0: an f16 scale and 32 signed bytes.
pub struct Q8_0;

impl Q5_0 {
    /// Bytes per block.
    pub const BYTES: usize = 22;

    /// The block's 32 weights as integers (before the scale): the low nibble, plus 16 when its
    /// fifth bit is set, minus 16.
    pub fn weights(block: &[u8]) -> [i32; BLOCK] {
        let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        let nibbles = &block[6..Q5_0::BYTES];
        std::array::from_fn(|j| {
            let nibble = if j < 16 { nibbles[j] & 0x0F } else { nibbles[j - 16] >> 4 };
            (nibble as i32 | (((high >> j) & 1) << 4) as i32) - 16
        })
    }

    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        dequantize(block, Q5_0::weights(block), out)
    }
}

impl Q8_0 {
    /// Bytes per block.
    pub const BYTES: usize = 34;

    /// The block's 32 weights as integers (before the scale).
    pub fn weights(block: &[u8]) -> [i32; BLOCK] {
        std::array::from_fn(|j| block[2 + j] as i8 as i32)
    }

    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        dequantize(block, Q8_0::weights(block), out)
    }
}

fn dequantize(block: &[u8], weights: [i32; BLOCK], out: &mut [f32]) {
    let scale = f16_at(block);
    for (o, w) in out.iter_mut().zip(weights) {
        *o = scale * w as f32;
    }
}
