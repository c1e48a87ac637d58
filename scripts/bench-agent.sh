#!/usr/bin/env bash
# Agent turn figures (issue 5's benchmark): with an instant fake model, the
# total time of a turn, the model and tool time inside it, and the gateway's
# own share (the rest); then resident memory per idle session. Runs with
# host exec and, when a Docker Engine answers, with exec in a warm sandbox.
# Baseline beside the sandbox figures: `docker exec <container> true` (CLI).
# BENCH_TURNS (default 50) sets the turns per row.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q --example bench_agent
cargo build --release --locked -q
T=${CARGO_TARGET_DIR:-target}
BIN=$(cd "$T/release" && pwd)/openclaw
N=${BENCH_TURNS:-50}
tmp=$(mktemp -d)
cleanup() {
  rm -rf "$tmp"
  if command -v docker >/dev/null 2>&1; then
    docker ps -aq --filter name=openclaw-bench-agent- | xargs -r docker rm -f >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

mkdir -m 700 -p "$tmp/host"
"$T/release/examples/bench_agent" "$BIN" "$tmp/host" 18941 host "$N"

if docker info >/dev/null 2>&1 && docker image inspect openclaw-sandbox:bookworm-slim >/dev/null 2>&1; then
  echo
  mkdir -m 700 -p "$tmp/sbx"
  "$T/release/examples/bench_agent" "$BIN" "$tmp/sbx" 18942 sandbox "$N"
  c=$(docker ps -q --filter name=openclaw-bench-agent- | head -n1)
  python3 - "$c" <<'PY'
import statistics, subprocess, sys, time
c = sys.argv[1]
t = []
for _ in range(20):
    s = time.perf_counter()
    subprocess.run(["docker", "exec", c, "true"], check=True)
    t.append((time.perf_counter() - s) * 1000)
print(f"  baseline: docker exec <sandbox> true (CLI), median of 20: {statistics.median(t):.2f} ms")
PY
else
  echo "(no Docker Engine or sandbox image: the sandbox row is skipped)"
fi
