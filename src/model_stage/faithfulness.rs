//! Faithfulness checks: the numbers and names a generated sentence states must occur in the article.

use std::sync::LazyLock;

use regex::Regex;

use crate::segment;
use crate::text::fold_width;

/// What a number counts: a plain quantity, or a percentage, year, month or day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Quantity,
    Percent,
    Year,
    Month,
    Day,
}

/// A number as stated, with what it counts and its value (万 and 亿 multiplied out).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Number {
    pub(super) written: String,
    pub(super) value: f64,
    pub(super) kind: Kind,
}

/// The numbers in `text`, each with the unit that gives it its meaning: `6000万` is 60 million,
/// not 6000; `10月` is a month, `91%` a share.
pub(super) fn numbers(text: &str) -> Vec<Number> {
    static NUMBER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(\d+(?:[.,]\d+)*)\s*(万亿|万|亿|%|年|月|日|号)?").expect("the number pattern is valid"));
    let text = fold_width(text);
    NUMBER
        .captures_iter(&text)
        .filter_map(|caps| {
            let digits = caps[1].replace(',', "");
            let value: f64 = digits.parse().ok()?;
            let (value, kind) = match caps.get(2).map(|m| m.as_str()) {
                Some("万亿") => (value * 1e12, Kind::Quantity),
                Some("万") => (value * 1e4, Kind::Quantity),
                Some("亿") => (value * 1e8, Kind::Quantity),
                Some("%") => (value, Kind::Percent),
                Some("年") => (value, Kind::Year),
                Some("月") => (value, Kind::Month),
                Some("日" | "号") => (value, Kind::Day),
                _ => (value, Kind::Quantity),
            };
            Some(Number { written: caps[0].trim().to_string(), value, kind })
        })
        .collect()
}

/// Whether `claim` states what `stated` does: the same value of the same kind. A bare quantity
/// also matches a year, month or day of that value (`2023` in `2023年`), never a share.
pub(super) fn same_number(claim: &Number, stated: &Number) -> bool {
    let kinds_agree = claim.kind == stated.kind || claim.kind == Kind::Quantity && stated.kind != Kind::Percent;
    kinds_agree && (claim.value - stated.value).abs() <= 1e-9 * claim.value.abs().max(1.0)
}

/// Person, place and organisation names and other proper nouns in `sentence` (jieba POS tags).
fn names(sentence: &str) -> Vec<String> {
    segment::jieba()
        .tag(sentence, true)
        .into_iter()
        .filter(|tag| matches!(tag.tag, "nr" | "nrt" | "nrfg" | "ns" | "nt" | "nz"))
        .map(|tag| tag.word.to_string())
        .filter(|word| word.chars().count() >= 2)
        .collect()
}

/// The numbers (as written) and names of `sentence` that `article` does not state.
pub fn unsupported(sentence: &str, article: &str) -> Vec<String> {
    let stated = numbers(article);
    let mut missing: Vec<String> =
        numbers(sentence).into_iter().filter(|claim| !stated.iter().any(|s| same_number(claim, s))).map(|claim| claim.written).collect();
    missing.extend(names(sentence).into_iter().filter(|name| !article.contains(name.as_str())));
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_carry_their_units() {
        let found: Vec<(String, f64, Kind)> = numbers("10月23日，宝山首批扶持7个项目近6000万元，增长91%，服务3.4万人次，投资1,200亿元")
            .into_iter()
            .map(|n| (n.written, n.value, n.kind))
            .collect();
        assert_eq!(
            found,
            [
                ("10月".into(), 10.0, Kind::Month),
                ("23日".into(), 23.0, Kind::Day),
                ("7".into(), 7.0, Kind::Quantity),
                ("6000万".into(), 6e7, Kind::Quantity),
                ("91%".into(), 91.0, Kind::Percent),
                ("3.4万".into(), 34000.0, Kind::Quantity),
                ("1,200亿".into(), 1.2e11, Kind::Quantity),
            ]
        );
    }

    #[test]
    fn numbers_and_names_the_article_states_pass() {
        let article = "上海市副市长陈杰介绍，10月23日宝山首批扶持7个项目近6000万元，增长91%。";
        assert!(unsupported("陈杰说宝山扶持7个项目近6000万元。", article).is_empty());
        assert!(unsupported("扶持７个项目。", article).is_empty(), "full-width digits match");
        assert!(unsupported("宝山投入0.6亿元。", article).is_empty(), "the same amount in 亿");
        assert!(unsupported("23日，宝山增长91%。", article).is_empty());
    }

    #[test]
    fn a_number_inside_a_longer_one_is_not_stated() {
        let article = "宝山首批扶持项目近6000万元，2023年增长91%。";
        assert_eq!(unsupported("宝山扶持项目60万元。", article), ["60万"], "60万 is not 6000万");
        assert_eq!(unsupported("宝山有3个项目。", article), ["3"], "3 is not a digit of 2023");
        assert_eq!(unsupported("宝山扶持项目600万元。", article), ["600万"]);
    }

    #[test]
    fn units_must_agree() {
        let article = "10月23日，宝山增长9%，建成91个项目。";
        assert_eq!(unsupported("宝山增长91%。", article), ["91%"], "91 projects are not 91%");
        assert_eq!(unsupported("10月9日宝山开会。", article), ["9日"], "9% is no day");
        assert_eq!(unsupported("23月宝山开会。", article), ["23月"], "the 23rd is no month");
        assert_eq!(unsupported("2023年宝山开会。", article), ["2023年"], "no year is stated");
        assert!(unsupported("宝山建成23个项目。", article).is_empty(), "a bare quantity matches the day's number");
    }

    #[test]
    fn names_the_article_lacks_are_flagged() {
        let article = "上海市副市长陈杰介绍，宝山首批扶持7个项目。";
        assert!(unsupported("北京市市长李强表示支持。", article).iter().any(|f| f == "李强"));
    }
}
