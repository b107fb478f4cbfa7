#!/usr/bin/env bash
# Side by side: zhbrief (Candle) and llama.cpp (the llama-cpp-python package, built from source by
# pip; a peer for comparison, never a dependency of zhbrief) on the same GGUF, the same prompt text
# as a chat prompt, greedy generation of the same number of tokens, 2 threads, one after the other.
#
# usage: scripts/bench-vs-llamacpp.sh [PROMPT_FILE] [MAX_TOKENS] [MODEL_NAME]
#        defaults: the real article in ../shared/eval (or the test fixture), 64, the default model
set -euo pipefail
cd "$(dirname "$0")/.."
prompt=${1:-../shared/eval/articles/baoshan-north-transformation.txt}
[ -f "$prompt" ] || prompt=tests/fixtures/baoshan.txt
tokens=${2:-64}
model_name=${3:-}
threads=2

model=$(scripts/fetch-model.sh $model_name)

source scripts/lib/llama-server.sh
python=$(llama_cpp_python)
cargo build --release --quiet

llama_json=$("$python" - "$model" "$prompt" "$tokens" "$threads" <<'PY'
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
print(json.dumps({"prompt_tokens": len(tokens), "prompt_tokens_per_s": len(tokens) / prompt_s, "gen_tokens": n_gen, "gen_tokens_per_s": n_gen / gen_s}))
PY
)
zhbrief_json=$(target/release/zhbrief bench --model "$model" --prompt-file "$prompt" --max-tokens "$tokens" --format json)

python3 - "$llama_json" "$zhbrief_json" <<'PY'
import json, sys
llama, ours = (json.loads(a) for a in sys.argv[1:3])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, 2 threads; prompt {llama['prompt_tokens']} tokens (llama.cpp) / {ours['prompt_tokens']} (zhbrief), {ours['gen_tokens']} generated")
print(f"| engine | prompt tok/s | generation tok/s | prompt ratio | generation ratio |")
print(f"|---|---|---|---|---|")
print(f"| llama.cpp | {llama['prompt_tokens_per_s']:.1f} | {llama['gen_tokens_per_s']:.1f} | 1.00 | 1.00 |")
print(f"| zhbrief | {ours['prompt_tokens_per_s']:.1f} | {ours['gen_tokens_per_s']:.1f} | "
      f"{ours['prompt_tokens_per_s'] / llama['prompt_tokens_per_s']:.2f} | {ours['gen_tokens_per_s'] / llama['gen_tokens_per_s']:.2f} |")
PY
