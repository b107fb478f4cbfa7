//! The model stage on an OpenAI-compatible engine, through the binary.
//!
//! Faults are injected by a small HTTP server this test owns (a real server will not fail on
//! demand): 429 with `Retry-After`, 500, a hang, a dropped connection, a truncated or non-JSON
//! body. The engine itself is tested against llama.cpp's real server, which `scripts/test.sh`
//! starts on loopback and names in `ZHBRIEF_TEST_ENGINE` (ignored unless asked for).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::stub::{Reply, Seen, Stub};
use common::{english_of, fixture, fixture_text, has_han, snapshot, zhbrief};

const SECRET: &str = "sk-zhbrief-test-secret-7f3a";

/// English for a request, a function of the request alone (so runs can be compared byte for byte).
fn english_for(seen: &Seen) -> Reply {
    Reply::Text(format!("The district reported progress on item {}.", seen.body.len() % 97))
}

/// A short article about `town`: every unit to translate names it.
fn article(town: &str) -> String {
    format!(
        "{town}推进城市更新\n\n{town}今年启动城市更新项目二十个，总投资超过一百亿元，惠及居民三万户。\n\n\
         {town}住建局表示，将在年底前完成全部项目的开工建设，确保老旧小区改造按期交付。\n\n\
         {town}还将新建公园十座，让居民在家门口享受绿色空间。\n"
    )
}

fn engine_args<'a>(stub: &'a Stub, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--translate", "--candidates", "1", "--engine", stub.url.as_str(), "--engine-model", "stub-model"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn retries_honour_retry_after_and_back_off_and_the_key_is_sent_never_shown() {
    let stub = Stub::start(|seen, n| match n {
        0 => Reply::Status(429, Some(1)),
        1 => Reply::Status(503, None),
        _ => english_for(seen),
    });
    let output = zhbrief()
        .env("ZHBRIEF_API_KEY", SECRET)
        .args(engine_args(&stub, &["-v"]))
        .write_stdin(article("甲镇"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("## English") && stdout.contains("The district reported progress"), "{stdout}");
    let work = stub.work();
    assert!(work.len() >= 4, "the first two attempts failed, then every unit was translated: {}", work.len());
    // The first unit was asked three times: 429 said wait a second, 503 backs off (≥ 250 ms).
    assert_eq!(work[0].body, work[1].body);
    assert_eq!(work[1].body, work[2].body);
    assert!(work[1].at - work[0].at >= Duration::from_millis(950), "Retry-After honoured: {:?}", work[1].at - work[0].at);
    assert!(work[2].at - work[1].at >= Duration::from_millis(240), "backed off: {:?}", work[2].at - work[1].at);
    // Every request carries the key; no output shows it.
    for seen in stub.all() {
        assert_eq!(seen.authorization.as_deref(), Some(format!("Bearer {SECRET}").as_str()), "{}", seen.path);
    }
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    // The same messages zhbrief renders for its own model go out as chat messages.
    let body: serde_json::Value = serde_json::from_str(&work[0].body).unwrap();
    assert_eq!(body["model"], "stub-model");
    assert!(body["messages"].as_array().unwrap().iter().any(|m| m["role"] == "user" && has_han(m["content"].as_str().unwrap())));
}

#[test]
fn an_engine_that_keeps_failing_is_one_line_naming_article_and_engine_exit_69_and_no_brief() {
    type Fault = fn() -> Reply;
    let faults: [(&str, Fault, usize); 5] = [
        ("500", || Reply::Status(500, None), 2),
        ("hang", || Reply::Hang, 2),
        ("dropped connection", || Reply::Drop, 2),
        ("truncated body", || Reply::Truncated, 2),
        // A malformed answer will not be fixed by asking again: no retry.
        ("not JSON", || Reply::NotJson, 1),
    ];
    for (name, fault, attempts) in faults {
        let stub = Stub::start(move |_, _| fault());
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("乙镇.txt");
        std::fs::write(&input, article("乙镇")).unwrap();
        let started = Instant::now();
        let output = zhbrief()
            .env("OPENAI_API_KEY", SECRET)
            .args(engine_args(&stub, &["--engine-retries", "1", "--engine-timeout", "2"]))
            .arg(&input)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(69), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}: no half brief");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        assert!(stderr.contains(&stub.url) && stderr.contains("乙镇.txt"), "{name}: names engine and article: {stderr}");
        assert!(!stderr.contains(SECRET));
        assert_eq!(stub.work().len(), attempts, "{name}: attempts");
        assert!(started.elapsed() < Duration::from_secs(30), "{name}: bounded by the timeout and retries");
    }
}

#[test]
fn in_a_batch_a_failing_article_loses_nothing_and_a_rerun_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    for town in ["甲镇", "乙镇", "丙镇"] {
        std::fs::write(input.join(format!("{town}.txt")), article(town)).unwrap();
    }
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let stub = Stub::start(move |seen, _| {
        if seen.body.contains("丙镇") && !flag.load(Ordering::Relaxed) { Reply::Status(500, None) } else { english_for(seen) }
    });
    let run = || {
        let output = zhbrief()
            .args(engine_args(&stub, &["--engine-retries", "1", "--progress", "never", "--out"]))
            .arg(&out)
            .arg(&input)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stderr).unwrap())
    };
    let (code, stderr) = run();
    assert_eq!(code, Some(69), "{stderr}");
    let failures: Vec<&str> = stderr.lines().filter(|l| l.contains(&stub.url)).collect();
    assert_eq!(failures.len(), 1, "{stderr}");
    assert!(failures[0].contains("丙镇.txt"), "{stderr}");
    assert!(stderr.contains("2 written, 0 unchanged, 1 failed"), "{stderr}");
    let written = snapshot(&out);
    for town in ["甲镇", "乙镇"] {
        let brief = String::from_utf8(written[&PathBuf::from(format!("{town}.md"))].clone()).unwrap();
        assert!(brief.contains(&format!("# {town}推进城市更新")) && brief.contains("## English"), "whole brief: {brief}");
    }
    assert!(!written.contains_key(&PathBuf::from("丙镇.md")), "no half brief");

    healthy.store(true, Ordering::Relaxed);
    let (code, stderr) = run();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 written, 2 unchanged, 0 failed"), "{stderr}");
    let rerun = snapshot(&out);
    assert!(rerun.contains_key(&PathBuf::from("丙镇.md")));
    for town in ["甲镇", "乙镇"] {
        let path = PathBuf::from(format!("{town}.md"));
        assert_eq!(rerun[&path], written[&path], "{town}: untouched by the rerun");
    }
}

#[test]
fn many_requests_in_flight_change_neither_order_nor_bytes() {
    let stub = Stub::start(|seen, _| {
        // Slow enough that requests overlap when several are in flight.
        std::thread::sleep(Duration::from_millis(100));
        english_for(seen)
    });
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (i, town) in ["甲镇", "乙镇", "丙镇", "丁镇", "戊镇", "己镇"].iter().enumerate() {
        std::fs::write(input.join(format!("{i}.txt")), article(town)).unwrap();
    }
    let run = |jobs: &str| {
        let output = zhbrief().args(engine_args(&stub, &["-j", jobs])).arg(&input).timeout(Duration::from_secs(120)).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let one = run("1");
    let eight = run("8");
    assert!(stub.most_in_flight.load(Ordering::SeqCst) >= 4, "-j8: several in flight");
    assert_eq!(String::from_utf8(eight).unwrap(), String::from_utf8(one.clone()).unwrap());
    // Stdout keeps input order.
    let text = String::from_utf8(one).unwrap();
    let positions: Vec<usize> =
        ["# 甲镇", "# 乙镇", "# 丙镇", "# 丁镇", "# 戊镇", "# 己镇"].iter().map(|t| text.find(t).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn sampled_candidates_go_as_one_request_for_several_choices_where_the_engine_offers_n() {
    let stub = Stub::start(|seen, _| english_for(seen));
    stub.offers_choices.store(true, Ordering::Relaxed);
    let output = zhbrief()
        .args(["--translate", "--candidates", "4", "--format", "json", "--engine", &stub.url, "--engine-model", "stub-model"])
        .write_stdin(article("甲镇"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let brief: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let units = 1 + brief["key_points"].as_array().unwrap().len();
    // Per unit: the greedy candidate, then the three sampled ones as one request with n = 3.
    let work = stub.work();
    assert_eq!(work.len(), 2 * units, "two requests per unit");
    let asked: Vec<serde_json::Value> = work.iter().map(|w| serde_json::from_str(&w.body).unwrap()).collect();
    assert_eq!(asked.iter().filter(|a| a["n"] == 3 && a["seed"].is_u64()).count(), units);
    assert_eq!(asked.iter().filter(|a| a["n"].is_null() && a["temperature"] == 0.0).count(), units);
}

#[test]
fn ctrl_c_stops_retrying_at_once() {
    let stub = Stub::start(|_, _| Reply::Status(503, None));
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), article("甲镇")).unwrap();
    // Twenty retries with doubling backoff would take many minutes.
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("zhbrief"))
        .args(engine_args(&stub, &["--engine-retries", "20", "--progress", "never", "--out"]))
        .arg(&out)
        .arg(&input)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while stub.work().len() < 3 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stub.work().len() >= 3, "retrying");
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let interrupted = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(interrupted.elapsed() < Duration::from_secs(5), "stopped at once: {:?}", interrupted.elapsed());
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!out.join("a.md").exists(), "no half brief");
}

#[test]
fn a_missing_engine_is_exit_69_before_any_article() {
    // A port nothing listens on: bind one, then free it.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    let output = zhbrief()
        .args(["--translate", "--engine", &url, "--engine-retries", "0"])
        .write_stdin(article("甲镇"))
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains(&url) && stderr.contains("connection"), "{stderr}");
    assert!(output.stdout.is_empty());
    let output = zhbrief().args(["engine", "check", &url]).timeout(Duration::from_secs(30)).output().unwrap();
    assert_eq!(output.status.code(), Some(69));
}

#[test]
fn engine_check_says_what_a_minimal_engine_lacks() {
    let stub = Stub::start(|seen, _| english_for(seen));
    let output = zhbrief().args(["engine", "check", &stub.url]).timeout(Duration::from_secs(30)).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("stub-model"), "{stdout}");
    for missing in ["Han-free English (grammar)    no", "several choices (n)           no", "log-probabilities of text     no"] {
        assert!(stdout.contains(missing), "{missing}: {stdout}");
    }
}

/// The real engine `scripts/test.sh` started, e.g. `http://127.0.0.1:PORT/v1`.
fn real_engine() -> String {
    std::env::var("ZHBRIEF_TEST_ENGINE").expect("ZHBRIEF_TEST_ENGINE names a running server: run scripts/test.sh")
}

#[test]
#[ignore = "needs a real engine; scripts/test.sh starts llama.cpp's server"]
fn real_engine_check_finds_grammar_and_log_probabilities() {
    let url = real_engine();
    let output = zhbrief().args(["engine", "check", &url]).timeout(Duration::from_secs(300)).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Han-free English (grammar)    yes"), "{stdout}");
    assert!(stdout.contains("log-probabilities of text     yes"), "{stdout}");
}

#[test]
#[ignore = "needs a real engine; scripts/test.sh starts llama.cpp's server"]
fn real_engine_briefs_and_translates_the_real_article() {
    let url = real_engine();
    let output = zhbrief()
        .args(["--abstractive", "--translate", "--candidates", "2", "--format", "json", "-v", "--engine", &url])
        .arg(fixture("baoshan.txt"))
        .timeout(Duration::from_secs(1800))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let brief: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let article = fixture_text("baoshan.txt");
    let summary = brief["summary"].as_array().unwrap();
    assert!(!summary.is_empty());
    for sentence in summary {
        let text = sentence["text"].as_str().unwrap();
        assert!(has_han(text), "a Chinese summary: {text}");
        if sentence["extractive_fallback"].as_bool().unwrap() {
            assert!(article.contains(text));
        }
    }
    let all = english_of(&brief);
    assert!(!has_han(&all), "Han-free English: {all}");
    assert!(all.contains("Baoshan"), "the glossary reaches the engine: {all}");
    // Two candidates per unit, chosen by back-translation scores the engine gave.
    assert!(stderr.contains("translation candidate 1"), "{stderr}");
}

#[test]
#[ignore = "needs a real engine; scripts/test.sh starts llama.cpp's server"]
fn real_engine_batch_with_requests_in_flight_matches_one_at_a_time() {
    let url = real_engine();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("news");
    std::fs::create_dir(&input).unwrap();
    for (i, town) in ["甲镇", "乙镇", "丙镇"].iter().enumerate() {
        std::fs::write(input.join(format!("{i}.txt")), article(town)).unwrap();
    }
    std::fs::copy(fixture("china_news1.html"), input.join("3.html")).unwrap();
    let run = |jobs: &str, out: &Path| {
        let output = zhbrief()
            .args(["--translate", "--candidates", "1", "--progress", "never", "--engine", &url, "-j", jobs, "--out"])
            .arg(out)
            .arg(&input)
            .timeout(Duration::from_secs(1800))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        snapshot(out)
    };
    let (parallel, serial) = (tmp.path().join("j4"), tmp.path().join("j1"));
    let four = run("4", &parallel);
    assert_eq!(four.len(), 5, "four briefs and the index: {:?}", four.keys());
    for (path, bytes) in &four {
        let text = String::from_utf8(bytes.clone()).unwrap();
        if let Some(english) = text.split("## English").nth(1) {
            assert!(!has_han(english), "{}: Han-free English: {english}", path.display());
        } else {
            assert_eq!(path, Path::new("index.md"), "{}: every brief is translated", path.display());
        }
    }
    // The same briefs, in the same places, whatever the number in flight. Their English need not
    // be the same bytes: even one request at a time, llama.cpp's prompt cache changes its numbers
    // with the order requests come in (the stub test above proves zhbrief's side).
    let one = run("1", &serial);
    assert_eq!(one.keys().collect::<Vec<_>>(), four.keys().collect::<Vec<_>>());
    // The Chinese side: the brief before its English, its header without the record of what the
    // English could not trace, which follows the English.
    let chinese = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).split("## English").next().unwrap().to_string();
        match text.strip_prefix("<!-- zhbrief ").and_then(|t| t.split_once(" -->\n")) {
            Some((header, body)) => {
                let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
                header.as_object_mut().unwrap().remove("untraced");
                format!("{header}\n{body}")
            }
            None => text,
        }
    };
    for (path, bytes) in &one {
        assert_eq!(chinese(bytes), chinese(&four[path]), "{}", path.display());
    }
    // Up to date for --check, which needs neither model nor server once the model is named.
    let model = zhbrief().args(["engine", "check", &url]).output().unwrap();
    let model = String::from_utf8(model.stdout).unwrap();
    let model = model.lines().find_map(|l| l.strip_prefix("model")).unwrap().trim().to_string();
    zhbrief()
        .args(["--translate", "--candidates", "1", "--check", "--engine", "http://127.0.0.1:9/v1", "--engine-model", &model, "--out"])
        .arg(&parallel)
        .arg(&input)
        .assert()
        .success();
}
