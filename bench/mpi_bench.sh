#!/usr/bin/env bash
# Data-parallel training (issue 15) on this machine, all in one run:
#  1. the same global batch three ways: 1 process x 1 thread, 1 process x 2 threads, mpirun -np 2 x
#     1 thread; char/s over a fixed number of tokens (one epoch), and the validation perplexity
#     each reaches after those tokens (the same tokens, so it should agree within rounding);
#  2. the compute of one rank's step at the local batch B/N (N = 1 .. 64, one process, 1 thread,
#     measured), for the scaling table that bench/RESULTS.md models from it and the all-reduce size.
# Usage: bench/mpi_bench.sh [BUILD] [CORPUS] — BUILD defaults to build, CORPUS to tiny Shakespeare.
set -euo pipefail
build=${1:-build}
corpus=${2:-$(dirname "$0")/../../shared/corpora/tinyshakespeare.txt}
charlm=$build/charlm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 400000 "$corpus" >"$work/corpus.txt"
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
model=(--cell lstm --layers 2 --hidden 256 --embed 64 --steps 50 --dropout 0.1 --lr 2e-3 --seed 1)

# "char/s valid-ppl steps seconds" from a run's closing line.
figures() {
  sed -n 's/^done: .* \([0-9]*\) steps in \([0-9.]*\)s; train ppl [0-9.]*, valid ppl \([0-9.]*\).*/\1 \2 \3/p' "$1" |
    awk -v tok="$2" '{ printf "%.0f %s %s %s\n", $1 * tok / $2, $3, $1, $2 }'
}

echo "## 1. one global batch (64 streams x 50 steps), one epoch of $(wc -c <"$work/corpus.txt") bytes"
echo "| run | char/s | valid ppl | steps | s |"
echo "| --- | --- | --- | --- | --- |"
for run in "1 process x 1 thread" "1 process x 2 threads" "2 processes x 1 thread"; do
  log=$work/run.log
  case $run in
    "1 process x 1 thread") "$charlm" train --corpus "$work/corpus.txt" "${model[@]}" --batch 64 --epochs 1 --threads 1 >"$log" ;;
    "1 process x 2 threads") "$charlm" train --corpus "$work/corpus.txt" "${model[@]}" --batch 64 --epochs 1 --threads 2 >"$log" ;;
    *) "${mpi[@]}" -np 2 "$charlm" train --corpus "$work/corpus.txt" "${model[@]}" --batch 64 --epochs 1 --threads 1 >"$log" ;;
  esac
  read -r cps ppl steps secs < <(figures "$log" $((64 * 50)))
  echo "| $run | $cps | $ppl | $steps | $secs |"
done

echo
echo "## 2. one rank's step at local batch b (1 process, 1 thread, 20 s each)"
echo "| b | steps | s | ms/step |"
echo "| --- | --- | --- | --- |"
for b in 64 32 16 8 4 2 1; do
  log=$work/b$b.log
  "$charlm" train --corpus "$work/corpus.txt" "${model[@]}" --batch $b --epochs 0 --time-budget 20s --threads 1 \
    --valid-fraction 0.01 >"$log"
  read -r _ _ steps secs < <(figures "$log" $((b * 50)))
  echo "| $b | $steps | $secs | $(awk -v s="$secs" -v n="$steps" 'BEGIN { printf "%.2f", 1000 * s / n }') |"
done
echo
grep -o '[0-9]* parameters' "$work/b64.log" | head -1 | awk '{ printf "gradient all-reduce per step: %d floats = %.2f MB\n", $1 + 8, ($1 + 8) * 4 / 1e6 }'
