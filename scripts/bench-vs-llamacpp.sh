#!/usr/bin/env bash
# Side by side: zhbrief and llama.cpp (the llama-cpp-python package, built from source by pip; a
# peer for comparison, never a dependency of zhbrief) on the same GGUF, the same prompt text as a
# chat prompt, greedy generation of the same number of tokens, 2 threads, one after the other.
# Both shipped models, each on a long prompt (the real article) and a short one (its first 110
# characters), in one run; ratios are zhbrief's speed over llama.cpp's measured in that run.
# Then zhbrief alone decoding 8 sequences together on the short prompt (as translation
# candidates are): their aggregate tokens/s over its single-sequence speed on the same prompt.
#
# usage: scripts/bench-vs-llamacpp.sh [MAX_TOKENS] [PROMPT_FILE]
#        defaults: 64; the real article in ../shared/eval (or the test fixture)
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-64}
article=${2:-../shared/eval/articles/baoshan-north-transformation.txt}
[ -f "$article" ] || article=tests/fixtures/baoshan.txt
threads=2
models=(qwen2.5-coder-0.5b-instruct-q4_k_m qwen2.5-coder-1.5b-instruct-q4_k_m)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c 'import sys; sys.stdout.write(open(sys.argv[1], encoding="utf-8").read()[:110])' "$article" > "$work/short.txt"

source scripts/lib/llama-server.sh
python=$(llama_cpp_python)
cargo build --release --quiet

: > "$work/results.jsonl"
for name in "${models[@]}"; do
  model=$(scripts/fetch-model.sh "$name")
  for prompt in "$article" "$work/short.txt"; do
    length=$([ "$prompt" = "$article" ] && echo long || echo short)
    llama=$("$python" - "$model" "$prompt" "$tokens" "$threads" <<'PY'
import json, sys, time
import jinja2, llama_cpp
model, prompt_file, n_gen, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=model, n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
template = jinja2.Environment().from_string(llm.metadata["tokenizer.chat_template"])
text = template.render(messages=[{"role": "user", "content": open(prompt_file, encoding="utf-8").read()}], add_generation_prompt=True)
tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
start = time.perf_counter(); llm.eval(tokens); prompt_s = time.perf_counter() - start
start = time.perf_counter()
for _ in range(n_gen):
    token = llm.sample(temp=0.0)
    llm.eval([token])
gen_s = time.perf_counter() - start
print(json.dumps({"prompt_tokens": len(tokens), "prompt_tokens_per_s": len(tokens) / prompt_s, "gen_tokens_per_s": n_gen / gen_s}))
PY
)
    ours=$(target/release/zhbrief bench --model "$model" --prompt-file "$prompt" --max-tokens "$tokens" --format json \
      | python3 -c "import json, sys; print(json.dumps(json.load(sys.stdin)))")
    printf '{"model": "%s", "prompt": "%s", "llama": %s, "zhbrief": %s}\n' "$name" "$length" "$llama" "$ours" >> "$work/results.jsonl"
  done
  batched=$(target/release/zhbrief bench --model "$model" --prompt-file "$work/short.txt" --max-tokens "$tokens" --batch 8 --format json \
    | python3 -c "import json, sys; print(json.dumps(json.load(sys.stdin)))")
  printf '{"model": "%s", "batched": %s}\n' "$name" "$batched" >> "$work/batched.jsonl"
done

python3 - "$work/results.jsonl" "$tokens" "$work/batched.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
batched = [json.loads(line) for line in open(sys.argv[3])]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, 2 threads; {sys.argv[2]} greedy tokens generated")
print("| model | prompt (tokens) | llama.cpp prompt / gen tok/s | zhbrief prompt / gen tok/s | prompt ratio | generation ratio | zhbrief peak RSS |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    llama, ours = r["llama"], r["zhbrief"]
    print(f"| {r['model']} | {r['prompt']} ({ours['prompt_tokens']}) "
          f"| {llama['prompt_tokens_per_s']:.1f} / {llama['gen_tokens_per_s']:.1f} "
          f"| {ours['prompt_tokens_per_s']:.1f} / {ours['gen_tokens_per_s']:.1f} "
          f"| {ours['prompt_tokens_per_s'] / llama['prompt_tokens_per_s']:.2f} "
          f"| {ours['gen_tokens_per_s'] / llama['gen_tokens_per_s']:.2f} "
          f"| {ours.get('peak_rss_mib', 0):.0f} MiB |")
print()
print("| model | zhbrief single-sequence gen tok/s (short prompt) | 8 sequences together, aggregate tok/s | batched / single | peak RSS |")
print("|---|---|---|---|---|")
for b in batched:
    single = next(r["zhbrief"] for r in rows if r["model"] == b["model"] and r["prompt"] == "short")
    ours = b["batched"]
    print(f"| {b['model']} | {single['gen_tokens_per_s']:.1f} | {ours['gen_tokens_per_s']:.1f} "
          f"| {ours['gen_tokens_per_s'] / single['gen_tokens_per_s']:.2f} | {ours['peak_rss_mib']:.0f} MiB |")
PY
