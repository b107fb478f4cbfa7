//! Q5_0 and Q8_0: blocks of 32 weights with one f16 scale, multiplied by activations quantised
//! in blocks of 32 (llama.cpp's Q8_0 activations).
//!
//! The sum of a block's products is kept as eight integer lanes of four products, each scaled
//! into its own float accumulator (multiply, then add: no fused multiply-add, so the portable
//! path rounds identically), even and odd blocks apart: with one accumulator each block waited
//! for the previous block's addition.

use super::{GROUP, Kernel, Simd, f16_at, quantize_block, widen};

/// Weights per block.
pub const BLOCK: usize = 32;

/// An activation row quantised to 8 bits per block of [`BLOCK`] values.
pub struct Row {
    scales: Vec<f32>,
    values: Vec<i8>,
}

/// A format of 32-weight blocks that starts with its f16 scale.
trait Blocks32 {
    /// Bytes per block.
    const BYTES: usize;
    /// The block's 32 weights as integers (before the scale).
    fn weights(block: &[u8]) -> [i32; BLOCK];
    /// The block's 32 weights as signed bytes in one AVX2 register.
    ///
    /// # Safety
    /// The CPU has AVX2 and `block` is [`Blocks32::BYTES`] long.
    #[cfg(target_arch = "x86_64")]
    unsafe fn weights_avx2(block: &[u8]) -> std::arch::x86_64::__m256i;
}

/// Q5_0: an f16 scale, the 32 fifth bits, 16 bytes of low nibbles; weights −16…15.
pub struct Q5_0;
/// Q8_0: an f16 scale and 32 signed bytes.
pub struct Q8_0;

impl Q5_0 {
    /// Bytes per block.
    pub const BYTES: usize = 22;

    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        dequantize::<Q5_0>(block, out)
    }
}

impl Q8_0 {
    /// Bytes per block.
    pub const BYTES: usize = 34;

    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        dequantize::<Q8_0>(block, out)
    }
}

fn dequantize<F: Blocks32>(block: &[u8], out: &mut [f32]) {
    let scale = f16_at(block);
    for (o, w) in out.iter_mut().zip(F::weights(block)) {
        *o = scale * w as f32;
    }
}

impl Blocks32 for Q5_0 {
    const BYTES: usize = Q5_0::BYTES;

    /// Low nibble, plus 16 when its high bit is set, minus 16.
    fn weights(block: &[u8]) -> [i32; BLOCK] {
        let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        let nibbles = &block[6..Q5_0::BYTES];
        std::array::from_fn(|j| {
            let nibble = if j < 16 { nibbles[j] & 0x0F } else { nibbles[j - 16] >> 4 };
            (nibble as i32 | (((high >> j) & 1) << 4) as i32) - 16
        })
    }

    /// llama.cpp's method: the nibbles spread to bytes, the high bits turned into a mask that
    /// ORs 0xF0 (−16) into bytes whose bit is clear.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn weights_avx2(block: &[u8]) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
        let all_but_own_bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
        let high = i32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        // Byte j is 0xFF when high bit j is set.
        let bits = _mm256_shuffle_epi8(_mm256_set1_epi32(high), spread);
        let bit_set = _mm256_cmpeq_epi8(_mm256_or_si256(bits, all_but_own_bit), _mm256_set1_epi64x(-1));
        // SAFETY: the block holds 16 nibble bytes at 6..22.
        let nibbles = unsafe { _mm_loadu_si128(block.as_ptr().add(6) as *const __m128i) };
        let weights = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(nibbles, 4), nibbles), _mm256_set1_epi8(0x0F));
        _mm256_or_si256(weights, _mm256_andnot_si256(bit_set, _mm256_set1_epi8(0xF0u8 as i8)))
    }
}

impl Blocks32 for Q8_0 {
    const BYTES: usize = Q8_0::BYTES;

    fn weights(block: &[u8]) -> [i32; BLOCK] {
        std::array::from_fn(|j| block[2 + j] as i8 as i32)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn weights_avx2(block: &[u8]) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        // SAFETY: the block holds 32 weight bytes at 2..34.
        unsafe { _mm256_loadu_si256(block.as_ptr().add(2) as *const __m256i) }
    }
}

fn quantize(x: &[f32]) -> Row {
    let mut values = Vec::with_capacity(x.len());
    let scales = x.chunks_exact(BLOCK).map(|block| quantize_block(block, &mut values)).collect();
    Row { scales, values }
}

/// Both 32-weight formats share the activation rows and the loop; only a block's decoding differs.
impl<F: Blocks32> Kernel for F {
    type Activation = Row;
    fn quantize(x: &[f32]) -> Row {
        quantize(x)
    }
    fn dot_group(simd: Simd, row: &[u8], xs: &[Row]) -> [f32; GROUP] {
        dot_group::<F>(simd, row, xs)
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn dot_group<F: Blocks32>(simd: Simd, row: &[u8], xs: &[Row]) -> [f32; GROUP] {
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx512Vnni {
        // SAFETY: `Simd::Avx512Vnni` is only used where the CPU has it (checked by `matmul_with`).
        return unsafe { by_group_size!(xs, N => dot_vnni::<F, N>(row, xs)) };
    }
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx2 {
        // SAFETY: `Simd::Avx2` is only used where the CPU has AVX2 (checked by `matmul_with`).
        return unsafe { by_group_size!(xs, N => dot_avx2::<F, N>(row, xs)) };
    }
    std::array::from_fn(|j| xs.get(j).map_or(0.0, |x| dot_portable::<F>(row, x)))
}

/// The sum of the even and odd blocks' eight lanes, in the order the AVX2 path adds them.
fn sum_lanes(even: [f32; 8], odd: [f32; 8]) -> f32 {
    let a: [f32; 8] = std::array::from_fn(|l| even[l] + odd[l]);
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// The reference: plain integer arithmetic per block, each lane of four products scaled into
/// its own float accumulator, even and odd blocks apart (the AVX2 path's lanes).
fn dot_portable<F: Blocks32>(row: &[u8], x: &Row) -> f32 {
    let mut accumulators = [[0f32; 8]; 2];
    for (b, block) in row.chunks_exact(F::BYTES).enumerate() {
        let lanes = &mut accumulators[b % 2];
        let scale = f16_at(block) * x.scales[b];
        let weights = F::weights(block);
        let values = &x.values[b * BLOCK..][..BLOCK];
        for (lane, accumulator) in lanes.iter_mut().enumerate() {
            let integer: i32 = (lane * 4..lane * 4 + 4).map(|j| weights[j] * values[j] as i32).sum();
            *accumulator += scale * integer as f32;
        }
    }
    sum_lanes(accumulators[0], accumulators[1])
}

/// A signed byte dot product into eight integer lanes per block, decoded once for the `N`
/// activation rows `xs[..N]`, each row's arithmetic exactly what it is alone.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2<F: Blocks32, const N: usize>(row: &[u8], xs: &[Row]) -> [f32; N] {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut accumulators = [[_mm256_setzero_ps(); 2]; N];
    for (b, block) in row.chunks_exact(F::BYTES).enumerate() {
        let weight_scale = f16_at(block);
        // SAFETY: the CPU has AVX2 (this function's precondition) and the block is whole.
        let weights = unsafe { F::weights_avx2(block) };
        let magnitudes = _mm256_sign_epi8(weights, weights);
        for (x, accumulators) in xs[..N].iter().zip(accumulators.iter_mut()) {
            let scale = weight_scale * x.scales[b];
            // SAFETY: each activation block is 32 bytes.
            let values = unsafe { _mm256_loadu_si256(x.values.as_ptr().add(b * BLOCK) as *const __m256i) };
            // maddubs multiplies unsigned by signed bytes: |w| times v carrying w's sign. At
            // most 2·128·127 per pair, so the 16-bit sums never saturate.
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

/// [`dot_avx2`] two blocks at a time: an even block in the low eight lanes of a 512-bit register,
/// the next odd one in the high eight, so that the lanes are the AVX2 path's two accumulators
/// side by side and take the same additions in the same order. One VNNI instruction does what
/// maddubs and madd did (the same exact integer sums, four products per lane); AVX-512 has no
/// byte sign instruction, so the activations are negated under the weights' sign mask instead.
/// An odd last block is added as the portable path adds it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn dot_vnni<F: Blocks32, const N: usize>(row: &[u8], xs: &[Row]) -> [f32; N] {
    use std::arch::x86_64::*;
    let blocks = row.len() / F::BYTES;
    let mut accumulators = [_mm512_setzero_ps(); N];
    for pair in 0..blocks / 2 {
        let (even, odd) = (&row[2 * pair * F::BYTES..][..F::BYTES], &row[(2 * pair + 1) * F::BYTES..][..F::BYTES]);
        // SAFETY: the CPU has AVX2 (this function's precondition) and the blocks are whole.
        let weights = unsafe { _mm512_inserti64x4(_mm512_castsi256_si512(F::weights_avx2(even)), F::weights_avx2(odd), 1) };
        let magnitudes = _mm512_abs_epi8(weights);
        let negative = _mm512_movepi8_mask(weights);
        let (even_scale, odd_scale) = (f16_at(even), f16_at(odd));
        for (x, accumulator) in xs[..N].iter().zip(accumulators.iter_mut()) {
            let scales = _mm512_mask_blend_ps(
                0xFF00,
                _mm512_set1_ps(even_scale * x.scales[2 * pair]),
                _mm512_set1_ps(odd_scale * x.scales[2 * pair + 1]),
            );
            // SAFETY: the two activation blocks are 64 contiguous bytes.
            let values = unsafe { _mm512_loadu_si512(x.values.as_ptr().add(2 * pair * BLOCK) as *const __m512i) };
            let signed = _mm512_mask_sub_epi8(values, negative, _mm512_setzero_si512(), values);
            let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), magnitudes, signed));
            *accumulator = _mm512_add_ps(*accumulator, _mm512_mul_ps(scales, lanes));
        }
    }
    let mut sums = [0f32; N];
    for ((x, accumulator), sum) in xs[..N].iter().zip(accumulators).zip(sums.iter_mut()) {
        let mut lanes = [0f32; 16];
        // SAFETY: sixteen f32 fit the array.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), accumulator) };
        let (mut even, odd): ([f32; 8], [f32; 8]) = (std::array::from_fn(|l| lanes[l]), std::array::from_fn(|l| lanes[8 + l]));
        if blocks % 2 == 1 {
            let b = blocks - 1;
            let block = &row[b * F::BYTES..][..F::BYTES];
            let scale = f16_at(block) * x.scales[b];
            let weights = F::weights(block);
            let values = &x.values[b * BLOCK..][..BLOCK];
            for (lane, accumulator) in even.iter_mut().enumerate() {
                let integer: i32 = (lane * 4..lane * 4 + 4).map(|j| weights[j] * values[j] as i32).sum();
                *accumulator += scale * integer as f32;
            }
        }
        *sum = sum_lanes(even, odd);
    }
    sums
}
