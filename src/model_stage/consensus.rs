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

/// Each candidate's mean chrF against all the others: how much the others agree with it.
pub fn agreement(candidates: &[String]) -> Vec<f64> {
    let others = candidates.len().saturating_sub(1).max(1) as f64;
    candidates
        .iter()
        .enumerate()
        .map(|(i, candidate)| {
            candidates.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, other)| chrf(candidate, other)).sum::<f64>() / others
        })
        .collect()
}

/// The index of the candidate with the best sum of `agreement` and `fit` (any other score per
/// candidate, higher better), each standardised across the candidates (mean 0, deviation 1) so
/// that neither scale outweighs the other; a score the same for all counts for nothing. Ties go
/// to the earliest (the greedy translation comes first).
pub fn choose(agreement: &[f64], fit: &[f64]) -> usize {
    let total: Vec<f64> = standardised(agreement).iter().zip(standardised(fit)).map(|(a, f)| a + f).collect();
    let mut best = 0;
    for (i, &score) in total.iter().enumerate() {
        if score > total[best] {
            best = i;
        }
    }
    best
}

/// `xs` shifted to mean 0 and scaled to deviation 1 (all 0 when they are all equal).
fn standardised(xs: &[f64]) -> Vec<f64> {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let deviation = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    xs.iter().map(|x| if deviation > 0.0 { (x - mean) / deviation } else { 0.0 }).collect()
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
        assert!(
            chrf("the city opened sixty schools", reference) < chrf("the city opened sixty schools this year with new teachers", reference)
        );
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
        let candidates: Vec<String> =
            ["Bananas are yellow.", "A school opened in May.", "The school opened in May.", "The school opened in May."]
                .map(String::from)
                .into();
        let agreement = agreement(&candidates);
        assert_eq!(choose(&agreement, &[0.0; 4]), 2, "the translation given twice, not the outlier");
        let same = vec!["same".to_string(), "same".to_string()];
        assert_eq!(choose(&self::agreement(&same), &[-3.0, -3.0]), 0, "ties keep the first");
        assert_eq!(choose(&self::agreement(&["only".to_string()]), &[1.0]), 0);
    }

    #[test]
    fn fit_to_the_source_outweighs_a_small_lead_in_agreement() {
        // Two candidates agree; a third, nearly as agreed with, explains the source far better.
        let agreement = [0.60, 0.61, 0.58, 0.20];
        assert_eq!(choose(&agreement, &[-50.0, -50.0, -50.0, -50.0]), 1, "no fit difference: consensus decides");
        assert_eq!(choose(&agreement, &[-52.0, -51.0, -30.0, -49.0]), 2);
        // Standardised: scaling either score changes nothing.
        assert_eq!(choose(&agreement.map(|a| a * 100.0), &[-5.2, -5.1, -3.0, -4.9]), 2);
        // An outlier nobody agrees with does not win on fit alone.
        assert_eq!(choose(&[0.6, 0.6, 0.6, 0.1], &[-40.0, -41.0, -42.0, -30.0]), 0);
    }
}
