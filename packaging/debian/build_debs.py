"""Build the Debian packages ``notifier`` and ``notifier-server`` from the PyInstaller bundles.

Run by packaging/build.sh (``python packaging/debian/build_debs.py --dist DIST --out OUT``)
after the bundles are in DIST/notifier and DIST/notifier-server. Plain ``dpkg-deb``: no
debhelper source package and no fpm, because the input is a finished bundle, not a source tree
to configure and compile. What debhelper would do is done here, each step a function:

* the tree: the bundle in /usr/lib/<package> with /usr/bin/<package> linking to it; for the
  app the desktop entry, hicolor icons (the SVG, and PNGs rendered from it with Qt's SVG
  renderer, 16 to 256 px), AppStream metainfo, a man page made from the argparse parser;
  for the server the systemd unit and /etc/default/notifier-server;
* ``Depends`` from ``dpkg-shlibdeps`` over every ELF file of the bundle (the libraries the
  bundle leaves to the OS; see packaging/pyinstaller/bundle.py), plus what is loaded without
  being linked (fonts, time zones);
* copyright (DEP-5, listing every component the bundle carries, with its licence from its
  metadata), changelog, md5sums, maintainer scripts, lintian overrides (each one justified in
  the overrides file), file modes and a fixed mtime, then ``dpkg-deb --root-owner-group``.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGING = HERE.parent
ROOT = PACKAGING.parent
sys.path.insert(0, str(PACKAGING / "pyinstaller"))
sys.path.insert(0, str(HERE))

import bundle  # noqa: E402  (packaging/pyinstaller/bundle.py)
import manpage  # noqa: E402  (packaging/debian/manpage.py)

# The project has no mail domain of its own yet: whoever publishes the packages puts theirs here.
MAINTAINER = "notifier developers <notifier@example.org>"
DEBIAN_REVISION = "1"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
METAINFO_ID = bundle.BUNDLE_IDENTIFIER
# Loaded at run time without being linked, so dpkg-shlibdeps cannot see them.
APP_EXTRA_DEPENDS = (
    "fonts-dejavu-core",  # Qt needs a font; the badge's digits are DejaVu Sans Bold's shapes
    "tzdata",  # quiet hours in the agent's time zone (zoneinfo reads /usr/share/zoneinfo)
)
APP_RECOMMENDS = (
    "gnome-keyring | kwalletmanager | keepassxc",  # a Secret Service for the API token
    "fonts-noto-color-emoji",  # reactions in notifications
    "xdg-utils",  # opening ticket links in the browser
)
SERVER_EXTRA_DEPENDS = ("tzdata",)


@dataclass
class Package:
    name: str
    bundle_dir: Path
    summary: str
    description: str
    section: str
    depends_extra: Sequence[str] = ()
    recommends: Sequence[str] = ()
    conffiles: list[str] = field(default_factory=list)
    scripts: dict[str, Path] = field(default_factory=dict)

    @property
    def lib_dir(self) -> str:
        return f"usr/lib/{self.name}"


def build_date() -> datetime:
    """The date stamped on files and the changelog: SOURCE_DATE_EPOCH, else the last commit,
    else now, so two builds of one commit make the same package contents."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        try:
            epoch = subprocess.run(
                ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            epoch = ""
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)


def architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


# ------------------------------------------------------------------ the tree


def copy_bundle(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)


def write(path: Path, data: str | bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    path.chmod(mode)
    return path


def gzip_bytes(data: bytes, mtime: datetime) -> bytes:
    """gzip -9n: no name, a fixed time, so the output depends on the input alone."""
    buffer = io.BytesIO()
    with gzip.GzipFile(
        filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=int(mtime.timestamp())
    ) as archive:
        archive.write(data)
    return buffer.getvalue()


def render_icons(svg: Path, sizes: Iterable[int], share: Path) -> list[Path]:
    """PNGs of ``svg`` at each size into hicolor/<n>x<n>/apps/notifier.png."""
    targets = {share / "icons" / "hicolor" / f"{n}x{n}" / "apps" / "notifier.png": n for n in sizes}
    bundle.render_icons(svg, targets)
    return list(targets)


def changelog(package: str, version: str, date: datetime) -> str:
    return (
        f"{package} ({version}) unstable; urgency=medium\n\n"
        "  * Packaged from the PyInstaller bundle built by packaging/build.sh.\n\n"
        f" -- {MAINTAINER}  {email.utils.format_datetime(date)}\n"
    )


def bundled_components(executable: Path) -> list[tuple[str, str, str]]:
    """(distribution, version, licence) of every Python distribution the bundle carries, read
    from the bundle's own module archive and the build environment's package metadata."""
    from PyInstaller.archive.readers import CArchiveReader  # type: ignore[import-untyped]

    archive = CArchiveReader(str(executable)).open_embedded_archive("PYZ.pyz")
    top_level = {name.split(".", 1)[0] for name in archive.toc}
    owners = importlib.metadata.packages_distributions()
    names = sorted({dist for name in top_level for dist in owners.get(name, [])} - {"notifier"})
    components = []
    for name in names:
        meta: Any = importlib.metadata.metadata(name)  # an email.message.Message
        licence = meta.get("License-Expression") or ""
        if not licence:
            classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
            licence = (
                classifiers[0].rsplit(" :: ", 1)[1] if classifiers else meta.get("License", "")
            )
        components.append(
            (name, importlib.metadata.version(name), licence.strip() or "see upstream")
        )
    return components


def copyright_text(package: Package, executable: Path, date: datetime) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    lines = "\n".join(
        f" {name} {version}: {licence}" for name, version, licence in bundled_components(executable)
    )
    return (
        (HERE / "copyright.in")
        .read_text(encoding="utf-8")
        .replace("@LIBDIR@", package.lib_dir)
        .replace("@PYTHON@", python)
        .replace("@COMPONENTS@", lines)
        .replace("@YEAR@", str(date.year))
    )


def man_page(package: Package, date: datetime) -> str:
    if package.name == "notifier":
        from notifier.main import build_parser

        return manpage.render(build_parser(), manpage.APP_SECTIONS, date)
    from notifier.server.cli import build_parser as build_server_parser

    return manpage.render(build_server_parser(), manpage.SERVER_SECTIONS, date)


def lay_out(package: Package, root: Path, version: str, date: datetime) -> None:
    copy_bundle(package.bundle_dir, root / package.lib_dir)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / package.name).symlink_to(f"../lib/{package.name}/{package.name}")
    share = root / "usr" / "share"
    doc = share / "doc" / package.name
    executable = package.bundle_dir / package.name
    write(doc / "copyright", copyright_text(package, executable, date))
    write(
        doc / "changelog.Debian.gz",
        gzip_bytes(changelog(package.name, version, date).encode(), date),
    )
    write(
        share / "man" / "man1" / f"{package.name}.1.gz",
        gzip_bytes(man_page(package, date).encode(), date),
    )
    write(
        share / "lintian" / "overrides" / package.name,
        (HERE / f"{package.name}.lintian-overrides").read_text(encoding="utf-8"),
    )
    if package.name == "notifier":
        write(
            share / "applications" / "notifier.desktop",
            (PACKAGING / "notifier.desktop").read_bytes(),
        )
        write(
            share / "icons" / "hicolor" / "scalable" / "apps" / "notifier.svg",
            (PACKAGING / "notifier.svg").read_bytes(),
        )
        render_icons(PACKAGING / "notifier.svg", ICON_SIZES, share)
        metainfo = (HERE / f"{METAINFO_ID}.metainfo.xml").read_text(encoding="utf-8")
        write(
            share / "metainfo" / f"{METAINFO_ID}.metainfo.xml",
            metainfo.replace("@VERSION@", version.rsplit("-", 1)[0]).replace(
                "@DATE@", date.strftime("%Y-%m-%d")
            ),
        )
        write(
            doc / "examples" / "site-settings.json",
            (HERE / "site-settings.example.json").read_text(encoding="utf-8"),
        )
    else:
        write(
            root / "lib" / "systemd" / "system" / "notifier-server.service",
            (HERE / "notifier-server.service").read_text(encoding="utf-8"),
        )
        write(
            root / "etc" / "default" / "notifier-server",
            (HERE / "notifier-server.default").read_text(encoding="utf-8"),
        )
        package.conffiles.append("/etc/default/notifier-server")


# ------------------------------------------------------------------ modes and metadata


def elf_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    yield path


def is_shared_library(path: Path) -> bool:
    return ".so" in path.name


def normalise_modes(root: Path, package: Package) -> None:
    """0755 folders and the bundle's program, 0644 everything else (shared libraries included:
    they are mapped, not run); the maintainer scripts are set apart in DEBIAN/."""
    program = root / package.lib_dir / package.name
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() or path == program else 0o644)


def shlib_depends(root: Path, package: Package, work: Path) -> list[str]:
    """``dpkg-shlibdeps`` over every ELF file of the bundle, with the bundle's own folders as
    private library paths."""
    bundle_root = root / package.lib_dir
    files = list(elf_files(bundle_root))
    private = sorted({f"-l{path.parent}" for path in files if is_shared_library(path)})
    control_dir = work / f"shlibdeps-{package.name}"
    write(
        control_dir / "debian" / "control",
        f"Source: {package.name}\n\nPackage: {package.name}\nArchitecture: any\n",
    )
    result = subprocess.run(
        [
            "dpkg-shlibdeps",
            "-O",
            "--ignore-missing-info",
            "--warnings=0",
            *private,
            *(f"-e{path}" for path in files),
        ],
        cwd=control_dir,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise SystemExit(f"dpkg-shlibdeps failed:\n{result.stderr}")
    line = next(x for x in result.stdout.splitlines() if x.startswith("shlibs:Depends="))
    return [item.strip() for item in line.split("=", 1)[1].split(",") if item.strip()]


def installed_size_kib(root: Path) -> int:
    """As dpkg-gencontrol counts it: each file's size in KiB rounded up, 1 for other entries."""
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += (path.stat().st_size + 1023) // 1024
        else:
            total += 1
    return total


def control_text(
    package: Package, version: str, arch: str, depends: Sequence[str], size: int
) -> str:
    description = "\n".join(
        f" {line}" if line.strip() else " ." for line in package.description.strip().splitlines()
    )
    fields = [
        ("Package", package.name),
        ("Version", version),
        ("Architecture", arch),
        ("Maintainer", MAINTAINER),
        ("Installed-Size", str(size)),
        ("Depends", ", ".join(depends)),
        ("Recommends", ", ".join(package.recommends)),
        ("Section", package.section),
        ("Priority", "optional"),
        ("Description", f"{package.summary}\n{description}"),
    ]
    return "".join(f"{key}: {value}\n" for key, value in fields if value)


def md5sums(root: Path, conffiles: Iterable[str]) -> str:
    skip = {name.lstrip("/") for name in conffiles}
    lines = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("DEBIAN/") or relative in skip:
            continue
        if path.is_file() and not path.is_symlink():
            lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {relative}\n")
    return "".join(lines)


def set_mtimes(root: Path, date: datetime) -> None:
    stamp = int(date.timestamp())
    for path in [root, *root.rglob("*")]:
        os.utime(path, (stamp, stamp), follow_symlinks=False)


def build_package(
    package: Package,
    version: str,
    arch: str,
    date: datetime,
    work: Path,
    out: Path,
    compression: str = "xz",
) -> Path:
    root = work / package.name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    lay_out(package, root, version, date)
    normalise_modes(root, package)
    depends = shlib_depends(root, package, work) + list(package.depends_extra)
    debian = root / "DEBIAN"
    debian.mkdir()
    size = installed_size_kib(root)
    write(debian / "control", control_text(package, version, arch, depends, size))
    if package.conffiles:
        write(debian / "conffiles", "".join(f"{name}\n" for name in package.conffiles))
    for script, source in package.scripts.items():
        write(debian / script, source.read_text(encoding="utf-8"), mode=0o755)
    write(debian / "md5sums", md5sums(root, package.conffiles))
    set_mtimes(root, date)
    target = out / f"{package.name}_{version}_{arch}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(target)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return target


def packages(dist: Path) -> list[Package]:
    return [
        Package(
            name="notifier",
            bundle_dir=dist / "notifier",
            summary="helpdesk notifications in the system tray",
            description="""
Keeps a live connection to the helpdesk and tells a helpdesk agent, the
moment it happens, when a ticket is assigned to them, when someone mentions
them in a comment, and when a customer replies to or reopens one of their
tickets: a tray icon with the unread count, a list, native notifications,
quiet hours and pause.

Administrators can set defaults for every user (server, CA bundle, proxy,
quiet hours) and lock them in /etc/xdg/notifier/settings.json.

This package carries its own Python runtime and Qt (a PyInstaller bundle).
""",
            section="net",
            depends_extra=APP_EXTRA_DEPENDS,
            recommends=APP_RECOMMENDS,
            scripts={"postrm": HERE / "notifier.postrm"},
        ),
        Package(
            name="notifier-server",
            bundle_dir=dist / "notifier-server",
            summary="reference helpdesk server for the notifier tray app",
            description="""
A small helpdesk (agents, customers, tickets, comments) implementing the
server side of the notifier protocol: a REST API and a WebSocket event
stream, over SQLite. Runs as the notifier-server systemd service, on
127.0.0.1:8765 by default (see /etc/default/notifier-server).

This package carries its own Python runtime (a PyInstaller bundle).
""",
            section="net",
            depends_extra=SERVER_EXTRA_DEPENDS,
            scripts={
                "postinst": HERE / "notifier-server.postinst",
                "prerm": HERE / "notifier-server.prerm",
                "postrm": HERE / "notifier-server.postrm",
            },
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, required=True, help="folder with the bundles")
    parser.add_argument("--out", type=Path, required=True, help="where the .deb files go")
    parser.add_argument("--only", choices=("notifier", "notifier-server"), help="one package")
    parser.add_argument(
        "--compression",
        choices=("xz", "gzip", "zstd"),
        default=os.environ.get("NOTIFIER_DEB_COMPRESSION", "xz"),
        help="dpkg-deb's compression (default xz, level 6: the smallest package; gzip builds"
        " in a twelfth of the time, for tests; env NOTIFIER_DEB_COMPRESSION)",
    )
    args = parser.parse_args(argv)
    version = f"{bundle.version_of(ROOT)}-{DEBIAN_REVISION}"
    date = build_date()
    arch = architecture()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="notifier-deb-") as temp:
        for package in packages(args.dist.resolve()):
            if args.only and package.name != args.only:
                continue
            target = build_package(
                package, version, arch, date, Path(temp), args.out, args.compression
            )
            print(f"{target} {target.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
