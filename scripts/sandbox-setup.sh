#!/usr/bin/env bash
# Builds the default agent sandbox image, openclaw-sandbox:bookworm-slim, from
# Dockerfile.sandbox. Run it from anywhere. The Dockerfile copies nothing, so
# it is sent on stdin with no build context.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE_NAME="${OPENCLAW_SANDBOX_IMAGE:-openclaw-sandbox:bookworm-slim}"
# The Dockerfile's hash as a label lets scripts/test.sh rebuild only on change.
HASH=$(sha256sum "${ROOT_DIR}/Dockerfile.sandbox" | cut -d' ' -f1)
docker build --label "openclaw.dockerfile.sha256=${HASH}" -t "${IMAGE_NAME}" - < "${ROOT_DIR}/Dockerfile.sandbox"
echo "Built ${IMAGE_NAME}"
