#!/usr/bin/env bash
# Builds openclaw-sandbox-common:bookworm-slim (Dockerfile.sandbox-common) on
# top of the default sandbox image, building that first when it is missing.
#
# Environment:
#   BASE_IMAGE    (default openclaw-sandbox:bookworm-slim)
#   TARGET_IMAGE  (default openclaw-sandbox-common:bookworm-slim)
#   PACKAGES      Debian packages to install (default: the Dockerfile's list)
#   INSTALL_PNPM  1 (default) installs pnpm from the npm registry; 0 for offline builds
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
BASE_IMAGE="${BASE_IMAGE:-openclaw-sandbox:bookworm-slim}"
TARGET_IMAGE="${TARGET_IMAGE:-openclaw-sandbox-common:bookworm-slim}"
INSTALL_PNPM="${INSTALL_PNPM:-1}"

if ! docker image inspect "${BASE_IMAGE}" >/dev/null 2>&1; then
  echo "Base image missing: ${BASE_IMAGE}"
  echo "Building base image via scripts/sandbox-setup.sh..."
  OPENCLAW_SANDBOX_IMAGE="${BASE_IMAGE}" "${ROOT_DIR}/scripts/sandbox-setup.sh"
fi

args=(--build-arg "BASE_IMAGE=${BASE_IMAGE}" --build-arg "INSTALL_PNPM=${INSTALL_PNPM}")
if [ -n "${PACKAGES:-}" ]; then
  args+=(--build-arg "PACKAGES=${PACKAGES}")
fi
docker build "${args[@]}" -t "${TARGET_IMAGE}" - < "${ROOT_DIR}/Dockerfile.sandbox-common"

echo "Built ${TARGET_IMAGE}."
echo "To use it, set agents.defaults.sandbox.docker.image to \"${TARGET_IMAGE}\" and restart."
echo "If you want a clean re-create, remove old sandbox containers:"
echo "  docker rm -f \$(docker ps -aq --filter label=openclaw.sandbox=1)"
