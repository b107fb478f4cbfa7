#!/usr/bin/env bash
# The whole test suite: unit and integration tests, plus the real-model tests, after fetching the
# default model (idempotent: a verified model is not fetched again). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
cargo test --release --locked -- --include-ignored
