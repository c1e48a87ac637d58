#!/bin/sh
# The gateway image's entrypoint (under tini).
#
# 1. Runs its arguments as a command when the first one is a program on PATH
#    (`openclaw gateway …`, `sh`), and as arguments of openclaw otherwise, so
#    `docker run --rm openclaw:local agent --message "hi"` and
#    `docker run --rm openclaw:local --version` work.
# 2. Before the gateway starts: a state folder the container cannot write
#    (a host folder owned by another uid) stops it with the fix, instead of a
#    bare "Permission denied" later.
# 3. The first start of a gateway bound beyond loopback (`--bind lan`, as in
#    docker-compose.yml) with no openclaw.json yet writes one with
#    gateway.mode "local" and, unless a token or password is given (flag or
#    environment), a new random gateway.auth.token: the same thing the gateway
#    does by itself on a loopback bind. So `docker compose run --rm
#    openclaw-cli onboard` works on a fresh state folder: the CLI joins the
#    gateway's network namespace, which needs the gateway container running.
#    The token is not printed; `openclaw dashboard --no-open` shows the URL.
set -e

say() { echo "openclaw (docker-entrypoint): $*" >&2; }

# The gateway's flags, as far as the preparation needs them.
prepare_gateway() {
  shift 2
  [ "${1:-}" = run ] && shift
  case "${1:-}" in "" | -*) ;; *) return 0 ;; esac # a subcommand such as probe
  bind=
  secret="${OPENCLAW_GATEWAY_TOKEN:-}${OPENCLAW_GATEWAY_PASSWORD:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --bind) bind=${2:-}; [ $# -gt 1 ] && shift ;;
      --bind=*) bind=${1#--bind=} ;;
      --token | --password) secret=given; [ $# -gt 1 ] && shift ;;
      --token=* | --password=*) secret=given ;;
    esac
    shift
  done

  state=${OPENCLAW_STATE_DIR:-$HOME/.openclaw}
  config=${OPENCLAW_CONFIG_PATH:-$state/openclaw.json}
  for dir in "$state" "$(dirname "$config")"; do
    if [ -d "$dir" ] && [ ! -w "$dir" ]; then
      say "cannot write $dir: it belongs to uid $(stat -c %u "$dir"), and this container runs as uid $(id -u)."
      say "Make the host folder mounted there belong to uid $(id -u), for example: sudo chown -R $(id -u):$(id -g) ~/.openclaw"
      exit 1
    fi
  done

  case "$bind" in "" | loopback) return 0 ;; esac
  [ -e "$config" ] && return 0
  openclaw config set gateway.mode local >/dev/null
  if [ -z "$secret" ]; then
    token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    openclaw config set gateway.auth.token "\"$token\"" --strict-json >/dev/null
    say "first start with --bind $bind and no config: wrote $config with gateway.mode local and a new gateway.auth.token (see the dashboard URL with: openclaw dashboard --no-open)"
  else
    say "first start with --bind $bind and no config: wrote $config with gateway.mode local"
  fi
}

case "${1:-}" in
  "" | -*) set -- openclaw "$@" ;;
  *) command -v "$1" >/dev/null 2>&1 || set -- openclaw "$@" ;;
esac
if [ "$1" = openclaw ] && [ "${2:-}" = gateway ]; then
  prepare_gateway "$@"
fi
exec "$@"
