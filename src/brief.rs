//! The brief: what the pipeline produces for one article, ready to render.

use serde::Serialize;

use crate::article::Article;
use crate::error::Error;
use crate::extract::{self, ExtractOptions};
use crate::model_stage::{ModelStage, SummarySentence, Translation};
use crate::segment;

/// One article's brief. Field order here is the JSON field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brief {
    /// Headline, when the page had one.
    pub title: Option<String>,
    /// Publication date, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM`.
    pub date: Option<String>,
    /// Source outlet (来源).
    pub source: Option<String>,
    /// Reporter or author.
    pub author: Option<String>,
    /// Responsible editor.
    pub editor: Option<String>,
    /// Key sentences, verbatim, in article order.
    pub key_points: Vec<String>,
    /// Keywords, most important first.
    pub keywords: Vec<String>,
    /// Abstractive summary (`--abstractive`), each sentence with its support in the article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<SummarySentence>>,
    /// English translation (`--translate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<Translation>,
    /// The article's opening words, used as a heading when there is no title.
    #[serde(skip)]
    pub lead: String,
}

/// Builds the extractive brief of an article.
pub fn extractive_brief(article: &Article, options: &ExtractOptions) -> Brief {
    let sentences = segment::sentences(article);
    let extract = extract::extract(article, &sentences, options);
    assemble(article, &sentences, &extract)
}

/// Builds the brief of an article, with the model stage's summary and translation when a stage
/// is given.
pub fn brief(article: &Article, options: &ExtractOptions, stage: Option<&mut ModelStage>) -> Result<Brief, Error> {
    let sentences = segment::sentences(article);
    let extract = extract::extract(article, &sentences, options);
    let mut brief = assemble(article, &sentences, &extract);
    if let Some(stage) = stage {
        if stage.options().abstractive {
            brief.summary = Some(stage.summarize(article, &sentences, &extract)?);
        }
        if stage.options().translate {
            brief.translation = Some(stage.translate_brief(article, &brief)?);
        }
    }
    Ok(brief)
}

fn assemble(article: &Article, sentences: &[segment::Sentence], extract: &extract::Extract) -> Brief {
    let key_points = extract.key_points.iter().map(|p| article.text[p.span.clone()].to_string()).collect();
    let lead = sentences.first().map(|s| lead_words(&article.text[s.span.clone()])).unwrap_or_default();
    let meta = article.meta.clone();
    Brief {
        title: meta.title,
        date: meta.date,
        source: meta.source,
        author: meta.author,
        editor: meta.editor,
        key_points,
        keywords: extract.keywords.clone(),
        summary: None,
        translation: None,
        lead,
    }
}

/// The first clause of a sentence, at most 24 characters.
fn lead_words(sentence: &str) -> String {
    const MAX: usize = 24;
    let clause: String = sentence.split(['，', '。', '：', ',', '！', '？']).next().unwrap_or(sentence).to_string();
    if clause.chars().count() <= MAX {
        clause
    } else {
        clause.chars().take(MAX).chain(std::iter::once('…')).collect()
    }
}
