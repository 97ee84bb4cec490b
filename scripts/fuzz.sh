#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs each for SECONDS
# (default 60) from a copy of its seed corpus, so tests/fuzz is never written. Prints each target's
# execution count; exits 1 if a target found a crash, leak, timeout or broken invariant, printing
# the path of the input that shows it (kept in build-fuzz/fuzz-runs/TARGET/). Not an installer:
# needs clang and libclang-rt-14-dev (scripts/packages.txt).
# Usage: scripts/fuzz.sh [SECONDS]   (environment: FUZZ_BUILD_DIR, default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-60}
case "$secs" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
dir=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)
targets=(decode model_file)

say() { printf '== %s\n' "$*"; }

say "building the fuzz targets in $dir (clang, ASan + UBSan + libFuzzer)"
CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHARLM_FUZZ=ON \
  -DCHARLM_BUILD_TESTS=OFF -DCHARLM_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$jobs" --target "${targets[@]/#/fuzz_}"

# Any report fails the run; LeakSanitizer suppressions, for third-party libraries only, would go in
# tests/sanitizers/lsan.supp (none are needed so far).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "${targets[@]}"; do
  run=$dir/fuzz-runs/$t
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts"
  cp "$root/tests/fuzz/$t/"* "$run/corpus/"
  say "fuzz_$t for ${secs}s from $(ls "$run/corpus" | wc -l) seeds"
  status=0
  "$dir/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$root/tests/fuzz/$t.dict" -artifact_prefix="$run/artifacts/" "$run/corpus" >"$run/log" 2>&1 || status=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$run/log" | tail -n1)
  echo "fuzz_$t: ${execs:-?} executions in ${secs}s, corpus now $(ls "$run/corpus" | wc -l) inputs (log: $run/log)"
  if [ "$status" -ne 0 ]; then
    failed=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z_]+: invariant)' "$run/log" | head -n 5 >&2 || true
    for a in "$run/artifacts/"*; do [ -e "$a" ] && echo "fuzz_$t FAILED (exit $status): reproduce with $dir/tests/fuzz/fuzz_$t $a" >&2; done
    ls "$run/artifacts/"* >/dev/null 2>&1 || echo "fuzz_$t FAILED (exit $status) without an artifact; see $run/log" >&2
  fi
done
exit $failed
