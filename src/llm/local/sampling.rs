//! Choosing a row's next token from its logits: Candle's repeat penalty, greedy choice and seeded
//! nucleus sampling, with the same arithmetic on plain slices. Candle's tensor operations run on
//! its worker threads and cannot be called from them; these can, so the rows of a batch are
//! chosen on both cores at once. Their sameness with Candle's is tested below.

use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;

/// Divides (when positive) or multiplies (when negative) by `penalty` the logit of each distinct
/// token of `context`, as Candle's `apply_repeat_penalty` does.
pub fn apply_repeat_penalty(logits: &mut [f32], penalty: f32, context: &[u32]) {
    for (i, &token) in context.iter().enumerate() {
        if context[..i].contains(&token) {
            continue;
        }
        if let Some(logit) = logits.get_mut(token as usize) {
            if *logit >= 0.0 {
                *logit /= penalty;
            } else {
                *logit *= penalty;
            }
        }
    }
}

/// The first of the highest logits (Candle's `argmax`: a later logit wins only when greater).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &logit) in logits.iter().enumerate() {
        if logits[best] < logit {
            best = i;
        }
    }
    best as u32
}

/// Seeded nucleus (top-p) sampling that draws exactly the tokens Candle's `LogitsProcessor`
/// draws (the same probabilities, the same kept tokens, the same random stream), without sorting
/// or weighing the whole vocabulary at every step: only the likely tokens are put in order, and
/// only the kept ones weighed. Sorting 152k probabilities per sampled row and step was a tenth of
/// the time of decoding a batch of candidates.
pub struct Nucleus {
    rng: StdRng,
    temperature: f64,
    top_p: f32,
}

impl Nucleus {
    /// A sampler at `temperature` keeping the most probable tokens up to `top_p`, seeded by `seed`.
    pub fn new(seed: u64, temperature: f64, top_p: f64) -> Nucleus {
        Nucleus { rng: StdRng::seed_from_u64(seed), temperature, top_p: top_p as f32 }
    }

    /// Draws a token from `logits`, which become its probabilities (in place: a fresh 600 KB
    /// per sampled row and step was a third of batched decoding's page faults).
    pub fn sample(&mut self, logits: &mut [f32]) -> candle_core::Result<u32> {
        softmax_in_place(logits, self.temperature);
        let probabilities = &*logits;
        let kept: Vec<usize> = if self.top_p <= 0.0 || self.top_p >= 1.0 {
            (0..probabilities.len()).collect()
        } else {
            let mut kept = nucleus(probabilities, self.top_p);
            kept.sort_unstable();
            kept
        };
        // Candle weighs the whole vocabulary with the tokens outside the nucleus at zero; zeros
        // add nothing to the running sums and are never drawn, so the kept tokens alone, in the
        // same order, give the same total, the same uniform draw and the same token.
        let distribution = WeightedIndex::new(kept.iter().map(|&i| probabilities[i])).map_err(candle_core::Error::wrap)?;
        Ok(kept[distribution.sample(&mut self.rng)] as u32)
    }
}

/// `logits` turned into their probabilities at `temperature`, computed as Candle computes
/// `(logits / temperature).softmax()`: scaled by the reciprocal, the maximum subtracted,
/// exponentiated, and divided by the sum Candle's own summing kernel gives (its order of
/// additions decides the bits).
fn softmax_in_place(values: &mut [f32], temperature: f64) {
    use candle_core::cpu::kernels::VecOps;
    let scale = (1.0 / temperature) as f32;
    values.iter_mut().for_each(|v| *v *= scale);
    let max = values.iter().skip(1).fold(values.first().copied().unwrap_or(0.0), |max, &v| max.max(v));
    for v in values.iter_mut() {
        *v = (*v - max).exp();
    }
    let mut sum = 0f32;
    // SAFETY: the pointer and length are those of `values`.
    unsafe { f32::vec_reduce_sum(values.as_ptr(), &mut sum, values.len()) };
    for v in values.iter_mut() {
        *v /= sum;
    }
}

/// The tokens top-p sampling keeps: in order of falling probability (ties by index, as a stable
/// sort leaves them), each while the sum of those before it is below `top_p`.
fn nucleus(probabilities: &[f32], top_p: f32) -> Vec<usize> {
    let order = |&i: &usize, &j: &usize| probabilities[j].total_cmp(&probabilities[i]).then(i.cmp(&j));
    // Every token at or above a floor comes before every token below it in that order, so when
    // the tokens at or above it reach `top_p` the nucleus is among them. The floor falls until
    // they do; at the last, every token is a candidate.
    for floor in NUCLEUS_FLOORS.into_iter().map(Some).chain([None]) {
        let mut indices: Vec<usize> = match floor {
            Some(floor) => (0..probabilities.len()).filter(|&i| probabilities[i] >= floor).collect(),
            None => (0..probabilities.len()).collect(),
        };
        indices.sort_unstable_by(order);
        let mut sum = 0f32;
        for (n, &i) in indices.iter().enumerate() {
            if sum >= top_p {
                indices.truncate(n);
                return indices;
            }
            sum += probabilities[i];
        }
        // Past the last candidate the sum is what decides: reached, no later token is kept.
        if sum >= top_p || floor.is_none() {
            return indices;
        }
    }
    unreachable!("the last pass takes every token")
}

/// Probability floors of the candidates for the nucleus, tried in turn: at a temperature below
/// one, the tokens above the first nearly always reach the nucleus.
const NUCLEUS_FLOORS: [f32; 2] = [1e-3, 1e-6];

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use candle_transformers::generation::{LogitsProcessor, Sampling};

    /// Pseudo-random numbers in [0, 1) from a fixed seed.
    fn uniform(seed: u64) -> impl FnMut() -> f32 {
        let mut state = seed;
        move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// Logits with ties, barred tokens and noise of the given spread (peaked or flat).
    fn logits(vocab: usize, spread: f32, next: &mut impl FnMut() -> f32) -> Vec<f32> {
        (0..vocab)
            .map(|i| match i % 7 {
                0 => f32::NEG_INFINITY,
                1 => 1.5,
                _ => (next() - 0.25) * spread,
            })
            .collect()
    }

    #[test]
    fn nucleus_sampling_draws_what_candles_sampler_draws() {
        // Peaked distributions (the nucleus among the likely tokens) and flat ones (the floors
        // fall); each sampler draws a stream of tokens from its own seeded generator.
        let mut next = uniform(7);
        for (vocab, spread) in [(50, 2.0), (5000, 8.0), (151_936, 30.0), (151_936, 12.0), (151_936, 3.0)] {
            for seed in [1u64, 2, 3] {
                for (temperature, top_p) in [(0.6, 0.9), (1.0, 0.5), (0.6, 0.999), (0.8, 1.0)] {
                    let mut ours = Nucleus::new(seed, temperature, top_p);
                    let mut candle = LogitsProcessor::from_sampling(seed, Sampling::TopP { p: top_p, temperature });
                    for _ in 0..8 {
                        let mut logits = logits(vocab, spread, &mut next);
                        let tensor = Tensor::from_slice(&logits, vocab, &Device::Cpu).unwrap();
                        assert_eq!(
                            ours.sample(&mut logits).unwrap(),
                            candle.sample(&tensor).unwrap(),
                            "vocab {vocab}, spread {spread}, seed {seed}, temperature {temperature}, top-p {top_p}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn penalty_and_greedy_choice_match_candles() {
        let mut next = uniform(11);
        for (vocab, spread) in [(50, 2.0), (151_936, 30.0)] {
            for _ in 0..20 {
                let mut ours = logits(vocab, spread, &mut next);
                // Repeated tokens, tokens with negative and barred logits, one outside the vocabulary.
                let context: Vec<u32> = (0..64).map(|_| (next() * 60.0) as u32).chain([vocab as u32 + 3]).collect();
                let tensor = Tensor::from_slice(&ours, vocab, &Device::Cpu).unwrap();
                let candle = candle_transformers::utils::apply_repeat_penalty(&tensor, 1.1, &context).unwrap();
                apply_repeat_penalty(&mut ours, 1.1, &context);
                assert_eq!(ours, candle.to_vec1::<f32>().unwrap());
                assert_eq!(argmax(&ours), candle.argmax(0).unwrap().to_scalar::<u32>().unwrap());
            }
        }
        // Ties go to the first, as in Candle.
        assert_eq!(argmax(&[f32::NEG_INFINITY, 2.0, 1.0, 2.0]), 1);
    }
}
