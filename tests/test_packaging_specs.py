"""What can be checked of the packaging without building it (fast; any platform):

* the bundle rules of packaging/pyinstaller/bundle.py: which Qt plugins, translations, system
  libraries and orphaned libraries are left out, on PyInstaller's own entry format;
* every spec file, run with stand-ins for PyInstaller's build classes (the true edge here:
  the Windows and macOS builds need those machines): what each passes to Analysis, EXE,
  COLLECT and BUNDLE (the Windows runtime hook and its two programs, the macOS Info.plist);
* the Windows AppUserModelID is the name desktop-notifier registers the app's toasts under,
  and the macOS Info.plist hides the Dock icon;
* the Containerfile builds from PyPI alone, installs what pyproject.toml says the server
  needs, runs unprivileged, and its command line is one the server's parser accepts;
* the systemd unit is hardened and its ExecStart is one the server's parser accepts;
* the man pages made from the parsers name every command and option.
"""

from __future__ import annotations

import configparser
import importlib.util
import plistlib
import re
import shlex
import struct
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PySide6.QtGui import QImage, QImageReader

from notifier.main import build_parser as build_app_parser
from notifier.server.cli import build_parser as build_server_parser
from notifier.ui.toasts import APP_ICON, APP_NAME, WINDOWS_APP_ICON, app_icon_path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPECS = PACKAGING / "pyinstaller"
sys.path.insert(0, str(SPECS))
sys.path.insert(0, str(PACKAGING / "debian"))
import bundle  # noqa: E402  (packaging/pyinstaller/bundle.py)
import manpage  # noqa: E402  (packaging/debian/manpage.py)

pytestmark = pytest.mark.packaging


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ bundle rules


@pytest.mark.parametrize(
    ("name", "dropped"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", False),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", False),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", False),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", True),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", False),
        ("PySide6/Qt/plugins/tls/libqopensslbackend.so", True),
        ("PySide6\\plugins\\imageformats\\qsvg.dll", False),  # Windows: no Qt/, backslashes
        ("PySide6\\plugins\\imageformats\\qgif.dll", True),
        ("PySide6\\plugins\\platforms\\qwindows.dll", False),
        ("PySide6/Qt/lib/libQt6Core.so.6", False),  # not a plugin
    ],
)
def test_which_qt_plugins_are_left_out(name: str, dropped: bool) -> None:
    assert bundle.is_dropped_plugin(name) is dropped


def test_keep_drops_system_libraries_orphans_links_and_translations() -> None:
    qt = "/venv/PySide6/Qt"
    binaries = [
        ("PySide6/QtCore.abi3.so", "/venv/PySide6/QtCore.abi3.so", "EXTENSION"),
        ("PySide6/Qt/lib/libQt6Core.so.6", f"{qt}/lib/libQt6Core.so.6", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", f"{qt}/plugins/platforms/libqxcb.so", "BINARY"),
        ("PySide6/Qt/lib/libQt6XcbQpa.so.6", f"{qt}/lib/libQt6XcbQpa.so.6", "BINARY"),
        (
            "PySide6/Qt/plugins/platforms/libqeglfs.so",
            f"{qt}/plugins/platforms/libqeglfs.so",
            "BINARY",
        ),
        ("PySide6/Qt/lib/libQt6EglFS.so.6", f"{qt}/lib/libQt6EglFS.so.6", "BINARY"),
        ("libxcb.so.1", "/usr/lib/x86_64-linux-gnu/libxcb.so.1", "BINARY"),
        ("libpython3.11.so.1.0", "/opt/python/lib/libpython3.11.so.1.0", "BINARY"),
    ]
    needed = {
        "/venv/PySide6/QtCore.abi3.so": ["libQt6Core.so.6", "libc.so.6"],
        f"{qt}/plugins/platforms/libqxcb.so": ["libQt6XcbQpa.so.6", "libxcb.so.1"],
        f"{qt}/plugins/platforms/libqeglfs.so": ["libQt6EglFS.so.6"],
    }
    datas = [
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("libQt6EglFS.so.6", "PySide6/Qt/lib/libQt6EglFS.so.6", "SYMLINK"),
        ("PySide6/Qt/translations/qtbase_de.qm", f"{qt}/translations/qtbase_de.qm", "DATA"),
        ("notifier/resources/bell.svg", "/src/resources/bell.svg", "DATA"),
    ]
    kept, kept_datas = bundle.keep(binaries, datas, "linux", lambda s: needed.get(s, []))
    assert [entry[0] for entry in kept] == [
        "PySide6/QtCore.abi3.so",
        "PySide6/Qt/lib/libQt6Core.so.6",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/lib/libQt6XcbQpa.so.6",
        "libpython3.11.so.1.0",
    ]
    assert [entry[0] for entry in kept_datas] == ["libQt6Core.so.6", "notifier/resources/bell.svg"]
    # Elsewhere the OS's libraries are not the bundle's business: only plugins and data go.
    kept_win, _ = bundle.keep(binaries, datas, "win32", lambda s: [])
    assert "libxcb.so.1" in [entry[0] for entry in kept_win]


def test_only_linux_leaves_qtnetwork_out() -> None:
    assert "PySide6.QtNetwork" in bundle.app_excludes("linux")
    assert "PySide6.QtNetwork" not in bundle.app_excludes("win32")
    assert "PySide6.QtNetwork" not in bundle.app_excludes("darwin")
    assert {"PySide6", "notifier.ui", "notifier.app"} <= set(bundle.SERVER_EXCLUDES)


def test_the_staged_sources_are_laid_out_as_installed(tmp_path: Path) -> None:
    stage = bundle.stage_sources(ROOT, tmp_path)
    assert (stage / "notifier" / "resources" / "__init__.py").is_file()
    assert (stage / "notifier" / "resources" / "bell.svg").is_file()
    assert not list(stage.rglob("__pycache__"))


# ------------------------------------------------------------------ the spec files


class Recorder:
    """Stands in for one of PyInstaller's build classes: records its arguments."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]

    def __init__(self, kind: str, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]):
        self.kind = kind
        self.calls = calls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((self.kind, args, kwargs))
        result = type(self.kind, (), {})()
        result.binaries, result.datas, result.pure, result.scripts = [], [], [], []
        return result


def run_spec(name: str, tmp_path: Path) -> dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]]:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    namespace: dict[str, Any] = {
        "SPECPATH": str(SPECS),
        "workpath": str(tmp_path / "work"),
        "DISTPATH": str(tmp_path / "dist"),
        **{kind: Recorder(kind, calls) for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")},
    }
    source = (SPECS / f"{name}.spec").read_text(encoding="utf-8")
    exec(compile(source, f"{name}.spec", "exec"), namespace)
    by_kind: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
    for kind, args, kwargs in calls:
        by_kind.setdefault(kind, []).append((args, kwargs))
    return by_kind


def test_the_linux_spec_builds_the_app_without_qtnetwork(tmp_path: Path) -> None:
    calls = run_spec("notifier-linux", tmp_path)
    ((_, analysis),) = calls["Analysis"]
    assert analysis["excludes"] == bundle.app_excludes("linux")
    assert "notifier.resources" in analysis["hiddenimports"]
    ((_, exe),) = calls["EXE"]
    assert exe["name"] == "notifier" and exe["strip"] is True


def test_the_server_spec_builds_the_server_without_qt(tmp_path: Path) -> None:
    calls = run_spec("notifier-server", tmp_path)
    ((args, analysis),) = calls["Analysis"]
    assert args[0][0].endswith("notifier/server/cli.py")
    assert "PySide6" in analysis["excludes"]
    assert calls["EXE"][0][1]["name"] == "notifier-server"


def test_the_windows_spec_has_a_tray_program_a_console_one_and_the_aumid_hook(
    tmp_path: Path,
) -> None:
    calls = run_spec("notifier-windows", tmp_path)
    ((_, analysis),) = calls["Analysis"]
    hooks = [Path(hook) for hook in analysis["runtime_hooks"]]
    assert hooks == [SPECS / "rthook_windows_identity.py"] and hooks[0].is_file()
    assert "PySide6.QtNetwork" not in analysis["excludes"]  # QLocalServer, QNetworkInformation
    programs = {kwargs["name"]: kwargs for _, kwargs in calls["EXE"]}
    assert programs["notifier"]["console"] is False
    assert programs["notifier-cli"]["console"] is True
    icon = Path(programs["notifier"]["icon"])
    assert icon.suffix == ".ico" and icon.read_bytes()[:4] == b"\x00\x00\x01\x00"


def ico_images(data: bytes) -> list[tuple[int, int, bytes]]:
    """(width, height, image) of each entry of an .ico, read by its own format."""
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    images = []
    for index in range(count):
        width, height, _, _, planes, bits, size, offset = struct.unpack_from(
            "<BBBBHHII", data, 6 + 16 * index
        )
        assert (planes, bits) == (1, 32) and offset + size <= len(data)
        images.append((width or 256, height or 256, data[offset : offset + size]))
    return images


def decoded(data: bytes) -> QImage:
    image = QImage.fromData(data, "PNG")
    assert not image.isNull()
    return image


def test_the_windows_programs_icon_holds_each_size_drawn_apart(tmp_path: Path) -> None:
    calls = run_spec("notifier-windows", tmp_path)
    icons = {Path(kwargs["icon"]) for _, kwargs in calls["EXE"]}
    assert len(icons) == 1
    icon = icons.pop()
    images = ico_images(icon.read_bytes())
    assert QImageReader(str(icon)).imageCount() == len(images)  # Qt's own ICO reader agrees
    assert [(w, h) for w, h, _ in images] == [(s, s) for s in bundle.WINDOWS_ICON_SIZES]
    for size, _, png in images:
        image = decoded(png)
        assert (image.width(), image.height()) == (size, size)
        assert image.pixelColor(size // 2, size // 2).alpha() > 0  # drawn, not blank


def test_the_windows_bundle_carries_a_png_toast_icon_that_the_toasts_pick_there(
    tmp_path: Path,
) -> None:
    """Windows draws no SVG in a toast (nor as the AUMID's IconUri): the bundle ships a PNG
    of the bell and app_icon_path picks it on Windows; elsewhere the SVG stays."""
    calls = run_spec("notifier-windows", tmp_path)
    ((_, analysis),) = calls["Analysis"]
    pngs = [
        Path(source)
        for source, dest in analysis["datas"]
        if dest == "notifier/resources" and source.endswith(".png")
    ]
    assert [(png.name, png.parent.name) for png in pngs] == [(WINDOWS_APP_ICON, "resources")]
    assert (bundle.TOAST_ICON, bundle.WINDOWS_TOAST_ICON) == (APP_ICON, WINDOWS_APP_ICON)
    image = decoded(pngs[0].read_bytes())
    size = bundle.WINDOWS_TOAST_ICON_SIZE
    assert (image.width(), image.height()) == (size, size)
    assert image.hasAlphaChannel() and image.pixelColor(0, 0).alpha() == 0  # transparent corner
    assert image.pixelColor(size // 2, size // 2).alpha() > 0
    # The spec staged it where notifier.resources is in the bundle; the toasts pick it there.
    resources = pngs[0].parent
    assert app_icon_path("win32", resources) == resources / WINDOWS_APP_ICON
    assert app_icon_path("linux", resources) == resources / APP_ICON
    assert app_icon_path("darwin", resources) == resources / APP_ICON
    # A pip install has no PNG: the SVG, as before (Windows then shows no app icon).
    assert app_icon_path("win32", ROOT / "resources") == ROOT / "resources" / APP_ICON
    assert app_icon_path().name == APP_ICON  # this (Linux) machine, the installed package


def test_an_ico_refuses_an_image_windows_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most 256"):
        bundle.write_ico(
            [bundle.PNG_SIGNATURE + struct.pack(">I4sII", 13, b"IHDR", 512, 512)],
            tmp_path / "big.ico",
        )
    with pytest.raises(ValueError, match="not a PNG"):
        bundle.write_ico([b"GIF89a" + bytes(30)], tmp_path / "gif.ico")


def test_the_nuitka_build_leaves_out_what_the_pyinstaller_bundle_does(tmp_path: Path) -> None:
    """packaging/nuitka (not built in CI: tens of minutes on 2 cores) is a fair comparison:
    its pyside6-deploy input excludes the same modules and keeps the icons."""
    deploy = load(PACKAGING / "nuitka" / "deploy_config.py")
    spec_file = deploy.write_stage(tmp_path, jobs=1)
    spec = configparser.ConfigParser()
    spec.read(spec_file)
    assert spec["nuitka"]["mode"] == "standalone"
    options = dict(option.partition("=")[::2] for option in spec["nuitka"]["extra_args"].split())
    assert options["--nofollow-import-to"].split(",") == bundle.app_excludes("linux")
    assert options["--jobs"] == "1" and options["--output-filename"] == f"{bundle.APP_NAME}.bin"
    assert "--noinclude-qt-translations" in options
    launcher = Path(spec["app"]["input_file"])
    assert launcher.parent == Path(spec["app"]["project_dir"]) == tmp_path / "src"
    assert (launcher.parent / "notifier" / "resources" / APP_ICON).is_file()
    # The Nuitka version pyside6-deploy pins, read from this PySide6's own default.spec.
    assert spec["python"]["packages"] == f"Nuitka=={deploy.pinned_nuitka_version()}"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)*", deploy.pinned_nuitka_version())


def test_the_windows_aumid_is_the_one_desktop_notifier_registers_toasts_under() -> None:
    hook = load(SPECS / "rthook_windows_identity.py")
    assert hook.APP_USER_MODEL_ID == APP_NAME == bundle.WINDOWS_APP_USER_MODEL_ID

    class Shell32:
        def __init__(self) -> None:
            self.ids: list[str] = []

        def SetCurrentProcessExplicitAppUserModelID(self, value: str) -> int:
            self.ids.append(value)
            return 0

    shell32 = Shell32()
    hook.set_app_user_model_id(shell32)
    assert shell32.ids == [APP_NAME]
    # desktop-notifier (not importable here: it needs winrt) registers the toasts' AUMID as
    # HKCU\Software\Classes\AppUserModelId\<app name> with DisplayName = the app name.
    winrt = importlib.util.find_spec("desktop_notifier.backends.winrt")
    assert winrt is not None and winrt.origin is not None
    source = Path(winrt.origin).read_text(encoding="utf-8")
    assert 'key_path = f"SOFTWARE\\\\Classes\\\\AppUserModelId\\\\{app_id}"' in source
    assert '"DisplayName", 0, winreg.REG_SZ, app_name' in source
    assert "register_hkey(app_id=app_name, app_name=app_name" in source


def test_the_macos_spec_makes_a_dockless_app_bundle(tmp_path: Path) -> None:
    calls = run_spec("notifier-macos", tmp_path)
    ((_, made),) = calls["BUNDLE"]
    assert made["bundle_identifier"] == bundle.BUNDLE_IDENTIFIER
    assert made["name"] == "Helpdesk notifier.app"
    assert made["info_plist"]["LSUIElement"] is True
    assert Path(made["icon"]).read_bytes()[:4] == b"icns"
    plist = plistlib.loads(bundle.macos_info_plist_bytes("1.2.3"))
    assert plist["LSUIElement"] is True
    assert plist["CFBundleIdentifier"] == bundle.BUNDLE_IDENTIFIER
    assert plist["CFBundleShortVersionString"] == "1.2.3"
    assert plist["NSHighResolutionCapable"] is True


# ------------------------------------------------------------------ Containerfile, unit


def containerfile() -> list[tuple[str, str]]:
    """(instruction, argument) pairs, continuation lines joined, comments dropped."""
    text = (PACKAGING / "Containerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, argument = line.strip().partition(" ")
            pairs.append((instruction.upper(), argument.strip()))
    return pairs


def server_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    websockets = [d for d in project["dependencies"] if d.startswith("websockets")]
    return set(project["optional-dependencies"]["server"]) | set(websockets)


def test_the_containerfile_builds_from_pypi_alone_and_runs_the_server_unprivileged() -> None:
    steps = containerfile()
    bases = [argument.split()[0] for instruction, argument in steps if instruction == "FROM"]
    assert bases and all(
        re.fullmatch(r"docker\.io/library/python:3\.\d+-slim-\w+", b) for b in bases
    )
    commands = [
        command.strip()
        for instruction, argument in steps
        if instruction == "RUN"
        for command in argument.split("&&")
    ]
    for fetcher in ("apt-get", "apk ", "curl", "wget", "git "):
        assert not [command for command in commands if fetcher in command]
    assert all(not argument.startswith("http") for i, argument in steps if i == "ADD")
    installed = {
        quoted.strip('"')
        for command in commands
        if command.startswith("pip install") and "--no-deps" not in command
        for quoted in re.findall(r'"[^"]+"', command)
    }
    assert installed == server_requirements()
    for instruction, argument in steps:
        if instruction == "COPY" and "--from" not in argument:
            for source in argument.split()[:-1]:
                assert (ROOT / source).exists(), source
    (user,) = [argument for instruction, argument in steps if instruction == "USER"]
    assert not user.startswith(("0", "root"))
    (entrypoint,) = [a for i, a in steps if i == "ENTRYPOINT"]
    (command,) = [a for i, a in steps if i == "CMD"]
    import json

    assert json.loads(entrypoint) == ["notifier-server"]
    args = build_server_parser().parse_args(json.loads(command))
    (volume,) = [a for i, a in steps if i == "VOLUME"]
    assert args.command == "serve" and args.host == "0.0.0.0"
    assert Path(volume) in args.db.parents


def unit() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (PACKAGING / "debian" / "notifier-server.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, value)
    return values


def test_the_systemd_unit_is_hardened_and_starts_a_command_the_server_accepts() -> None:
    values = unit()
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "notifier-server",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
    }.items():
        assert values.get(key) == value, key
    defaults = (PACKAGING / "debian" / "notifier-server.default").read_text()
    (args_line,) = [line for line in defaults.splitlines() if line.startswith("NOTIFIER_")]
    server_args = shlex.split(args_line.partition("=")[2])[0]
    argv = shlex.split(
        values["ExecStart"].replace("%S", "/var/lib").replace("$NOTIFIER_SERVER_ARGS", server_args)
    )
    assert argv[0] == "/usr/bin/notifier-server"
    args = build_server_parser().parse_args(argv[1:])
    assert args.command == "serve"
    assert args.db == Path("/var/lib/notifier-server/helpdesk.db")


def test_the_desktop_entry_and_the_metainfo_name_the_same_app() -> None:
    desktop = (PACKAGING / "notifier.desktop").read_text(encoding="utf-8")
    assert "\nExec=notifier\n" in desktop and "\nIcon=notifier\n" in desktop
    metainfo = (PACKAGING / "debian" / f"{bundle.BUNDLE_IDENTIFIER}.metainfo.xml").read_text()
    assert f"<id>{bundle.BUNDLE_IDENTIFIER}</id>" in metainfo
    assert '<launchable type="desktop-id">notifier.desktop</launchable>' in metainfo


@pytest.mark.parametrize("parser", [build_app_parser(), build_server_parser()])
def test_the_man_page_names_every_command_and_option(parser: Any) -> None:
    from datetime import UTC, datetime

    page = manpage.render(parser, (), datetime(2026, 1, 2, tzinfo=UTC))
    assert page.startswith(f'.TH {parser.prog.upper().replace("-", chr(92) + "-")} 1 "2026-01-02"')
    for name, _help, sub in manpage._subcommands(parser):
        assert f".SS {manpage.escape(name)}\n" in page
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help") and action.help != "==SUPPRESS==":
                    assert manpage.escape(option) in page, (name, option)
    assert not re.search(r"^[.'](?!TH|SH|SS|TP)", page, re.MULTILINE)  # no stray requests


def _commented_commands(text: str) -> list[list[str]]:
    """The shell commands shown in a file's comments (``#   sudo …``, ``\\`` continuations)."""
    commands: list[str] = []
    pending = ""
    for line in text.splitlines():
        body = line.removeprefix("#").strip()
        if not (pending or body.startswith("sudo ")):
            continue
        pending += " " + body.removesuffix("\\")
        if not body.endswith("\\"):
            commands.append(pending)
            pending = ""
    return [shlex.split(command) for command in commands]


def test_the_admin_commands_in_etc_default_run_as_the_services_own_user() -> None:
    # The example used to run add-agent under a dynamic user of its own; systemd then chowns
    # the whole state directory (the live database) to that user, away from the service's.
    service = unit()
    defaults = (PACKAGING / "debian" / "notifier-server.default").read_text()
    commands = _commented_commands(defaults)
    assert {argv[argv.index("notifier-server") + 1] for argv in commands} >= {
        "add-agent",
        "backup",
    }
    for argv in commands:
        program = argv.index("notifier-server")
        if "systemd-run" in argv:
            properties = dict(argv[i + 1].split("=", 1) for i in range(program) if argv[i] == "-p")
            assert properties == {
                "DynamicUser": service["DynamicUser"],
                # A DynamicUser= unit's user is named after the unit unless User= says.
                "User": "notifier-server",
                "StateDirectory": service["StateDirectory"],
                "UMask": service["UMask"],
            }
        args = build_server_parser().parse_args(argv[program + 1 :])
        assert args.db == Path("/var/lib/notifier-server/helpdesk.db")
