"""`notifier tail` as a real subprocess, for the tests that run it against the reference server:
start it on a NOTIFIER_HOME, read its JSON lines (stdout) and status lines (stderr) with
deadlines, and stop it (a signal, or SIGKILL at teardown)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TIMEOUT_S = 20


async def start_tail(
    server_url: str,
    token: str,
    home: Path,
    *,
    stdout: int = asyncio.subprocess.PIPE,
    stderr: int = asyncio.subprocess.PIPE,
    extra_env: Mapping[str, str] | None = None,
    as_json: bool = True,
) -> asyncio.subprocess.Process:
    """``notifier tail --json`` (plain ``notifier tail`` without ``as_json``) signed in with
    ``token``, its files in ``home``."""
    env = {
        **os.environ,
        "NOTIFIER_SERVER": server_url,
        "NOTIFIER_TOKEN": token,
        "NOTIFIER_HOME": str(home),
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "notifier", "tail", *(["--json"] if as_json else [])]
    return await asyncio.create_subprocess_exec(*command, stdout=stdout, stderr=stderr, env=env)


async def read_json_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    async with asyncio.timeout(TIMEOUT_S):
        line = await process.stdout.readline()
    assert line, "tail exited early"
    result: dict[str, Any] = json.loads(line)
    return result


async def wait_until_live(process: asyncio.subprocess.Process) -> None:
    """Status lines go to stderr; live means the replay is over and new events are live."""
    assert process.stderr is not None
    async with asyncio.timeout(TIMEOUT_S):
        while (line := await process.stderr.readline()) != b"[live]\n":
            assert line, "tail exited early"


async def wait_for_change(process: asyncio.subprocess.Process, change: str) -> dict[str, Any]:
    while True:
        item = await read_json_line(process)
        if item["change"] == change:
            return item


async def upserted_ids(process: asyncio.subprocess.Process, wanted: set[str]) -> set[str]:
    """Read JSON lines until every id in ``wanted`` was printed as upserted; all ids seen."""
    seen: set[str] = set()
    while not wanted <= seen:
        item = await read_json_line(process)
        if item["change"] == "upserted":
            seen.add(item["notification"]["id"])
    return seen


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    async with asyncio.timeout(TIMEOUT_S):
        await process.wait()
