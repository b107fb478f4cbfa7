//! The cleaned article: the typed value the input stage hands to every later stage.

use std::ops::Range;

use serde::Serialize;

/// What the page says about the article, apart from its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Headline.
    pub title: Option<String>,
    /// Publication date, normalised to `YYYY-MM-DD` or `YYYY-MM-DD HH:MM`.
    pub date: Option<String>,
    /// Publisher or source outlet (来源).
    pub source: Option<String>,
    /// Reporter or author (作者, 记者).
    pub author: Option<String>,
    /// Responsible editor (责任编辑).
    pub editor: Option<String>,
}

impl Meta {
    /// Fills each field still unknown from `other`.
    pub fn fill_from(&mut self, other: Meta) {
        fn fill(slot: &mut Option<String>, value: Option<String>) {
            if slot.is_none() {
                *slot = value;
            }
        }
        fill(&mut self.title, other.title);
        fill(&mut self.date, other.date);
        fill(&mut self.source, other.source);
        fill(&mut self.author, other.author);
        fill(&mut self.editor, other.editor);
    }
}

/// An article with page chrome removed: metadata plus body text split into paragraphs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Title, date, source, author.
    pub meta: Meta,
    /// The body text, paragraphs joined by `\n`.
    pub text: String,
    /// Byte ranges of the paragraphs in `text`, in order.
    pub paragraphs: Vec<Range<usize>>,
}

impl Article {
    /// Builds an article from its paragraphs, which must be non-empty and hold no newline.
    pub fn from_paragraphs<S: AsRef<str>>(meta: Meta, paragraphs: &[S]) -> Article {
        let mut text = String::new();
        let mut ranges = Vec::with_capacity(paragraphs.len());
        for paragraph in paragraphs {
            if !text.is_empty() {
                text.push('\n');
            }
            let start = text.len();
            text.push_str(paragraph.as_ref());
            ranges.push(start..text.len());
        }
        Article { meta, text, paragraphs: ranges }
    }

    /// The text of paragraph `index`.
    pub fn paragraph(&self, index: usize) -> &str {
        &self.text[self.paragraphs[index].clone()]
    }
}
