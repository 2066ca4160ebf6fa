# Sourced by scripts/run.sh and scripts/test.sh: everything a fresh machine needs, idempotent.
#   - as root on Debian/Ubuntu: installs the system libraries Qt needs (and, with
#     NOTIFIER_DESKTOP_PACKAGES=1, the X server, session bus, notification daemon and keyring the
#     desktop tests use, and the Debian packaging tools tests/test_packaging.py runs) when any
#     is missing;
#   - as a user: says which packages are missing and the one command that installs them;
#   - creates .venv and installs the project with its extras when pyproject.toml changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NOTIFIER_VENV:-$ROOT/.venv}"

QT_PACKAGES=(libgl1 libegl1 libxkbcommon0 libglib2.0-0 libfreetype6 libfontconfig1 libdbus-1-3
  fonts-dejavu-core libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1 libxkbcommon-x11-0
  libxcb-randr0 libxcb-xfixes0 libxcb-xinerama0 libx11-xcb1 fonts-noto-color-emoji)
DESKTOP_PACKAGES=(xvfb xauth dbus dbus-x11 dunst libnotify-bin gnome-keyring libsecret-tools
  x11-utils xdotool xdg-utils trayer imagemagick iproute2
  haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils)
# The web pages' browser tests (tests/test_web_*.py): Playwright drives Debian's chromium.
WEB_PACKAGES=(chromium)
# Building and checking the Debian packages (packaging/build.sh, tests/test_packaging.py).
PACKAGING_PACKAGES=(dpkg-dev lintian desktop-file-utils appstream)

missing_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$pkg"
    fi
  done
}

ensure_system_packages() {
  local wanted=("${QT_PACKAGES[@]}" "${WEB_PACKAGES[@]}")
  if [ "${NOTIFIER_DESKTOP_PACKAGES:-0}" = 1 ]; then
    wanted+=("${DESKTOP_PACKAGES[@]}" "${PACKAGING_PACKAGES[@]}")
  fi
  local missing
  missing=$(missing_packages "${wanted[@]}" | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian packages: $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "bootstrap: these system packages are missing: $missing" >&2
    echo "bootstrap: install them with:  sudo apt-get install --no-install-recommends $missing" >&2
    echo "bootstrap: (continuing; Qt may fail to load without them)" >&2
  fi
}

ensure_venv() {
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bootstrap: Python 3.11 or newer is needed (found: $("$python" --version 2>&1))" >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.notifier-installed" want
  want=$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Python packages into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$ROOT[server,dev,packaging]"
    echo "$want" >"$stamp"
  fi
}

ensure_system_packages
ensure_venv
export PATH="$VENV/bin:$PATH"
