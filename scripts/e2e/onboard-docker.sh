#!/usr/bin/env bash
# End-to-end test of the containerized gateway against the real Docker Engine
# (run by scripts/test.sh; also on its own). It:
#
#  1. makes sure of an engine, the base image, a compose tool and a Rust
#     builder image (scripts/ensure-docker.sh, apt's docker-compose,
#     scripts/ensure-builder-image.sh);
#  2. builds openclaw:local;
#  3. runs docker-setup.sh non-interactively with OPENCLAW_SANDBOX=1 in a
#     temporary copy of the repository's Docker files, with a temporary config
#     folder that already holds a token (reused, not replaced), a .env with
#     other keys (kept verbatim), an extra mount and a home volume;
#  4. checks health through the openclaw-cli service, devices list, the
#     dashboard URL, /healthz from the host, the Docker health status, the
#     extra mount, the one-shot `docker run --rm openclaw:local agent
#     --message …`, and a sandboxed exec through the gateway's /tools/invoke
#     (the command must run as the sandbox user, and the file it writes must
#     appear in the host's config folder: Docker-out-of-Docker binds);
#  5. runs the manual compose flow on a fresh config folder: `run --rm
#     openclaw-cli onboard` before any gateway ran, then `up -d`;
#  6. tears everything down (containers, networks, volumes, temporary
#     folders), also on failure. Images are kept: openclaw:local, the sandbox
#     image and the builder are caches.
#
# Every step prints a line; a failing check says what it expected and saw.
# Exit code 0 only when every check passed.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/../.." && pwd)"

ID="openclaw-test-e2e-$$"
WORK="$(mktemp -d /tmp/openclaw-e2e.XXXXXX)"
TOKEN="e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
HOME_VOLUME="$ID-home"
FAILED=()
STARTED=$SECONDS

step() { printf '\n=== e2e [%3ss] %s\n' "$((SECONDS - STARTED))" "$*"; }
ok() { echo "  ok: $*"; }
bad() {
  echo "  FAILED: $*" >&2
  FAILED+=("$*")
}
die() {
  bad "$*"
  exit 1
}

# A port nothing listens on (bash's /dev/tcp connect fails).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

HOME_NODE_EXISTED=""
[ ! -e /home/node ] || HOME_NODE_EXISTED=1

cleanup() {
  local code=$?
  step "teardown"
  for project in "$ID" "$ID-manual"; do
    local dir="$WORK/$project" args=()
    [ -d "$dir/repo" ] || continue
    for f in docker-compose.yml docker-compose.extra.yml docker-compose.sandbox.yml; do
      [ ! -f "$dir/repo/$f" ] || args+=(-f "$dir/repo/$f")
    done
    (cd "$dir/repo" && COMPOSE_PROJECT_NAME="$project" "${COMPOSE[@]}" "${args[@]}" down -v --remove-orphans >/dev/null 2>&1) || true
  done
  # Sandbox containers the gateways made carry our prefix.
  docker ps -aq --filter "name=^$ID" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume rm "$HOME_VOLUME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  # Before bind translation existed, Docker made the gateway's container paths
  # on the host; remove them if this run made them.
  [ -n "$HOME_NODE_EXISTED" ] || rm -rf /home/node
  if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "" >&2
    echo "e2e: ${#FAILED[@]} check(s) failed:" >&2
    printf '  - %s\n' "${FAILED[@]}" >&2
    exit 1
  fi
  [ "$code" = 0 ] && echo "e2e: all checks passed in $((SECONDS - STARTED)) s"
  exit "$code"
}
COMPOSE=(docker compose)
trap cleanup EXIT

# ---------------------------------------------------------------------------
step "engine, base image, compose, builder"
bash "$ROOT_DIR/scripts/ensure-docker.sh"
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif docker-compose version >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "  installing docker-compose from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1; } \
    || die "cannot install docker-compose (apt-get install docker-compose)"
  COMPOSE=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is available; install one"
fi
ok "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?'))"
RUST_IMAGE="$(bash "$ROOT_DIR/scripts/ensure-builder-image.sh")" || die "no Rust builder image"
ok "builder: $RUST_IMAGE"

# ---------------------------------------------------------------------------
step "temporary copy of the Docker files"
# What docker-setup.sh and the image build read, nothing else.
copy_repo() {
  local to=$1
  mkdir -p "$to/scripts"
  (cd "$ROOT_DIR" && cp -r Dockerfile .dockerignore docker-compose.yml docker-setup.sh Dockerfile.sandbox \
    Cargo.toml Cargo.lock build.rs src ui "$to/")
  cp "$ROOT_DIR/scripts/docker-entrypoint.sh" "$ROOT_DIR/scripts/sandbox-setup.sh" "$to/scripts/"
}
REPO="$WORK/$ID/repo"
CONFIG="$WORK/$ID/config"
copy_repo "$REPO"
mkdir -p "$CONFIG" "$WORK/$ID/extra"
echo "extra mount" >"$WORK/$ID/extra/marker"
printf '# kept by docker-setup.sh\nOTHER_KEY=keep me verbatim\n\nOPENCLAW_GATEWAY_TOKEN=stale-token-from-env-file\n' >"$REPO/.env"
cat >"$CONFIG/openclaw.json" <<EOF
// JSON5: the token below must be reused, not replaced.
{
  gateway: { auth: { token: "$TOKEN" } },
  agents: { defaults: { sandbox: { docker: { containerPrefix: "$ID-sbx-" } } } },
}
EOF
PORT="$(free_port)" && BRIDGE="$(free_port)" || die "no free port"
ok "$REPO, config $CONFIG, host ports $PORT and $BRIDGE"

# ---------------------------------------------------------------------------
step "build openclaw:local"
build_started=$SECONDS
docker build -q --build-arg "RUST_IMAGE=$RUST_IMAGE" -t openclaw:local -f "$REPO/Dockerfile" "$REPO" >/dev/null \
  || die "docker build of openclaw:local failed (run: docker build --build-arg RUST_IMAGE=$RUST_IMAGE -t openclaw:local .)"
ok "built in $((SECONDS - build_started)) s ($(docker image inspect -f '{{.Size}}' openclaw:local | awk '{printf "%.1f MB", $1/1e6}'))"

# ---------------------------------------------------------------------------
step "docker-setup.sh (non-interactive, OPENCLAW_SANDBOX=1)"
export COMPOSE_PROJECT_NAME="$ID"
setup_status=0
(
  cd "$REPO"
  OPENCLAW_NONINTERACTIVE=1 OPENCLAW_SANDBOX=1 OPENCLAW_RUST_IMAGE="$RUST_IMAGE" \
    OPENCLAW_CONFIG_DIR="$CONFIG" OPENCLAW_GATEWAY_PORT="$PORT" OPENCLAW_BRIDGE_PORT="$BRIDGE" \
    OPENCLAW_HOME_VOLUME="$HOME_VOLUME" OPENCLAW_EXTRA_MOUNTS=" $WORK/$ID/extra:/home/node/extra:ro , " \
    ./docker-setup.sh </dev/null
) >"$WORK/setup.log" 2>&1 || setup_status=$?
grep -v -e '^Step ' -e '^ ---> ' -e '^Removing intermediate' -e '^Creating ' -e '^Recreating ' -e '^Starting ' \
  -e '^Successfully' -e '^Sending build' "$WORK/setup.log" | sed 's/^/  | /'
if [ "$setup_status" = 0 ]; then ok "docker-setup.sh exited 0"; else bad "docker-setup.sh exited $setup_status (output above)"; fi

ARGS=(-f "$REPO/docker-compose.yml")
[ ! -f "$REPO/docker-compose.extra.yml" ] || ARGS+=(-f "$REPO/docker-compose.extra.yml")
[ ! -f "$REPO/docker-compose.sandbox.yml" ] || ARGS+=(-f "$REPO/docker-compose.sandbox.yml")
dc() { "${COMPOSE[@]}" "${ARGS[@]}" "$@"; }
GW="$(dc ps -q openclaw-gateway 2>/dev/null | head -n1)"
[ -n "$GW" ] || die "no openclaw-gateway container: docker-setup.sh did not get as far as starting it"

# ---------------------------------------------------------------------------
step "files written by docker-setup.sh"
grep -qx 'OTHER_KEY=keep me verbatim' "$REPO/.env" && grep -qx '# kept by docker-setup.sh' "$REPO/.env" \
  && ok ".env kept the other keys verbatim" || bad ".env lost its other lines: $(cat "$REPO/.env")"
[ "$(grep -c '^OPENCLAW_GATEWAY_TOKEN=' "$REPO/.env")" = 1 ] && grep -qx "OPENCLAW_GATEWAY_TOKEN=$TOKEN" "$REPO/.env" \
  && ok ".env holds the token from openclaw.json (the stale .env token was replaced)" \
  || bad ".env token is not the one from openclaw.json: $(grep '^OPENCLAW_GATEWAY_TOKEN=' "$REPO/.env")"
[ "$(stat -c %a "$REPO/.env")" = 600 ] && ok ".env is 0600" || bad ".env mode is $(stat -c %a "$REPO/.env")"
head -n1 "$REPO/docker-compose.extra.yml" 2>/dev/null | grep -q '^# Generated by docker-setup.sh' \
  && grep -q "/home/node/extra:ro" "$REPO/docker-compose.extra.yml" \
  && ok "docker-compose.extra.yml is generated and has the mount" || bad "docker-compose.extra.yml missing or wrong"
config_token="$(dc run --rm -T openclaw-cli config get gateway.auth.token 2>/dev/null | tr -d '\r' || true)"
[ "$config_token" = "$TOKEN" ] && ok "openclaw.json kept its token" || bad "openclaw.json token is now '$config_token'"

# ---------------------------------------------------------------------------
step "the gateway through the openclaw-cli service"
if out="$(dc run --rm -T openclaw-cli health 2>&1)"; then ok "health: $(echo "$out" | grep -m1 '^Agents:')"; else bad "openclaw-cli health failed: $out"; fi
if out="$(dc run --rm -T openclaw-cli devices list 2>&1)" && echo "$out" | grep -q '^Paired'; then
  ok "devices list: $(echo "$out" | grep '^Paired')"
else
  bad "openclaw-cli devices list failed: $out"
fi
out="$(dc run --rm -T openclaw-cli dashboard --no-open 2>&1 || true)"
url="$(echo "$out" | sed -n 's/^Dashboard URL: //p' | tr -d '\r')"
[ "$url" = "http://127.0.0.1:18789/#token=$TOKEN" ] && ok "dashboard URL: ${url%%#*}#token=…" || bad "dashboard --no-open printed: $out"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/healthz" || true)"
[ "$code" = 200 ] && ok "host http://127.0.0.1:$PORT/healthz answers 200" || bad "host /healthz answered '$code'"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/" || true)"
[ "$code" = 200 ] && ok "the Control UI is served on the published port" || bad "GET / answered '$code'"
health=""
for _ in $(seq 1 40); do
  health="$(docker inspect -f '{{.State.Health.Status}}' "$GW" 2>/dev/null || true)"
  [ "$health" = healthy ] && break
  sleep 1
done
[ "$health" = healthy ] && ok "Docker health status: healthy (HEALTHCHECK openclaw gateway probe)" || bad "Docker health status: '$health'"
out="$(dc exec -T openclaw-gateway cat /home/node/extra/marker 2>&1 || true)"
[ "$out" = "extra mount" ] && ok "extra mount visible in the gateway" || bad "extra mount not visible: $out"
out="$(dc exec -T openclaw-gateway sh -c 'id -u; stat -c %u /home/node/.openclaw; mount | grep -c " /home/node "' 2>&1 || true)"
[ "$(echo "$out" | tr '\n' ' ')" = "1000 1000 1 " ] && ok "runs as uid 1000, owns its state, /home/node is the volume $HOME_VOLUME" \
  || bad "uid/ownership/home volume: $out"
dc exec -T openclaw-gateway sh -c 'command -v docker' >/dev/null 2>&1 && bad "the image has a docker CLI" || ok "no docker CLI in the image"
# The one-shot form in the gateway's network namespace: no model is configured,
# so the agent's answer is the one telling how to add one.
out="$(docker run --rm --network "container:$GW" -v "$CONFIG:/home/node/.openclaw" -e OPENCLAW_GATEWAY_PORT=18789 \
  openclaw:local agent --message "hello" 2>&1 || true)"
echo "$out" | grep -q "No model provider is configured" \
  && ok "one-shot: docker run --rm openclaw:local agent --message … got the agent's answer" || bad "one-shot agent run: $out"

# ---------------------------------------------------------------------------
step "sandboxed exec through the containerized gateway"
grep -q '^Sandbox: enabled' "$WORK/setup.log" && ok "docker-setup.sh enabled the sandbox" \
  || bad "docker-setup.sh did not enable the sandbox: $(grep -m1 '^Sandbox' "$WORK/setup.log" || echo '?')"
docker exec "$GW" openclaw config set gateway.tools.allow '["exec"]' >/dev/null || bad "config set gateway.tools.allow failed"
sleep 2 # the gateway reloads openclaw.json within a second
body='{"tool":"exec","args":{"command":"id -un; echo from-the-sandbox > e2e-marker.txt; cat e2e-marker.txt"},"sessionKey":"agent:main:e2e"}'
out="$(curl -s --max-time 120 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "$body" "http://127.0.0.1:$PORT/tools/invoke" || true)"
echo "  | /tools/invoke answered: $out"
if echo "$out" | grep -q '"ok":true' && echo "$out" | grep -q '"text":"sandbox\\nfrom-the-sandbox'; then
  ok "exec ran as the sandbox user"
else
  bad "sandboxed exec did not run in the sandbox (expected ok:true, the user 'sandbox' and 'from-the-sandbox')"
fi
marker="$(find "$CONFIG/sandboxes" -name e2e-marker.txt 2>/dev/null | head -n1 || true)"
[ -n "$marker" ] && ok "the sandbox's file is on the host: ${marker#"$WORK"/}" \
  || bad "the file the sandbox wrote is not under $CONFIG/sandboxes (Docker-out-of-Docker bind translation)"
sbx="$(docker ps -q --filter "name=^$ID-sbx-" | wc -l)"
[ "$sbx" -ge 1 ] && ok "sandbox container $ID-sbx-… is running" || bad "no sandbox container named $ID-sbx-…"

# ---------------------------------------------------------------------------
step "manual compose flow (docs/docker.md) on a fresh config folder"
MREPO="$WORK/$ID-manual/repo"
MCONFIG="$WORK/$ID-manual/config"
copy_repo "$MREPO"
mkdir -p "$MCONFIG/workspace"
# As docs/docker.md says: the folders belong to uid 1000 (the image's node user).
chown -R 1000:1000 "$MCONFIG" 2>/dev/null || true
MPORT="$(free_port)" && MBRIDGE="$(free_port)" || die "no free port"
manual() {
  (cd "$MREPO" && COMPOSE_PROJECT_NAME="$ID-manual" OPENCLAW_CONFIG_DIR="$MCONFIG" OPENCLAW_WORKSPACE_DIR="$MCONFIG/workspace" \
    OPENCLAW_GATEWAY_PORT="$MPORT" OPENCLAW_BRIDGE_PORT="$MBRIDGE" "${COMPOSE[@]}" "$@")
}
if out="$(manual run --rm -T openclaw-cli onboard --non-interactive --accept-risk --mode local --skip-channels --skip-health --skip-daemon 2>&1)"; then
  ok "run --rm openclaw-cli onboard (before any gateway ran)"
else
  bad "run --rm openclaw-cli onboard failed: $out"
fi
manual up -d openclaw-gateway >/dev/null 2>&1 || bad "up -d openclaw-gateway failed"
out=""
for _ in $(seq 1 20); do
  out="$(manual run --rm -T openclaw-cli health 2>&1)" && break
  sleep 0.5
done
echo "$out" | grep -q '^Agents:' && ok "health after up -d" || bad "health after up -d: $out"
