#!/usr/bin/env bash
# Generation speed, charlm against PyTorch's step-by-step loop: runs bench_sample and
# torch_sample.py over the same grid (cell, H, V, rows, threads) and prints one table with
# charlm / torch. Not a test. Raw outputs are kept in OUT_DIR (default: a new temporary directory).
# Usage: bench/sample_compare.sh [BUILD_DIR (build)] [WINDOW_S (0.25)] [WINDOWS (5)] [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
window=${2:-0.25}
windows=${3:-5}
out=${4:-$(mktemp -d /tmp/sample_compare.XXXXXX)}
mkdir -p "$out"

# Debian's python3 sees Debian's torch (a pyenv or venv python on PATH may not).
python=${CHARLM_PYTHON:-}
for p in $python python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then python=$p; break; fi
done
if ! "${python:-false}" -c 'import torch' 2>/dev/null; then
  echo "sample_compare: no python3 with torch (Debian: apt-get install python3-torch)" >&2
  exit 1
fi
# torch through OpenBLAS's OpenMP build when it is installed (Debian: libopenblas0-openmp).
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -d "$blas" ] && export LD_LIBRARY_PATH=$blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "== $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) cores; raw output in $out"
"$build/bench/bench_sample" "$window" "$windows" | tee "$out/charlm.txt"
"$python" "$root/bench/torch_sample.py" --window "$window" --windows "$windows" | tee "$out/torch.txt"

"$python" - "$out/charlm.txt" "$out/torch.txt" <<'EOF'
import sys

def rows(path):
    out = {}
    for line in open(path):
        if line.startswith("impl="):
            kv = dict(f.split("=", 1) for f in line.split())
            out[(kv["cell"], int(kv["H"]), int(kv["V"]), int(kv["batch"]), int(kv["threads"]))] = kv
    return out

charlm, torch = rows(sys.argv[1]), rows(sys.argv[2])
print()
print("| cell | H | V | rows | threads | charlm char/s | torch char/s | charlm / torch | others (cores) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for key, c in charlm.items():
    cell, H, V, batch, threads = key
    t = torch.get(("lbr-gru" if cell == "gru" else cell,) + key[1:])
    ours = float(c["chars_per_s"])
    theirs = float(t["chars_per_s"]) if t else None
    ratio = f"{ours / theirs:.2f}" if theirs else "-"
    mark = " *" if cell == "gru" else ""
    others = f"{c['others']} / {t['others']}" if t else c["others"]
    print(f"| {cell}{mark} | {H} | {V} | {batch} | {threads} | {ours:,.0f} | "
          f"{f'{theirs:,.0f}' if theirs else '-'} | {ratio} | {others} |")
print()
print("chars/s = rows x generated tokens / second (median window); rows = samples generated together.")
print("* PyTorch has only the linear-before-reset GRU: charlm's gru is set against torch's nn.GRU.")
print("others = CPU used by the rest of the machine meanwhile (charlm / torch), -1: window too short to tell;")
print("figures are only comparable when both are near 0.")
EOF
