//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod stub;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The built `zhbrief` binary, with a clean environment for reproducible runs.
pub fn zhbrief() -> Command {
    let mut cmd = Command::cargo_bin("zhbrief").expect("binary is built");
    cmd.env_remove("ZHBRIEF_CONFIG").env("NO_COLOR", "1");
    cmd
}

/// Path of a file under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Contents of a fixture as text.
pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture is readable UTF-8")
}

/// Runs zhbrief with `args`, returning (exit code, stdout, stderr).
pub fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let output = zhbrief().args(args).output().expect("zhbrief runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    )
}

/// Encodes text as UTF-16 with a BOM, little- or big-endian.
pub fn utf16_with_bom(text: &str, little_endian: bool) -> Vec<u8> {
    let mut bytes = if little_endian { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&if little_endian { unit.to_le_bytes() } else { unit.to_be_bytes() });
    }
    bytes
}

/// Every file under `dir` with its bytes, keyed by relative path.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Whether `text` has a Han character.
pub fn has_han(text: &str) -> bool {
    text.chars().any(zhbrief::text::is_han)
}

/// The English of a JSON brief: title, key points and summary, one per line.
pub fn english_of(brief: &serde_json::Value) -> String {
    let translation = &brief["translation"];
    let mut english = vec![translation["title"].as_str().unwrap().to_string()];
    english.extend(translation["key_points"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()));
    english.push(translation["summary"].as_str().unwrap().to_string());
    english.join("\n")
}
