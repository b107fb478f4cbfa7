//! HTML → the article's text and metadata, by readability (dom_smoothie) plus the page's own headline.

use dom_smoothie::{Config, Readability, TextMode};

use crate::input::clean::parse_date;
use crate::types::Meta;

/// The text of an HTML page's main article, with what the page's markup says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlArticle {
    /// Title, date and byline found in the markup.
    pub meta: Meta,
    /// The article body as text, one block per line, still to be cleaned.
    pub text: String,
}

/// True when `text` is markup rather than prose, whatever the file is called.
pub fn looks_like_html(text: &str) -> bool {
    let head: String = text.trim_start().chars().take(1024).collect::<String>().to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<?xml") {
        return true;
    }
    ["<head", "<body", "<div", "<p>", "<p ", "<meta", "<title", "<article", "<br"].iter().filter(|tag| head.contains(*tag)).count() >= 2
}

/// Extracts the article from an HTML page.
///
/// The body comes from readability's main-content detection; the headline from the page's `<h1>`
/// when it matches the `<title>`/og:title (sites put logos in `<h1>` too), else from the title minus
/// its site suffix. The date, source and author lines of Chinese pages usually sit outside the
/// main content, so the text around the headline is kept for the cleaner to parse.
pub fn extract(html: &str) -> HtmlArticle {
    let config = Config { text_mode: TextMode::Formatted, ..Config::default() };
    let Ok(mut readability) = Readability::new(html, None, Some(config)) else {
        return HtmlArticle { meta: Meta::default(), text: strip_tags(html) };
    };
    let metadata = readability.get_article_metadata(readability.parse_json_ld());
    let headline = headline(&readability, &metadata.title);
    let page_meta = meta_lines_near_headline(&readability, headline.as_deref());
    let body = match readability.parse() {
        Ok(article) if !article.text_content.trim().is_empty() => article.text_content.to_string(),
        _ => readability.doc.select("body").formatted_text().to_string(),
    };
    let mut meta = Meta { title: headline, date: metadata.published_time.as_deref().and_then(parse_date), ..Meta::default() };
    meta.fill_from(page_meta);
    HtmlArticle { meta, text: body }
}

fn headline(readability: &Readability, page_title: &str) -> Option<String> {
    let page_title = collapse_spaces(page_title);
    let h1s: Vec<String> =
        readability.doc.select("h1").iter().map(|h1| collapse_spaces(&h1.text())).filter(|text| !text.is_empty()).collect();
    let matching = h1s.iter().find(|h1| !page_title.is_empty() && (page_title.contains(h1.as_str()) || h1.contains(page_title.as_str())));
    matching.or((h1s.len() == 1).then(|| &h1s[0])).cloned().or((!page_title.is_empty()).then_some(page_title))
}

/// Parses date/source/author lines from the page text between the headline and the body, where
/// Chinese news sites print them.
fn meta_lines_near_headline(readability: &Readability, headline: Option<&str>) -> Meta {
    let page_text = readability.doc.select("body").formatted_text().to_string();
    let start = headline.and_then(|headline| page_text.find(headline)).unwrap_or(0);
    let near: String = page_text[start..].lines().take(40).collect::<Vec<_>>().join("\n");
    let mut meta = Meta::default();
    for line in near.lines() {
        if let Some(line_meta) = crate::input::clean::parse_meta_line(line.trim()) {
            meta.fill_from(line_meta);
        }
    }
    meta
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Last resort when the markup cannot be parsed at all: drop everything between `<` and `>`.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push('\n');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_markup() {
        assert!(looks_like_html("<!DOCTYPE html><html><body>正文</body></html>"));
        assert!(looks_like_html("  <div class=a><p>正文</p></div>"));
        assert!(!looks_like_html("上海宝山全力打造转型样本。<注>"));
    }

    #[test]
    fn extracts_headline_meta_and_body() {
        let html = r#"<html><head><title>某市推进城市更新_某某新闻网</title></head><body>
            <div class="nav"><a href="/">首页</a> &gt; <a href="/n">新闻</a></div>
            <h1>某市推进城市更新</h1><div class="info">2024-03-01 09:30 来源：某某日报</div>
            <div class="article"><p>某市今年启动城市更新项目二十个，总投资超过百亿元，惠及居民三万户，各项工作进展顺利，受到居民欢迎。</p>
            <p>市住建局表示，将加快推进老旧小区改造，今年年底前完成全部项目的开工建设，确保按期交付使用，让群众满意。</p></div>
            </body></html>"#;
        let article = extract(html);
        assert_eq!(article.meta.title.as_deref(), Some("某市推进城市更新"));
        assert_eq!(article.meta.date.as_deref(), Some("2024-03-01 09:30"));
        assert_eq!(article.meta.source.as_deref(), Some("某某日报"));
        assert!(article.text.contains("老旧小区改造"));
    }
}
