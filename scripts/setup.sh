#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: installs the packages in scripts/packages.txt that are
# missing, builds charlm, then runs the main job (`run`: all Tang poems, about 3 minutes of training),
# a quick smoke run on 300 poems (`smoke`), or the whole test suite (`test`: the suite, the suite again
# under ASan + UBSan, then a minute of fuzzing per fuzz target).
# Not a general installer: it only ever installs from Debian's archive, with apt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-run}
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '== %s\n' "$*"; }

# Whether an installed package provides $1 (a nodejs that bundles npm provides and conflicts with npm).
provided() {
  dpkg-query -W -f='${Status} ${Provides}\n' 2>/dev/null | grep '^install ok installed' |
    sed -e 's/^install ok installed//' -e 's/([^)]*)//g' | tr ', ' '\n\n' | grep -x "$1" >/dev/null
  # (not grep -q: it stops reading at the first match, and under pipefail the writers' SIGPIPE fails the check)
}

install_packages() {  # install_packages run|test: [test] packages only for the test suite
  local keep='s/\[test\]$//'
  [ "$1" = run ] && keep='/\[test\]$/d'
  mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e "$keep" scripts/packages.txt | grep -v '^$')
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
    provided "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "all ${#pkgs[@]} packages present"; return; fi
  say "installing: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {  # build DIR [cmake options...]: everything (tests and benchmarks too)
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

build_charlm() {  # the charlm binary alone: what the main job runs (tests and benchmarks are for `test`)
  cmake -S "$root" -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$jobs" --target charlm
}

next_steps() {  # next_steps MODEL METRICS: what a newcomer can do with the model just made
  cat <<EOF2
== next steps
  serve it to a page, with its training chart:  ./build/charlm serve --model $1 --metrics $2
                                                (then open http://127.0.0.1:8080/)
  write a poem form:                            ./build/charlm generate --model $1 --form 七律 --acrostic 春夏秋冬 --rhyme --tones loose
  train it longer (another 10 minutes):         ./build/charlm train --resume ${1%.best}.ckpt --time-budget 13m
  everything else:                              README.md, the manual in docs/README.md, ./build/charlm --help
EOF2
}

case "$mode" in
  run)
    install_packages run
    build_charlm
    say "preparing the main corpus: all Tang poems (tang, 12.7 MB)"
    bash corpora/prepare.sh tang
    say "training models/tang-lstm.ini (about 3 minutes; stops early once validation stops improving)"
    ./build/charlm train --config models/tang-lstm.ini --corpus corpora/out/tang.txt \
      --out models/tang-lstm.safetensors --metrics models/tang-lstm.jsonl --force
    say "generating from 春眠 with the best model: free text, then a 五绝, then a 七绝 acrostic that rhymes"
    ./build/charlm generate --model models/tang-lstm.safetensors.best --prefix "春眠" --length 100 \
      --temperature 0.8 --seed 1
    ./build/charlm generate --model models/tang-lstm.safetensors.best --prefix "春眠" --form 五绝 \
      --temperature 0.8 --seed 1
    ./build/charlm generate --model models/tang-lstm.safetensors.best --form 七绝 --acrostic 春江花月 --rhyme \
      --tones loose --temperature 0.8 --seed 1
    next_steps models/tang-lstm.safetensors.best models/tang-lstm.jsonl
    ;;
  smoke)
    install_packages run
    build_charlm
    say "preparing the small corpus (tang300, 300 poems)"
    bash corpora/prepare.sh tang300
    say "training models/tang300-lstm.ini (a quick smoke model)"
    ./build/charlm train --config models/tang300-lstm.ini --corpus corpora/out/tang300.txt \
      --out models/tang300-lstm.safetensors --force
    ./build/charlm generate --model models/tang300-lstm.safetensors.best --prefix "春眠" --length 100 \
      --temperature 0.8 --seed 1
    ;;
  test)
    install_packages test
    werror=OFF; [ "${CI:-}" = true ] && werror=ON
    build build -DCHARLM_WERROR=$werror
    say "running the test suite"
    (cd build && ctest --output-on-failure)  # serial: OpenMP tests oversubscribe 2 cores badly
    say "building with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)"
    build build-asan -DCHARLM_SANITIZE=ON -DCHARLM_WERROR=$werror -DCHARLM_BUILD_BENCH=OFF
    say "running the test suite under the sanitizers"
    (cd build-asan && ctest --output-on-failure)
    say "fuzzing the corpus decoder and the model-file loader (clang, build-fuzz)"
    bash scripts/fuzz.sh 30
    ;;
  *)
    echo "usage: scripts/setup.sh [run|smoke|test]" >&2; exit 2 ;;
esac
