#!/usr/bin/env bash
# The browser test of charlm serve (ctest: browser_test): installs playwright-core from the lock file
# into the build directory (once per lock-file change), trains a tiny model with --metrics, and runs
# page_test.mjs against `charlm serve` in Debian's headless chromium. A missing chromium, node or npm
# fails the test with what to install; nothing is skipped.
# usage: run.sh SOURCE_DIR BUILD_DIR CHARLM_BINARY CORPUS
set -euo pipefail
src=$1 build=$2 charlm=$3 corpus=$4
here="$src/tests/browser"
work="$build/browser"
fail() { echo "browser_test: $*" >&2; exit 1; }

chromium=${CHARLM_CHROMIUM:-$(command -v chromium || true)}
[ -n "$chromium" ] || fail "Debian's chromium is not installed: apt-get install chromium (scripts/packages.txt lists it for the tests)"
command -v node >/dev/null || fail "node is not installed: apt-get install nodejs"
command -v npm >/dev/null || fail "npm is not installed: apt-get install npm"
[ -f "$corpus" ] || fail "the corpus $corpus is missing (tests read ../shared/corpora)"

mkdir -p "$work"
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/playwright-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci of tests/browser/package-lock.json failed"
fi

# A tiny model trained for a few seconds, whose --metrics file the training tab charts.
rm -f "$work/tiny.jsonl"
"$charlm" train --corpus "$corpus" --out "$work/tiny.safetensors" --force --layers 1 --hidden 48 --embed 16 \
  --epochs 2 --batch 16 --steps 32 --report-every 10 --metrics "$work/tiny.jsonl" --threads 1 >"$work/train.log" 2>&1 ||
  { cat "$work/train.log" >&2; fail "training the tiny model failed"; }

cp "$here/page_test.mjs" "$work/"
cd "$work"
CHARLM_CHROMIUM="$chromium" CHARLM_BINARY="$charlm" node page_test.mjs "$work/tiny.safetensors" "$work/tiny.jsonl" "$work"
