//! Segmentation: paragraphs → sentences (byte spans, GB/T 15834 rules) → words (jieba-rs).

use std::ops::Range;
use std::sync::OnceLock;

use jieba_rs::Jieba;

use crate::types::{Article, Sentence};

/// Splits every paragraph of `article` into sentences.
pub fn sentences(article: &Article) -> Vec<Sentence> {
    article
        .paragraphs
        .iter()
        .enumerate()
        .flat_map(|(index, range)| {
            split_sentences(&article.text[range.clone()])
                .into_iter()
                .map(move |span| Sentence { span: span.start + range.start..span.end + range.start, paragraph: index })
        })
        .collect()
}

/// Sentence-ending marks: 。！？ and the ellipsis (GB/T 15834), with their half-width forms.
fn is_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '…' | '!' | '?' | '｡')
}

/// Closing quotes and brackets, which stay with the sentence they close.
fn is_closer(c: char) -> bool {
    matches!(c, '”' | '’' | '」' | '』' | '）' | ')' | '》' | '】' | '〕' | '"' | '\'')
}

/// Splits one paragraph into sentence spans (byte ranges into `text`), whitespace trimmed.
///
/// A sentence ends after a run of terminators plus any closing quotes or brackets that follow it;
/// commas, semicolons and colons never split.
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if !is_terminator(c) {
            continue;
        }
        let mut end = text.len();
        while let Some(&(index, next)) = chars.peek() {
            if is_terminator(next) || is_closer(next) {
                chars.next();
            } else {
                end = index;
                break;
            }
        }
        push_trimmed(text, start..end, &mut spans);
        start = end;
    }
    push_trimmed(text, start..text.len(), &mut spans);
    spans
}

fn push_trimmed(text: &str, range: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let trimmed_start = range.start + (piece.len() - piece.trim_start().len());
    let trimmed_end = range.end - (piece.len() - piece.trim_end().len());
    if trimmed_start < trimmed_end {
        spans.push(trimmed_start..trimmed_end);
    }
}

/// The shared jieba segmenter; its dictionary loads once per process.
pub fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Function words that carry no topic; overlap in them says nothing about two sentences.
const STOP_WORDS: &[&str] = &[
    "我们", "他们", "你们", "这个", "那个", "这些", "那些", "一个", "没有", "不是", "就是", "还是", "已经", "可以", "进行", "通过", "以及",
    "其中", "表示", "指出", "介绍", "同时", "此外", "目前", "今年", "认为", "如果", "因为", "所以", "但是", "而且", "并且", "以来", "方面",
    "有关", "相关", "这样", "如何", "什么",
];

/// Content words of a text: jieba tokens of two or more characters or with digits, minus stop words.
pub fn content_words(text: &str) -> Vec<&str> {
    jieba()
        .cut(text, true)
        .into_iter()
        .map(|token| token.word)
        .filter(|word| {
            let chars = word.chars().count();
            let has_digit = word.chars().any(|c| c.is_ascii_digit());
            word.chars().any(char::is_alphanumeric) && (chars >= 2 || has_digit) && !STOP_WORDS.contains(word)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        split_sentences(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn splits_on_terminators_not_commas() {
        assert_eq!(split("第一句，还在第一句；仍然是。第二句！第三句？"), ["第一句，还在第一句；仍然是。", "第二句！", "第三句？"]);
        assert_eq!(split("没有句号的结尾"), ["没有句号的结尾"]);
    }

    #[test]
    fn closing_quotes_and_brackets_stay_with_the_sentence() {
        assert_eq!(split("他说：“我们会成功。”大家鼓掌。"), ["他说：“我们会成功。”", "大家鼓掌。"]);
        assert_eq!(split("（这是括号里的话。）下一句。"), ["（这是括号里的话。）", "下一句。"]);
        assert_eq!(split("真的吗？！”她问。"), ["真的吗？！”", "她问。"]);
    }

    #[test]
    fn ellipsis_ends_a_sentence() {
        assert_eq!(split("等等……然后呢。"), ["等等……", "然后呢。"]);
    }

    #[test]
    fn spans_are_trimmed_and_point_into_the_text() {
        let text = " 第一句。  第二句。 ";
        let spans = split_sentences(text);
        assert_eq!(spans.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), ["第一句。", "第二句。"]);
        assert!(split_sentences("。。。。").len() == 1);
        assert!(split_sentences("   ").is_empty());
    }

    #[test]
    fn article_sentences_carry_paragraph_and_absolute_spans() {
        let article = Article::from_paragraphs(Default::default(), &["甲句。乙句。", "丙句。"]);
        let sentences = sentences(&article);
        assert_eq!(sentences.len(), 3);
        assert_eq!(&article.text[sentences[2].span.clone()], "丙句。");
        assert_eq!(sentences[2].paragraph, 1);
    }

    #[test]
    fn content_words_drop_function_words() {
        let words = content_words("宝山区委书记表示，我们已经完成了7个项目。");
        assert!(words.contains(&"宝山"));
        assert!(words.contains(&"7"));
        assert!(!words.contains(&"我们"));
        assert!(!words.contains(&"了"));
    }
}
