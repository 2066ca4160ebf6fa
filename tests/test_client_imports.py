"""Import hygiene of the client layer: what the tray app keeps in memory all day."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_client_leaves_httpx_cli_extras_out() -> None:
    # A fresh interpreter: this test session may have imported httpx (and click) already.
    probe = (
        "import sys, notifier.client.reference, httpx;"
        "print(sorted(m for m in ('click', 'pygments', 'httpx._main')"
        " if sys.modules.get(m) is not None))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"
