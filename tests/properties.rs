//! Property tests of the input stage and extractive pipeline (decode → clean → segment → extract).

use encoding_rs::{BIG5, GB18030, UTF_16BE, UTF_16LE};
use proptest::prelude::*;
use zhbrief::Origin;
use zhbrief::brief::extractive_brief;
use zhbrief::extract::ExtractOptions;
use zhbrief::input::{ReadOptions, decode::decode, parse_article};

/// Text that looks like Chinese news: Han characters, punctuation, digits, chrome words, newlines.
fn newsish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "宝山", "转型", "发展", "上海", "。", "，", "！", "？", "“", "”", "（", "）", "\n", "\n\n", " ", "2023", "10月23日",
        "来源：", "上一篇：", "返回首页", "点击：94次", "<p>", "</div>", "……", "记者", "表示", "项目", "6000万元",
    ]);
    prop::collection::vec(pieces, 0..200).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_article(&Origin::Stdin, &bytes, &ReadOptions::default())
            .map(|article| extractive_brief(&article, &ExtractOptions::default()));
    }

    #[test]
    fn key_points_are_verbatim_substrings_of_the_cleaned_text(text in newsish()) {
        if let Ok(article) = parse_article(&Origin::Stdin, text.as_bytes(), &ReadOptions::default()) {
            let brief = extractive_brief(&article, &ExtractOptions::default());
            for point in &brief.key_points {
                prop_assert!(article.text.contains(point.as_str()), "{point:?} not in {:?}", article.text);
            }
        }
    }

    #[test]
    fn known_encodings_round_trip(text in "[\\u4e00-\\u9fa5，。！？a-z0-9 ]{40,200}") {
        // encoding_rs encodes to UTF-16 as UTF-8 (the WHATWG rule), so UTF-16 is built by hand.
        let little: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let big: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        let (gb, _, unmappable) = GB18030.encode(&text);
        prop_assert!(!unmappable);
        for (bytes, expected) in [(little, UTF_16LE), (big, UTF_16BE), (gb.into_owned(), GB18030)] {
            let decoded = decode(&bytes, if expected == GB18030 { Some(GB18030) } else { None }).unwrap();
            prop_assert_eq!(&decoded.text, &text);
        }
        let (big5, _, unmappable) = BIG5.encode(&text);
        if !unmappable {
            prop_assert_eq!(decode(&big5, Some(BIG5)).unwrap().text, text);
        }
    }
}
