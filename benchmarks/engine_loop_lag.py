"""How long does syncing stall the event loop (the GUI thread under qasync)?

Starts the reference server (tests/helpdesk.py), gives an agent N notifications, then runs the
real engine twice: a first sign-in (REST page-through of the full history, then resume) and a
resume after M events produced while the engine was stopped (a stream replay). A monitor task
asks for a 1 ms sleep in a loop; how late it wakes up is the loop lag. Reported for the
engine's slice sizes (APPLY_SLICE rows, STREAM_SLICE events between yields) and for no slicing.

    .venv/bin/python benchmarks/engine_loop_lag.py [--history 2000] [--replay 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx
from helpdesk import Helpdesk

from notifier.client.reference import ReferenceBackend
from notifier.core.status import ConnectionState
from notifier.store.cache import NotificationCache
from notifier.sync import engine as engine_module
from notifier.sync.engine import SyncEngine, SystemClock


async def mention(url: str, token: str, ticket: str, count: int) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, trust_env=False
    ) as client:

        async def one(index: int) -> None:
            response = await client.post(
                f"/api/v1/tickets/{ticket}/comments", json={"body": f"@alice ping {index}"}
            )
            response.raise_for_status()

        for start in range(0, count, 8):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 8, count))))


async def head(url: str, token: str) -> int:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, trust_env=False
    ) as client:
        response = await client.get("/api/v1/notifications", params={"limit": 1})
        return int(response.json()["last_seq"])


async def sync_once(
    url: str, token: str, cache_path: Path
) -> tuple[float, list[float], list[float]]:
    """Run the engine until it is live at the server's head; return (seconds, wall-clock
    lags in ms, CPU ms this thread spent per 1 ms wait)."""
    target = await head(url, token)
    cache = NotificationCache.open(cache_path)
    live = asyncio.Event()
    engine = SyncEngine(
        ReferenceBackend(url, token),
        cache,
        SystemClock(),
        on_status=lambda s: None,
        on_change=lambda c: None,
    )

    def check(_: object = None) -> None:
        if engine.status.state is ConnectionState.LIVE and cache.cursor() >= target:
            live.set()

    engine._on_change = check
    engine._on_status = check
    lags: list[float] = []
    busy: list[float] = []

    async def monitor() -> None:
        # Wall-clock lag includes time the OS gave to the server process on the same cores;
        # the thread's CPU time during the wait is what this process itself kept busy.
        while True:
            start, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - start - 0.001) * 1000)
            busy.append((time.thread_time() - cpu) * 1000)

    watcher = asyncio.create_task(monitor())
    started = time.perf_counter()
    task = asyncio.create_task(engine.run())
    async with asyncio.timeout(120):
        await live.wait()
    elapsed = time.perf_counter() - started
    watcher.cancel()
    await engine.stop()
    await task
    cache.close()
    return elapsed, lags, busy


def describe(name: str, elapsed: float, lags: list[float], busy: list[float]) -> str:
    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return (
        f"{name:34} {elapsed:5.2f} s  {len(lags):4d} samples"
        f"  wall lag p50 {p(lags, 0.5):5.2f} p99 {p(lags, 0.99):6.2f} max {max(lags):6.2f} ms"
        f"  | loop busy p50 {p(busy, 0.5):5.2f} p99 {p(busy, 0.99):6.2f} max {max(busy):6.2f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--replay", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        server = Helpdesk(root / "helpdesk")
        server.start()
        try:
            alice = server.add_agent("alice", "Alice Adams")
            bob = server.add_agent("bob", "Bob Brown")
            ticket = server.actions(bob).create_ticket("Busy", "talk")["id"]
            await mention(server.url, bob, ticket, options.history)
            print(f"{options.history} notifications in the history, {options.replay} replayed")
            sliced = (engine_module.APPLY_SLICE, engine_module.STREAM_SLICE)
            for rows, events in (sliced, (10**9, 10**9)):
                engine_module.APPLY_SLICE, engine_module.STREAM_SLICE = rows, events
                label = "no slicing" if rows > 10**6 else f"slices {rows} rows/{events} events"
                slice_size = rows
                cache_path = root / f"cache-{slice_size}.sqlite3"
                print(
                    describe(
                        f"first sign-in, {label}", *await sync_once(server.url, alice, cache_path)
                    )
                )
                await mention(server.url, bob, ticket, options.replay)
                print(
                    describe(
                        f"resume replay, {label}", *await sync_once(server.url, alice, cache_path)
                    )
                )
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
