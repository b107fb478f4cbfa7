//! Property tests of the input stage and extractive pipeline (decode → clean → segment → extract).

use encoding_rs::{BIG5, GB18030, UTF_16BE, UTF_16LE};
use proptest::prelude::*;
use zhbrief::Origin;
use zhbrief::extract::ExtractOptions;
use zhbrief::input::{ReadOptions, decode::decode, parse_article};
use zhbrief::pipeline::extractive_brief;

/// Text that looks like Chinese news pasted from a page: Han characters, punctuation, digits,
/// chrome words, newlines.
fn newsish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "宝山",
        "转型",
        "发展",
        "上海",
        "。",
        "，",
        "！",
        "？",
        "“",
        "”",
        "（",
        "）",
        "\n",
        "\n\n",
        " ",
        "2023",
        "10月23日",
        "来源：",
        "上一篇：",
        "返回首页",
        "点击：94次",
        "\u{3000}",
        "……",
        "记者",
        "表示",
        "项目",
        "6000万元",
    ]);
    prop::collection::vec(pieces, 0..200).prop_map(|p| p.concat())
}

/// Sentences of common words, as news is written: what encoding detection sees in real inputs.
fn sentences(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    let sentence = prop::collection::vec(prop::sample::select(words), 4..12).prop_map(|w| w.concat() + "。");
    prop::collection::vec(sentence, 3..8).prop_map(|s| s.concat())
}

const SIMPLIFIED: &[&str] = &[
    "上海", "宝山", "发展", "经济", "城市", "建设", "项目", "政府", "表示", "今年", "企业", "市场", "科技", "创新", "推进", "我们", "记者",
    "工作", "群众", "社会", "国家", "全面", "加快", "投资", "产业", "服务", "提高", "，", "的", "了", "在",
];
const TRADITIONAL: &[&str] = &[
    "上海", "寶山", "發展", "經濟", "城市", "建設", "項目", "政府", "表示", "今年", "企業", "市場", "科技", "創新", "推進", "我們", "記者",
    "工作", "群眾", "社會", "國家", "全面", "加快", "投資", "產業", "服務", "提高", "，", "的", "了", "在",
];

/// `text` without whitespace: cleaning folds the spaces of web pages, nothing else.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_article(&Origin::Stdin, &bytes, &ReadOptions::default())
            .map(|article| extractive_brief(&article, &ExtractOptions::default()));
    }

    #[test]
    fn key_points_are_distinct_sentences_of_the_input_in_its_order(text in newsish()) {
        if let Ok(article) = parse_article(&Origin::Stdin, text.as_bytes(), &ReadOptions::default()) {
            let brief = extractive_brief(&article, &ExtractOptions::default());
            let input = squeezed(&text);
            let mut from = 0;
            for point in &brief.key_points {
                let point = squeezed(point);
                prop_assert!(!point.is_empty());
                let at = input[from..].find(&point);
                prop_assert!(at.is_some(), "{point:?} is not in the input after byte {from}: {input:?}");
                from += at.unwrap_or(0) + point.len();
            }
        }
    }

    #[test]
    fn utf16_round_trips_with_its_bom(text in "[\\u4e00-\\u9fa5，。！？a-z0-9 ]{40,200}") {
        // encoding_rs encodes to UTF-16 as UTF-8 (the WHATWG rule), so UTF-16 is built by hand.
        let little: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let big: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        for (bytes, expected) in [(little, UTF_16LE), (big, UTF_16BE)] {
            let decoded = decode(&bytes, None).unwrap();
            prop_assert_eq!((&decoded.text, decoded.encoding), (&text, expected));
        }
    }

    #[test]
    fn legacy_encodings_are_detected(simplified in sentences(SIMPLIFIED), traditional in sentences(TRADITIONAL)) {
        let (gb, _, unmappable) = GB18030.encode(&simplified);
        prop_assert!(!unmappable);
        prop_assert_eq!(decode(&gb, None).unwrap().text, simplified);
        let (big5, _, unmappable) = BIG5.encode(&traditional);
        prop_assert!(!unmappable);
        prop_assert_eq!(decode(&big5, None).unwrap().text, traditional);
    }
}
