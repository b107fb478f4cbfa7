//! Folder batches and CI mode, driving the real binary.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{fixture, fixture_text, snapshot, zhbrief};
use predicates::prelude::*;

/// Builds a corpus: `count` distinct good articles spread over nested folders, plus bad files.
fn corpus(root: &Path, count: usize, with_bad: bool) {
    let article = fixture_text("baoshan.txt");
    for i in 0..count {
        let folder = root.join(format!("region{}/day{}", i % 3, i % 2));
        std::fs::create_dir_all(&folder).unwrap();
        // A distinct closing paragraph makes each article (and its brief fingerprint) unique.
        let text = article.replace("上一篇:", &format!("  第{i}号补充报道：宝山今年新增{i}个转型项目，带动投资稳步增长。\n\n上一篇:"));
        std::fs::write(folder.join(format!("article{i:04}.txt")), text).unwrap();
    }
    std::fs::copy(fixture("china_news1.html"), root.join("region0/page.html")).unwrap();
    if with_bad {
        std::fs::write(root.join("empty.txt"), "").unwrap();
        std::fs::write(root.join("region1/random.txt"), (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 9) as u8).collect::<Vec<_>>())
            .unwrap();
        std::fs::write(root.join("region2/chrome.txt"), "返回首页\n上一篇：甲   下一篇：乙\n------分隔线------\n推广信息\n热门文章\n")
            .unwrap();
        std::fs::write(root.join("region2/notes.csv"), "not,an,article\n").unwrap();
    }
}

fn briefs(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir).into_keys().filter(|p| p != Path::new("index.md")).collect()
}

#[test]
fn mirrored_tree_index_and_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    corpus(&input, 4, true);
    let assert = zhbrief().arg("--out").arg(&out).arg(&input).assert().code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    for bad in ["empty.txt: empty input", "random.txt: not text", "chrome.txt: no article text"] {
        assert_eq!(stderr.lines().filter(|l| l.contains(bad)).count(), 1, "one line for {bad}: {stderr}");
    }
    assert!(stderr.contains("5 written, 0 unchanged, 3 failed"), "{stderr}");
    assert!(assert.get_output().stdout.is_empty(), "batch mode prints no briefs on stdout");

    let written = briefs(&out);
    assert_eq!(written.len(), 5);
    assert!(written.contains(&PathBuf::from("region0/day0/article0000.md")));
    assert!(written.contains(&PathBuf::from("region0/page.md")));
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    assert!(index.contains("5 articles."));
    assert!(index.contains("](region1/day1/article0001.md)"));
    assert!(index.contains("【中国稳健前行】坚定实施扩大内需战略"));
    // Newest first.
    assert!(index.find("2023-10-24").unwrap() < index.find("2020-07-04").unwrap());
}

#[test]
fn rerun_changes_nothing_and_check_catches_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    corpus(&input, 6, false);
    zhbrief().arg("--out").arg(&out).arg(&input).assert().success();
    let first = snapshot(&out);

    zhbrief().arg("--out").arg(&out).arg(&input).assert().success().stderr(predicate::str::contains("0 written, 7 unchanged, 0 failed"));
    assert_eq!(snapshot(&out), first, "a rerun rewrites nothing");

    zhbrief().arg("--check").arg("--out").arg(&out).arg(&input).assert().success();
    assert_eq!(snapshot(&out), first);

    let edited = input.join("region1/day1/article0001.txt");
    let text = std::fs::read_to_string(&edited).unwrap().replace("宝山", "宝山区");
    std::fs::write(&edited, text).unwrap();
    std::fs::write(input.join("region2/new.txt"), fixture_text("baoshan.txt")).unwrap();
    zhbrief()
        .arg("--check")
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("article0001.md: brief stale"))
        .stderr(predicate::str::contains("new.md: brief missing"));
    assert_eq!(snapshot(&out), first, "--check writes nothing");

    // An index edited by hand (or left behind by shards) is stale too.
    std::fs::write(out.join("index.md"), "# Briefs\n").unwrap();
    std::fs::write(&edited, std::fs::read_to_string(&edited).unwrap().replace("宝山区", "宝山")).unwrap();
    std::fs::remove_file(input.join("region2/new.txt")).unwrap();
    zhbrief().arg("--check").arg("--out").arg(&out).arg(&input).assert().code(1).stderr(predicate::str::contains("index.md: index stale"));

    // Other flags make other briefs: the fingerprint covers them.
    zhbrief().arg("-n").arg("2").arg("--check").arg("--out").arg(&out).arg(&input).assert().code(1);
}

#[test]
fn json_briefs_and_flags_from_config() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    corpus(&input, 2, false);
    std::fs::write(tmp.path().join("zhbrief.toml"), "format = \"json\"\nsentences = 2\n").unwrap();
    zhbrief().current_dir(tmp.path()).arg("--out").arg("out").arg("in").assert().success();
    let brief: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("region0/day0/article0000.json")).unwrap()).unwrap();
    assert_eq!(brief["key_points"].as_array().unwrap().len(), 2);
    assert_eq!(brief["zhbrief"]["input"], "region0/day0/article0000.txt");
    // A flag beats the config file.
    zhbrief().current_dir(tmp.path()).args(["-n", "3", "--check", "--out", "out", "in"]).assert().code(1);
    // A typo in the config is a config error, exit 78, naming the file.
    std::fs::write(tmp.path().join("zhbrief.toml"), "sentence = 2\n").unwrap();
    zhbrief().current_dir(tmp.path()).args(["--out", "out", "in"]).assert().code(78).stderr(predicate::str::contains("zhbrief.toml"));
}

#[test]
fn shards_cover_every_input_once_and_index_rebuilds() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    corpus(&input, 12, false);
    let whole = tmp.path().join("whole");
    zhbrief().arg("--out").arg(&whole).arg(&input).assert().success();

    let merged = tmp.path().join("merged");
    let mut seen = Vec::new();
    for i in 1..=3 {
        let shard_out = tmp.path().join(format!("shard{i}"));
        zhbrief().arg("--shard").arg(format!("{i}/3")).arg("--out").arg(&shard_out).arg(&input).assert().success();
        assert!(!shard_out.join("index.md").exists(), "shards leave the index to `zhbrief index`");
        for (path, bytes) in snapshot(&shard_out) {
            seen.push(path.clone());
            std::fs::create_dir_all(merged.join(&path).parent().unwrap()).unwrap();
            std::fs::write(merged.join(&path), bytes).unwrap();
        }
    }
    seen.sort();
    let mut expected = briefs(&whole);
    expected.sort();
    assert_eq!(seen, expected, "shards are disjoint and together cover every input");
    zhbrief().arg("index").arg(&merged).assert().success();
    assert_eq!(snapshot(&merged), snapshot(&whole));
}

#[test]
fn fail_fast_stops_early() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    corpus(&input, 30, true);
    let assert = zhbrief().args(["-j1", "--fail-fast"]).arg("--out").arg(&out).arg(&input).assert().code(1);
    // `empty.txt` sorts before the region folders, so nothing after it is briefed.
    assert_eq!(briefs(&out), Vec::<PathBuf>::new());
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("empty.txt: empty input") && stderr.contains("0 written, 0 unchanged, 1 failed"), "{stderr}");
    // Without it, every good article is briefed past the bad ones.
    zhbrief().args(["-j1", "--fail-fast", "--keep-going"]).arg("--out").arg(&out).arg(&input).assert().code(1);
    assert_eq!(briefs(&out).len(), 31);
}

#[test]
fn kill_nine_leaves_no_truncated_brief_and_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, reference) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("reference"));
    corpus(&input, 400, false);
    zhbrief().arg("--out").arg(&reference).arg(&input).assert().success();
    let expected = snapshot(&reference);

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("zhbrief"))
        .args(["-j1", "--progress", "never", "--out"])
        .arg(&out)
        .arg(&input)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let count_briefs = |dir: &Path| {
        walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "md")).count()
    };
    while count_briefs(&out) < 20 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let partial = snapshot(&out);
    let finished: Vec<_> = partial.keys().filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    assert!(!finished.is_empty() && finished.len() < expected.len(), "killed mid-batch: {} briefs", finished.len());
    for path in finished {
        assert_eq!(Some(&partial[path]), expected.get(path), "{} is incomplete or wrong", path.display());
    }
    zhbrief().arg("--out").arg(&out).arg(&input).assert().success();
    let rerun: BTreeMap<_, _> = snapshot(&out).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "md")).collect();
    assert_eq!(rerun, expected);
}
