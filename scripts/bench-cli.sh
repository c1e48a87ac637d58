#!/usr/bin/env bash
# Prints the release binary's size and, for a few CLI commands, the median
# wall time and the peak resident memory over N runs, beside baselines:
# `/bin/true` (the cost of starting any process; needs GNU time) and `docker --version`
# (the CLI users already run) where installed.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
cargo build --release --locked -q
BIN=$(pwd)/${CARGO_TARGET_DIR:-target}/release/openclaw
[ -x "$BIN" ] || BIN=${CARGO_TARGET_DIR}/release/openclaw
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.openclaw"
chmod 700 "$tmp/.openclaw"
cp tests/fixtures/seed-sandbox-full.json5 "$tmp/.openclaw/openclaw.json"

printf 'binary: %s bytes (%.2f MiB)\n' "$(stat -c %s "$BIN")" "$(python3 -c "print($(stat -c %s "$BIN")/1048576)")"
HOME="$tmp" N="$N" BIN="$BIN" python3 - <<'PY'
import os, shutil, statistics, subprocess, tempfile, time

n = int(os.environ["N"])
binary = os.environ["BIN"]

def measure(name, argv):
    times = []
    for _ in range(n):
        before = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - before) * 1000)
    # Peak RSS from GNU time, whose own small fork is the floor (see /bin/true).
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak_kib = int(out.read().split()[-1])
    print(f"{name:<44} {statistics.median(times):8.2f} ms {peak_kib / 1024:8.2f} MiB")

print(f"{'command':<44} {'median':>11} {'peak RSS':>12}")
measure("/bin/true (process baseline)", ["/bin/true"])
if shutil.which("docker"):
    measure("docker --version (CLI baseline)", ["docker", "--version"])
measure("openclaw --version", [binary, "--version"])
measure("openclaw config validate (seed example)", [binary, "config", "validate"])
measure("openclaw config get (one key)", [binary, "config", "get", "agents.defaults.sandbox.docker.image"])
PY
