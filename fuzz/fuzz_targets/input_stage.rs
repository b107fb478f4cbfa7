//! Fuzz target: the whole input stage and extractive pipeline on arbitrary bytes —
//! decode → clean (text or HTML) → segment → extract → render. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhbrief::Origin;
use zhbrief::brief::extractive_brief;
use zhbrief::extract::ExtractOptions;
use zhbrief::input::{ReadOptions, parse_article};
use zhbrief::render;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(article) = parse_article(&Origin::Stdin, bytes, &ReadOptions::default()) {
        let brief = extractive_brief(&article, &ExtractOptions::default());
        for point in &brief.key_points {
            assert!(article.text.contains(point.as_str()), "key point not verbatim");
        }
        let _ = render::markdown(&brief);
        let _ = render::json(&brief, false);
    }
});
