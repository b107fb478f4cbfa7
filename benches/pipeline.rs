//! Throughput of the extractive pipeline (decode → clean → segment → extract → render) on the
//! development data in `../shared/eval` (falling back to the test fixtures in a bare clone).
//!
//! Run with `cargo bench --bench pipeline`; criterion prints MiB/s and articles/s.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zhbrief::Origin;
use zhbrief::extract::ExtractOptions;
use zhbrief::input::{ReadOptions, parse_article};
use zhbrief::pipeline::extractive_brief;
use zhbrief::render;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/eval");
    let files: Vec<PathBuf> = if shared.is_dir() {
        vec![
            shared.join("articles/baoshan-north-transformation.txt"),
            shared.join("html/china_news1.html"),
            shared.join("html/netease_news1.html"),
        ]
    } else {
        ["baoshan.txt", "china_news1.html", "netease_news1.html"].iter().map(|f| root.join("tests/fixtures").join(f)).collect()
    };
    files.into_iter().map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())).collect()
}

fn pipeline(c: &mut Criterion) {
    let options = ReadOptions::default();
    let extract = ExtractOptions::default();
    let brief = |bytes: &[u8]| {
        let article = parse_article(&Origin::Stdin, bytes, &options).unwrap();
        render::markdown(&extractive_brief(&article, &extract))
    };
    // Warm the shared jieba dictionary so it is not counted against the first article.
    let corpus = corpus();
    brief(&corpus[0].1);

    let mut by_bytes = c.benchmark_group("pipeline_bytes");
    for (name, bytes) in &corpus {
        by_bytes.throughput(Throughput::Bytes(bytes.len() as u64));
        by_bytes.bench_function(name, |b| b.iter(|| brief(bytes)));
    }
    by_bytes.finish();

    let mut by_article = c.benchmark_group("pipeline_articles");
    by_article.throughput(Throughput::Elements(corpus.len() as u64));
    by_article.bench_function("all_dev_articles", |b| b.iter(|| corpus.iter().map(|(_, bytes)| brief(bytes).len()).sum::<usize>()));
    by_article.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
