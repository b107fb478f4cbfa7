# Sourced by scripts that need a real OpenAI-compatible engine: llama.cpp's server from the
# llama-cpp-python package (a peer for tests and benchmarks, never a dependency of zhbrief).
#
# llama_cpp_python        prints the venv's python, building llama-cpp-python[server] from source
#                         once (several minutes on 2 cores) into a cached venv.
# start_llama_server GGUF starts the server on a free loopback port, waits (bounded) until it
#                         answers, sets LLAMA_SERVER_URL and LLAMA_SERVER_PID; the caller stops it.

LLAMA_CPP_PYTHON_VERSION=0.3.36

# Built for this CPU, except Intel AMX: on a Xeon with AMX (seen here: a 2-core Sapphire-Rapids-class
# VM), llama.cpp's AMX matrix code answers garbage ("mpegmpegmpeg…" for "hello") and then crashes
# with SIGSEGV (ggml-org/llama.cpp#20824, open); without it llama.cpp runs its AVX-512 VNNI path,
# which is also what zhbrief's kernels use. The flags are stamped into the venv, so a venv built
# with other flags is built again (pip's wheel cache is bypassed for the same reason).
LLAMA_CPP_NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"

llama_cpp_python() {
  local venv=${ZHBRIEF_LLAMA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhbrief/llama-cpp-venv}
  local stamp="$LLAMA_CPP_PYTHON_VERSION native $LLAMA_CPP_NO_AMX"
  if [ "$(cat "$venv/zhbrief-build" 2>/dev/null)" != "$stamp" ] || ! "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    echo "building llama-cpp-python[server] $LLAMA_CPP_PYTHON_VERSION from source (several minutes, once)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    CMAKE_ARGS="-DGGML_NATIVE=ON" CFLAGS="$LLAMA_CPP_NO_AMX" CXXFLAGS="$LLAMA_CPP_NO_AMX" "$venv/bin/python" -m pip install --quiet \
      --no-cache-dir --no-binary llama-cpp-python "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >&2
    echo "$stamp" > "$venv/zhbrief-build"
  fi
  echo "$venv/bin/python"
}

start_llama_server() {
  local model=$1 python port log
  python=$(llama_cpp_python)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=${LLAMA_SERVER_LOG:-$(mktemp -t llama-server.XXXXXX.log)}
  "$python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
    --n_threads 2 --n_ctx 4096 >"$log" 2>&1 &
  LLAMA_SERVER_PID=$!
  LLAMA_SERVER_URL="http://127.0.0.1:$port/v1"
  # Loading takes seconds; two minutes at most.
  for _ in $(seq 240); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/models', timeout=2)" \
      "$LLAMA_SERVER_URL" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$LLAMA_SERVER_PID" 2>/dev/null; then
      echo "llama.cpp server exited; its log ($log):" >&2
      tail -20 "$log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "llama.cpp server did not answer within two minutes; its log: $log" >&2
  return 1
}
