#!/usr/bin/env bash
# Builds and runs charlm's Docker image on a machine that reaches Debian's archive but no image
# registry (no docker.io) and runs no Docker daemon:
#   1. debootstrap a minimal Debian 12 (bookworm) from the apt mirror this machine already uses
#      (read from /etc/apt/sources.list{,.d}) into build/container/rootfs (kept and reused);
#   2. import that directory as a local image, localhost/debian:bookworm, with podman (no daemon);
#   3. build the Dockerfile with podman FROM that image (the Dockerfile's BASE and RUNTIME_BASE build
#      arguments; a plain `docker build .` still uses debian:bookworm and debian:bookworm-slim);
#   4. run `charlm --version` and the smoke job in the image: prepare the tang300 corpus with the
#      image's own recipe (it downloads Debian's fortunes-zh with apt, so the container shares the
#      host's network), train models/tang300-lstm.ini (about two minutes) and generate from the model.
# Prints the time of each step, and on a failure the step, the command and its exit status.
# The tools it needs (podman, debootstrap) are installed with apt if missing: they are not charlm's
# dependencies and are not in scripts/packages.txt. Needs root (or sudo): debootstrap and podman's
# image store are root's here. Slow (a full build with the test suite): not part of the test suite.
#
# Usage: scripts/container.sh [--rebuild-base] [--no-cache] [--no-smoke] [--fresh-run]
#   --rebuild-base  debootstrap and import the base again even if build/container/rootfs exists
#   --no-cache      build every layer again (podman build --no-cache), e.g. to time a first build
#   --no-smoke      stop after `charlm --version`
#   --fresh-run     instead of the image: the README's first command, `bash scripts/setup.sh run`, on
#                   a clone of this repository's HEAD in the bare debootstrapped base (a fresh Debian 12
#                   machine: installs, build, corpus, training, poems), timed
# Environment: CHARLM_MIRROR overrides the Debian mirror (default: the first bookworm main entry
#   of the host's apt sources); CHARLM_CONTAINER_DIR the cache folder (default build/container);
#   CHARLM_SHARED_CORPORA the corpora the test suite reads (default ../shared/corpora beside the
#   sources, as for a build by hand); CHARLM_CONTAINER_CA a CA file the build's npm trusts (default
#   NODE_EXTRA_CA_CERTS when set, for a TLS-intercepting proxy; "none": none); PODMAN_OPTS extra
#   global podman options (e.g. "--storage-driver vfs" where overlay mounts fail).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

rebuild_base=0 smoke=1 fresh=0 cache_opt=()
for arg in "$@"; do
  case "$arg" in
    --rebuild-base) rebuild_base=1 ;;
    --no-cache) cache_opt=(--no-cache) ;;
    --no-smoke) smoke=0 ;;
    --fresh-run) fresh=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/container.sh [--rebuild-base] [--no-cache] [--no-smoke] [--fresh-run]" >&2; exit 2 ;;
  esac
done

die() { echo "container.sh: $*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }

# Root for debootstrap (chroot, device nodes, file ownership) and for podman's store.
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null \
    || die "needs root (debootstrap, podman's image store): run it as root, or install sudo"
  say "not root: running again under sudo"
  exec sudo --preserve-env=CHARLM_MIRROR,CHARLM_CONTAINER_DIR,CHARLM_SHARED_CORPORA,CHARLM_CONTAINER_CA,NODE_EXTRA_CA_CERTS,PODMAN_OPTS bash "$0" "$@"
fi

cache=${CHARLM_CONTAINER_DIR:-$src/build/container}
rootfs=$cache/rootfs
log=$cache/container.log
suite=bookworm
base=localhost/debian:$suite
image=localhost/charlm:latest
mkdir -p "$cache"
: >"$log"
exec > >(tee -a "$log") 2>&1

# Each step's name and time, for the summary; a failing command names its step in the message.
step_names=() step_secs=() step=setup t0=$EPOCHREALTIME
begin() { step=$1; t0=$EPOCHREALTIME; say "$step"; }
end() {
  local secs
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  step_names+=("$step"); step_secs+=("$secs")
  say "$step: done in $secs s"
}
trap 'rc=$?; echo "container.sh: FAILED in step \"$step\" (exit $rc) at line $LINENO: $BASH_COMMAND" >&2;
      [ "${FUNCNAME[0]:-}" = pm ] && echo "container.sh: (the command is the last line starting with + podman above)" >&2
      echo "container.sh: the whole log is in $log" >&2' ERR
set -o errtrace

# --- tools ---------------------------------------------------------------------------------------
begin "tools (podman, debootstrap)"
missing=()
for tool in podman:podman debootstrap:debootstrap wget:wget; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing with apt: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Global podman options: the caller's, else overlay storage if it works here, else vfs (slower,
# copies each layer, but needs no overlay mount).
read -r -a popts <<<"${PODMAN_OPTS:-}"
if [ ${#popts[@]} -eq 0 ] && ! podman info >/dev/null 2>&1; then
  say "podman info fails with the default storage; using --storage-driver vfs"
  popts=(--storage-driver vfs)
fi
pm() {  # podman with the options chosen here; a failure's message then shows the command in full
  [ "$1 $2" = "image exists" ] || echo "+ $(printf '%q ' podman "${popts[@]}" "$@")" >&2
  podman "${popts[@]}" "$@"
}
pm info --format 'podman {{.Version.Version}}: storage {{.Store.GraphDriverName}} in {{.Store.GraphRoot}}, cgroups {{.Host.CgroupsVersion}} ({{.Host.CgroupManager}}), runtime {{.Host.OCIRuntime.Name}}'
end

# --- the mirror ----------------------------------------------------------------------------------
# The first URI serving $suite's main component in the host's apt sources, in either format
# (deb822 *.sources, one-line *.list); files renamed to anything else are not read by apt either.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$1" '
      function flush() { if (uri != "" && suites ~ ("(^| )" suite "( |$)") && comps ~ /(^| )main( |$)/ && types ~ /(^| )deb( |$)/) print uri; uri = suites = comps = types = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 " " }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
      tolower($1) == "components:" { $1 = ""; comps = $0 " " }
      END { flush() }' "$f"
  done
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' |
    awk -v suite="$1" '$1 == "deb" && $3 == suite { for (i = 4; i <= NF; i++) if ($i == "main") print $2 }'
}
begin "mirror"
mirror=${CHARLM_MIRROR:-$(host_mirror $suite | sed -n 1p)}
[ -n "$mirror" ] || die "no '$suite main' entry in /etc/apt/sources.list{,.d}: set CHARLM_MIRROR=http://..."
security=$(host_mirror $suite-security | sed -n 1p)
mirror=${mirror%/}
say "Debian mirror: $mirror${security:+ (security: $security)}"
wget -q -T 20 -t 2 -O /dev/null "$mirror/dists/$suite/Release" \
  || die "cannot fetch $mirror/dists/$suite/Release: no network to the Debian mirror (set CHARLM_MIRROR)"
end

# --- base image: debootstrap, then import ---------------------------------------------------------
if [ $rebuild_base = 1 ]; then rm -rf "$rootfs"; fi
fresh=0  # whether the rootfs is new, so that the image is imported again under the same name
if [ -f "$rootfs/etc/debian_version" ]; then
  say "base rootfs: reusing $rootfs (Debian $(cat "$rootfs/etc/debian_version"); --rebuild-base to redo)"
else
  begin "debootstrap $suite (minbase) into $rootfs"
  rm -rf "$rootfs.tmp"
  debootstrap --variant=minbase --components=main "$suite" "$rootfs.tmp" "$mirror"
  # The same suites the debian:bookworm image lists, from this mirror: updates and security too.
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -n "$security" ] && echo "deb ${security%/} $suite-security main"
  } >"$rootfs.tmp/etc/apt/sources.list"
  # As Docker's Debian images: no package cache kept, no lists, no host name or resolver of this host.
  chroot "$rootfs.tmp" apt-get clean
  rm -rf "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/var/cache/apt/*.bin "$rootfs.tmp/etc/hostname"
  : >"$rootfs.tmp/etc/resolv.conf"
  mv "$rootfs.tmp" "$rootfs"
  fresh=1
  end
fi
if [ $fresh = 0 ] && pm image exists "$base"; then
  say "base image: reusing $base"
else
  begin "import $rootfs as $base"
  tar -C "$rootfs" --numeric-owner -cf - . |
    pm import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --message "debootstrap --variant=minbase $suite $mirror" - "$base"
  end
fi
pm images "$base"

# --- can a container run here, and with which options? -------------------------------------------
# Tries `podman run ... true` on the base and fixes what a sandbox is known to refuse, one error at a
# time: crun refuses a host whose cgroup v1 hierarchy has a cgroup v2 one beside it with controllers
# ("hybrid mode"), which runc accepts; a host without CAP_SYS_RESOURCE cannot raise the rlimits
# podman asks for by default (nofile 1048576), so they are set to this shell's hard limits.
# Anything else stops the script here with the command and its error.
begin "probe: run a container from $base"
ropts=()  # options for every container, `podman build`'s RUN steps included
hard() { local v; v=$(ulimit -H "$1"); [ "$v" = unlimited ] && v=$2; [ "$v" -gt "$2" ] && v=$2; echo "$v"; }
fixed=""
while ! pm run --rm --network host "${ropts[@]}" "$base" true 2>"$cache/probe.err"; do
  cat "$cache/probe.err"
  if grep -q 'cgroups in hybrid mode' "$cache/probe.err" && [[ $fixed != *runc* ]]; then
    if ! command -v runc >/dev/null; then
      say "installing runc with apt (crun cannot run on this host's cgroups)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc
    fi
    popts+=(--runtime runc); fixed+=" runc"
  elif grep -qi 'rlimit' "$cache/probe.err" && [[ $fixed != *ulimit* ]]; then
    nofile=$(hard -n 1048576) nproc=$(hard -u 32768)
    ropts+=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc"); fixed+=" ulimit"
  else
    die "no container runs on this machine: the command above fails with: $(tail -n1 "$cache/probe.err")"
  fi
  say "retrying with: ${popts[*]} ${ropts[*]}"
done
say "containers run here with: podman ${popts[*]:-(defaults)} run ${ropts[*]:-(defaults)}"
end

# --- the image ----------------------------------------------------------------------------------
# The build stage runs the test suite, which reads the shared corpora from ../shared/corpora beside
# the sources (tests/CMakeLists.txt): /shared/corpora in the image, mounted read-only for the build
# (a mount, not a COPY: outside the build context, and kept out of the image).
shared=${CHARLM_SHARED_CORPORA:-$src/../shared/corpora}
[ -f "$shared/tang300.txt" ] \
  || die "the test suite in the image's build stage needs the shared corpora: $shared/tang300.txt is missing (set CHARLM_SHARED_CORPORA=DIR)"
shared=$(cd "$shared" && pwd -P)
build_mounts=(-v "$shared:/shared/corpora:ro")
# The suite's browser test runs `npm ci` against npm's registry. A host behind a TLS-intercepting
# proxy trusts the proxy's CA through NODE_EXTRA_CA_CERTS, which the image's fresh CA store lacks:
# the build's npm then gets the host's CA file, read-only, through root's npmrc (build-time mounts
# only; nothing of it is left in the image). CHARLM_CONTAINER_CA=FILE names another file, =none none.
ca=${CHARLM_CONTAINER_CA:-${NODE_EXTRA_CA_CERTS:-none}}
ca_mounts=()
if [ "$ca" != none ]; then
  [ -r "$ca" ] || die "CA file $ca (CHARLM_CONTAINER_CA or NODE_EXTRA_CA_CERTS) is not readable"
  echo "cafile=/run/host-ca.crt" >"$cache/npmrc"
  ca_mounts=(-v "$(readlink -f "$ca"):/run/host-ca.crt:ro" -v "$cache/npmrc:/root/.npmrc:ro")
  build_mounts+=("${ca_mounts[@]}")
  say "the build's npm trusts the host's CA file $ca (NODE_EXTRA_CA_CERTS)"
fi

# --- or: a fresh machine ----------------------------------------------------------------------------
# The README's first command as a newcomer runs it: a clone of HEAD in the bare base (no package of
# charlm's installed), as root, over the host's network; nothing of the host's but the CA file.
if [ $fresh = 1 ]; then
  fresh_dir=$cache/fresh
  rm -rf "$fresh_dir"; mkdir -p "$fresh_dir"
  git clone -q "$src" "$fresh_dir/charlm"
  begin "fresh machine: bash scripts/setup.sh run in $base"
  pm run --rm --network host "${ropts[@]}" "${ca_mounts[@]}" -v "$fresh_dir/charlm:/charlm" -w /charlm "$base" \
    bash scripts/setup.sh run
  end
  say "summary: setup.sh run on a fresh Debian 12 took ${step_secs[-1]} s; its model is in $fresh_dir/charlm/models"
  exit 0
fi
# --network host: the build's apt-get reaches the same mirror the host does, with no bridge to set up.
# --pull=never: the base is local; never ask a registry.
begin "podman build (Dockerfile, FROM $base; compiles charlm and runs its test suite)"
pm build --pull=never --network host "${cache_opt[@]}" "${ropts[@]}" "${build_mounts[@]}" \
  --build-arg BASE="$base" --build-arg RUNTIME_BASE="$base" \
  --build-arg CHARLM_COMMIT="$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -f "$src/Dockerfile" -t "$image" "$src"
end
pm images "$image"

# --- run it --------------------------------------------------------------------------------------
begin "run: charlm --version"
version=$(pm run --rm --network none "${ropts[@]}" "$image" --version)
echo "$version"
end

if [ $smoke = 1 ]; then
  smoke_dir=$cache/smoke
  rm -rf "$smoke_dir"; mkdir -p "$smoke_dir"
  # The corpus recipe downloads Debian's fortunes-zh with apt-get, which only root may update the
  # lists for: root in the container, writing to a host folder; the rest runs as the image's user.
  begin "run: corpora/prepare.sh tang300 (as root in the container, apt over the host's network)"
  pm run --rm --network host "${ropts[@]}" --user root -v "$smoke_dir:/smoke" --entrypoint bash "$image" \
    -c 'bash /opt/charlm/corpora/prepare.sh tang300 --out /smoke'
  end
  begin "run: train models/tang300-lstm.ini and generate (as user charlm, no network)"
  pm run --rm --network none "${ropts[@]}" -v "$smoke_dir:/smoke:ro" --entrypoint bash "$image" -c '
    set -e
    cd /home/charlm
    charlm train --config /opt/charlm/models/tang300-lstm.ini --corpus /smoke/tang300.txt \
      --out tang300-lstm.safetensors --force
    charlm generate --model tang300-lstm.safetensors.best --prefix "春眠" --length 100 \
      --temperature 0.8 --seed 1'
  end
fi

# --- summary --------------------------------------------------------------------------------------
say "summary: the image $image ran: $(head -n1 <<<"$version" | tr -s ' ')"
for i in "${!step_names[@]}"; do
  printf '   %8s s  %s\n' "${step_secs[$i]}" "${step_names[$i]}"
done
pm images --format '   {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^   ($base|$image)( |$)" || true
say "log: $log; run it yourself: podman run --rm $image --help"
