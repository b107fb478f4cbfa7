//! Matrix-vector products on Q5_0 weights, for generation.
//!
//! Why zhbrief has its own: the shipped Qwen2.5-Coder files hold most weights in Q5_0, which
//! Candle multiplies in a scalar loop (19 generated tokens/s as shipped). Re-encoding them as
//! Q8_0 got Candle's vectorised kernel but reads 55% more bytes per weight, and generation is
//! bound by memory bandwidth. This kernel reads Q5_0 as stored: AVX2 where the CPU has it
//! (detected at run time, so one binary runs anywhere), a portable loop elsewhere. Both paths
//! compute the same integer sums and add them in the same order with the same roundings, so
//! their results are bit-identical.

use half::f16;

/// Weights per block.
pub const BLOCK: usize = 32;
/// Bytes per Q5_0 block: an f16 scale, 32 high bits, 16 bytes of low nibbles.
const Q5_0_BYTES: usize = 22;
/// Output rows per unit of work handed to a thread.
const ROWS_PER_ITEM: usize = 16;

/// An activation vector quantised to 8 bits per block of [`BLOCK`] values.
pub struct QuantizedVector {
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl QuantizedVector {
    /// Quantises `x` (a multiple of [`BLOCK`] long): each block scaled so its largest magnitude
    /// is 127.
    pub fn new(x: &[f32]) -> QuantizedVector {
        let mut scales = Vec::with_capacity(x.len() / BLOCK);
        let mut values = Vec::with_capacity(x.len());
        for block in x.chunks_exact(BLOCK) {
            let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            scales.push(scale);
            values.extend(block.iter().map(|v| (v * inverse).round() as i8));
        }
        QuantizedVector { scales, values }
    }
}

/// `out[i][r] = Σ_c weights[r][c] · xs[i][c]` for a `(rows, cols)` Q5_0 matrix stored as GGUF
/// holds it and a few vectors `xs` (`out` is `(xs.len(), rows)`), split across Candle's worker
/// threads. Each block of weights is decoded once for up to [`GROUP`] vectors: on this CPU the
/// product is bound by arithmetic, and decoding is half of it, so several sequences decoded
/// together cost less than each alone. Every vector's result is bit-identical to its result
/// alone.
pub fn matmul_q5_0(weights: &[u8], rows: usize, cols: usize, xs: &[QuantizedVector], out: &mut [f32]) {
    assert!(
        cols.is_multiple_of(BLOCK) && xs.iter().all(|x| x.values.len() == cols) && out.len() == rows * xs.len(),
        "matmul_q5_0: shapes disagree"
    );
    let row_bytes = cols / BLOCK * Q5_0_BYTES;
    assert_eq!(weights.len(), rows * row_bytes, "matmul_q5_0: weight size");
    let out_address = out.as_mut_ptr() as usize;
    let avx2 = has_avx2();
    candle_core::utils::barrier_pool().execute_chunked(rows.div_ceil(ROWS_PER_ITEM), |items| {
        for row in items.start * ROWS_PER_ITEM..rows.min(items.end * ROWS_PER_ITEM) {
            let weights = &weights[row * row_bytes..][..row_bytes];
            for (g, group) in xs.chunks(GROUP).enumerate() {
                let sums = dot_group(weights, group, avx2);
                for (j, sum) in sums[..group.len()].iter().enumerate() {
                    // SAFETY: work items cover disjoint rows, so each element of `out` (which
                    // outlives this call) is written by one worker only.
                    unsafe { *(out_address as *mut f32).add((g * GROUP + j) * rows + row) = *sum };
                }
            }
        }
    });
}

/// Vectors multiplied per pass over a row's weights: four keep every accumulator in a register.
const GROUP: usize = 4;

/// Whether this CPU runs the AVX2 kernel: asked once per product, not once per row.
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The dot products of one row of weights with 1 to [`GROUP`] vectors (unused slots are 0),
/// with the AVX2 kernel when `avx2` (from [`has_avx2`]).
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn dot_group(row: &[u8], xs: &[QuantizedVector], avx2: bool) -> [f32; GROUP] {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` comes from `has_avx2`: the CPU has AVX2.
        return unsafe {
            match xs {
                [a] => widen(dot_avx2([a], row)),
                [a, b] => widen(dot_avx2([a, b], row)),
                [a, b, c] => widen(dot_avx2([a, b, c], row)),
                [a, b, c, d] => dot_avx2([a, b, c, d], row),
                _ => unreachable!("groups hold 1 to {GROUP} vectors"),
            }
        };
    }
    std::array::from_fn(|j| xs.get(j).map_or(0.0, |x| dot_portable(row, x)))
}

fn widen<const N: usize>(sums: [f32; N]) -> [f32; GROUP] {
    std::array::from_fn(|j| sums.get(j).copied().unwrap_or(0.0))
}

/// A block's 32 weights as signed values −16…15: low nibble, plus 16 when its high bit is set,
/// minus 16.
fn block_weights(block: &[u8]) -> [i32; BLOCK] {
    let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
    let nibbles = &block[6..Q5_0_BYTES];
    std::array::from_fn(|j| {
        let nibble = if j < 16 { nibbles[j] & 0x0F } else { nibbles[j - 16] >> 4 };
        (nibble as i32 | (((high >> j) & 1) << 4) as i32) - 16
    })
}

/// The sum of the even and odd blocks' eight lanes, in the order the AVX2 path adds them.
fn sum_lanes(even: [f32; 8], odd: [f32; 8]) -> f32 {
    let a: [f32; 8] = std::array::from_fn(|l| even[l] + odd[l]);
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// The reference: plain integer arithmetic per block, each lane of four products scaled into
/// its own float accumulator, even and odd blocks apart (the AVX2 path's lanes).
fn dot_portable(row: &[u8], x: &QuantizedVector) -> f32 {
    let mut accumulators = [[0f32; 8]; 2];
    for (b, block) in row.chunks_exact(Q5_0_BYTES).enumerate() {
        let lanes = &mut accumulators[b % 2];
        let scale = f16::from_le_bytes([block[0], block[1]]).to_f32() * x.scales[b];
        let weights = block_weights(block);
        let values = &x.values[b * BLOCK..][..BLOCK];
        for (lane, accumulator) in lanes.iter_mut().enumerate() {
            let integer: i32 = (lane * 4..lane * 4 + 4).map(|j| weights[j] * values[j] as i32).sum();
            *accumulator += scale * integer as f32;
        }
    }
    sum_lanes(accumulators[0], accumulators[1])
}

/// llama.cpp's AVX2 method: the 32 nibbles spread to bytes, the high bits turned into a mask
/// that ORs 0xF0 (−16) into bytes whose bit is clear, then a signed byte dot product into eight
/// integer lanes, scaled into eight float accumulators (multiply, then add: no fused
/// multiply-add, so the portable path can round identically). Even and odd blocks have their own
/// accumulators: with one, each block waited for the previous block's addition. Each block is
/// decoded once for the `N` vectors, whose arithmetic is each exactly what it is alone.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2<const N: usize>(xs: [&QuantizedVector; N], row: &[u8]) -> [f32; N] {
    use std::arch::x86_64::*;
    let spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    let all_but_own_bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    let all_ones = _mm256_set1_epi64x(-1);
    let low_nibble = _mm256_set1_epi8(0x0F);
    let minus_sixteen = _mm256_set1_epi8(0xF0u8 as i8);
    let ones = _mm256_set1_epi16(1);
    let mut accumulators = [[_mm256_setzero_ps(); 2]; N];
    for (b, block) in row.chunks_exact(Q5_0_BYTES).enumerate() {
        let weight_scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
        let high = i32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        // Byte j is 0xFF when high bit j is set.
        let bits = _mm256_shuffle_epi8(_mm256_set1_epi32(high), spread);
        let bit_set = _mm256_cmpeq_epi8(_mm256_or_si256(bits, all_but_own_bit), all_ones);
        // SAFETY: the block holds 16 nibble bytes at 6..22.
        let nibbles = unsafe { _mm_loadu_si128(block.as_ptr().add(6) as *const __m128i) };
        let weights = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(nibbles, 4), nibbles), low_nibble);
        let weights = _mm256_or_si256(weights, _mm256_andnot_si256(bit_set, minus_sixteen));
        let magnitudes = _mm256_sign_epi8(weights, weights);
        for (x, accumulators) in xs.iter().zip(accumulators.iter_mut()) {
            let scale = weight_scale * x.scales[b];
            // SAFETY: each activation block is 32 bytes.
            let values = unsafe { _mm256_loadu_si256(x.values.as_ptr().add(b * BLOCK) as *const __m256i) };
            // maddubs multiplies unsigned by signed bytes: |w| times v carrying w's sign. At
            // most 2·16·127 per pair, so the 16-bit sums never saturate.
            let pairs = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(values, weights));
            let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            let accumulator = &mut accumulators[b % 2];
            *accumulator = _mm256_add_ps(*accumulator, _mm256_mul_ps(_mm256_set1_ps(scale), lanes));
        }
    }
    accumulators.map(|pair| {
        let mut lanes = [[0f32; 8]; 2];
        for (out, accumulator) in lanes.iter_mut().zip(pair) {
            // SAFETY: eight f32 fit the array.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), accumulator) };
        }
        sum_lanes(lanes[0], lanes[1])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
            })
            .collect()
    }

    /// A Q5_0 matrix made by Candle's own quantiser, its raw bytes and its dequantised values.
    fn q5_0_matrix(rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
        let values = Tensor::from_vec(random(rows * cols, 3), (rows, cols), &Device::Cpu).unwrap();
        let quantized = QTensor::quantize(&values, GgmlDType::Q5_0).unwrap();
        let bytes = quantized.data().unwrap().to_vec();
        let dequantized = quantized.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        (bytes, dequantized)
    }

    #[test]
    fn blocks_decode_as_candle_dequantises_them() {
        let (bytes, dequantized) = q5_0_matrix(1, 64);
        for (b, block) in bytes.chunks_exact(Q5_0_BYTES).enumerate() {
            let scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
            for (j, w) in block_weights(block).iter().enumerate() {
                assert_eq!(scale * *w as f32, dequantized[b * BLOCK + j], "block {b} weight {j}");
            }
        }
    }

    #[test]
    fn matvec_matches_the_f32_product_and_paths_agree_bit_for_bit() {
        let (rows, cols) = (67, 896);
        let (bytes, dequantized) = q5_0_matrix(rows, cols);
        let x = random(cols, 9);
        let quantized = QuantizedVector::new(&x);
        let mut out = vec![0f32; rows];
        matmul_q5_0(&bytes, rows, cols, std::slice::from_ref(&quantized), &mut out);
        let row_bytes = cols / BLOCK * Q5_0_BYTES;
        for (r, &got) in out.iter().enumerate() {
            let weights = &dequantized[r * cols..][..cols];
            let exact: f32 = weights.iter().zip(&x).map(|(w, v)| w * v).sum();
            // The only error is the activations' rounding: at most half a step per value.
            let bound: f32 = weights.iter().enumerate().map(|(c, w)| w.abs() * quantized.scales[c / BLOCK] / 2.0).sum();
            assert!((got - exact).abs() <= bound + 1e-4, "row {r}: {got} vs {exact} (bound {bound})");
            assert_eq!(got.to_bits(), dot_portable(&bytes[r * row_bytes..][..row_bytes], &quantized).to_bits(), "row {r}");
        }
    }

    #[test]
    fn several_vectors_give_what_each_gives_alone() {
        let (rows, cols) = (37, 256);
        let (bytes, _) = q5_0_matrix(rows, cols);
        // Six: a full group of four and a group of two.
        let xs: Vec<QuantizedVector> = (0..6).map(|i| QuantizedVector::new(&random(cols, 20 + i))).collect();
        let mut together = vec![0f32; xs.len() * rows];
        matmul_q5_0(&bytes, rows, cols, &xs, &mut together);
        for (x, expected) in xs.iter().zip(together.chunks_exact(rows)) {
            let mut alone = vec![0f32; rows];
            matmul_q5_0(&bytes, rows, cols, std::slice::from_ref(x), &mut alone);
            assert_eq!(alone, expected);
        }
    }
}
