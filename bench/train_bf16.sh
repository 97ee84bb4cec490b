#!/bin/sh
# Issue 30: `charlm train` in bf16 against f32 at LSTM 1 x 512 on tiny Shakespeare (E 64, batch 32,
# steps 35, full softmax), alternating windows of WINDOW seconds at 1 and 2 threads, no validation.
# Prints each window's steps and its char/s over the last 5 steps (the first steps build the
# primitives); on a shared machine compare the best window of each, and say the load.
# Usage: bench/train_bf16.sh [CHARLM] [CORPUS] [WINDOW] [WINDOWS]
set -eu
CHARLM=${1:-build/charlm}
CORPUS=${2:-/work/shared/corpora/tinyshakespeare.txt}
WINDOW=${3:-30}
WINDOWS=${4:-2}
for threads in 2 1; do
  w=0
  while [ "$w" -lt "$WINDOWS" ]; do
    for p in f32 bf16; do
      line=$("$CHARLM" train --corpus "$CORPUS" --hidden 512 --epochs 1 --time-budget "${WINDOW}s" \
        --valid-fraction 0 --report-every 5 --threads "$threads" --precision "$p" 2>&1 |
        grep '| step ' | tail -1 | sed 's/.*| step \([0-9]*\) .*| \([0-9]*\) char\/s.*/steps \1, last report \2 char\/s/')
      echo "threads $threads precision $p: $line; load $(cut -d' ' -f1 /proc/loadavg)"
    done
    w=$((w + 1))
  done
done
