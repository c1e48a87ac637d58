#!/usr/bin/env bash
# Makes a Docker Engine answer on the socket the project will use, then makes
# the base image debian:bookworm-slim available to it.
#
# - An engine that already answers is used as it is.
# - Otherwise, as root on Debian, installs docker.io and starts dockerd in the
#   background (log: $OPENCLAW_DOCKERD_LOG, default /var/log/openclaw-dockerd.log).
# - The base image is pulled; where no registry answers, it is built with
#   debootstrap and imported.
# Exits non-zero with a message naming the problem when any step fails.
set -euo pipefail

SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
SOCK=${SOCK#unix://}
LOG=${OPENCLAW_DOCKERD_LOG:-/var/log/openclaw-dockerd.log}
BASE_IMAGE=${OPENCLAW_BASE_IMAGE:-debian:bookworm-slim}

die() { echo "ensure-docker: $*" >&2; exit 1; }
say() { echo "ensure-docker: $*" >&2; }
ping_engine() { curl -sf --unix-socket "$SOCK" --max-time 3 http://docker/_ping >/dev/null 2>&1; }

if ! ping_engine; then
  if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "no Docker Engine answers on $SOCK and dockerd is not installed; install Docker (or run as root to let this script install docker.io)"
    command -v apt-get >/dev/null 2>&1 || die "no Docker Engine answers on $SOCK and this is not a Debian-like system; install and start Docker first"
    say "installing docker.io from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq docker.io >&2 || die "apt-get install docker.io failed"
  fi
  [ "$(id -u)" = 0 ] || die "no Docker Engine answers on $SOCK; start it (sudo systemctl start docker)"
  [ "$SOCK" = /var/run/docker.sock ] || die "no Docker Engine answers on $SOCK (DOCKER_HOST); start that engine"
  say "starting dockerd (log: $LOG)"
  mkdir -p "$(dirname "$LOG")"
  nohup dockerd >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    ping_engine && break
    sleep 0.5
  done
  ping_engine || { tail -n 30 "$LOG" >&2 || true; die "dockerd did not answer on $SOCK within 60 s (see $LOG)"; }
fi
say "engine answers on $SOCK ($(curl -sf --unix-socket "$SOCK" http://docker/version | sed -n 's/.*"Version":"\([^"]*\)".*"ApiVersion":"\([^"]*\)".*/version \1, API \2/p'))"

have_image() { curl -sf --unix-socket "$SOCK" --max-time 10 "http://docker/images/$1/json" >/dev/null 2>&1; }

if ! have_image "$BASE_IMAGE"; then
  say "pulling $BASE_IMAGE"
  if ! timeout 120 docker pull "$BASE_IMAGE" >&2 2>/dev/null; then
    say "pull failed; building $BASE_IMAGE with debootstrap"
    [ "$(id -u)" = 0 ] || die "cannot pull $BASE_IMAGE and debootstrap needs root"
    suite=${BASE_IMAGE#*:}; suite=${suite%-slim}
    if ! command -v debootstrap >/dev/null 2>&1; then
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 \
        || die "apt-get install debootstrap failed"
    fi
    root=$(mktemp -d /var/tmp/openclaw-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase "$suite" "$root" >&2 || die "debootstrap $suite failed"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import - "$BASE_IMAGE" >&2 || die "docker import failed"
  fi
fi
have_image "$BASE_IMAGE" || die "$BASE_IMAGE is still missing"
say "$BASE_IMAGE is available"
