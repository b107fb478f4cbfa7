//! The engine behind the model stage: one [`Backend`] interface (chat replies under constraints,
//! several candidates at once, the log-probability of a given reply), and the engines that
//! implement it. [`local`] runs a GGUF model on the CPU with Candle (the `model` feature);
//! [`remote`] is any OpenAI-compatible server; [`catalog`] knows the shipped models and where
//! their files are.

pub mod catalog;
#[cfg(feature = "model")]
pub mod local;
pub mod remote;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use catalog::{Catalog, ModelSpec};

use crate::error::Error;

/// A chat message, as chat templates and OpenAI-compatible servers take them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message { role: "system".into(), content: content.into() }
    }

    /// An assistant message (a model's earlier answer, given as context).
    pub fn assistant(content: impl Into<String>) -> Message {
        Message { role: "assistant".into(), content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message { role: "user".into(), content: content.into() }
    }
}

/// Nucleus threshold of every sampled decoding zhbrief asks for.
pub const TOP_P: f64 = 0.95;

/// Random sampling instead of greedy decoding; the seed makes it repeatable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    /// Softmax temperature.
    pub temperature: f64,
    /// Nucleus threshold.
    pub top_p: f64,
    /// RNG seed.
    pub seed: u64,
}

impl Sampling {
    /// Sampling at `temperature` with the standard nucleus ([`TOP_P`]) and `seed`.
    pub fn new(temperature: f64, seed: u64) -> Sampling {
        Sampling { temperature, top_p: TOP_P, seed }
    }
}

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// Forbid every token that could spell a Han character or full-width punctuation.
    pub english_only: bool,
    /// `None`: greedy.
    pub sampling: Option<Sampling>,
    /// Penalty on tokens seen in the last few dozen tokens (1.0 = none); small models loop
    /// without one.
    pub repeat_penalty: f32,
    /// Keep going past stop tokens up to `max_new_tokens` (benchmarks want exactly N tokens).
    pub ignore_stop_tokens: bool,
    /// Greedy decoding of one reply checks tokens drafted from the prompt (what follows an
    /// earlier occurrence of the last few tokens) in one pass; the reply is the same either way.
    /// Off by default: on this project's 2-core machine a pass of 9 tokens costs more than the
    /// tokens it confirms save (`zhbrief bench --prompt-lookup`).
    pub prompt_lookup: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 256,
            english_only: false,
            sampling: None,
            repeat_penalty: 1.1,
            ignore_stop_tokens: false,
            prompt_lookup: false,
        }
    }
}

/// What a generation produced, with timings for `zhbrief bench` and `-v`.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The text, `<think>` blocks removed, trimmed.
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (stop token excluded).
    pub generated_tokens: usize,
    /// Time to process the prompt.
    pub prompt_time: Duration,
    /// Time to generate.
    pub generation_time: Duration,
    /// Whether generation stopped at the token cap rather than a stop token.
    pub hit_token_cap: bool,
    /// Drafted tokens checked, and how many of them the model's own choice confirmed.
    pub drafts: Drafts,
}

/// How prompt-lookup drafting fared in one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drafts {
    /// Tokens drafted and checked.
    pub proposed: usize,
    /// Drafted tokens that were what the model chose, each a forward pass saved.
    pub accepted: usize,
}

/// What the model stage asks of an engine.
pub trait Backend: Send {
    /// The number of tokens `text` takes (the model stage cuts long articles by it).
    fn count_tokens(&self, text: &str) -> Result<usize, Error>;

    /// One assistant reply to `messages` per entry of `options` (say, greedy and several seeded
    /// samples); `on_text` receives the first as it is produced.
    fn replies(
        &mut self,
        messages: &[Message],
        options: &[GenerateOptions],
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Vec<Generation>, Error>;

    /// [`Backend::replies`] to each of several conversations, in order. An engine that can
    /// decodes them together (a local model: one decoding step for every reply of every
    /// conversation); each reply is what [`Backend::replies`] gives it alone.
    fn replies_together(&mut self, requests: &[(&[Message], &[GenerateOptions])]) -> Result<Vec<Vec<Generation>>, Error> {
        requests.iter().map(|(messages, options)| self.replies(messages, options, &mut |_| {})).collect()
    }

    /// The log-probability the model gives `reply` as the assistant's answer to each of
    /// `conversations`; `None` when the engine cannot score a given text.
    fn score_replies(&mut self, conversations: &[&[Message]], reply: &str) -> Result<Option<Vec<f64>>, Error>;

    /// The assistant's reply to `messages` begun with `start`, taken as written, and not going
    /// on with any of `avoid` right after it; the text holds `start`. A second try from where
    /// `previous`, a reply to the same messages, went wrong (an engine may draft from it). `None`
    /// when the engine cannot continue a reply it did not write.
    fn continue_reply(
        &mut self,
        _messages: &[Message],
        _start: &str,
        _avoid: &[String],
        _previous: &str,
        _options: &GenerateOptions,
    ) -> Result<Option<Generation>, Error> {
        Ok(None)
    }

    /// Another handle on the same engine, for a worker of its own; `None` when the engine runs
    /// one article at a time (a local model on this machine's cores).
    fn fork(&self) -> Option<Box<dyn Backend>> {
        None
    }
}

/// Which engine and model a run uses: what a brief's fingerprint names, resolved without
/// loading anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineSpec {
    /// A GGUF model run here.
    Local {
        /// The model's name: a known model's, or the file name of a GGUF given by path.
        model: String,
        /// SHA-256 of the model file: the manifest's for a known model, else the file's own.
        sha256: String,
        /// Run the model's Q4_0/Q4_1/Q5_1 tensors through a cached Q8_0 re-encoding.
        requantize: bool,
        /// Where the file is (not part of the identity: the same file anywhere is the same model).
        #[serde(skip)]
        path: PathBuf,
    },
    /// An OpenAI-compatible server. Only its model is part of the identity: the URL and key may
    /// hold secrets, and the same model elsewhere writes the same briefs.
    Remote {
        /// The model the server runs, as it names it.
        model: String,
        /// How it is reached.
        #[serde(skip)]
        connection: remote::Connection,
    },
}

impl PartialEq for remote::Connection {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for remote::Connection {}

impl EngineSpec {
    /// The model's name, for messages.
    pub fn model(&self) -> &str {
        match self {
            EngineSpec::Local { model, .. } | EngineSpec::Remote { model, .. } => model,
        }
    }

    /// Where the engine is, for messages: a file, or a URL without secrets.
    pub fn location(&self) -> String {
        match self {
            EngineSpec::Local { path, .. } => path.display().to_string(),
            EngineSpec::Remote { connection, .. } => connection.display_url(),
        }
    }
}

/// Loads (or connects to) the engine `spec` names.
pub fn open(spec: &EngineSpec) -> Result<Box<dyn Backend>, Error> {
    match spec {
        EngineSpec::Remote { model, connection } => Ok(Box::new(remote::RemoteEngine::connect(connection.clone(), Some(model))?)),
        #[cfg(feature = "model")]
        EngineSpec::Local { path, requantize, .. } => Ok(Box::new(local::Model::open(path, *requantize)?)),
        #[cfg(not(feature = "model"))]
        EngineSpec::Local { model, .. } => Err(Error::ModelMissing(format!(
            "cannot run {model}: this zhbrief was built without the `model` feature (rebuild with default features, or use --engine)"
        ))),
    }
}

/// Removes `<think>…</think>` reasoning blocks (and an unterminated one) and trims.
pub fn strip_think(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(end) => rest = &rest[start + end + "</think>".len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_think_blocks() {
        assert_eq!(strip_think("<think>hmm</think> Answer."), "Answer.");
        assert_eq!(strip_think("A <think>x</think>B<think>unfinished"), "A B");
        assert_eq!(strip_think("plain"), "plain");
    }
}
