"""Fixtures shared by every test.

Every test runs with HOME, the XDG folders and NOTIFIER_HOME pointed into its own tmp folder,
so nothing reads or writes the developer's real settings, cache, logs or keyring.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.store.cache import NotificationCache

pytest_plugins = ["helpdesk", "pki", "frappe_support"]


# Python's cyclic garbage collector runs on whichever thread happens to allocate. Several tests
# run Python on threads of their own (the Frappe stand-in, a browser driver, a tray engine), so
# Qt objects that earlier tests left in reference cycles (a closed qasync loop's timers, a
# dialog) could be freed off the GUI thread: "QObject::~QObject: Timers cannot be stopped from
# another thread", then a segmentation fault in pytest-qt's next event processing (seen in CI).
# So automatic collection is off for the test session and garbage is collected on the main
# thread between tests: the young generation after each test, everything every 25 tests.
_tests_since_full_collection = 0


def pytest_sessionstart(session: pytest.Session) -> None:
    gc.disable()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.enable()


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_main_thread() -> Iterator[None]:
    global _tests_since_full_collection
    yield
    _tests_since_full_collection += 1
    if _tests_since_full_collection >= 25:
        _tests_since_full_collection = 0
        gc.collect()
    else:
        gc.collect(0)


@pytest.fixture
def gc_state_restored() -> Iterator[None]:
    """For a test that turns automatic collection on or freezes: unfrozen, and collection as
    the suite has it (off), afterwards."""
    was_enabled = gc.isenabled()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
        else:
            gc.disable()


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
