"""The headless commands (``notifier login``, ``logout``, ``doctor``, ``tail``) run in-process,
as :func:`notifier.headless.run_command` runs them, with the outside world injected: the
keyring (in memory, or the failing default), standard input, the password prompt and the
timeouts. The test's NOTIFIER_HOME (tests/conftest.py) holds the settings and caches."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping

from notifier.client.transport import TransportConfig
from notifier.headless import run_command
from notifier.main import build_parser
from notifier.store.secrets import TokenStore


def run(
    argv: list[str],
    *,
    store: TokenStore | None = None,
    environ: dict[str, str] | None = None,
    stdin: str = "",
    password: str = "",
    transport: TransportConfig | None = None,
) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of ``notifier <argv>``."""
    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env.update(environ or {})
    code = run_command(
        args.command,
        args,
        environ=env,
        token_store=store,
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        read_password=lambda prompt: password,
        transport=transport,
    )
    return code, out.getvalue(), err.getvalue()


def run_process(
    argv: list[str], env: Mapping[str, str], stdin: str = "", timeout_s: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """``notifier <argv>`` as a subprocess with exactly ``env``, as an agent runs it."""
    return subprocess.run(
        [sys.executable, "-m", "notifier", *argv],
        input=stdin,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def report(output: str) -> dict[str, str]:
    """``{check name: "<symbol> <detail>"}`` from doctor's ``<symbol> <name>: <detail>`` lines."""
    checks: dict[str, str] = {}
    for line in output.splitlines():
        symbol, _, rest = line.partition(" ")
        name, separator, detail = rest.partition(": ")
        if symbol in ("✓", "!", "✗", "–") and separator:
            checks[name] = f"{symbol} {detail}"
    return checks
