#!/usr/bin/env bash
# ctest torch_load_test: trains a tiny model of every cell (2 x 16, a few steps, on a text written
# here), then bench/torch_load.py loads each file into PyTorch with load_state_dict(strict=True)
# and compares its logits with `charlm eval --logits`. Exit 77 (ctest SKIP) without PyTorch.
# Usage: torch_load_test.sh SOURCE_DIR CHARLM_BINARY
set -euo pipefail
src=$1
charlm=$2
skip=77

# The first interpreter that has torch: $CHARLM_PYTHON, python3 on PATH, Debian's own python3.
python=
for p in ${CHARLM_PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then python=$p; break; fi
done
if [ -z "$python" ]; then
  echo "SKIP: no python3 with torch (Debian: apt-get install python3-torch)"
  exit $skip
fi
echo "python with torch: $(command -v "$python")"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# ASCII with LF line ends, so that each character is one token (see torch_load.py).
"$python" - <<'EOF'
import random
rng = random.Random(7)
words = "the quick brown fox jumps over a lazy dog and then it runs back home again while singing".split()
lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize() + "." for _ in range(120)]
text = "\n".join(lines) + "\n"
open("train.txt", "w").write(text)
open("eval.txt", "w").write(text[:300])
EOF

models=()
train() {  # name cell embed [more options]
  local name=$1 cell=$2 embed=$3
  shift 3
  "$charlm" train --corpus train.txt --cell "$cell" --layers 2 --hidden 16 --embed "$embed" --batch 4 --steps 16 \
    --epochs 1 --threads 1 --seed 3 --out "$name.safetensors" "$@" > "$name.log" 2>&1 || { cat "$name.log"; exit 1; }
  models+=("$name.safetensors")
}
for cell in rnn rnn-relu gru lbr-gru lstm; do train "$cell" "$cell" 8; done
train lstm-onehot lstm 0
train gru-onehot gru 0
# The adaptive softmax against nn.AdaptiveLogSoftmaxWithLoss: two clusters, and one.
train lstm-adaptive lstm 8 --cutoffs 8,16 --div-value 2
train rnn-adaptive1 rnn 8 --softmax adaptive --cutoffs 12

# Every cell and both input kinds: the logits must agree (exit 1 from the script otherwise).
"$python" "$src/bench/torch_load.py" --charlm "$charlm" --text eval.txt --model "${models[@]}" \
  --skip-exit-code $skip

# The check must be able to fail: charlm's gru is not torch.nn.GRU, so forcing nn.GRU must be caught.
set +e
"$python" "$src/bench/torch_load.py" --charlm "$charlm" --text eval.txt --model gru.safetensors --torch-nn-only \
  > nn_gru.log 2>&1
rc=$?
set -e
cat nn_gru.log
if [ $rc -ne 1 ]; then
  echo "FAIL: loading a gru model into torch.nn.GRU should be reported as a logits mismatch (exit 1), got $rc"
  exit 1
fi
echo "OK: all cells agree with PyTorch; the nn.GRU mismatch on a gru model is detected"
