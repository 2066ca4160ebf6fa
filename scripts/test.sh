#!/usr/bin/env bash
# The README's test command: lint, type-check and run every test. Installs what it needs.
set -euo pipefail
NOTIFIER_DESKTOP_PACKAGES=1
# shellcheck source=scripts/bootstrap.sh
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"

echo "== ruff"
ruff check notifier tests benchmarks
echo "== mypy --strict notifier"
mypy --strict notifier
echo "== pytest"
# Qt runs offscreen; desktop tests start their own Xvfb, session bus and daemons in tmp.
export QT_QPA_PLATFORM=offscreen
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
# The slowest tests are printed at the end: CI has 15 minutes on two cores.
exec pytest -p no:cacheprovider --durations=15 "$@"
