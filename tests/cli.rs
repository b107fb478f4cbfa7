//! The extractive pipeline end to end, driving the real binary.

mod common;

use std::ffi::OsStr;

use common::{fixture, fixture_text, run, utf16_with_bom, zhbrief};
use encoding_rs::{BIG5, GB18030};
use predicates::prelude::*;

const ARTICLE: &str = "baoshan.txt";

fn brief_of_bytes(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let (code, stdout, stderr) = run(&[path.as_os_str()]);
    assert_eq!(code, 0, "{name}: {stderr}");
    stdout
}

#[test]
fn real_article_brief() {
    let (code, stdout, stderr) = run(&[fixture(ARTICLE).as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "nothing on stderr for a good article: {stderr}");
    assert!(stdout.starts_with("# 奋进“北转型”上海宝山全力打造新时代现代化转型样本\n"));
    assert!(stdout.contains("2023-10-24 14:09 · 来源：互联网"));
    for chrome in ["返回首页", "上一篇", "下一篇", "分隔线", "推广信息", "热门文章", "点击", "94次"] {
        assert!(!stdout.contains(chrome), "page chrome {chrome:?} leaked into the brief");
    }
    insta::assert_snapshot!("baoshan_markdown", stdout);
}

#[test]
fn key_points_are_verbatim_in_article_order_without_repeats() {
    let (code, stdout, _) = run(&[OsStr::new("--format"), OsStr::new("json"), fixture(ARTICLE).as_os_str()]);
    assert_eq!(code, 0);
    let brief: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(brief["title"], "奋进“北转型”上海宝山全力打造新时代现代化转型样本");
    assert_eq!(brief["date"], "2023-10-24 14:09");
    assert_eq!(brief["source"], "互联网");
    assert_eq!(brief["author"], "唐奇云");
    let article = fixture_text(ARTICLE);
    let points: Vec<&str> = brief["key_points"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!((3..=5).contains(&points.len()), "{points:?}");
    let mut last_position = 0;
    for point in &points {
        let position = article.find(point).unwrap_or_else(|| panic!("not verbatim: {point}"));
        assert!(position >= last_position, "key points out of article order");
        last_position = position;
    }
    // The page repeats its lead as a last paragraph; the brief must not carry it twice.
    let lead_restated = "全力打造新时代现代化转型的样本。";
    assert!(points.iter().filter(|p| p.contains(lead_restated)).count() <= 1);
    let keywords = brief["keywords"].as_array().unwrap();
    assert!((5..=10).contains(&keywords.len()));
    assert!(keywords.iter().any(|k| k == "宝山"));
    insta::assert_snapshot!("baoshan_json", stdout);
}

#[test]
fn same_brief_from_every_encoding() {
    let text = fixture_text(ARTICLE);
    let expected = run(&[fixture(ARTICLE).as_os_str()]).1;
    let dir = tempfile::tempdir().unwrap();
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(text.as_bytes());
    let (gb18030, _, unmappable) = GB18030.encode(&text);
    assert!(!unmappable);
    let copies: [(&str, Vec<u8>); 4] = [
        ("utf8-bom.txt", with_bom),
        ("gb18030.txt", gb18030.into_owned()),
        ("utf16le.txt", utf16_with_bom(&text, true)),
        ("utf16be.txt", utf16_with_bom(&text, false)),
    ];
    for (name, bytes) in copies {
        assert_eq!(brief_of_bytes(&dir, name, &bytes), expected, "{name} gives a different brief");
    }
}

#[test]
fn big5_traditional_chinese() {
    let text = fixture_text("baoshan-traditional.txt");
    let (big5, _, unmappable) = BIG5.encode(&text);
    assert!(!unmappable);
    let dir = tempfile::tempdir().unwrap();
    let from_big5 = brief_of_bytes(&dir, "big5.txt", &big5);
    let from_utf8 = run(&[fixture("baoshan-traditional.txt").as_os_str()]).1;
    assert_eq!(from_big5, from_utf8);
    assert!(from_big5.starts_with("# 奮進“北轉型”上海寶山全力打造新時代現代化轉型樣本\n"), "{from_big5}");
    assert!(from_big5.contains("2023-10-24 14:09 · 来源：互聯網 · 作者：唐奇雲"));
    assert!(!from_big5.contains("返回首頁") && !from_big5.contains("熱門文章"));
}

#[test]
fn forced_encoding_overrides_detection() {
    let text = fixture_text(ARTICLE);
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gbk.txt");
    std::fs::write(&path, &gbk).unwrap();
    let expected = run(&[fixture(ARTICLE).as_os_str()]).1;
    zhbrief().arg("--encoding").arg("gbk").arg(&path).assert().success().stdout(expected);
    zhbrief().arg("--encoding").arg("no-such").arg(&path).assert().code(2).stderr(predicate::str::contains("no-such"));
}

#[test]
fn html_pages() {
    for (page, title, source) in [
        ("china_news1.html", "【中国稳健前行】坚定实施扩大内需战略", "求是网"),
        ("netease_news1.html", "美国新冠肺炎确诊病例超278万例 死亡129227例", "央视新闻客户端"),
    ] {
        let (code, stdout, stderr) = run(&[OsStr::new("--format"), OsStr::new("json"), fixture(page).as_os_str()]);
        assert_eq!(code, 0, "{page}: {stderr}");
        let brief: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(brief["title"], title);
        assert_eq!(brief["source"], source);
        let points = brief["key_points"].as_array().unwrap();
        assert!((3..=5).contains(&points.len()));
        for point in points {
            let point = point.as_str().unwrap();
            assert!(!point.contains('<') && !point.contains("var "), "markup or script in {point}");
        }
        let markdown = run(&[fixture(page).as_os_str()]).1;
        insta::assert_snapshot!(page.replace('.', "_"), markdown);
    }
}

#[test]
fn stdin_dash_and_pipe() {
    let expected = run(&[fixture(ARTICLE).as_os_str()]).1;
    let text = fixture_text(ARTICLE);
    zhbrief().write_stdin(text.clone()).assert().success().stdout(expected.clone());
    zhbrief().arg("-").write_stdin(text).assert().success().stdout(expected);
}

#[test]
fn deterministic_across_runs_and_thread_counts() {
    // Many articles, so that two workers really brief them out of order.
    let dir = tempfile::tempdir().unwrap();
    let article = fixture_text(ARTICLE);
    for i in 0..24 {
        std::fs::write(
            dir.path().join(format!("a{i:02}.txt")),
            article.replace("上一篇", &format!("第{i}号补充：宝山新增{i}个项目。\n上一篇")),
        )
        .unwrap();
    }
    std::fs::copy(fixture("china_news1.html"), dir.path().join("b.html")).unwrap();
    let brief = |jobs: &str| zhbrief().arg(jobs).arg(dir.path()).output().unwrap();
    let one = brief("-j1");
    assert!(one.status.success());
    assert_eq!(String::from_utf8_lossy(&one.stdout).matches("\n---\n").count(), 24, "25 briefs one after another");
    assert_eq!(brief("-j2").stdout, one.stdout);
    assert_eq!(brief("-j2").stdout, one.stdout, "and again");
}

#[test]
fn length_controls() {
    let (_, stdout, _) =
        run(&[OsStr::new("--format"), OsStr::new("json"), OsStr::new("-n"), OsStr::new("2"), fixture(ARTICLE).as_os_str()]);
    let brief: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(brief["key_points"].as_array().unwrap().len(), 2);
    let (_, stdout, _) =
        run(&[OsStr::new("--format"), OsStr::new("json"), OsStr::new("--max-chars"), OsStr::new("150"), fixture(ARTICLE).as_os_str()]);
    let brief: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let total: usize = brief["key_points"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().chars().count()).sum();
    assert!(total <= 150 && total > 0);
}

#[test]
fn bad_inputs_get_one_line_and_sysexits_codes() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "  \n").unwrap();
    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, (0..2048u32).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect::<Vec<_>>()).unwrap();
    let chrome = dir.path().join("chrome.txt");
    std::fs::write(&chrome, "返回首页\n上一篇：甲新闻   下一篇：乙新闻\n------分隔线------\n推广信息\n热门文章\n").unwrap();
    let missing = dir.path().join("missing.txt");
    for (path, code, reason) in
        [(&empty, 65, "empty input"), (&binary, 65, "not text"), (&chrome, 65, "no article text"), (&missing, 66, "no such file")]
    {
        let (actual, stdout, stderr) = run(&[path.as_os_str()]);
        assert_eq!(actual, code, "{}", path.display());
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(&path.display().to_string()) && stderr.contains(reason), "{stderr}");
    }
}

#[test]
fn several_inputs_keep_going_and_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let (code, stdout, stderr) = run(&[OsStr::new("--format"), OsStr::new("json"), empty.as_os_str(), fixture(ARTICLE).as_os_str()]);
    assert_eq!(code, 1);
    assert_eq!(stdout.lines().count(), 1, "one JSON line per brief");
    assert!(stdout.contains("宝山"));
    assert!(stderr.contains("empty.txt: empty input"));
}

/// The process runs on ordinary pages, without transparent huge pages (`without_huge_pages` in
/// `main.rs`): the buffers each decoding step frees and allocates were zeroed 2 MiB at a time.
#[cfg(all(target_os = "linux", feature = "model"))]
#[test]
fn runs_without_transparent_huge_pages() {
    use std::process::{Command, Stdio};
    // The binary waits for the article on stdin; meanwhile its status is read, at most 100 times.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("zhbrief"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut enabled = None;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        enabled = text.lines().find_map(|line| line.strip_prefix("THP_enabled:")).map(|v| v.trim().to_string());
        if enabled.as_deref() == Some("0") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child.stdin.take());
    child.wait().unwrap();
    assert_eq!(enabled.as_deref(), Some("0"), "THP_enabled in {status}");
}
