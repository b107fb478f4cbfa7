//! Q5_0 and Q8_0: blocks of 32 weights with one f16 scale, multiplied by activations quantised
//! in blocks of 32 (llama.cpp's Q8_0 activations).
//!
//! The sum of a block's products is kept as eight integer lanes of four products, each scaled
//! into its own float accumulator (multiply, then add: no fused multiply-add, so the portable
//! path rounds identically), even and odd blocks apart: with one accumulator each block waited
//! for the previous block's addition.

use super::{GROUP, Kernel, Simd, WEIGHT_ROWS, f16_at, quantize_block, row_by_row, widen};

/// Weights per block.
pub const BLOCK: usize = 32;

/// An activation row quantised to 8 bits per block of [`BLOCK`] values.
pub struct Row {
    scales: Vec<f32>,
    values: Vec<i8>,
    /// Minus the sum of each four consecutive values: what turns a product with weights made
    /// unsigned by an offset back into the signed product (the VNNI path).
    negated_lane_sums: Vec<i32>,
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
    /// log2 of the offset that makes every weight non-negative for [`tile_vnni`].
    const OFFSET_SHIFT: u32;
    /// Two blocks' weights plus the offset, as unsigned bytes in one 512-bit register: the even
    /// block in the low half.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW, and both blocks are [`Blocks32::BYTES`] long.
    #[cfg(target_arch = "x86_64")]
    unsafe fn unsigned_pair_vnni(even: &[u8], odd: &[u8]) -> std::arch::x86_64::__m512i;
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

    /// The weights plus 16: the nibbles with 16 added where the fifth bit is set, the two blocks'
    /// 64 fifth bits being directly the byte mask of that addition.
    const OFFSET_SHIFT: u32 = 4;

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    #[inline]
    unsafe fn unsigned_pair_vnni(even: &[u8], odd: &[u8]) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        let high = |block: &[u8]| u64::from(u32::from_le_bytes(block[2..6].try_into().expect("a whole block")));
        // SAFETY: each block holds 16 nibble bytes at 6..22.
        let packed = unsafe { _mm256_loadu2_m128i(odd.as_ptr().add(6) as *const __m128i, even.as_ptr().add(6) as *const __m128i) };
        // 64-bit lanes: even nibble bytes twice, then odd twice; the second copy of each is
        // shifted to its high nibbles: weights 0–15 and 16–31 of each block in order.
        let doubled = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0), _mm512_castsi256_si512(packed));
        let nibbles = _mm512_and_si512(_mm512_srlv_epi64(doubled, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)), _mm512_set1_epi8(0x0F));
        _mm512_mask_add_epi8(nibbles, high(even) | high(odd) << 32, nibbles, _mm512_set1_epi8(16))
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

    /// The weights plus 128: their sign bits flipped.
    const OFFSET_SHIFT: u32 = 7;

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    #[inline]
    unsafe fn unsigned_pair_vnni(even: &[u8], odd: &[u8]) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        // SAFETY: the CPU has AVX2 (this function's precondition) and the blocks are whole.
        let weights = unsafe { _mm512_inserti64x4(_mm512_castsi256_si512(Self::weights_avx2(even)), Self::weights_avx2(odd), 1) };
        _mm512_xor_si512(weights, _mm512_set1_epi8(0x80u8 as i8))
    }
}

fn quantize(x: &[f32]) -> Row {
    let mut values = Vec::with_capacity(x.len());
    let scales = x.chunks_exact(BLOCK).map(|block| quantize_block(block, &mut values)).collect();
    let negated_lane_sums = values.chunks_exact(4).map(|lane| -lane.iter().map(|&v| i32::from(v)).sum::<i32>()).collect();
    Row { scales, values, negated_lane_sums }
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
    fn dot_tile(simd: Simd, rows: &[u8], row_bytes: usize, xs: &[Row]) -> [[f32; GROUP]; WEIGHT_ROWS] {
        #[cfg(target_arch = "x86_64")]
        if simd == Simd::Avx512Vnni {
            /// The tile's products for `$m` weight rows.
            macro_rules! rows {
                ($rows:expr, $m:literal) => {
                    // SAFETY: `Simd::Avx512Vnni` is only used where the CPU has it (checked by
                    // `matmul_with`), and `rows` holds `$m` whole rows.
                    unsafe {
                        match xs.len() {
                            1 => tile_vnni::<F, $m, 1>($rows, row_bytes, xs),
                            2 => tile_vnni::<F, $m, 2>($rows, row_bytes, xs),
                            3 => tile_vnni::<F, $m, 3>($rows, row_bytes, xs),
                            _ => tile_vnni::<F, $m, GROUP>($rows, row_bytes, xs),
                        }
                    }
                };
            }
            return match rows.len() / row_bytes {
                1 => rows!(rows, 1),
                2 => rows!(rows, 2),
                3 => rows!(rows, 3),
                _ => rows!(rows, 4),
            };
        }
        row_by_row::<F>(simd, rows, row_bytes, xs)
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn dot_group<F: Blocks32>(simd: Simd, row: &[u8], xs: &[Row]) -> [f32; GROUP] {
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx512Vnni {
        return F::dot_tile(simd, row, row.len(), xs)[0];
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

/// [`dot_avx2`] for `M` weight rows and `N` activation rows, two blocks at a time: an even
/// block in the low eight lanes of a 512-bit register, the next odd one in the high eight, so
/// that the lanes are the AVX2 path's two accumulators side by side and take the same additions
/// in the same order. One VNNI instruction per weight row and activation row makes a block
/// pair's exact integer lane sums: it multiplies unsigned by signed bytes, so the weights carry
/// an offset, and the activations' lane sums times that offset, subtracted up front, take it off
/// again. Each decoded weight pair serves the `N` activation rows, each loaded activation pair
/// the `M` weight rows. An odd last block is added as the portable path adds it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn tile_vnni<F: Blocks32, const M: usize, const N: usize>(rows: &[u8], row_bytes: usize, xs: &[Row]) -> [[f32; GROUP]; WEIGHT_ROWS] {
    use std::arch::x86_64::*;
    let blocks = row_bytes / F::BYTES;
    let row = |m: usize| &rows[m * row_bytes..][..row_bytes];
    let block = |m: usize, b: usize| &row(m)[b * F::BYTES..][..F::BYTES];
    let shift = _mm512_set1_epi32(F::OFFSET_SHIFT as i32);
    let mut accumulators = [[_mm512_setzero_ps(); N]; M];
    let (mut values, mut offsets, mut x_scales) = ([_mm512_setzero_si512(); N], [_mm512_setzero_si512(); N], [_mm512_setzero_ps(); N]);
    for pair in 0..blocks / 2 {
        let (even, odd) = (2 * pair, 2 * pair + 1);
        for (n, x) in xs[..N].iter().enumerate() {
            // SAFETY: two activation blocks are 64 contiguous bytes, and their lane sums 16 i32.
            unsafe {
                values[n] = _mm512_loadu_si512(x.values.as_ptr().add(even * BLOCK) as *const __m512i);
                offsets[n] = _mm512_sllv_epi32(_mm512_loadu_si512(x.negated_lane_sums.as_ptr().add(even * 8) as *const __m512i), shift);
            }
            x_scales[n] = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(x.scales[even]), _mm512_set1_ps(x.scales[odd]));
        }
        for (m, accumulators) in accumulators.iter_mut().enumerate() {
            let (even_block, odd_block) = (block(m, even), block(m, odd));
            // SAFETY: the CPU has AVX-512 F and BW (this function's precondition), the blocks are whole.
            let weights = unsafe { F::unsigned_pair_vnni(even_block, odd_block) };
            let weight_scales = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(f16_at(even_block)), _mm512_set1_ps(f16_at(odd_block)));
            for (n, accumulator) in accumulators.iter_mut().enumerate() {
                let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(offsets[n], weights, values[n]));
                *accumulator = _mm512_add_ps(*accumulator, _mm512_mul_ps(_mm512_mul_ps(weight_scales, x_scales[n]), lanes));
            }
        }
    }
    let mut sums = [[0f32; GROUP]; WEIGHT_ROWS];
    for (m, accumulators) in accumulators.iter().enumerate() {
        for (n, accumulator) in accumulators.iter().enumerate() {
            let x = &xs[n];
            let mut lanes = [0f32; 16];
            // SAFETY: sixteen f32 fit the array.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *accumulator) };
            let (mut even, odd): ([f32; 8], [f32; 8]) = (std::array::from_fn(|l| lanes[l]), std::array::from_fn(|l| lanes[8 + l]));
            if blocks % 2 == 1 {
                let b = blocks - 1;
                let block = block(m, b);
                let scale = f16_at(block) * x.scales[b];
                let weights = F::weights(block);
                let values = &x.values[b * BLOCK..][..BLOCK];
                for (lane, accumulator) in even.iter_mut().enumerate() {
                    let integer: i32 = (lane * 4..lane * 4 + 4).map(|j| weights[j] * values[j] as i32).sum();
                    *accumulator += scale * integer as f32;
                }
            }
            sums[m][n] = sum_lanes(even, odd);
        }
    }
    sums
}
