//! Hostile and broken input: one folder holding every kind of bad file next to one good article.
//! Nothing may panic, hang or write outside `--out`; each bad file gets one error line; the good
//! brief is written; time and memory stay bounded.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{fixture_text, zhbrief};
use encoding_rs::{GB18030, GBK};

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Peak resident memory of this test process's waited-for children, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as u64 * 1024
}

#[test]
fn hostile_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, outside) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("outside"));
    std::fs::create_dir_all(input.join("loop")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let good = fixture_text("baoshan.txt");
    let paragraphs: Vec<&str> = good.lines().filter(|l| l.trim().chars().count() > 30).collect();

    // Inputs that must fail, each with one error line.
    write(&input, "empty.txt", "");
    write(&input, "whitespace.txt", " \n\t\u{3000}\n  ");
    write(&input, "random.txt", (0..65536u32).map(|i| (i.wrapping_mul(2654435761).rotate_left(7) >> 3) as u8).collect::<Vec<_>>());
    write(&input, "nul.txt", vec![0u8; 4096]);
    write(&input, "chrome-only.txt", "返回首页\n上一篇：甲   下一篇：乙\n------分隔线------\n推广信息\n热门文章\n点击：12次\n");
    let huge: String = (0..40_000).map(|i| format!("第{i}段：{}\n", paragraphs[i % paragraphs.len()])).collect();
    assert!(huge.len() > 17 * 1024 * 1024);
    write(&input, "huge.txt", &huge);
    std::os::unix::fs::symlink(tmp.path().join("nowhere.txt"), input.join("dangling.txt")).unwrap();
    std::os::unix::fs::symlink(&input, input.join("loop/back")).unwrap();
    // The brief of escape/x.txt would land in out/escape, a link planted to lead outside.
    std::fs::create_dir_all(input.join("escape")).unwrap();
    write(&input.join("escape"), "x.txt", &good);
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("escape")).unwrap();
    let must_fail =
        ["empty.txt", "whitespace.txt", "random.txt", "nul.txt", "chrome-only.txt", "huge.txt", "dangling.txt", "loop/back", "escape/x.md"];

    // Inputs that must work.
    write(&input, "good.txt", &good);
    write(&input, "gb18030-cut.txt", &GB18030.encode(&good).0[..GB18030.encode(&good).0.len() - 1]);
    let utf16: Vec<u8> = good.encode_utf16().flat_map(u16::to_le_bytes).collect();
    write(&input, "utf16-no-bom.txt", utf16);
    write(&input, "html-in-disguise.txt", std::fs::read(common::fixture("china_news1.html")).unwrap());
    write(&input, "text-in-disguise.html", &good);
    write(
        &input,
        "nested.html",
        format!("<html><body>{}<p>{}</p>{}</body></html>", "<div>".repeat(20_000), good.replace('\n', "</p><p>"), "</div>".repeat(20_000)),
    );
    write(
        &input,
        "unclosed.html",
        format!("<html><head><title>未闭合的页面</title><body><div><p>{}", good.replace('\n', "<p><span><div>")),
    );
    write(&input, "punctuation.txt", format!("{}\n{}\n{good}", "，".repeat(100_000), "。".repeat(100_000)));
    write(&input, "megabyte-line.txt", format!("{}。\n{good}", "宝山转型发展取得新进展，".repeat(90_000)));
    std::fs::write(input.join(std::ffi::OsStr::from_bytes(b"non-utf8-\xff\xfe.txt")), &good).unwrap();
    let must_work = [
        "good.md",
        "gb18030-cut.md",
        "utf16-no-bom.md",
        "html-in-disguise.md",
        "text-in-disguise.md",
        "nested.md",
        "unclosed.md",
        "punctuation.md",
        "megabyte-line.md",
    ];

    // Whatever they give, these must not crash: mixed encodings and NULs inside text.
    let half = good.char_indices().nth(good.chars().count() / 2).unwrap().0;
    let mut mixed = GBK.encode(&good[..half]).0.into_owned();
    mixed.extend_from_slice(&good.as_bytes()[half..]);
    write(&input, "mixed-encodings.txt", mixed);
    write(&input, "nul-inside.txt", good.replacen("宝山", "宝\0山", 3));

    let started = Instant::now();
    let output = zhbrief().args(["--progress", "never", "--out"]).arg(&out).arg(&input).timeout(Duration::from_secs(300)).output().unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().expect("exited, not killed by a signal");
    assert_eq!(code, 1, "some inputs failed, none crashed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for name in must_fail {
        let lines = stderr.lines().filter(|line| line.contains(name)).count();
        assert_eq!(lines, 1, "one error line for {name}:\n{stderr}");
    }
    for name in must_work {
        let brief = std::fs::read_to_string(out.join(name)).unwrap_or_else(|_| panic!("{name} written:\n{stderr}"));
        assert!(brief.contains("## 要点"), "{name} is a brief");
    }
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing written outside --out");
    let peak = children_peak_rss();
    println!("hostile folder: {:.1} s, peak RSS {} MiB", elapsed.as_secs_f64(), peak / (1 << 20));
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    assert!(peak < 2 << 30, "peak RSS {peak} bytes");
}

#[test]
fn huge_input_with_raised_cap_is_processed_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fixture_text("baoshan.txt");
    let paragraphs: Vec<&str> = good.lines().filter(|l| l.trim().chars().count() > 30).collect();
    let huge: String = (0..52_000).map(|i| format!("第{i}段：{}\n", paragraphs[i % paragraphs.len()])).collect();
    assert!(huge.len() > 25 * 1000 * 1000, "{}", huge.len());
    let path = tmp.path().join("huge.txt");
    std::fs::write(&path, &huge).unwrap();
    zhbrief().arg(&path).assert().code(65);
    let started = Instant::now();
    let output = zhbrief().args(["--max-input-bytes", "40000000"]).arg(&path).timeout(Duration::from_secs(300)).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let elapsed = started.elapsed();
    println!("25 MB input: {:.1} s, peak RSS {} MiB", elapsed.as_secs_f64(), children_peak_rss() / (1 << 20));
    assert!(children_peak_rss() < 2 << 30);
    assert!(elapsed < Duration::from_secs(120));
}
