//! The Qwen2 family (Qwen2, Qwen2.5, Qwen2.5-Coder): zhbrief's own forward pass on Candle tensors.
//!
//! Adapted from candle-transformers' `quantized_qwen2` (MIT/Apache-2.0). zhbrief owns it because its
//! speed needs what that model keeps private. Measured with `zhbrief bench` on
//! the real article (1,336 prompt tokens, 2-core EPYC), the two changes below took prompt
//! processing from 51 to 103 tokens/s and generation from 16.4 to 24.8 tokens/s:
//! - a prompt batch multiplies by weights dequantised to f32 for that one call, through Candle's
//!   gemm, instead of the quantised kernel's row-by-row dot products (since replaced, for every
//!   format of the shipped models, by zhbrief's packed kernels: [`Linear`]);
//! - generation attends on a preallocated cache in place ([`attend_few`]), where Candle's model
//!   copied the whole cache with `Tensor::cat` and each key/value head once per query head
//!   (`repeat_kv`, 7× for Qwen2.5-0.5B) on every token.
//!
//! The cache can also be truncated, so a prompt that shares a prefix with the previous one
//! processes only its new suffix, and copied into one cache per sequence, so that several
//! continuations of one prompt (translation candidates) are decoded as one batch.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::Embedding;
use candle_transformers::quantized_nn::RmsNorm;

use super::{CausalLm, SavedSequence, kernels};

/// Rows (tokens) from which a weight in a format without a kernel here is dequantised to f32
/// for the call and multiplied with Candle's gemm. The shipped models have none: every weight
/// of theirs is packed for zhbrief's kernels ([`kernels::Packed`]), which beat gemm on
/// dequantised weights at any size (real article's 1,336-token prompt, 2-core EPYC: the 1.5B
/// model 111 tokens/s where gemm gave 37; the 0.5B's Q5_0 see the README) and need no f32 copy
/// of a matrix per call (545 MB for the 0.5B model's vocabulary product).
const DEQUANTIZE_FROM_ROWS: usize = 32;
/// Query rows below which attention runs in place on the cache ([`attend_few`]); a prompt
/// batch goes through Candle's batched matrix products, which its size keeps efficient.
const ATTEND_IN_PLACE_BELOW: usize = 32;
/// Granularity of key/value cache capacity, in positions. A full cache grows to at least twice
/// its size (so copies stay rare) and a forked one holds only its valid positions plus one step:
/// eight candidates of a 100-token prompt held 1,024 positions each when capacity came in fixed
/// steps of 1,024, 400 MB of the 1.5B model's peak for 8% of use.
const KV_CACHE_STEP: usize = 64;
/// Scored positions whose logits one pass of [`Qwen2::log_probs`] computes and reduces before
/// the next. The kernels stream the vocabulary matrix once per 64 activation rows anyway, so
/// passes of 64 read it no more often than one pass of all; what they save is holding the
/// logits of all (600 KB per position for Qwen2.5's vocabulary; eight candidates'
/// back-translation scores hundreds). Real article, same briefs: peak RSS of the quick start
/// (0.5B) 1.00 → 0.80 GiB, of `--translate` with the 1.5B model 1.65 → 1.56 GiB.
const SCORED_PER_PASS: usize = 64;
/// Rows of a batch whose feed-forward intermediates (the gate's and up matrix's products, the
/// activation and their product: four times 8,960 floats a row for the 1.5B model) are held at
/// a time, where eight candidates' back-translation runs some 2,000 rows at once. Real article,
/// same briefs: peak RSS of `--translate` with the 1.5B model 1.56 → 1.47 GiB, of the quick
/// start 0.80 → 0.78 GiB.
const FEED_FORWARD_ROWS: usize = 256;

/// A weight matrix: zhbrief's own kernels for the formats they cover; otherwise Candle's
/// quantised dot products for a few rows and f32 gemm on the dequantised weight for a batch.
enum Linear {
    /// A format with a kernel here, on the CPU, repacked for it ([`kernels::Packed`]); the GGUF
    /// copy is dropped, so the model holds its weights once (a model whose output matrix is its
    /// embedding table would hold that table twice; the shipped models store the two apart).
    Packed(kernels::Packed),
    /// Every other format, as the GGUF file stores it.
    Stored { weight: Arc<QTensor>, quantized: QMatMul },
}

impl Linear {
    fn new(weight: impl Into<Arc<QTensor>>) -> Result<Linear> {
        let weight = weight.into();
        if let Some(format) = kernels::Format::of(weight.dtype()).filter(|_| weight.device().is_cpu()) {
            let (rows, cols) = weight.shape().dims2()?;
            if cols.is_multiple_of(format.block_values()) {
                return Ok(Linear::Packed(kernels::Packed::new(format, &weight.data()?, rows, cols)));
            }
        }
        Ok(Linear::Stored { quantized: QMatMul::from_arc(weight.clone())?, weight })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (weight, quantized) = match self {
            Linear::Packed(_) => {
                let [out] = Linear::forward_each([self], xs)?;
                return Ok(out);
            }
            Linear::Stored { weight, quantized } => (weight, quantized),
        };
        let rows = xs.elem_count() / xs.dim(D::Minus1)?;
        if rows < DEQUANTIZE_FROM_ROWS {
            if rows == 1 {
                return quantized.forward(xs);
            }
            // One row at a time: for several rows Candle may pick another kernel (a repacked
            // tile), whose rounding would make a sequence's tokens depend on how many sequences
            // are decoded beside it. On the CPU these products are bound by arithmetic, not by
            // reading the weights, so separate rows cost no more.
            let shape = xs.dims().to_vec();
            let flat = xs.reshape((rows, shape[shape.len() - 1]))?;
            let outputs = (0..rows).map(|r| quantized.forward(&flat.narrow(0, r, 1)?)).collect::<Result<Vec<_>>>()?;
            let out = Tensor::cat(&outputs, 0)?;
            let mut shape = shape;
            *shape.last_mut().expect("at least one dimension") = out.dim(1)?;
            return out.reshape(shape);
        }
        let weight = weight.dequantize(xs.device())?;
        let weight = match *xs.dims() {
            [batch, _, _] => weight.broadcast_left(batch)?.t()?,
            _ => weight.t()?,
        };
        xs.matmul(&weight)
    }

    /// The products of several matrices with one input (the query, key and value matrices; the
    /// gate and up matrices): where all are packed, its rows are quantised once for all.
    fn forward_each<const N: usize>(linears: [&Linear; N], xs: &Tensor) -> Result<[Tensor; N]> {
        let mut outs = Vec::with_capacity(N);
        if linears.iter().all(|linear| matches!(linear, Linear::Packed(_))) {
            let x = xs.flatten_all()?.to_vec1::<f32>()?;
            let activations = kernels::Activations::new(&x, xs.dim(D::Minus1)?);
            for linear in linears {
                let Linear::Packed(packed) = linear else { unreachable!("every matrix is packed") };
                let mut out = vec![0f32; activations.rows() * packed.rows()];
                packed.product(&activations, &mut out);
                let mut shape = xs.dims().to_vec();
                *shape.last_mut().expect("at least one dimension") = packed.rows();
                outs.push(Tensor::from_vec(out, shape, xs.device())?);
            }
        } else {
            for linear in linears {
                outs.push(linear.forward(xs)?);
            }
        }
        Ok(outs.try_into().unwrap_or_else(|_| unreachable!("one product per matrix")))
    }
}

/// A GGUF file's tensors as [`Qwen2::load`] reads them: weight matrices in a format with a
/// kernel here straight into their packed layout, through one buffer reused from one matrix to
/// the next; everything else as Candle reads it.
///
/// Why not all through Candle's reader: it allocates each matrix afresh, which was then repacked
/// and freed, and the fresh pages the kernel zeroed for those copies were 60% of loading the
/// 1.5B model (5 s on the 2-core Xeon).
struct TensorReader<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    buffer: Vec<u8>,
    device: &'a Device,
}

impl<R: std::io::Read + std::io::Seek> TensorReader<'_, R> {
    /// The tensor `name` as Candle reads it.
    fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.content.tensor(self.reader, name, self.device)
    }

    /// The weight matrix `name`, ready to multiply with.
    fn linear(&mut self, name: &str) -> Result<Linear> {
        let Some(info) = self.content.tensor_infos.get(name) else { candle_core::bail!("cannot find tensor info for {name}") };
        let format = kernels::Format::of(info.ggml_dtype).filter(|_| self.device.is_cpu());
        match (format, info.shape.dims()) {
            (Some(format), &[rows, cols]) if cols.is_multiple_of(format.block_values()) => {
                let size = rows * cols / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
                if self.buffer.len() < size {
                    self.buffer.resize(size, 0);
                }
                self.reader.seek(std::io::SeekFrom::Start(self.content.tensor_data_offset + info.offset))?;
                self.reader.read_exact(&mut self.buffer[..size])?;
                Ok(Linear::Packed(kernels::Packed::new(format, &self.buffer[..size], rows, cols)))
            }
            _ => Linear::new(self.tensor(name)?),
        }
    }
}

/// The token embedding table, looked up row by row in its stored format: an f32 copy of the
/// table would be the largest allocation of the process (930 MB for the 1.5B model).
enum Embeddings {
    /// Rows decoded on lookup by zhbrief's kernels.
    Stored { table: Arc<QTensor>, format: kernels::Format },
    /// The f32 table, only for a format without a kernel here.
    Dense(Embedding),
}

impl Embeddings {
    fn new(table: Arc<QTensor>, device: &Device) -> Result<Embeddings> {
        let (_, width) = table.shape().dims2()?;
        match kernels::Format::of(table.dtype()).filter(|f| device.is_cpu() && width.is_multiple_of(f.block_values())) {
            Some(format) => Ok(Embeddings::Stored { table, format }),
            None => Ok(Embeddings::Dense(Embedding::new(table.dequantize(device)?, width))),
        }
    }

    /// `(batch, seq, width)` for `tokens` `(batch, seq)`.
    fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let (table, format) = match self {
            Embeddings::Stored { table, format } => (table, *format),
            Embeddings::Dense(embedding) => return embedding.forward(tokens),
        };
        let (vocabulary, width) = table.shape().dims2()?;
        let (batch, seq) = tokens.dims2()?;
        let table = table.data()?;
        let mut out = vec![0f32; batch * seq * width];
        for (token, row) in tokens.flatten_all()?.to_vec1::<u32>()?.into_iter().zip(out.chunks_exact_mut(width)) {
            if token as usize >= vocabulary {
                candle_core::bail!("token {token} is outside the vocabulary of {vocabulary}");
            }
            kernels::dequantize_row(format, &table, width, token as usize, row);
        }
        Tensor::from_vec(out, (batch, seq, width), tokens.device())
    }
}

/// Keys or values of one layer, positions along `axis`: values `(batch, kv_heads, capacity,
/// head_dim)` (axis 2), keys transposed, `(batch, kv_heads, head_dim, capacity)` (axis 3), so that
/// a query's scores against every position are one contiguous multiply-add per dimension
/// (see [`attend_few`]). The first `len` positions are valid.
struct CacheBuffer {
    data: Option<Tensor>,
    axis: usize,
    len: usize,
}

impl CacheBuffer {
    const fn new(axis: usize) -> CacheBuffer {
        CacheBuffer { data: None, axis, len: 0 }
    }

    fn capacity(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.dim(self.axis).unwrap_or(0))
    }

    /// Appends `src` (positions along `axis`) and returns every valid position.
    fn append(&mut self, src: &Tensor) -> Result<Tensor> {
        let needed = self.len + src.dim(self.axis)?;
        if needed > self.capacity() {
            let mut shape = src.dims().to_vec();
            // One sequence (a prompt) doubles, so copies stay rare; several (candidates being
            // decoded) grow a step at a time: each step holds as many positions per sequence,
            // and while a cache is copied the old and new are both held.
            shape[self.axis] = match shape[0] {
                1 => needed.max(2 * self.capacity()),
                _ => needed + KV_CACHE_STEP,
            }
            .next_multiple_of(KV_CACHE_STEP);
            let fresh = Tensor::zeros(shape, src.dtype(), src.device())?;
            if let Some(old) = &self.data {
                fresh.slice_set(&old.narrow(self.axis, 0, self.len)?.contiguous()?, self.axis, 0)?;
            }
            self.data = Some(fresh);
        }
        let data = self.data.as_ref().expect("allocated above");
        data.slice_set(&src.contiguous()?, self.axis, self.len)?;
        self.len = needed;
        data.narrow(self.axis, 0, self.len)
    }

    /// Sequences held (the leading dimension).
    fn rows(&self) -> usize {
        self.data.as_ref().map_or(1, |d| d.dim(0).unwrap_or(1))
    }

    /// Copies the one cached sequence into `rows` sequences that continue it separately, each
    /// with room for at least one more position.
    fn fork(&mut self, rows: usize) -> Result<()> {
        let first = self.all()?.narrow(0, 0, 1)?;
        let mut shape = first.dims().to_vec();
        shape[self.axis] = (self.len + 1).next_multiple_of(KV_CACHE_STEP);
        let one = Tensor::zeros(shape, first.dtype(), first.device())?;
        one.slice_set(&first.narrow(self.axis, 0, self.len)?.contiguous()?, self.axis, 0)?;
        let mut repeats = vec![1; one.rank()];
        repeats[0] = rows;
        self.data = Some(one.repeat(repeats)?);
        Ok(())
    }

    /// Keeps only the sequences `rows` (a `u32` index tensor), in that order.
    fn keep(&mut self, rows: &Tensor) -> Result<()> {
        self.data = Some(self.all()?.index_select(rows, 0)?);
        Ok(())
    }

    /// Keeps only the first sequence.
    fn join(&mut self) -> Result<()> {
        if self.rows() > 1 {
            self.data = Some(self.all()?.narrow(0, 0, 1)?.copy()?);
        }
        Ok(())
    }

    /// The whole buffer, valid positions and spare capacity.
    fn all(&self) -> Result<&Tensor> {
        self.data.as_ref().ok_or_else(|| candle_core::Error::Msg("empty key/value cache".into()))
    }
}

/// Runs `f` on the f32 elements of a contiguous CPU tensor, without copying them.
fn with_cpu_slice<T>(tensor: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<T> {
    let (storage, layout) = tensor.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else { candle_core::bail!("expected a CPU tensor") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(f(&cpu.as_slice::<f32>()?[start..end])),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}

/// Attention for a few query rows (generation: one), computed on the cache in place.
///
/// Why hand-written: through Candle's batched matmul and softmax, attending over a 1,300-token
/// cache took 12 ms of each generated token's 44. The work is small; what costs is streaming
/// the cache. Here the query heads that share a key/value head (7 in Qwen2.5-0.5B) are served
/// from the same keys and values while they are in cache, and every inner loop runs over
/// contiguous memory with independent lanes, so it vectorises: scores as one multiply-add per
/// dimension over the transposed keys, outputs as a multiply-add of each value row, each on a
/// tile of [`TILE`] sums held in registers while the terms are added in order: the same sums as
/// one term at a time over whole rows, without storing and reloading the row for every term
/// (batched decoding of 8 sequences of the 1.5B model: 9.3% of its time here before, 7.5%
/// after, `perf`). Key/value heads run on Candle's worker threads, which are already awake
/// between the matrix products around this.
///
/// `queries` is `(batch, heads, seq, head_dim)`; `keys_t` is `(batch, kv_heads, head_dim,
/// capacity)` and `values` `(batch, kv_heads, capacity, head_dim)`, holding positions
/// `0..position + seq`; each sequence of the batch attends to its own cache, its query row `i`
/// at `position + i` seeing the positions up to its own. Sequence `b` begins at position
/// `padding[b]` (none when `padding` is empty): the positions before it are never read, so a
/// sequence gets exactly what it gets alone. Returns `(batch, seq, heads, head_dim)`.
#[allow(clippy::too_many_arguments)]
fn attend_few(
    queries: &[f32],
    keys_t: &[f32],
    values: &[f32],
    capacity: usize,
    position: usize,
    seq: usize,
    padding: &[usize],
    geometry: &Geometry,
) -> Vec<f32> {
    let Geometry { heads, kv_heads, head_dim, .. } = *geometry;
    let group = heads / kv_heads;
    let rows = group * seq; // row r = (query head in group) · seq + i
    let len = position + seq;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let batch = queries.len() / (heads * seq * head_dim);
    let mut y = vec![0f32; batch * seq * heads * head_dim];
    let y_address = y.as_mut_ptr() as usize;
    // The key/value heads of every sequence are independent: all of them shared among the worker
    // threads in one call.
    candle_core::utils::barrier_pool().execute_chunked(batch * kv_heads, |groups| {
        let mut scores = vec![0f32; rows * len];
        let mut out = vec![0f32; rows * head_dim];
        let mut scaled = Vec::with_capacity(rows * head_dim);
        for bg in groups {
            // Head `g` of sequence `b`: blocks of the same size follow one another in all three.
            let (b, g) = (bg / kv_heads, bg % kv_heads);
            // This sequence's own positions, as if it were alone.
            let skip = padding.get(b).copied().unwrap_or(0);
            let (len, position) = (len - skip, position - skip);
            let scores = &mut scores[..rows * len];
            let keys_t = &keys_t[bg * head_dim * capacity..][..head_dim * capacity];
            let values = &values[(bg * capacity + skip) * head_dim..][..len * head_dim];
            let queries = &queries[bg * rows * head_dim..][..rows * head_dim];
            scaled.clear();
            scaled.extend(queries.iter().map(|&q| q * scale));
            // A tile of positions at a time, its keys (every dimension) loaded once per group of rows.
            for start in (0..len).step_by(TILE) {
                let width = TILE.min(len - start);
                // A last tile short of `TILE` still reads a whole one where the cache has room;
                // the sums of the positions past the valid ones are dropped.
                if skip + start + TILE <= capacity {
                    let keys = |d: usize| {
                        let at = d * capacity + skip + start;
                        prefetch_tile(keys_t, at + TILE);
                        tile_at(keys_t, at)
                    };
                    sum_shared_terms(scores, len, start, width, &scaled, head_dim, keys);
                    continue;
                }
                for (query, row) in scaled.chunks_exact(head_dim).zip(scores.chunks_exact_mut(len)) {
                    let terms = query.iter().zip(keys_t.chunks_exact(capacity)).map(|(&q, key_row)| (q, &key_row[skip + start..]));
                    sum_terms(&mut row[start..start + width], terms);
                }
            }
            let mut totals = Vec::with_capacity(rows);
            for (r, row) in scores.chunks_exact_mut(len).enumerate() {
                let visible = position + r % seq + 1;
                let max = row[..visible].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row[..visible].iter_mut().for_each(|s| *s -= max);
                exp_in_place(&mut row[..visible]);
                row[visible..].fill(0.0);
                totals.push(row[..visible].iter().sum::<f32>());
            }
            if head_dim % TILE == 0 {
                for at in (0..head_dim).step_by(TILE) {
                    sum_shared_terms(&mut out, head_dim, at, TILE, scores, len, |p| tile_at(values, p * head_dim + at));
                }
            } else {
                for (o, weights) in out.chunks_exact_mut(head_dim).zip(scores.chunks_exact(len)) {
                    for (part, o) in o.chunks_mut(TILE).enumerate() {
                        sum_terms(o, weights.iter().zip(values.chunks_exact(head_dim)).map(|(&w, value)| (w, &value[part * TILE..])));
                    }
                }
            }
            for (r, (o, total)) in out.chunks_exact(head_dim).zip(&totals).enumerate() {
                let (h, i) = (r / seq, r % seq);
                // SAFETY: each (b, g) writes only its own heads' rows of `y`, which outlives the call.
                let target = unsafe {
                    std::slice::from_raw_parts_mut(
                        (y_address as *mut f32).add(((b * seq + i) * heads + g * group + h) * head_dim),
                        head_dim,
                    )
                };
                target.iter_mut().zip(o).for_each(|(t, o)| *t = o / total);
            }
        }
    });
    y
}

/// Sums [`attend_few`] keeps in registers at a time (eight 256-bit registers as compiled for AVX-512).
const TILE: usize = 64;

/// Rows [`sum_shared_terms`] sums at once: their tiles of sums in registers (four rows: 16 of
/// AVX-512's 32), each term's values loaded once for all of them. With AVX2's 16 registers a
/// single row's tile already fills half, so rows go one at a time there.
const SHARED_ROWS: usize = if cfg!(target_feature = "avx512f") { 4 } else { 1 };

/// The `TILE` values of `values` from `at`.
#[inline(always)]
fn tile_at(values: &[f32], at: usize) -> &[f32; TILE] {
    values[at..at + TILE].try_into().expect("a tile of values")
}

/// Asks for the cache lines of the tile at `at` of `values` ahead of its use. The keys of a tile
/// lie one dimension per row of the transposed cache, each row pages away from the next, where
/// the hardware's prefetchers do not follow.
#[inline(always)]
fn prefetch_tile(values: &[f32], at: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..TILE).step_by(16) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults, whatever the address (past the cache's end too).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(values.as_ptr().wrapping_add(at + line) as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (values, at);
}

/// For each row `r` of `weights` (`count` weights per row), the first `width` of the sums
/// `Σ_t weights[r][t] · values(t)` written to `out[r · stride + at..]`: [`sum_terms`] for rows
/// whose terms share their values (the query heads of one key/value head), each sum's terms
/// added in the same order, so the same bits, with each term's values loaded once for
/// [`SHARED_ROWS`] rows instead of once per row. Generating after the real article's
/// 1,336-token prompt (2-core AVX-512 EPYC, `perf`), [`attend_few`] took 15% of the 1.5B model's
/// time before and 12% after, with the keys prefetched (`zhbrief bench`, three alternating runs:
/// 19.5 → 20.9 tokens/s, the 0.5B model 47.1 → 50.9).
fn sum_shared_terms<'a>(
    out: &mut [f32],
    stride: usize,
    at: usize,
    width: usize,
    weights: &[f32],
    count: usize,
    values: impl Fn(usize) -> &'a [f32; TILE],
) {
    let rows = weights.len() / count;
    let mut first = 0;
    while first < rows {
        let sums = |r: usize| &weights[(first + r) * count..][..count];
        first += match (rows - first).min(SHARED_ROWS) {
            1 => store_tiles(out, stride, at, width, first, sum_rows::<1>(std::array::from_fn(sums), &values)),
            2 => store_tiles(out, stride, at, width, first, sum_rows::<2>(std::array::from_fn(sums), &values)),
            3 => store_tiles(out, stride, at, width, first, sum_rows::<3>(std::array::from_fn(sums), &values)),
            _ => store_tiles(out, stride, at, width, first, sum_rows::<SHARED_ROWS>(std::array::from_fn(sums), &values)),
        };
    }
}

/// The tiles of sums of `R` rows of [`sum_shared_terms`], each row's `weights` as long.
#[inline(always)]
fn sum_rows<'a, const R: usize>(weights: [&[f32]; R], values: &impl Fn(usize) -> &'a [f32; TILE]) -> [[f32; TILE]; R] {
    let mut tiles = [[0f32; TILE]; R];
    for t in 0..weights[0].len() {
        let values = values(t);
        for (tile, weights) in tiles.iter_mut().zip(&weights) {
            let weight = weights[t];
            for (sum, value) in tile.iter_mut().zip(values) {
                *sum += weight * value;
            }
        }
    }
    tiles
}

/// Writes the first `width` sums of `tiles` as rows `first…` of `out`, `stride` apart from `at`;
/// returns how many rows.
fn store_tiles<const R: usize>(out: &mut [f32], stride: usize, at: usize, width: usize, first: usize, tiles: [[f32; TILE]; R]) -> usize {
    for (r, tile) in tiles.iter().enumerate() {
        out[(first + r) * stride + at..][..width].copy_from_slice(&tile[..width]);
    }
    R
}

/// `sums[i] = Σ_t weight_t · values_t[i]`, the terms added in order from zero, each sum held in
/// a register when `sums` is a whole tile (a constant length the compiler unrolls).
#[inline(always)]
fn sum_terms<'a>(sums: &mut [f32], terms: impl Iterator<Item = (f32, &'a [f32])>) {
    if let Ok(sums) = <&mut [f32; TILE]>::try_from(&mut *sums) {
        let mut tile = [0f32; TILE];
        for (weight, values) in terms {
            let values: &[f32; TILE] = values[..TILE].try_into().expect("a tile of values");
            for (sum, value) in tile.iter_mut().zip(values) {
                *sum += weight * value;
            }
        }
        *sums = tile;
    } else {
        sums.fill(0.0);
        for (weight, values) in terms {
            for (sum, value) in sums.iter_mut().zip(values) {
                *sum += weight * value;
            }
        }
    }
}

/// `ln Σ exp(x)`, computed from the maximum so that no term overflows.
fn log_sum_exp(xs: &[f32]) -> f32 {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + xs.iter().map(|&x| (x - max).exp()).sum::<f32>().ln()
}

/// The log-probability of each of `targets` under its row of `logits` (one row of `vocabulary`
/// per target), each row's normaliser, a pass over the whole vocabulary, computed on both cores.
fn target_log_probs(logits: &[f32], vocabulary: usize, targets: &[u32]) -> Result<Vec<f32>> {
    let rows: Vec<&[f32]> = logits.chunks_exact(vocabulary).collect();
    rows.iter()
        .zip(super::map_on_workers(rows.clone(), log_sum_exp))
        .zip(targets)
        .map(|((row, normaliser), &token)| match row.get(token as usize) {
            Some(&logit) => Ok(logit - normaliser),
            None => candle_core::bail!("token {token} is outside the vocabulary"),
        })
        .collect()
}

/// `e^x` for each element, for x ≤ 0 (softmax after subtracting the maximum), within a few ulp
/// of `f32::exp` and branch-free so that the loop vectorises (libm's `expf` is a call per
/// element). Cephes' method: x = n·ln 2 + r, |r| ≤ ln 2 / 2; e^r by a degree-6 polynomial; 2^n
/// written into the exponent bits.
fn exp_in_place(xs: &mut [f32]) {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    for x in xs.iter_mut() {
        // Below −87.3 e^x is subnormal: a softmax weight that small is zero in effect.
        let v = x.max(-87.3);
        let n = (v * std::f32::consts::LOG2_E).round();
        let r = v - n * LN2_HI - n * LN2_LO;
        let p = 1.987_569_1e-4_f32;
        let p = p * r + 1.398_199_9e-3;
        let p = p * r + 8.333_452e-3;
        let p = p * r + 4.166_579_6e-2;
        let p = p * r + 1.666_666_5e-1;
        let p = p * r + 0.5;
        *x = (p * r * r + r + 1.0) * f32::from_bits(((n as i32 + 127) as u32) << 23);
    }
}

struct Mlp {
    gate: Linear,
    down: Linear,
    up: Linear,
}

impl Mlp {
    /// The feed-forward block of `xs` `(…, hidden)`: with packed weights, whose rows are
    /// multiplied each on its own, [`FEED_FORWARD_ROWS`] rows at a time.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let width = xs.dim(D::Minus1)?;
        let rows = xs.elem_count() / width;
        let packed = [&self.gate, &self.up, &self.down].iter().all(|linear| matches!(linear, Linear::Packed(_)));
        if rows <= FEED_FORWARD_ROWS || !packed {
            return self.forward_at_once(xs);
        }
        let flat = xs.reshape((rows, width))?;
        let parts = (0..rows)
            .step_by(FEED_FORWARD_ROWS)
            .map(|start| self.forward_at_once(&flat.narrow(0, start, FEED_FORWARD_ROWS.min(rows - start))?))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 0)?.reshape(xs.dims())
    }

    /// The feed-forward block of all of `xs` at once.
    fn forward_at_once(&self, xs: &Tensor) -> Result<Tensor> {
        let [gate, up] = Linear::forward_each([&self.gate, &self.up], xs)?;
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    q_bias: Tensor,
    k_bias: Tensor,
    v_bias: Tensor,
    output: Linear,
    attention_norm: RmsNorm,
    mlp: Mlp,
    ffn_norm: RmsNorm,
    keys: CacheBuffer,
    values: CacheBuffer,
}

/// Shape and position tables shared by every layer.
struct Geometry {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    cos: Tensor,
    sin: Tensor,
}

impl Layer {
    /// Attention of `x` at `position`; each sequence of the batch starts `padding` positions into
    /// the cache (none when empty; several sequences' one token each when not).
    fn attention(&mut self, x: &Tensor, mask: Option<&Tensor>, position: usize, padding: &[usize], geometry: &Geometry) -> Result<Tensor> {
        let Geometry { heads, kv_heads, head_dim, .. } = *geometry;
        let (batch, seq, embedding) = x.dims3()?;
        let split = |t: Tensor, n: usize| t.reshape((batch, seq, n, head_dim))?.transpose(1, 2)?.contiguous();
        let [q, k, v] = Linear::forward_each([&self.q, &self.k, &self.v], x)?;
        let q = split(q.broadcast_add(&self.q_bias)?, heads)?;
        let k = split(k.broadcast_add(&self.k_bias)?, kv_heads)?;
        let v = split(v.broadcast_add(&self.v_bias)?, kv_heads)?;
        let (cos, sin) = if padding.is_empty() {
            (geometry.cos.narrow(0, position, seq)?, geometry.sin.narrow(0, position, seq)?)
        } else {
            if seq != 1 || padding.len() != batch {
                candle_core::bail!("sequences of different lengths take one token each");
            }
            // Each sequence's token at its own position: the rotation it gets alone.
            let own: Vec<u32> = padding.iter().map(|&skip| (position - skip) as u32).collect();
            let own = Tensor::new(own.as_slice(), x.device())?;
            let per_sequence = |table: &Tensor| table.index_select(&own, 0)?.reshape((batch, 1, head_dim / 2));
            (per_sequence(&geometry.cos)?, per_sequence(&geometry.sin)?)
        };
        let q = candle_nn::rotary_emb::rope(&q, &cos, &sin)?;
        let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
        let keys_t = self.keys.append(&k.transpose(2, 3)?)?;
        let v = self.values.append(&v)?;
        let y = if seq < ATTEND_IN_PLACE_BELOW {
            let q = q.flatten_all()?.to_vec1::<f32>()?;
            let capacity = self.keys.capacity();
            let y = with_cpu_slice(self.keys.all()?, |keys_t| {
                with_cpu_slice(self.values.all()?, |values| attend_few(&q, keys_t, values, capacity, position, seq, padding, geometry))
            })??;
            Tensor::from_vec(y, (batch, seq, embedding), x.device())?
        } else {
            let kv_len = v.dim(2)?;
            // Query heads h·group … h·group+group-1 share key/value head h: as
            // (batch, kv_heads, group·seq, head_dim) they attend to it in one product each.
            let group = heads / kv_heads;
            let q = q.reshape((batch, kv_heads, group * seq, head_dim))?;
            let scores = (q.matmul(&keys_t)? * (1.0 / (head_dim as f64).sqrt()))?;
            let scores = match mask {
                None => scores,
                Some(mask) => scores.reshape((batch, kv_heads, group, seq, kv_len))?.broadcast_add(mask)?.reshape((
                    batch,
                    kv_heads,
                    group * seq,
                    kv_len,
                ))?,
            };
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let y = weights.matmul(&v)?;
            y.reshape((batch, heads, seq, head_dim))?.transpose(1, 2)?.reshape((batch, seq, embedding))?
        };
        self.output.forward(&y)
    }
}

/// A loaded Qwen2 model.
pub struct Qwen2 {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    geometry: Geometry,
    device: Device,
    /// Where the cache was copied into one cache per sequence (see [`CausalLm::forward_rows`]).
    forked_at: Option<usize>,
    /// Positions of padding before each held sequence, when sequences of different prompts are
    /// held together ([`CausalLm::hold_saved`]); empty otherwise.
    padding: Vec<usize>,
}

/// The cosine and sine tables of rotary position embeddings, `(positions, head_dim / 2)`.
fn rotary_tables(head_dim: usize, base: f32, positions: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let inverse: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / base.powf(i as f32 / head_dim as f32)).collect();
    let inverse = Tensor::new(inverse.as_slice(), device)?.reshape((1, head_dim / 2))?;
    let angles = Tensor::arange(0, positions as u32, device)?.to_dtype(DType::F32)?.reshape((positions, 1))?.matmul(&inverse)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// `(seq, position + seq)`: 0 where a prompt token may attend, −∞ after it.
fn causal_mask(seq: usize, position: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> =
        (0..seq).flat_map(|i| (0..position + seq).map(move |j| if j > position + i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_slice(&mask, (seq, position + seq), device)
}

impl Qwen2 {
    /// Loads the weights of a parsed GGUF file.
    pub fn load<R: std::io::Read + std::io::Seek>(content: gguf_file::Content, reader: &mut R, device: &Device) -> Result<Qwen2> {
        let metadata = |key: &str| match content.metadata.get(key) {
            Some(value) => Ok(value),
            None => candle_core::bail!("cannot find {key} in metadata"),
        };
        let heads = metadata("qwen2.attention.head_count")?.to_u32()? as usize;
        let kv_heads = metadata("qwen2.attention.head_count_kv")?.to_u32()? as usize;
        let embedding = metadata("qwen2.embedding_length")?.to_u32()? as usize;
        let context = metadata("qwen2.context_length")?.to_u32()? as usize;
        let blocks = metadata("qwen2.block_count")?.to_u32()? as usize;
        let eps = metadata("qwen2.attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = metadata("qwen2.rope.freq_base").and_then(|m| m.to_f32()).unwrap_or(10_000.0);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) || !embedding.is_multiple_of(heads) {
            candle_core::bail!("inconsistent attention shape: {heads} heads, {kv_heads} key/value heads, width {embedding}");
        }
        let head_dim = embedding / heads;
        let mut weights = TensorReader { content: &content, reader, buffer: Vec::new(), device };

        let token_embeddings = Arc::new(weights.tensor("token_embd.weight")?);
        let embeddings = Embeddings::new(token_embeddings.clone(), device)?;
        let output = match content.tensor_infos.contains_key("output.weight") {
            true => weights.linear("output.weight")?,
            false => Linear::new(token_embeddings)?, // tied embeddings
        };
        let norm = RmsNorm::from_qtensor(weights.tensor("output_norm.weight")?, eps)?;
        let mut layers = Vec::with_capacity(blocks);
        for index in 0..blocks {
            let name = |name: &str| format!("blk.{index}.{name}");
            layers.push(Layer {
                q: weights.linear(&name("attn_q.weight"))?,
                k: weights.linear(&name("attn_k.weight"))?,
                v: weights.linear(&name("attn_v.weight"))?,
                q_bias: weights.tensor(&name("attn_q.bias"))?.dequantize(device)?,
                k_bias: weights.tensor(&name("attn_k.bias"))?.dequantize(device)?,
                v_bias: weights.tensor(&name("attn_v.bias"))?.dequantize(device)?,
                output: weights.linear(&name("attn_output.weight"))?,
                attention_norm: RmsNorm::from_qtensor(weights.tensor(&name("attn_norm.weight"))?, eps)?,
                mlp: Mlp {
                    gate: weights.linear(&name("ffn_gate.weight"))?,
                    down: weights.linear(&name("ffn_down.weight"))?,
                    up: weights.linear(&name("ffn_up.weight"))?,
                },
                ffn_norm: RmsNorm::from_qtensor(weights.tensor(&name("ffn_norm.weight"))?, eps)?,
                keys: CacheBuffer::new(3),
                values: CacheBuffer::new(2),
            });
        }
        let (cos, sin) = rotary_tables(head_dim, rope_base, context, device)?;
        Ok(Qwen2 {
            embeddings,
            layers,
            norm,
            output,
            geometry: Geometry { heads, kv_heads, head_dim, cos, sin },
            device: device.clone(),
            forked_at: None,
            padding: Vec::new(),
        })
    }

    /// The final hidden states `(batch, seq, hidden)` of `tokens` `(batch, seq)`, normalised.
    fn hidden_states(&mut self, tokens: &Tensor, position: usize) -> Result<Tensor> {
        let (_, seq) = tokens.dims2()?;
        let mask = if seq == 1 { None } else { Some(causal_mask(seq, position, &self.device)?) };
        let mut hidden = self.embeddings.forward(tokens)?;
        for layer in &mut self.layers {
            let attention =
                layer.attention(&layer.attention_norm.forward(&hidden)?, mask.as_ref(), position, &self.padding, &self.geometry)?;
            let hidden_mid = (attention + &hidden)?;
            hidden = (layer.mlp.forward(&layer.ffn_norm.forward(&hidden_mid)?)? + hidden_mid)?;
        }
        self.norm.forward(&hidden)
    }

    /// `tokens` as the `(1, seq)` input continuing the one cached sequence at `position`.
    fn continuation(&self, tokens: &[u32], position: usize) -> Result<Tensor> {
        if position != self.cached_len() || self.forked_at.is_some() {
            candle_core::bail!("position {position} does not follow the cached sequence");
        }
        Tensor::new(tokens, &self.device)?.unsqueeze(0)
    }

    /// Readies the cache for `count` sequences continuing at `position`: the one cached
    /// sequence is copied into `count` the first time, held sequences continue as they are.
    fn hold_rows(&mut self, count: usize, position: usize) -> Result<()> {
        if position != self.cached_len() {
            candle_core::bail!("position {position} does not follow the cached sequences");
        }
        let rows = self.layers.first().map_or(1, |l| l.keys.rows());
        if rows != count && !self.padding.is_empty() {
            candle_core::bail!("{count} sequences cannot continue {rows} of different prompts");
        }
        if rows != count {
            if rows != 1 || position == 0 {
                candle_core::bail!("{count} sequences cannot continue a cache of {rows} at position {position}");
            }
            for layer in &mut self.layers {
                layer.keys.fork(count)?;
                layer.values.fork(count)?;
            }
            self.forked_at = Some(position);
        }
        Ok(())
    }

    fn forward_tensor(&mut self, tokens: &Tensor, position: usize) -> Result<Tensor> {
        let seq = tokens.dim(1)?;
        // Only the last position's logits are needed: the vocabulary product is the largest.
        let last = self.hidden_states(tokens, position)?.i((.., seq - 1, ..))?;
        self.output.forward(&last)
    }
}

impl CausalLm for Qwen2 {
    fn forward(&mut self, tokens: &[u32], position: usize) -> Result<Vec<f32>> {
        let input = self.continuation(tokens, position)?;
        let logits = self.forward_tensor(&input, position)?;
        logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()
    }

    fn forward_all(&mut self, tokens: &[u32], position: usize) -> Result<Vec<Vec<f32>>> {
        // Below both thresholds every step treats each row as it treats a row alone: zhbrief's
        // kernels (a row's result never depends on the rows beside it) and attention in place.
        if tokens.len() >= DEQUANTIZE_FROM_ROWS.min(ATTEND_IN_PLACE_BELOW) {
            candle_core::bail!("{} tokens are too many to check in one pass", tokens.len());
        }
        let input = self.continuation(tokens, position)?;
        let hidden = self.hidden_states(&input, position)?.squeeze(0)?;
        self.output.forward(&hidden)?.to_dtype(DType::F32)?.to_vec2()
    }

    fn log_probs(&mut self, rows: &[(&[u32], &[u32])], position: usize) -> Result<Vec<Vec<f32>>> {
        let width = rows.iter().map(|(tokens, _)| tokens.len()).max().unwrap_or(0);
        if width == 0 || rows.iter().any(|(tokens, next)| next.len() > tokens.len()) {
            candle_core::bail!("nothing to run, or more tokens to score than run");
        }
        self.hold_rows(rows.len(), position)?;
        // Shorter rows are padded at their end: a causal model's earlier positions never see
        // what follows them, and the padding's keys and values are never read (the caller cuts
        // the cache back before anything continues it).
        let padded: Vec<u32> =
            rows.iter().flat_map(|(tokens, _)| tokens.iter().copied().chain(std::iter::repeat_n(0, width - tokens.len()))).collect();
        let hidden = self.hidden_states(&Tensor::from_vec(padded, (rows.len(), width), &self.device)?, position)?;
        // The vocabulary product, the largest, only for the positions scored, all rows at once.
        let scored = rows
            .iter()
            .enumerate()
            .filter(|(_, (_, next))| !next.is_empty())
            .map(|(row, (tokens, next))| hidden.i(row)?.narrow(0, tokens.len() - next.len(), next.len()))
            .collect::<Result<Vec<_>>>()?;
        if scored.is_empty() {
            return Ok(vec![Vec::new(); rows.len()]);
        }
        let scored = Tensor::cat(&scored, 0)?;
        let targets: Vec<u32> = rows.iter().flat_map(|(_, next)| next.iter().copied()).collect();
        let mut log_probs = Vec::with_capacity(targets.len());
        match &self.output {
            // A pass's logits reduced before the next pass: see [`SCORED_PER_PASS`].
            Linear::Packed(packed) => {
                let width = scored.dim(1)?;
                let hidden = scored.flatten_all()?.to_vec1::<f32>()?;
                let mut logits = vec![0f32; SCORED_PER_PASS.min(targets.len()) * packed.rows()];
                for (pass, targets) in hidden.chunks(SCORED_PER_PASS * width).zip(targets.chunks(SCORED_PER_PASS)) {
                    let activations = kernels::Activations::new(pass, width);
                    let logits = &mut logits[..targets.len() * packed.rows()];
                    packed.product(&activations, logits);
                    log_probs.extend(target_log_probs(logits, packed.rows(), targets)?);
                }
            }
            Linear::Stored { .. } => {
                let logits = self.output.forward(&scored)?.to_dtype(DType::F32)?.contiguous()?;
                let vocabulary = logits.dim(D::Minus1)?;
                log_probs.extend(with_cpu_slice(&logits, |logits| target_log_probs(logits, vocabulary, &targets))??);
            }
        }
        let mut log_probs = log_probs.into_iter();
        Ok(rows.iter().map(|(_, next)| log_probs.by_ref().take(next.len()).collect()).collect())
    }

    fn forward_rows(&mut self, tokens: &[u32], position: usize) -> Result<Vec<Vec<f32>>> {
        self.hold_rows(tokens.len(), position)?;
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(1)?;
        self.forward_tensor(&input, position)?.to_dtype(DType::F32)?.to_vec2()
    }

    fn keep_rows(&mut self, rows: &[usize]) -> Result<()> {
        let held = self.layers.first().map_or(1, |l| l.keys.rows());
        if rows.is_empty() || rows.iter().any(|&r| r >= held) {
            candle_core::bail!("cannot keep sequences {rows:?} of {held}");
        }
        if !self.padding.is_empty() {
            self.padding = rows.iter().map(|&r| self.padding[r]).collect();
        }
        let rows: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let rows = Tensor::new(rows.as_slice(), &self.device)?;
        for layer in &mut self.layers {
            layer.keys.keep(&rows)?;
            layer.values.keep(&rows)?;
        }
        Ok(())
    }

    fn saved(&self) -> Result<SavedSequence> {
        let len = self.cached_len();
        if self.forked_at.is_some() || len == 0 {
            candle_core::bail!("no one sequence to save");
        }
        let layers = self
            .layers
            .iter()
            .map(|l| Ok((l.keys.all()?.narrow(3, 0, len)?.contiguous()?, l.values.all()?.narrow(2, 0, len)?.contiguous()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(SavedSequence { layers, len })
    }

    fn hold_saved(&mut self, saved: &[(&SavedSequence, usize)]) -> Result<()> {
        let longest = saved.iter().map(|(s, _)| s.len).max().unwrap_or(0);
        let count: usize = saved.iter().map(|&(_, n)| n).sum();
        if count == 0 || saved.iter().any(|(s, _)| s.layers.len() != self.layers.len()) {
            candle_core::bail!("nothing to hold, or sequences of another model");
        }
        // Each copy right-aligned, so the next token of every sequence goes in the same column.
        let padding: Vec<usize> = saved.iter().flat_map(|&(s, n)| std::iter::repeat_n(longest - s.len, n)).collect();
        let capacity = (longest + 1).next_multiple_of(KV_CACHE_STEP);
        for (index, layer) in self.layers.iter_mut().enumerate() {
            for (buffer, which) in [(&mut layer.keys, 0), (&mut layer.values, 1)] {
                let rows = saved
                    .iter()
                    .map(|&(s, n)| {
                        let part = if which == 0 { &s.layers[index].0 } else { &s.layers[index].1 };
                        let mut shape = part.dims().to_vec();
                        shape[buffer.axis] = capacity;
                        let one = Tensor::zeros(shape, part.dtype(), part.device())?;
                        one.slice_set(part, buffer.axis, longest - s.len)?;
                        let mut repeats = vec![1; one.rank()];
                        repeats[0] = n;
                        one.repeat(repeats)
                    })
                    .collect::<Result<Vec<_>>>()?;
                buffer.data = Some(Tensor::cat(&rows, 0)?);
                buffer.len = longest;
            }
        }
        let alone = count == 1;
        self.forked_at = if alone { None } else { Some(0) };
        self.padding = if alone { Vec::new() } else { padding };
        Ok(())
    }

    fn cached_len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.keys.len)
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        if !self.padding.is_empty() {
            // Sequences of different prompts share no positions to cut back to.
            if len != 0 {
                candle_core::bail!("sequences of different prompts cannot be cut back to {len} positions");
            }
            self.padding.clear();
        }
        let join = self.forked_at.is_some_and(|at| len <= at);
        for layer in &mut self.layers {
            layer.keys.len = layer.keys.len.min(len);
            layer.values.len = layer.values.len.min(len);
            if join {
                layer.keys.join()?;
                layer.values.join()?;
            }
        }
        if join {
            self.forked_at = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;
    use candle_transformers::models::quantized_qwen2::ModelWeights;

    /// Our model and Candle's `quantized_qwen2` (the reference) on the tiny test model with its
    /// weights in `format`.
    fn both(format: GgmlDType) -> (Qwen2, ModelWeights) {
        both_written(|path| crate::llm::local::testing::write_tiny_qwen2_as(path, format))
    }

    fn both_written(write: impl Fn(&std::path::Path) -> Result<()>) -> (Qwen2, ModelWeights) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write(&path).unwrap();
        let open = || {
            let mut file = std::fs::File::open(&path).unwrap();
            (gguf_file::Content::read(&mut file).unwrap(), file)
        };
        let (content, mut file) = open();
        let ours = Qwen2::load(content, &mut file, &Device::Cpu).unwrap();
        let (content, mut file) = open();
        let reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
        (ours, reference)
    }

    fn reference_logits(model: &mut ModelWeights, tokens: &[u32], position: usize) -> Vec<f32> {
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        model.forward(&input, position).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    fn prompt(len: usize) -> Vec<u32> {
        (0..len as u32).map(|i| (i * 37 + 11) % 256).collect()
    }

    #[test]
    fn sums_of_shared_terms_are_each_row_summed_in_order() {
        // Values of every magnitude, so that any other order of the additions rounds differently.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2f32.powi((state >> 33) as i32 % 16 - 8)
        };
        let count = 37;
        let values: Vec<f32> = (0..count * TILE + 5).map(|_| next()).collect();
        for rows in 1..=9 {
            for width in [TILE, 13] {
                let weights: Vec<f32> = (0..rows * count).map(|_| next()).collect();
                let (stride, at) = (TILE + 7, 3);
                let mut out = vec![f32::NAN; rows * stride];
                sum_shared_terms(&mut out, stride, at, width, &weights, count, |t| tile_at(&values, 5 + t * TILE));
                for r in 0..rows {
                    for i in 0..TILE {
                        let mut sum = 0f32;
                        for t in 0..count {
                            sum += weights[r * count + t] * values[5 + t * TILE + i];
                        }
                        let got = out[r * stride + at + i];
                        if i < width {
                            assert_eq!(got.to_bits(), sum.to_bits(), "{rows} rows, row {r}, sum {i}");
                        } else {
                            assert!(got.is_nan(), "{rows} rows, row {r}: sum {i} past the width was written");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn token_by_token_matches_the_reference() {
        // F32 weights: both multiply through the same f32 product, so only the order of
        // floating-point operations in attention differs. Q8_0: zhbrief's kernel and Candle's
        // each round the activations to 8 bits their own way (on the tiny model each is 2% of
        // the largest logit from the unquantised model's logits, and as far from each other).
        for (format, tolerance) in [(GgmlDType::F32, 1e-4), (GgmlDType::Q8_0, 0.05)] {
            let (mut ours, mut reference) = both(format);
            for (position, &token) in prompt(40).iter().enumerate() {
                let a = ours.forward(&[token], position).unwrap();
                let b = reference_logits(&mut reference, &[token], position);
                let scale = b.iter().fold(1.0f32, |m, x| m.max(x.abs()));
                let difference = max_difference(&a, &b);
                assert!(difference < tolerance * scale, "{format:?} at {position}: {difference} (largest logit {scale})");
            }
        }
    }

    #[test]
    fn tied_embeddings_serve_as_the_output_matrix() {
        let (mut ours, mut reference) = both_written(|path| crate::llm::local::testing::write_tiny_qwen2_tied(path, GgmlDType::Q8_0));
        for (position, &token) in prompt(20).iter().enumerate() {
            let a = ours.forward(&[token], position).unwrap();
            let b = reference_logits(&mut reference, &[token], position);
            let scale = b.iter().fold(1.0f32, |m, x| m.max(x.abs()));
            let difference = max_difference(&a, &b);
            assert!(difference < 0.05 * scale, "at {position}: {difference} (largest logit {scale})");
        }
    }

    #[test]
    fn a_few_tokens_in_one_pass_equal_them_one_at_a_time() {
        // What makes drafted tokens safe to check in one pass: the logits after each are exactly
        // those of feeding it alone, for every format zhbrief ships.
        for format in [GgmlDType::F32, GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K] {
            let (mut model, _) = both(format);
            let tokens = prompt(40);
            let (prefix, rest) = tokens.split_at(30);
            model.forward(prefix, 0).unwrap();
            let one_at_a_time: Vec<Vec<f32>> =
                rest.iter().enumerate().map(|(i, &token)| model.forward(&[token], prefix.len() + i).unwrap()).collect();
            model.truncate(prefix.len()).unwrap();
            assert_eq!(model.forward_all(rest, prefix.len()).unwrap(), one_at_a_time, "{format:?}");
            assert_eq!(model.cached_len(), tokens.len());
        }
    }

    #[test]
    fn batched_prompt_matches_the_reference() {
        // With f32 weights both compute in f32 throughout: this checks attention (grouped heads,
        // causal mask across chunks, rotary positions) and the cache, up to summation order.
        let (mut ours, mut reference) = both(GgmlDType::F32);
        let tokens = prompt(3 * DEQUANTIZE_FROM_ROWS);
        let (first, second) = tokens.split_at(2 * DEQUANTIZE_FROM_ROWS);
        for (chunk, position) in [(first, 0), (second, first.len()), (&[5][..], tokens.len())] {
            let a = ours.forward(chunk, position).unwrap();
            let b = reference_logits(&mut reference, chunk, position);
            assert!(max_difference(&a, &b) < 1e-4, "at {position}: {}", max_difference(&a, &b));
        }
    }

    #[test]
    fn batched_q8_0_stays_close_to_the_quantised_reference() {
        // Q8_0 weights: a batch multiplies by them dequantised while the reference quantises the
        // activations to 8 bits, so the logits differ by that rounding only.
        let (mut ours, mut reference) = both(GgmlDType::Q8_0);
        let tokens = prompt(2 * DEQUANTIZE_FROM_ROWS);
        let a = ours.forward(&tokens, 0).unwrap();
        let b = reference_logits(&mut reference, &tokens, 0);
        let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(max_difference(&a, &b) < 0.05 * scale, "{} vs scale {scale}", max_difference(&a, &b));
    }

    #[test]
    fn truncating_the_cache_replays_bit_for_bit() {
        let (mut model, _) = both(GgmlDType::Q8_0);
        let tokens = prompt(80);
        let (prefix, suffix) = tokens.split_at(48);
        model.forward(prefix, 0).unwrap();
        let fresh = model.forward(suffix, prefix.len()).unwrap();
        model.truncate(prefix.len()).unwrap();
        // Another sequence grows the cache past its first allocation, then is cut back.
        model.forward(&prompt(1500)[..1500 - prefix.len()], prefix.len()).unwrap();
        model.truncate(prefix.len()).unwrap();
        assert_eq!(model.cached_len(), prefix.len());
        assert_eq!(model.forward(suffix, prefix.len()).unwrap(), fresh);
        assert!(model.forward(suffix, 3).is_err(), "a position that does not follow the cache is refused");
    }

    #[test]
    fn cache_grows_and_forks_to_what_it_holds() {
        // Keys laid out as the model lays them, positions along axis 3; values count up so that
        // any lost or shifted position shows.
        let device = Device::Cpu;
        let positions = |from: usize, count: usize| {
            let data: Vec<f32> = (0..2 * 3 * count).map(|i| (from * 6 + i) as f32).collect();
            Tensor::from_vec(data, (1, 2, 3, count), &device).unwrap()
        };
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut cache = CacheBuffer::new(3);
        let mut expected = Vec::new();
        let mut len = 0;
        for count in [5, 70, 1, 200] {
            let piece = positions(len, count);
            expected.push(piece.clone());
            let all = cache.append(&piece).unwrap();
            len += count;
            assert_eq!(flat(&all), flat(&Tensor::cat(&expected, 3).unwrap()));
            assert!(cache.capacity() >= len && cache.capacity() <= 2 * len + KV_CACHE_STEP, "capacity {} for {len}", cache.capacity());
        }
        cache.fork(4).unwrap();
        assert_eq!(cache.rows(), 4);
        assert!(cache.capacity() > len && cache.capacity() <= len + KV_CACHE_STEP, "a fork holds {} for {len}", cache.capacity());
        let whole = Tensor::cat(&expected, 3).unwrap();
        let more = Tensor::ones((4, 2, 3, 1), DType::F32, &device).unwrap();
        let all = cache.append(&more).unwrap();
        for row in 0..4 {
            assert_eq!(flat(&all.i(row).unwrap().narrow(2, 0, len).unwrap()), flat(&whole));
        }
    }

    #[test]
    fn scores_of_more_positions_than_a_pass_are_each_the_logits_after_its_tokens() {
        // Packed weights, more scored positions than one pass reduces, rows across pass
        // boundaries, the last row's beyond the first slice of feed-forward rows: every score is
        // its token's log-probability under the logits the model gives one token at a time
        // (same kernels; attention summed in another order).
        let (mut model, _) = both(GgmlDType::Q8_0);
        assert!(matches!(model.output, Linear::Packed(_)));
        let prefix = prompt(10);
        let tokens: Vec<Vec<u32>> = [150, 40, 140].iter().map(|&len| prompt(len + 3)[3..].to_vec()).collect();
        let scored = [140, 0, 130];
        assert!(scored.iter().sum::<usize>() > 4 * SCORED_PER_PASS && 2 * 150 > FEED_FORWARD_ROWS);
        model.reset().unwrap();
        model.forward(&prefix, 0).unwrap();
        let batch: Vec<(&[u32], &[u32])> = tokens.iter().zip(scored).map(|(t, n)| (&t[..], &t[t.len() - n..])).collect();
        let together = model.log_probs(&batch, prefix.len()).unwrap();
        for (row, (tokens, next)) in batch.iter().enumerate() {
            // The logits after token `first + i` score `next[i]`.
            let first = tokens.len() - next.len();
            model.reset().unwrap();
            model.forward(&prefix, 0).unwrap();
            let mut expected = Vec::new();
            for (j, &token) in tokens.iter().enumerate() {
                let logits = model.forward(&[token], prefix.len() + j).unwrap();
                if j >= first {
                    expected.push(logits[next[j - first] as usize] - log_sum_exp(&logits));
                }
            }
            assert_eq!(expected.len(), next.len());
            let difference = max_difference(&together[row], &expected);
            assert!(difference < 1e-2, "row {row}: {difference}");
        }
    }

    #[test]
    fn rows_scored_together_match_each_scored_alone() {
        // Rows of different lengths, padded into one batch: each row's scores are what it gets
        // alone, up to the summation order of products over more rows. (F32 weights: with
        // quantised ones a product of under DEQUANTIZE_FROM_ROWS rows alone would round its
        // activations to 8 bits where the batch's does not.)
        let (mut model, _) = both(GgmlDType::F32);
        let prefix = prompt(40);
        let rows: [(Vec<u32>, usize); 3] = [(prompt(45)[5..].to_vec(), 30), (vec![7, 9, 11], 2), (prompt(20), 0)];
        let mut alone = Vec::new();
        for (tokens, scored) in &rows {
            model.reset().unwrap();
            model.forward(&prefix, 0).unwrap();
            let next = &tokens[tokens.len() - scored..];
            let log_probs = model.log_probs(&[(&tokens[..], next)], prefix.len()).unwrap().remove(0);
            // A row's last score is what the logits after all its tokens give.
            if let Some(&last) = next.last() {
                model.truncate(prefix.len()).unwrap();
                let before = model.forward(tokens, prefix.len()).unwrap();
                assert!((log_probs[scored - 1] - (before[last as usize] - log_sum_exp(&before))).abs() < 1e-4);
            }
            alone.push(log_probs);
        }
        model.reset().unwrap();
        model.forward(&prefix, 0).unwrap();
        let batch: Vec<(&[u32], &[u32])> = rows.iter().map(|(t, scored)| (&t[..], &t[t.len() - scored..])).collect();
        let together = model.log_probs(&batch, prefix.len()).unwrap();
        for (row, (a, b)) in together.iter().zip(&alone).enumerate() {
            assert_eq!(a.len(), b.len());
            assert!(max_difference(a, b) < 1e-4, "row {row}: {}", max_difference(a, b));
        }
        // Cut back into the prefix, the cache is one sequence again, as it was.
        model.truncate(prefix.len()).unwrap();
        let after = model.forward(&[3], prefix.len()).unwrap();
        model.reset().unwrap();
        model.forward(&prefix, 0).unwrap();
        assert_eq!(after, model.forward(&[3], prefix.len()).unwrap());
        assert!(model.log_probs(&[(&[1][..], &[1, 2][..])], prefix.len()).is_err(), "more scored than run");
    }

    #[test]
    fn sequences_of_different_prompts_held_together_equal_each_alone() {
        for format in [GgmlDType::Q5_0, GgmlDType::Q4K] {
            let (mut model, _) = both(format);
            let prompts = [prompt(40), prompt(23)[3..].to_vec(), prompt(33)];
            let continuations = [[7u32, 9, 11, 5], [200, 3, 3, 5], [7, 9, 12, 5]];
            let (mut alone, mut saved) = (Vec::new(), Vec::new());
            for (tokens, continuation) in prompts.iter().zip(&continuations) {
                model.reset().unwrap();
                model.forward(tokens, 0).unwrap();
                saved.push(model.saved().unwrap());
                let logits: Vec<Vec<f32>> =
                    continuation.iter().enumerate().map(|(i, &t)| model.forward(&[t], tokens.len() + i).unwrap()).collect();
                alone.push(logits);
            }
            // Two copies of the second prompt, one continued as the first's continuation would
            // be: rows 0, 1 and 3 are checked against their prompt alone.
            model.hold_saved(&[(&saved[0], 1), (&saved[1], 2), (&saved[2], 1)]).unwrap();
            let longest = 40;
            let which = [0, 1, 1, 2];
            for step in 0..3 {
                let tokens: Vec<u32> = which.iter().map(|&w| continuations[w][step]).collect();
                let together = model.forward_rows(&tokens, longest + step).unwrap();
                for (row, &w) in which.iter().enumerate() {
                    assert_eq!(together[row], alone[w][step], "{format:?}: row {row}, step {step}");
                }
            }
            assert!(model.truncate(longest).is_err(), "different prompts share no positions");
            // Dropping sequences keeps each one's own positions.
            model.keep_rows(&[3, 0]).unwrap();
            let last = model.forward_rows(&[continuations[2][3], continuations[0][3]], longest + 3).unwrap();
            assert_eq!(last, vec![alone[2][3].clone(), alone[0][3].clone()]);
            // One saved sequence held once is that sequence as it was.
            model.hold_saved(&[(&saved[1], 1)]).unwrap();
            assert_eq!(model.forward(&[continuations[1][0]], prompts[1].len()).unwrap(), alone[1][0]);
        }
    }

    #[test]
    fn sequences_decoded_together_equal_each_decoded_alone() {
        // Every format with a kernel of zhbrief's own must give each row what one row alone
        // gets, so candidates do not depend on how many are decoded at once.
        for format in [GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K] {
            let (mut model, _) = both(format);
            let prefix = prompt(40);
            let continuations = [[7u32, 9, 11, 5], [200, 3, 3, 5], [7, 9, 12, 5]];
            let mut alone = Vec::new();
            for continuation in &continuations {
                model.reset().unwrap();
                model.forward(&prefix, 0).unwrap();
                let logits: Vec<Vec<f32>> =
                    continuation.iter().enumerate().map(|(i, &t)| model.forward(&[t], prefix.len() + i).unwrap()).collect();
                alone.push(logits);
            }
            model.reset().unwrap();
            model.forward(&prefix, 0).unwrap();
            for step in 0..3 {
                let tokens: Vec<u32> = continuations.iter().map(|c| c[step]).collect();
                let together = model.forward_rows(&tokens, prefix.len() + step).unwrap();
                for (row, logits) in together.iter().enumerate() {
                    assert_eq!(logits, &alone[row][step], "{format:?}: row {row}, step {step}");
                }
            }
            assert!(model.forward(&[1], prefix.len() + 3).is_err(), "several sequences are not one");
            // Dropping a sequence leaves the others as they were.
            model.keep_rows(&[2, 0]).unwrap();
            assert_eq!(model.forward_rows(&[5, 5], prefix.len() + 3).unwrap(), vec![alone[2][3].clone(), alone[0][3].clone()]);
            // Cut back into the shared prompt, the cache is one sequence again.
            model.truncate(prefix.len()).unwrap();
            assert_eq!(model.forward(&[continuations[1][0]], prefix.len()).unwrap(), alone[1][0]);
        }
    }
}
