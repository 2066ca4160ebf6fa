"""Start at login: the platform's autostart entry.

One :class:`AutostartEntry` for each desktop, chosen by ``platform``:

* Linux and other XDG desktops: the file ``$XDG_CONFIG_HOME/autostart/notifier.desktop``
  (XDG Autostart Specification), written atomically;
* macOS: a LaunchAgent, ``~/Library/LaunchAgents/org.notifier.Notifier.plist`` (the app's
  bundle identifier as its label), which launchd runs once when the agent logs in to the
  desktop (``RunAtLoad``, ``LimitLoadToSessionType`` Aqua). No ``KeepAlive``: Quit must stay
  quit until the next login. Written atomically; launchd reads it at the next login, so
  nothing is loaded now;
* Windows: the value ``notifier`` under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``
  holding the command line (the program in double quotes, so a path with spaces is not
  taken for a shorter one). Task Manager's "Startup apps" switch is honoured: a disabled
  entry under ``Explorer\\StartupApproved\\Run`` makes :meth:`AutostartEntry.is_enabled`
  False. The registry is reached through :class:`Registry` (``winreg`` on Windows), so the
  values can be checked on any system.

Only Cygwin's Python (no ``winreg``) raises :class:`AutostartUnsupported`.

The ``Exec`` line follows the Desktop Entry Specification: each argument that contains a
reserved character is put in double quotes with ``"``, `````, ``$`` and ``\\`` escaped by a
backslash, ``%`` is doubled (it introduces field codes), and then the general string escapes
(``\\\\``, ``\\n``, ...) are applied to the whole value, in that order.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

from notifier.store.atomic_file import write_atomically

FILE_NAME: Final = "notifier.desktop"
LAUNCH_AGENT_LABEL: Final = "org.notifier.Notifier"  # packaging/pyinstaller/bundle.py's id
RUN_KEY: Final = r"Software\Microsoft\Windows\CurrentVersion\Run"
STARTUP_APPROVED_KEY: Final = (
    r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
)
RUN_VALUE_NAME: Final = "notifier"
# Characters that force quoting of an Exec argument (Desktop Entry Spec, "The Exec key").
_RESERVED: Final = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES: Final = frozenset('"`$\\')


class AutostartUnsupported(RuntimeError):
    """Autostart is not implemented on this platform; the message says so in words."""


def quote_exec_argument(argument: str) -> str:
    """One argument of an ``Exec`` value, before the string escapes (see module docs)."""
    if not argument:
        return '""'
    argument = argument.replace("%", "%%")
    if not any(ch in _RESERVED for ch in argument):
        return argument
    inner = "".join("\\" + ch if ch in _ESCAPED_IN_QUOTES else ch for ch in argument)
    return f'"{inner}"'


def escape_string_value(value: str) -> str:
    """The general escapes for a ``string`` value in a desktop entry file."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )


def exec_line(command: Sequence[str]) -> str:
    if not command:
        raise ValueError("the autostart command must not be empty")
    return escape_string_value(" ".join(quote_exec_argument(arg) for arg in command))


def current_command(argv0: str | None = None, platform: str | None = None) -> list[str]:
    """How this app was started, as an absolute command for the autostart entry.

    The bundle's own executable in a PyInstaller bundle (``sys.executable`` is the app
    there, not a Python that takes ``-m``). On Windows otherwise ``pythonw -m notifier``
    beside this interpreter: the ``notifier.exe`` console script and ``python.exe`` would
    open a console window at every login. Elsewhere the installed ``notifier`` script when
    that is what runs; else ``python -m notifier`` with this interpreter (a development
    checkout or a venv without the script on PATH).
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
    if (platform or sys.platform).startswith("win32"):
        windowless = Path(sys.executable).with_name("pythonw.exe")
        return [str(windowless) if windowless.exists() else sys.executable, "-m", "notifier"]
    name = sys.argv[0] if argv0 is None else argv0
    if Path(name).name == "notifier":
        found = shutil.which(name)
        if found:
            return [str(Path(found).resolve())]
    return [sys.executable, "-m", "notifier"]


def default_config_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME``, or ``~/.config`` when it is unset or not absolute (per spec)."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME", str(Path.home()))) / ".config"


class XdgAutostart:
    """``notifier.desktop`` in ``config_home``'s ``autostart`` folder."""

    def __init__(self, config_home: Path, command: Sequence[str], icon: str) -> None:
        self.path = config_home / "autostart" / FILE_NAME
        self._command = list(command)
        self._icon = icon

    def contents(self) -> str:
        lines = [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.5",
            "Name=notifier",
            "GenericName=Helpdesk notifications",
            "Comment=Ticket assignments, mentions and customer replies in the tray",
            f"Exec={exec_line(self._command)}",
            f"Icon={escape_string_value(self._icon)}",
            "Terminal=false",
            "Categories=Network;Office;",
            "X-GNOME-Autostart-enabled=true",
        ]
        return "\n".join(lines) + "\n"

    def enable(self) -> None:
        write_atomically(
            self.path, self.contents().encode("utf-8"), mode=0o644, prefix=".notifier-"
        )

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_enabled(self) -> bool:
        """An entry exists and is not switched off (``Hidden=true`` or the GNOME key)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return False
        keys = dict(
            line.split("=", 1) for line in text.splitlines() if "=" in line and line[:1] != "#"
        )
        return (
            keys.get("Hidden", "false").strip() != "true"
            and keys.get("X-GNOME-Autostart-enabled", "true").strip() != "false"
        )


class LaunchAgent:
    """``~/Library/LaunchAgents/<label>.plist`` under ``home`` (macOS)."""

    def __init__(self, home: Path, command: Sequence[str]) -> None:
        self.path = home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        self._command = list(command)

    def contents(self) -> bytes:
        return plistlib.dumps(
            {
                "Label": LAUNCH_AGENT_LABEL,
                "ProgramArguments": self._command,
                "RunAtLoad": True,  # once, at login
                "LimitLoadToSessionType": "Aqua",  # a desktop login, not an ssh session
                "ProcessType": "Interactive",
            }
        )

    def enable(self) -> None:
        write_atomically(self.path, self.contents(), mode=0o644, prefix=".notifier-")

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_enabled(self) -> bool:
        """The plist exists, is ours to run at load, and is not marked ``Disabled``."""
        try:
            agent = plistlib.loads(self.path.read_bytes())
        except (FileNotFoundError, plistlib.InvalidFileException, ValueError):
            return False
        return (
            isinstance(agent, dict)
            and agent.get("RunAtLoad") is True
            and agent.get("Disabled") is not True
        )


def _no_registry() -> AutostartUnsupported:
    return AutostartUnsupported("the Windows registry exists only on Windows")


class Registry(Protocol):
    """The values of keys under HKEY_CURRENT_USER that the ``Run`` entry needs."""

    def get(self, key: str, name: str) -> str | bytes | None:
        """The value ``name`` of ``key`` (None: the key or the value does not exist)."""
        ...

    def set_string(self, key: str, name: str, value: str) -> None:
        """Create ``key`` if needed and set ``name`` to the string ``value`` (REG_SZ)."""
        ...

    def delete(self, key: str, name: str) -> None:
        """Remove the value ``name`` of ``key``; nothing there is not an error."""
        ...


class WinregRegistry:
    """:class:`Registry` over ``winreg`` (Windows only; elsewhere every call raises)."""

    def get(self, key: str, name: str) -> str | bytes | None:
        if sys.platform == "win32":
            import winreg

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as handle:
                    value, _kind = winreg.QueryValueEx(handle, name)
            except FileNotFoundError:
                return None
            return value if isinstance(value, str | bytes) else None
        raise _no_registry()

    def set_string(self, key: str, name: str, value: str) -> None:
        if sys.platform == "win32":
            import winreg

            access = winreg.KEY_SET_VALUE
            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, key, 0, access) as handle:
                winreg.SetValueEx(handle, name, 0, winreg.REG_SZ, value)
            return
        raise _no_registry()

    def delete(self, key: str, name: str) -> None:
        if sys.platform == "win32":
            import winreg

            try:
                with winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE
                ) as handle:
                    winreg.DeleteValue(handle, name)
            except FileNotFoundError:
                pass
            return
        raise _no_registry()


def run_command_line(command: Sequence[str]) -> str:
    """The ``Run`` value for ``command``: the program always in double quotes (a Windows path
    cannot contain one), the arguments quoted by the C runtime's rules."""
    program, *arguments = command
    return " ".join([f'"{program}"', *([subprocess.list2cmdline(arguments)] if arguments else [])])


class RunKey:
    """The ``notifier`` value of the current user's ``Run`` key (Windows)."""

    def __init__(self, registry: Registry, command: Sequence[str]) -> None:
        self._registry = registry
        self._command = list(command)

    def enable(self) -> None:
        self._registry.set_string(RUN_KEY, RUN_VALUE_NAME, run_command_line(self._command))

    def disable(self) -> None:
        self._registry.delete(RUN_KEY, RUN_VALUE_NAME)

    def is_enabled(self) -> bool:
        """The value is there, and Task Manager's startup switch is not off for it (its
        ``StartupApproved`` entry, when there is one, starts with an even byte when on)."""
        if not self._registry.get(RUN_KEY, RUN_VALUE_NAME):
            return False
        approved = self._registry.get(STARTUP_APPROVED_KEY, RUN_VALUE_NAME)
        return not (isinstance(approved, bytes) and approved[:1] and approved[0] % 2 == 1)


class AutostartEntry:
    """The autostart entry for ``command`` on ``platform``: an XDG autostart file in
    ``config_home``, a LaunchAgent under ``home`` (macOS), or the ``Run`` value in
    ``registry`` (Windows; ``winreg`` unless given)."""

    def __init__(
        self,
        config_home: Path,
        command: Sequence[str],
        *,
        icon: str = "notifier",
        platform: str | None = None,  # sys.platform
        home: Path | None = None,
        registry: Registry | None = None,
    ) -> None:
        exec_line(command)  # refuse an empty command now, not at login
        platform = platform or sys.platform
        self._entry: XdgAutostart | LaunchAgent | RunKey | None
        if platform.startswith("darwin"):
            self._entry = LaunchAgent(home if home is not None else Path.home(), command)
        elif platform.startswith("win32"):
            self._entry = RunKey(registry if registry is not None else WinregRegistry(), command)
        elif platform.startswith("cygwin"):
            self._entry = None
        else:
            self._entry = XdgAutostart(config_home, command, icon)

    @property
    def path(self) -> Path | None:
        """The entry's file (None on Windows, where it is a registry value)."""
        return self._entry.path if isinstance(self._entry, XdgAutostart | LaunchAgent) else None

    @property
    def supported(self) -> bool:
        return self._entry is not None

    def _require(self) -> XdgAutostart | LaunchAgent | RunKey:
        if self._entry is None:
            raise AutostartUnsupported(
                "Start at login is not available in Cygwin; use the Windows build of notifier."
            )
        return self._entry

    def enable(self) -> None:
        """Write the entry (atomically where it is a file)."""
        self._require().enable()

    def disable(self) -> None:
        """Remove the entry; nothing happens if there is none."""
        self._require().disable()

    def is_enabled(self) -> bool:
        return self._entry is not None and self._entry.is_enabled()

    def set_enabled(self, enabled: bool) -> None:
        if enabled:
            self.enable()
        else:
            self.disable()
