//! The extractive stage: rank sentences, pick key points, find keywords. No model needed.
//!
//! The ranker is hand-written rather than taken from jieba-rs's keyword TextRank because it ranks
//! *sentences*, and news needs what generic TextRank lacks: a lead/position prior (news puts the
//! facts first), a redundancy penalty (pages restate their lead), and length control.

use std::collections::HashMap;
use std::sync::OnceLock;

use jieba_rs::{KeywordExtract, TfIdf};

use crate::segment;
use crate::text::is_han;
use crate::types::{Article, Extract, KeyPoint, Sentence};

/// How much to extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExtractOptions {
    /// Number of key points; `None` picks 3–5 by article length.
    pub sentences: Option<usize>,
    /// Upper bound on the key points' total length in characters.
    pub max_chars: Option<usize>,
    /// Number of keywords.
    pub keywords: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { sentences: None, max_chars: None, keywords: DEFAULT_KEYWORDS }
    }
}

/// Default number of keywords in a brief.
pub const DEFAULT_KEYWORDS: usize = 8;

/// Sentences shorter than this (in Han characters) are too thin to be key points.
const MIN_HAN_CHARS: usize = 10;
/// Above this many candidate sentences the all-pairs graph is replaced by similarity to the
/// document centroid: linear instead of quadratic, so huge inputs stay bounded in time.
const MAX_GRAPH_SENTENCES: usize = 800;
/// PageRank damping: the share of a sentence's score that comes from its neighbours.
const DAMPING: f64 = 0.85;
/// MMR trade-off between a sentence's own score and its overlap with sentences already chosen.
const MMR_LAMBDA: f64 = 0.7;
/// A sentence this similar to one already chosen says nothing new, whatever its score.
const REDUNDANT_SIMILARITY: f64 = 0.5;
/// Sentences longer than this many characters read poorly as bullet points and get discounted.
const COMFORTABLE_CHARS: f64 = 120.0;

/// Runs the extractive stage over an article and its sentences.
pub fn extract(article: &Article, sentences: &[Sentence], options: &ExtractOptions) -> Extract {
    let key_points = rank(article, sentences, options);
    let keywords = keywords(&article.text, options.keywords);
    Extract { key_points, keywords }
}

/// The default number of key points: 3 for a short article, up to 5 for a long one.
fn default_count(candidates: usize) -> usize {
    (candidates / 6).clamp(3, 5)
}

fn rank(article: &Article, sentences: &[Sentence], options: &ExtractOptions) -> Vec<KeyPoint> {
    let text_of = |s: &Sentence| &article.text[s.span.clone()];
    let mut candidates: Vec<usize> =
        (0..sentences.len()).filter(|&i| text_of(&sentences[i]).chars().filter(|&c| is_han(c)).count() >= MIN_HAN_CHARS).collect();
    if candidates.is_empty() {
        candidates = (0..sentences.len()).collect();
    }
    let wanted = options.sentences.unwrap_or_else(|| default_count(candidates.len()));
    if wanted == 0 || candidates.is_empty() {
        return Vec::new();
    }

    let vectors = tfidf_vectors(candidates.iter().map(|&i| text_of(&sentences[i])));
    let prior = position_prior(&candidates, sentences);
    let centrality =
        if candidates.len() <= MAX_GRAPH_SENTENCES { personalised_pagerank(&vectors, &prior) } else { centroid_similarity(&vectors) };
    let scores: Vec<f64> = candidates
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let text = text_of(&sentences[i]);
            (centrality[k] + prior[k]) * length_factor(text) * quote_balance_factor(text) * heading_factor(text)
        })
        .collect();
    let best = scores.iter().cloned().fold(f64::MIN_POSITIVE, f64::max);

    // MMR: repeatedly take the sentence with the best score net of its overlap with those taken.
    let mut chosen: Vec<usize> = Vec::new();
    let mut used_chars = 0usize;
    let mut remaining: Vec<usize> = (0..candidates.len()).collect();
    while chosen.len() < wanted && !remaining.is_empty() {
        let mmr = |k: usize| {
            let redundancy = chosen.iter().map(|&c| cosine(&vectors[k], &vectors[c])).fold(0.0, f64::max);
            MMR_LAMBDA * scores[k] / best - (1.0 - MMR_LAMBDA) * redundancy
        };
        let (position, k) = remaining
            .iter()
            .enumerate()
            .map(|(position, &k)| (position, k))
            .max_by(|&(_, a), &(_, b)| mmr(a).total_cmp(&mmr(b)).then(b.cmp(&a)))
            .expect("remaining is not empty");
        remaining.swap_remove(position);
        if chosen.iter().any(|&c| cosine(&vectors[k], &vectors[c]) > REDUNDANT_SIMILARITY) {
            continue;
        }
        let chars = text_of(&sentences[candidates[k]]).chars().count();
        if let Some(budget) = options.max_chars
            && used_chars + chars > budget
            && !chosen.is_empty()
        {
            continue;
        }
        used_chars += chars;
        chosen.push(k);
    }
    let mut picked: Vec<usize> = chosen.into_iter().map(|k| candidates[k]).collect();
    picked.sort_unstable();
    picked.into_iter().map(|i| KeyPoint { sentence: i, span: sentences[i].span.clone() }).collect()
}

/// A sparse TF-IDF vector: (word id, weight) sorted by id, L2-normalised.
type SparseVector = Vec<(u32, f64)>;

fn tfidf_vectors<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<SparseVector> {
    // Word ids in order of first appearance keep every sum in a fixed order: deterministic output.
    let mut ids: HashMap<&'a str, u32> = HashMap::new();
    let counts: Vec<Vec<(u32, f64)>> = texts
        .map(|text| {
            let mut counts: Vec<(u32, f64)> = Vec::new();
            for word in segment::content_words(text) {
                let next = ids.len() as u32;
                let id = *ids.entry(word).or_insert(next);
                match counts.iter_mut().find(|(w, _)| *w == id) {
                    Some((_, count)) => *count += 1.0,
                    None => counts.push((id, 1.0)),
                }
            }
            counts.sort_unstable_by_key(|&(id, _)| id);
            counts
        })
        .collect();
    let mut document_frequency = vec![0u32; ids.len()];
    for vector in &counts {
        for &(id, _) in vector {
            document_frequency[id as usize] += 1;
        }
    }
    let n = counts.len() as f64;
    counts
        .into_iter()
        .map(|mut vector| {
            for (id, weight) in vector.iter_mut() {
                *weight *= (1.0 + n / f64::from(document_frequency[*id as usize])).ln();
            }
            let norm = vector.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                vector.iter_mut().for_each(|(_, w)| *w /= norm);
            }
            vector
        })
        .collect()
}

fn cosine(a: &SparseVector, b: &SparseVector) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// The news prior: early sentences matter more, and a paragraph's first sentence states its topic.
/// Normalised to sum to 1, like a PageRank teleport distribution.
fn position_prior(candidates: &[usize], sentences: &[Sentence]) -> Vec<f64> {
    let raw: Vec<f64> = candidates
        .iter()
        .enumerate()
        .map(|(rank, &i)| {
            let opens_paragraph = i == 0 || sentences[i - 1].paragraph != sentences[i].paragraph;
            let topic_bonus = if opens_paragraph { 1.5 } else { 1.0 };
            topic_bonus / (1.0 + rank as f64).sqrt()
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|p| p / total).collect()
}

/// TextRank/LexRank centrality on the cosine-similarity graph, teleporting by the position prior.
fn personalised_pagerank(vectors: &[SparseVector], prior: &[f64]) -> Vec<f64> {
    let n = vectors.len();
    let mut weights = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let similarity = cosine(&vectors[i], &vectors[j]);
            weights[i][j] = similarity;
            weights[j][i] = similarity;
        }
    }
    let out_degree: Vec<f64> = weights.iter().map(|row| row.iter().sum()).collect();
    let mut scores = prior.to_vec();
    for _ in 0..100 {
        let mut next: Vec<f64> = prior.iter().map(|p| (1.0 - DAMPING) * p).collect();
        for i in 0..n {
            if out_degree[i] == 0.0 {
                // A sentence sharing no words with any other hands its score back by the prior.
                for (j, value) in next.iter_mut().enumerate() {
                    *value += DAMPING * scores[i] * prior[j];
                }
                continue;
            }
            for (j, value) in next.iter_mut().enumerate() {
                *value += DAMPING * scores[i] * weights[i][j] / out_degree[i];
            }
        }
        let change: f64 = next.iter().zip(&scores).map(|(a, b)| (a - b).abs()).sum();
        scores = next;
        if change < 1e-9 {
            break;
        }
    }
    scores
}

/// Centrality for very long inputs: similarity of each sentence to the whole document, scaled to
/// sum to 1 like PageRank scores.
fn centroid_similarity(vectors: &[SparseVector]) -> Vec<f64> {
    let mut centroid: Vec<(u32, f64)> = Vec::new();
    let mut dense: HashMap<u32, f64> = HashMap::new();
    for vector in vectors {
        for &(id, weight) in vector {
            *dense.entry(id).or_insert(0.0) += weight;
        }
    }
    centroid.extend(dense);
    centroid.sort_unstable_by_key(|&(id, _)| id);
    let raw: Vec<f64> = vectors.iter().map(|v| cosine(v, &centroid)).collect();
    let total: f64 = raw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    raw.into_iter().map(|s| s / total).collect()
}

fn length_factor(sentence: &str) -> f64 {
    let chars = sentence.chars().count() as f64;
    if chars <= COMFORTABLE_CHARS { 1.0 } else { (COMFORTABLE_CHARS / chars).sqrt() }
}

/// A sentence that opens a quotation it does not close (or the reverse) is a fragment of a longer
/// quote, which reads badly on its own.
fn quote_balance_factor(sentence: &str) -> f64 {
    let opens = sentence.matches(['“', '「', '『']).count();
    let closes = sentence.matches(['”', '」', '』']).count();
    if opens == closes { 1.0 } else { 0.35 }
}

/// A "sentence" with no closing mark is a heading or caption (【…】, 一、…), not a statement.
fn heading_factor(sentence: &str) -> f64 {
    let ends_a_sentence = sentence.trim_end_matches(['”', '’', '」', '』', '）', ')', '"']).ends_with(['。', '！', '？', '…', '!', '?']);
    if ends_a_sentence { 1.0 } else { 0.4 }
}

/// Parts of speech kept as keywords: nouns, person names, places, organisations, other proper
/// nouns, verbal nouns (jieba's ICTCLAS tags).
const KEYWORD_POS: &[&str] = &["n", "nr", "nrt", "ns", "nt", "nz", "vn", "nw"];

fn keywords(text: &str, count: usize) -> Vec<String> {
    static TFIDF: OnceLock<TfIdf> = OnceLock::new();
    let tfidf = TFIDF.get_or_init(TfIdf::default);
    let allowed = KEYWORD_POS.iter().map(|s| s.to_string()).collect();
    tfidf.extract_keywords(segment::jieba(), text, count, allowed).into_iter().map(|k| k.keyword).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> Article {
        Article::from_paragraphs(
            Default::default(),
            &[
                "上海宝山区全力推进北部地区转型发展，打造新时代现代化转型样本。宝山区委书记在发布会上作了介绍。",
                "宝山大力推进大学科技园建设，形成科技创新集群发展态势。宝山发布概念验证中心管理办法。",
                "宝山重点布局未来健康、未来材料和未来制造等产业。宝山推动传统企业智能化改造和数字化转型。",
                "宝山全力推进北部地区转型发展，打造新时代现代化转型样本。",
            ],
        )
    }

    #[test]
    fn picks_requested_count_in_article_order_verbatim() {
        let article = article();
        let sentences = segment::sentences(&article);
        let options = ExtractOptions { sentences: Some(3), ..Default::default() };
        let extract = extract(&article, &sentences, &options);
        assert_eq!(extract.key_points.len(), 3);
        assert!(extract.key_points.windows(2).all(|w| w[0].sentence < w[1].sentence));
        assert_eq!(extract.key_points[0].sentence, 0, "the lead leads");
        for point in &extract.key_points {
            assert!(article.text[point.span.clone()].ends_with('。'));
        }
        assert!(extract.keywords.iter().any(|k| k == "宝山"));
    }

    #[test]
    fn redundancy_penalty_skips_a_restated_lead() {
        let article = article();
        let sentences = segment::sentences(&article);
        let options = ExtractOptions { sentences: Some(4), ..Default::default() };
        let picked: Vec<usize> = extract(&article, &sentences, &options).key_points.iter().map(|p| p.sentence).collect();
        assert!(picked.contains(&0));
        assert!(!picked.contains(&6), "the near-copy of the lead is redundant: {picked:?}");
    }

    #[test]
    fn character_budget_is_respected() {
        let article = article();
        let sentences = segment::sentences(&article);
        let options = ExtractOptions { sentences: Some(5), max_chars: Some(60), ..Default::default() };
        let extract = extract(&article, &sentences, &options);
        let total: usize = extract.key_points.iter().map(|p| article.text[p.span.clone()].chars().count()).sum();
        assert!(total <= 60 && !extract.key_points.is_empty());
    }

    #[test]
    fn centroid_path_matches_graph_shape_on_large_inputs() {
        let paragraph = "城市更新项目今年进展顺利，居民生活条件明显改善。";
        let paragraphs: Vec<String> = (0..MAX_GRAPH_SENTENCES + 10).map(|i| format!("{paragraph}第{i}号项目已经开工建设完成。")).collect();
        let article = Article::from_paragraphs(Default::default(), &paragraphs);
        let sentences = segment::sentences(&article);
        let extract = extract(&article, &sentences, &ExtractOptions::default());
        assert_eq!(extract.key_points.len(), 5);
    }
}
