//! HTML → the article's text and metadata: the body by readability (dom_smoothie), the headline
//! from the page's own `<h1>`, og:title or `<title>`, and date, author and source from where pages
//! put them — `<meta>` tags, JSON-LD, and the lines around the headline.

use dom_smoothie::{Config, Readability, TextMode};

use crate::input::clean::{parse_date, parse_meta_line, plausible_names};
use crate::input::headline::{clean_headline, is_credit, names_a_site};
use crate::text::han_count;
use crate::types::Meta;

/// The text of an HTML page's main article, with what the page's markup says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlArticle {
    /// Title, date and byline found in the markup.
    pub meta: Meta,
    /// The article body as text, one block per line, still to be cleaned.
    pub text: String,
    /// When the main content is mostly links (a list or portal page), how many.
    pub list_of_links: Option<usize>,
}

/// True when `text` is markup rather than prose, whatever the file is called.
pub fn looks_like_html(text: &str) -> bool {
    let head: String = text.trim_start().chars().take(1024).collect::<String>().to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<?xml") {
        return true;
    }
    ["<head", "<body", "<div", "<p>", "<p ", "<meta", "<title", "<article", "<br"].iter().filter(|tag| head.contains(*tag)).count() >= 2
}

/// What a page's `<meta>` tags and JSON-LD say about its article.
#[derive(Debug, Default)]
struct PageMetadata {
    /// og:title, else `<title>`.
    title: Option<String>,
    /// The raw `<title>`, to match `<h1>`s against.
    document_title: String,
    /// og:site_name, application-name, JSON-LD publisher: names to cut from titles.
    site_names: Vec<String>,
    date: Option<String>,
    author: Option<String>,
    source: Option<String>,
}

/// `<meta>` keys (name, property or itemprop, lowercase) that give the publication date.
const DATE_KEYS: &[&str] = &[
    "article:published_time",
    "og:release_date",
    "pubdate",
    "publishdate",
    "publish_date",
    "publishtime",
    "datepublished",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "dcterms.issued",
    "sailthru.date",
    "parsely-pub-date",
    "weibo:article:create_at",
];
/// `<meta>` keys that name the author.
const AUTHOR_KEYS: &[&str] = &["author", "article:author", "dc.creator", "dcterms.creator", "byline", "parsely-author"];
/// `<meta>` keys that name the source the article comes from.
const SOURCE_KEYS: &[&str] = &["source", "dc.source", "article:source"];
/// `<meta>` keys that name the site.
const SITE_KEYS: &[&str] = &["og:site_name", "application-name", "site_name", "sitename"];

impl PageMetadata {
    fn read(readability: &Readability) -> PageMetadata {
        let doc = &readability.doc;
        let mut tags: Vec<(String, String)> = Vec::new();
        for node in doc.select("meta").nodes() {
            let Some(content) = node.attr("content").map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) else { continue };
            for attribute in ["property", "name", "itemprop"] {
                if let Some(key) = node.attr(attribute) {
                    tags.push((key.trim().to_ascii_lowercase(), content.clone()));
                }
            }
        }
        let first = |keys: &[&str]| keys.iter().find_map(|key| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
        let json_ld = readability.parse_json_ld().unwrap_or_default();
        let document_title = collapse_spaces(&doc.select("title").text());
        let mut site_names: Vec<String> = SITE_KEYS.iter().filter_map(|key| first(&[key])).collect();
        site_names.extend(json_ld.site_name.clone());
        let date = first(DATE_KEYS).or(json_ld.published_time.clone()).and_then(|d| parse_date(&d));
        let author = first(AUTHOR_KEYS).or(json_ld.byline.clone()).and_then(|a| plausible_names(&a));
        let source = first(SOURCE_KEYS)
            .map(|s| s.trim_start_matches(|c: char| "来源稿源:：".contains(c)).trim().to_string())
            .filter(|s| han_count(s) >= 2 && s.chars().count() <= 20);
        let og_title = first(&["og:title"]).map(|t| collapse_spaces(&t)).filter(|t| !t.is_empty());
        let title = og_title.or((!document_title.is_empty()).then(|| document_title.clone()));
        PageMetadata { title, document_title, site_names, date, author, source }
    }
}

/// Extracts the article from an HTML page.
///
/// The body comes from readability's main-content detection. The headline is the page's `<h1>`
/// when it matches the og:title or `<title>` (sites put logos in `<h1>` too), else that title,
/// with site and channel names cut ([`clean_headline`]). Date, author and source come from the
/// `<meta>` tags and JSON-LD, else from the lines around the headline, where Chinese news sites
/// print them; a date and time there win over a bare date of the same day in the tags.
pub fn extract(html: &str) -> HtmlArticle {
    let config = Config { text_mode: TextMode::Formatted, ..Config::default() };
    let Ok(mut readability) = Readability::new(html, None, Some(config)) else {
        return HtmlArticle { meta: Meta::default(), text: strip_tags(html), list_of_links: None };
    };
    let page = PageMetadata::read(&readability);
    let headline = headline(&readability, &page);
    let near = meta_lines_near_headline(&readability, headline.as_deref());
    let (body, list_of_links) = match first_post(&readability) {
        Some(post) => (post, None),
        None => match readability.parse() {
            Ok(article) if !article.text_content.trim().is_empty() => (article.text_content.to_string(), links_in(&article.content)),
            _ => {
                let body = readability.doc.select("body");
                (body.formatted_text().to_string(), links_in(&body.html()))
            }
        },
    };
    let date = match (page.date, near.date.clone()) {
        (Some(tagged), Some(printed)) if printed.starts_with(&tagged) => Some(printed),
        (tagged, printed) => tagged.or(printed),
    };
    // What the page prints for its byline and source beats its tags, often a CMS's user.
    let mut meta = Meta { title: headline, date, ..near };
    meta.fill_from(Meta { author: page.author, source: page.source, ..Meta::default() });
    HtmlArticle { meta, text: body, list_of_links }
}

/// Links whose text is most of `content`'s text make it a list of links (an index, a portal's
/// news centre, a rolling-news page) rather than an article: the link density readability and
/// trafilatura measure. `Some(n)` when at least eight links of some length carry at least half of
/// the text, and the text outside them is no article's worth.
fn links_in(content: &str) -> Option<usize> {
    const MIN_LINKS: usize = 8;
    let doc = dom_query::Document::from(content);
    let visible = |text: &str| text.chars().filter(|c| !c.is_whitespace()).count();
    let total = visible(&doc.select("body").text());
    let links: Vec<usize> = doc.select("a").nodes().iter().map(|a| visible(&a.text())).filter(|&len| len >= 4).collect();
    let linked: usize = links.iter().sum();
    let outside = total.saturating_sub(linked);
    (links.len() >= MIN_LINKS && linked * 2 >= total && outside < 600).then_some(links.len())
}

/// The opening post of a forum thread: the message containers of the common forum engines
/// (Discuz `postmessage_…`, vBulletin `post_message_…`, phpBB `postbody`, Baidu Tieba
/// `d_post_content`, and the generic `post-content`), when a page holds several. Readability would
/// take the longest or a merge of replies; the thread is what its first post says.
fn first_post(readability: &Readability) -> Option<String> {
    const POSTS: &str =
        "[id^=postmessage_], [id^=post_message_], .postbody, .post_body, .post-content, .d_post_content, .t_f, .message-body";
    let posts = readability.doc.select(POSTS);
    let first = posts.nodes().first()?;
    let text = first.formatted_text().to_string();
    (posts.length() >= 2 && han_count(&text) >= 30).then_some(text)
}

fn headline(readability: &Readability, page: &PageMetadata) -> Option<String> {
    let titles: Vec<&str> =
        [page.title.as_deref(), Some(page.document_title.as_str())].into_iter().flatten().filter(|t| !t.is_empty()).collect();
    let clean = |raw: &str| clean_headline(raw, &page.site_names);
    // Sites put their logo in an <h1> too: one naming the site is no headline. An <h1> holds the
    // headline alone, so no suffix is cut from it (a dash in it belongs to the headline).
    let h1s: Vec<String> = readability
        .doc
        .select("h1")
        .iter()
        .map(|h1| collapse_spaces(&h1.text()))
        .filter(|h1| !h1.is_empty() && !is_credit(h1) && !names_a_site(h1, &page.site_names))
        .collect();
    let title = titles.first().and_then(|title| clean(title));
    let matching = title.as_ref().and_then(|title| h1s.iter().find(|h1| title.contains(h1.as_str()) || h1.contains(title.as_str())));
    matching.cloned().or(title).or_else(|| (h1s.len() == 1).then(|| h1s[0].clone()))
}

/// Parses date/source/author lines from the page text around the headline, where Chinese news
/// sites print them (from the top of the page when the headline is not found in it).
fn meta_lines_near_headline(readability: &Readability, headline: Option<&str>) -> Meta {
    const LINES_AFTER: usize = 40;
    const LINES_BEFORE: usize = 3;
    let page_text = readability.doc.select("body").formatted_text().to_string();
    let lines: Vec<&str> = page_text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let at =
        headline.and_then(|headline| lines.iter().position(|line| line.contains(headline))).map_or(0, |at| at.saturating_sub(LINES_BEFORE));
    let mut meta = Meta::default();
    for line in lines.iter().skip(at).take(LINES_AFTER + LINES_BEFORE) {
        if let Some(line_meta) = parse_meta_line(line) {
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
        assert_eq!(article.list_of_links, None);
    }
}
