"""`notifier tail` prints a change before it commits it: killed at any moment, the next run
prints every notification the killed one did not (some maybe twice, none never). A real tail
subprocess against the reference helpdesk.

The kill lands inside the print-to-commit window on purpose: tail's standard output is a pipe
shrunk to one page that the test does not read, so tail blocks in the middle of printing; the
test kills it there (SIGKILL) and starts it again. Code that commits before it prints has
committed the changes it has not printed yet, and loses them.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import termios
from pathlib import Path

import pytest
from helpdesk import Helpdesk, HelpdeskActions
from tail_process import TIMEOUT_S, kill, start_tail, upserted_ids, wait_until_live

from notifier.headless import EXIT_STDOUT_GONE

PAGE = 4096
F_SETPIPE_SZ = 1031  # Linux: fcntl.F_SETPIPE_SZ (Python 3.10+ has it on Linux builds)
# The subject makes each JSON line ~0.5 KB: one page of pipe holds a few lines only.
SUBJECT = "Printer on fire on the third floor, again; " * 6


def small_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) that holds one page, so a writer blocks early."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", F_SETPIPE_SZ), PAGE)
    return read_end, write_end


def pending_bytes(read_end: int) -> int:
    """How many bytes wait in the pipe."""
    count = bytearray(4)
    fcntl.ioctl(read_end, termios.FIONREAD, count)
    return int.from_bytes(count, "little")


async def until_blocked(read_end: int) -> None:
    """Until the pipe is so full that tail's next line cannot fit: tail is blocked printing."""
    async with asyncio.timeout(TIMEOUT_S):
        for _ in range(100_000):
            if pending_bytes(read_end) > PAGE - len(SUBJECT):
                return
            await asyncio.sleep(0.02)


def printed_ids(read_end: int) -> set[str]:
    """The upserted ids in the complete lines left in the pipe (the writer is dead)."""
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    ids = set()
    for line in data.split(b"\n")[:-1]:  # the part after the last newline was never finished
        item = json.loads(line)
        if item["change"] == "upserted":
            ids.add(item["notification"]["id"])
    return ids


def assign_tickets(bob: HelpdeskActions, count: int) -> None:
    for _ in range(count):
        ticket = bob.create_ticket(SUBJECT, "body")
        bob.assign(ticket["id"], "alice")


def notification_ids(alice: HelpdeskActions) -> set[str]:
    return {n["id"] for n in alice.notifications(limit=500)["notifications"]}


async def killed_while_printing(
    server_url: str, token: str, home: Path, bob: HelpdeskActions, *, live: bool
) -> set[str]:
    """Run tail until it blocks printing (the history, or with ``live`` new notifications),
    SIGKILL it there; the ids it printed in full."""
    read_end, write_end = small_pipe()
    try:
        process = await start_tail(server_url, token, home, stdout=write_end)
    finally:
        os.close(write_end)  # tail holds the only write end: EOF once it is dead
    try:
        try:
            if live:
                await wait_until_live(process)
                await asyncio.to_thread(assign_tickets, bob, 12)
            await until_blocked(read_end)
        finally:
            await kill(process)
        return printed_ids(read_end)
    finally:
        os.close(read_end)


@pytest.mark.asyncio
@pytest.mark.parametrize("live", [False, True], ids=["history", "live"])
async def test_a_kill_between_print_and_commit_loses_no_line(
    helpdesk: Helpdesk, tmp_path: Path, live: bool
) -> None:
    token = helpdesk.add_agent("alice", "Alice Adams")
    alice = helpdesk.actions(token)
    _, bob = helpdesk.new_agent("bob")
    if not live:
        assign_tickets(bob, 30)  # the history tail pages through at start
    home = tmp_path / "tail-home"

    first = await killed_while_printing(helpdesk.url, token, home, bob, live=live)
    everything = notification_ids(alice)
    assert first < everything  # the kill really came in the middle of the output

    process = await start_tail(helpdesk.url, token, home)
    try:
        second = await upserted_ids(process, everything - first)
    finally:
        await kill(process)
    assert first | second == everything


@pytest.mark.asyncio
async def test_tail_whose_reader_is_gone_exits_and_the_next_one_prints_the_line(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("alice", "Alice Adams")
    alice = helpdesk.actions(token)
    _, bob = helpdesk.new_agent("bob")
    home = tmp_path / "tail-home"
    read_end, write_end = os.pipe()
    try:
        process = await start_tail(helpdesk.url, token, home, stdout=write_end)
    finally:
        os.close(write_end)
    reader_open = True
    try:
        await wait_until_live(process)
        os.close(read_end)  # the reader goes away (`notifier tail | head -1`, a dead script)
        reader_open = False
        await asyncio.to_thread(assign_tickets, bob, 1)
        async with asyncio.timeout(TIMEOUT_S):
            code = await process.wait()  # it does not go on syncing with nobody to print to
    finally:
        if reader_open:
            os.close(read_end)
        await kill(process)
    assert code == EXIT_STDOUT_GONE

    process = await start_tail(helpdesk.url, token, home)
    try:
        await upserted_ids(process, notification_ids(alice))  # the line it could not print
    finally:
        await kill(process)
