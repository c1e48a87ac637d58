#!/usr/bin/env bash
# Makes the Control UI tests runnable: Debian's Chromium (/usr/bin/chromium)
# and playwright-core from tests/ui/package-lock.json (npm ci). Never
# downloads a browser through playwright. Fails loudly when either cannot be
# had. CHROMIUM=/path overrides the browser.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-browser: installing chromium" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
  fi
  [ -x "$chromium" ] || { echo "ensure-browser: no Chromium at $chromium; install Debian's chromium package (or set CHROMIUM)" >&2; exit 1; }
fi

command -v node >/dev/null || { echo "ensure-browser: node is not installed (needed for tests/ui)" >&2; exit 1; }
want=$(sha256sum tests/ui/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/ui/node_modules/.lock-sha256 2>/dev/null || true)" != "$want" ]; then
  echo "ensure-browser: npm ci in tests/ui" >&2
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > tests/ui/node_modules/.lock-sha256
fi
"$chromium" --version >&2
