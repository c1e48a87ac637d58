#!/usr/bin/env bash
# Discord channel figures (issue 7's benchmark), against the fake Discord
# (REST + Gateway WebSocket on 127.0.0.1) and an instant fake model:
# resident memory of the gateway with 0, 1 and 10 connected accounts, and
# message-in → reply-out latency (median, p95) with baselines beside it (one
# raw round trip to the fake model and to the fake's message endpoint).
# BENCH_MESSAGES (default 50) sets the number of messages.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q --example bench_discord
cargo build --release --locked -q
T=${CARGO_TARGET_DIR:-target}
BIN=$(cd "$T/release" && pwd)/openclaw
N=${BENCH_MESSAGES:-50}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 700 -p "$tmp/state"
"$T/release/examples/bench_discord" "$BIN" "$tmp/state" "${BENCH_PORT:-18943}" "$N"
