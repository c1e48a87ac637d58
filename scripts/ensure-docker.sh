#!/usr/bin/env bash
# Makes a Docker Engine answer on the socket the project will use, then makes
# the base image debian:bookworm-slim available to it.
#
# - An engine that already answers is used as it is.
# - Otherwise, as root on Debian, installs docker.io and starts dockerd in the
#   background (log: $OPENCLAW_DOCKERD_LOG, default /var/log/openclaw-dockerd.log).
# - The base image is pulled; where no registry answers, it is built with
#   debootstrap and imported, trimmed as the official slim image is: no
#   documentation, manual pages or translations (copyright files stay), and a
#   dpkg rule that keeps later `apt-get install`s from adding them back. That
#   takes the import from about 117 MB to about 75 MB (the gateway image's
#   budget is 100 MB). An import made before the trimming (no
#   org.openclaw.base label) is replaced by a trimmed one.
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

# The label our trimmed imports carry; bump the value when the trimming changes.
SLIM_LABEL=org.openclaw.base
SLIM_VERSION=slim-1

# An image imported here before the trimming existed: no digest (never
# pulled), no label. Pulled images and current imports are left alone.
untrimmed_import() {
  local info
  info=$(docker image inspect -f '{{len .RepoDigests}} {{index .Config.Labels "'"$SLIM_LABEL"'"}}' "$1" 2>/dev/null) || return 1
  [ "${info%% *}" = 0 ] && [ "${info#* }" != "$SLIM_VERSION" ]
}

# Trims a debootstrap root as Debian's official slim images are trimmed.
slim_rootfs() {
  local root=$1
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* \
    "$root"/usr/share/lintian/* "$root"/usr/share/linda/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/etc/apt/apt.conf.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
# Added by openclaw scripts/ensure-docker.sh, as in Debian's official slim images.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
# Added by openclaw scripts/ensure-docker.sh: no package archives or translations kept.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
CFG
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old
}

import_base() {
  [ "$(id -u)" = 0 ] || die "cannot pull $BASE_IMAGE and debootstrap needs root"
  local suite=${BASE_IMAGE#*:}
  suite=${suite%-slim}
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 \
      || die "apt-get install debootstrap failed"
  fi
  root=$(mktemp -d /var/tmp/openclaw-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase "$suite" "$root" >&2 || die "debootstrap $suite failed"
  slim_rootfs "$root"
  tar -C "$root" -c . | docker import --change "LABEL $SLIM_LABEL=$SLIM_VERSION" --change 'CMD ["bash"]' - "$BASE_IMAGE" >&2 \
    || die "docker import failed"
}

if ! have_image "$BASE_IMAGE"; then
  say "pulling $BASE_IMAGE"
  if ! timeout 120 docker pull "$BASE_IMAGE" >&2 2>/dev/null; then
    say "pull failed; building $BASE_IMAGE with debootstrap"
    import_base
  fi
elif untrimmed_import "$BASE_IMAGE"; then
  say "$BASE_IMAGE was imported untrimmed; importing a trimmed one (images built on the old one keep working)"
  import_base
fi
have_image "$BASE_IMAGE" || die "$BASE_IMAGE is still missing"
say "$BASE_IMAGE is available"
