"""Fixtures shared by every test.

Every test runs with HOME, the XDG folders and NOTIFIER_HOME pointed into its own tmp folder,
so nothing reads or writes the developer's real settings, cache, logs or keyring.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.app.signals import immortalize_singletons
from notifier.store.cache import NotificationCache

pytest_plugins = ["helpdesk", "pki", "frappe_support"]

# PySide6 6.12.0 on Python 3.11 drops references to None/True on repaints and signal
# emissions; without this a long test session aborts (see notifier/app/signals.py).
immortalize_singletons()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_RUNTIME_DIR", "runtime"),
    ):
        folder = home / sub
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(folder))
    os.chmod(home / "runtime", 0o700)
    monkeypatch.setenv("NOTIFIER_HOME", str(home / "notifier"))
    for name in (
        "NOTIFIER_SERVER",
        "NOTIFIER_TOKEN",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    # The OS keyring is a true edge: unit tests use an in-memory backend unless a test opts
    # into the real one on a private session bus.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    yield home


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[NotificationCache]:
    """A real SQLite notification cache in the test's tmp folder, closed afterwards."""
    opened = NotificationCache.open(tmp_path / "cache.sqlite3")
    yield opened
    opened.close()
