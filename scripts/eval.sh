#!/usr/bin/env bash
# Quality harness: prints one table (translation, headlines/extractive, faithfulness) measured on
# the public development data in ../shared/eval. Installs sacreBLEU from PyPI into a cache venv.
#
# usage: scripts/eval.sh [--model NAME] [--limit N] [--first K] [--no-model] [--translation-only] [--pages-only]
#                        [--save DIR] [--translations DIR]
#   --limit N    only the first N WMT22 segments and N articles (quick runs; the table says so)
#   --first K    WMT22 segments from the K-th (1-based), so a long run can be split
#   --no-model   only what needs no model (extractive ROUGE against Lead-1)
#   --translation-only  only the WMT22 translation rows
#   --pages-only only the input stage on ../shared/eval/html-peer (title, date, author, body)
#   --pages-detail      with it, each page's fields beside their labels on stderr
#   --save DIR   also write the translations to DIR (zhbrief.en, plain.en)
#   --translations DIR  score the zhbrief.en and plain.en in DIR (split runs joined) instead
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ZHBRIEF_EVAL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhbrief/eval-venv}
if ! "$venv/bin/python" -c 'import sacrebleu' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet sacrebleu==2.4.3
fi
cargo build --release --quiet
"$venv/bin/python" scripts/eval.py --zhbrief target/release/zhbrief --eval-dir ../shared/eval "$@"
