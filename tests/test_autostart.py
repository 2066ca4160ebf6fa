"""The XDG autostart entry: written atomically, Exec quoted per the Desktop Entry spec."""

from __future__ import annotations

import os
import plistlib
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.store.autostart import (
    AutostartEntry,
    AutostartUnsupported,
    WinregRegistry,
    current_command,
    default_config_home,
    exec_line,
)


def parse_exec(value: str) -> list[str]:
    """A decoder written from the spec: string escapes first, then quoting, then %%."""
    unescaped = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars)
            unescaped.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[nxt])
        else:
            unescaped.append(ch)
    text = "".join(unescaped)
    args: list[str] = []
    current: list[str] = []
    in_word = in_quotes = False
    index = 0
    while index < len(text):
        ch = text[index]
        if in_quotes:
            if ch == "\\":
                index += 1
                assert text[index] in '"`$\\', "only these may be escaped inside quotes"
                current.append(text[index])
            elif ch == '"':
                in_quotes = False
            else:
                current.append(ch)
        elif ch == '"':
            in_quotes = in_word = True
        elif ch == " ":
            if in_word:
                args.append("".join(current))
                current, in_word = [], False
        else:
            assert ch not in "\t\n\"'\\><~|&;$*?#()`", f"unquoted reserved {ch!r}"
            current.append(ch)
            in_word = True
        index += 1
    assert not in_quotes
    if in_word:
        args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


def read_keys(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line)


def test_enable_writes_a_valid_entry_and_disable_removes_it(tmp_path: Path) -> None:
    entry = AutostartEntry(tmp_path / "config", ["/usr/bin/notifier"])
    assert not entry.is_enabled()
    entry.enable()
    assert entry.path == tmp_path / "config" / "autostart" / "notifier.desktop"
    assert entry.is_enabled()
    keys = read_keys(entry.path)
    assert keys["Type"] == "Application"
    assert keys["Name"] == "notifier"
    assert keys["Exec"] == "/usr/bin/notifier"
    assert keys["Icon"] == "notifier"
    assert keys["X-GNOME-Autostart-enabled"] == "true"
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o644
    assert os.listdir(entry.path.parent) == ["notifier.desktop"]  # no temp file left
    entry.disable()
    assert not entry.path.exists()
    assert not entry.is_enabled()
    entry.disable()  # nothing to remove is fine


def test_enable_replaces_an_old_entry(tmp_path: Path) -> None:
    entry = AutostartEntry(tmp_path, ["/opt/notifier/bin/notifier", "--minimized"])
    entry.path.parent.mkdir(parents=True)
    entry.path.write_text("[Desktop Entry]\nExec=/old/notifier\nHidden=true\n")
    assert not entry.is_enabled()
    entry.enable()
    assert read_keys(entry.path)["Exec"] == "/opt/notifier/bin/notifier --minimized"
    assert entry.is_enabled()


def test_an_entry_switched_off_by_the_desktop_is_not_enabled(tmp_path: Path) -> None:
    entry = AutostartEntry(tmp_path, ["notifier"])
    entry.path.parent.mkdir(parents=True)
    entry.path.write_text("[Desktop Entry]\nExec=notifier\nX-GNOME-Autostart-enabled=false\n")
    assert not entry.is_enabled()


def test_a_failed_write_keeps_the_old_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = AutostartEntry(tmp_path, ["/new/notifier"])
    entry.path.parent.mkdir(parents=True)
    entry.path.write_text("[Desktop Entry]\nExec=/old/notifier\n")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        entry.enable()
    assert read_keys(entry.path)["Exec"] == "/old/notifier"
    assert os.listdir(entry.path.parent) == ["notifier.desktop"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/usr/bin/notifier"], "/usr/bin/notifier"),
        (
            ["/home/a b/venv/bin/python", "-m", "notifier"],
            '"/home/a b/venv/bin/python" -m notifier',
        ),
        (["/opt/it's/notifier"], '"/opt/it\'s/notifier"'),
        (["/opt/$HOME/notifier"], '"/opt/\\\\$HOME/notifier"'),
        (["C:\\tools\\notifier"], '"C:\\\\\\\\tools\\\\\\\\notifier"'),
        (["/opt/100%/notifier"], "/opt/100%%/notifier"),
        (["notifier", ""], 'notifier ""'),
    ],
)
def test_exec_quoting(command: list[str], expected: str) -> None:
    assert exec_line(command) == expected
    assert parse_exec(expected) == command


@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=20), min_size=1))
def test_exec_line_round_trips_through_a_spec_decoder(command: list[str]) -> None:
    line = exec_line(command)
    assert "\n" not in line and "\r" not in line
    assert parse_exec(line) == command


def test_an_empty_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        AutostartEntry(tmp_path, [])


MAC_APP = "/Applications/Helpdesk notifier.app/Contents/MacOS/notifier"


def test_macos_gets_a_launch_agent_that_runs_once_at_login(tmp_path: Path) -> None:
    entry = AutostartEntry(tmp_path / "cfg", [MAC_APP], platform="darwin", home=tmp_path)
    assert entry.supported and not entry.is_enabled()
    entry.enable()
    agents = tmp_path / "Library" / "LaunchAgents"
    assert entry.path == agents / "org.notifier.Notifier.plist"
    assert plistlib.loads(entry.path.read_bytes()) == {
        "Label": "org.notifier.Notifier",
        "ProgramArguments": [MAC_APP],
        "RunAtLoad": True,
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
    }  # no KeepAlive: launchd must not restart the app after Quit
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o644
    assert os.listdir(agents) == ["org.notifier.Notifier.plist"]  # no temp file left
    assert not (tmp_path / "cfg").exists()  # no XDG entry on a Mac
    assert entry.is_enabled()
    entry.disable()
    assert not entry.path.exists() and not entry.is_enabled()
    entry.disable()  # nothing to remove is fine


def test_a_launch_agent_disabled_or_unreadable_is_not_enabled(tmp_path: Path) -> None:
    entry = AutostartEntry(tmp_path, ["/usr/local/bin/notifier"], platform="darwin", home=tmp_path)
    entry.enable()
    assert entry.path is not None
    agent = plistlib.loads(entry.path.read_bytes())
    entry.path.write_bytes(plistlib.dumps({**agent, "Disabled": True}))
    assert not entry.is_enabled()
    entry.path.write_bytes(b"not a plist")
    assert not entry.is_enabled()
    entry.enable()  # replaces it
    assert plistlib.loads(entry.path.read_bytes())["ProgramArguments"] == [
        "/usr/local/bin/notifier"
    ]


class MemoryRegistry:
    """HKEY_CURRENT_USER's values in memory: the registry is a true edge (winreg exists on
    Windows only); same interface as notifier.store.autostart.WinregRegistry."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str | bytes] = {}

    def get(self, key: str, name: str) -> str | bytes | None:
        return self.values.get((key, name))

    def set_string(self, key: str, name: str, value: str) -> None:
        self.values[(key, name)] = value

    def delete(self, key: str, name: str) -> None:
        self.values.pop((key, name), None)


RUN = r"Software\Microsoft\Windows\CurrentVersion\Run"
APPROVED = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"


@pytest.mark.parametrize(
    ("command", "value"),
    [
        (
            [r"C:\Program Files\Helpdesk notifier\notifier.exe"],
            r'"C:\Program Files\Helpdesk notifier\notifier.exe"',
        ),
        (
            [r"C:\Users\Ann Lee\venv\Scripts\pythonw.exe", "-m", "notifier"],
            r'"C:\Users\Ann Lee\venv\Scripts\pythonw.exe" -m notifier',
        ),
        (
            [r"C:\notifier\notifier.exe", "--profile", "a b"],
            r'"C:\notifier\notifier.exe" --profile "a b"',
        ),
    ],
)
def test_windows_gets_the_run_value_with_a_quoted_command(command: list[str], value: str) -> None:
    registry = MemoryRegistry()
    entry = AutostartEntry(Path("unused"), command, platform="win32", registry=registry)
    assert entry.supported and entry.path is None and not entry.is_enabled()
    entry.enable()
    assert registry.values == {(RUN, "notifier"): value}
    assert entry.is_enabled()
    entry.disable()
    assert registry.values == {}
    assert not entry.is_enabled()
    entry.disable()  # nothing to remove is fine


def test_windows_honours_the_task_managers_startup_switch() -> None:
    registry = MemoryRegistry()
    entry = AutostartEntry(
        Path("unused"), ["C:\\n\\notifier.exe"], platform="win32", registry=registry
    )
    entry.enable()
    registry.values[(APPROVED, "notifier")] = b"\x03" + bytes(11)  # switched off
    assert not entry.is_enabled()
    registry.values[(APPROVED, "notifier")] = b"\x02" + bytes(11)  # switched on again
    assert entry.is_enabled()


def test_cygwin_says_it_is_unsupported(tmp_path: Path) -> None:
    entry = AutostartEntry(tmp_path, ["notifier"], platform="cygwin")
    assert not entry.supported and not entry.is_enabled()
    for action in (entry.enable, entry.disable):
        with pytest.raises(AutostartUnsupported, match="Cygwin"):
            action()


def test_the_real_registry_is_only_on_windows() -> None:
    if sys.platform == "win32":
        pytest.skip("on Windows winreg is real: this checks the refusal elsewhere")
    with pytest.raises(AutostartUnsupported, match="only on Windows"):
        WinregRegistry().get(RUN, "notifier")


def test_on_windows_the_command_opens_no_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "python.exe").write_text("")
    (tmp_path / "pythonw.exe").write_text("")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python.exe"))
    assert current_command("notifier", platform="win32") == [
        str(tmp_path / "pythonw.exe"),
        "-m",
        "notifier",
    ]


def test_the_apps_start_at_login_writes_a_launch_agent_on_macos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the settings dialog's checkbox calls (through the controller): on a Mac it writes
    # the LaunchAgent instead of failing with "unsupported".
    from notifier.compose import LiveServices
    from notifier.store.paths import app_paths

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", MAC_APP)
    monkeypatch.setenv("HOME", str(tmp_path))
    environ = {"NOTIFIER_HOME": str(tmp_path / "app"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    services = LiveServices(app_paths(environ), environ)
    monkeypatch.setattr(sys, "platform", "darwin")
    services.set_start_at_login(True)
    monkeypatch.undo()
    agent = tmp_path / "Library" / "LaunchAgents" / "org.notifier.Notifier.plist"
    assert plistlib.loads(agent.read_bytes())["ProgramArguments"] == [MAC_APP]


def test_default_config_home_follows_xdg(tmp_path: Path) -> None:
    assert default_config_home({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path
    home = {"HOME": "/home/agent"}
    assert default_config_home(home) == Path("/home/agent/.config")
    assert default_config_home({**home, "XDG_CONFIG_HOME": "relative"}) == Path(
        "/home/agent/.config"
    )
    assert default_config_home() == Path(os.environ["XDG_CONFIG_HOME"])


def test_current_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bin" / "notifier"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(script.parent))
    assert current_command("notifier") == [str(script.resolve())]
    assert current_command("/somewhere/else/main.py") == [sys.executable, "-m", "notifier"]


def test_in_a_bundle_the_command_is_the_bundle_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    # PyInstaller sets sys.frozen; sys.executable is then the app, which knows no "-m".
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/notifier/notifier")
    assert current_command("notifier") == ["/opt/notifier/notifier"]
    assert current_command("/somewhere/else/main.py") == ["/opt/notifier/notifier"]


def test_the_apps_start_at_login_writes_the_bundles_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifier.compose import LiveServices
    from notifier.store.paths import app_paths

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/notifier/notifier")
    environ = {"NOTIFIER_HOME": str(tmp_path / "app"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    services = LiveServices(app_paths(environ), environ)
    services.set_start_at_login(True)
    entry = tmp_path / "cfg" / "autostart" / "notifier.desktop"
    assert parse_exec(read_keys(entry)["Exec"]) == ["/opt/notifier/notifier"]
    services.set_start_at_login(False)
    assert not entry.exists()
