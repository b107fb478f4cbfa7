//! Fuzz target: the whole input stage and extractive pipeline on arbitrary bytes —
//! decode → clean (text or HTML) → segment → extract → render. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhbrief::Origin;
use zhbrief::extract::ExtractOptions;
use zhbrief::input::{ReadOptions, parse_article};
use zhbrief::pipeline::extractive_brief;
use zhbrief::render;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(article) = parse_article(&Origin::Stdin, bytes, &ReadOptions::default()) {
        let brief = extractive_brief(&article, &ExtractOptions::default());
        for (i, point) in brief.key_points.iter().enumerate() {
            assert!(!point.trim().is_empty() && !point.contains('\n'), "a key point is one non-empty sentence");
            assert!(!brief.key_points[..i].contains(point), "a key point is repeated");
        }
        // Markdown cannot be broken out of: every key point is one list item.
        let markdown = render::markdown(&brief);
        assert_eq!(markdown.lines().filter(|l| l.starts_with("- ")).count(), brief.key_points.len());
        let _: serde_json::Value = serde_json::from_str(&render::json(&brief, false)).expect("JSON parses");
    }
});
