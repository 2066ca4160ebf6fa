"""The packaged app, built and used as an admin and an agent would: ``packaging/build.sh``.

Built once per test session (the ``built`` fixture: both PyInstaller bundles and both .debs,
about two minutes on two cores; gzip instead of xz for the .debs, the only difference from a
release build), then:

* the bundle runs with an empty environment and no Python on PATH, and the Qt parts it
  should leave out are not in it;
* ``lintian --fail-on error,warning`` passes on both packages (every override is justified in
  packaging/debian/*.lintian-overrides), ``desktop-file-validate`` and ``appstreamcli
  validate --no-net`` pass, the icons are the sizes their folders say;
* every system library the bundle links is provided by a package in ``Depends``;
* the whole life of the packages in a scratch root (``dpkg --root`` with
  ``--force-script-chrootless``: dpkg's own bookkeeping and the maintainer scripts run as on
  a real install, with DPKG_ROOT pointing into tmp, and this machine's package database and
  files are never touched; CI runs on the developers' shared machine, where a real ``dpkg -i``
  would collide with parallel test runs): install; the systemd unit passes
  ``systemd-analyze verify``; the installed server serves; the installed app signs in with
  ``notifier login`` (token into the real keyring), starts under Xvfb with a tray (trayer) and
  a notification daemon (dunst), against the reference server, with a site settings file
  locking the server URL, shows its tray icon and a toast; purge removes every file of both
  packages and the server's state, and leaves the user's settings, the keyring entry and the
  admin's site file alone.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from desktop_session import (  # noqa: F401  (the fixture desktop_session)
    DesktopSession,
    LineReader,
    desktop_session_fixture,
    require,
    wait_until,
)
from helpdesk import Helpdesk, HelpdeskActions
from test_desktop_keyring import lookup
from test_desktop_tray import embedded_in, windows_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging" / "pyinstaller"))
import bundle  # noqa: E402  (packaging/pyinstaller/bundle.py)

pytestmark = [pytest.mark.packaging, pytest.mark.desktop, pytest.mark.timeout(1200)]

if not sys.platform.startswith("linux") or shutil.which("dpkg-deb") is None:
    pytest.skip("the Debian packages are built and checked on Debian", allow_module_level=True)

TIMEOUT_S = 20.0
COMMAND_TIMEOUT_S = 300
VERSION = bundle.version_of(ROOT)


@dataclass(frozen=True)
class Built:
    dist: Path
    app_deb: Path
    server_deb: Path
    seconds: float

    @property
    def app_bundle(self) -> Path:
        return self.dist / bundle.APP_NAME


def run(
    argv: list[str], env: dict[str, str] | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; fail the test with its stderr when it fails."""
    result = subprocess.run(
        argv,
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{argv[:3]} failed ({result.returncode}):\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``bash packaging/build.sh`` into tmp, once per session."""
    work = tmp_path_factory.mktemp("packaging")
    env = dict(os.environ, NOTIFIER_BUILD_DIR=str(work / "build"), PYTHON=sys.executable)
    env["NOTIFIER_DEB_COMPRESSION"] = "gzip"
    started = time.monotonic()
    run(["bash", str(ROOT / "packaging" / "build.sh"), str(work / "dist")], env=env)
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    dist = work / "dist"
    return Built(
        dist=dist,
        app_deb=dist / f"notifier_{VERSION}-1_{arch}.deb",
        server_deb=dist / f"notifier-server_{VERSION}-1_{arch}.deb",
        seconds=time.monotonic() - started,
    )


def elf_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def ldd(path: Path) -> dict[str, Path]:
    """soname -> the file the dynamic linker loads for it, for ``path`` and what it loads."""
    found = {}
    for line in run(["ldd", str(path)]).stdout.splitlines():
        assert "not found" not in line, f"{path}: {line}"
        name, arrow, rest = line.strip().partition(" => ")
        if arrow and rest.startswith("/"):
            found[name] = Path(rest.split(" (", 1)[0])
        elif name.startswith("/"):  # the dynamic loader: "/lib64/ld-linux-x86-64.so.2 (0x…)"
            loader = Path(name.split(" (", 1)[0])
            found[loader.name] = loader
    return found


def linked_outside(folder: Path) -> set[Path]:
    """Every library the ELF files of ``folder`` load from outside it, directly or not."""
    return {
        library
        for path in elf_files(folder)
        for library in ldd(path).values()
        if folder not in library.parents
    }


def needed_outside(folder: Path) -> set[Path]:
    """The libraries outside ``folder`` that its ELF files name themselves (DT_NEEDED): what
    Depends must cover (the rest comes with those libraries' own packages)."""
    bundled = {path.name for path in folder.rglob("*.so*")}
    direct = set()
    for path in elf_files(folder):
        dynamic = run(["readelf", "-d", str(path)]).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
        loaded = ldd(path)
        direct |= {loaded[name] for name in needed if name not in bundled}
    return direct


def test_the_bundle_runs_without_python_and_leaves_unused_qt_out(built: Built) -> None:
    print(f"\nbuild.sh took {built.seconds:.0f} s")  # read with -s; CI's log shows it
    bare = {"PATH": "/nonexistent", "HOME": str(built.dist)}
    result = run([str(built.app_bundle / "notifier"), "--version"], env=bare)
    assert result.stdout.strip() == f"notifier {VERSION}"
    internal = built.app_bundle / "_internal"
    assert (internal / "notifier" / "resources" / "bell.svg").is_file()
    left_out = [
        "PySide6/QtNetwork.abi3.so",
        "PySide6/Qt/lib/libQt6Network.so.6",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6",
        "PySide6/Qt/translations",
        "starlette",
        "uvicorn",
    ]
    assert [name for name in left_out if (internal / name).exists()] == []
    # Every library that is not the bundle's own comes from the OS's library folders (none
    # from the build machine's Python or venv), and no link points nowhere.
    foreign = [p for p in linked_outside(built.app_bundle) if not bundle.is_system_library(str(p))]
    assert foreign == []
    dangling = [p for p in built.app_bundle.rglob("*") if p.is_symlink() and not p.exists()]
    assert dangling == []


def test_lintian_passes_with_only_justified_overrides(built: Built) -> None:
    require("lintian")
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(built.app_deb), str(built.server_deb)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every override sits in a paragraph that opens with the comment saying why.
    for overrides in (ROOT / "packaging" / "debian").glob("*.lintian-overrides"):
        text = overrides.read_text(encoding="utf-8")
        for paragraph in text.split("\n\n"):
            lines = paragraph.strip().splitlines()
            if any(not line.startswith("#") for line in lines):
                assert lines[0].startswith("#"), f"{overrides.name}: {lines[0]} says no why"


@pytest.fixture(scope="module")
def unpacked(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    run(["dpkg-deb", "-x", str(built.app_deb), str(root)])
    return root


def test_desktop_entry_metainfo_and_icons_validate(unpacked: Path) -> None:
    require("desktop-file-validate", "appstreamcli")
    share = unpacked / "usr" / "share"
    desktop = run(["desktop-file-validate", str(share / "applications" / "notifier.desktop")])
    assert "error" not in desktop.stdout and "warning" not in desktop.stdout, desktop.stdout
    metainfo = share / "metainfo" / f"{bundle.BUNDLE_IDENTIFIER}.metainfo.xml"
    validated = run(["appstreamcli", "validate", "--no-net", str(metainfo)])
    assert "Validation was successful" in validated.stdout
    assert f'<release version="{VERSION}"' in metainfo.read_text(encoding="utf-8")
    hicolor = share / "icons" / "hicolor"
    assert (hicolor / "scalable" / "apps" / "notifier.svg").is_file()
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        png = (hicolor / f"{size}x{size}" / "apps" / "notifier.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", png[16:24]) == (size, size)
    # The man page is made from the argparse parser (lintian has groff check its markup).
    man = gzip.decompress((share / "man" / "man1" / "notifier.1.gz").read_bytes()).decode()
    for command in ("login", "logout", "tail", "doctor", "NOTIFIER_SITE_CONFIG"):
        assert command in man, command


def control_field(deb: Path, name: str) -> str:
    return run(["dpkg-deb", "--field", str(deb), name]).stdout.strip()


def package_names(relation: str) -> set[str]:
    """Every package a Depends line names (alternatives included, versions dropped)."""
    return {
        alternative.split("(")[0].strip()
        for item in relation.split(",")
        for alternative in item.split("|")
        if alternative.strip()
    }


def owner_of(library: Path) -> str:
    """The package that installed ``library``: dpkg knows each file by the path its package
    has it at, /lib/... or /usr/lib/..., which on a merged-/usr system are one folder."""
    text = str(library)
    merged = text.removeprefix("/usr") if text.startswith("/usr/lib") else "/usr" + text
    for candidate in (text, merged):
        found = subprocess.run(
            ["dpkg", "-S", candidate], capture_output=True, text=True, timeout=30, check=False
        )
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].strip()
    raise AssertionError(f"no package has {library}")


def test_depends_name_every_system_library_the_bundle_links(built: Built) -> None:
    for deb, folder in ((built.app_deb, built.app_bundle), (built.server_deb, None)):
        depends = package_names(control_field(deb, "Depends"))
        if folder is None:
            folder = built.dist / bundle.SERVER_NAME
        owners = {owner_of(library) for library in needed_outside(folder)}
        assert owners - depends == set(), f"{deb.name}: not in Depends: {owners - depends}"
        # Every dependency can be met: here each one is installed.
        missing = [
            name
            for name in depends
            if "install ok installed"
            not in subprocess.run(
                ["dpkg-query", "-W", "-f=${Status}", name],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout
        ]
        assert missing == []
    app_depends = package_names(control_field(built.app_deb, "Depends"))
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "libfontconfig1"} <= app_depends
    assert not package_names(control_field(built.server_deb, "Depends")) & {"libgl1", "libx11-6"}


class ScratchRoot:
    """A root folder with its own dpkg database: ``dpkg --root`` installs and purges there,
    running the maintainer scripts on this machine with DPKG_ROOT set (they honour it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("info", "updates", "triggers"):
            (root / "var" / "lib" / "dpkg" / folder).mkdir(parents=True, exist_ok=True)
        (root / "var" / "lib" / "dpkg" / "status").touch()

    def dpkg(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Dependencies are this machine's, not the scratch root's: checked by the test above.
        return run(
            [
                "dpkg",
                f"--root={self.root}",
                "--force-script-chrootless",
                "--force-depends",
                "--force-not-root",
                f"--log={self.root / 'dpkg.log'}",
                *args,
            ]
        )

    def files_of(self, package: str) -> list[Path]:
        listed = self.dpkg("-L", package).stdout.splitlines()
        return [self.root / line.lstrip("/") for line in listed if line.startswith("/")]

    def leftovers(self, keep: set[Path]) -> list[Path]:
        """Files (not folders) under the root that dpkg's own database does not explain."""
        database = self.root / "var" / "lib" / "dpkg"
        return sorted(
            path
            for path in self.root.rglob("*")
            if not path.is_dir()
            and database not in path.parents
            and path not in keep
            and path.name != "dpkg.log"
        )


def verify_unit(scratch: ScratchRoot, work: Path) -> None:
    """``systemd-analyze verify`` of the installed unit, in a root holding it, the program it
    starts and the host's targets (which the scratch root has not)."""
    if shutil.which("systemd-analyze") is None:
        return  # systemd's own tool; the unit's text is checked in test_packaging_specs.py
    verify_root = work / "verify-root"
    units = verify_root / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    host_units = Path("/lib/systemd/system")
    for target in [*host_units.glob("*.target"), *host_units.glob("*.slice")]:
        shutil.copy(target, units)
    shutil.copy(scratch.root / "lib/systemd/system/notifier-server.service", units)
    (verify_root / "usr" / "lib").mkdir(parents=True)
    run(["cp", "-al", str(scratch.root / "usr/lib/notifier-server"), str(verify_root / "usr/lib")])
    (verify_root / "usr" / "bin").mkdir()
    (verify_root / "usr/bin/notifier-server").symlink_to("../lib/notifier-server/notifier-server")
    result = run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            f"--root={verify_root}",
            "/lib/systemd/system/notifier-server.service",
        ]
    )
    assert result.stderr == "", result.stderr  # warnings (a bad value ignored) included


@pytest.fixture
def installed(built: Built, tmp_path: Path) -> Iterator[ScratchRoot]:
    scratch = ScratchRoot(tmp_path / "root")
    scratch.dpkg("-i", str(built.app_deb), str(built.server_deb))
    yield scratch


def test_install_use_and_purge_the_packages(
    installed: ScratchRoot,
    desktop_session: DesktopSession,
    helpdesk: Helpdesk,
    tmp_path: Path,
) -> None:
    require("xdotool", "xwininfo")
    root = installed.root
    app = root / "usr" / "bin" / "notifier"
    server = root / "usr" / "bin" / "notifier-server"
    assert app.is_symlink() and os.readlink(app) == "../lib/notifier/notifier"
    # The server is enabled by its postinst (inside the scratch root only).
    wants = root / "etc/systemd/system/multi-user.target.wants/notifier-server.service"
    assert wants.is_symlink()
    assert (root / "etc/default/notifier-server").is_file()
    verify_unit(installed, tmp_path)

    # The installed server: an agent, then it serves them.
    database = str(tmp_path / "server.db")
    token = run([str(server), "add-agent", "ivy", "--name", "Ivy", "--db", database]).stdout
    serving = desktop_session.spawn(
        "installed-server",
        [str(server), "serve", "--port", "0", "--db", database],
        desktop_session.environment(),
        stdout_pipe=True,
    )
    try:
        line = LineReader(serving).next_line(TIMEOUT_S)
        assert line.startswith("listening on http://127.0.0.1:"), line
        ivy = HelpdeskActions(line.split(" ")[-1], token.strip())
        try:
            me = ivy.request("GET", "/api/v1/me")
        finally:
            ivy.close()
        assert me.status_code == 200 and me.json()["username"] == "ivy", me.text
    finally:
        assert desktop_session.stop_process(serving) == 0

    # The admin's site file locks the reference server's URL for every user.
    site = root / "etc" / "xdg" / "notifier" / "settings.json"
    site.parent.mkdir(parents=True)
    site.write_text(json.dumps({"server_url": helpdesk.url, "locked": ["server_url"]}))
    env = desktop_session.environment(XDG_CONFIG_DIRS=str(root / "etc" / "xdg"))
    env.pop("NOTIFIER_HOME")  # the agent's own folders, as on a desktop
    home = Path(env["HOME"])
    user_settings = Path(env["XDG_CONFIG_HOME"]) / "notifier" / "settings.json"
    user_settings.parent.mkdir(parents=True)
    user_settings.write_text(json.dumps({"version": 1, "sound": False}) + "\n")
    kept_settings = user_settings.read_bytes()

    alice = helpdesk.add_agent("alice", "Alice Able")
    run([str(app), "login", "--token-stdin"], env=env, input_text=alice)
    assert lookup(desktop_session, helpdesk.url) == alice
    assert user_settings.read_bytes() == kept_settings  # the locked URL is not the user's

    bob = helpdesk.actions(helpdesk.add_agent("bob", "Bob Baker"))
    ticket = bob.create_ticket("Printer on fire", "on floor 3")
    desktop_session.close_all_toasts()
    with desktop_session.tray_host() as trayer, desktop_session.monitor() as monitor:
        painted = tmp_path / "painted"
        process = desktop_session.spawn(
            "installed-app", [str(app)], dict(env, NOTIFIER_STARTUP_MARKER=str(painted))
        )
        try:
            wait_until(lambda: painted.exists() or process.poll() is not None, "paint", TIMEOUT_S)
            assert process.poll() is None, desktop_session.log_text("installed-app")

            def icons() -> set[int]:
                return set(windows_of(desktop_session, process.pid)) & embedded_in(
                    desktop_session, trayer.pid
                )

            wait_until(lambda: len(icons()) == 1, "the tray icon in the tray", TIMEOUT_S)
            log = home / ".local" / "state" / "notifier" / "log" / "notifier.log"
            wait_until(
                lambda: log.exists() and "status: live" in log.read_text(), "live", TIMEOUT_S
            )
            bob.assign(ticket["id"], "alice")
            monitor.wait_for(lambda: bool(monitor.notify_calls()), "a toast", TIMEOUT_S)
            (toast,) = monitor.notify_calls()
            assert toast.app_name == "Helpdesk notifier"
            assert toast.summary == "Ticket assigned to you"
            assert toast.icon.endswith("/usr/lib/notifier/_internal/notifier/resources/bell.svg")
        finally:
            assert desktop_session.stop_process(process) == 0

    # Purge: every file of both packages and the server's state go; the user's settings, the
    # keyring entry and the admin's site file stay.
    state = root / "var" / "lib" / "private" / "notifier-server"
    state.mkdir(parents=True)
    (state / "helpdesk.db").write_bytes(b"what systemd's StateDirectory would hold")
    files = installed.files_of("notifier") + installed.files_of("notifier-server")
    installed.dpkg("--purge", "notifier", "notifier-server")
    assert [path for path in files if path.is_file() or path.is_symlink()] == []
    assert not state.exists()
    assert installed.leftovers(keep={site}) == []
    assert site.is_file()
    assert user_settings.read_bytes() == kept_settings
    assert lookup(desktop_session, helpdesk.url) == alice
