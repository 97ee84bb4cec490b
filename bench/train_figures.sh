#!/usr/bin/env bash
# Training figures for the notes: characters per second with 1 and 2 threads and validation
# perplexity after a fixed wall-clock budget, for each cell type on tiny Shakespeare
# (H=256, batch 32, steps 35) and a 2-layer LSTM at H=512. Prints one Markdown table row per run.
# Usage: bench/train_figures.sh [BUILD_DIR] [BUDGET]   (defaults: build, 5m)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
budget=${2:-5m}
corpus=${CORPUS:-../shared/corpora/tinyshakespeare.txt}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "| cell | L x H | threads | budget | median char/s | valid ppl | train ppl | steps |"
echo "|---|---|---|---|---:|---:|---:|---:|"
run() {  # cell layers hidden threads budget
  local cell=$1 layers=$2 hidden=$3 threads=$4 b=$5
  local m="$out/$cell-$layers-$hidden-$threads.jsonl"
  "${CHARLM:-$build/charlm}" train --corpus "$corpus" --cell "$cell" --layers "$layers" --hidden "$hidden" --embed 64 \
    --batch 32 --steps 35 --sampling random --optimizer adam --lr 0.002 --clip 5 --seed 1 \
    --time-budget "$b" --threads "$threads" --metrics "$m" --report-every 50 >/dev/null
  python3 - "$m" "$cell" "$layers" "$hidden" "$threads" "$b" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
speeds = [r["chars_per_sec"] for r in rows if not r["end_of_epoch"]] or [r["chars_per_sec"] for r in rows]
last = rows[-1]
valid = last["valid_ppl"]
print(f"| {sys.argv[2]} | {sys.argv[3]} x {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} | "
      f"{statistics.median(speeds):,.0f} | {valid if valid is None else round(valid, 3)} | "
      f"{last['train_ppl']:.3f} | {last['step']} |")
PY
}
for cell in rnn gru lbr-gru lstm; do
  run "$cell" 1 256 1 30s
  run "$cell" 1 256 2 "$budget"
done
run lstm 2 512 1 30s
run lstm 2 512 2 "$budget"
