//! The remote engine: any OpenAI-compatible `/v1` endpoint — llama.cpp's server, vLLM, Ollama,
//! a hosted API — behind the same [`Backend`] as the local model.
//!
//! What an endpoint offers is probed once, when it is connected: a grammar (Han-free English
//! by construction; otherwise the output is checked and the request retried), several choices
//! per request (`n`; otherwise one request per candidate, sent together), and log-probabilities
//! of given text (back-translation scoring; otherwise consensus alone chooses). Faults are
//! expected: every request has connect and overall timeouts, and 429, 5xx and dropped
//! connections are retried with exponential backoff and jitter, honouring `Retry-After`, a
//! bounded number of times. The API key is sent and never shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Backend, GenerateOptions, Generation, Message, strip_think};
use crate::error::Error;
use crate::text::{han_count, is_han};

/// The grammar that keeps Han characters and CJK punctuation out of English.
const ENGLISH_GRAMMAR: &str = r"root ::= [^\u3000-\u9fff\uff00-\uffef\U00020000-\U0003134f]*";

/// How an engine is reached and how patient zhbrief is with it.
#[derive(Clone)]
pub struct Connection {
    /// The endpoint, e.g. `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// The API key (`ZHBRIEF_API_KEY` or `OPENAI_API_KEY`), sent as a bearer token.
    pub key: Option<String>,
    /// Longest wait for one request, connecting included.
    pub timeout: Duration,
    /// Retries of a request after a timeout, a dropped connection, 429 or 5xx.
    pub retries: u32,
    /// The first retry's delay; each later one doubles it (with jitter), up to a minute.
    pub backoff: Duration,
    /// Set on Ctrl-C: no new attempt starts.
    pub cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for Connection {
    /// Never the key; the URL without user, password or query.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.display_url())
            .field("key", &self.key.as_ref().map(|_| "(set)"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Connection {
    /// A connection to `url` with the key from `ZHBRIEF_API_KEY` or `OPENAI_API_KEY` and the first
    /// retry after half a second.
    pub fn new(url: &str, timeout: Duration, retries: u32, cancel: Arc<AtomicBool>) -> Connection {
        let key = ["ZHBRIEF_API_KEY", "OPENAI_API_KEY"].iter().find_map(|name| std::env::var(name).ok().filter(|k| !k.is_empty()));
        Connection { url: url.to_string(), key, timeout, retries, backoff: Duration::from_millis(500), cancel }
    }

    /// The endpoint as it may be shown: no user, password or query (they may hold secrets).
    pub fn display_url(&self) -> String {
        display_url(&self.url)
    }
}

/// `url` without user information or query string.
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = match rest.split_once('/') {
        Some((authority, path)) => format!("{}/{path}", authority.rsplit('@').next().unwrap_or(authority)),
        None => rest.rsplit('@').next().unwrap_or(rest).to_string(),
    };
    if scheme.is_empty() { rest } else { format!("{scheme}://{rest}") }
}

/// What an endpoint was found to offer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// It follows a grammar (`grammar`, as llama.cpp's server does): English is Han-free by
    /// construction.
    pub grammar: bool,
    /// It returns several choices for one request (`n`).
    pub choices: bool,
    /// It returns the log-probabilities of the prompt's tokens (`echo` with `logprobs` on
    /// `/completions`): back-translation scoring works.
    pub prompt_logprobs: bool,
}

/// An OpenAI-compatible engine, connected and probed.
#[derive(Clone)]
pub struct RemoteEngine {
    agent: ureq::Agent,
    connection: Connection,
    model: String,
    capabilities: Capabilities,
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    Retry { reason: String, wait: Option<Duration> },
    Fatal(String),
}

impl RemoteEngine {
    /// Connects to the engine and probes what it offers. `model` names the engine's model; when
    /// `None`, the first the endpoint lists.
    pub fn connect(connection: Connection, model: Option<&str>) -> Result<RemoteEngine, Error> {
        let mut engine = RemoteEngine::unprobed(connection, model.unwrap_or_default());
        if engine.model.is_empty() {
            engine.model = engine.first_model()?;
        }
        engine.probe()?;
        Ok(engine)
    }

    /// The first model the endpoint lists, without probing it.
    pub fn default_model(connection: Connection) -> Result<String, Error> {
        RemoteEngine::unprobed(connection, "").first_model()
    }

    fn unprobed(connection: Connection, model: &str) -> RemoteEngine {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connection.timeout.min(Duration::from_secs(10))))
            .timeout_global(Some(connection.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        RemoteEngine { agent, connection, model: model.to_string(), capabilities: Capabilities::default() }
    }

    fn first_model(&self) -> Result<String, Error> {
        self.models()?.into_iter().next().ok_or_else(|| self.error("lists no model; name one with --engine-model"))
    }

    /// The model requests name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// What the endpoint offers.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The models the endpoint lists (`GET /models`).
    pub fn models(&self) -> Result<Vec<String>, Error> {
        let listing = self.request("models", None)?;
        let data = listing["data"].as_array().ok_or_else(|| self.error("GET /models: no `data` list in the response"))?;
        Ok(data.iter().filter_map(|model| model["id"].as_str().map(str::to_string)).collect())
    }

    fn error(&self, reason: impl std::fmt::Display) -> Error {
        Error::Engine { engine: self.connection.display_url(), reason: reason.to_string() }
    }

    /// One chat completion must work; the optional features are tried one by one.
    fn probe(&mut self) -> Result<(), Error> {
        let ask = |text: &str| vec![Message::user(text)];
        let reply = self.request("chat/completions", Some(self.chat_body(&ask("Reply with one word: ok."), 4, None, None)))?;
        Self::contents(&reply).map_err(|reason| self.error(reason))?;
        // The grammar allows only "yes"; the request asks for "no".
        let mut body = self.chat_body(&ask("Reply with the word no."), 4, None, None);
        body["grammar"] = json!("root ::= \"yes\"");
        self.capabilities.grammar =
            self.request("chat/completions", Some(body)).ok().and_then(|r| Self::contents(&r).ok()).is_some_and(|c| c == ["yes"]);
        let mut body = self.chat_body(&ask("Reply with one word."), 2, None, None);
        body["n"] = json!(2);
        self.capabilities.choices =
            self.request("chat/completions", Some(body)).ok().and_then(|r| Self::contents(&r).ok()).is_some_and(|c| c.len() == 2);
        self.capabilities.prompt_logprobs = self.prompt_logprobs("Hello world").is_ok_and(|tokens| tokens.len() >= 2);
        Ok(())
    }

    fn chat_body(&self, messages: &[Message], max_tokens: usize, sampling: Option<super::Sampling>, grammar: Option<&str>) -> Value {
        let mut body = json!({ "model": self.model, "messages": messages, "max_tokens": max_tokens });
        match sampling {
            None => body["temperature"] = json!(0.0),
            Some(sampling) => {
                body["temperature"] = json!(sampling.temperature);
                body["top_p"] = json!(sampling.top_p);
                body["seed"] = json!(sampling.seed);
            }
        }
        if let Some(grammar) = grammar {
            body["grammar"] = json!(grammar);
        }
        body
    }

    /// The texts of a chat completion's choices; an error for a response without them.
    fn contents(response: &Value) -> Result<Vec<String>, String> {
        let choices = response["choices"].as_array().filter(|c| !c.is_empty()).ok_or("a response without choices")?;
        choices
            .iter()
            .map(|choice| choice["message"]["content"].as_str().map(str::to_string).ok_or_else(|| "a choice without text".to_string()))
            .collect()
    }

    /// Sends one request (GET without a body), retrying what may succeed next time.
    fn request(&self, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let url = format!("{}/{path}", self.connection.url.trim_end_matches('/'));
        let mut last = String::new();
        for attempt in 0..=self.connection.retries {
            if self.connection.cancel.load(Ordering::Relaxed) {
                return Err(self.error("interrupted"));
            }
            match self.attempt(&url, body.as_ref()) {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(reason)) => return Err(self.error(format!("{path}: {reason}"))),
                Err(Failure::Retry { reason, wait }) => {
                    last = reason;
                    if attempt < self.connection.retries {
                        self.pause(wait.unwrap_or_else(|| self.backoff(attempt)));
                    }
                }
            }
        }
        Err(self.error(format!("{path}: {last} (gave up after {} attempts)", self.connection.retries + 1)))
    }

    fn attempt(&self, url: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let retry = |reason: String| Failure::Retry { reason, wait: None };
        let sent = match body {
            Some(body) => {
                let mut request = self.agent.post(url);
                if let Some(key) = &self.connection.key {
                    request = request.header("Authorization", &format!("Bearer {key}"));
                }
                request.send_json(body)
            }
            None => {
                let mut request = self.agent.get(url);
                if let Some(key) = &self.connection.key {
                    request = request.header("Authorization", &format!("Bearer {key}"));
                }
                request.call()
            }
        };
        let mut response = sent.map_err(|e| retry(describe(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| retry(format!("reading the response: {}", describe(&e))))?;
        if status == 429 || status >= 500 {
            // Honour Retry-After, within reason: a minute at most.
            let wait = retry_after.map(|s| Duration::from_secs(s.min(60)));
            return Err(Failure::Retry { reason: format!("HTTP {status}"), wait });
        }
        if !(200..300).contains(&status) {
            let detail: String = text.chars().take(200).collect();
            return Err(Failure::Fatal(format!("HTTP {status}: {}", detail.trim())));
        }
        serde_json::from_str(&text).map_err(|e| Failure::Fatal(format!("a malformed response ({e})")))
    }

    /// The delay before retry `attempt` (from 0): the backoff doubled each time, up to a minute,
    /// times a random factor from ½ to 1½ so that many clients do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.connection.backoff.saturating_mul(1 << attempt.min(16)).min(Duration::from_secs(60));
        let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let nanos = u64::from(clock) ^ u64::from(std::process::id()) << 32 ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let jitter = 0.5 + (nanos.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(jitter)
    }

    /// Sleeps, waking early on Ctrl-C.
    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.connection.cancel.load(Ordering::Relaxed) {
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
        }
    }

    /// The tokens of `text` as the engine reads them, each with its log-probability after the
    /// ones before (the first has none): `/completions` with `echo`.
    fn prompt_logprobs(&self, text: &str) -> Result<Vec<(String, f64)>, Error> {
        let body = json!({ "model": self.model, "prompt": text, "max_tokens": 1, "echo": true, "logprobs": 1, "temperature": 0.0 });
        let response = self.request("completions", Some(body))?;
        let logprobs = &response["choices"][0]["logprobs"];
        let (Some(tokens), Some(values)) = (logprobs["tokens"].as_array(), logprobs["token_logprobs"].as_array()) else {
            return Err(self.error("completions: no log-probabilities of the prompt"));
        };
        Ok(tokens.iter().zip(values).map(|(t, v)| (t.as_str().unwrap_or_default().to_string(), v.as_f64().unwrap_or(0.0))).collect())
    }

    /// One request for one set of options, `count` choices (when the engine gives several).
    fn complete(&self, messages: &[Message], options: &GenerateOptions, count: usize) -> Result<Vec<Generation>, Error> {
        let started = Instant::now();
        let grammar = (options.english_only && self.capabilities.grammar).then_some(ENGLISH_GRAMMAR);
        let mut body = self.chat_body(messages, options.max_new_tokens, options.sampling, grammar);
        if count > 1 {
            body["n"] = json!(count);
        }
        let response = self.request("chat/completions", Some(body))?;
        let texts = Self::contents(&response).map_err(|reason| self.error(reason))?;
        if texts.len() != count {
            return Err(self.error(format!("asked for {count} choices, got {}", texts.len())));
        }
        let usage = |key: &str| response["usage"][key].as_u64().unwrap_or(0) as usize;
        let capped = response["choices"].as_array().is_some_and(|c| c.iter().any(|c| c["finish_reason"] == "length"));
        let elapsed = started.elapsed();
        Ok(texts
            .into_iter()
            .map(|text| Generation {
                text: strip_think(&text),
                prompt_tokens: usage("prompt_tokens"),
                generated_tokens: usage("completion_tokens") / count,
                prompt_time: Duration::ZERO,
                generation_time: elapsed,
                hit_token_cap: capped,
                drafts: Default::default(),
            })
            .collect())
    }

    /// English from an engine without a grammar: a reply with Han characters is asked for again
    /// once, and what Han is left after that is dropped.
    fn english(&self, messages: &[Message], options: &GenerateOptions, mut generation: Generation) -> Result<Generation, Error> {
        if !options.english_only || self.capabilities.grammar || !generation.text.chars().any(is_han) {
            return Ok(generation);
        }
        let mut again = messages.to_vec();
        again.push(Message::assistant(generation.text.clone()));
        again.push(Message::user("That still contains Chinese characters. Give the whole translation in English only."));
        let retried = self.complete(&again, options, 1)?.swap_remove(0);
        generation.text = if han_count(&retried.text) < han_count(&generation.text) { retried.text } else { generation.text };
        generation.text =
            generation.text.chars().filter(|&c| !is_han(c)).collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(generation)
    }
}

/// A transport error in one line, with nothing secret in it.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(e) => format!("connection failed: {}", e.kind()),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string().chars().take(200).collect(),
    }
}

/// A conversation as ChatML, the chat format of Qwen and many other open models, for scoring
/// given text on `/completions` (which takes text, not messages).
fn chatml(messages: &[Message]) -> String {
    let mut text: String = messages.iter().map(|m| format!("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content)).collect();
    text.push_str("<|im_start|>assistant\n");
    text
}

impl Backend for RemoteEngine {
    fn count_tokens(&self, text: &str) -> Result<usize, Error> {
        // No tokenizer here: Chinese runs about a token per Han character, other text about a
        // token per three characters, for Qwen-like vocabularies. Only the cutting of long
        // articles depends on it.
        let han = han_count(text);
        Ok(han + (text.chars().count() - han).div_ceil(3))
    }

    fn replies(
        &mut self,
        messages: &[Message],
        options: &[GenerateOptions],
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Vec<Generation>, Error> {
        // Sampled candidates that differ only in their seed go as one request for several
        // choices where the engine gives them; otherwise each is its own request. Requests are
        // sent together: an engine that batches serves them at once.
        let same_but_seed = |a: &GenerateOptions, b: &GenerateOptions| {
            let unseeded =
                |o: &GenerateOptions| GenerateOptions { sampling: o.sampling.map(|s| super::Sampling { seed: 0, ..s }), ..o.clone() };
            a.sampling.is_some() && unseeded(a) == unseeded(b)
        };
        let mut groups: Vec<&[GenerateOptions]> = Vec::new();
        let mut rest = options;
        while let Some(first) = rest.first() {
            let size = if self.capabilities.choices { rest.iter().take_while(|o| same_but_seed(first, o)).count().max(1) } else { 1 };
            groups.push(&rest[..size]);
            rest = &rest[size..];
        }
        let engine = &*self;
        let results: Vec<Result<Vec<Generation>, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .map(|group| {
                    scope.spawn(move || {
                        let option = &group[0];
                        engine.complete(messages, option, group.len())?.into_iter().map(|g| engine.english(messages, option, g)).collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(engine.error("a request thread failed")))).collect()
        });
        let generations: Vec<Generation> = results.into_iter().collect::<Result<Vec<_>, Error>>()?.into_iter().flatten().collect();
        if let Some(first) = generations.first() {
            on_text(&first.text);
        }
        Ok(generations)
    }

    fn score_replies(&mut self, conversations: &[&[Message]], reply: &str) -> Result<Option<Vec<f64>>, Error> {
        if !self.capabilities.prompt_logprobs {
            return Ok(None);
        }
        let mut scores = Vec::with_capacity(conversations.len());
        for messages in conversations {
            let prefix = chatml(messages);
            let tokens = self.prompt_logprobs(&format!("{prefix}{reply}<|im_end|>"))?;
            // The engine shows special tokens as empty text: the prefix is its text without them.
            let prefix_chars = prefix.replace("<|im_start|>", "").replace("<|im_end|>", "").chars().count();
            let mut seen = 0;
            let mut score = 0.0;
            // The last token is the one generated after the echo.
            for (token, logprob) in &tokens[..tokens.len().saturating_sub(1)] {
                if seen >= prefix_chars {
                    score += logprob;
                }
                seen += token.chars().count();
            }
            scores.push(score);
        }
        Ok(Some(scores))
    }

    fn fork(&self) -> Option<Box<dyn Backend>> {
        Some(Box::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(display_url("https://user:secret@api.example.com/v1?key=abc"), "https://api.example.com/v1");
        assert_eq!(display_url("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080/v1");
        assert_eq!(display_url("http://token@host"), "http://host");
    }

    #[test]
    fn conversations_render_as_chatml() {
        assert_eq!(
            chatml(&[Message::system("S"), Message::user("U")]),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
