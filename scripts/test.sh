#!/usr/bin/env bash
# The one command that runs every test (README.md): makes this machine ready,
# then runs the whole suite with the Docker tests on.
#
# 1. A Docker Engine that answers (installed and started if missing) and the
#    base image debian:bookworm-slim (pulled, else built with debootstrap):
#    scripts/ensure-docker.sh. Fails loudly when either cannot be had. Then the
#    sandbox image openclaw-sandbox:bookworm-slim (scripts/sandbox-setup.sh),
#    rebuilt when Dockerfile.sandbox changes.
# 2. Chromium and playwright-core for the Control UI tests
#    (scripts/ensure-browser.sh); fails loudly when they cannot be had.
# 3. cargo test for the library, the binary and tests/ (one integration crate).
# 4. The containerized gateway end to end: scripts/e2e/onboard-docker.sh
#    (image build, docker-setup.sh, compose, sandboxes from the gateway
#    container). Its images are caches: the Rust builder is rebuilt only when
#    the host toolchain changes, and Docker's layer cache keeps the compiled
#    dependencies until Cargo.toml or Cargo.lock change.
# 5. No container, network or image created by the tests may be left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is not installed; install Rust (rustup) first" >&2
  exit 1
fi

bash scripts/ensure-docker.sh

# The default sandbox image, rebuilt only when Dockerfile.sandbox changes.
want=$(sha256sum Dockerfile.sandbox | cut -d' ' -f1)
have=$(docker image inspect -f '{{ index .Config.Labels "openclaw.dockerfile.sha256" }}' openclaw-sandbox:bookworm-slim 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "test.sh: building openclaw-sandbox:bookworm-slim" >&2
  bash scripts/sandbox-setup.sh >&2 || { echo "test.sh: building the sandbox image failed" >&2; exit 1; }
fi

bash scripts/ensure-browser.sh
unset OPENCLAW_SKIP_UI_TESTS

SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
SOCK=${SOCK#unix://}
export OPENCLAW_TEST_DOCKER_SOCKET="$SOCK"
unset OPENCLAW_SKIP_DOCKER_TESTS

status=0
cargo test --locked --all-targets -- --test-threads="${OPENCLAW_TEST_THREADS:-4}" || status=$?

bash scripts/e2e/onboard-docker.sh || status=1

# Tests name their containers openclaw-test-*; any that survive are a leak.
leaked=$(curl -sf --unix-socket "$SOCK" --max-time 10 \
  'http://docker/containers/json?all=1&filters=%7B%22name%22%3A%5B%22openclaw-test-%22%5D%7D' \
  | grep -o '"Names":\["[^"]*"' || true)
if [ -n "$leaked" ]; then
  echo "test.sh: tests left containers behind:" >&2
  echo "$leaked" >&2
  status=1
fi
exit $status
