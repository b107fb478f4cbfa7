//! Drives the pipeline for the command line: inputs in, briefs to stdout, errors to stderr.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::brief::{self, Brief};
use crate::error::{Error, Origin, exit};
use crate::extract::ExtractOptions;
use crate::glossary;
use crate::input::{self, Input, ReadOptions};
use crate::llm::{self, Catalog, Model, Sampling};
use crate::model_stage::{ModelOptions, ModelStage};
use crate::prompts::Prompts;
use crate::render::{self, Format};

/// Everything a run needs, resolved from flags and config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Files, folders or `-`; empty means stdin.
    pub inputs: Vec<PathBuf>,
    /// How inputs are read and decoded.
    pub read: ReadOptions,
    /// How much the extractive stage picks.
    pub extract: ExtractOptions,
    /// Output format.
    pub format: Format,
    /// Worker threads for input and extractive work.
    pub jobs: usize,
    /// The model stage, if asked for.
    pub model: ModelRequest,
}

/// What the user asked of the model stage.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// Add an abstractive summary.
    pub abstractive: bool,
    /// Add an English translation.
    pub translate: bool,
    /// A model name from `models/` or a GGUF path; `None` picks by task.
    pub model: Option<String>,
    /// Never contact the hub.
    pub offline: bool,
    /// Folder of prompt templates overriding the built-in ones.
    pub prompts: Option<PathBuf>,
    /// User glossary (TSV).
    pub glossary: Option<PathBuf>,
    /// Seeded sampling instead of greedy decoding.
    pub sampling: Option<Sampling>,
    /// Report model timings and fallbacks on stderr.
    pub verbose: bool,
    /// Stream generated text to a terminal's stderr.
    pub stream: bool,
    /// Run the model's slow tensor formats as a cached Q8_0 re-encoding (faster on CPUs).
    pub requantize: bool,
    /// Candidate translations per unit to choose from by consensus (1: greedy only).
    pub translation_candidates: usize,
}

impl ModelRequest {
    /// Whether any model work is asked for.
    pub fn wanted(&self) -> bool {
        self.abstractive || self.translate
    }

    /// The model to use: the one named, else the model recommended for translation when
    /// translating and it is on this machine, else the default.
    pub fn model_name(&self, catalog: &Catalog) -> String {
        if let Some(name) = &self.model {
            return name.clone();
        }
        let recommended = self.translate.then(|| catalog.recommended_present("translate")).flatten();
        recommended.unwrap_or(catalog.default_model()).name.clone()
    }

    /// Resolves, loads and wraps the model with its prompts and glossary.
    pub fn load_stage(&self) -> Result<ModelStage, Error> {
        let catalog = Catalog::builtin();
        let path = llm::catalog::resolve(&catalog, &self.model_name(&catalog), self.offline)?;
        if self.verbose {
            eprintln!("zhbrief: loading model {}", path.display());
        }
        let model = Model::open(&path, self.requantize)?;
        let prompts = Prompts::load(self.prompts.as_deref())?;
        let glossary = match &self.glossary {
            Some(path) => glossary::load_user_glossary(path)?,
            None => Vec::new(),
        };
        let options = ModelOptions {
            abstractive: self.abstractive,
            translate: self.translate,
            glossary,
            sampling: self.sampling,
            stream: self.stream,
            verbose: self.verbose,
            translation_candidates: self.translation_candidates,
        };
        Ok(ModelStage::new(model, prompts, options))
    }
}

/// The pipeline of a run: settings plus the one loaded model stage, shared by every article.
pub struct Pipeline {
    settings: Settings,
    stage: Option<Mutex<ModelStage>>,
}

impl Pipeline {
    /// Prepares a run, loading the model once if the model stage is wanted.
    pub fn new(settings: Settings) -> Result<Pipeline, Error> {
        let stage = if settings.model.wanted() { Some(Mutex::new(settings.model.load_stage()?)) } else { None };
        Ok(Pipeline { settings, stage })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Worker threads: the model stage runs one article at a time on one loaded model, so with it
    /// articles are processed in order; without it, on every core asked for.
    pub fn jobs(&self) -> usize {
        if self.stage.is_some() { 1 } else { self.settings.jobs.max(1) }
    }

    /// Everything that changes a brief's bytes, as one canonical string, for the fingerprints
    /// that let reruns skip up-to-date briefs. Worker count is deliberately absent.
    pub fn identity(&self) -> String {
        let settings = &self.settings;
        let mut identity = format!(
            "zhbrief {}\nformat={:?}\nsentences={:?}\nmax_chars={:?}\nkeywords={}\nencoding={:?}\n",
            env!("CARGO_PKG_VERSION"),
            settings.format,
            settings.extract.sentences,
            settings.extract.max_chars,
            settings.extract.keywords,
            settings.read.encoding.map(|e| e.name()),
        );
        if let Some(stage) = &self.stage {
            identity.push_str(&stage.lock().unwrap_or_else(|p| p.into_inner()).identity());
        }
        identity
    }

    /// Makes the brief of one input's bytes.
    pub fn brief_from_bytes(&self, origin: &Origin, bytes: &[u8]) -> Result<Brief, Error> {
        let article = input::parse_article(origin, bytes, &self.settings.read)?;
        match &self.stage {
            None => Ok(brief::extractive_brief(&article, &self.settings.extract)),
            Some(stage) => {
                let mut stage = stage.lock().unwrap_or_else(|p| p.into_inner());
                brief::brief(&article, &self.settings.extract, Some(&mut stage))
                    .map_err(|e| match e {
                        Error::Model(message) => Error::Model(format!("{origin}: {message}")),
                        other => other,
                    })
            }
        }
    }

    /// Makes the brief of one input.
    pub fn brief_for(&self, input: &Input) -> Result<Brief, Error> {
        let bytes = input::read_bytes(&input.origin, self.settings.read.max_input_bytes)?;
        self.brief_from_bytes(&input.origin, &bytes)
    }

    /// Runs `work` over `items` on [`Pipeline::jobs`] threads, keeping their order.
    pub fn map_in_order<T: Sync, R: Send>(&self, items: &[T], work: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
        match rayon::ThreadPoolBuilder::new().num_threads(self.jobs()).build() {
            Ok(pool) if self.jobs() > 1 => pool.install(|| items.par_iter().map(&work).collect()),
            _ => items.iter().map(work).collect(),
        }
    }
}

/// Runs zhbrief on the inputs, printing briefs to stdout; returns the process exit code.
///
/// One input: its error's own exit code on failure. Several: every brief that can be made is
/// printed, each failure gets one line on stderr, and the exit code is 1 if any failed.
pub fn run(pipeline: &Pipeline) -> u8 {
    let settings = pipeline.settings();
    let paths = if settings.inputs.is_empty() { vec![PathBuf::from("-")] } else { settings.inputs.clone() };
    let (inputs, walk_errors) = input::collect_inputs(&paths);
    let single = walk_errors.len() + inputs.len() == 1 && paths.len() == 1 && !paths[0].is_dir();
    walk_errors.iter().for_each(report);
    let mut failures: Vec<Error> = walk_errors;

    let results = pipeline.map_in_order(&inputs, |input| pipeline.brief_for(input));
    let mut stdout = io::stdout().lock();
    let json_lines = settings.format == Format::Json && !single;
    let mut printed = 0usize;
    for result in results {
        match result {
            Ok(brief) => {
                let text = match settings.format {
                    Format::Json => render::json(&brief, !json_lines),
                    Format::Markdown => render::markdown(&brief),
                };
                let separator = if printed > 0 && settings.format == Format::Markdown { "\n---\n\n" } else { "" };
                if let Err(err) = stdout.write_all(separator.as_bytes()).and_then(|()| stdout.write_all(text.as_bytes())) {
                    return stdout_failed(err);
                }
                printed += 1;
            }
            Err(err) => {
                report(&err);
                failures.push(err);
            }
        }
    }
    if let Err(err) = stdout.flush() {
        return stdout_failed(err);
    }
    match failures.as_slice() {
        [] => exit::OK,
        [only] if single => only.exit_code(),
        _ => exit::SOME_FAILED,
    }
}

/// Prints one error line on stderr.
pub fn report(err: &Error) {
    eprintln!("zhbrief: {err}");
}

/// A reader that went away (`zhbrief … | head`) is not an error; anything else is.
pub fn stdout_failed(err: io::Error) -> u8 {
    if err.kind() == io::ErrorKind::BrokenPipe {
        exit::OK
    } else {
        eprintln!("zhbrief: cannot write to stdout: {err}");
        exit::IO
    }
}
