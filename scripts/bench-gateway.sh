#!/usr/bin/env bash
# Gateway figures (issue 4's benchmark): start-up to the first 200 on
# /healthz, resident memory idle and after 1,000 health RPCs, the
# whole-process time and peak memory of `openclaw health`, and WebSocket RPC
# p50/p99 with 50 concurrent clients. Baselines beside them: Python's
# http.server (start to first 200, RSS) and `curl` against /healthz.
# BENCH_IDLE_SECS (default 60) shortens the idle wait.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q --example bench_gateway
cargo build --release --locked -q
T=${CARGO_TARGET_DIR:-target}
BIN=$(cd "$T/release" && pwd)/openclaw
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; pkill -f "openclaw gateway --allow-unconfigured --port 18931" 2>/dev/null || true' EXIT
mkdir -m 700 -p "$tmp/state"
PORT=18931

printf 'binary: %s bytes\n\n' "$(stat -c %s "$BIN")"
"$T/release/examples/bench_gateway" "$BIN" "$tmp/state" "$PORT"

echo
echo "openclaw health (whole process, median of 30, peak RSS by GNU time):"
OPENCLAW_STATE_DIR="$tmp/state" "$BIN" gateway --allow-unconfigured --port $PORT --token bench0123456789abcdef0123456789abcdef >/dev/null 2>&1 &
gw=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
OPENCLAW_STATE_DIR="$tmp/state" BIN="$BIN" PORT=$PORT python3 - <<'PY'
import os, statistics, subprocess, tempfile, time
env = dict(os.environ, OPENCLAW_GATEWAY_PORT=os.environ["PORT"], OPENCLAW_GATEWAY_TOKEN="bench0123456789abcdef0123456789abcdef")
def measure(name, argv):
    times = []
    for _ in range(30):
        t = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append((time.perf_counter() - t) * 1000)
        assert r.returncode == 0, (name, r.returncode)
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        peak = int(out.read().split()[-1])
    print(f"  {name:<40} {statistics.median(times):7.2f} ms {peak/1024:7.2f} MiB")
measure("openclaw health", [os.environ["BIN"], "health"])
measure("openclaw health --json", [os.environ["BIN"], "health", "--json"])
measure("curl /healthz (HTTP baseline)", ["curl", "-fs", f"http://127.0.0.1:{os.environ['PORT']}/healthz"])
PY
kill $gw; wait $gw 2>/dev/null || true

echo
echo "Baseline: python3 -m http.server (start to first 200, RSS):"
python3 - <<'PY'
import subprocess, time, urllib.request, statistics
times = []
for _ in range(5):
    t = time.perf_counter()
    p = subprocess.Popen(["python3", "-m", "http.server", "18932", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:18932/", timeout=1).read(); break
        except Exception:
            time.sleep(0.002)
    times.append((time.perf_counter() - t) * 1000)
    rss = [l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]
    p.terminate(); p.wait()
print(f"  start to first 200  median {statistics.median(times):7.2f} ms   RSS {int(rss)/1024:.2f} MiB")
PY
