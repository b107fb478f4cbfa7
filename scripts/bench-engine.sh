#!/usr/bin/env bash
# Articles per minute through an OpenAI-compatible engine with 1, 4 and 8 requests in flight
# (--jobs), same folder, same flags, and whether the briefs are the same bytes for each.
#
# usage: scripts/bench-engine.sh [FOLDER] [ZHBRIEF FLAGS...]
#        defaults: the development news pages and article in ../shared/eval, `--translate
#        --candidates 1`; the engine is $ZHBRIEF_ENGINE, else llama.cpp's server started here on
#        loopback with the default model (llama-cpp-python, 2 threads).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/llama-server.sh
folder=${1:-}
shift || true
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--translate --candidates 1)
work=$(mktemp -d)
trap 'kill "${LLAMA_SERVER_PID:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -z "$folder" ]; then
  folder=$work/news
  mkdir -p "$folder"
  cp ../shared/eval/articles/*.txt ../shared/eval/html/*.html "$folder"/
  cp ../shared/eval/html-peer/pages/*.html "$folder"/ 2>/dev/null || true
fi
cargo build --release --quiet
engine=${ZHBRIEF_ENGINE:-}
if [ -z "$engine" ]; then
  start_llama_server "$(scripts/fetch-model.sh)"
  engine=$LLAMA_SERVER_URL
fi
articles=$(find "$folder" -type f \( -name '*.txt' -o -name '*.html' -o -name '*.htm' -o -name '*.md' \) | wc -l)
echo "engine $engine, $articles inputs in $folder, flags: ${flags[*]}"
echo "| in flight | seconds | articles/min | same bytes as 1 |"
echo "|---|---|---|---|"
for jobs in 1 4 8; do
  start=$(date +%s.%N)
  target/release/zhbrief --engine "$engine" "${flags[@]}" -j "$jobs" -q --out "$work/out$jobs" "$folder" || true
  end=$(date +%s.%N)
  briefs=$(find "$work/out$jobs" -type f ! -name index.md | wc -l)
  same=$(diff -r -q "$work/out1" "$work/out$jobs" >/dev/null && echo yes || echo no)
  python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f'| {sys.argv[3]} | {s:.0f} | {int(sys.argv[4]) * 60 / s:.1f} | {sys.argv[5]} |')" \
    "$start" "$end" "$jobs" "$briefs" "$same"
done
