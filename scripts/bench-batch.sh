#!/usr/bin/env bash
# Extractive batch benchmark: articles/s and peak memory of `zhbrief --out` over a few thousand
# real articles built from ../shared/eval, then the same rerun (everything up to date).
# usage: scripts/bench-batch.sh [COUNT]   (default 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
python3 scripts/make-corpus.py "$work/in" "$count" >/dev/null
bytes=$(du -sb "$work/in" | cut -f1)

measure() {  # label, then the command; prints articles/s, MB/s and peak RSS
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/log" || true
  end=$(date +%s.%N)
  python3 - "$label" "$start" "$end" "$count" "$bytes" "$(cat "$work/rss")" <<'PY'
import sys
label, start, end, count, size, rss = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
secs = end - start
print(f"{label:<28} {count} articles  {secs:7.2f} s  {count / secs:8.0f} articles/s  {size / secs / 1e6:6.1f} MB/s  peak RSS {rss / 1024:6.1f} MiB")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
measure "first run (-j $(nproc))" target/release/zhbrief --progress never --out "$work/out" "$work/in"
tail -n1 "$work/log"
measure "rerun, all up to date" target/release/zhbrief --progress never --out "$work/out" "$work/in"
tail -n1 "$work/log"
rm -rf "$work/out"
measure "first run (-j 1)" target/release/zhbrief -j1 --progress never --out "$work/out" "$work/in"
