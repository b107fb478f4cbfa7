//! Faithfulness checks: the numbers and names a generated sentence states must occur in the article.

use std::sync::LazyLock;

use regex::Regex;

use crate::segment;

/// Facts a sentence states: numbers (digits, normalised to ASCII) and proper names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Numbers as written, e.g. `6000`, `3.4`, `91%` without the sign.
    pub numbers: Vec<String>,
    /// Person, place and organisation names and other proper nouns (jieba POS tags).
    pub names: Vec<String>,
}

/// Full-width digits and separators → ASCII, so `２０２３` and `2023` compare equal.
pub fn normalise_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '．' => '.',
            c => c,
        })
        .collect()
}

/// The numbers and names in `sentence`.
pub fn facts(sentence: &str) -> Facts {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:[.,]\d+)*").unwrap());
    let normalised = normalise_digits(sentence);
    let numbers = NUMBER.find_iter(&normalised).map(|m| m.as_str().replace(',', "")).collect();
    let names = segment::jieba()
        .tag(sentence, true)
        .into_iter()
        .filter(|tag| matches!(tag.tag, "nr" | "nrt" | "nrfg" | "ns" | "nt" | "nz"))
        .map(|tag| tag.word.to_string())
        .filter(|word| word.chars().count() >= 2)
        .collect();
    Facts { numbers, names }
}

/// The facts of `sentence` that `article` does not contain.
pub fn unsupported(sentence: &str, article: &str) -> Vec<String> {
    let article_digits = normalise_digits(article).replace(',', "");
    let found = facts(sentence);
    let mut missing: Vec<String> = found.numbers.into_iter().filter(|n| !article_digits.contains(n.as_str())).collect();
    missing.extend(found.names.into_iter().filter(|name| !article.contains(name.as_str())));
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_numbers_and_names() {
        let found = facts("陈杰表示，宝山首批扶持7个项目近6000万元，增长91%和3.4万人次。");
        assert_eq!(found.numbers, ["7", "6000", "91", "3.4"]);
        assert!(found.names.iter().any(|n| n == "陈杰"));
    }

    #[test]
    fn flags_numbers_and_names_absent_from_the_article() {
        let article = "上海市副市长陈杰介绍，宝山首批扶持7个项目近6000万元。";
        assert!(unsupported("陈杰说宝山扶持7个项目近6000万元。", article).is_empty());
        assert_eq!(unsupported("宝山扶持8个项目。", article), ["8"]);
        assert!(unsupported("北京市市长李强表示支持。", article).iter().any(|f| f == "李强"));
        assert!(unsupported("扶持７个项目。", article).is_empty(), "full-width digits match");
    }
}
