"""PySide6's import hook, patched by notifier.app.pyside_imports: modules imported afterwards
are classified as before (uses PySide6 or not) and their source is not kept in linecache."""

from __future__ import annotations

import linecache
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import PySide6.QtCore  # noqa: F401  (installs the import hook this module is about)
import pytest

from notifier.app import pyside_imports


@pytest.fixture
def feature() -> Iterator[ModuleType]:
    module = sys.modules[pyside_imports.FEATURE_MODULE]
    original = module._mod_uses_pyside  # type: ignore[attr-defined]
    try:
        yield module
    finally:
        module._mod_uses_pyside = original  # type: ignore[attr-defined]


def write_module(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(body, encoding="utf-8")
    return path


def test_source_of_modules_imported_afterwards_is_not_cached(
    feature: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    qt_user = write_module(tmp_path, "idle_probe_qt_user", "import PySide6.QtCore\nX = 1\n")
    plain = write_module(tmp_path, "idle_probe_plain", "Y = 2\n" * 1000)
    assert pyside_imports.install()
    try:
        __import__("idle_probe_qt_user")  # the import statement's path, through the hook
        __import__("idle_probe_plain")
        assert str(qt_user) not in linecache.cache
        assert str(plain) not in linecache.cache
        flags = feature.pyside_feature_dict  # type: ignore[attr-defined]
        assert flags["idle_probe_qt_user"] == 0  # uses PySide6: follows feature switching
        assert flags["idle_probe_plain"] == -1  # ignored by feature switching, as before
    finally:
        for name in ("idle_probe_qt_user", "idle_probe_plain"):
            sys.modules.pop(name, None)


def test_uses_pyside_answers_like_pysides_own_check(tmp_path: Path) -> None:
    with_qt = ModuleType("with_qt")
    with_qt.__file__ = str(write_module(tmp_path, "with_qt", "from PySide6 import QtCore\n"))
    without = ModuleType("without")
    without.__file__ = str(write_module(tmp_path, "without", "import json\n"))
    gone = ModuleType("gone")
    gone.__file__ = str(tmp_path / "deleted.py")
    assert pyside_imports.uses_pyside(with_qt)
    assert not pyside_imports.uses_pyside(without)
    assert not pyside_imports.uses_pyside(gone)  # unreadable: no source, like getsource
    assert not pyside_imports.uses_pyside(sys)  # built-in


def test_install_is_a_no_op_without_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, pyside_imports.FEATURE_MODULE)
    assert not pyside_imports.install()
