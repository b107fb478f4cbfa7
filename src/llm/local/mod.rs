//! The local engine: a GGUF model run on the CPU with Candle tensors and zhbrief's own forward
//! pass and kernels. One file is the whole model: weights, tokenizer and chat template.
//!
//! One [`Model`] is loaded per process and reused for every article. The transformer itself sits
//! behind [`CausalLm`], so another family (Qwen3, Llama) is a new loader, not a rewrite.

pub mod bytes;
pub mod generate;
pub mod gguf;
pub mod kernels;
pub mod qwen2;
pub mod requantize;
pub mod sampling;
pub mod template;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use gguf::Model;

use std::sync::{Mutex, PoisonError};

use crate::error::Error;
use crate::llm::{Backend, GenerateOptions, Generation, Message};

/// `f` of each item, in order, the items shared among Candle's worker threads and the calling
/// thread (a single item stays on the calling thread: nothing to share, no waking the workers).
/// `f` must not use Candle's tensor operations: those run on the same threads, and cannot be
/// called from the calling thread while it takes part.
pub(crate) fn map_on_workers<T: Send, U: Send>(items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    if items.len() < 2 {
        return items.into_iter().map(f).collect();
    }
    let slots: Vec<Mutex<(Option<T>, Option<U>)>> = items.into_iter().map(|item| Mutex::new((Some(item), None))).collect();
    candle_core::utils::barrier_pool().execute_chunked(slots.len(), |range| {
        for i in range {
            let mut slot = slots[i].lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(item) = slot.0.take() {
                slot.1 = Some(f(item));
            }
        }
    });
    slots.into_iter().map(|slot| slot.into_inner().unwrap_or_else(PoisonError::into_inner).1.expect("every item is mapped")).collect()
}

/// The keys and values of one cached sequence, layer by layer, and its length.
pub struct SavedSequence {
    pub(crate) layers: Vec<(candle_core::Tensor, candle_core::Tensor)>,
    pub(crate) len: usize,
}

/// A decoder-only transformer: feed tokens at a position, get the logits of the last one.
pub trait CausalLm: Send {
    /// Runs `tokens` starting at `position` (the number of tokens already in the cache) and returns
    /// the vocabulary logits after the last token.
    fn forward(&mut self, tokens: &[u32], position: usize) -> candle_core::Result<Vec<f32>>;
    /// Runs a few `tokens` (fewer than 32) like [`CausalLm::forward`] and returns the logits
    /// after each of them, each bit for bit what feeding the tokens one at a time gives: the
    /// check of several drafted tokens in one pass.
    fn forward_all(&mut self, tokens: &[u32], position: usize) -> candle_core::Result<Vec<Vec<f32>>>;
    /// Runs each row's `tokens` from `position` and returns the log-probability the model gives
    /// each token of that row's `next` after the tokens up to its match among the last
    /// `next.len()` of `tokens` (`next[0]` follows `tokens[tokens.len() - next.len()]`). One row
    /// continues the cached sequence like [`CausalLm::forward`]; several continue it separately,
    /// as one batch, like [`CausalLm::forward_rows`] (rows may differ in length; a row that has
    /// ended may be empty).
    fn log_probs(&mut self, rows: &[(&[u32], &[u32])], position: usize) -> candle_core::Result<Vec<Vec<f32>>>;
    /// Runs one token for each of several sequences that continue the cached one separately, all
    /// at `position`, and returns each one's logits. The first such call copies the cache into one
    /// cache per sequence; truncating back into the shared part makes it one sequence again.
    fn forward_rows(&mut self, tokens: &[u32], position: usize) -> candle_core::Result<Vec<Vec<f32>>>;
    /// Keeps only the listed sequences (indices among those [`CausalLm::forward_rows`] runs), in
    /// that order: finished sequences stop costing work.
    fn keep_rows(&mut self, rows: &[usize]) -> candle_core::Result<()>;
    /// A copy of the one cached sequence, to be held again by [`CausalLm::hold_saved`].
    fn saved(&self) -> candle_core::Result<SavedSequence>;
    /// Holds each saved sequence as many times as given, in that order, as separate sequences
    /// that [`CausalLm::forward_rows`] continues at the longest one's end: each with its own
    /// positions, so each gets exactly what it gets alone. One sequence held once is the cache
    /// as it was when saved.
    fn hold_saved(&mut self, saved: &[(&SavedSequence, usize)]) -> candle_core::Result<()>;
    /// Forgets the cached keys and values: the next call starts a new sequence at position 0.
    fn reset(&mut self) -> candle_core::Result<()> {
        self.truncate(0)
    }
    /// Positions held in the key/value cache.
    fn cached_len(&self) -> usize;
    /// Keeps only the first `len` cached positions, so a prompt sharing them continues from there.
    fn truncate(&mut self, len: usize) -> candle_core::Result<()>;
}

impl Backend for Model {
    fn count_tokens(&self, text: &str) -> Result<usize, Error> {
        Ok(self.encode(text)?.len())
    }

    fn replies(
        &mut self,
        messages: &[Message],
        options: &[GenerateOptions],
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Vec<Generation>, Error> {
        self.chat_candidates(messages, options, on_text)
    }

    fn replies_together(&mut self, requests: &[(&[Message], &[GenerateOptions])]) -> Result<Vec<Vec<Generation>>, Error> {
        self.chat_together(requests)
    }

    fn continue_reply(
        &mut self,
        messages: &[Message],
        start: &str,
        avoid: &[String],
        previous: &str,
        options: &GenerateOptions,
    ) -> Result<Option<Generation>, Error> {
        Model::continue_reply(self, messages, start, avoid, previous, options).map(Some)
    }

    fn score_replies(&mut self, conversations: &[&[Message]], reply: &str) -> Result<Option<Vec<f64>>, Error> {
        Ok(Some(Model::reply_log_probs(self, conversations, reply)?.into_iter().map(|(score, _)| score).collect()))
    }
}
