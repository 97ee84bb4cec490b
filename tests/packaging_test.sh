#!/usr/bin/env bash
# Packaging checks: the Dockerfile's build stage and scripts/setup.sh install the same package list
# (both read scripts/packages.txt), and the runtime stage installs every Debian package that provides
# a shared library the built charlm binary links. Usage: packaging_test.sh SOURCE_DIR CHARLM_BINARY
set -euo pipefail
src=$1; bin=$2
fail=0
err() { echo "FAIL: $*" >&2; fail=1; }

grep -q 'COPY scripts/packages.txt' "$src/Dockerfile" || err "Dockerfile does not copy scripts/packages.txt"
grep -q 'xargs apt-get install' "$src/Dockerfile" || err "Dockerfile does not install the list with apt-get"
grep -q 'scripts/packages.txt' "$src/scripts/setup.sh" || err "setup.sh does not read scripts/packages.txt"
# The same parsing of the list in both places.
parse='s/#.*//'
grep -q "$parse" "$src/Dockerfile" || err "Dockerfile parses the list differently from setup.sh"
grep -q "$parse" "$src/scripts/setup.sh" || err "setup.sh parses the list differently from the Dockerfile"

# Runtime stage: every package owning a library that charlm links must be installed there.
runtime=$(awk '/^FROM .* AS runtime/{r=1} r' "$src/Dockerfile")
for lib in $(ldd "$bin" | awk '/=> \//{print $3}'); do
  real=$(readlink -f "$lib")
  pkg=$(dpkg -S "$real" 2>/dev/null | head -n1 | cut -d: -f1) || true
  [ -z "$pkg" ] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1) || true
  [ -z "$pkg" ] && { echo "note: no package owns $lib"; continue; }
  case "$pkg" in libc6|libgcc-s1|libstdc++6) continue ;; esac  # in the base image
  case "$pkg" in libasan*|libubsan*) continue ;; esac  # sanitizer builds only, never shipped
  # ocl-icd-libopencl1 comes in as a dependency of libdnnl2.
  [ "$pkg" = ocl-icd-libopencl1 ] && continue
  echo "$runtime" | grep -qw -- "$pkg" || err "runtime stage lacks $pkg (provides $lib)"
done
[ $fail -eq 0 ] && echo "packaging: OK"
exit $fail
