"""Run a snippet in a fresh Python interpreter: what a module imports (``sys.modules``) can
only be seen there, since the test session has imported everything already."""

from __future__ import annotations

import subprocess
import sys


def fresh_output(code: str, timeout_s: float = 60.0) -> str:
    """The standard output of ``python -c code`` (this interpreter, this environment)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s, check=True
    )
    return result.stdout
