//! Text generation: greedy by default (deterministic), seeded sampling on request, stop tokens,
//! a token cap, streaming, and an English-only constraint.

use std::time::{Duration, Instant};

use super::sampling::{self, Nucleus};
use super::{Model, bytes};
use crate::error::Error;
use crate::llm::{Drafts, GenerateOptions, Generation, Message, strip_think};

/// Tokens looked back at by the repeat penalty.
pub const REPEAT_WINDOW: usize = 64;
/// Prompt tokens per forward pass: large batches use matrix-matrix kernels, and the cap bounds
/// the attention scores' memory on long prompts.
pub(crate) const PROMPT_BATCH: usize = 512;

impl Model {
    /// Renders `messages` with the model's chat template and generates the assistant's reply.
    /// `on_text` receives the text as it is produced (for streaming to a terminal).
    pub fn chat(&mut self, messages: &[Message], options: &GenerateOptions, on_text: &mut dyn FnMut(&str)) -> Result<Generation, Error> {
        let mut generations = self.chat_candidates(messages, std::slice::from_ref(options), on_text)?;
        Ok(generations.swap_remove(0))
    }

    /// Generates one reply per entry of `options` (say, greedy and several seeded samples) to the
    /// same conversation, decoded together: the prompt is processed once, and each step runs the
    /// model once for all of them (see [`super::CausalLm::forward_rows`]).
    /// Each reply is exactly what [`Model::chat`] gives with its options alone. `on_text`
    /// streams the first.
    pub fn chat_candidates(
        &mut self,
        messages: &[Message],
        options: &[GenerateOptions],
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Vec<Generation>, Error> {
        let prompt = self.template.render(messages).map_err(Error::Model)?;
        let tokens = self.encode(&prompt)?;
        // The turns before the last message (system prompt, worked examples) are often the same
        // from one call to the next: their keys and values are kept for the next call.
        let shared = self.shared_prefix(messages, &prompt, &tokens)?;
        self.generate(&tokens, shared, options, on_text)
    }

    /// [`Model::chat_candidates`] for several conversations at once, decoded together: each
    /// prompt is processed on its own, then every reply of every conversation is one row of each
    /// decoding step, so the steps that would decode a conversation's last few rows alone serve
    /// the others too. Each reply is exactly what [`Model::chat`] gives with its options alone.
    pub fn chat_together(&mut self, requests: &[(&[Message], &[GenerateOptions])]) -> Result<Vec<Vec<Generation>>, Error> {
        if let [(messages, options)] = requests {
            return Ok(vec![self.chat_candidates(messages, options, &mut |_| {})?]);
        }
        if requests.iter().any(|(_, options)| options.is_empty()) {
            return Err(Error::Model("a conversation with no options".into()));
        }
        let mut prompts = Vec::with_capacity(requests.len());
        for (messages, _) in requests {
            let prompt = self.template.render(messages).map_err(Error::Model)?;
            let tokens = self.encode(&prompt)?;
            let shared = self.shared_prefix(messages, &prompt, &tokens)?;
            prompts.push((tokens, shared));
        }
        let decoded = self.decode_prompts_together(requests, &prompts);
        if decoded.is_err() {
            // Whatever the cache holds now, the next call starts afresh.
            self.last_prompt = None;
            self.lm.reset().map_err(model_error)?;
        }
        decoded
    }

    fn decode_prompts_together(
        &mut self,
        requests: &[(&[Message], &[GenerateOptions])],
        prompts: &[(Vec<u32>, usize)],
    ) -> Result<Vec<Vec<Generation>>, Error> {
        let (mut saved, mut starts, mut prompt_times) = (Vec::new(), Vec::new(), Vec::new());
        for (tokens, shared) in prompts {
            let started = Instant::now();
            starts.push(self.process_prompt(tokens, *shared, &[]).map_err(model_error)?);
            saved.push(self.lm.saved().map_err(model_error)?);
            prompt_times.push(started.elapsed());
        }
        let held: Vec<(&super::SavedSequence, usize)> = saved.iter().zip(requests).map(|(s, (_, options))| (s, options.len())).collect();
        self.lm.hold_saved(&held).map_err(model_error)?;
        let started = Instant::now();
        let options: Vec<&GenerateOptions> = requests.iter().flat_map(|(_, options)| options.iter()).collect();
        let allowed = options.iter().any(|o| o.english_only).then(|| self.english_tokens(starts[0].len()).clone());
        let mut rows: Vec<Row> = options.iter().map(|o| Row::new(o, &[])).collect();
        let logits =
            starts.iter().zip(requests).flat_map(|(logits, (_, options))| std::iter::repeat_n(logits, options.len()).cloned()).collect();
        let longest = prompts.iter().map(|(tokens, _)| tokens.len()).max().unwrap_or(0);
        self.decode_together(longest, true, logits, &mut rows, allowed.as_deref(), &mut |_| {})?;
        let generation_time = started.elapsed();
        // Back to the last prompt alone, as the cache stood after it: the next call continues
        // from its shared turns as after any other.
        self.lm.hold_saved(&[(saved.last().expect("one prompt per request"), 1)]).map_err(model_error)?;
        let mut rows = rows.into_iter();
        let mut generations = Vec::with_capacity(requests.len());
        for (((tokens, _), (_, options)), prompt_time) in prompts.iter().zip(requests).zip(prompt_times) {
            let mut replies = Vec::with_capacity(options.len());
            for row in rows.by_ref().take(options.len()) {
                replies.push(self.reply(&row, "", tokens.len(), (prompt_time, generation_time), Drafts::default())?);
            }
            generations.push(replies);
        }
        Ok(generations)
    }

    /// The reply to `messages` that begins with `start`, taken as written, and does not go on with
    /// any of `avoid` right after it: a second try at a reply from where it went wrong. The text
    /// returned holds `start`. A greedy try drafts from `previous`, the reply being redone: what
    /// followed the same few tokens there, checked in one pass (the reply is the same either way).
    ///
    /// The conversation is processed as [`Model::chat`] processes it and `start` after it as a
    /// batch of its own, so the keys and values of the replies just decoded for the same
    /// conversation serve again, and the reply never depends on whether they were there.
    pub fn continue_reply(
        &mut self,
        messages: &[Message],
        start: &str,
        avoid: &[String],
        previous: &str,
        options: &GenerateOptions,
    ) -> Result<Generation, Error> {
        let prompt = self.template.render(messages).map_err(Error::Model)?;
        let tokens = self.encode(&prompt)?;
        let shared = self.shared_prefix(messages, &prompt, &tokens)?;
        let start_tokens = self.encode(start)?;
        let avoid = avoid.iter().map(|text| self.encode(text)).collect::<Result<Vec<_>, _>>()?;
        let previous = self.encode(previous)?;
        let from = Continuation { start, start_tokens: &start_tokens, avoid: &avoid, previous: &previous };
        let mut generations = self.generate_from(&tokens, shared, std::slice::from_ref(options), from, &mut |_| {})?;
        Ok(generations.swap_remove(0))
    }

    /// Tokenizes text; special-token markup in it (from the chat template) becomes special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, Error> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Generates one continuation per entry of `options` from prompt tokens whose first `shared`
    /// tokens may be shared with the previous call's: when they are, their cached keys and values
    /// are reused. `on_text` streams the first continuation.
    ///
    /// Output never depends on reuse: the prompt is always processed as the same batches, the
    /// first `shared` tokens, then the rest, so a reused prefix holds exactly the numbers that
    /// processing it afresh would give (batch boundaries change the floating-point results).
    pub fn generate(
        &mut self,
        prompt: &[u32],
        shared: usize,
        options: &[GenerateOptions],
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Vec<Generation>, Error> {
        self.generate_from(prompt, shared, options, Continuation::default(), on_text)
    }

    /// [`Model::generate`] for a prompt that may end inside the reply (see [`Continuation`]).
    fn generate_from(
        &mut self,
        prompt: &[u32],
        shared: usize,
        options: &[GenerateOptions],
        from: Continuation,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Vec<Generation>, Error> {
        if prompt.is_empty() || options.is_empty() {
            return Err(Error::Model("empty prompt or no options".into()));
        }
        let started = Instant::now();
        let logits = self.process_prompt(prompt, shared, from.start_tokens).map_err(model_error)?;
        let whole: Vec<u32>;
        let prompt = if from.start_tokens.is_empty() {
            prompt
        } else {
            whole = [prompt, from.start_tokens].concat();
            &whole
        };
        let prompt_time = started.elapsed();

        let started = Instant::now();
        let allowed = options.iter().any(|o| o.english_only).then(|| self.english_tokens(logits.len()).clone());
        let mut rows: Vec<Row> = options.iter().map(|o| Row::new(o, from.avoid)).collect();
        let mut drafts = Drafts::default();
        if let [only] = options
            && only.sampling.is_none()
            && (only.prompt_lookup || !from.previous.is_empty())
        {
            let mask = allowed.as_deref().filter(|_| only.english_only);
            drafts = self.decode_drafted(prompt, from.previous, logits, &mut rows[0], mask, on_text).map_err(model_error)?;
        } else {
            let logits = vec![logits; rows.len()];
            self.decode_together(prompt.len(), false, logits, &mut rows, allowed.as_deref(), on_text)?;
        }
        let generation_time = started.elapsed();
        rows.iter().map(|row| self.reply(row, from.start, prompt.len(), (prompt_time, generation_time), drafts)).collect()
    }

    /// The reply of a finished `row`, its text put after `start`, with the prompt's length, the
    /// times the prompt and the decoding took, and what drafting saved.
    fn reply(
        &self,
        row: &Row,
        start: &str,
        prompt_tokens: usize,
        times: (Duration, Duration),
        drafts: Drafts,
    ) -> Result<Generation, Error> {
        Ok(Generation {
            text: strip_think(&format!("{start}{}", self.decode(&row.generated)?)),
            prompt_tokens,
            generated_tokens: row.generated.len(),
            prompt_time: times.0,
            generation_time: times.1,
            hit_token_cap: row.finished == Some(Finish::TokenCap),
            drafts,
        })
    }

    /// Decodes `rows` together from each one's `logits` after the cache's first `position`
    /// positions, one forward pass per step for all rows still going; `on_text` streams the first.
    /// `held`: the model already holds one sequence per row, else one prompt that the first step
    /// copies into one per row.
    fn decode_together(
        &mut self,
        position: usize,
        held: bool,
        mut logits: Vec<Vec<f32>>,
        rows: &mut [Row],
        allowed: Option<&[bool]>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        let mut stream = Stream::default();
        // The rows still being decoded, in the order the model holds them, and their logits.
        let mut active: Vec<usize> = (0..rows.len()).collect();
        for step in 0.. {
            let chosen = choose_together(rows, &active, logits, allowed, &self.stop_tokens).map_err(model_error)?;
            let (mut next_tokens, mut still_active, mut kept) = (Vec::new(), Vec::new(), Vec::new());
            for (slot, (&r, token)) in active.iter().zip(chosen).enumerate() {
                if let Some(token) = token {
                    next_tokens.push(token);
                    still_active.push(r);
                    kept.push(slot);
                }
            }
            if rows[0].generated.len() == step + 1 {
                stream.emit(self, &rows[0].generated, on_text)?;
            }
            if next_tokens.is_empty() {
                break;
            }
            let position = position + step;
            logits = if rows.len() == 1 {
                vec![self.lm.forward(&next_tokens, position).map_err(model_error)?]
            } else {
                // After the first step the model holds one sequence per active row; finished
                // rows leave it. (At the first, it holds the prompt, which forward_rows copies.)
                if (step > 0 || held) && kept.len() < active.len() {
                    self.lm.keep_rows(&kept).map_err(model_error)?;
                }
                self.lm.forward_rows(&next_tokens, position).map_err(model_error)?
            };
            active = still_active;
        }
        Ok(())
    }

    /// Decodes one greedy `row` from the `logits` after `prompt`, checking drafted tokens in one
    /// pass: where the last few tokens occurred before (in `previous`, else in the context), what
    /// followed them then is fed with the new token, and each drafted token the model would have
    /// chosen anyway saves a pass. The logits of a pass are exactly those of feeding its tokens
    /// one at a time ([`super::CausalLm::forward_all`]), so the reply is the one plain decoding gives.
    fn decode_drafted(
        &mut self,
        prompt: &[u32],
        previous: &[u32],
        logits: Vec<f32>,
        row: &mut Row,
        allowed: Option<&[bool]>,
        on_text: &mut dyn FnMut(&str),
    ) -> candle_core::Result<Drafts> {
        let mut stream = Stream::default();
        let mut drafts = Drafts::default();
        let mut context = prompt.to_vec();
        let mut chosen = row.step(logits, allowed, &self.stop_tokens)?;
        while let Some(token) = chosen {
            context.push(token);
            stream.emit(self, &row.generated, on_text).map_err(candle_core::Error::wrap)?;
            let position = context.len() - 1;
            let room = row.options.max_new_tokens.saturating_sub(row.generated.len() + 1);
            let draft = draft_from(previous, row.generated.len(), &context, room.min(MAX_DRAFT));
            let fed: Vec<u32> = std::iter::once(token).chain(draft.iter().copied()).collect();
            let passes = if draft.is_empty() { vec![self.lm.forward(&fed, position)?] } else { self.lm.forward_all(&fed, position)? };
            drafts.proposed += draft.len();
            chosen = None;
            for (i, logits) in passes.into_iter().enumerate() {
                chosen = row.step(logits, allowed, &self.stop_tokens)?;
                match (chosen, draft.get(i)) {
                    (Some(next), Some(&drafted)) if next == drafted => {
                        drafts.accepted += 1;
                        context.push(next);
                        stream.emit(self, &row.generated, on_text).map_err(candle_core::Error::wrap)?;
                    }
                    _ => {
                        // The cache holds every fed token; keep those that were confirmed.
                        if i < draft.len() {
                            self.lm.truncate(position + 1 + i)?;
                        }
                        break;
                    }
                }
            }
        }
        // The last token, taken at the token cap, is not fed but is still shown.
        stream.emit(self, &row.generated, on_text).map_err(candle_core::Error::wrap)?;
        Ok(drafts)
    }

    /// Brings the cache to hold `prompt`, then `then` (the start of a reply, fed as a batch of its
    /// own), and returns the logits after them.
    fn process_prompt(&mut self, prompt: &[u32], shared: usize, then: &[u32]) -> candle_core::Result<Vec<f32>> {
        // At least one token must be processed to get the logits that start generation.
        let shared = if shared < prompt.len() { shared } else { 0 };
        let cached = self.lm.cached_len();
        if let Some(last) = &mut self.last_prompt
            && let Some(logits) = &last.logits
            && last.tokens == prompt
            && last.split == shared
            && cached >= prompt.len()
        {
            // The same prompt, split the same way, again (more candidates for it, or a reply
            // begun again from the same point): its keys, values and logits are exactly what
            // processing it afresh would give.
            if let Some((fed, after)) = &last.then
                && !then.is_empty()
                && fed == then
                && cached >= prompt.len() + then.len()
            {
                let logits = after.clone();
                self.lm.truncate(prompt.len() + then.len())?;
                return Ok(logits);
            }
            let logits = logits.clone();
            // What followed the prompt is about to be overwritten.
            last.then = None;
            self.lm.truncate(prompt.len())?;
            return if then.is_empty() { Ok(logits) } else { self.feed_then(prompt.len(), then) };
        }
        self.hold_prefix(&prompt[..shared])?;
        let logits = self.feed(&prompt[shared..], shared)?;
        self.last_prompt = Some(LastPrompt { tokens: prompt.to_vec(), split: shared, logits: Some(logits.clone()), then: None });
        if then.is_empty() { Ok(logits) } else { self.feed_then(prompt.len(), then) }
    }

    /// Feeds `then` after the last prompt's `position` tokens and keeps the logits after it.
    fn feed_then(&mut self, position: usize, then: &[u32]) -> candle_core::Result<Vec<f32>> {
        let logits = self.feed(then, position)?;
        if let Some(last) = &mut self.last_prompt {
            last.then = Some((then.to_vec(), logits.clone()));
        }
        Ok(logits)
    }

    /// Brings the cache to hold exactly `prefix`: the kept keys and values when the last sequence
    /// began with it as its own batch, else `prefix` processed afresh as one batch.
    fn hold_prefix(&mut self, prefix: &[u32]) -> candle_core::Result<()> {
        let cached = self.lm.cached_len();
        let kept = self.last_prompt.take().is_some_and(|last| {
            !prefix.is_empty() && last.split == prefix.len() && last.tokens.starts_with(prefix) && cached >= last.tokens.len()
        });
        if kept {
            return self.lm.truncate(prefix.len());
        }
        self.lm.reset()?;
        self.feed(prefix, 0).map(drop)
    }

    /// The log-probability the model gives `reply` as the assistant's answer to `messages` (its
    /// end-of-turn marker included), and how many tokens that covers. Used to rank candidate
    /// translations by how well each explains its source.
    pub fn reply_log_prob(&mut self, messages: &[Message], reply: &str) -> Result<(f64, usize), Error> {
        Ok(self.reply_log_probs(std::slice::from_ref(&messages), reply)?.swap_remove(0))
    }

    /// [`Model::reply_log_prob`] of `reply` after each of `conversations`. Conversations that
    /// differ only in their last message are scored as one batch: the shared turns once, then
    /// every conversation's rest together, so each weight matrix is read (and, for a batch,
    /// dequantised) once for all of them instead of once per conversation.
    pub fn reply_log_probs(&mut self, conversations: &[&[Message]], reply: &str) -> Result<Vec<(f64, usize)>, Error> {
        let rows = conversations.iter().map(|messages| self.scoring_tokens(messages, reply)).collect::<Result<Vec<_>, Error>>()?;
        let Some(first) = rows.first() else { return Ok(Vec::new()) };
        let shared = first.shared;
        let prefix = first.tokens[..shared].to_vec();
        if rows.len() > 1 && (shared == 0 || rows.iter().any(|row| row.shared != shared || row.tokens[..shared] != prefix[..])) {
            // No common cached prefix to continue from separately: one conversation at a time.
            return conversations.iter().map(|messages| self.reply_log_prob(messages, reply)).collect();
        }
        let width = rows.iter().map(|row| row.tokens.len() - 1 - shared).max().unwrap_or(0);
        let mut totals = vec![0.0; rows.len()];
        // The same batches as a prompt would be processed in (shared prefix, then the rest), so
        // the score never depends on what the cache held before.
        (|| {
            self.hold_prefix(&prefix)?;
            for start in (0..width).step_by(PROMPT_BATCH) {
                let end = (start + PROMPT_BATCH).min(width);
                // Every token but the last goes in; each from the prompt's last on predicts the next.
                let batch: Vec<(&[u32], &[u32])> = rows
                    .iter()
                    .map(|row| {
                        let fed = row.tokens.len() - 1;
                        let (from, to) = ((shared + start).min(fed), (shared + end).min(fed));
                        let first_predicting = (row.prompt_len - 1).clamp(from, to);
                        (&row.tokens[from..to], &row.tokens[first_predicting + 1..to + 1])
                    })
                    .collect();
                for (total, log_probs) in totals.iter_mut().zip(self.lm.log_probs(&batch, shared + start)?) {
                    *total += log_probs.iter().map(|&p| f64::from(p)).sum::<f64>();
                }
            }
            candle_core::Result::Ok(())
        })()
        .map_err(model_error)?;
        self.last_prompt = Some(LastPrompt { tokens: prefix, split: shared, logits: None, then: None });
        Ok(totals.into_iter().zip(&rows).map(|(total, row)| (total, row.tokens.len() - row.prompt_len)).collect())
    }

    /// `messages` rendered and followed by `reply` as the assistant's turn, as tokens.
    fn scoring_tokens(&self, messages: &[Message], reply: &str) -> Result<ScoringTokens, Error> {
        let prompt = self.template.render(messages).map_err(Error::Model)?;
        let turns: Vec<Message> = messages.iter().cloned().chain([Message::assistant(reply)]).collect();
        let whole = self.template.render_finished(&turns).map_err(Error::Model)?;
        let answer =
            whole.strip_prefix(&prompt).ok_or_else(|| Error::Model("the chat template renders a reply apart from its prompt".into()))?;
        let mut tokens = self.encode(&prompt)?;
        let shared = self.shared_prefix(messages, &prompt, &tokens)?;
        let prompt_len = tokens.len();
        tokens.extend(self.encode(answer)?);
        if prompt_len == 0 || tokens.len() == prompt_len {
            return Err(Error::Model("nothing to score".into()));
        }
        Ok(ScoringTokens { shared: if shared < prompt_len { shared } else { 0 }, tokens, prompt_len })
    }

    /// How many of `tokens` (the rendered `prompt`'s) are the turns before the last message: the
    /// part often the same from one call to the next, whose keys and values are kept.
    fn shared_prefix(&self, messages: &[Message], prompt: &str, tokens: &[u32]) -> Result<usize, Error> {
        let shared = match self.template.render_prefix(messages, prompt) {
            Some(prefix) => self.encode(&prefix)?,
            None => Vec::new(),
        };
        Ok(if tokens.starts_with(&shared) { shared.len() } else { 0 })
    }

    /// Processes `tokens` from `position` in batches of at most [`PROMPT_BATCH`]; returns the
    /// logits after the last (empty when there are no tokens).
    fn feed(&mut self, tokens: &[u32], position: usize) -> candle_core::Result<Vec<f32>> {
        let mut logits = Vec::new();
        for (index, batch) in tokens.chunks(PROMPT_BATCH).enumerate() {
            logits = self.lm.forward(batch, position + index * PROMPT_BATCH)?;
        }
        Ok(logits)
    }

    fn decode(&self, tokens: &[u32]) -> Result<String, Error> {
        self.tokenizer.decode(tokens, true).map_err(|e| Error::Model(format!("tokenizer: {e}")))
    }

    /// Which of the model's `size` output tokens English output may use. A token is barred when
    /// its bytes contain a lead byte of a 3- or 4-byte UTF-8 sequence at or above U+3000 (CJK
    /// punctuation, kana, Han, Hangul, full-width forms): without the lead byte no such character
    /// can be spelled, even across tokens. Special tokens (stop markers) stay allowed; output rows
    /// beyond the tokenizer's vocabulary (padding) are barred.
    pub(crate) fn english_tokens(&self, size: usize) -> &Vec<bool> {
        self.english_tokens.get_or_init(|| {
            let specials: std::collections::HashSet<u32> =
                self.tokenizer.get_added_tokens_decoder().into_iter().filter(|(_, t)| t.special).map(|(id, _)| id).collect();
            (0..size as u32)
                .map(|id| {
                    if specials.contains(&id) {
                        return true;
                    }
                    let Some(token) = self.tokenizer.id_to_token(id) else { return false };
                    let raw = bytes::token_bytes(&token).unwrap_or_else(|| token.into_bytes());
                    !raw.iter().any(|&b| (0xE3..=0xEF).contains(&b) || b >= 0xF0)
                })
                .collect()
        })
    }
}

fn model_error(e: candle_core::Error) -> Error {
    Error::Model(format!("inference: {e}"))
}

/// Most tokens drafted for one pass: the checking pass stays below 32 rows (see
/// [`super::CausalLm::forward_all`]), and a long draft that fails early wastes its rows.
const MAX_DRAFT: usize = 8;
/// Longest and shortest run of last tokens looked up to draft from.
const DRAFT_KEY: std::ops::RangeInclusive<usize> = 2..=4;

/// Up to `limit` tokens drafted for what follows `context`: what followed an earlier occurrence
/// of its last few tokens (the longest run that occurred before, from 4 down to 2). First in
/// `previous`, a reply being redone, the occurrence nearest its `written`-th token (where a
/// second try that keeps to the first would be); else in `context`, the latest. A summary copies
/// the article's phrases, a translation the renderings written beside the words, a second try
/// its first.
fn draft_from(previous: &[u32], written: usize, context: &[u32], limit: usize) -> Vec<u32> {
    if limit == 0 {
        return Vec::new();
    }
    for key_len in DRAFT_KEY.rev() {
        let Some(key) = context.len().checked_sub(key_len).map(|start| &context[start..]) else { continue };
        // Only an occurrence with something after it drafts: the context's own end has nothing.
        let searched = &previous[..previous.len().saturating_sub(1)];
        let nearest = (0..searched.len().saturating_sub(key_len - 1))
            .filter(|&start| &searched[start..start + key_len] == key)
            .min_by_key(|&start| (start + key_len).abs_diff(written));
        let found = match nearest {
            Some(start) => Some(&previous[start + key_len..]),
            None => {
                context[..context.len() - 1].windows(key_len).rposition(|window| window == key).map(|start| &context[start + key_len..])
            }
        };
        if let Some(follows) = found {
            return follows[..follows.len().min(limit)].to_vec();
        }
    }
    Vec::new()
}

/// Where a reply continues from: nothing for a fresh reply.
#[derive(Default, Clone, Copy)]
struct Continuation<'a> {
    /// The reply's text so far, put before the continuation.
    start: &'a str,
    /// `start` as tokens, processed after the prompt.
    start_tokens: &'a [u32],
    /// Token paths the continuation may not begin with.
    avoid: &'a [Vec<u32>],
    /// The reply being redone, as tokens: drafts for a greedy continuation.
    previous: &'a [u32],
}

/// Streams a reply as whole characters: a byte-level token may end mid-character.
#[derive(Default)]
struct Stream {
    emitted: usize,
}

impl Stream {
    fn emit(&mut self, model: &Model, generated: &[u32], on_text: &mut dyn FnMut(&str)) -> Result<(), Error> {
        let text = model.decode(generated)?;
        if !text.ends_with('\u{FFFD}') && text.len() > self.emitted {
            on_text(&text[self.emitted..]);
            self.emitted = text.len();
        }
        Ok(())
    }
}

/// A conversation and reply to score, as tokens.
struct ScoringTokens {
    /// The prompt followed by the reply.
    tokens: Vec<u32>,
    /// Tokens of the prompt.
    prompt_len: usize,
    /// Tokens of the turns before the last message (kept in the cache between calls).
    shared: usize,
}

/// The last sequence processed: its tokens, how many lead it as the shared prefix (processed as a
/// batch of their own, so that the next prompt sharing them can reuse their keys and values),
/// and, for a prompt, the logits after it, from which more candidates for it start.
pub(crate) struct LastPrompt {
    pub(crate) tokens: Vec<u32>,
    pub(crate) split: usize,
    logits: Option<Vec<f32>>,
    /// The start of a reply fed after the prompt, and the logits after it.
    then: Option<(Vec<u32>, Vec<f32>)>,
}

/// Why a continuation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    StopToken,
    TokenCap,
}

/// Steps each of the `active` rows (indices into `rows`, ascending) with its logits, the rows
/// spread over Candle's worker threads: on the main thread alone, the rows' choices (a softmax
/// over the whole vocabulary for each sampled row) were a fifth of each decoding step of the
/// 0.5B model. Each row's choice depends on its own state alone, so the tokens are those of
/// stepping the rows one after the other.
fn choose_together(
    rows: &mut [Row],
    active: &[usize],
    logits: Vec<Vec<f32>>,
    allowed: Option<&[bool]>,
    stop_tokens: &[u32],
) -> candle_core::Result<Vec<Option<u32>>> {
    let mut active = active.iter().peekable();
    let jobs: Vec<(&mut Row, Vec<f32>)> =
        rows.iter_mut().enumerate().filter(|(r, _)| active.next_if_eq(&r).is_some()).map(|(_, row)| row).zip(logits).collect();
    super::map_on_workers(jobs, |(row, logits)| {
        let mask = allowed.filter(|_| row.options.english_only);
        row.step(logits, mask, stop_tokens)
    })
    .into_iter()
    .collect()
}

/// One continuation being decoded: its options, sampler and tokens so far.
struct Row<'a> {
    options: &'a GenerateOptions,
    sampler: Option<Nucleus>,
    generated: Vec<u32>,
    finished: Option<Finish>,
    /// Token paths the continuation may not begin with: the last token of each is barred once
    /// the continuation holds the rest.
    avoid: &'a [Vec<u32>],
}

impl<'a> Row<'a> {
    fn new(options: &'a GenerateOptions, avoid: &'a [Vec<u32>]) -> Row<'a> {
        let sampler = options.sampling.map(|s| Nucleus::new(s.seed, s.temperature, s.top_p));
        Row { options, sampler, generated: Vec::new(), finished: None, avoid }
    }

    /// Chooses the next token from `logits` (`allowed`: the tokens it may be) and returns it to
    /// be fed to the model; `None` once the row is finished.
    fn step(&mut self, mut logits: Vec<f32>, allowed: Option<&[bool]>, stop_tokens: &[u32]) -> candle_core::Result<Option<u32>> {
        if self.generated.len() >= self.options.max_new_tokens {
            self.finished = Some(Finish::TokenCap);
            return Ok(None);
        }
        if let Some(allowed) = allowed {
            for (logit, &ok) in logits.iter_mut().zip(allowed) {
                if !ok {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
        for path in self.avoid {
            if let Some((&last, before)) = path.split_last()
                && self.generated == before
                && let Some(logit) = logits.get_mut(last as usize)
            {
                *logit = f32::NEG_INFINITY;
            }
        }
        if self.options.repeat_penalty != 1.0 {
            let window = &self.generated[self.generated.len().saturating_sub(REPEAT_WINDOW)..];
            sampling::apply_repeat_penalty(&mut logits, self.options.repeat_penalty, window);
        }
        let next = match &mut self.sampler {
            None => sampling::argmax(&logits),
            Some(nucleus) => nucleus.sample(&mut logits)?,
        };
        if stop_tokens.contains(&next) && !self.options.ignore_stop_tokens {
            self.finished = Some(Finish::StopToken);
            return Ok(None);
        }
        self.generated.push(next);
        if self.generated.len() >= self.options.max_new_tokens {
            // Nothing more will be read from this row: its last token need not be fed.
            self.finished = Some(Finish::TokenCap);
            return Ok(None);
        }
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_barred_path_is_barred_only_where_it_would_end() {
        let options = GenerateOptions { repeat_penalty: 1.0, ..GenerateOptions::default() };
        let avoid = [vec![5, 9]];
        // `best` scores highest, 3 next.
        let logits = |best: usize| {
            let mut logits = vec![0.0f32; 12];
            (logits[3], logits[best]) = (1.0, 2.0);
            logits
        };
        let mut row = Row::new(&options, &avoid);
        // 5 begins the path: allowed. After 5, the path's 9 is barred and the runner-up taken.
        assert_eq!(row.step(logits(5), None, &[]).unwrap(), Some(5));
        assert_eq!(row.step(logits(9), None, &[]).unwrap(), Some(3));
        // Past the path, 9 is allowed again.
        assert_eq!(row.step(logits(9), None, &[]).unwrap(), Some(9));
        // A continuation that did not begin with 5 may write 9 at once.
        let mut row = Row::new(&options, &avoid);
        assert_eq!(row.step(logits(9), None, &[]).unwrap(), Some(9));
    }

    #[test]
    fn a_continued_reply_keeps_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        super::super::testing::write_tiny_qwen2(&path).unwrap();
        let mut model = Model::load(&path).unwrap();
        let messages = [Message::user("总结：上海宝山转型。")];
        let options = GenerateOptions { max_new_tokens: 12, ..GenerateOptions::default() };
        let plain = model.chat(&messages, &options, &mut |_| {}).unwrap();
        // Nothing given, nothing barred: the reply decoded as usual.
        assert_eq!(model.continue_reply(&messages, "", &[], "", &options).unwrap().text, plain.text);
        let continued = model.continue_reply(&messages, "Baoshan", &[], "", &options).unwrap();
        assert!(continued.text.starts_with("Baoshan"), "{}", continued.text);
        assert_eq!(continued.text, model.continue_reply(&messages, "Baoshan", &[], "", &options).unwrap().text);
    }

    #[test]
    fn drafts_follow_the_latest_earlier_occurrence_of_the_longest_key() {
        // 1 2 3 occurred twice; the latest earlier occurrence (at 5) is followed by 9 8.
        assert_eq!(draft_from(&[], 0, &[1, 2, 3, 7, 7, 1, 2, 3, 9, 8, 5, 2, 3], 8), vec![9, 8, 5, 2, 3]);
        // The longest key wins over a later shorter one: 4 5 6 occurred at 0, 5 6 at 7 too.
        assert_eq!(draft_from(&[], 0, &[4, 5, 6, 1, 2, 9, 9, 5, 6, 3, 4, 5, 6], 8), vec![1, 2, 9, 9, 5, 6, 3, 4]);
        assert_eq!(draft_from(&[], 0, &[4, 5, 6, 1, 2, 9, 9, 5, 6, 3, 4, 5, 6], 2), vec![1, 2]);
        // A single repeated token is no key; nothing repeated, no draft; no room, no draft.
        assert_eq!(draft_from(&[], 0, &[1, 2, 3, 4, 5, 3], 8), Vec::<u32>::new());
        assert_eq!(draft_from(&[], 0, &[1, 2, 3, 1, 2], 0), Vec::<u32>::new());
        assert_eq!(draft_from(&[], 0, &[1], 8), Vec::<u32>::new());
        // A run of one token drafts its continuation.
        assert_eq!(draft_from(&[], 0, &[7, 7, 7, 7], 8), vec![7]);
        // A reply being redone drafts first: what followed the key there, even when the context
        // has the key too; the longest key still wins, and an occurrence at its very end drafts
        // nothing, so the context's own is taken.
        assert_eq!(draft_from(&[5, 1, 2, 3, 6, 6], 0, &[1, 2, 3, 7, 1, 2, 3], 8), vec![6, 6]);
        assert_eq!(draft_from(&[5, 2, 3, 6, 6], 0, &[9, 1, 2, 3, 7, 9, 1, 2, 3], 8), vec![7, 9, 1, 2, 3]);
        assert_eq!(draft_from(&[6, 2, 3], 0, &[2, 3, 7, 2, 3], 8), vec![7, 2, 3]);
        assert_eq!(draft_from(&[2, 3, 4, 5], 0, &[8, 9, 2, 3], 2), vec![4, 5]);
        // Where the key occurs twice in the reply being redone, the occurrence nearest the
        // tokens written so far drafts, not the latest.
        let previous = [2, 3, 8, 8, 2, 3, 9, 9];
        assert_eq!(draft_from(&previous, 2, &[1, 2, 3], 8), vec![8, 8, 2, 3, 9, 9]);
        assert_eq!(draft_from(&previous, 7, &[1, 2, 3], 8), vec![9, 9]);
    }
}
