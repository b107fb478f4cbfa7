# Sourced by scripts that need a real OpenAI-compatible engine: llama.cpp's server from the
# llama-cpp-python package (a peer for tests and benchmarks, never a dependency of zhbrief).
#
# llama_cpp_python        prints the venv's python, building llama-cpp-python[server] from source
#                         once (several minutes on 2 cores) into a cached venv.
# start_llama_server GGUF starts the server on a free loopback port, waits (bounded) until it
#                         answers, sets LLAMA_SERVER_URL and LLAMA_SERVER_PID; the caller stops it.

LLAMA_CPP_PYTHON_VERSION=0.3.36

llama_cpp_python() {
  local venv=${ZHBRIEF_LLAMA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhbrief/llama-cpp-venv}
  if ! "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    echo "building llama-cpp-python[server] $LLAMA_CPP_PYTHON_VERSION from source (several minutes, once)" >&2
    python3 -m venv "$venv"
    CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/python" -m pip install --quiet --no-binary llama-cpp-python \
      "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >&2
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
