"""The dependency direction between layers (see notifier/__init__.py).

Reads every module's imports with ast, so a wrong-way import fails here even if it is never
executed by another test.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import notifier

PACKAGE = Path(notifier.__file__).parent

# layer -> the notifier layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "client": {"core"},
    "store": {"core"},
    "sync": {"core", "store"},
    "app": {"core", "sync", "store"},
    "ui": {"core", "app", "resources"},
    "server": {"core"},
}
# Third-party packages a layer must never import.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "client": {"PySide6", "qasync", "starlette", "uvicorn"},
    "store": {"PySide6", "qasync", "starlette", "uvicorn", "httpx", "websockets"},
    "sync": {"PySide6", "qasync", "starlette", "uvicorn", "httpx", "websockets"},
    "app": {"PySide6.QtWidgets", "PySide6.QtGui", "starlette", "uvicorn"},
    "ui": {"starlette", "uvicorn"},
}
COMPOSITION_ROOT = {"main", "compose", "headless", "__main__", "__init__"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_layers_import_only_inward() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        layer = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        if layer in COMPOSITION_ROOT:
            continue
        assert layer in ALLOWED, f"{relative}: unknown layer {layer!r}; add it to the map"
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "notifier" and len(parts) > 1:
                target = parts[1]
                if target != layer and target not in ALLOWED[layer]:
                    problems.append(f"{relative} imports {name}")
            for forbidden in FORBIDDEN_THIRD_PARTY.get(layer, set()):
                if name == forbidden or name.startswith(forbidden + "."):
                    problems.append(f"{relative} imports {name}")
    assert problems == []


def test_core_is_stdlib_only() -> None:
    stdlib = sys.stdlib_module_names
    problems = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top not in stdlib and top not in {"notifier", "__future__"}:
                problems.append(f"{path.name} imports {name}")
    assert problems == []


def test_the_checker_catches_a_wrong_way_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from notifier.ui.tray import TrayIcon\nimport PySide6.QtWidgets\n")
    assert "notifier.ui.tray" in imports_of(bad)
    assert "PySide6.QtWidgets" in imports_of(bad)
