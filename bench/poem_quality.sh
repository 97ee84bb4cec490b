#!/usr/bin/env bash
# Whether --best-of and --beam write better poems than free sampling (issue 27), measured by a judge
# the methods never see: a larger model (models/tang-judge.ini, LSTM 2 x 512 on all Tang poems,
# 40 minutes), trained once and kept under ${CHARLM_CACHE:-$HOME/.cache/charlm}/judge/ (the path is
# printed; an existing file is reused). For each method, POEMS poems of --form 五律 from MODEL (one
# run per poem, seeds 1..POEMS, --threads 2), without and with --rhyme --tones loose:
#   free sampling, --best-of 4, 16, 64 (--num-samples 1), --beam 8;
# and per method: the mean NLL per character of the poems under the judge (`charlm eval` of the
# poems' file), distinct-1 and distinct-2 over all poems (distinct characters and within-line
# character pairs over all of them), the rate of repeated characters within a poem (characters that
# repeat one earlier in their poem, over all characters), the share of lines found verbatim in
# CORPUS, and poems per second (generation time as `generate` reports it, model loading excluded).
# Then POEMS poems of a template and of keywords with an acrostic, checked by `charlm verse`.
# Usage: bench/poem_quality.sh CHARLM MODEL CORPUS [OUTDIR]
#   env: POEMS (200), THREADS (2), JUDGE (a judge file to use instead of the cached one),
#        SWEEP=1: only the penalty weights instead: --best-of 16 with --repeat-penalty 0, 0.1, 0.3
#        and --line-penalty 0 (the defaults are 0.1 and 1.0)
# Figures: bench/RESULTS.md ("Better poems: --best-of and --beam under a judge").
set -euo pipefail
charlm=$1; model=$2; corpus=$3; out=${4:-$(mktemp -d)}
poems=${POEMS:-200}; threads=${THREADS:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${CHARLM_CACHE:-$HOME/.cache/charlm}/judge
judge=${JUDGE:-$cache/tang-judge.safetensors}
mkdir -p "$out" "$cache"
echo "judge: $judge"
if [ ! -f "$judge" ]; then
  echo "training the judge (models/tang-judge.ini, about 40 minutes; log: $cache/train.log)"
  "$charlm" train --config "$here/models/tang-judge.ini" --corpus "$corpus" --out "$judge" >"$cache/train.log" 2>&1
fi
echo "judge: $("$charlm" info --model "$judge" | grep -E '^training|^model' | tr '\n' ' ')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# One method: POEMS runs, the poems a blank line apart in $out/FILE.txt, the times in FILE.times.
run_method() {
  local label=$1 name=$2; shift 2
  : >"$out/$name.txt"; : >"$out/$name.times"
  for seed in $(seq 1 "$poems"); do
    "$charlm" generate --model "$model" --form 五律 --threads "$threads" --seed "$seed" "$@" >>"$out/$name.txt" \
      2>"$out/$name.err"
    echo >>"$out/$name.txt"
    sed -n 's/.* poem(s) in \([0-9.]*\) s,.*/\1/p' "$out/$name.err" >>"$out/$name.times"
  done
  local nll
  nll=$("$charlm" eval --model "$judge" --text "$out/$name.txt" --json |
        python3 -c 'import json,math,sys; print(math.log(json.load(sys.stdin)["perplexity"]))')
  python3 - "$label" "$out/$name.txt" "$out/$name.times" "$corpus" "$nll" <<'EOF'
import re, sys
name, path, times, corpus, nll = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
poems = [p for p in open(path, encoding='utf-8').read().split('\n\n') if p.strip()]
text = open(corpus, encoding='utf-8').read()
lines = [[l for l in re.split('[，。\n]', p) if l] for p in poems]
chars = [c for p in lines for l in p for c in l]
pairs = [l[i:i + 2] for p in lines for l in p for i in range(len(l) - 1)]
repeats = sum(len(''.join(p)) - len(set(''.join(p))) for p in lines)
all_lines = [l for p in lines for l in p]
copied = sum(1 for l in all_lines if l in text)
secs = [float(t) for t in open(times).read().split()]
print(f"| {name} | {len(poems)} | {nll:.3f} | {len(set(chars)) / len(chars):.3f} | {len(set(pairs)) / len(pairs):.3f} "
      f"| {100 * repeats / len(chars):.1f}% | {100 * copied / len(all_lines):.1f}% | {len(secs) / sum(secs):.1f} |")
EOF
}

echo "| method | poems | judge NLL/char | distinct-1 | distinct-2 | repeated chars | lines copied | poems/s |"
echo "|---|---|---|---|---|---|---|---|"
if [ "${SWEEP:-0}" = 1 ]; then
  for w in 0 0.1 0.3; do run_method "--best-of 16 --repeat-penalty $w" "sweep-repeat-$w" --best-of 16 --repeat-penalty "$w"; done
  run_method "--best-of 16 --line-penalty 0" "sweep-line-0" --best-of 16 --line-penalty 0
  echo "poems: $out"
  exit 0
fi
for rules in "" "--rhyme --tones loose"; do
  label=${rules:+, --rhyme --tones loose}; file=${rules:+-rhyme-tones}
  # shellcheck disable=SC2086  # $rules is two options or none
  run_method "free$label" "free$file" $rules
  for n in 4 16 64; do
    # shellcheck disable=SC2086
    run_method "--best-of $n$label" "best-of-$n$file" --best-of "$n" $rules
  done
  # shellcheck disable=SC2086
  run_method "--beam 8$label" "beam-8$file" --beam 8 $rules
done

# Fixed characters, checked by `charlm verse`: every poem must be without faults.
tmpl='床前＿＿光，＿＿＿＿霜。＿＿＿＿月，＿＿＿＿鄉。'
"$charlm" generate --model "$model" --template "$tmpl" --rhyme=first --tones loose --num-samples "$poems" --seed 5 \
  >"$out/template.txt" 2>"$out/template.err"
echo "template $tmpl: $("$charlm" verse "$out/template.txt" --template "$tmpl" 2>/dev/null | tail -n1)"
"$charlm" generate --model "$model" --form 五律 --keywords 春,江,花,月 --acrostic 山水 --rhyme --tones loose \
  --num-samples "$poems" --seed 5 >"$out/keywords.txt" 2>"$out/keywords.err"
echo "keywords 春,江,花,月 + acrostic 山水: $("$charlm" verse "$out/keywords.txt" --form 五律 --keywords 春,江,花,月 \
  2>/dev/null | tail -n1)"
echo "poems: $out"
