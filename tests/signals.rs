//! Signals: a closed stdout pipe ends quietly; Ctrl-C stops a batch cleanly with whole briefs.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fixture_text;

fn corpus(dir: &std::path::Path, count: usize) {
    let good = fixture_text("baoshan.txt");
    for i in 0..count {
        std::fs::write(
            dir.join(format!("a{i:04}.txt")),
            good.replace("点击:94次", &format!("点击:{i}次")).replace("上一篇", &format!("第{i}篇补充。\n上一篇")),
        )
        .unwrap();
    }
}

#[test]
fn closed_pipe_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    corpus(tmp.path(), 50);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("zhbrief"))
        .arg(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap(); // then drop: `| head -1`
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("# "));
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn ctrl_c_stops_a_batch_with_complete_briefs() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    corpus(&input, 1500);
    let child = Command::new(assert_cmd::cargo::cargo_bin("zhbrief"))
        .args(["-j1", "--progress", "never", "--out"])
        .arg(&out)
        .arg(&input)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let written = || {
        std::fs::read_dir(&out)
            .map(|d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "md")).count())
            .unwrap_or(0)
    };
    while written() < 10 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let briefs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    assert!(briefs.len() < 1500, "stopped early: {}", briefs.len());
    for brief in briefs {
        let text = std::fs::read_to_string(&brief).unwrap();
        assert!(text.starts_with("<!-- zhbrief ") && text.trim_end().ends_with("产业"), "{} is whole", brief.display());
    }
}
