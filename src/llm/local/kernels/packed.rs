//! Weights repacked eight rows at a time: the layout their products read fastest.
//!
//! Why: in GGUF's layout a SIMD register holds values of one weight row, so the block's scales
//! (for the K-quants, one per sub-block) are applied per weight row and activation row, and each
//! block's floating-point work is done per row pair. Here a register holds four consecutive
//! values of eight rows: one byte dot product (`vpdpbusd` with VNNI) adds 32 products into
//! eight row lanes, eight of them cover 32 values of eight rows, one 32-bit multiply applies
//! the eight rows' sub-block scales, and a block's float scaling is one vector operation for
//! eight rows. Weights are stored unsigned (Q5_0 plus 16, Q8_0 plus 128), the activation sums
//! taking the offset off again. llama.cpp repacks for the same reason (`block_q4_Kx8`); this
//! layout is zhbrief's own. Measured with `kernel_throughput` (2-core EPYC, G multiply-adds/s,
//! GGUF layout → packed): 64 activation rows, Q4_K 88–91 → 240–267, Q6_K 102–113 → 198–225,
//! Q5_0 60–64 → 177–182, Q8_0 76–78 → 175–205; one row (generation), Q4_K 35–36 → 88–156,
//! Q6_K 36 → 74–112, Q5_0 27 → 87–101, Q8_0 29–30 → 45–119.
//!
//! With AVX-512 VNNI, two consecutive groups are multiplied at once, their rows side by side in
//! 512-bit registers (lanes 0–7 the first group's rows, 8–15 the second's), so every
//! instruction around the dot products (unpacking nibbles, the 32-bit scale multiplies, the
//! minimums, the float scaling) serves sixteen rows. On the 2-core Sapphire-Rapids-class Xeon,
//! which runs a 512-bit `vpdpbusd` at 1.8 times the multiply-adds of a 256-bit one, the 1.5B
//! model (2026-12-05, alternating runs of `zhbrief bench`): batch of 8 decoding 62 → 74 tokens/s,
//! the real article's prompt 99 → 114, one sequence 14.5 → 17.6. (An earlier 512-bit form
//! that put each row in two lanes and multiplied two activation rows at once was no faster: it
//! spent on interleaving the activations what it saved.)
//!
//! Without VNNI, AVX2 multiplies bytes into 16-bit pair sums; the pairs of several registers
//! are added in 16 bits before one multiply-add widens them and applies the sub-block scale
//! ([`scaled_dot_avx2`]). `kernel_throughput` on a 2-core AVX2 EPYC (Zen 3), G multiply-adds/s,
//! widening each register → adding first: 8 and 64 activation rows Q4_K 123–129 → 147–155,
//! Q5_0 95–98 → 98–102, Q6_K 102–110 → 102–114; one row unchanged (memory-bound).
//!
//! A block's products (less the offsets, Q4_K's minimums or Q6_K's −32) are summed exactly in 32-bit
//! integers per row; each block then adds them, scaled, to the row's float total in one order
//! on every path, so the paths are bit-identical and a row's result never depends on the rows
//! multiplied beside it.

use super::blocks32::{self, Q5_0, Q8_0};
use super::kquants::{self, BLOCK, Q4K_BYTES, Q6K_BYTES, Row, q4k_scales};
use super::{Format, GROUP, ROWS_PER_ITEM, Simd, TILE, f16_at, widen};
use std::sync::OnceLock;

/// Weight rows interleaved in a packed block.
const ROWS: usize = 8;
/// Weight rows multiplied per pass: two packed groups, which a 512-bit register holds side by
/// side.
const PAIR: usize = 2 * ROWS;
// A thread's rows start on a pair, so that a pair is never split between two threads.
const _: () = assert!(ROWS_PER_ITEM.is_multiple_of(PAIR));

/// Where the 32 nibble bytes of the 32 values from `32·chunk`, part `part` (0…3), lie in a
/// packed block of format `F`: byte `4r + i` holds value `8·part + i` of those 32 for row `r` in
/// its low nibble and value `8·part + 4 + i` in its high nibble, so the low (high) nibbles are
/// four consecutive values of each of the eight rows, as a byte dot product wants them.
const fn nibbles_at<F: Layout>(chunk: usize, part: usize) -> usize {
    F::CHUNKS + F::CHUNK_BYTES * chunk + 32 * part
}

/// Nibble `i` (0…31) of the 32 values from `32·chunk` of row `r` (see [`nibbles_at`]).
fn nibble<F: Layout>(packed: &[u8], r: usize, chunk: usize, i: usize) -> i32 {
    let byte = packed[nibbles_at::<F>(chunk, i / 8) + 4 * r + i % 4];
    (if i % 8 < 4 { byte & 0x0F } else { byte >> 4 }) as i32
}

/// Where a packed format's 32-value chunks lie: one after another, each read whole
/// before the next, so the weights stream in one ascending pass. (Q6_K's bit pairs in a
/// region of their own, a second stream, ran at a quarter of the speed when the matrix came
/// from memory: 17.6 against 73.7 G multiply-adds/s for one activation row.)
trait Layout {
    /// Bytes of eight rows' block.
    const BYTES: usize;
    /// Where the first chunk starts.
    const CHUNKS: usize;
    /// Bytes per chunk.
    const CHUNK_BYTES: usize;
}

/// Eight nibbles of a 32-bit word's bytes, from the low (`high` false) or high nibbles of
/// `eight` consecutive GGUF bytes, packed as [`nibbles_at`] lays out four values of a row.
fn four_pairs(eight: [u8; 8], high: bool) -> [u8; 4] {
    let values = (u64::from_le_bytes(eight) >> (4 * high as u32)) & 0x0F0F_0F0F_0F0F_0F0F;
    ((values as u32) | (((values >> 32) as u32) << 4)).to_le_bytes()
}

/// Q4_K packed: d and dmin as f32 (8 each), the 6-bit scales and minimums as bytes
/// (sub-block-major, 8 × 8 each), then each 32-value sub-block's 128 nibble bytes.
struct Q4KPacked;

impl Q4KPacked {
    const SCALES: usize = 64;
    const MINIMUMS: usize = 128;
}

impl Layout for Q4KPacked {
    const BYTES: usize = Self::CHUNKS + 8 * Self::CHUNK_BYTES;
    const CHUNKS: usize = 192;
    const CHUNK_BYTES: usize = 128;
}

/// Q6_K packed: d as f32 (8), the signed 8-bit scales (sub-block-major, 16 × 8), then for each
/// 32 values, their 128 nibble bytes and two 32-byte vectors `g` of bit pairs (one per 16-value
/// sub-block) whose byte `4r + i` holds in bits `2m` the pair of value `16g + 4m + i` of row `r`.
struct Q6KPacked;

impl Q6KPacked {
    const SCALES: usize = 32;

    /// Where the bit pairs of vector `g` of chunk `chunk` lie.
    const fn pairs_at(chunk: usize, g: usize) -> usize {
        Self::CHUNKS + Self::CHUNK_BYTES * chunk + 128 + 32 * g
    }
}

impl Layout for Q6KPacked {
    const BYTES: usize = Self::CHUNKS + 8 * Self::CHUNK_BYTES;
    const CHUNKS: usize = 160;
    const CHUNK_BYTES: usize = 192;
}

/// Q5_0 packed, per 32 weights: d as f32 (8), the nibbles of the weights plus 16 (one chunk),
/// then 32 bytes of their fifth bits: byte `4r + i` holds in bit `k` that of value `4k + i`.
struct Q5_0Packed;

impl Q5_0Packed {
    const FIFTH_BITS: usize = 160;
}

impl Layout for Q5_0Packed {
    const BYTES: usize = 192;
    const CHUNKS: usize = 32;
    const CHUNK_BYTES: usize = 128;
}

/// Q8_0 packed, per 32 weights: d as f32 (8), then eight 32-byte vectors `k` whose byte
/// `4r + i` is value `4k + i` of row `r` plus 128 (its sign bit flipped).
struct Q8_0Packed;

impl Q8_0Packed {
    const BYTES: usize = 288;
    const VALUES: usize = 32;
}

/// Packs row `r` (0…7) of a GGUF block into a packed block.
type PackRow = fn(&[u8], usize, &mut [u8]);

/// A `(rows, cols)` matrix in the packed layout (rows padded to a multiple of eight
/// with zero rows).
pub struct Packed {
    format: Format,
    bytes: Vec<u8>,
    rows: usize,
    cols: usize,
}

impl Packed {
    /// Repacks a matrix stored as GGUF holds `format`: whole bytes moved eight nibbles at a time
    /// where the formats allow.
    pub fn new(format: Format, gguf: &[u8], rows: usize, cols: usize) -> Packed {
        let (gguf_bytes, packed_bytes, pack): (usize, usize, PackRow) = match format {
            Format::Q4K => (Q4K_BYTES, Q4KPacked::BYTES, pack_q4k),
            Format::Q6K => (Q6K_BYTES, Q6KPacked::BYTES, pack_q6k),
            Format::Q5_0 => (Q5_0::BYTES, Q5_0Packed::BYTES, pack_q5_0),
            Format::Q8_0 => (Q8_0::BYTES, Q8_0Packed::BYTES, pack_q8_0),
        };
        let block_values = format.block_values();
        assert!(cols > 0 && cols.is_multiple_of(block_values), "{format:?}: {cols} columns are not whole blocks");
        let blocks = cols / block_values;
        assert_eq!(gguf.len(), rows * blocks * gguf_bytes, "{format:?}: weight size");
        let group_bytes = blocks * packed_bytes;
        let groups = rows.div_ceil(ROWS);
        let mut bytes = vec![0u8; groups * group_bytes];
        // Each thread packs its own run of groups: loading is a third faster on two cores.
        let per_thread = groups.div_ceil(candle_core::utils::get_num_threads().max(1)).max(1);
        std::thread::scope(|scope| {
            for (part, groups) in bytes.chunks_mut(per_thread * group_bytes).enumerate() {
                scope.spawn(move || {
                    for (i, group) in groups.chunks_exact_mut(group_bytes).enumerate() {
                        let g = part * per_thread + i;
                        for (b, packed) in group.chunks_exact_mut(packed_bytes).enumerate() {
                            for r in 0..ROWS.min(rows - g * ROWS) {
                                pack(&gguf[((g * ROWS + r) * blocks + b) * gguf_bytes..][..gguf_bytes], r, packed);
                            }
                        }
                    }
                });
            }
        });
        Packed { format, bytes, rows, cols }
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `out[i][r] = Σ_c weights[r][c] · x[i][c]` (`x` is `n × cols`, `out` `n × rows`), split
    /// across Candle's worker threads, with the best instructions this CPU has.
    pub fn matmul(&self, x: &[f32], out: &mut [f32]) {
        self.product(&Activations::new(x, self.cols), out)
    }

    /// [`Packed::matmul`] on the given instructions (which the CPU must have).
    pub fn matmul_with(&self, simd: Simd, x: &[f32], out: &mut [f32]) {
        self.product_with(simd, &Activations::new(x, self.cols), out)
    }

    /// [`Packed::matmul`] of activation rows that other products may share.
    pub fn product(&self, x: &Activations, out: &mut [f32]) {
        self.product_with(Simd::detect(), x, out)
    }

    /// [`Packed::product`] on the given instructions (which the CPU must have).
    pub fn product_with(&self, simd: Simd, x: &Activations, out: &mut [f32]) {
        assert_eq!(x.cols, self.cols, "matmul: activations of {} columns for {} columns", x.cols, self.cols);
        assert_eq!(out.len(), x.rows() * self.rows, "matmul: output size");
        assert!(simd.is_available(), "matmul: this CPU cannot run {simd:?}");
        match self.format {
            Format::Q4K => self
                .run(x.kquants(), out, |pair, bytes, xs| dot!(simd, pair, bytes, xs, q4k_portable, q4k_avx2 / 8, q4k_vnni, q4k_vnni_pair)),
            Format::Q6K => self
                .run(x.kquants(), out, |pair, bytes, xs| dot!(simd, pair, bytes, xs, q6k_portable, q6k_avx2 / 8, q6k_vnni, q6k_vnni_pair)),
            Format::Q5_0 => self.run(x.blocks32(), out, |pair, bytes, xs| {
                dot!(simd, pair, bytes, xs, q5_0_portable, q5_0_avx2 / 4, q5_0_vnni, q5_0_vnni_pair)
            }),
            Format::Q8_0 => self.run(x.blocks32(), out, |pair, bytes, xs| {
                dot!(simd, pair, bytes, xs, q8_0_portable, q8_0_avx2 / 4, q8_0_vnni, q8_0_vnni_pair)
            }),
        }
    }

    /// The product with quantised activation rows, each pair of groups of eight weight rows (or
    /// a last group alone) multiplied with 1 to [`GROUP`] of them by `dot`.
    fn run<A: Send + Sync>(&self, activations: &[A], out: &mut [f32], dot: impl Fn(&[u8], usize, &[A]) -> [[f32; PAIR]; GROUP] + Sync) {
        let rows = self.rows;
        let group_bytes = self.bytes.len() / rows.div_ceil(ROWS);
        let out_address = out.as_mut_ptr() as usize;
        candle_core::utils::barrier_pool().execute_chunked(rows.div_ceil(ROWS_PER_ITEM), |items| {
            let own_rows = items.start * ROWS_PER_ITEM..rows.min(items.end * ROWS_PER_ITEM);
            for (t, tile) in activations.chunks(TILE).enumerate() {
                for first in own_rows.clone().step_by(PAIR) {
                    let groups = (own_rows.end - first).div_ceil(ROWS).min(2);
                    let pair = &self.bytes[first / ROWS * group_bytes..][..groups * group_bytes];
                    let count = own_rows.end.min(first + PAIR) - first;
                    for (a, xs) in tile.chunks(GROUP).enumerate() {
                        let sums = dot(pair, group_bytes, xs);
                        for (j, sums) in sums[..xs.len()].iter().enumerate() {
                            let i = t * TILE + a * GROUP + j;
                            // SAFETY: work items cover disjoint rows, so each element of `out`
                            // (which outlives this call) is written by one worker only.
                            unsafe { std::ptr::copy_nonoverlapping(sums.as_ptr(), (out_address as *mut f32).add(i * rows + first), count) };
                        }
                    }
                }
            }
        });
    }
}

/// Activation rows as the products read them: quantised on first use, once for each kind of
/// block (32 values for Q5_0 and Q8_0, 256 for the K-quants), however many products read them.
/// The query, key and value matrices read one input, the gate and up matrices another: quantised
/// for each matrix, a layer's four inputs were quantised seven times.
pub struct Activations<'a> {
    x: &'a [f32],
    cols: usize,
    blocks32: OnceLock<Vec<blocks32::Row>>,
    kquants: OnceLock<Vec<Row>>,
}

impl<'a> Activations<'a> {
    /// The rows of `x`, `cols` values each.
    pub fn new(x: &'a [f32], cols: usize) -> Activations<'a> {
        assert!(cols > 0 && x.len().is_multiple_of(cols), "matmul: {} activations for {cols} columns", x.len());
        Activations { x, cols, blocks32: OnceLock::new(), kquants: OnceLock::new() }
    }

    /// Activation rows.
    pub fn rows(&self) -> usize {
        self.x.len() / self.cols
    }

    // Rows shared among the worker threads: a prompt's 512 rows took a tenth of its time
    // quantised on one thread while the other waited.
    fn blocks32(&self) -> &[blocks32::Row] {
        self.blocks32.get_or_init(|| crate::llm::local::map_on_workers(self.x.chunks_exact(self.cols).collect(), blocks32::quantize))
    }

    fn kquants(&self) -> &[Row] {
        self.kquants.get_or_init(|| crate::llm::local::map_on_workers(self.x.chunks_exact(self.cols).collect(), kquants::quantize))
    }
}

/// The products of one or two consecutive packed groups of eight rows (`pair`, `group_bytes`
/// each) with 1 to [`GROUP`] activation rows, `[activation][row]`: with AVX-512 VNNI, two groups
/// side by side in 512-bit registers (`$vnni_pair`); else, and for a last group alone, group by
/// group on the best path this CPU has (`$avx2 / 8` or `/ 4`: the AVX2 path's activation rows a
/// pass).
macro_rules! dot {
    ($simd:expr, $pair:expr, $group_bytes:expr, $xs:expr, $portable:ident, $avx2:ident / $avx2_rows:tt, $vnni:ident, $vnni_pair:ident) => {{
        let (simd, pair, group_bytes, xs): (Simd, &[u8], usize, _) = ($simd, $pair, $group_bytes, $xs);
        match simd {
            // SAFETY: a `Simd` is only used where the CPU has it (checked by `matmul_with`).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512Vnni if pair.len() == 2 * group_bytes => unsafe {
                by_group_size!(xs, N => $vnni_pair::<N>(pair, group_bytes, xs); 1, 2, 3, 4, 5, 6, 7; 8)
            },
            _ => {
                let mut sums = [[0.0; PAIR]; GROUP];
                for (half, group) in pair.chunks_exact(group_bytes).enumerate() {
                    for (sums, part) in sums.iter_mut().zip(dot!(@group simd, group, xs, $portable, $avx2 / $avx2_rows, $vnni)) {
                        sums[half * ROWS..][..ROWS].copy_from_slice(&part);
                    }
                }
                sums
            }
        }
    }};
    // AVX2 has 16 registers. The K-quants' products fit eight activation rows' accumulators
    // beside a sub-block's weights; the 32-weight formats' float totals, live across blocks, fit
    // four. `kernel_throughput` (2-core Zen 3, G multiply-adds/s, 4 → 8 rows a pass): Q6_K
    // 110–114 → 134–140, Q4_K 147–157 → 151–162; Q5_0 101–106 → 90–97, Q8_0 81–86 → 73–78.
    (@avx2 8, $group:expr, $xs:expr, $avx2:ident) => {
        // SAFETY: a `Simd` is only used where the CPU has it (checked by `matmul_with`).
        unsafe { by_group_size!($xs, N => $avx2::<N>($group, $xs); 1, 2, 3, 4, 5, 6, 7; 8) }
    };
    (@avx2 4, $group:expr, $xs:expr, $avx2:ident) => {{
        let mut sums = [[0.0; ROWS]; GROUP];
        for (four, xs) in sums.chunks_mut(4).zip($xs.chunks(4)) {
            // SAFETY: as above.
            let part = unsafe { by_group_size!(xs, N => $avx2::<N>($group, xs); 1, 2, 3; 4) };
            four.copy_from_slice(&part[..4]);
        }
        sums
    }};
    (@group $simd:expr, $group:expr, $xs:expr, $portable:ident, $avx2:ident / $avx2_rows:tt, $vnni:ident) => {{
        let (simd, group, xs) = ($simd, $group, $xs);
        #[cfg(target_arch = "x86_64")]
        let sums = match simd {
            // SAFETY: a `Simd` is only used where the CPU has it (checked by `matmul_with`).
            Simd::Avx512Vnni => unsafe { by_group_size!(xs, N => $vnni::<N>(group, xs); 1, 2, 3, 4, 5, 6, 7; 8) },
            Simd::Avx2 => dot!(@avx2 $avx2_rows, group, xs, $avx2),
            Simd::Portable => std::array::from_fn(|j| xs.get(j).map_or([0.0; ROWS], |x| $portable(group, x))),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let sums: [[f32; ROWS]; GROUP] = {
            let _ = simd;
            std::array::from_fn(|j| xs.get(j).map_or([0.0; ROWS], |x| $portable(group, x)))
        };
        sums
    }};
}
use dot;

fn pack_q4k(block: &[u8], r: usize, packed: &mut [u8]) {
    put_f32(packed, 4 * r, f16_at(block));
    put_f32(packed, 32 + 4 * r, f16_at(&block[2..]));
    let (scales, mins) = q4k_scales(&block[4..16]);
    for sub in 0..8 {
        packed[Q4KPacked::SCALES + 8 * sub + r] = scales[sub];
        packed[Q4KPacked::MINIMUMS + 8 * sub + r] = mins[sub];
        // In GGUF, sub-block `sub` is the low (even) or high (odd) nibbles of the 32 bytes at
        // 16 + 32·(sub / 2).
        for part in 0..4 {
            let at = 16 + 32 * (sub / 2) + 8 * part;
            let four = four_pairs(block[at..at + 8].try_into().expect("eight bytes"), sub % 2 == 1);
            packed[nibbles_at::<Q4KPacked>(sub, part) + 4 * r..][..4].copy_from_slice(&four);
        }
    }
}

fn pack_q6k(block: &[u8], r: usize, packed: &mut [u8]) {
    put_f32(packed, 4 * r, f16_at(&block[208..]));
    for sub in 0..16 {
        packed[Q6KPacked::SCALES + 8 * sub + r] = block[192 + sub];
    }
    // In GGUF, the 32 values from 128·half + 32·quarter take their low nibbles from the low
    // (quarters 0, 1) or high (2, 3) nibbles of the 32 bytes at 64·half + 32·(quarter % 2), and
    // their bit pairs from bits 2·quarter of the 32 bytes at 128 + 32·half.
    for chunk in 0..8 {
        let (half, quarter) = (chunk / 4, chunk % 4);
        for part in 0..4 {
            let at = 64 * half + 32 * (quarter % 2) + 8 * part;
            let four = four_pairs(block[at..at + 8].try_into().expect("eight bytes"), quarter >= 2);
            packed[nibbles_at::<Q6KPacked>(chunk, part) + 4 * r..][..4].copy_from_slice(&four);
        }
        for g in 0..2 {
            for i in 0..4 {
                let pair = |m: usize| (block[128 + 32 * half + 16 * g + 4 * m + i] >> (2 * quarter)) & 3;
                packed[Q6KPacked::pairs_at(chunk, g) + 4 * r + i] = pair(0) | pair(1) << 2 | pair(2) << 4 | pair(3) << 6;
            }
        }
    }
}

fn pack_q5_0(block: &[u8], r: usize, packed: &mut [u8]) {
    put_f32(packed, 4 * r, f16_at(block));
    let unsigned = Q5_0::weights(block).map(|w| (w + 16) as u8);
    for i in 0..4 {
        for part in 0..4 {
            packed[nibbles_at::<Q5_0Packed>(0, part) + 4 * r + i] =
                unsigned[8 * part + i] & 0x0F | (unsigned[8 * part + 4 + i] & 0x0F) << 4;
        }
        packed[Q5_0Packed::FIFTH_BITS + 4 * r + i] = (0..8).map(|k| (unsigned[4 * k + i] >> 4) << k).sum();
    }
}

fn pack_q8_0(block: &[u8], r: usize, packed: &mut [u8]) {
    put_f32(packed, 4 * r, f16_at(block));
    for (j, &byte) in block[2..Q8_0::BYTES].iter().enumerate() {
        packed[Q8_0Packed::VALUES + 32 * (j / 4) + 4 * r + j % 4] = byte ^ 0x80;
    }
}

/// The f32 at `at` of a packed block.
fn f32_at(packed: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(packed[at..at + 4].try_into().expect("four bytes"))
}

/// Writes `value` as the f32 at `at` of a packed block (what [`f32_at`] reads).
fn put_f32(packed: &mut [u8], at: usize, value: f32) {
    packed[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn q4k_portable(group: &[u8], x: &Row) -> [f32; ROWS] {
    let mut totals = [0f32; ROWS];
    for (b, packed) in group.chunks_exact(Q4KPacked::BYTES).enumerate() {
        let values = &x.values[b * BLOCK..][..BLOCK];
        let sums = &x.sums[b * 16..][..16];
        let scale = x.scales[b];
        for (r, total) in totals.iter_mut().enumerate() {
            let (mut products, mut minimums) = (0i32, 0i32);
            for sub in 0..8 {
                let dot: i32 = (0..32).map(|i| nibble::<Q4KPacked>(packed, r, sub, i) * values[32 * sub + i] as i32).sum();
                products += packed[Q4KPacked::SCALES + 8 * sub + r] as i32 * dot;
                minimums += packed[Q4KPacked::MINIMUMS + 8 * sub + r] as i32 * (sums[2 * sub] as i32 + sums[2 * sub + 1] as i32);
            }
            *total += f32_at(packed, 4 * r) * scale * products as f32 - f32_at(packed, 32 + 4 * r) * scale * minimums as f32;
        }
    }
    totals
}

fn q6k_portable(group: &[u8], x: &Row) -> [f32; ROWS] {
    let mut totals = [0f32; ROWS];
    for (b, packed) in group.chunks_exact(Q6KPacked::BYTES).enumerate() {
        let values = &x.values[b * BLOCK..][..BLOCK];
        let sums = &x.sums[b * 16..][..16];
        for (r, total) in totals.iter_mut().enumerate() {
            let mut products = 0i32;
            for sub in 0..16 {
                let (chunk, g) = (sub / 2, sub % 2);
                let value = |i: usize| {
                    let high = packed[Q6KPacked::pairs_at(chunk, g) + 4 * r + i % 4] >> (2 * (i / 4)) & 3;
                    nibble::<Q6KPacked>(packed, r, chunk, 16 * g + i) | (high as i32) << 4
                };
                let dot: i32 = (0..16).map(|i| value(i) * values[16 * sub + i] as i32).sum();
                products += packed[Q6KPacked::SCALES + 8 * sub + r] as i8 as i32 * (dot - 32 * sums[sub] as i32);
            }
            *total += f32_at(packed, 4 * r) * x.scales[b] * products as f32;
        }
    }
    totals
}

/// The products of eight packed rows of a 32-weight format whose weights are `unsigned(packed,
/// r, i)` less `1 << offset_shift`, with one activation row.
fn blocks32_portable(
    group: &[u8],
    x: &blocks32::Row,
    bytes: usize,
    offset_shift: u32,
    unsigned: impl Fn(&[u8], usize, usize) -> i32,
) -> [f32; ROWS] {
    let mut totals = [0f32; ROWS];
    for (b, packed) in group.chunks_exact(bytes).enumerate() {
        let values = &x.values[b * blocks32::BLOCK..][..blocks32::BLOCK];
        for (r, total) in totals.iter_mut().enumerate() {
            let dot: i32 = (0..blocks32::BLOCK).map(|i| unsigned(packed, r, i) * values[i] as i32).sum();
            *total += f32_at(packed, 4 * r) * x.scales[b] * (dot - (x.sums[b] << offset_shift)) as f32;
        }
    }
    totals
}

fn q5_0_portable(group: &[u8], x: &blocks32::Row) -> [f32; ROWS] {
    blocks32_portable(group, x, Q5_0Packed::BYTES, 4, |packed, r, i| {
        let fifth = (packed[Q5_0Packed::FIFTH_BITS + 4 * r + i % 4] >> (i / 4)) & 1;
        nibble::<Q5_0Packed>(packed, r, 0, i) | (fifth as i32) << 4
    })
}

fn q8_0_portable(group: &[u8], x: &blocks32::Row) -> [f32; ROWS] {
    blocks32_portable(group, x, Q8_0Packed::BYTES, 7, |packed, r, i| packed[Q8_0Packed::VALUES + 32 * (i / 4) + 4 * r + i % 4] as i32)
}

/// A register of eight row totals as an array.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn rows_of(totals: std::arch::x86_64::__m256) -> [f32; ROWS] {
    let mut rows = [0f32; ROWS];
    // SAFETY: `rows` holds eight floats.
    unsafe { std::arch::x86_64::_mm256_storeu_ps(rows.as_mut_ptr(), totals) };
    rows
}

/// The byte products of the `K` registers `weights` (four unsigned values of each of eight rows)
/// with the four activation bytes each at `activations`, per row, times the row's scale (`scales`
/// as [`scales_avx2`] gives them).
///
/// Why not one widening per register: AVX2 multiplies bytes into 16-bit pair sums (`maddubs`),
/// and widening each to 32 bits (`madd` with ones, then an add) was as many instructions again,
/// plus a 32-bit multiply by the scale. Here `TOGETHER` registers' pairs are added in 16 bits,
/// then one `madd` with the scale widens and scales them: the same integers (every sum is
/// exact), in about half the instructions. The caller keeps `TOGETHER · 2 · largest weight · 128`
/// within 16 bits (Q4_K: 8 · 2 · 15 · 128 = 30,720).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn scaled_dot_avx2<const K: usize, const TOGETHER: usize>(
    weights: &[std::arch::x86_64::__m256i],
    activations: *const i32,
    scales: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    const { assert!(TOGETHER.is_power_of_two() && K.is_multiple_of(TOGETHER)) };
    let mut total = _mm256_setzero_si256();
    for start in (0..K).step_by(TOGETHER) {
        let mut pairs = [_mm256_setzero_si256(); TOGETHER];
        for (i, pairs) in pairs.iter_mut().enumerate() {
            // SAFETY: the caller's activations hold four bytes per register.
            let four = _mm256_set1_epi32(unsafe { activations.add(start + i).read_unaligned() });
            *pairs = _mm256_maddubs_epi16(weights[start + i], four);
        }
        // Added as a tree, so that no add waits on more than one before it.
        let mut width = TOGETHER;
        while width > 1 {
            width /= 2;
            for i in 0..width {
                pairs[i] = _mm256_add_epi16(pairs[2 * i], pairs[2 * i + 1]);
            }
        }
        total = _mm256_add_epi32(total, _mm256_madd_epi16(pairs[0], scales));
    }
    total
}

/// Eight rows' scales (32-bit lanes, each within 16 bits) as [`scaled_dot_avx2`] takes them: each
/// in both 16-bit halves of its lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn scales_avx2(scales: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_or_si256(_mm256_and_si256(scales, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(scales, 16))
}

/// The byte products of eight registers of signed weights with the activation bytes at
/// `activations`, per row (AVX2): the weights' signs moved onto the activations (never −128, see
/// `quantize_block`), so that the 16-bit pairs stay within 2·128·127.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn signed_dot_avx2(weights: &[std::arch::x86_64::__m256i; 8], activations: *const i32) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // Two chains, so that an accumulating instruction's latency is hidden.
    let mut chains = [_mm256_setzero_si256(); 2];
    for (k, weights) in weights.iter().enumerate() {
        // SAFETY: the caller's activations hold four bytes per register.
        let four = _mm256_set1_epi32(unsafe { activations.add(k).read_unaligned() });
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(*weights), _mm256_sign_epi8(four, *weights));
        chains[k % 2] = _mm256_add_epi32(chains[k % 2], _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    }
    _mm256_add_epi32(chains[0], chains[1])
}

/// The byte products of the registers `weights` with the activation bytes at `activations`, per
/// row, in VNNI instructions (which add into 32-bit lanes, never saturating).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
#[inline]
unsafe fn dot_vnni(weights: &[std::arch::x86_64::__m256i], activations: *const i32) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // Two chains, so that an accumulating instruction's latency is hidden.
    let mut chains = [_mm256_setzero_si256(); 2];
    for (k, weights) in weights.iter().enumerate() {
        // SAFETY: the caller's activations hold four bytes per register.
        let four = _mm256_set1_epi32(unsafe { activations.add(k).read_unaligned() });
        chains[k % 2] = _mm256_dpbusd_epi32(chains[k % 2], *weights, four);
    }
    _mm256_add_epi32(chains[0], chains[1])
}

/// [`scaled_dot_avx2`] in VNNI instructions: the dot products, then a 32-bit multiply by the
/// scales (as they are: [`scales_vnni`]). `TOGETHER` is AVX2's limit, of no concern here.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
#[inline]
unsafe fn scaled_dot_vnni<const K: usize, const TOGETHER: usize>(
    weights: &[std::arch::x86_64::__m256i],
    activations: *const i32,
    scales: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    // SAFETY: as the caller's.
    std::arch::x86_64::_mm256_mullo_epi32(unsafe { dot_vnni(&weights[..K], activations) }, scales)
}

/// Row scales as [`scaled_dot_vnni`] takes them: unchanged.
#[cfg(target_arch = "x86_64")]
#[inline]
fn scales_vnni(scales: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    scales
}

/// The x86 products of eight packed rows with `N` activation rows, `[activation][row]`, written
/// once for AVX2 and for AVX-512 VNNI, which differ only in how bytes are multiplied and added.
#[cfg(target_arch = "x86_64")]
macro_rules! packed_dots {
    ($q4k:ident, $q6k:ident, $features:literal, $scales:ident, $scaled_dot:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $q4k<const N: usize>(group: &[u8], xs: &[Row]) -> [[f32; ROWS]; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the packed blocks and the activation rows.
            unsafe {
                let low_nibble = _mm256_set1_epi8(0x0F);
                let mut totals = [_mm256_setzero_ps(); N];
                for (b, packed) in group.chunks_exact(Q4KPacked::BYTES).enumerate() {
                    let at = packed.as_ptr();
                    prefetch_next_pair(at, Q4KPacked::BYTES, group.len());
                    let mut products = [_mm256_setzero_si256(); N];
                    let mut minimums = [_mm256_setzero_si256(); N];
                    for sub in 0..8 {
                        let bytes = |offset: usize| _mm256_cvtepu8_epi32(_mm_loadl_epi64(at.add(offset) as *const __m128i));
                        let scales = $scales(bytes(Q4KPacked::SCALES + 8 * sub));
                        // Each row's minimum in both 16-bit halves of its lane, for a multiply-add
                        // with the activation sums of the sub-block's two halves.
                        let mins = bytes(Q4KPacked::MINIMUMS + 8 * sub);
                        let mins = _mm256_or_si256(mins, _mm256_slli_epi32(mins, 16));
                        let mut weights = [_mm256_setzero_si256(); 8];
                        for part in 0..4 {
                            let nibbles = _mm256_loadu_si256(at.add(nibbles_at::<Q4KPacked>(sub, part)) as *const __m256i);
                            weights[2 * part] = _mm256_and_si256(nibbles, low_nibble);
                            weights[2 * part + 1] = _mm256_and_si256(_mm256_srli_epi16(nibbles, 4), low_nibble);
                        }
                        for (j, x) in xs[..N].iter().enumerate() {
                            let activations = x.values.as_ptr().add(b * BLOCK + 32 * sub) as *const i32;
                            // Values below 16: all eight registers' pairs fit 16 bits together.
                            products[j] = _mm256_add_epi32(products[j], $scaled_dot::<8, 8>(&weights, activations, scales));
                            let halves = _mm256_set1_epi32((x.sums.as_ptr().add(b * 16 + 2 * sub) as *const i32).read_unaligned());
                            minimums[j] = _mm256_add_epi32(minimums[j], _mm256_madd_epi16(mins, halves));
                        }
                    }
                    let (d, dmin) = (_mm256_loadu_ps(at as *const f32), _mm256_loadu_ps(at.add(32) as *const f32));
                    for (j, x) in xs[..N].iter().enumerate() {
                        let scale = _mm256_set1_ps(x.scales[b]);
                        let products = _mm256_mul_ps(_mm256_mul_ps(d, scale), _mm256_cvtepi32_ps(products[j]));
                        let minimums = _mm256_mul_ps(_mm256_mul_ps(dmin, scale), _mm256_cvtepi32_ps(minimums[j]));
                        totals[j] = _mm256_add_ps(totals[j], _mm256_sub_ps(products, minimums));
                    }
                }
                totals.map(|totals| rows_of(totals))
            }
        }

        #[target_feature(enable = $features)]
        unsafe fn $q6k<const N: usize>(group: &[u8], xs: &[Row]) -> [[f32; ROWS]; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the packed blocks and the activation rows.
            unsafe {
                let (low_nibble, pair) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
                let mut totals = [_mm256_setzero_ps(); N];
                for (b, packed) in group.chunks_exact(Q6KPacked::BYTES).enumerate() {
                    let at = packed.as_ptr();
                    prefetch_next_pair(at, Q6KPacked::BYTES, group.len());
                    let mut products = [_mm256_setzero_si256(); N];
                    let mut offsets = [_mm256_setzero_si256(); N];
                    for chunk in 0..8 {
                        let scales =
                            |sub: usize| _mm256_cvtepi8_epi32(_mm_loadl_epi64(at.add(Q6KPacked::SCALES + 8 * sub) as *const __m128i));
                        let scales = [scales(2 * chunk), scales(2 * chunk + 1)];
                        // The two sub-blocks' scales as 16-bit pairs, for a multiply-add with
                        // the activation sums of the two.
                        let scale_pairs =
                            _mm256_or_si256(_mm256_and_si256(scales[0], _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(scales[1], 16));
                        let mut weights = [_mm256_setzero_si256(); 8];
                        for part in 0..4 {
                            let nibbles = _mm256_loadu_si256(at.add(nibbles_at::<Q6KPacked>(chunk, part)) as *const __m256i);
                            weights[2 * part] = _mm256_and_si256(nibbles, low_nibble);
                            weights[2 * part + 1] = _mm256_and_si256(_mm256_srli_epi16(nibbles, 4), low_nibble);
                        }
                        for g in 0..2 {
                            let high = _mm256_loadu_si256(at.add(Q6KPacked::pairs_at(chunk, g)) as *const __m256i);
                            // Bits 2m of each byte moved to bits 4–5 (16-bit shifts: what crosses
                            // a byte boundary lands outside the mask).
                            let shifted = [_mm256_slli_epi16(high, 4), _mm256_slli_epi16(high, 2), high, _mm256_srli_epi16(high, 2)];
                            for (m, shifted) in shifted.into_iter().enumerate() {
                                let k = 4 * g + m;
                                weights[k] = _mm256_or_si256(weights[k], _mm256_and_si256(shifted, pair));
                            }
                        }
                        let own = [$scales(scales[0]), $scales(scales[1])];
                        for (j, x) in xs[..N].iter().enumerate() {
                            let activations = x.values.as_ptr().add(b * BLOCK + 32 * chunk) as *const i32;
                            // Values below 64: two registers' pairs fit 16 bits together.
                            let scaled = _mm256_add_epi32(
                                $scaled_dot::<4, 2>(&weights[..4], activations, own[0]),
                                $scaled_dot::<4, 2>(&weights[4..], activations.add(4), own[1]),
                            );
                            products[j] = _mm256_add_epi32(products[j], scaled);
                            let sums = _mm256_set1_epi32((x.sums.as_ptr().add(b * 16 + 2 * chunk) as *const i32).read_unaligned());
                            offsets[j] = _mm256_add_epi32(offsets[j], _mm256_madd_epi16(scale_pairs, sums));
                        }
                    }
                    let d = _mm256_loadu_ps(at as *const f32);
                    for (j, x) in xs[..N].iter().enumerate() {
                        let sums = _mm256_sub_epi32(products[j], _mm256_slli_epi32(offsets[j], 5));
                        let scaled = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_set1_ps(x.scales[b])), _mm256_cvtepi32_ps(sums));
                        totals[j] = _mm256_add_ps(totals[j], scaled);
                    }
                }
                totals.map(|totals| rows_of(totals))
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
packed_dots!(q4k_avx2, q6k_avx2, "avx2", scales_avx2, scaled_dot_avx2);

/// 32 bytes at `offset` of two packed blocks, side by side in one 512-bit register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn side_by_side(first: *const u8, second: *const u8, offset: usize) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    // SAFETY: the caller's blocks hold 32 bytes at `offset`.
    unsafe {
        let low = _mm256_loadu_si256(first.add(offset) as *const __m256i);
        _mm512_inserti64x4(_mm512_castsi256_si512(low), _mm256_loadu_si256(second.add(offset) as *const __m256i), 1)
    }
}

/// Eight bytes at `offset` of two packed blocks, side by side, widened to 32-bit lanes (sign
/// extended when `signed`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn bytes_side_by_side(first: *const u8, second: *const u8, offset: usize, signed: bool) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    // SAFETY: the caller's blocks hold eight bytes at `offset`.
    unsafe {
        let sixteen =
            _mm_unpacklo_epi64(_mm_loadl_epi64(first.add(offset) as *const __m128i), _mm_loadl_epi64(second.add(offset) as *const __m128i));
        if signed { _mm512_cvtepi8_epi32(sixteen) } else { _mm512_cvtepu8_epi32(sixteen) }
    }
}

/// Asks for the block `bytes` long that lies one pair of groups (`2 · group_bytes`) after `at`
/// to be brought into L2: the same block of the next pair, which the thread reads next (each
/// takes a run of consecutive pairs).
///
/// Why: the hardware prefetchers alone fed a matrix streamed from memory at about 20 GB/s, half
/// of what the two cores read (42 GB/s, a plain sequential read): the kernels read two streams
/// (a pair's two groups) and a stream prefetcher stops at every 4 KiB page. `kernel_throughput`,
/// 65,536 rows from memory, 2-core EPYC, G multiply-adds/s without → with: one activation row
/// Q4_K 36–48 → 70–78, Q5_0 31–36 → 75–97, Q8_0 27–31 → 50–65, Q6_K 30–33 → 38–45; eight rows
/// Q4_K 170–220 → 270–292, Q5_0 139–151 → 230–247, Q8_0 124–135 → 236–244, Q6_K 161–165 →
/// 186–206. Into L1 instead (`_MM_HINT_T0`) one row gained nothing and eight rows a third as
/// much: the requests filled its few miss buffers. A fixed distance of 16 or 24 KiB did as well
/// as the next pair, except where it fell on the second group's own block (8 KiB for the 0.5B
/// model's Q8_0 rows). A prompt's tile re-reads a pair for each eight activation rows and so
/// asks again for lines already on their way; 64 rows lost nothing by it (`kernel_throughput`:
/// Q4_K 276–284, Q5_0 248–258, Q8_0 249–291, Q6_K 238–253, as fast as before or faster).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_next_pair(at: *const u8, bytes: usize, group_bytes: usize) {
    use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
    for line in (0..bytes).step_by(64) {
        // SAFETY: a prefetch never faults, whatever the address (past the matrix's end too).
        unsafe { _mm_prefetch::<_MM_HINT_T1>(at.wrapping_add(2 * group_bytes + line) as *const i8) };
    }
}

/// A 512-bit register of sixteen row totals as an array.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pair_rows_of(totals: std::arch::x86_64::__m512) -> [f32; PAIR] {
    let mut rows = [0f32; PAIR];
    // SAFETY: `rows` holds sixteen floats.
    unsafe { std::arch::x86_64::_mm512_storeu_ps(rows.as_mut_ptr(), totals) };
    rows
}

/// [`q4k_vnni`] on two consecutive groups (`pair`, `group_bytes` each) at once, their rows side by
/// side in 512-bit registers: the same integer sums and float operations per row, so the same
/// bits, with half the instructions per multiply-add.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q4k_vnni_pair<const N: usize>(pair: &[u8], group_bytes: usize, xs: &[Row]) -> [[f32; PAIR]; N] {
    use std::arch::x86_64::*;
    // SAFETY: the loads stay inside the two groups' packed blocks and the activation rows.
    unsafe {
        let low_nibble = _mm512_set1_epi8(0x0F);
        let mut totals = [_mm512_setzero_ps(); N];
        for b in 0..group_bytes / Q4KPacked::BYTES {
            let (first, second) = (pair.as_ptr().add(b * Q4KPacked::BYTES), pair.as_ptr().add(group_bytes + b * Q4KPacked::BYTES));
            prefetch_next_pair(first, Q4KPacked::BYTES, group_bytes);
            prefetch_next_pair(second, Q4KPacked::BYTES, group_bytes);
            let mut products = [_mm512_setzero_si512(); N];
            let mut minimums = [_mm512_setzero_si512(); N];
            for sub in 0..8 {
                let scales = bytes_side_by_side(first, second, Q4KPacked::SCALES + 8 * sub, false);
                let mins = bytes_side_by_side(first, second, Q4KPacked::MINIMUMS + 8 * sub, false);
                let mins = _mm512_or_si512(mins, _mm512_slli_epi32(mins, 16));
                let mut weights = [_mm512_setzero_si512(); 8];
                for part in 0..4 {
                    let nibbles = side_by_side(first, second, nibbles_at::<Q4KPacked>(sub, part));
                    weights[2 * part] = _mm512_and_si512(nibbles, low_nibble);
                    weights[2 * part + 1] = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), low_nibble);
                }
                for (j, x) in xs[..N].iter().enumerate() {
                    let activations = x.values.as_ptr().add(b * BLOCK + 32 * sub) as *const i32;
                    let mut chains = [_mm512_setzero_si512(); 2];
                    for (k, weights) in weights.iter().enumerate() {
                        let four = _mm512_set1_epi32(activations.add(k).read_unaligned());
                        chains[k % 2] = _mm512_dpbusd_epi32(chains[k % 2], *weights, four);
                    }
                    let dot = _mm512_add_epi32(chains[0], chains[1]);
                    products[j] = _mm512_add_epi32(products[j], _mm512_mullo_epi32(dot, scales));
                    let halves = _mm512_set1_epi32((x.sums.as_ptr().add(b * 16 + 2 * sub) as *const i32).read_unaligned());
                    minimums[j] = _mm512_add_epi32(minimums[j], _mm512_madd_epi16(mins, halves));
                }
            }
            let d = _mm512_castsi512_ps(side_by_side(first, second, 0));
            let dmin = _mm512_castsi512_ps(side_by_side(first, second, 32));
            for (j, x) in xs[..N].iter().enumerate() {
                let scale = _mm512_set1_ps(x.scales[b]);
                let products = _mm512_mul_ps(_mm512_mul_ps(d, scale), _mm512_cvtepi32_ps(products[j]));
                let minimums = _mm512_mul_ps(_mm512_mul_ps(dmin, scale), _mm512_cvtepi32_ps(minimums[j]));
                totals[j] = _mm512_add_ps(totals[j], _mm512_sub_ps(products, minimums));
            }
        }
        totals.map(|totals| pair_rows_of(totals))
    }
}

/// [`q6k_vnni`] on two consecutive groups at once, as [`q4k_vnni_pair`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q6k_vnni_pair<const N: usize>(pair: &[u8], group_bytes: usize, xs: &[Row]) -> [[f32; PAIR]; N] {
    use std::arch::x86_64::*;
    // SAFETY: the loads stay inside the two groups' packed blocks and the activation rows.
    unsafe {
        let (low_nibble, bit_pair) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30));
        let mut totals = [_mm512_setzero_ps(); N];
        for b in 0..group_bytes / Q6KPacked::BYTES {
            let (first, second) = (pair.as_ptr().add(b * Q6KPacked::BYTES), pair.as_ptr().add(group_bytes + b * Q6KPacked::BYTES));
            prefetch_next_pair(first, Q6KPacked::BYTES, group_bytes);
            prefetch_next_pair(second, Q6KPacked::BYTES, group_bytes);
            let mut products = [_mm512_setzero_si512(); N];
            let mut offsets = [_mm512_setzero_si512(); N];
            for chunk in 0..8 {
                let scales = |sub: usize| bytes_side_by_side(first, second, Q6KPacked::SCALES + 8 * sub, true);
                let scales = [scales(2 * chunk), scales(2 * chunk + 1)];
                let scale_pairs = _mm512_or_si512(_mm512_and_si512(scales[0], _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(scales[1], 16));
                let mut weights = [_mm512_setzero_si512(); 8];
                for part in 0..4 {
                    let nibbles = side_by_side(first, second, nibbles_at::<Q6KPacked>(chunk, part));
                    weights[2 * part] = _mm512_and_si512(nibbles, low_nibble);
                    weights[2 * part + 1] = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), low_nibble);
                }
                for g in 0..2 {
                    let high = side_by_side(first, second, Q6KPacked::pairs_at(chunk, g));
                    let shifted = [_mm512_slli_epi16(high, 4), _mm512_slli_epi16(high, 2), high, _mm512_srli_epi16(high, 2)];
                    for (m, shifted) in shifted.into_iter().enumerate() {
                        let k = 4 * g + m;
                        weights[k] = _mm512_or_si512(weights[k], _mm512_and_si512(shifted, bit_pair));
                    }
                }
                for (j, x) in xs[..N].iter().enumerate() {
                    let activations = x.values.as_ptr().add(b * BLOCK + 32 * chunk) as *const i32;
                    let mut dots = [_mm512_setzero_si512(); 2];
                    for (k, weights) in weights.iter().enumerate() {
                        let four = _mm512_set1_epi32(activations.add(k).read_unaligned());
                        dots[k / 4] = _mm512_dpbusd_epi32(dots[k / 4], *weights, four);
                    }
                    let scaled = _mm512_add_epi32(_mm512_mullo_epi32(dots[0], scales[0]), _mm512_mullo_epi32(dots[1], scales[1]));
                    products[j] = _mm512_add_epi32(products[j], scaled);
                    let sums = _mm512_set1_epi32((x.sums.as_ptr().add(b * 16 + 2 * chunk) as *const i32).read_unaligned());
                    offsets[j] = _mm512_add_epi32(offsets[j], _mm512_madd_epi16(scale_pairs, sums));
                }
            }
            let d = _mm512_castsi512_ps(side_by_side(first, second, 0));
            for (j, x) in xs[..N].iter().enumerate() {
                let sums = _mm512_sub_epi32(products[j], _mm512_slli_epi32(offsets[j], 5));
                let scaled = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(x.scales[b])), _mm512_cvtepi32_ps(sums));
                totals[j] = _mm512_add_ps(totals[j], scaled);
            }
        }
        totals.map(|totals| pair_rows_of(totals))
    }
}
#[cfg(target_arch = "x86_64")]
packed_dots!(q4k_vnni, q6k_vnni, "avx2,avx512f,avx512vl,avx512vnni", scales_vnni, scaled_dot_vnni);

/// [`q5_0_vnni`] on two consecutive groups at once, as [`q4k_vnni_pair`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q5_0_vnni_pair<const N: usize>(pair: &[u8], group_bytes: usize, xs: &[blocks32::Row]) -> [[f32; PAIR]; N] {
    use std::arch::x86_64::*;
    // SAFETY: the loads stay inside the two groups' packed blocks.
    unsafe {
        let (low_nibble, fifth) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x10));
        blocks32_vnni_pair::<N>(pair, group_bytes, xs, Q5_0Packed::BYTES, 4, |first, second| {
            let mut weights = [_mm512_setzero_si512(); 8];
            for part in 0..4 {
                let nibbles = side_by_side(first, second, nibbles_at::<Q5_0Packed>(0, part));
                weights[2 * part] = _mm512_and_si512(nibbles, low_nibble);
                weights[2 * part + 1] = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), low_nibble);
            }
            let high = side_by_side(first, second, Q5_0Packed::FIFTH_BITS);
            // Bit k of each byte moved to bit 4, as in `q5_0_vnni`.
            let shifted = [
                _mm512_slli_epi16(high, 4),
                _mm512_slli_epi16(high, 3),
                _mm512_slli_epi16(high, 2),
                _mm512_slli_epi16(high, 1),
                high,
                _mm512_srli_epi16(high, 1),
                _mm512_srli_epi16(high, 2),
                _mm512_srli_epi16(high, 3),
            ];
            for (weights, shifted) in weights.iter_mut().zip(shifted) {
                *weights = _mm512_or_si512(*weights, _mm512_and_si512(shifted, fifth));
            }
            weights
        })
    }
}

/// [`q8_0_vnni`] on two consecutive groups at once, as [`q4k_vnni_pair`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q8_0_vnni_pair<const N: usize>(pair: &[u8], group_bytes: usize, xs: &[blocks32::Row]) -> [[f32; PAIR]; N] {
    // SAFETY: the loads stay inside the two groups' packed blocks.
    unsafe {
        blocks32_vnni_pair::<N>(pair, group_bytes, xs, Q8_0Packed::BYTES, 7, |first, second| {
            std::array::from_fn(|k| side_by_side(first, second, Q8_0Packed::VALUES + 32 * k))
        })
    }
}

/// The products of two consecutive groups of a 32-weight format, `bytes` per block, whose
/// weights `load` gives as eight registers (values `4k…4k + 3` of each row of both groups),
/// less `1 << offset_shift`: [`blocks32_dots_vnni`] with the two groups side by side.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn blocks32_vnni_pair<const N: usize>(
    pair: &[u8],
    group_bytes: usize,
    xs: &[blocks32::Row],
    bytes: usize,
    offset_shift: i32,
    load: impl Fn(*const u8, *const u8) -> [std::arch::x86_64::__m512i; 8],
) -> [[f32; PAIR]; N] {
    use std::arch::x86_64::*;
    // SAFETY: the loads stay inside the two groups' packed blocks and the activation rows.
    unsafe {
        let mut totals = [_mm512_setzero_ps(); N];
        for b in 0..group_bytes / bytes {
            let (first, second) = (pair.as_ptr().add(b * bytes), pair.as_ptr().add(group_bytes + b * bytes));
            prefetch_next_pair(first, bytes, group_bytes);
            prefetch_next_pair(second, bytes, group_bytes);
            let weights = load(first, second);
            let d = _mm512_castsi512_ps(side_by_side(first, second, 0));
            for (j, x) in xs[..N].iter().enumerate() {
                let activations = x.values.as_ptr().add(b * blocks32::BLOCK) as *const i32;
                let mut chains = [_mm512_setzero_si512(); 2];
                for (k, weights) in weights.iter().enumerate() {
                    let four = _mm512_set1_epi32(activations.add(k).read_unaligned());
                    chains[k % 2] = _mm512_dpbusd_epi32(chains[k % 2], *weights, four);
                }
                let offset = _mm512_set1_epi32(x.sums[b] << offset_shift);
                let dot = _mm512_sub_epi32(_mm512_add_epi32(chains[0], chains[1]), offset);
                let scaled = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(x.scales[b])), _mm512_cvtepi32_ps(dot));
                totals[j] = _mm512_add_ps(totals[j], scaled);
            }
        }
        totals.map(|totals| pair_rows_of(totals))
    }
}

/// The x86 products of eight packed rows of Q5_0 and of Q8_0 with `N` activation rows,
/// `[activation][row]`, written once for AVX2 and for AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
macro_rules! packed_dots32 {
    ($q5_0:ident, $q8_0:ident, $dots:ident, $features:literal, $q5_0_dot:expr, $q8_0_signed:literal, $q8_0_dot:expr) => {
        #[target_feature(enable = $features)]
        unsafe fn $q5_0<const N: usize>(group: &[u8], xs: &[blocks32::Row]) -> [[f32; ROWS]; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the packed blocks.
            unsafe {
                let (low_nibble, fifth) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x10));
                $dots::<N>(group, xs, Q5_0Packed::BYTES, Some(4), $q5_0_dot, |at| {
                    let mut weights = [_mm256_setzero_si256(); 8];
                    for part in 0..4 {
                        let nibbles = _mm256_loadu_si256(at.add(nibbles_at::<Q5_0Packed>(0, part)) as *const __m256i);
                        weights[2 * part] = _mm256_and_si256(nibbles, low_nibble);
                        weights[2 * part + 1] = _mm256_and_si256(_mm256_srli_epi16(nibbles, 4), low_nibble);
                    }
                    let high = _mm256_loadu_si256(at.add(Q5_0Packed::FIFTH_BITS) as *const __m256i);
                    // Bit k of each byte moved to bit 4 (16-bit shifts: what crosses a byte
                    // boundary lands outside the mask).
                    let shifted = [
                        _mm256_slli_epi16(high, 4),
                        _mm256_slli_epi16(high, 3),
                        _mm256_slli_epi16(high, 2),
                        _mm256_slli_epi16(high, 1),
                        high,
                        _mm256_srli_epi16(high, 1),
                        _mm256_srli_epi16(high, 2),
                        _mm256_srli_epi16(high, 3),
                    ];
                    for (weights, shifted) in weights.iter_mut().zip(shifted) {
                        *weights = _mm256_or_si256(*weights, _mm256_and_si256(shifted, fifth));
                    }
                    weights
                })
            }
        }

        #[target_feature(enable = $features)]
        unsafe fn $q8_0<const N: usize>(group: &[u8], xs: &[blocks32::Row]) -> [[f32; ROWS]; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the packed blocks.
            unsafe {
                // Signed weights where unsigned ones would saturate AVX2's 16-bit pairs.
                let (offset_shift, flip) =
                    if $q8_0_signed { (None, _mm256_set1_epi8(0x80u8 as i8)) } else { (Some(7), _mm256_setzero_si256()) };
                $dots::<N>(group, xs, Q8_0Packed::BYTES, offset_shift, $q8_0_dot, |at| {
                    std::array::from_fn(|k| {
                        _mm256_xor_si256(_mm256_loadu_si256(at.add(Q8_0Packed::VALUES + 32 * k) as *const __m256i), flip)
                    })
                })
            }
        }

        /// The products of eight packed rows of `bytes` per block, whose weights `load` gives as
        /// eight registers (values `4k…4k + 3` of each row), multiplied by `dot`, less
        /// `1 << offset_shift` if they are offset.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn $dots<const N: usize>(
            group: &[u8],
            xs: &[blocks32::Row],
            bytes: usize,
            offset_shift: Option<i32>,
            dot: impl Fn(&[std::arch::x86_64::__m256i; 8], *const i32) -> std::arch::x86_64::__m256i,
            load: impl Fn(*const u8) -> [std::arch::x86_64::__m256i; 8],
        ) -> [[f32; ROWS]; N] {
            use std::arch::x86_64::*;
            // SAFETY: the loads stay inside the activation rows.
            unsafe {
                let mut totals = [_mm256_setzero_ps(); N];
                for (b, packed) in group.chunks_exact(bytes).enumerate() {
                    let at = packed.as_ptr();
                    prefetch_next_pair(at, bytes, group.len());
                    let weights = load(at);
                    let d = _mm256_loadu_ps(at as *const f32);
                    for (j, x) in xs[..N].iter().enumerate() {
                        let activations = x.values.as_ptr().add(b * blocks32::BLOCK) as *const i32;
                        let offset = _mm256_set1_epi32(offset_shift.map_or(0, |shift| x.sums[b] << shift));
                        let dot = _mm256_sub_epi32(dot(&weights, activations), offset);
                        let scaled = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_set1_ps(x.scales[b])), _mm256_cvtepi32_ps(dot));
                        totals[j] = _mm256_add_ps(totals[j], scaled);
                    }
                }
                totals.map(|totals| rows_of(totals))
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
packed_dots32!(
    q5_0_avx2,
    q8_0_avx2,
    blocks32_dots_avx2,
    "avx2",
    // Values below 32: four registers' pairs fit 16 bits together.
    |weights, activations| scaled_dot_avx2::<8, 4>(weights, activations, std::arch::x86_64::_mm256_set1_epi16(1)),
    true,
    |weights, activations| signed_dot_avx2(weights, activations)
);
#[cfg(target_arch = "x86_64")]
packed_dots32!(
    q5_0_vnni,
    q8_0_vnni,
    blocks32_dots_vnni,
    "avx2,avx512f,avx512vl,avx512vnni",
    |weights, activations| dot_vnni(weights, activations),
    false,
    |weights, activations| dot_vnni(weights, activations)
);
