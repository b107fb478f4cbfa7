//! The abstractive summary: a few Chinese sentences written by the model, each checked against
//! the article and, when it states what the article does not, replaced by a key point.

use minijinja::context;

use super::ModelStage;
use super::faithfulness;
use super::prompts::fence;
use crate::error::Error;
use crate::llm::{GenerateOptions, Message};
use crate::segment;
use crate::text::is_han;
use crate::types::{Article, Extract, Sentence, SummarySentence};

/// Article tokens per summarisation prompt; longer articles are summarised in parts and merged.
/// Chosen so a part and the instructions fit a 2,048-token window with room to answer, and so
/// prompt processing stays within seconds on a CPU.
pub const CHUNK_TOKENS: usize = 1400;
/// Sentences in an abstractive summary.
const SUMMARY_SENTENCES: usize = 3;

impl ModelStage {
    /// Summarises the article in Chinese. Long articles are summarised by parts of at most
    /// [`CHUNK_TOKENS`] tokens and the parts merged, so nothing is silently cut. Every sentence
    /// is checked against the article; one stating a number or name the article lacks is
    /// replaced by the key point that best covers it.
    pub fn summarize(&mut self, article: &Article, sentences: &[Sentence], extract: &Extract) -> Result<Vec<SummarySentence>, Error> {
        let system = self.prompts().render("system.j2", context! {})?;
        let key_points: Vec<&str> = extract.key_points.iter().map(|p| &article.text[p.span.clone()]).collect();
        let title = article.meta.title.as_deref().map(fence);
        let chunks = self.chunks(article)?;
        let text = if chunks.len() == 1 {
            let user = self.prompts().render(
                "summarize.j2",
                context! { title, article => fence(&chunks[0]), key_points => key_points.iter().map(|p| fence(p)).collect::<Vec<_>>(), sentences => SUMMARY_SENTENCES },
            )?;
            self.run(&[Message::system(&system), Message::user(user)], summary_options())?
        } else {
            self.note(&format!("article is long: summarising {} parts, then merging", chunks.len()));
            let mut parts = Vec::with_capacity(chunks.len());
            for chunk in &chunks {
                let user = self.prompts().render(
                    "summarize.j2",
                    context! { title, article => fence(chunk), key_points => Vec::<String>::new(), sentences => 2 },
                )?;
                parts.push(fence(&self.run(&[Message::system(&system), Message::user(user)], summary_options())?));
            }
            let user = self.prompts().render("merge.j2", context! { title, parts, sentences => SUMMARY_SENTENCES })?;
            self.run(&[Message::system(&system), Message::user(user)], summary_options())?
        };
        Ok(self.check_against_article(&text, article, sentences, &key_points))
    }

    /// Splits the article into paragraph-aligned parts of at most [`CHUNK_TOKENS`] tokens; a
    /// paragraph too long on its own is split at sentence ends.
    fn chunks(&self, article: &Article) -> Result<Vec<String>, Error> {
        // Each piece with its token count, counted once.
        let mut pieces: Vec<(&str, usize)> = Vec::new();
        for index in 0..article.paragraphs.len() {
            let paragraph = article.paragraph(index);
            let tokens = self.backend.count_tokens(paragraph)?;
            if tokens <= CHUNK_TOKENS {
                pieces.push((paragraph, tokens));
            } else {
                for range in segment::split_sentences(paragraph) {
                    let sentence = &paragraph[range];
                    pieces.push((sentence, self.backend.count_tokens(sentence)?));
                }
            }
        }
        let mut chunks: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut current_tokens = 0;
        for (piece, piece_tokens) in pieces {
            let tokens = piece_tokens + 1;
            if current_tokens + tokens > CHUNK_TOKENS && !current.is_empty() {
                chunks.push(std::mem::take(&mut current));
                current_tokens = 0;
            }
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(piece);
            current_tokens += tokens;
        }
        if !current.is_empty() {
            chunks.push(current);
        }
        Ok(chunks)
    }

    fn check_against_article(&self, text: &str, article: &Article, sentences: &[Sentence], key_points: &[&str]) -> Vec<SummarySentence> {
        let mut used_fallbacks: Vec<&str> = Vec::new();
        let mut out: Vec<SummarySentence> = Vec::new();
        for sentence in summary_sentences(text) {
            let unsupported = faithfulness::unsupported(&sentence, &article.text);
            if unsupported.is_empty() {
                let support = support(&sentence, article, sentences);
                out.push(SummarySentence { text: sentence, support, extractive_fallback: false });
                continue;
            }
            let replacement = key_points
                .iter()
                .filter(|p| !used_fallbacks.contains(p) && !out.iter().any(|s| s.text == **p))
                .max_by(|a, b| overlap(&sentence, a).total_cmp(&overlap(&sentence, b)).then(b.cmp(a)))
                .copied();
            self.note(&format!(
                "summary sentence states {} not in the article; {}: {sentence}",
                unsupported.join(", "),
                if replacement.is_some() { "replaced by a key point" } else { "dropped" }
            ));
            if let Some(point) = replacement {
                used_fallbacks.push(point);
                out.push(SummarySentence { text: point.to_string(), support: vec![point.to_string()], extractive_fallback: true });
            }
        }
        out
    }
}

fn summary_options() -> GenerateOptions {
    GenerateOptions { max_new_tokens: 320, ..GenerateOptions::default() }
}

/// Splits model output into summary sentences: list markers and labels removed, repeats dropped.
fn summary_sentences(text: &str) -> Vec<String> {
    let mut joined = String::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['-', '*', '•', '·', '#', ' ']);
        let line = line.trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '.' | '、' | ')' | '）'));
        let line =
            ["概括：", "概括:", "总结：", "总结:", "摘要：", "摘要:"].iter().fold(line.trim(), |l, p| l.strip_prefix(p).unwrap_or(l));
        joined.push_str(line.trim());
    }
    let mut sentences: Vec<String> = Vec::new();
    for span in segment::split_sentences(&joined) {
        let sentence = joined[span].to_string();
        if sentence.chars().filter(|&c| is_han(c)).count() >= 6 && !sentences.contains(&sentence) {
            sentences.push(sentence);
        }
    }
    sentences.truncate(SUMMARY_SENTENCES);
    sentences
}

fn content_set(text: &str) -> std::collections::BTreeSet<&str> {
    segment::content_words(text).into_iter().collect()
}

/// Share of `a`'s content words that `b` contains.
fn overlap(a: &str, b: &str) -> f64 {
    let (a, b) = (content_set(a), content_set(b));
    if a.is_empty() {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / a.len() as f64
}

/// The (up to two) article sentences sharing the most content words with `sentence`.
fn support(sentence: &str, article: &Article, sentences: &[Sentence]) -> Vec<String> {
    let mut scored: Vec<(f64, usize)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| (overlap(sentence, &article.text[s.span.clone()]), i))
        .filter(|(score, _)| *score > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(2).map(|(_, i)| article.text[sentences[i].span.clone()].to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_output_is_cleaned_into_sentences() {
        let text = "概括：\n1. 宝山全力推进北部地区转型发展。\n- 宝山大力建设大学科技园区。\n宝山全力推进北部地区转型发展。";
        assert_eq!(summary_sentences(text), ["宝山全力推进北部地区转型发展。", "宝山大力建设大学科技园区。"]);
    }
}
