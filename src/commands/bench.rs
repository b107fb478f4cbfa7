//! `zhbrief bench`: model load, prompt processing and generation speed, and peak memory.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::{Stdout, fail};
use crate::error::{Error, Origin, exit};
use crate::llm::local::Model;
use crate::llm::{self, Catalog, GenerateOptions, Message, Sampling};

/// Temperature of the sampled sequences of a batch: the translation candidates'.
const BATCH_TEMPERATURE: f64 = 0.6;

/// The figures one bench run measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// The model file.
    pub model: String,
    /// Seconds to load the model.
    pub load_s: f64,
    /// Tokens in the chat prompt.
    pub prompt_tokens: usize,
    /// Prompt processing speed.
    pub prompt_tokens_per_s: f64,
    /// Sequences decoded together after the prompt.
    pub batch: usize,
    /// Tokens generated, all sequences together.
    pub gen_tokens: usize,
    /// Generation speed, all sequences together.
    pub gen_tokens_per_s: f64,
    /// Tokens drafted from the prompt and checked (greedy single sequence only).
    pub drafted_tokens: usize,
    /// Drafted tokens the model confirmed, each a forward pass saved.
    pub accepted_drafts: usize,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: f64,
    /// Worker threads candle used.
    pub threads: usize,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    /// A model name or GGUF path [default: the default model].
    pub model: Option<String>,
    /// Text used as the prompt (as a user message in the model's chat template).
    pub prompt_file: std::path::PathBuf,
    /// Tokens to generate per sequence.
    pub max_tokens: usize,
    /// Sequences to decode together (as translation candidates are): the first greedy, the
    /// others sampled.
    pub batch: usize,
    /// Check tokens drafted from the prompt (greedy single sequence; the output is the same).
    pub prompt_lookup: bool,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Never contact the hub.
    pub offline: bool,
    /// Measure through the cached Q8_0 re-encoding of Q4_0/Q4_1/Q5_1 tensors.
    pub requantize: bool,
}

/// Runs `zhbrief bench` and prints its report; returns the exit code.
pub fn run(request: &BenchRequest) -> u8 {
    let prompt = match std::fs::read_to_string(&request.prompt_file) {
        Ok(prompt) => prompt,
        Err(source) => return fail(&Error::Read { origin: Origin::File(request.prompt_file.clone()), source }),
    };
    let model = request.model.clone().unwrap_or_else(|| Catalog::builtin().default_model().name.clone());
    match measure(&model, request.offline, request.requantize, &prompt, request.max_tokens, request.batch, request.prompt_lookup) {
        Ok(report) => {
            let mut out = Stdout::default();
            if request.json {
                out.line(serde_json::to_string_pretty(&report).expect("report serialises"));
            } else {
                out.line(report.to_text().trim_end());
            }
            out.exit_code(exit::OK)
        }
        Err(err) => fail(&err),
    }
}

/// Loads `model` (its Q8_0 re-encoding with `requantize`), processes `prompt_text` as a user
/// message in the model's chat template and generates `max_tokens` tokens in each of `batch`
/// sequences decoded together: the first greedy, the others sampled as translation candidates are.
/// With `prompt_lookup`, a single greedy sequence checks tokens drafted from the prompt.
pub fn measure(
    model: &str,
    offline: bool,
    requantize: bool,
    prompt_text: &str,
    max_tokens: usize,
    batch: usize,
    prompt_lookup: bool,
) -> Result<BenchReport, Error> {
    let path = llm::catalog::resolve(&Catalog::builtin(), model, offline)?;
    // Made outside the timing: the re-encoding is a one-time cost, cached for later runs.
    let path = if requantize { Model::open(&path, true)?.path().to_path_buf() } else { path };
    let started = Instant::now();
    let mut model = Model::load(&path)?;
    let load_s = started.elapsed().as_secs_f64();
    let greedy = GenerateOptions { max_new_tokens: max_tokens, ignore_stop_tokens: true, prompt_lookup, ..GenerateOptions::default() };
    let options: Vec<GenerateOptions> = (0..batch.max(1))
        .map(|i| match i {
            0 => greedy.clone(),
            _ => GenerateOptions { sampling: Some(Sampling::new(BATCH_TEMPERATURE, i as u64)), ..greedy.clone() },
        })
        .collect();
    let generations = model.chat_candidates(&[Message::user(prompt_text)], &options, &mut |_| {})?;
    let first = &generations[0];
    let gen_tokens = generations.iter().map(|g| g.generated_tokens).sum();
    Ok(BenchReport {
        model: path.display().to_string(),
        load_s,
        prompt_tokens: first.prompt_tokens,
        prompt_tokens_per_s: first.prompt_tokens as f64 / first.prompt_time.as_secs_f64().max(1e-9),
        batch: options.len(),
        gen_tokens,
        gen_tokens_per_s: gen_tokens as f64 / first.generation_time.as_secs_f64().max(1e-9),
        drafted_tokens: first.drafts.proposed,
        accepted_drafts: first.drafts.accepted,
        peak_rss_mib: peak_rss_mib(),
        threads: candle_core::utils::get_num_threads(),
    })
}

/// Peak resident set size (VmHWM) of this process in MiB; 0 where /proc is unavailable.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string(Path::new("/proc/self/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

impl BenchReport {
    /// A human-readable table.
    pub fn to_text(&self) -> String {
        format!(
            "model              {}\nthreads            {}\nload               {:.2} s\nprompt             {} tokens, {:.1} tokens/s\ngeneration         {} tokens in {} sequence(s), {:.1} tokens/s\ndrafted            {} tokens, {} accepted\npeak RSS           {:.0} MiB\n",
            self.model,
            self.threads,
            self.load_s,
            self.prompt_tokens,
            self.prompt_tokens_per_s,
            self.gen_tokens,
            self.batch,
            self.gen_tokens_per_s,
            self.drafted_tokens,
            self.accepted_drafts,
            self.peak_rss_mib
        )
    }
}
