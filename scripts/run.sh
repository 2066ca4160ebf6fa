#!/usr/bin/env bash
# The README's run command: the tray app against the reference helpdesk's demo (demo data and
# simulated activity), all on this machine. Installs what it needs.
set -euo pipefail
# shellcheck source=scripts/bootstrap.sh
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname -s)" = Linux ]; then
  cat >&2 <<'MSG'
notifier is a desktop tray app and this machine has no display (neither DISPLAY nor
WAYLAND_DISPLAY is set). Run this command from a desktop session, or try it under a virtual
screen:  xvfb-run -a bash scripts/run.sh   (the tray then shows a window instead of an icon).
MSG
  exit 2
fi

PORT="${NOTIFIER_DEMO_PORT:-8765}"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/notifier-demo.XXXXXX")"
notifier-server demo --db "$STATE/helpdesk.db" --host 127.0.0.1 --port "$PORT" \
  --credentials-file "$STATE/credentials.json" --rate "${NOTIFIER_DEMO_RATE:-6}" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$STATE"' EXIT INT TERM

for _ in $(seq 1 100); do
  [ -s "$STATE/credentials.json" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the demo helpdesk did not start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$STATE/credentials.json" ] || { echo "the demo helpdesk did not start in 10 s" >&2; exit 1; }

# The demo uses its own folder for settings, cache and logs, and passes the demo agent's token
# in the environment, so your real settings and keyring are left alone.
export NOTIFIER_HOME="$STATE/home"
NOTIFIER_SERVER="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$STATE/credentials.json")"
NOTIFIER_TOKEN="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$STATE/credentials.json")"
export NOTIFIER_SERVER NOTIFIER_TOKEN
notifier "$@"
