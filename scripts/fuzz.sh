#!/usr/bin/env bash
# Runs the input-stage fuzz target (fuzz/fuzz_targets/input_stage.rs) with cargo-fuzz on the stable
# toolchain (RUSTC_BOOTSTRAP lets stable accept the sanitizer flags), seeded with the test fixtures.
# usage: scripts/fuzz.sh [SECONDS]   (default 300); crashes land in fuzz/artifacts/input_stage/
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
corpus=fuzz/corpus/input_stage
mkdir -p "$corpus"
cp tests/fixtures/baoshan.txt tests/fixtures/baoshan-traditional.txt "$corpus/" 2>/dev/null || true
head -c 20000 tests/fixtures/china_news1.html > "$corpus/page-head.html"
export RUSTC_BOOTSTRAP=1
cargo fuzz run input_stage "$corpus" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=20 2>&1 | tail -n 25
