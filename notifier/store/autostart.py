"""Start at login: the platform's autostart entry.

Only Linux (and other XDG desktops) is implemented: an entry is the file
``$XDG_CONFIG_HOME/autostart/notifier.desktop`` (XDG Autostart Specification), written
atomically. On macOS (a LaunchAgent plist) and Windows (the ``Run`` registry key) every
change raises :class:`AutostartUnsupported` with a sentence the settings dialog can show;
:meth:`AutostartEntry.is_enabled` is simply False there.

The ``Exec`` line follows the Desktop Entry Specification: each argument that contains a
reserved character is put in double quotes with ``"``, `````, ``$`` and ``\\`` escaped by a
backslash, ``%`` is doubled (it introduces field codes), and then the general string escapes
(``\\\\``, ``\\n``, ...) are applied to the whole value, in that order.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

FILE_NAME: Final = "notifier.desktop"
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


def current_command(argv0: str | None = None) -> list[str]:
    """How this app was started, as an absolute command for the autostart entry.

    The bundle's own executable in a PyInstaller bundle (``sys.executable`` is the app
    there, not a Python that takes ``-m``); the installed ``notifier`` script when that is
    what runs; else ``python -m notifier`` with this interpreter (a development checkout or
    a venv without the script on PATH).
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
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


class AutostartEntry:
    """The autostart entry for ``command``, in ``config_home``'s ``autostart`` folder."""

    def __init__(
        self,
        config_home: Path,
        command: Sequence[str],
        *,
        icon: str = "notifier",
        platform: str = sys.platform,
    ) -> None:
        self.path = config_home / "autostart" / FILE_NAME
        self._command = list(command)
        self._icon = icon
        self._platform = platform
        exec_line(self._command)  # refuse an empty command now, not at login

    @property
    def supported(self) -> bool:
        return not self._platform.startswith(("darwin", "win32", "cygwin"))

    def _require_supported(self) -> None:
        if not self.supported:
            where = "macOS" if self._platform.startswith("darwin") else "Windows"
            raise AutostartUnsupported(
                f"Start at login is not available on {where} yet; only Linux desktops "
                "(XDG autostart) are supported."
            )

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
        """Write the entry (atomically: temp file, fsync, rename)."""
        self._require_supported()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            prefix=".notifier-", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as temp:
                temp.write(self.contents())
                temp.flush()
                os.fsync(temp.fileno())
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, self.path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def disable(self) -> None:
        """Remove the entry; nothing happens if there is none."""
        self._require_supported()
        self.path.unlink(missing_ok=True)

    def is_enabled(self) -> bool:
        """An entry exists and is not switched off (``Hidden=true`` or the GNOME key)."""
        if not self.supported:
            return False
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

    def set_enabled(self, enabled: bool) -> None:
        if enabled:
            self.enable()
        else:
            self.disable()
