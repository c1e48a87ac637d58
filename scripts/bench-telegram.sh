#!/usr/bin/env bash
# Telegram figures (issue 7's benchmark): the gateway's resident memory with
# 0, 1 and 10 connected bot accounts (against the fake Bot API), and
# message-in → reply-out latency with an instant fake model, beside the
# fake's raw round trip (a bare client's getUpdates + sendMessage).
# BENCH_MESSAGES (default 50) sets the number of messages.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q --example bench_telegram
cargo build --release --locked -q
T=${CARGO_TARGET_DIR:-target}
BIN=$(cd "$T/release" && pwd)/openclaw
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 700 -p "$tmp/state"
"$T/release/examples/bench_telegram" "$BIN" "$tmp/state" 18951 "${BENCH_MESSAGES:-50}"
