#!/usr/bin/env bash
# Prints (on stdout) the name of a Rust builder image for the gateway
# Dockerfile's RUST_IMAGE build argument, making it available first:
#
# 1. OPENCLAW_RUST_IMAGE, when set: used as it is if present, else pulled.
# 2. The Dockerfile's default (an official rust: image): present, or pulled.
# 3. Where no registry answers (CI here): openclaw-rust-builder:<rustc version>,
#    made from the local debian:bookworm-slim (scripts/ensure-docker.sh), this
#    host's rustup toolchain (rustc, cargo and the standard library for the
#    host and musl targets; about 600 MB, no docs), gcc and musl-tools from
#    Debian, and the CA bundle the host trusts ($SSL_CERT_FILE), named in
#    CARGO_HTTP_CAINFO so cargo in the build trusts the same HTTPS proxy the
#    host does. The bundle stays in this builder image: the gateway image's
#    runtime stage copies only the binary out of it.
#    Remade when the toolchain, the CA bundle or this script change (label
#    org.openclaw.builder); otherwise reused.
#
# Exits non-zero with a message naming the problem when no builder can be had.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"

say() { echo "ensure-builder-image: $*" >&2; }
die() { say "$*"; exit 1; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
try_pull() { timeout 300 docker pull "$1" >&2 2>/dev/null; }

command -v docker >/dev/null 2>&1 || die "docker is not installed (scripts/ensure-docker.sh installs an engine)"

if [ -n "${OPENCLAW_RUST_IMAGE:-}" ]; then
  have_image "$OPENCLAW_RUST_IMAGE" || try_pull "$OPENCLAW_RUST_IMAGE" \
    || die "OPENCLAW_RUST_IMAGE=$OPENCLAW_RUST_IMAGE is neither present nor pullable"
  echo "$OPENCLAW_RUST_IMAGE"
  exit 0
fi

default=$(sed -n 's/^ARG RUST_IMAGE=//p' "$ROOT_DIR/Dockerfile" | head -n1)
[ -n "$default" ] || die "no 'ARG RUST_IMAGE=' default in $ROOT_DIR/Dockerfile"
if have_image "$default" || try_pull "$default"; then
  echo "$default"
  exit 0
fi
say "cannot pull $default (no registry?); using a builder made from this host's Rust toolchain"

# --- The local builder ------------------------------------------------------
command -v rustc >/dev/null 2>&1 || die "no rustc on this host to make a builder from; install Rust with rustup"
have_image debian:bookworm-slim || die "debian:bookworm-slim is missing; run scripts/ensure-docker.sh first"
ca=${OPENCLAW_BUILDER_CA:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
[ -r "$ca" ] || die "the CA bundle $ca is not readable; set OPENCLAW_BUILDER_CA to the bundle cargo should trust"

host=$(rustc -vV | sed -n 's/^host: //p')
musl="$(uname -m)-unknown-linux-musl"
version=$(rustc -vV | sed -n 's/^release: //p')
sysroot=$(rustc --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/$musl/lib" ]; then
  command -v rustup >/dev/null 2>&1 || die "the $musl standard library is missing and there is no rustup to add it"
  say "adding the $musl target to the host toolchain"
  rustup target add "$musl" >&2 || die "rustup target add $musl failed"
fi

image="openclaw-rust-builder:$version"
key=$( { rustc -vV; cargo -V; sha256sum "$ca" "$0" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{ index .Config.Labels "org.openclaw.builder" }}' "$image" 2>/dev/null || true)" = "$key" ]; then
  echo "$image"
  exit 0
fi

ctx=$(mktemp -d /var/tmp/openclaw-builder.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rust/bin" "$ctx/rust/lib/rustlib"
# Hard links where the toolchain shares the file system, else copies.
link() { cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }
link "$sysroot/bin/rustc" "$ctx/rust/bin/"
link "$sysroot/bin/cargo" "$ctx/rust/bin/"
for lib in "$sysroot"/lib/*.so*; do link "$lib" "$ctx/rust/lib/"; done
link "$sysroot/lib/rustlib/$host" "$ctx/rust/lib/rustlib/"
[ "$musl" = "$host" ] || link "$sysroot/lib/rustlib/$musl" "$ctx/rust/lib/rustlib/"
cp "$ca" "$ctx/cargo-ca.crt"
cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev musl-tools \
 && rm -rf /var/lib/apt/lists/*
COPY rust /usr/local/rust
COPY cargo-ca.crt /usr/local/share/cargo-ca.crt
ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/usr/local/cargo \
    CARGO_HTTP_CAINFO=/usr/local/share/cargo-ca.crt
RUN rustc -vV && cargo -V
EOF
say "building $image (rustc $version, musl target, CA from $ca)"
docker build --label "org.openclaw.builder=$key" -t "$image" "$ctx" >&2 || die "building $image failed"
echo "$image"
