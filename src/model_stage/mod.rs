//! The model stage: an abstractive Chinese summary checked against the article ([`summary`]) and
//! an English translation of the brief ([`translation`]), written by one engine
//! ([`crate::llm::Backend`]) with the [`prompts`] templates, the per-article [`glossary`], the
//! [`faithfulness`] checks, [`consensus`] among candidate translations and the [`cleanup`] of
//! what small models write around their answers.

pub mod cleanup;
pub mod consensus;
pub mod english_check;
pub mod faithfulness;
pub mod glossary;
mod organisations;
pub mod prompts;
pub mod summary;
pub mod translation;

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::error::Error;
use crate::llm::{Backend, Drafts, EngineSpec, GenerateOptions, Message, Sampling};
use glossary::GlossaryEntry;
use prompts::Prompts;

/// What the model stage does and how. Everything here but `stream` and `verbose` changes the
/// briefs it writes, and so is part of their fingerprint.
#[derive(Debug, Clone, Serialize)]
pub struct ModelOptions {
    /// Write the abstractive summary.
    pub abstractive: bool,
    /// Translate the brief.
    pub translate: bool,
    /// The engine and model that write.
    pub engine: EngineSpec,
    /// Seeded sampling instead of greedy decoding.
    pub sampling: Option<Sampling>,
    /// Where the sampled translation candidates' seeds start (`--seed`): candidate `i` is
    /// sampled with `seed + i`.
    pub seed: u64,
    /// Translations to generate per unit (the greedy one, then sampled ones), choosing the one
    /// the others agree with most; 1 keeps the greedy translation.
    pub candidates: usize,
    /// With one candidate, decode more for a unit whose English the check flags.
    pub redecode_flagged: bool,
    /// The user's glossary (`--glossary`), which wins over the built-in renderings.
    pub glossary: Vec<GlossaryEntry>,
    /// The prompt templates.
    pub prompts: Prompts,
    /// Stream generated text to stderr (only when it is a terminal).
    #[serde(skip)]
    pub stream: bool,
    /// Report fallbacks, candidates and timings on stderr.
    #[serde(skip)]
    pub verbose: bool,
}

/// The loaded engine with its options, reused for every article of a run.
pub struct ModelStage {
    backend: Box<dyn Backend>,
    options: ModelOptions,
}

impl ModelStage {
    /// Wraps a loaded engine.
    pub fn new(backend: Box<dyn Backend>, options: ModelOptions) -> ModelStage {
        ModelStage { backend, options }
    }

    /// The options in force.
    pub fn options(&self) -> &ModelOptions {
        &self.options
    }

    fn prompts(&self) -> &Prompts {
        &self.options.prompts
    }

    fn note(&self, message: &str) {
        if self.options.verbose {
            eprintln!("zhbrief: {message}");
        }
    }

    /// One reply, decoded as asked, or sampled as the user asked with `--temperature`.
    fn run(&mut self, messages: &[Message], options: GenerateOptions) -> Result<String, Error> {
        let sampling = self.options.sampling;
        Ok(self.run_as_given(messages, &[GenerateOptions { sampling, ..options }])?.swap_remove(0))
    }

    /// [`Self::run_as_given`] for several conversations, all their replies decoded together
    /// where the engine can; nothing is streamed.
    fn run_together(&mut self, requests: &[(&[Message], &[GenerateOptions])]) -> Result<Vec<Vec<String>>, Error> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let replies = self.backend.replies_together(requests)?;
        if replies.len() != requests.len() || replies.iter().zip(requests).any(|(r, (_, options))| r.len() != options.len()) {
            return Err(Error::Model("the engine returned another number of replies".into()));
        }
        let prompts: Vec<String> = replies.iter().map(|r| r[0].prompt_tokens.to_string()).collect();
        let prompt_time: f64 = replies.iter().map(|r| r[0].prompt_time.as_secs_f64()).sum();
        let generated: usize = replies.iter().flatten().map(|g| g.generated_tokens).sum();
        self.note(&format!(
            "model: {} prompts together ({} tokens) in {prompt_time:.1} s, {generated} generated in {} sequence(s) in {:.1} s{}",
            requests.len(),
            prompts.join(" + "),
            replies.iter().map(Vec::len).sum::<usize>(),
            replies[0][0].generation_time.as_secs_f64(),
            if replies.iter().flatten().any(|g| g.hit_token_cap) { " (token cap reached)" } else { "" }
        ));
        Ok(replies.into_iter().map(|r| r.into_iter().map(|g| g.text).collect()).collect())
    }

    /// Generates one reply per entry of `options`, decoded together, with the options as they
    /// are (the user's sampling not applied); the first reply is streamed.
    fn run_as_given(&mut self, messages: &[Message], options: &[GenerateOptions]) -> Result<Vec<String>, Error> {
        let stream = self.options.stream && std::io::stderr().is_terminal();
        let mut on_text = |text: &str| {
            if stream {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        };
        let generations = self.backend.replies(messages, options, &mut on_text)?;
        if stream {
            eprintln!();
        }
        let generated: usize = generations.iter().map(|g| g.generated_tokens).sum();
        let first = generations.first().ok_or_else(|| Error::Model("the engine returned no reply".into()))?;
        self.note(&format!(
            "model: {} prompt tokens in {:.1} s, {generated} generated in {} sequence(s) in {:.1} s{}{}",
            first.prompt_tokens,
            first.prompt_time.as_secs_f64(),
            generations.len(),
            first.generation_time.as_secs_f64(),
            match first.drafts {
                Drafts { proposed: 0, .. } => String::new(),
                Drafts { proposed, accepted } => format!(" ({accepted} of {proposed} drafted tokens taken)"),
            },
            if generations.iter().any(|g| g.hit_token_cap) { " (token cap reached)" } else { "" }
        ));
        Ok(generations.into_iter().map(|g| g.text).collect())
    }
}
