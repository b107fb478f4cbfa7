//! The values that pass from one stage to the next: the [`Article`] the input stage makes, the
//! [`Sentence`]s segmentation finds in it, the [`Extract`] the extractive stage picks, and the
//! [`Brief`] the model stage completes and the output stage renders. No stage reaches into
//! another's internals: they share these types and nothing else.

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

/// A sentence of an article: a byte span into [`Article::text`] and the paragraph holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// Byte range in the article text.
    pub span: Range<usize>,
    /// Index of the paragraph it belongs to.
    pub paragraph: usize,
}

/// A sentence the extractive stage chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPoint {
    /// Index into the article's sentence list.
    pub sentence: usize,
    /// Byte range of the sentence in the article text (the key point is exactly this text).
    pub span: Range<usize>,
}

/// What the extractive stage found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// Key sentences, in article order.
    pub key_points: Vec<KeyPoint>,
    /// Keywords, most important first.
    pub keywords: Vec<String>,
}

/// One article's brief. Field order here is the JSON field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brief {
    /// Headline, date, source, author and editor, as the page gave them.
    #[serde(flatten)]
    pub meta: Meta,
    /// Key sentences, verbatim, in article order.
    pub key_points: Vec<String>,
    /// Keywords, most important first.
    pub keywords: Vec<String>,
    /// Abstractive summary (`--abstractive`), each sentence with its support in the article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<SummarySentence>>,
    /// English translation (`--translate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<Translation>,
    /// The article's opening words, used as a heading when there is no title.
    #[serde(skip)]
    pub lead: String,
}

/// A sentence of the abstractive summary with the article sentences that support it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummarySentence {
    /// The sentence.
    pub text: String,
    /// Article sentences (verbatim) that support it, best first.
    pub support: Vec<String>,
    /// True when the model's sentence failed the faithfulness check and this is the extractive
    /// sentence that replaced it.
    pub extractive_fallback: bool,
}

/// The brief in English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    /// The headline.
    pub title: Option<String>,
    /// The key points, in the same order.
    pub key_points: Vec<String>,
    /// The abstractive summary, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// What each unit's English states that its Chinese does not: numbers, dates and names the
    /// check could not trace to the source (empty when clean).
    pub unsupported: Unsupported,
}

/// Untraceable items of a translation, unit by unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    /// In the headline.
    pub title: Vec<String>,
    /// In each key point, in order.
    pub key_points: Vec<Vec<String>>,
    /// In the summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<String>>,
}

impl Unsupported {
    /// Every item with the unit it is in (`title`, `key point 2`, `summary`).
    pub fn items(&self) -> Vec<(String, &str)> {
        let mut items: Vec<(String, &str)> = self.title.iter().map(|i| ("title".to_string(), i.as_str())).collect();
        for (n, point) in self.key_points.iter().enumerate() {
            items.extend(point.iter().map(|i| (format!("key point {}", n + 1), i.as_str())));
        }
        items.extend(self.summary.iter().flatten().map(|i| ("summary".to_string(), i.as_str())));
        items
    }

    /// Every item as `“item” (unit)`, `; `-separated, each item passed through `quote` first;
    /// `None` when there is none.
    pub fn listed(&self, quote: impl Fn(&str) -> String) -> Option<String> {
        let items = self.items();
        (!items.is_empty()).then(|| items.iter().map(|(unit, item)| format!("“{}” ({unit})", quote(item))).collect::<Vec<_>>().join("; "))
    }
}
