#!/usr/bin/env bash
# Translation benchmark: seconds per segment and peak memory of `zhbrief translate` with default
# flags (8 candidates, back-translation scoring) on the first WMT22 development segments.
# usage: scripts/bench-translate.sh [COUNT [MODEL]]   (default 10 segments, the default model)
# ZHBRIEF=path/to/binary times another build; EVAL_DIR defaults to ../shared/eval.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10}
model=${2:-qwen2.5-coder-0.5b-instruct-q4_k_m}
eval_dir=${EVAL_DIR:-../shared/eval}
source scripts/lib/bench.sh
head -n "$count" "$eval_dir/mt/wmt22_zh-en_news.src.zh" > "$work/in.zh"
# One short line first puts the model file in the page cache: the timing is of the model, not the disk.
echo "一。" > "$work/warm.zh"
"$ZHBRIEF" translate --model "$model" --candidates 1 "$work/warm.zh" >/dev/null
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" "$ZHBRIEF" translate --model "$model" "$work/in.zh" > "$work/out.en"
end=$(date +%s.%N)
python3 - "$model" "$count" "$start" "$end" "$(cat "$work/rss")" "$(sha256sum < "$work/out.en" | cut -c1-16)" <<'PY'
import sys
model, count, start, end, rss, digest = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
secs = end - start
print(f"{model}: {count} segments in {secs:.1f} s, {secs / count:.1f} s per segment, peak RSS {rss / 1024:.0f} MiB, output sha256 {digest}")
PY
