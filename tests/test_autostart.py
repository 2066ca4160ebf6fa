"""The XDG autostart entry: written atomically, Exec quoted per the Desktop Entry spec."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.store.autostart import (
    AutostartEntry,
    AutostartUnsupported,
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


@pytest.mark.parametrize(("platform", "name"), [("darwin", "macOS"), ("win32", "Windows")])
def test_other_platforms_say_it_is_unsupported(tmp_path: Path, platform: str, name: str) -> None:
    entry = AutostartEntry(tmp_path, ["notifier"], platform=platform)
    assert not entry.supported
    assert not entry.is_enabled()
    for action in (entry.enable, entry.disable):
        with pytest.raises(AutostartUnsupported, match=f"not available on {name}"):
            action()
    assert not (tmp_path / "autostart").exists()


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
