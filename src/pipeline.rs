//! The pipeline: one input's bytes through every stage to its [`Brief`] — input, segment,
//! extract, then the model stage when asked for — with the settings of the run and the one
//! engine it loads.

use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{Error, Origin};
use crate::extract::{self, ExtractOptions};
use crate::input::{self, Input};
use crate::llm;
use crate::model_stage::ModelStage;
use crate::segment;
use crate::settings::Settings;
use crate::types::{Article, Brief, Extract, Sentence};

/// A run's settings plus its model stage, loaded once and shared by every article: one stage
/// for a local model (articles take turns on its cores), one per worker for a server (each
/// worker's requests in flight at once).
pub struct Pipeline {
    settings: Settings,
    identity: String,
    stages: Vec<Mutex<ModelStage>>,
}

impl Pipeline {
    /// Prepares a run. With `load_model`, the engine is loaded once now if the model stage is
    /// asked for; without (`--check`), nothing is loaded and briefs are only fingerprinted.
    pub fn new(settings: Settings, load_model: bool) -> Result<Pipeline, Error> {
        let mut stages = Vec::new();
        if let Some(options) = settings.brief.model.as_ref().filter(|_| load_model) {
            if options.verbose {
                eprintln!("zhbrief: loading model {} ({})", options.engine.model(), options.engine.location());
            }
            let backend = llm::open(&options.engine)?;
            let forks: Vec<_> = (1..settings.jobs).map_while(|_| backend.fork()).collect();
            stages = std::iter::once(backend).chain(forks).map(|backend| Mutex::new(ModelStage::new(backend, options.clone()))).collect();
        }
        let identity = settings.brief.identity();
        Ok(Pipeline { settings, identity, stages })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The canonical form of everything that changes a brief, for fingerprints.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Worker threads: one per model stage when there are stages (a local model runs one article
    /// at a time), else every core asked for.
    pub fn jobs(&self) -> usize {
        if self.stages.is_empty() { self.settings.jobs.max(1) } else { self.stages.len() }
    }

    /// Makes the brief of one input's bytes.
    pub fn brief_from_bytes(&self, origin: &Origin, bytes: &[u8]) -> Result<Brief, Error> {
        let article = input::parse_article(origin, bytes, &self.settings.brief.read)?;
        let sentences = segment::sentences(&article);
        let extract = extract::extract(&article, &sentences, &self.settings.brief.extract);
        let mut brief = assemble(&article, &sentences, &extract);
        if !self.stages.is_empty() {
            // Each worker has its own stage; outside a pool (one thread), the first.
            let worker = rayon::current_thread_index().unwrap_or(0) % self.stages.len();
            let mut stage = self.stages[worker].lock().unwrap_or_else(|p| p.into_inner());
            complete(&mut stage, &article, &sentences, &extract, &mut brief).map_err(|e| match e {
                Error::Model(message) => Error::Model(format!("{origin}: {message}")),
                Error::Engine { engine, reason } => Error::Engine { engine, reason: format!("{reason} (briefing {origin})") },
                other => other,
            })?;
        }
        Ok(brief)
    }

    /// Makes the brief of one input.
    pub fn brief_for(&self, input: &Input) -> Result<Brief, Error> {
        let bytes = input::read_bytes(&input.origin, self.settings.max_input_bytes)?;
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

/// The extractive brief of an article: no model needed.
pub fn extractive_brief(article: &Article, options: &ExtractOptions) -> Brief {
    let sentences = segment::sentences(article);
    let extract = extract::extract(article, &sentences, options);
    assemble(article, &sentences, &extract)
}

/// Adds what the model stage is asked for: the summary, then the translation (of the summary too).
fn complete(stage: &mut ModelStage, article: &Article, sentences: &[Sentence], extract: &Extract, brief: &mut Brief) -> Result<(), Error> {
    if stage.options().abstractive {
        brief.summary = Some(stage.summarize(article, sentences, extract)?);
    }
    if stage.options().translate {
        brief.translation = Some(stage.translate_brief(article, brief)?);
    }
    Ok(())
}

fn assemble(article: &Article, sentences: &[Sentence], extract: &Extract) -> Brief {
    let key_points = extract.key_points.iter().map(|p| article.text[p.span.clone()].to_string()).collect();
    let lead = sentences.first().map(|s| lead_words(&article.text[s.span.clone()])).unwrap_or_default();
    Brief { meta: article.meta.clone(), key_points, keywords: extract.keywords.clone(), summary: None, translation: None, lead }
}

/// The first clause of a sentence, at most 24 characters.
fn lead_words(sentence: &str) -> String {
    const MAX: usize = 24;
    let clause: String = sentence.split(['，', '。', '：', ',', '！', '？']).next().unwrap_or(sentence).to_string();
    if clause.chars().count() <= MAX { clause } else { clause.chars().take(MAX).chain(std::iter::once('…')).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_is_the_first_clause_cut_to_length() {
        assert_eq!(lead_words("宝山全力转型，成效明显。"), "宝山全力转型");
        let long = "一".repeat(30);
        assert_eq!(lead_words(&long), format!("{}…", "一".repeat(24)));
    }
}
