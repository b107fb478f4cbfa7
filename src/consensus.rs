//! Choosing among candidate translations by consensus (minimum-Bayes-risk selection).
//!
//! A small model's greedy translation often drops a clause or garbles a phrase that most of its
//! sampled translations get right. Picking the candidate that agrees most with the others keeps
//! what the candidates share and loses what only one of them invented; on the WMT22 development
//! segments this beats the greedy translation alone (see `docs/quality.md`). Hand-written because
//! it is a few lines over chrF, which no well-kept Rust crate offers.

use std::collections::HashMap;

/// Longest character n-gram chrF counts.
const MAX_ORDER: usize = 6;
/// chrF's β: recall weighs twice as much as precision, as in chrF2.
const BETA: f64 = 2.0;

fn ngrams(chars: &[char], n: usize) -> HashMap<&[char], usize> {
    let mut counts = HashMap::new();
    for gram in chars.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// Character n-gram F-score (chrF2, whitespace ignored) of `hypothesis` against `reference`,
/// from 0 to 1, as sacreBLEU 2 computes it: precision and recall averaged over the orders from
/// 1 to 6 that both sides are long enough for, then combined.
pub fn chrf(hypothesis: &str, reference: &str) -> f64 {
    let hyp: Vec<char> = hypothesis.chars().filter(|c| !c.is_whitespace()).collect();
    let refr: Vec<char> = reference.chars().filter(|c| !c.is_whitespace()).collect();
    let orders = MAX_ORDER.min(hyp.len()).min(refr.len());
    if orders == 0 {
        return 0.0;
    }
    let (mut precision, mut recall) = (0.0, 0.0);
    for n in 1..=orders {
        let (h, r) = (ngrams(&hyp, n), ngrams(&refr, n));
        let matched: usize = h.iter().map(|(gram, &count)| count.min(r.get(gram).copied().unwrap_or(0))).sum();
        precision += matched as f64 / (hyp.len() - n + 1) as f64;
        recall += matched as f64 / (refr.len() - n + 1) as f64;
    }
    let (p, r) = (precision / orders as f64, recall / orders as f64);
    let b2 = BETA * BETA;
    if p + r == 0.0 { 0.0 } else { (1.0 + b2) * p * r / (b2 * p + r) }
}

/// The index of the candidate with the highest total chrF against all the others; ties go to
/// the earliest (the greedy translation comes first). Deterministic: no hashing order leaks out.
pub fn most_agreed(candidates: &[String]) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, candidate) in candidates.iter().enumerate() {
        let agreement: f64 = candidates.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, other)| chrf(candidate, other)).sum();
        if agreement > best.1 {
            best = (i, agreement);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrf_is_one_for_identical_text_and_low_for_unrelated() {
        assert!((chrf("Prices rose in May.", "Prices rose in May.") - 1.0).abs() < 1e-12);
        assert!(chrf("Prices rose in May.", "xyz qqq") < 0.05);
        assert_eq!(chrf("", "anything"), 0.0);
        // Recall weighs more: a hypothesis missing half the reference scores below one adding
        // as much again.
        let reference = "the city opened sixty schools this year";
        assert!(chrf("the city opened sixty schools", reference) < chrf("the city opened sixty schools this year with new teachers", reference));
    }

    #[test]
    fn chrf_matches_sacrebleu() {
        // sacrebleu.sentence_chrf(h, [r]).score with sacreBLEU 2.4.3 (chrF2, no word n-grams).
        let score = |h, r| 100.0 * chrf(h, r);
        assert!((score("the cat sat on the mat", "the cat is on the mat") - 64.5779).abs() < 1e-3);
        assert!((score("ab", "abc") - 63.6364).abs() < 1e-3, "orders too long for a side are left out");
    }

    #[test]
    fn the_candidate_most_others_agree_with_wins() {
        let candidates: Vec<String> = [
            "Bananas are yellow.",
            "A school opened in May.",
            "The school opened in May.",
            "The school opened in May.",
        ]
        .map(String::from)
        .into();
        assert_eq!(most_agreed(&candidates), 2, "the translation given twice, not the outlier");
        assert_eq!(most_agreed(&["same".to_string(), "same".to_string()]), 0, "ties keep the first");
        assert_eq!(most_agreed(&["only".to_string()]), 0);
    }
}
