"""Where config, cache and logs live.

platformdirs gives each platform's conventional folders (XDG on Linux, ~/Library on macOS,
%APPDATA% on Windows) without hand-written rules. ``NOTIFIER_HOME`` puts all three under one
folder: tests, portable installs, and the README's demo use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "notifier"


@dataclass(frozen=True, slots=True)
class AppPaths:
    config_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def cache_file(self) -> Path:
        return self.cache_dir / "notifications.sqlite3"

    @property
    def tail_cache_file(self) -> Path:
        """``notifier tail``'s own cache: its cursor is what it printed, so the tray app
        (which may run at the same time) never takes a line from it, nor it a toast from the
        app."""
        return self.cache_dir / "tail.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "notifier.log"

    def ensure(self) -> AppPaths:
        for folder in (self.config_dir, self.cache_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def app_paths(environ: dict[str, str] | None = None) -> AppPaths:
    env = os.environ if environ is None else environ
    home = env.get("NOTIFIER_HOME")
    if home:
        base = Path(home).expanduser()
        return AppPaths(base / "config", base / "cache", base / "logs")
    # Imported here: the tray's first paint uses NOTIFIER_HOME-free paths too, and platformdirs
    # costs a few ms of the start-up budget only when it is actually needed.
    from platformdirs import PlatformDirs

    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return AppPaths(Path(dirs.user_config_dir), Path(dirs.user_cache_dir), Path(dirs.user_log_dir))
