"""PySide6 6.12.0 on Python 3.11 drops a reference to True on every Python-side emit() and
to None on every Python paintEvent, until the interpreter aborts ("bool_dealloc"). The app
has no workaround: pyproject.toml keeps PySide6 below 6.12. These tests fail if the installed
PySide6 has the defect or the pin lets it back in."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# 20,000 repaints of a widget with a Python paintEvent and 20,000 emit() calls: with the defect
# that is 20,000 lost references each of None and True, far more than a fresh process holds.
STRESS = """
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
class Painted(QWidget):
    def paintEvent(self, event):
        pass
class Emitter(QObject):
    changed = Signal(int)
widget = Painted()
widget.resize(10, 10)
widget.show()
emitter = Emitter()
received = []
emitter.changed.connect(lambda value: received.append(value % 2 == 0))
for i in range(20_000):
    widget.repaint()
    emitter.changed.emit(i)
print("survived", len(received), flush=True)
"""


def test_the_installed_pyside6_survives_a_day_of_repaints_and_emits() -> None:
    result = subprocess.run(
        [sys.executable, "-c", STRESS],
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["survived", "20000"]


def test_the_pin_excludes_pyside6_6_12() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    pyside = [Requirement(d) for d in dependencies if d.lower().startswith("pyside6")]
    assert len(pyside) == 1
    assert not pyside[0].specifier.contains("6.12.0")
    assert not pyside[0].specifier.contains("6.12.1")
    assert pyside[0].specifier.contains("6.11.3")
