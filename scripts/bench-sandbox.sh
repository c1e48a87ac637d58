#!/usr/bin/env bash
# Sandbox exec benchmark: medians side by side, in one run, on one warm
# container, of
#   - our path: `openclaw sandbox exec -- true` (a whole process: config,
#     ensure, lease, exec, exit code), and the same through the library in one
#     process (the cost a gateway pays per tool call)
#   - `docker exec <c> true` and `docker exec <c> sh -lc true` (the docker
#     CLI; the second runs what the exec tool runs: a login shell)
#   - the raw Engine API with curl (exec create + start + inspect)
# and a cold acquire (create, start, first exec) through openclaw vs the
# docker CLI chain (create, start, exec).
# Needs a running engine, curl, the docker CLI and openclaw-sandbox:bookworm-slim
# (scripts/sandbox-setup.sh). Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
SOCK=${SOCK#unix://}
cargo build --release --locked -q --bin openclaw --example bench_exec
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in /*) ;; *) TARGET="$(pwd)/$TARGET" ;; esac
BIN=$TARGET/release/openclaw
LIBBENCH=$TARGET/release/examples/bench_exec

tmp=$(mktemp -d)
prefix="openclaw-bench-$$-"
cleanup() {
  for c in $(docker ps -aq --filter "name=${prefix}"); do docker rm -f "$c" >/dev/null 2>&1 || true; done
  docker rm -f "${prefix}cli-cold" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/.openclaw" && chmod 700 "$tmp/.openclaw"
cat > "$tmp/.openclaw/openclaw.json" <<JSON
{ agents: { defaults: { sandbox: { mode: "all", scope: "session", docker: { containerPrefix: "${prefix}" } } } } }
JSON
export HOME="$tmp"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_cmd() { # prints the median in ms of N runs of the command
  local t=()
  for _ in $(seq "$N"); do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    t+=("$(( (e - s) / 1000 ))")
  done
  printf '%s\n' "${t[@]}" | median | awk '{printf "%.1f", $1/1000}'
}

# Warm container for session "bench".
"$BIN" sandbox exec --session agent:main:bench -- true >/dev/null
C=$(docker ps -q --filter "name=${prefix}" | head -n1)

raw_exec() {
  local id
  id=$(curl -sf --unix-socket "$SOCK" -H 'Content-Type: application/json' \
    -d '{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}' \
    "http://docker/v1.41/containers/$C/exec" | sed 's/.*"Id":"\([^"]*\)".*/\1/')
  curl -sf --unix-socket "$SOCK" -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":false}' \
    "http://docker/v1.41/exec/$id/start" >/dev/null
  curl -sf --unix-socket "$SOCK" "http://docker/v1.41/exec/$id/json" >/dev/null
}

ours=$(time_cmd "$BIN" sandbox exec --session agent:main:bench -- true)
lib=$("$LIBBENCH" "$N" agent:main:bench)
cli=$(time_cmd docker exec "$C" true)
cli_sh=$(time_cmd docker exec "$C" sh -lc true)
raw=$(time_cmd raw_exec)

cold_ours() { "$BIN" sandbox exec --session "agent:main:cold$RANDOM$RANDOM" -- true; }
cold_cli() {
  docker create --name "${prefix}cli-cold" --init --read-only --network none --cap-drop ALL \
    --security-opt no-new-privileges openclaw-sandbox:bookworm-slim sleep infinity >/dev/null
  docker start "${prefix}cli-cold" >/dev/null
  docker exec "${prefix}cli-cold" true
  docker rm -f "${prefix}cli-cold" >/dev/null
}
NCOLD=${NCOLD:-10}
N_SAVE=$N; N=$NCOLD
cold_o=$(time_cmd cold_ours)
cold_c=$(time_cmd cold_cli)
N=$N_SAVE

printf '\nwarm exec of `true` (median of %s)\n' "$N"
printf '  %-44s %8s ms\n' "openclaw sandbox exec (whole process)" "$ours"
printf '  %-44s %8s ms\n' "library exec in a running process" "$lib"
printf '  %-44s %8s ms\n' "docker exec <c> true (CLI)" "$cli"
printf '  %-44s %8s ms\n' "docker exec <c> sh -lc true (CLI, as the tool)" "$cli_sh"
printf '  %-44s %8s ms\n' "raw Engine API via curl (3 calls)" "$raw"
printf '  ratio vs `docker exec true`:       openclaw %.2f   library %.2f\n' "$(echo "$ours / $cli" | bc -l)" "$(echo "$lib / $cli" | bc -l)"
printf '  ratio vs `docker exec sh -lc true`: openclaw %.2f   library %.2f\n' "$(echo "$ours / $cli_sh" | bc -l)" "$(echo "$lib / $cli_sh" | bc -l)"
printf '\ncold acquire: create + start + first exec (median of %s; cold CLI chain includes rm)\n' "$NCOLD"
printf '  %-44s %8s ms\n' "openclaw sandbox exec (new session)" "$cold_o"
printf '  %-44s %8s ms\n' "docker create + start + exec (CLI)" "$cold_c"
printf '  ratio openclaw/CLI: %.2f\n' "$(echo "$cold_o / $cold_c" | bc -l)"
