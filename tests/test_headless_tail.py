"""`notifier tail --json` as a real subprocess against the reference server: one JSON line per
applied change, a clean exit 0 on SIGTERM and SIGINT, tokens never printed or logged."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from helpdesk import Helpdesk
from tail_process import start_tail, wait_for_change, wait_until_live


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_tail_prints_created_read_and_deleted_and_exits_cleanly(
    helpdesk: Helpdesk, tmp_path: Path, signum: int
) -> None:
    alice = helpdesk.add_agent("alice", "Alice Adams")
    bob = helpdesk.actions(helpdesk.add_agent("bob", "Bob Brown"))
    earlier = bob.create_ticket("Earlier ticket", "from before")
    bob.assign(earlier["id"], "alice")
    home = tmp_path / "tail-home"
    process = await start_tail(helpdesk.url, alice, home)
    try:
        history = await wait_for_change(process, "upserted")
        assert history["replay"] is True
        assert history["notification"]["ticket"]["subject"] == "Earlier ticket"
        await wait_until_live(process)

        ticket = bob.create_ticket("Printer on fire", "it is on fire")
        bob.assign(ticket["id"], "alice")
        created = await wait_for_change(process, "upserted")
        assert created["replay"] is False
        notification_id = created["notification"]["id"]

        me = helpdesk.actions(alice)
        assert me.request("POST", f"/api/v1/notifications/{notification_id}/read").is_success
        read = await wait_for_change(process, "read-state")
        assert read == {
            "change": "read-state",
            "ids": [notification_id],
            "read": True,
            "replay": False,
            "local": False,
        }
        assert me.request("DELETE", f"/api/v1/notifications/{notification_id}").is_success
        deleted = await wait_for_change(process, "deleted")
        assert deleted["ids"] == [notification_id]

        process.send_signal(signum)
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert alice not in stderr.decode()
        log_text = (home / "logs" / "notifier.log").read_text()
        assert "live" in log_text
        assert alice not in log_text
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
