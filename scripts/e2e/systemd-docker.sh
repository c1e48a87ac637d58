#!/usr/bin/env bash
# `openclaw gateway install` under a real systemd, and sandboxes made by that
# service from inside a container (Docker-out-of-Docker).
#
# Builds a throwaway image (debian:bookworm-slim + systemd), boots systemd in
# a container with the host's Docker socket, the freshly built binary and a
# host state folder (owned by uid 1000, mounted at /home/deploy/.openclaw),
# then:
#   1. as root: `OPENCLAW_STATE_DIR=/home/deploy/.openclaw openclaw gateway
#      install` writes a system unit running as `deploy` with the socket's
#      group; the gateway becomes healthy; a sandboxed tool call through
#      POST /tools/invoke makes a sandbox whose workspace is the *host* folder
#      (checked on the host); restart, stop, start, uninstall;
#   2. as `deploy` (in the docker group, lingering): the same with a user unit.
# Everything it made (containers, the image, the state folder) is removed on
# exit. Needs the engine (scripts/ensure-docker.sh), the sandbox image
# (scripts/sandbox-setup.sh) and the Debian mirror for apt inside the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
SOCK=${SOCK#unix://}
IMAGE=openclaw-e2e-systemd:local
PREFIX=openclaw-e2e-systemd-$$-
NAME=${PREFIX}host
TOKEN=e2e-systemd-token-0123456789abcdef
say() { echo "systemd-e2e: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

bash scripts/ensure-docker.sh
docker image inspect openclaw-sandbox:bookworm-slim >/dev/null 2>&1 || bash scripts/sandbox-setup.sh >&2
cargo build --release >&2
BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/openclaw"

STATE=$(mktemp -d /tmp/openclaw-e2e-systemd.XXXXXX)
cleanup() {
  docker ps -aq --filter "name=^${PREFIX}" | xargs -r docker rm -f >/dev/null 2>&1 || true
  [ "${KEEP_IMAGE:-0}" = 1 ] || docker rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

say "building $IMAGE"
docker build -q -t "$IMAGE" --build-arg "DOCKER_GID=$(stat -c %g "$SOCK")" - >/dev/null <<'EOF'
FROM debian:bookworm-slim
ARG DOCKER_GID
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv libpam-systemd dbus curl && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1000 deploy && (getent group "$DOCKER_GID" >/dev/null || groupadd -g "$DOCKER_GID" docker)
CMD ["/lib/systemd/systemd"]
EOF

cat >"$STATE/openclaw.json" <<EOF
{
  gateway: { mode: "local", auth: { token: "$TOKEN" } },
  agents: { defaults: { sandbox: { mode: "all", docker: { containerPrefix: "${PREFIX}sbx-" } } } },
}
EOF
chmod 700 "$STATE"; chmod 600 "$STATE/openclaw.json"; chown -R 1000:1000 "$STATE"

say "booting systemd"
docker run -d --name "$NAME" --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
  -v "$BIN:/usr/local/bin/openclaw:ro" -v "$SOCK:/var/run/docker.sock" \
  -v "$STATE:/home/deploy/.openclaw" "$IMAGE" >/dev/null
for _ in $(seq 1 50); do
  s=$(docker exec "$NAME" systemctl is-system-running 2>/dev/null || true)
  case "$s" in running|degraded) break ;; esac
  sleep 0.2
done
case "$s" in running|degraded) ;; *) die "systemd did not boot (state: ${s:-none})" ;; esac

# wait_healthy <exec options…>: `openclaw gateway status` until it exits 0.
wait_healthy() {
  for _ in $(seq 1 50); do
    docker exec "$@" "$NAME" openclaw gateway status >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  docker exec "$@" "$NAME" openclaw gateway status || true
  docker exec "$NAME" journalctl --no-pager -n 30 || true
  return 1
}

# sandbox_roundtrip <file>: a sandboxed `write` through the gateway lands in
# the host state folder, and the sandbox was given the host path.
sandbox_roundtrip() {
  docker exec "$NAME" curl -sf -X POST http://127.0.0.1:18789/tools/invoke \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"tool\":\"write\",\"args\":{\"path\":\"$1\",\"content\":\"from the service\\n\"}}" >/dev/null \
    || die "tools/invoke write failed"
  found=$(find "$STATE/sandboxes" -name "$1" | head -1)
  [ -n "$found" ] && [ "$(cat "$found")" = "from the service" ] || die "$1 is not in the host folder $STATE/sandboxes"
  binds=$(docker inspect -f '{{ .HostConfig.Binds }}' "${PREFIX}sbx-agent-main-f331f052")
  case "$binds" in *"$STATE/sandboxes/"*) ;; *) die "the sandbox was not given the host path: $binds" ;; esac
}

say "system unit (root installs for deploy's state folder)"
docker exec -e OPENCLAW_STATE_DIR=/home/deploy/.openclaw "$NAME" openclaw gateway install >&2
unit=$(docker exec "$NAME" cat /etc/systemd/system/openclaw-gateway.service)
grep -qx 'User=deploy' <<<"$unit" || die "no User=deploy in the unit"
grep -q '^SupplementaryGroups=' <<<"$unit" || die "no docker group in the unit"
grep -qx 'ProtectHome=tmpfs' <<<"$unit" || die "the unit is not hardened"
wait_healthy || die "the system service did not become healthy"
sandbox_roundtrip system.txt
for verb in restart stop start; do docker exec "$NAME" openclaw gateway "$verb" || die "gateway $verb"; done
wait_healthy || die "not healthy after stop/start"
docker exec "$NAME" openclaw gateway uninstall >&2
docker exec "$NAME" openclaw gateway status >/dev/null 2>&1 && die "still answering after uninstall"
docker rm -f "${PREFIX}sbx-agent-main-f331f052" >/dev/null

say "user unit (deploy, in the docker group, lingering)"
docker exec "$NAME" usermod -aG docker deploy
docker exec "$NAME" loginctl enable-linger deploy
for _ in $(seq 1 50); do
  docker exec "$NAME" systemctl is-active --quiet user@1000.service && break
  sleep 0.2
done
USER_ENV=(-u deploy -e HOME=/home/deploy -e USER=deploy -e XDG_RUNTIME_DIR=/run/user/1000
  -e DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus)
docker exec "${USER_ENV[@]}" "$NAME" openclaw gateway install >&2
docker exec "$NAME" test -f /home/deploy/.config/systemd/user/openclaw-gateway.service || die "no user unit"
wait_healthy "${USER_ENV[@]}" || die "the user service did not become healthy"
sandbox_roundtrip user.txt
docker exec "${USER_ENV[@]}" "$NAME" openclaw gateway uninstall >&2

say "passed"
