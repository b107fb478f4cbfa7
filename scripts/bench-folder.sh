#!/usr/bin/env bash
# Bilingual batch benchmark: articles per hour and peak memory of `zhbrief --translate --out` over
# a folder of COUNT real-looking articles built from ../shared/eval (scripts/make-corpus.py), with
# default flags and whichever models scripts/fetch-model.sh has installed.
# usage: scripts/bench-folder.sh [COUNT [FLAGS...]]   (default 20 articles, `--translate`)
# ZHBRIEF=path/to/binary times another build; EVAL_DIR defaults to ../shared/eval.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20}
shift || true
flags=("$@")
[[ ${#flags[@]} -gt 0 ]] || flags=(--translate)
eval_dir=${EVAL_DIR:-../shared/eval}
source scripts/lib/bench.sh
python3 scripts/make-corpus.py "$work/in" "$count" "$eval_dir" >/dev/null
# One short article first puts the model files in the page cache: the timing is of the models.
echo "测试。这是一篇很短的文章，只有两句话。" > "$work/warm.txt"
"$ZHBRIEF" "${flags[@]}" "$work/warm.txt" >/dev/null
start=$(date +%s.%N)
status=0
/usr/bin/time -f '%M' -o "$work/rss" "$ZHBRIEF" "${flags[@]}" --progress never --out "$work/out" "$work/in" 2>"$work/log" || status=$?
end=$(date +%s.%N)
briefs=$(find "$work/out" -type f -name '*.md' ! -path "$work/out/index.md" | wc -l)
python3 - "${flags[*]}" "$count" "$briefs" "$status" "$start" "$end" "$(cat "$work/rss")" <<'PY'
import sys
flags, count, briefs, status, start, end, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
secs = end - start
print(f"zhbrief {flags}: {count} articles, {briefs} briefs (exit {status}) in {secs:.0f} s, "
      f"{count / secs * 3600:.0f} articles per hour, {secs / count:.1f} s per article, peak RSS {rss / 1024:.0f} MiB")
PY
