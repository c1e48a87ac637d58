#!/usr/bin/env bash
# Measures the gateway image (a benchmark, not a test; prints figures):
#
#   size                      docker image inspect .Size of the built image
#   cold build                docker build --no-cache (every stage, apt included)
#   rebuild after a one-line  one line added to src/lib.rs, then docker build with the
#   source change             cache (the dependency layer is reused)
#   start to /healthz 200     docker run -d until the host gets 200 from the published port
#   start to "healthy"        until Docker reports healthy, with --health-interval=100ms
#                             (the image's own interval is 10 s: engine 20.10 has no
#                             start interval, so its first check is 10 s after start)
#   memory after 60 s idle    docker stats --no-stream (cgroup usage) and the gateway's RSS
#
# Works in a temporary copy of the build context; the images it tags
# (openclaw-bench:*) and its container are removed at the end. Needs the
# engine (scripts/ensure-docker.sh) and a builder (scripts/ensure-builder-image.sh).
# OPENCLAW_BENCH_IDLE_S changes the idle wait (default 60).
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
IDLE_S="${OPENCLAW_BENCH_IDLE_S:-60}"
NAME="openclaw-bench-image-$$"
CTX="$(mktemp -d /tmp/openclaw-bench-image.XXXXXX)"

cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker rmi openclaw-bench:edit openclaw-bench:cold >/dev/null 2>&1 || true
  rm -rf "$CTX"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
row() { printf '%-36s %s\n' "$1" "$2"; }

bash "$ROOT_DIR/scripts/ensure-docker.sh" >/dev/null 2>&1 || { echo "bench-image: no Docker engine (scripts/ensure-docker.sh)" >&2; exit 1; }
RUST_IMAGE="$(bash "$ROOT_DIR/scripts/ensure-builder-image.sh")"

mkdir -p "$CTX/scripts"
(cd "$ROOT_DIR" && cp -r Dockerfile .dockerignore Cargo.toml Cargo.lock build.rs src ui "$CTX/")
cp "$ROOT_DIR/scripts/docker-entrypoint.sh" "$CTX/scripts/"
build() { docker build -q --build-arg "RUST_IMAGE=$RUST_IMAGE" "$@" "$CTX" >/dev/null; }

echo "bench-image: builder $RUST_IMAGE, $(nproc) CPUs" >&2
echo "bench-image: cold build (docker build --no-cache)…" >&2
t=$(now)
build --no-cache -t openclaw-bench:cold
cold=$(since "$t")
size=$(docker image inspect -f '{{.Size}}' openclaw-bench:cold)
binary=$(docker run --rm --entrypoint sh openclaw-bench:cold -c 'stat -c %s /usr/local/bin/openclaw')

echo "bench-image: rebuild after a one-line change to src/lib.rs…" >&2
echo "// bench-image: one-line change $$" >>"$CTX/src/lib.rs"
t=$(now)
build -t openclaw-bench:edit
rebuild=$(since "$t")

echo "bench-image: start to healthy…" >&2
port=$( (python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') 2>/dev/null || echo 28999)
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
t=$(now)
docker run -d --name "$NAME" --init -p "127.0.0.1:$port:18789" --health-interval=100ms --health-start-period=0s \
  openclaw-bench:cold gateway --allow-unconfigured --bind lan --port 18789 --token "$token" >/dev/null
to_200=""
to_healthy=""
for _ in $(seq 1 3000); do
  if [ -z "$to_200" ] && curl -sf --max-time 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    to_200=$(since "$t")
  fi
  if [ -z "$to_healthy" ] && [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME")" = healthy ]; then
    to_healthy=$(since "$t")
  fi
  [ -n "$to_200" ] && [ -n "$to_healthy" ] && break
  sleep 0.01
done

echo "bench-image: ${IDLE_S} s idle (a fresh container with the image's own health check)…" >&2
docker rm -f "$NAME" >/dev/null
docker run -d --name "$NAME" --init -p "127.0.0.1:$port:18789" \
  openclaw-bench:cold gateway --allow-unconfigured --bind lan --port 18789 --token "$token" >/dev/null
sleep "$IDLE_S"
mem=$(docker stats --no-stream --format '{{.MemUsage}}' "$NAME")
rss=$(docker exec "$NAME" sh -c 'for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = openclaw ] && sed -n "s/^VmRSS:[[:space:]]*//p" "$p/status"; done' | head -n1)

echo
row "image size" "$(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }') (binary $(awk -v s="$binary" 'BEGIN { printf "%.2f MB", s / 1e6 }'))"
row "cold build (--no-cache)" "${cold} s"
row "rebuild after a one-line change" "${rebuild} s"
row "start to /healthz 200 (host)" "${to_200:-not reached} s"
row "start to healthy (100 ms interval)" "${to_healthy:-not reached} s"
row "memory after ${IDLE_S} s idle" "${mem} (docker stats), gateway RSS ${rss:-?}"
