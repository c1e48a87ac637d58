#!/usr/bin/env bash
# Prints the release binary's size and, for a few CLI commands, the median
# wall time and the peak resident memory over N runs, beside a baseline
# (`/bin/true` for process start-up cost, and the `docker` CLI's `--version`
# where installed).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
cargo build --release --locked -q
BIN=target/release/openclaw
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp"
mkdir -p "$tmp/.openclaw"
cp tests/fixtures/seed-sandbox-full.json5 "$tmp/.openclaw/openclaw.json"

measure() { # name, command...
  local name=$1; shift
  local times=() peak=0
  for _ in $(seq "$N"); do
    local out
    out=$( { /usr/bin/time -f '%e %M' "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -n1)
    times+=("${out% *}")
    local kb=${out#* }
    [ "$kb" -gt "$peak" ] && peak=$kb
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-40s %8.1f ms %8.1f MiB\n' "$name" "$(echo "$median * 1000" | bc -l)" "$(echo "$peak / 1024" | bc -l)"
}

if ! command -v /usr/bin/time >/dev/null || ! command -v bc >/dev/null; then
  echo "bench-cli.sh needs GNU time and bc (apt-get install time bc)" >&2
  exit 1
fi

printf 'binary: %s, %d bytes (%.2f MiB)\n' "$BIN" "$(stat -c %s "$BIN")" "$(echo "$(stat -c %s "$BIN") / 1048576" | bc -l)"
printf '%-40s %11s %12s\n' command "median" "peak RSS"
measure "/bin/true (process baseline)" /bin/true
command -v docker >/dev/null && measure "docker --version (baseline)" docker --version
measure "openclaw --version" "$BIN" --version
measure "openclaw config validate (seed example)" "$BIN" config validate
measure "openclaw config get gateway" "$BIN" config get agents.defaults.sandbox.docker.image
