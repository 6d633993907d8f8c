#!/usr/bin/env bash
# ringws's container image: build it, run it, test it, with podman or docker (whichever is
# installed; podman first; RINGWS_CONTAINER_ENGINE=docker picks docker).
#
# usage: scripts/container.sh build [options] [-- extra build arguments]
#          --tag NAME          image name (default ringws:latest, or $RINGWS_IMAGE)
#          --base IMAGE        base image of both stages (default debian:bookworm-slim)
#          --debootstrap       make the base image from Debian's packages instead of pulling one
#                              (where no image registry is reachable): debootstrap --variant=minbase
#                              bookworm, imported as localhost/ringws-base:bookworm, reused after
#          --mirror URL        the Debian mirror for --debootstrap (default: the one this
#                              machine's apt uses, from /etc/apt/sources.list*)
#          --target STAGE      ringws (default: the server and the drain watcher) or server
#                              (the server alone)
#        scripts/container.sh run [--tag NAME] [-- ringws arguments]
#          runs the image in the foreground on the host's network (no NAT, as an awsvpc task
#          has none; the admin listener is then on the host's 127.0.0.1:9090):
#          scripts/container.sh run -- --app echo --port 9000
#        scripts/container.sh test [--tag NAME] [build options] [-- pytest arguments]
#          builds the image if it is missing, then runs tests/container (pytest)
#   -h, --help   this text
#
# `build` installs podman (and runc) with apt-get when neither podman nor docker is there, and
# debootstrap when --debootstrap needs it. Every container gets nofile and nproc limits no
# higher than this machine's hard limits (--ulimit), since the runtimes' defaults can exceed
# them and root cannot raise them; in ECS the task definition sets nofile to 1048576.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="${RINGWS_IMAGE:-ringws:latest}"
base=""
debootstrap=0
mirror=""
target="ringws"
base_tag="localhost/ringws-base:bookworm"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "container.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
cmd="$1"; shift
case "$cmd" in -h|--help) usage; exit 0 ;; build|run|test) ;; *) die "unknown command: $cmd (see --help)" ;; esac

rest=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag="${2:?--tag needs a name}"; shift 2 ;;
    --base) base="${2:?--base needs an image}"; shift 2 ;;
    --debootstrap) debootstrap=1; shift ;;
    --mirror) mirror="${2:?--mirror needs a URL}"; shift 2 ;;
    --target) target="${2:?--target needs a stage}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; rest=("$@"); break ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
[[ "$target" == ringws || "$target" == server ]] || die "--target: ringws or server, not $target"

as_root() { if [[ $(id -u) -ne 0 ]]; then sudo "$@"; else "$@"; fi; }
apt_install() {
  echo "container.sh: installing $*" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

engine="${RINGWS_CONTAINER_ENGINE:-}"
find_engine() {
  if [[ -z "$engine" ]]; then
    if command -v podman >/dev/null 2>&1; then engine=podman
    elif command -v docker >/dev/null 2>&1; then engine=docker
    fi
  fi
}
find_engine
if [[ -z "$engine" && "$cmd" != run ]]; then
  apt_install podman runc
  find_engine
fi
[[ -n "$engine" ]] || die "neither podman nor docker is installed (scripts/container.sh build installs podman)"
command -v "$engine" >/dev/null 2>&1 || die "$engine is not installed"

# The limits every container (and every RUN step of a build) gets: the runtimes default to
# more than an unprivileged host may allow (podman: nofile 1048576), which fails at start.
limit() {  # $1 = hard limit ("unlimited" or a number), $2 = cap
  if [[ "$1" == unlimited ]] || (( $1 > $2 )); then echo "$2"; else echo "$1"; fi
}
nofile=$(limit "$(ulimit -Hn)" 1048576)
nproc=$(limit "$(ulimit -Hu)" 32768)
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

# The apt mirror this machine uses (deb822 .sources or one-line .list), for --debootstrap.
machine_mirror() {
  local f line
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
           /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb822: the URIs of a stanza whose Suites include bookworm (not bookworm-security).
    line=$(awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i=="bookworm") s=1}
                /^$/{if(u&&s&&!p){print u; p=1} u="";s=0} END{if(u&&s&&!p) print u}' "$f")
    [[ -n "$line" ]] && { echo "$line"; return; }
    line=$(awk '$1=="deb" && $0 ~ / bookworm / {for(i=2;i<=NF;i++) if($i ~ /^https?:/){print $i; exit}}' "$f")
    [[ -n "$line" ]] && { echo "$line"; return; }
  done
  echo "http://deb.debian.org/debian"
}

image_exists() { "$engine" image inspect "$1" >/dev/null 2>&1; }

make_base() {
  if image_exists "$base_tag"; then
    echo "container.sh: reusing the base image $base_tag" >&2
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local url="${mirror:-$(machine_mirror)}" dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ringws-base.XXXXXX")
  echo "container.sh: debootstrap --variant=minbase bookworm from $url" >&2
  if ! as_root debootstrap --variant=minbase bookworm "$dir" "$url" >"$dir.log" 2>&1; then
    tail -20 "$dir.log" >&2
    as_root rm -rf "$dir" "$dir.log"
    die "debootstrap failed (log above)"
  fi
  # What apt downloaded is not part of an image; the builds run apt-get update themselves.
  as_root rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
  as_root tar -C "$dir" -c . | "$engine" import - "$base_tag" >/dev/null
  as_root rm -rf "$dir" "$dir.log"
  echo "container.sh: base image $base_tag ($("$engine" image inspect --format '{{.Size}}' "$base_tag") bytes)" >&2
}

build() {
  if [[ $debootstrap -eq 1 ]]; then
    make_base
    base="$base_tag"
  fi
  local args=(build -f "$repo/Containerfile" -t "$tag" --target "$target" "${ulimits[@]}")
  [[ -n "$base" ]] && args+=(--build-arg "BASE_IMAGE=$base")
  local start=$SECONDS previous
  previous=$("$engine" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  "$engine" "${args[@]}" "${rest[@]}" "$repo"
  # Each build of changed sources leaves the previous image and build stage untagged; remove
  # ours (by ID, and only if nothing uses them), keeping the newest build stage as the cache.
  if [[ -n "$previous" && "$previous" != "$("$engine" image inspect --format '{{.Id}}' "$tag")" ]]; then
    "$engine" rmi "$previous" >/dev/null 2>&1 || true
  fi
  "$engine" images --filter label=org.ringws.stage=build --filter dangling=true --format '{{.ID}}' | tail -n +2 |
    while read -r id; do "$engine" rmi "$id" >/dev/null 2>&1 || true; done
  echo "container.sh: built $tag (target $target, base ${base:-debian:bookworm-slim}) in $((SECONDS - start)) s," \
       "$("$engine" image inspect --format '{{.Size}}' "$tag") bytes" >&2
}

case "$cmd" in
  build)
    build
    ;;
  run)
    image_exists "$tag" || die "no image $tag: run scripts/container.sh build first"
    tty=()
    [[ -t 0 && -t 1 ]] && tty=(-it)
    exec "$engine" run --rm "${tty[@]}" --network host "${ulimits[@]}" "$tag" "${rest[@]}"
    ;;
  test)
    if ! image_exists "$tag"; then
      pytest_args=("${rest[@]}")
      rest=()
      build
      rest=("${pytest_args[@]}")
    fi
    RINGWS_IMAGE="$tag" RINGWS_CONTAINER_ENGINE="$engine" RINGWS_CONTAINER_ULIMITS="${ulimits[*]}" \
      exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE "$repo/tests/container" "${rest[@]}"
    ;;
esac
