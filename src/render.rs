//! The output stage: briefs as Markdown for people or JSON for machines.

use std::fmt::Write;

use crate::types::Brief;

/// Output format of briefs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A Markdown document.
    #[default]
    Markdown,
    /// A JSON object (schema in the README).
    Json,
}

impl Format {
    /// File extension of a brief in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
        }
    }
}

/// Renders a brief as JSON: pretty for one brief, one line per brief for JSON Lines.
pub fn json(brief: &Brief, pretty: bool) -> String {
    let mut out = if pretty { serde_json::to_string_pretty(brief) } else { serde_json::to_string(brief) }
        .expect("a brief is plain data and always serialises");
    out.push('\n');
    out
}

/// Renders a brief as Markdown that reads well on GitHub and in a terminal.
pub fn markdown(brief: &Brief) -> String {
    let mut out = String::new();
    let meta = &brief.meta;
    let heading = meta.title.as_deref().unwrap_or(&brief.lead);
    let _ = writeln!(out, "# {}\n", escape(heading));
    let fields: Vec<String> = [
        meta.date.clone(),
        meta.source.as_ref().map(|s| format!("来源：{s}")),
        meta.author.as_ref().map(|a| format!("作者：{a}")),
        meta.editor.as_ref().map(|e| format!("编辑：{e}")),
    ]
    .into_iter()
    .flatten()
    .map(|field| escape(&field))
    .collect();
    if !fields.is_empty() {
        let _ = writeln!(out, "{}\n", fields.join(" · "));
    }
    out.push_str("## 要点\n\n");
    for point in &brief.key_points {
        let _ = writeln!(out, "- {}", escape(point));
    }
    if let Some(summary) = &brief.summary {
        let text: String = summary.iter().map(|s| s.text.as_str()).collect();
        let _ = writeln!(out, "\n## 摘要\n\n{}", escape(&text));
    }
    if !brief.keywords.is_empty() {
        let keywords: Vec<String> = brief.keywords.iter().map(|k| escape(k)).collect();
        let _ = writeln!(out, "\n**关键词：** {}", keywords.join(" · "));
    }
    if let Some(translation) = &brief.translation {
        out.push_str("\n## English\n\n");
        // A unit with something the check could not trace is marked, and the items listed.
        let flagged = |items: &[String]| if items.is_empty() { "" } else { " ⚠" };
        let unsupported = &translation.unsupported;
        if let Some(title) = &translation.title {
            let _ = writeln!(out, "**{}**{}\n", escape(title), flagged(&unsupported.title));
        }
        for (n, point) in translation.key_points.iter().enumerate() {
            let _ = writeln!(out, "- {}{}", escape(point), flagged(unsupported.key_points.get(n).map_or(&[], Vec::as_slice)));
        }
        if let Some(summary) = &translation.summary {
            let _ = writeln!(out, "\n{}{}", escape(summary), flagged(unsupported.summary.as_deref().unwrap_or_default()));
        }
        if let Some(listed) = unsupported.listed(escape) {
            let _ = writeln!(out, "\n> ⚠ Not found in the source: {listed}");
        }
    }
    out
}

/// Backslash-escapes the ASCII characters Markdown would take as markup, so article text renders
/// as the text it is (and cannot inject links or HTML into a brief).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Meta;

    fn brief() -> Brief {
        Brief {
            meta: Meta {
                title: Some("标题".into()),
                date: Some("2023-10-24 14:09".into()),
                source: Some("央广网".into()),
                ..Meta::default()
            },
            key_points: vec!["第一点。".into(), "含有*星号*和<b>标签</b>。".into()],
            keywords: vec!["宝山".into(), "转型".into()],
            summary: None,
            translation: None,
            lead: "导语".into(),
        }
    }

    #[test]
    fn markdown_has_heading_meta_points_keywords() {
        let md = markdown(&brief());
        assert!(md.starts_with("# 标题\n\n2023-10-24 14:09 · 来源：央广网\n\n## 要点\n\n- 第一点。\n"));
        assert!(md.contains(r"- 含有\*星号\*和\<b\>标签\</b\>。"));
        assert!(md.ends_with("**关键词：** 宝山 · 转型\n"));
    }

    #[test]
    fn summary_and_translation_sections() {
        use crate::types::{SummarySentence, Translation, Unsupported};
        let md = markdown(&Brief {
            summary: Some(vec![SummarySentence { text: "摘要句。".into(), support: vec![], extractive_fallback: false }]),
            translation: Some(Translation {
                title: Some("Title".into()),
                key_points: vec!["Point.".into(), "Beijing.".into()],
                summary: Some("Sum.".into()),
                unsupported: Unsupported { key_points: vec![vec![], vec!["Beijing".into()]], ..Unsupported::default() },
            }),
            ..brief()
        });
        assert!(md.contains("\n## 摘要\n\n摘要句。\n"));
        assert!(
            md.ends_with(
                "\n## English\n\n**Title**\n\n- Point.\n- Beijing. ⚠\n\nSum.\n\n> ⚠ Not found in the source: “Beijing” (key point 2)\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn heading_falls_back_to_lead() {
        let mut untitled = brief();
        untitled.meta.title = None;
        let md = markdown(&untitled);
        assert!(md.starts_with("# 导语\n"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&json(&brief(), false)).unwrap();
        for key in ["title", "date", "source", "author", "key_points", "keywords"] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        assert!(value.get("lead").is_none());
    }
}
