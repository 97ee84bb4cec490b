#!/usr/bin/env bash
# Lyrics that rhyme and scan (issue 29): 200 samples per setting at temperatures 0.8 and 1.0, every
# stanza checked by `charlm verse` (an independent reading of the text: rhyme, length or syllables,
# metre); backups; NLL per token of constrained and free samples under the model (`charlm eval`);
# the chance rhyme rate of free samples (their lines cut into stanzas and held to the same scheme);
# generation speed (characters per second, one thread) with and without the constraint.
# Usage: bench/lyrics_bench.sh CHARLM EN_MODEL ZH_MODEL [OUTDIR]   (figures in bench/RESULTS.md)
set -euo pipefail
charlm=$1; en=$2; zh=$3; out=${4:-$(mktemp -d)}
mkdir -p "$out"
n=${N:-200}
seed=500
last_chars=0

nll_of() { "$charlm" eval --model "$1" --text "$2" --json --threads 1 | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["nll_mean"])'; }
chars_of() { python3 -c 'import sys; print(len(open(sys.argv[1], encoding="utf-8").read()))' "$1"; }

# Free samples (200 of `length` tokens, T 1.0), their lines cut into stanzas of `lines` (Chinese:
# at ，。？！；, the couplets of the Tang corpus) for the chance rate; and the speed of one free
# sample of as many characters as the last constrained run wrote (batch 1 as the constrained
# sampler; load included in both).
free() {  # model tag lines length
  local f="$out/free_$2.txt"
  "$charlm" generate --model "$1" --num-samples "$n" --length "$4" --temperature 1.0 --seed 9 --threads 1 >"$f"
  python3 - "$f" "$3" >"$f.stanzas" <<'PY'
import re, sys
text, k = open(sys.argv[1], encoding='utf-8').read(), int(sys.argv[2])
lines = [l.strip() for l in re.split(r'[\n，。？！；]', text) if len(l.strip()) > 1]
print('\n\n'.join('\n'.join(lines[i:i + k]) for i in range(0, len(lines) - k + 1, k)))
PY
  local t0=$(date +%s.%N)
  "$charlm" generate --model "$1" --length "$last_chars" --temperature 1.0 --seed 9 --threads 1 >"$f.one"
  local t1=$(date +%s.%N)
  echo "free $2: NLL $(nll_of "$1" "$f") per token (eval); one sample of $last_chars tokens: $(python3 -c "print(f'{$last_chars/($t1-$t0):.0f}')") char/s"
}

run() {  # model tag verse-options -- generate-only options
  local model=$1 tag=$2; shift 2
  local check=() gen=()
  while [[ $1 != -- ]]; do check+=("$1"); shift; done; shift
  gen=("$@")
  for t in 0.8 1.0; do
    seed=$((seed + 1))
    local f="$out/${tag}_$t.txt"
    local t0=$(date +%s.%N)
    "$charlm" generate --model "$model" "${check[@]}" "${gen[@]}" --num-samples "$n" --temperature "$t" --seed "$seed" \
      --threads 1 >"$f" 2>"$f.err"
    local t1=$(date +%s.%N)
    last_chars=$(chars_of "$f")
    local speed=$(python3 -c "print(f'{$last_chars/($t1-$t0):.0f}')")
    echo "$tag T $t: $("$charlm" verse "$f" "${check[@]}" | tail -n1)"
    echo "    $(tail -n1 "$f.err" | sed 's/^charlm: //'); eval NLL $(nll_of "$model" "$f") per token; $speed char/s (load included)"
  done
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Chinese: 十三辙, line length 6-10"
run "$zh" zh_aabb --rhyme-scheme AABB --line-length 6-10 --rhyme-system 十三辙 --
run "$zh" zh_abab --rhyme-scheme ABAB --line-length 6-10 --rhyme-system 十三辙 --
free "$zh" zh 4 60
echo "chance: $("$charlm" verse "$out/free_zh.txt.stanzas" --rhyme-scheme AABB --rhyme-system 十三辙 | tail -n1) (AABB)"
echo "chance: $("$charlm" verse "$out/free_zh.txt.stanzas" --rhyme-scheme ABAB --rhyme-system 十三辙 | tail -n1) (ABAB)"
echo "== English: ABAB of 8 syllables; a sonnet (iambic pentameter, ABAB CDCD EFEF GG)"
run "$en" en_abab8 --rhyme-scheme ABAB --syllables 8 --
run "$en" en_sonnet --rhyme-scheme "ABAB CDCD EFEF GG" --syllables 10 --meter iambic --
free "$en" en 4 200
echo "chance: $("$charlm" verse "$out/free_en.txt.stanzas" --rhyme-scheme ABAB --syllables 8 --meter iambic | tail -n1) (ABAB, 8, iambic)"
echo "== structure: verse,chorus,verse,chorus,bridge,chorus, 4 lines each, 20 songs"
f="$out/song.txt"
"$charlm" generate --model "$en" --rhyme-scheme AABB --syllables 8 --lines 4 --structure verse,chorus,verse,chorus,bridge,chorus \
  --labels --num-samples 20 --seed 3 --threads 1 >"$f" 2>"$f.err"
echo "$("$charlm" verse "$f" --rhyme-scheme AABB --syllables 8 --lines 4 | tail -n1); $(tail -n1 "$f.err" | sed 's/^charlm: //')"
echo "files in $out"
