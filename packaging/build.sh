#!/usr/bin/env bash
# Builds the Linux artefacts into dist/ (or the folder given as $1):
#   dist/notifier/               the tray app, a one-folder bundle (no Python needed)
#   dist/notifier-server/        the reference server, a one-folder bundle
#   dist/notifier_<v>_<arch>.deb, dist/notifier-server_<v>_<arch>.deb
# Needs the project's venv with the packaging extra (scripts/bootstrap.sh installs it) and
# dpkg-dev (dpkg-shlibdeps). What each artefact contains: packaging/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)"
WORK="${NOTIFIER_BUILD_DIR:-$ROOT/build}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
SPECS="$ROOT/packaging/pyinstaller"

pyinstaller() {
  # Each build its own cache folder (stripped copies of libraries), so two can run at once.
  PYINSTALLER_CONFIG_DIR="$WORK/cache-$1" "$PYTHON" -m PyInstaller --noconfirm \
    --log-level WARN --distpath "$DIST" --workpath "$WORK" "$SPECS/$1.spec" \
    >"$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log" >&2; return 1; }
}

start=$(date +%s)
mkdir -p "$WORK"
# The two bundles share nothing at build time: on a 2-core machine they build side by side.
pyinstaller notifier-linux &
app=$!
server_status=0
pyinstaller notifier-server || server_status=$?
wait "$app"
[ "$server_status" = 0 ]
echo "bundles built in $(($(date +%s) - start)) s: $(du -sh "$DIST/notifier" | cut -f1) (app)," \
  "$(du -sh "$DIST/notifier-server" | cut -f1) (server)"
"$PYTHON" "$ROOT/packaging/debian/build_debs.py" --dist "$DIST" --out "$DIST"
echo "built in $(($(date +%s) - start)) s"
