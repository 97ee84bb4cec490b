#!/usr/bin/env bash
# Poems that keep their form (issue 13), measured on a model trained on Tang poems: 200 samples per
# form at temperatures 0.7, 1.0 and 1.3 (top-k 40 and top-p 0.9, a different seed each), every poem
# checked by `charlm verse` (an independent reading of the text); 1000 poems with every option at
# once (五律 + acrostic + rhyme + strict tones); backups; generation speed with and without the
# constraint; NLL per token of constrained and free samples under the model (`charlm eval`); the
# share of lines copied verbatim from the training text.
# Usage: bench/poem_bench.sh CHARLM MODEL CORPUS [OUTDIR]   (figures in bench/RESULTS.md)
set -euo pipefail
charlm=$1; model=$2; corpus=$3; out=${4:-$(mktemp -d)}
mkdir -p "$out"
seed=100
faults_of() { "$charlm" verse "$1" --form "$2" | tail -n1; }

echo "== form only: 200 per form and temperature (verse --form: length faults must be 0)"
for form in 五绝 七绝 五律 七律; do
  for t in 0.7 1.0 1.3; do
    seed=$((seed + 1))
    f="$out/form_${form}_$t.txt"
    "$charlm" generate --model "$model" --form "$form" --num-samples 200 --temperature "$t" --top-k 40 --top-p 0.9 \
      --seed "$seed" >"$f" 2>"$f.err"
    lengths=$("$charlm" verse "$f" --form "$form" | grep -c ': length:' || true)
    echo "$form T $t: $(grep -c . "$f" | awk '{print $1}') text lines, length faults $lengths; $(tail -n1 "$f.err" | sed 's/^charlm: //')"
  done
done

echo "== rhyme + strict tones: 200 per form and temperature (verse: all faults must be 0)"
for form in 五绝 七绝 五律 七律; do
  for t in 0.7 1.0 1.3; do
    seed=$((seed + 1))
    f="$out/strict_${form}_$t.txt"
    "$charlm" generate --model "$model" --form "$form" --rhyme --tones strict --num-samples 200 --temperature "$t" \
      --top-k 40 --top-p 0.9 --seed "$seed" >"$f" 2>"$f.err"
    echo "$form T $t: $(faults_of "$f" "$form"); $(tail -n1 "$f.err" | sed 's/^charlm: //')"
  done
done

echo "== acrostic: 200 七绝 per temperature, heads 春江花月 (lines not starting with their head must be 0)"
for t in 0.7 1.0 1.3; do
  seed=$((seed + 1))
  f="$out/acrostic_$t.txt"
  "$charlm" generate --model "$model" --form 七绝 --acrostic 春江花月 --num-samples 200 --temperature "$t" --top-k 40 \
    --top-p 0.9 --seed "$seed" >"$f" 2>"$f.err"
  bad=$(python3 - "$f" <<'EOF'
import re, sys
poems = [p for p in open(sys.argv[1], encoding='utf-8').read().split('\n\n') if p.strip()]
bad = 0
for p in poems:
    lines = [l for l in re.split('[，。\n]', p) if l]
    bad += sum(1 for l, h in zip(lines, '春江花月') if not l.startswith(h)) + (len(lines) != 4)
print(f"{len(poems)} poems, {bad} bad lines")
EOF
)
  echo "T $t: $bad; $(tail -n1 "$f.err" | sed 's/^charlm: //')"
done

echo "== everything at once: 1000 五律 + acrostic 春月夜花 + rhyme + strict tones, T 1.0"
f="$out/all.txt"
"$charlm" generate --model "$model" --form 五律 --acrostic 春月夜花 --rhyme --tones strict --num-samples 1000 \
  --temperature 1.0 --top-k 40 --top-p 0.9 --seed 7 >"$f" 2>"$f.err"
echo "$(faults_of "$f" 五律); $(tail -n1 "$f.err" | sed 's/^charlm: //')"

echo "== speed: 200 五律 with rhyme + strict tones vs the same number of free tokens (1 thread)"
tokens=$((200 * 48))
s0=$(date +%s.%N)
"$charlm" generate --model "$model" --form 五律 --rhyme --tones strict --num-samples 200 --seed 3 --threads 1 \
  >"$out/speed_poems.txt" 2>/dev/null
s1=$(date +%s.%N)
"$charlm" generate --model "$model" --length "$tokens" --seed 3 --threads 1 >"$out/speed_free.txt"
s2=$(date +%s.%N)
python3 -c "
c = $tokens / ($s1 - $s0); f = $tokens / ($s2 - $s1)
print(f'constrained {c:.0f} tokens/s, free {f:.0f} tokens/s, ratio {c / f:.2f} (load time included in both)')"

echo "== NLL per token under the model (charlm eval), T 1.0, top-k 40, top-p 0.9"
"$charlm" generate --model "$model" --length 20000 --temperature 1.0 --top-k 40 --top-p 0.9 --seed 5 >"$out/free.txt"
for f in "$out/free.txt" "$out/form_五律_1.0.txt" "$out/strict_五律_1.0.txt" "$out/all.txt"; do
  echo "$(basename "$f"): $("$charlm" eval --model "$model" --text "$f" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print("NLL %.3f per token over %d tokens" % (j["nll_mean"], j["tokens"]))')"
done

echo "== novelty: 200 五律 at T 1.0 (lines found verbatim in the training text)"
"$charlm" generate --model "$model" --form 五律 --num-samples 200 --temperature 1.0 --top-k 40 --top-p 0.9 --seed 9 \
  --novelty "$corpus" 2>&1 >/dev/null | tail -n1
"$charlm" generate --model "$model" --form 五律 --rhyme --tones strict --num-samples 200 --temperature 1.0 --top-k 40 \
  --top-p 0.9 --seed 9 --novelty "$corpus" 2>&1 >/dev/null | tail -n1
