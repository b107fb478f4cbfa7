//! Q4_K and Q6_K: super-blocks of 256 weights in sub-blocks with integer scales, multiplied by
//! activations quantised in blocks of 256 with the sum of each 16 (llama.cpp's Q8_K).
//!
//! A block's products, times the sub-blocks' integer scales, are summed exactly in eight 32-bit
//! integer lanes; the minimums (Q4_K) and the −32 offset (Q6_K) come from the activation sums.
//! Only then does floating point enter: each lane is scaled and added to its own float lane, and
//! the lanes are summed once at the row's end ([`Lanes`], which both paths share). That is what
//! makes them bit-identical, and it spares every block a horizontal sum.

use super::{GROUP, Kernel, Simd, f16_at, quantize_block, widen};

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
    scales: Vec<f32>,
    values: Vec<i8>,
    sums: Vec<i16>,
}

fn quantize(x: &[f32]) -> Row {
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
fn q4k_scales(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
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

/// A sub-block's products: 16-bit pairs multiplied by its scale and added into 32-bit lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn add_scaled_pairs_avx2(
    chain: std::arch::x86_64::__m256i,
    pairs: std::arch::x86_64::__m256i,
    scales: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_add_epi32(chain, _mm256_madd_epi16(pairs, scales))
}

/// [`add_scaled_pairs_avx2`] in one VNNI instruction: the same exact integer sums.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
#[inline]
fn add_scaled_pairs_vnni(
    chain: std::arch::x86_64::__m256i,
    pairs: std::arch::x86_64::__m256i,
    scales: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    std::arch::x86_64::_mm256_dpwssd_epi32(chain, pairs, scales)
}

/// [`Q4K`]'s x86 dot products, written once for AVX2 and for AVX-512 VNNI, which differ only
/// in how a sub-block's scaled pairs are added (see [`add_scaled_pairs_vnni`]).
#[cfg(target_arch = "x86_64")]
macro_rules! q4k_dot {
    ($name:ident, $features:literal, $accumulate:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name<const N: usize>(row: &[u8], xs: &[Row]) -> [f32; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the blocks and activation rows.
            unsafe {
                let low_nibble = _mm256_set1_epi8(0x0F);
                let mut products = [_mm256_setzero_ps(); N];
                let mut minimums = [_mm_setzero_ps(); N];
                for (b, block) in row.chunks_exact(Q4K_BYTES).enumerate() {
                    let (d, dmin) = (f16_at(block), f16_at(&block[2..]));
                    let (scales, mins) = q4k_scales(&block[4..16]);
                    let mut values = [_mm256_setzero_si256(); 8];
                    for chunk in 0..4 {
                        // The block holds 128 nibble bytes at 16..144.
                        let bytes = _mm256_loadu_si256(block.as_ptr().add(16 + 32 * chunk) as *const __m256i);
                        values[2 * chunk] = _mm256_and_si256(bytes, low_nibble);
                        values[2 * chunk + 1] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_nibble);
                    }
                    let scales = scales.map(|s| _mm256_set1_epi16(s as i16));
                    let mins = _mm_cvtepu8_epi16(_mm_set1_epi64x(i64::from_le_bytes(mins)));
                    for (j, x) in xs[..N].iter().enumerate() {
                        // Two chains of sums, so that an accumulating instruction's latency is hidden.
                        let mut chains = [_mm256_setzero_si256(); 2];
                        for sub in 0..8 {
                            // Each activation block is 256 bytes.
                            let activations = _mm256_loadu_si256(x.values.as_ptr().add(b * BLOCK + 32 * sub) as *const __m256i);
                            let pairs = _mm256_maddubs_epi16(values[sub], activations);
                            chains[sub % 2] = $accumulate(chains[sub % 2], pairs, scales[sub]);
                        }
                        let sums = _mm256_add_epi32(chains[0], chains[1]);
                        // The minimums times the sums of each sub-block's two halves, in 16-bit lanes
                        // (at most 63 · 2 · 2,032 per product pair). Each activation block has 16 sums.
                        let halves = _mm256_loadu_si256(x.sums.as_ptr().add(b * 16) as *const __m256i);
                        let sub_sums = _mm_hadd_epi16(_mm256_castsi256_si128(halves), _mm256_extracti128_si256(halves, 1));
                        let block_minimums = _mm_cvtepi32_ps(_mm_madd_epi16(mins, sub_sums));
                        let scale = x.scales[b];
                        let product_scale = _mm256_set1_ps(d * scale);
                        products[j] = _mm256_add_ps(products[j], _mm256_mul_ps(product_scale, _mm256_cvtepi32_ps(sums)));
                        minimums[j] = _mm_add_ps(minimums[j], _mm_mul_ps(_mm_set1_ps(dmin * scale), block_minimums));
                    }
                }
                std::array::from_fn(|j| {
                    let mut lanes = Lanes::default();
                    _mm256_storeu_ps(lanes.products.as_mut_ptr(), products[j]);
                    _mm_storeu_ps(lanes.minimums.as_mut_ptr(), minimums[j]);
                    lanes.total()
                })
            }
        }
    };
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

    fn dot_portable(row: &[u8], x: &Row) -> f32 {
        let mut lanes = Lanes::default();
        for (b, block) in row.chunks_exact(Q4K_BYTES).enumerate() {
            let (scales, mins) = q4k_scales(&block[4..16]);
            let values = &x.values[b * BLOCK..][..BLOCK];
            // Lane l holds, from each sub-block, the products of values 4l to 4l + 3.
            let products: [i32; 8] = std::array::from_fn(|l| {
                (0..8)
                    .map(|sub| {
                        let first = 32 * sub + 4 * l;
                        scales[sub] as i32 * (first..first + 4).map(|i| q4k_value(block, i) * values[i] as i32).sum::<i32>()
                    })
                    .sum()
            });
            // Lane k: the minimums of sub-blocks 2k and 2k + 1 times the activations' sums there.
            let sums = &x.sums[b * 16..][..16];
            let sub_sum = |j: usize| sums[2 * j] as i32 + sums[2 * j + 1] as i32;
            let minimums: [i32; 4] =
                std::array::from_fn(|k| mins[2 * k] as i32 * sub_sum(2 * k) + mins[2 * k + 1] as i32 * sub_sum(2 * k + 1));
            let scale = x.scales[b];
            lanes.add_products(f16_at(block) * scale, products);
            lanes.add_minimums(f16_at(&block[2..]) * scale, minimums);
        }
        lanes.total()
    }

    // Each 32 nibbles of a block spread to bytes once for the `N` rows; per row, an unsigned by
    // signed byte product into 16-bit pairs (at most 2·15·127), then a 16-bit multiply-add by
    // the sub-block's scale into 32-bit lanes.
    #[cfg(target_arch = "x86_64")]
    q4k_dot!(dot_avx2, "avx2", add_scaled_pairs_avx2);
    #[cfg(target_arch = "x86_64")]
    q4k_dot!(dot_vnni, "avx2,avx512f,avx512vl,avx512vnni", add_scaled_pairs_vnni);
}

/// [`Q6K`]'s x86 dot products, written once for AVX2 and for AVX-512 VNNI, which differ only
/// in how a sub-block's scaled pairs are added (see [`add_scaled_pairs_vnni`]).
#[cfg(target_arch = "x86_64")]
macro_rules! q6k_dot {
    ($name:ident, $features:literal, $accumulate:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name<const N: usize>(row: &[u8], xs: &[Row]) -> [f32; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the blocks and activation rows.
            unsafe {
                let (low_nibble, pair) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(3));
                let mut products = [_mm256_setzero_ps(); N];
                for (b, block) in row.chunks_exact(Q6K_BYTES).enumerate() {
                    let d = f16_at(&block[208..]);
                    let mut values = [_mm256_setzero_si256(); 8];
                    for half in 0..2 {
                        // The block holds 128 nibble bytes at 0..128 and 64 pair bytes at 128..192.
                        let (first, second, high) = {
                            let at = |offset: usize| _mm256_loadu_si256(block.as_ptr().add(offset) as *const __m256i);
                            (at(64 * half), at(64 * half + 32), at(128 + 32 * half))
                        };
                        let high_bits = |shift: i32| {
                            let pairs = match shift {
                                0 => high,
                                2 => _mm256_srli_epi16(high, 2),
                                4 => _mm256_srli_epi16(high, 4),
                                _ => _mm256_srli_epi16(high, 6),
                            };
                            _mm256_slli_epi16(_mm256_and_si256(pairs, pair), 4)
                        };
                        let values = &mut values[4 * half..][..4];
                        values[0] = _mm256_or_si256(_mm256_and_si256(first, low_nibble), high_bits(0));
                        values[1] = _mm256_or_si256(_mm256_and_si256(second, low_nibble), high_bits(2));
                        values[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(first, 4), low_nibble), high_bits(4));
                        values[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(second, 4), low_nibble), high_bits(6));
                    }
                    // The block holds 16 scale bytes at 192..208.
                    let packed = _mm_loadu_si128(block.as_ptr().add(192) as *const __m128i);
                    // Vector k spans sub-blocks 2k (its low eight 16-bit lanes) and 2k + 1.
                    let scales: [__m256i; 8] = std::array::from_fn(|k| {
                        let spread = _mm_set_epi64x(0x0101_0101_0101_0101 * (2 * k as i64 + 1), 0x0101_0101_0101_0101 * 2 * k as i64);
                        _mm256_cvtepi8_epi16(_mm_shuffle_epi8(packed, spread))
                    });
                    let all_scales = _mm256_cvtepi8_epi16(packed);
                    for (j, x) in xs[..N].iter().enumerate() {
                        // Two chains of sums, so that an accumulating instruction's latency is hidden.
                        let mut chains = [_mm256_setzero_si256(); 2];
                        for k in 0..8 {
                            // Each activation block is 256 bytes.
                            let activations = _mm256_loadu_si256(x.values.as_ptr().add(b * BLOCK + 32 * k) as *const __m256i);
                            let pairs = _mm256_maddubs_epi16(values[k], activations);
                            chains[k % 2] = $accumulate(chains[k % 2], pairs, scales[k]);
                        }
                        let mut sums = _mm256_add_epi32(chains[0], chains[1]);
                        // The −32 offset: 32 times the scales times the sums of each sub-block (each
                        // activation block has 16 sums).
                        let halves = _mm256_loadu_si256(x.sums.as_ptr().add(b * 16) as *const __m256i);
                        sums = _mm256_sub_epi32(sums, _mm256_slli_epi32(_mm256_madd_epi16(all_scales, halves), 5));
                        let scale = _mm256_set1_ps(d * x.scales[b]);
                        products[j] = _mm256_add_ps(products[j], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));
                    }
                }
                std::array::from_fn(|j| {
                    let mut lanes = Lanes::default();
                    _mm256_storeu_ps(lanes.products.as_mut_ptr(), products[j]);
                    lanes.total()
                })
            }
        }
    };
}

impl Q6K {
    /// The block's weights as f32.
    pub fn dequantize(block: &[u8], out: &mut [f32]) {
        let d = f16_at(&block[208..]);
        for (i, o) in out.iter_mut().enumerate() {
            *o = d * block[192 + i / 16] as i8 as f32 * (q6k_value(block, i) - 32) as f32;
        }
    }

    fn dot_portable(row: &[u8], x: &Row) -> f32 {
        let mut lanes = Lanes::default();
        for (b, block) in row.chunks_exact(Q6K_BYTES).enumerate() {
            let values = &x.values[b * BLOCK..][..BLOCK];
            let scale = |sub: usize| block[192 + sub] as i8 as i32;
            let sums = &x.sums[b * 16..][..16];
            // Lane l holds, from each 32 values, the products of values 4l to 4l + 3 (in sub-block
            // 2k or 2k + 1 of the k-th 32), less the −32 offset's share of sub-blocks 2l, 2l + 1.
            let products: [i32; 8] = std::array::from_fn(|l| {
                let products: i32 = (0..8)
                    .map(|k| {
                        let first = 32 * k + 4 * l;
                        scale(first / 16) * (first..first + 4).map(|i| q6k_value(block, i) * values[i] as i32).sum::<i32>()
                    })
                    .sum();
                products - 32 * (scale(2 * l) * sums[2 * l] as i32 + scale(2 * l + 1) * sums[2 * l + 1] as i32)
            });
            lanes.add_products(f16_at(&block[208..]) * x.scales[b], products);
        }
        lanes.total()
    }

    // The 6-bit values (0…63, the offset applied afterwards) assembled once for the `N` rows;
    // per row, an unsigned by signed byte product (at most 2·63·127 per pair), then a 16-bit
    // multiply-add by the two sub-blocks' scales each 32 values span.
    #[cfg(target_arch = "x86_64")]
    q6k_dot!(dot_avx2, "avx2", add_scaled_pairs_avx2);
    #[cfg(target_arch = "x86_64")]
    q6k_dot!(dot_vnni, "avx2,avx512f,avx512vl,avx512vnni", add_scaled_pairs_vnni);
}

/// A row's float accumulators, lane by lane as the x86 paths hold them in registers: per block,
/// eight lanes of exact integer products (and, for Q4_K, four of minimums) are scaled and added
/// here, and only the row's end sums across lanes. Both paths go through this order, which is
/// what keeps them bit-identical, and no block pays for a horizontal sum.
#[derive(Default)]
struct Lanes {
    products: [f32; 8],
    minimums: [f32; 4],
}

impl Lanes {
    fn add_products(&mut self, scale: f32, products: [i32; 8]) {
        for (lane, product) in self.products.iter_mut().zip(products) {
            *lane += scale * product as f32;
        }
    }

    fn add_minimums(&mut self, scale: f32, minimums: [i32; 4]) {
        for (lane, minimum) in self.minimums.iter_mut().zip(minimums) {
            *lane += scale * minimum as f32;
        }
    }

    fn total(&self) -> f32 {
        self.products.iter().sum::<f32>() - self.minimums.iter().sum::<f32>()
    }
}

/// Dispatches a group of 1 to [`GROUP`] rows to a format's AVX2 or portable dot products.
macro_rules! dot_group {
    ($format:ident, $simd:expr, $row:expr, $xs:expr) => {{
        let (simd, row, xs): (Simd, &[u8], &[Row]) = ($simd, $row, $xs);
        #[cfg(target_arch = "x86_64")]
        if simd == Simd::Avx512Vnni {
            // SAFETY: `Simd::Avx512Vnni` is only used where the CPU has it (checked by `matmul_with`).
            return unsafe { by_group_size!(xs, N => $format::dot_vnni::<N>(row, xs)) };
        }
        #[cfg(target_arch = "x86_64")]
        if simd == Simd::Avx2 {
            // SAFETY: `Simd::Avx2` is only used where the CPU has AVX2 (checked by `matmul_with`).
            return unsafe { by_group_size!(xs, N => $format::dot_avx2::<N>(row, xs)) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = simd;
        std::array::from_fn(|j| xs.get(j).map_or(0.0, |x| $format::dot_portable(row, x)))
    }};
}

impl Kernel for Q4K {
    type Activation = Row;
    fn quantize(x: &[f32]) -> Row {
        quantize(x)
    }
    fn dot_group(simd: Simd, row: &[u8], xs: &[Row]) -> [f32; GROUP] {
        dot_group!(Q4K, simd, row, xs)
    }
}

impl Kernel for Q6K {
    type Activation = Row;
    fn quantize(x: &[f32]) -> Row {
        quantize(x)
    }
    fn dot_group(simd: Simd, row: &[u8], xs: &[Row]) -> [f32; GROUP] {
        dot_group!(Q6K, simd, row, xs)
    }
}
