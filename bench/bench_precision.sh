#!/usr/bin/env bash
# The precision table of issue 30 in one command: the machine's read bandwidth (bench_bandwidth),
# then f32 / int8 / bf16 (bf16 where the CPU has avx512_bf16) generation at 1 and 16 rows with bytes
# per character and GB/s, and eval perplexity, on the Tang model and on an LSTM 2 x 512 tiny
# Shakespeare model; then the output layer's kernels against oneDNN's matmul (bench_qgemm).
# Not a test. Run from the repository root after building the bench targets:
#   cmake --build build -j2 --target bench_int8 bench_bandwidth bench_qgemm
#   bash bench/bench_precision.sh [THREADS] [SHAKESPEARE_MODEL]
# THREADS (default 2) sets OMP_NUM_THREADS. SHAKESPEARE_MODEL: an LSTM 2 x 512 trained on
# tinyshakespeare.txt (not committed; bench/RESULTS.md says how it was trained); without it that
# model's speed is taken on random weights of its shape and its perplexity is skipped.
set -euo pipefail
threads=${1:-2}
shakespeare=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bench"
corpora="$root/../shared/corpora"
tang_model="$root/models/tang-lstm.safetensors"
[ -f "$tang_model" ] || tang_model=/work/main/models/tang-lstm.safetensors
tang_text="$root/corpora/out/tang.txt"
[ -f "$tang_text" ] || tang_text=/work/main/corpora/out/tang.txt
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The held-out tails: the last 2% of tang.txt and the last 10% of tinyshakespeare.txt, cut at a line.
tail_of() {  # FILE PERCENT OUT
    local bytes
    bytes=$(($(stat -c %s "$1") * $2 / 100))
    tail -c "$bytes" "$1" | tail -n +2 >"$3"
}
tail_of "$tang_text" 2 "$scratch/tang_tail.txt"
tail_of "$corpora/tinyshakespeare.txt" 10 "$scratch/shakespeare_tail.txt"

export OMP_NUM_THREADS=$threads
run_all() {
    echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) CPUs; flags: $(grep -o -w 'avx512_vnni\|avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    echo "# OMP_NUM_THREADS=$threads, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "## read bandwidth"
    "$bin/bench_bandwidth" 2 8 64
    echo "## Tang LSTM 1 x 512, adaptive softmax ($tang_model)"
    "$bin/bench_int8" "$tang_model" "$scratch/tang_tail.txt" 5
    if [ -n "$shakespeare" ]; then
        echo "## Shakespeare LSTM 2 x 512 ($shakespeare)"
        "$bin/bench_int8" "$shakespeare" "$scratch/shakespeare_tail.txt" 5
    else
        echo "## LSTM 2 x 512, embed 64, V 66, random weights (no Shakespeare model given: speed only)"
        "$bin/bench_int8" --random 2 512 64 66 5
    fi
    echo "## output layer alone, 1 thread: charlm's kernels against oneDNN's matmul"
    OMP_NUM_THREADS=1 "$bin/bench_qgemm" 2000
    echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
run_all | tee "$scratch/raw.txt"  # the raw lines, then the tables made of them

# The tables of bench/RESULTS.md from the lines above (key=value pairs after a '## model' line).
awk '
  /^## / && !/bandwidth|output layer/ { model = $2 }
  function val(key,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } }
  /^generate / { p = val("precision"); r = val("rows"); k = model SUBSEP r
                 if (!(k in seen)) { seen[k] = 1; order[++n] = k }
                 speed[k, p] = val("chars/s"); x[k, p] = val("x_f32"); mb[k, p] = val("bytes/char") / 1e6
                 gbs[k, p] = val("GB/s") }
  /^eval / { p = val("precision"); ppl[model, p] = val("ppl"); d[model, p] = val("vs_f32"); if (!(model in em)) { em[model] = 1; emo[++e] = model } }
  END {
    print "\n| model | rows | f32 char/s | int8 char/s | bf16 char/s | MB/char f32 / int8 / bf16 | GB/s f32 / int8 / bf16 |"
    print "| --- | --- | --- | --- | --- | --- | --- |"
    for (i = 1; i <= n; i++) { split(order[i], mr, SUBSEP); k = order[i]
      printf "| %s | %s | %s | %s (%sx) | %s | %.2f / %.2f / %s | %s / %s / %s |\n", mr[1], mr[2], speed[k, "f32"],
             speed[k, "int8"], x[k, "int8"], ((k, "bf16") in speed) ? speed[k, "bf16"] " (" x[k, "bf16"] "x)" : "-",
             mb[k, "f32"], mb[k, "int8"], ((k, "bf16") in mb) ? sprintf("%.2f", mb[k, "bf16"]) : "-",
             gbs[k, "f32"], gbs[k, "int8"], ((k, "bf16") in gbs) ? gbs[k, "bf16"] : "-" }
    if (e) { print "\n| model | f32 PPL | int8 PPL | bf16 PPL |"; print "| --- | --- | --- | --- |" }
    for (i = 1; i <= e; i++) { m = emo[i]
      printf "| %s | %s | %s (%s) | %s |\n", m, ppl[m, "f32"], ppl[m, "int8"], d[m, "int8"],
             ((m, "bf16") in ppl) ? ppl[m, "bf16"] " (" d[m, "bf16"] ")" : "-" }
  }' "$scratch/raw.txt"
