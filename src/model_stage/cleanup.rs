//! What small models write around their answers, cleaned away: labels, talk about the task,
//! wrapping quotes, echoed glossary notes, invented years; and Chinese tidied before it is
//! translated.

use std::sync::LazyLock;

use regex::Regex;

use super::glossary::capitalise;
use crate::text::fold_width;

/// Chinese as the model reads it best: no spaces beside full-width punctuation (`他说 ： “ 现在`,
/// left by tokenised corpora and some web pages, which the small models mistranslate) and ASCII
/// for full-width letters and digits (`２０１６` → `2016`).
pub fn tidy_for_translation(unit: &str) -> String {
    let full_width_punctuation = |c: char| "，。、；：！？“”‘’（）《》「」【】".contains(c);
    let mut out = String::with_capacity(unit.len());
    let mut chars = unit.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let mut run = String::from(c);
            while let Some(space) = chars.next_if(|c| c.is_whitespace()) {
                run.push(space);
            }
            let beside_punctuation =
                out.chars().next_back().is_some_and(full_width_punctuation) || chars.peek().is_some_and(|&c| full_width_punctuation(c));
            if !beside_punctuation {
                out.push_str(&run);
            }
            continue;
        }
        out.push(c);
    }
    fold_width(&out)
}

/// `December 11, 2012` → `December 11` when the source states no 2012: small models give a bare
/// date a year, usually the wrong one.
pub fn without_invented_years(english: &str, source: &str) -> String {
    static DATED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b((?:January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}),? (\d{4})\b")
            .unwrap()
    });
    let source = fold_width(source);
    DATED
        .replace_all(english, |caps: &regex::Captures| if source.contains(&caps[2]) { caps[0].to_string() } else { caps[1].to_string() })
        .into_owned()
}

/// One clean line of English: labels, wrapping quotes and line breaks removed.
pub fn clean_translation(text: &str) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for label in ["Translation:", "English translation:", "English:"] {
        if let Some(rest) = line.strip_prefix(label) {
            line = rest.trim().to_string();
        }
    }
    // Small models sometimes talk about the task instead of doing it ("The Chinese text
    // translates to English as: "…""); keep the translation inside the talk.
    static PREAMBLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)^(?:the |this )?(?:chinese |following |above )?(?:news |original )?(?:text|sentence|passage|headline)[^"“:]{0,40}?(?:translat\w*|in english)[^"“:]{0,30}?:\s*"#).unwrap()
    });
    // The same talk quoting the source first: The Chinese text "…" is translated into English as: "…"
    static RESTATED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)^(?:the |this )?(?:chinese |following |above )?(?:news |original )?(?:text|sentence|passage|headline) ["“][^"“”]+["”] (?:is translated|translates|can be translated)[^"“:]{0,30}?:\s*"#).unwrap()
    });
    // …and a remark after the quoted translation: "…" This translation keeps the meaning…
    static REMARK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(?i)^(["“][^"“”]+["”])\s+(?:this|the) (?:english )?translation\b.*$"#).unwrap());
    static ABOUT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)^(?:the )?(?:chinese |following )?(?:news )?(?:text|sentence|passage|headline) ["“](.+)["”] (?:is in english|is translated\b[^"“]*|translates\b[^"“]*)\.?$"#).unwrap()
    });
    static ACCORDING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^according to the (?:chinese |original )?(?:text|sentence|passage),\s*").unwrap());
    // A sentence announcing the translation: "The text you provided is in Chinese, and I will
    // translate it into English for you. The original text states that …"
    static ANNOUNCED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^[^.]{0,80}\b(?:I will|I'll|let me) translate\b[^.]*\.\s*(?:(?:the )?(?:original |chinese )?text (?:states|says|reads) that\s*)?")
            .unwrap()
    });
    if let Some(found) = PREAMBLE.find(&line).or_else(|| RESTATED.find(&line)) {
        line = REMARK.replace(&line[found.end()..], "$1").into_owned();
    } else if let Some(caps) = ABOUT.captures(&line) {
        line = caps[1].to_string();
    } else if let Some(found) = ACCORDING.find(&line).or_else(|| ANNOUNCED.find(&line)).filter(|found| found.end() < line.len()) {
        line = capitalise(&line[found.end()..]);
    }
    // A glossary annotation copied along with its rendering: "60 million yuan (60 million yuan)".
    static ECHO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s*[(（]([^()（）]+)[)）]").unwrap());
    let line = ECHO
        .replace_all(&line, |caps: &regex::Captures| {
            let before = line[..caps.get(0).map_or(0, |m| m.start())].trim_end().trim_end_matches([',', ';', ':']).to_lowercase();
            if before.ends_with(&caps[1].trim().to_lowercase()) { String::new() } else { caps[0].to_string() }
        })
        .into_owned();
    // A translation wrapped in quotes, or opened by one the model never closed.
    let unquoted = line.strip_prefix('"').map(|l| l.strip_suffix('"').unwrap_or(l));
    match unquoted {
        Some(inner) if !inner.contains('"') => inner.to_string(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations_are_one_clean_line() {
        assert_eq!(clean_translation("Translation: \"Baoshan is\n transforming.\""), "Baoshan is transforming.");
        assert_eq!(clean_translation("He said \"yes\" loudly."), "He said \"yes\" loudly.");
    }

    #[test]
    fn chinese_is_tidied_before_translation() {
        assert_eq!(tidy_for_translation("他还说 ： “ 现在还是早期 。 ”"), "他还说：“现在还是早期。”");
        assert_eq!(tidy_for_translation("２０１６年ＶＲ体验，增长23 % 。"), "2016年VR体验，增长23 %。");
        assert_eq!(tidy_for_translation("全媒体记者 张尚武 胡盼盼"), "全媒体记者 张尚武 胡盼盼", "spaces between words stay");
    }

    #[test]
    fn years_the_source_does_not_state_are_dropped() {
        assert_eq!(without_invented_years("On December 11, 2012, Iran said.", "伊朗12月11日说。"), "On December 11, Iran said.");
        assert_eq!(without_invented_years("On December 11, 2021, Iran said.", "２０２１年12月11日"), "On December 11, 2021, Iran said.");
        assert_eq!(without_invented_years("The 2016 forum opens.", "论坛开幕。"), "The 2016 forum opens.", "only a date's year");
    }

    #[test]
    fn talk_about_the_task_is_removed() {
        assert_eq!(clean_translation("The Chinese text translates to English as: \"Students lead - Xinhua"), "Students lead - Xinhua");
        assert_eq!(clean_translation("The Chinese news sentence is translated into English as: \"Prices rose.\""), "Prices rose.");
        assert_eq!(clean_translation("The Chinese text \"Schools try apprenticeships\" is in English."), "Schools try apprenticeships");
        assert_eq!(clean_translation("The Chinese text is translated into English as follows: \"Prices rose.\""), "Prices rose.");
        assert_eq!(
            clean_translation(
                "The Chinese text \"学生\" is translated into English as: \"Students lead\" This translation keeps the meaning."
            ),
            "Students lead"
        );
        assert_eq!(clean_translation("According to the Chinese text, the fair opens today."), "The fair opens today.");
        assert_eq!(
            clean_translation(
                "The text you provided is in Chinese, and I will translate it into English for you. The original text states that the fair opens today."
            ),
            "The fair opens today."
        );
        assert_eq!(
            clean_translation("It invested 60 million yuan (60 million yuan) in Baoshan (Baoshan District)."),
            "It invested 60 million yuan in Baoshan (Baoshan District)."
        );
        assert_eq!(
            clean_translation("Xinhua News Agency, Beijing, May 20, (May 20) reporters"),
            "Xinhua News Agency, Beijing, May 20, reporters"
        );
        let plain = "The text of the law was translated into English in 2019.";
        assert_eq!(clean_translation(plain), plain, "a sentence about translation is left alone");
    }
}
