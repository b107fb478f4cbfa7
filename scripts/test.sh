#!/usr/bin/env bash
# The whole test suite: unit and integration tests, plus the real-model tests after fetching the
# default model (idempotent: a verified model is not fetched again), and the engine tests against
# llama.cpp's OpenAI-compatible server started here on loopback with that model (built once, then
# cached) and stopped at the end, whatever happens. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/llama-server.sh
model=$(scripts/fetch-model.sh)
# Build before the server starts, so that compiling and serving do not share the two cores.
cargo test --release --locked --no-run
trap 'kill "${LLAMA_SERVER_PID:-}" 2>/dev/null || true; wait "${LLAMA_SERVER_PID:-}" 2>/dev/null || true' EXIT
start_llama_server "$model"
ZHBRIEF_TEST_ENGINE=$LLAMA_SERVER_URL cargo test --release --locked -- --include-ignored
