//! Matrix products on quantised weights: Q5_0, Q8_0, Q4_K and Q6_K, every tensor type of the
//! shipped Qwen2.5-Coder files except the F32 norms, repacked at load eight rows at a time
//! ([`Packed`]).
//!
//! Why zhbrief has its own: Candle multiplies Q5_0 in a scalar loop, and its K-quant paths
//! (dequantise to f32 per call for a batch, repack on first use) left the 1.5B translation model
//! at a third of llama.cpp's speed. Here the activations are quantised once per row to 8-bit
//! blocks (32 values for Q5_0/Q8_0, 256 with sums of each 16 for the K-quants, as llama.cpp
//! does), and each packed block of eight weight rows is decoded once for up to [`GROUP`]
//! activation rows: integer dot products with AVX-512 VNNI or AVX2 where the CPU has them
//! (detected at run time, so one binary runs anywhere), a portable loop elsewhere. Every path
//! computes the same integer sums and adds them in the same order with the same roundings, so
//! their results are bit-identical, and a row's result never depends on how many rows are
//! multiplied beside it.

/// `$call` for a group of activation rows, with the const `$n` set to the group's size
/// (`$xs.len()`, one of the `$size`s, or `$largest` beyond them), its results widened to
/// [`GROUP`]: how a SIMD path's dot products, generic over the rows they hold in registers,
/// are reached.
#[cfg(target_arch = "x86_64")]
macro_rules! by_group_size {
    ($xs:expr, $n:ident => $call:expr; $($size:literal),*; $largest:literal) => {
        match $xs.len() {
            $($size => {
                const $n: usize = $size;
                widen($call)
            })*
            _ => {
                const $n: usize = $largest;
                widen($call)
            }
        }
    };
}

mod blocks32;
mod kquants;
mod packed;

pub use packed::{Activations, Packed};

use half::f16;

/// A weight format with a kernel here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 32 weights in 22 bytes: an f16 scale and 5-bit values.
    Q5_0,
    /// 32 weights in 34 bytes: an f16 scale and 8-bit values.
    Q8_0,
    /// 256 weights in 144 bytes: 4-bit values in 8 sub-blocks with 6-bit scales and minimums.
    Q4K,
    /// 256 weights in 210 bytes: 6-bit values in 16 sub-blocks with 8-bit scales.
    Q6K,
}

impl Format {
    /// The format of a Candle tensor type, if a kernel here multiplies it.
    pub fn of(dtype: candle_core::quantized::GgmlDType) -> Option<Format> {
        use candle_core::quantized::GgmlDType;
        match dtype {
            GgmlDType::Q5_0 => Some(Format::Q5_0),
            GgmlDType::Q8_0 => Some(Format::Q8_0),
            GgmlDType::Q4K => Some(Format::Q4K),
            GgmlDType::Q6K => Some(Format::Q6K),
            _ => None,
        }
    }

    /// Weights per block.
    pub fn block_values(self) -> usize {
        match self {
            Format::Q5_0 | Format::Q8_0 => blocks32::BLOCK,
            Format::Q4K | Format::Q6K => kquants::BLOCK,
        }
    }

    /// Bytes per block.
    fn block_bytes(self) -> usize {
        match self {
            Format::Q5_0 => blocks32::Q5_0::BYTES,
            Format::Q8_0 => blocks32::Q8_0::BYTES,
            Format::Q4K => kquants::Q4K_BYTES,
            Format::Q6K => kquants::Q6K_BYTES,
        }
    }
}

/// The instructions a product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Plain Rust, any CPU: the reference.
    Portable,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512 with VNNI (byte dot products into 32-bit lanes).
    Avx512Vnni,
}

impl Simd {
    /// The best this CPU runs.
    pub fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                return Simd::Avx512Vnni;
            }
            if has!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Portable
    }

    /// Whether this CPU runs these instructions.
    pub fn is_available(self) -> bool {
        match self {
            Simd::Portable => true,
            Simd::Avx2 => Simd::detect() != Simd::Portable,
            Simd::Avx512Vnni => Simd::detect() == Simd::Avx512Vnni,
        }
    }
}

/// Activation rows multiplied per pass over a weight block: eight keep every accumulator of the
/// AVX-512 path in its 32 registers (the AVX2 path, with 16, takes the 32-weight formats' four at
/// a time). Eight against four: a batch of 8 candidates of the 1.5B model decodes 15% faster (49 → 57 tokens/s,
/// 2-core Xeon), the weights being read once per step instead of twice.
pub const GROUP: usize = 8;
/// Output rows per unit of work handed to a thread.
const ROWS_PER_ITEM: usize = 16;
/// Activation rows per tile: a tile's quantised rows (64 × 8,960 bytes at most in the shipped
/// models) stay in L2 while a thread's weight rows pass over them.
const TILE: usize = 64;

/// Row `index` of a `(rows, cols)` matrix in `format`, dequantised into `out` (`cols` long): an
/// embedding lookup without an f32 copy of the whole table.
pub fn dequantize_row(format: Format, weights: &[u8], cols: usize, index: usize, out: &mut [f32]) {
    let row_bytes = cols / format.block_values() * format.block_bytes();
    let row = &weights[index * row_bytes..][..row_bytes];
    let blocks = row.chunks_exact(format.block_bytes()).zip(out.chunks_exact_mut(format.block_values()));
    match format {
        Format::Q5_0 => blocks.for_each(|(b, o)| blocks32::Q5_0::dequantize(b, o)),
        Format::Q8_0 => blocks.for_each(|(b, o)| blocks32::Q8_0::dequantize(b, o)),
        Format::Q4K => blocks.for_each(|(b, o)| kquants::Q4K::dequantize(b, o)),
        Format::Q6K => blocks.for_each(|(b, o)| kquants::Q6K::dequantize(b, o)),
    }
}

/// Pads 1 to `N` results to [`GROUP`] with zeros.
fn widen<T: Copy + Default, const N: usize>(sums: [T; N]) -> [T; GROUP] {
    std::array::from_fn(|j| sums.get(j).copied().unwrap_or_default())
}

/// The little-endian f16 at the start of `bytes`, as f32.
fn f16_at(bytes: &[u8]) -> f32 {
    f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

/// Scales `block` so its largest magnitude is 127 and rounds it into `values`; returns the scale.
///
/// Written so that it vectorises: as a fold, `f32::max` (which passes over NaN) was one scalar
/// compare per value, each waiting on the last, and the cast to `i8` one scalar conversion and
/// byte insert per value; together they were a twentieth of decoding a batch of 8 candidates
/// (0.5B model, `perf`). Here the maximum is kept in independent lanes (the same maximum: `>`
/// passes over NaN as `f32::max` does, and a maximum does not depend on the order values are
/// compared in), and a rounded value is clamped to the range of `i8` in floating point and
/// converted without the checks of a saturating cast: the same bytes, tested against the fold
/// and cast.
fn quantize_block(block: &[f32], values: &mut Vec<i8>) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let mut chunks = block.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane = if v.abs() > *lane { v.abs() } else { *lane };
        }
    }
    let max = lanes.iter().chain(chunks.remainder().iter()).fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    let scale = max / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    values.extend(block.iter().map(|v| {
        // NaN becomes 0, as `as i8` makes it.
        let rounded = (v * inverse).round().clamp(-128.0, 127.0);
        let rounded = if rounded.is_nan() { 0.0 } else { rounded };
        // SAFETY: `rounded` is a whole number in the range of `i8`.
        unsafe { rounded.to_int_unchecked::<i32>() as i8 }
    }));
    scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    pub(super) fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
            })
            .collect()
    }

    /// A matrix quantised by Candle's own quantiser (the independent oracle): its raw bytes and
    /// its values as Candle dequantises them.
    pub(super) fn matrix(dtype: GgmlDType, rows: usize, cols: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
        let values = Tensor::from_vec(random(rows * cols, seed), (rows, cols), &Device::Cpu).unwrap();
        let quantized = QTensor::quantize(&values, dtype).unwrap();
        let bytes = quantized.data().unwrap().to_vec();
        let dequantized = quantized.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        (bytes, dequantized)
    }

    const FORMATS: [(GgmlDType, Format); 4] =
        [(GgmlDType::Q5_0, Format::Q5_0), (GgmlDType::Q8_0, Format::Q8_0), (GgmlDType::Q4K, Format::Q4K), (GgmlDType::Q6K, Format::Q6K)];

    /// `weights` (GGUF layout) times `x` on `simd`, through a packed copy.
    fn matmul_with(simd: Simd, format: Format, weights: &[u8], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
        Packed::new(format, weights, rows, cols).matmul_with(simd, x, out)
    }

    /// Every path this CPU runs.
    fn simds() -> Vec<Simd> {
        [Simd::Portable, Simd::Avx2, Simd::Avx512Vnni].into_iter().filter(|simd| simd.is_available()).collect()
    }

    #[test]
    fn blocks_quantise_as_the_plain_fold_and_cast_do() {
        // The plain form, which the vectorised one must match byte for byte.
        let plain = |block: &[f32]| {
            let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            (scale, block.iter().map(|v| (v * inverse).round() as i8).collect::<Vec<_>>())
        };
        let mut blocks: Vec<Vec<f32>> = (0..200).map(|seed| random(32, seed).iter().map(|v| v * (seed as f32 + 1.0)).collect()).collect();
        // Halves that round away from zero, a largest value at either end, NaN, infinities, and
        // maxima so small that their inverse overflows.
        blocks.push((0..32).map(|i| i as f32 - 15.5).collect());
        blocks.push([vec![-127.0], vec![0.5; 31]].concat());
        blocks.push([vec![f32::NAN], random(31, 7)].concat());
        blocks.push([random(31, 8), vec![f32::INFINITY]].concat());
        blocks.push([vec![f32::NEG_INFINITY, f32::NAN], random(30, 9)].concat());
        blocks.push(random(32, 10).iter().map(|v| v * 1e-38).collect());
        blocks.push(random(32, 11).iter().map(|v| v * 1e-44).collect());
        blocks.push(vec![0.0; 32]);
        blocks.push(random(256, 12));
        blocks.push(random(37, 13));
        for block in blocks {
            let mut values = Vec::new();
            let scale = quantize_block(&block, &mut values);
            let (expected_scale, expected) = plain(&block);
            assert_eq!((scale.to_bits(), values), (expected_scale.to_bits(), expected), "{block:?}");
        }
    }

    #[test]
    fn rows_decode_as_candle_dequantises_them() {
        for (dtype, format) in FORMATS {
            let cols = 3 * format.block_values();
            let (bytes, dequantized) = matrix(dtype, 5, cols, 7);
            let mut row = vec![0f32; cols];
            for r in 0..5 {
                dequantize_row(format, &bytes, cols, r, &mut row);
                assert_eq!(row, dequantized[r * cols..][..cols], "{format:?} row {r}");
            }
        }
    }

    #[test]
    fn products_match_the_f32_product_within_the_activation_rounding() {
        // Odd sizes: rows not a multiple of the work item, a block count that is odd, activation
        // rows that fill neither a group nor a tile.
        for (dtype, format) in FORMATS {
            let (rows, cols) = (37, 5 * format.block_values());
            let (bytes, dequantized) = matrix(dtype, rows, cols, 3);
            let n = 7;
            let x = random(n * cols, 9);
            for simd in simds() {
                let mut out = vec![0f32; n * rows];
                matmul_with(simd, format, &bytes, rows, cols, &x, &mut out);
                for i in 0..n {
                    let x = &x[i * cols..][..cols];
                    // The activations are rounded to 8 bits per block of the format's
                    // activation size: at most half a step per value.
                    let step = |c: usize| {
                        let block = format.block_values().min(256);
                        let start = c / block * block;
                        x[start..start + block].iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0
                    };
                    for r in 0..rows {
                        let weights = &dequantized[r * cols..][..cols];
                        let exact: f32 = weights.iter().zip(x).map(|(w, v)| w * v).sum();
                        let bound: f32 = weights.iter().enumerate().map(|(c, w)| w.abs() * step(c) / 2.0).sum();
                        let got = out[i * rows + r];
                        assert!((got - exact).abs() <= bound + 1e-3, "{format:?} {simd:?} [{i}][{r}]: {got} vs {exact} (bound {bound})");
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_and_every_grouping_gives_the_same_bits() {
        for (dtype, format) in FORMATS {
            let (rows, cols) = (19, 3 * format.block_values());
            let (bytes, _) = matrix(dtype, rows, cols, 11);
            // 70 rows: a full tile, full groups, then six (AVX2: four and two); 71: seven (four and three).
            for n in [70, 71] {
                let x = random(n * cols, 13);
                let mut reference = vec![0f32; n * rows];
                matmul_with(Simd::Portable, format, &bytes, rows, cols, &x, &mut reference);
                for simd in simds() {
                    let mut together = vec![0f32; n * rows];
                    matmul_with(simd, format, &bytes, rows, cols, &x, &mut together);
                    assert_eq!(together, reference, "{format:?} {simd:?} {n} rows against the portable path");
                    for i in [0, 5, n - 1] {
                        let mut alone = vec![0f32; rows];
                        matmul_with(simd, format, &bytes, rows, cols, &x[i * cols..][..cols], &mut alone);
                        assert_eq!(alone, reference[i * rows..][..rows], "{format:?} {simd:?} row {i} alone");
                    }
                }
            }
        }
    }

    #[test]
    fn the_largest_weights_and_activations_overflow_no_path() {
        // The AVX2 path adds byte products in 16-bit lanes before widening them, as far as the
        // format's largest weight allows: here every weight is its format's largest magnitude
        // (all value bits set; Q8_0 ±127), every sub-block scale its largest (Q6_K's also its
        // most negative), and every activation ±127, so that every product of a block has the
        // same sign and any sum that outgrew its lane would differ from the portable path's.
        let blocks = 2;
        for format in [Format::Q5_0, Format::Q8_0, Format::Q4K, Format::Q6K] {
            let block = |row: usize| -> Vec<u8> {
                let one = f16::ONE.to_le_bytes();
                let mut bytes = vec![0xFF; format.block_bytes()];
                match format {
                    Format::Q5_0 => bytes[..2].copy_from_slice(&one),
                    Format::Q8_0 => {
                        bytes[..2].copy_from_slice(&one);
                        bytes[2..].fill(if row.is_multiple_of(2) { 0x7F } else { 0x81 });
                    }
                    Format::Q4K => {
                        bytes[..2].copy_from_slice(&one);
                        bytes[2..4].copy_from_slice(&one);
                    }
                    Format::Q6K => {
                        bytes[192..208].fill(if row.is_multiple_of(2) { 0x7F } else { 0x80 });
                        bytes[208..].copy_from_slice(&one);
                    }
                }
                bytes
            };
            let rows = 16;
            let weights: Vec<u8> = (0..rows).flat_map(|r| (0..blocks).flat_map(move |_| block(r))).collect();
            let cols = blocks * format.block_values();
            let x: Vec<f32> = [1.0, -1.0].iter().flat_map(|&v| vec![v; cols]).collect();
            let mut reference = vec![0f32; 2 * rows];
            matmul_with(Simd::Portable, format, &weights, rows, cols, &x, &mut reference);
            assert!(reference.iter().all(|v| v.is_finite() && *v != 0.0), "{format:?}: {reference:?}");
            for simd in simds() {
                let mut out = vec![0f32; 2 * rows];
                matmul_with(simd, format, &weights, rows, cols, &x, &mut out);
                assert_eq!(out, reference, "{format:?} {simd:?}");
            }
        }
    }

    /// Not a check but a measurement (`cargo test --release --lib kernel_throughput -- --ignored
    /// --nocapture`): multiply-adds per second of each 32-weight format on this CPU, for a
    /// matrix that stays in cache and one streamed from memory, with 1 (generation), 8 (a batch
    /// of candidates) and 64 (a prompt) activation rows; best of 7 runs.
    #[test]
    #[ignore]
    fn kernel_throughput() {
        for (dtype, format) in FORMATS {
            for rows in [4864, 65536] {
                // The 0.5B model's width for the 32-weight formats, the 1.5B model's for the K-quants.
                let cols = if format.block_values() == kquants::BLOCK { 1536 } else { 896 };
                let (bytes, _) = matrix(dtype, rows, cols, 3);
                // K-quants packed once, as a model holds them.
                let packed = Packed::new(format, &bytes, rows, cols);
                let product = |x: &[f32], out: &mut [f32]| packed.matmul(x, out);
                for n in [1, 8, 64] {
                    let x = random(n * cols, 9);
                    let mut out = vec![0f32; n * rows];
                    let repeats = (2048 / n * 4864 / rows).max(2);
                    let mut best = f64::MAX;
                    for _ in 0..7 {
                        let start = std::time::Instant::now();
                        (0..repeats).for_each(|_| product(&x, &mut out));
                        best = best.min(start.elapsed().as_secs_f64());
                    }
                    let rate = (rows * cols * n * repeats) as f64 / best / 1e9;
                    eprintln!("{format:?} {rows}×{cols}, {n} activation rows: {rate:.1} G multiply-adds/s");
                }
            }
        }
    }
}
