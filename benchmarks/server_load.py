"""Server load: N agents each holding a stream, notifications at a steady rate.

For each agent count (``--agents``) the script seeds a fresh database (agents, plus old read
notifications for the retention job to delete), starts the reference server
(``notifier-server serve``, tests/helpdesk.py), connects every agent's stream over loopback
from ``--client-procs`` client processes, and then for each rate (``--rates``, notifications
a second) runs two phases of ``--seconds`` each:

* **plain**: a load generator posts comments that @mention agents round-robin, K agents per
  comment (one action, K notifications in one transaction; K = ceil(rate / 100), so the
  generator's HTTP rate stays at or under 100 requests a second);
* **retention**: the same load, and one run of the retention job started with the phase
  (``POST /api/v1/admin/retention``); before it the retention and log periods are lowered so
  that one slice of seeded old data (per agent ``--old`` read notifications and their events)
  falls due: the run deletes and prunes for real. Its latencies are those of the
  notifications committed while the job ran.

Delivery latency is from commit to receipt: the server stamps ``created_at`` (wall clock,
microseconds) inside the transaction just before COMMIT; the client process compares it with
``time.time()`` on receipt (same machine, same clock). Lost = mentions sent minus distinct
notifications received per agent after a drain; duplicated = notifications received more
than once on a connection. Server CPU from /proc/PID/stat, RSS from /proc/PID/status; memory
per agent = (RSS with every stream connected - RSS before) / N.

The soft limit of open files is raised to the hard one here (the client processes inherit
it); the server raises its own at start.

    .venv/bin/python benchmarks/server_load.py [--agents 200,1000] [--rates 50,200,1000]
        [--seconds 8] [--old 5] [--client-procs 0 (auto)] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx
from helpdesk import Helpdesk, stream_url
from websockets.asyncio.client import ClientConnection, connect

from notifier.core import wire
from notifier.server import actions, repository, retention, settings
from notifier.server.cli import raise_open_file_limit
from notifier.server.db import connect as connect_db
from notifier.server.db import transaction

CONNECT_CONCURRENCY = 64
MAX_IN_FLIGHT = 64
DRAIN_S = 3.0
# Ages (days) of the seeded slices of old data; one slice falls due per rate's retention phase.
SLICE_AGES = (900, 800, 700, 600, 500, 400)


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    tokens: list[str]
    usernames: list[str]
    admin: str
    boss: str
    ticket: str


def seed(db: Path, agents: int, old_per_slice: int, slices: int) -> Seeded:
    """Agents, an admin and a boss, one ticket, and per agent ``slices`` slices of
    ``old_per_slice`` old read notifications with their events (oldest slice first)."""
    connection = connect_db(db)
    try:
        usernames = [f"a{i:05d}" for i in range(agents)]
        tokens, ids = [], []
        for username in usernames:
            user, token = repository.add_user(
                connection, kind="agent", username=username, name=username
            )
            tokens.append(token)
            ids.append(user.id)
        _, admin = repository.add_user(
            connection, kind="agent", username="admin", name="Admin", is_admin=True
        )
        boss, boss_token = repository.add_user(
            connection, kind="agent", username="boss", name="Boss"
        )
        links = actions.Links("http://127.0.0.1")
        ticket = actions.create_ticket(connection, boss, {"subject": "Load"}, links).body["id"]
        now = datetime.now(UTC)
        notifications: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        next_id = itertools.count(1_000_000)
        for agent_id in ids:
            seq = 0
            for age in SLICE_AGES[:slices]:
                for k in range(old_per_slice):
                    issued = now - timedelta(days=age, seconds=-k)
                    stamp = wire.format_timestamp(issued)
                    nid = next(next_id)
                    snapshot = wire.encode_json(
                        {
                            "id": str(nid),
                            "type": "mention",
                            "reason": "mentioned",
                            "from": None,
                            "ticket": {"id": ticket, "subject": "Load"},
                            "comment_id": None,
                            "message": f"old {age} {k}",
                            "created_at": stamp,
                        }
                    )
                    notifications.append(
                        (nid, agent_id, seq + 1, snapshot, int(ticket), issued.timestamp())
                    )
                    events.append((agent_id, seq + 1, "notification", snapshot, stamp))
                    read = wire.encode_json({"ids": [str(nid)], "read": True})
                    events.append((agent_id, seq + 2, "read_state", read, stamp))
                    seq += 2
        with transaction(connection):
            connection.executemany(
                "INSERT INTO notifications(id, agent_id, seq, snapshot, ticket_id, issued_at,"
                " read) VALUES (?, ?, ?, ?, ?, ?, 1)",
                notifications,
            )
            connection.executemany(
                "INSERT INTO events(agent_id, seq, kind, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                events,
            )
    finally:
        connection.close()
    return Seeded(tokens, usernames, admin, boss_token, ticket)


# --------------------------------------------------------------------------- client processes


def client_process(url: str, tokens: list[tuple[int, str]], pipe: Connection) -> None:
    """Hold one stream per token; record (created_at, latency, agent index, id) per
    notification; report when connected, stop on request, send the records back."""
    asyncio.run(_client(url, tokens, pipe))


async def _client(url: str, tokens: list[tuple[int, str]], pipe: Connection) -> None:
    records: list[tuple[float, float, int, int]] = []
    connected = 0
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    ready = asyncio.Event()

    async def hold(index: int, token: str) -> None:
        nonlocal connected
        async with gate:
            ws = await connect(
                stream_url(url),
                additional_headers={"Authorization": f"Bearer {token}"},
                proxy=None,
                ping_interval=None,  # the server pings (every 20 s)
                open_timeout=120,
            )
            hello = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "resume", "after_seq": hello["last_seq"]}))
            while json.loads(await ws.recv())["type"] != "unread_count":
                pass
        connected += 1
        if connected == len(tokens):
            ready.set()
        await _receive(ws, index, records)

    tasks = [asyncio.create_task(hold(index, token)) for index, token in tokens]
    await ready.wait()
    pipe.send(("ready", connected))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(("records", records))


async def _receive(
    ws: ClientConnection,
    index: int,
    records: list[tuple[float, float, int, int]],
) -> None:
    try:
        async for raw in ws:
            received = time.time()
            frame = json.loads(raw)
            if frame["type"] == "notification":
                created = frame["notification"]["created_at"]
                sent = datetime.fromisoformat(created).timestamp()
                records.append((sent, received - sent, index, int(frame["notification"]["id"])))
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


# --------------------------------------------------------------------------- the server process


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --------------------------------------------------------------------------- load


@dataclass
class Phase:
    agents: int
    rate: int
    retention: bool
    start: float = 0.0
    end: float = 0.0
    sent: int = 0
    cpu_s: float = 0.0
    load_average: float = 0.0  # of the machine over the last minute, at the phase's end
    retention_runs: list[dict[str, Any]] = field(default_factory=list)
    job_start: float = 0.0
    job_end: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.agents} agents, {self.rate}/s{' + retention' if self.retention else ''}"


async def generate(
    client: httpx.AsyncClient,
    seeded: Seeded,
    rate: int,
    seconds: float,
    expected: Counter[int],
    cursor: itertools.count[int],
) -> int:
    """Mention agents round-robin at ``rate`` notifications a second; returns how many."""
    per_comment = max(1, math.ceil(rate / 100))
    interval = per_comment / rate
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: list[asyncio.Task[None]] = []
    sent = 0
    agents = len(seeded.usernames)

    async def post(indexes: list[int]) -> None:
        body = " ".join(f"@{seeded.usernames[i]}" for i in indexes) + " load"
        try:
            response = await client.post(
                f"/api/v1/tickets/{seeded.ticket}/comments", json={"body": body}
            )
            response.raise_for_status()
        finally:
            gate.release()

    start = time.monotonic()
    for tick in itertools.count():
        due = start + tick * interval
        if due - start >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        indexes = [next(cursor) % agents for _ in range(per_comment)]
        expected.update(indexes)
        sent += per_comment
        tasks.append(asyncio.create_task(post(indexes)))
    await asyncio.gather(*tasks)
    return sent


async def retention_run(client: httpx.AsyncClient, phase: Phase) -> None:
    """One run of the job (what the hourly timer starts), timed."""
    phase.job_start = time.time()
    response = await client.post("/api/v1/admin/retention", timeout=600)
    response.raise_for_status()
    phase.job_end = time.time()
    phase.retention_runs.append({**response.json(), "seconds": phase.job_end - phase.job_start})


async def lower_retention(client: httpx.AsyncClient, days: int) -> None:
    current = (await client.get("/api/v1/admin/settings")).json()
    response = await client.put(
        "/api/v1/admin/settings",
        json={
            "version": current["version"],
            "settings": {"retention_days": days, "event_log_days": days},
        },
    )
    response.raise_for_status()


async def run_phases(
    url: str, pid: int, seeded: Seeded, rates: list[int], seconds: float
) -> tuple[list[Phase], Counter[int]]:
    expected: Counter[int] = Counter()
    cursor = itertools.count()
    phases: list[Phase] = []
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them.
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, keepalive_expiry=2)
    async with (
        httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {seeded.boss}"},
            trust_env=False,
            limits=limits,
            timeout=60,
        ) as boss,
        httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {seeded.admin}"},
            trust_env=False,
            timeout=60,
            limits=limits,
        ) as admin,
    ):
        # Warm-up: the server's code paths and the generator's connections.
        await generate(boss, seeded, 50, 1.0, expected, cursor)
        for number, rate in enumerate(rates):
            for with_retention in (False, True):
                phase = Phase(len(seeded.usernames), rate, with_retention)
                job = None
                if with_retention:
                    # The next seeded slice (oldest first) falls due now.
                    await lower_retention(admin, SLICE_AGES[number] - 50)
                cpu = cpu_seconds(pid)
                phase.start = time.time()
                if with_retention:
                    job = asyncio.create_task(retention_run(admin, phase))
                phase.sent = await generate(boss, seeded, rate, seconds, expected, cursor)
                phase.end = time.time()
                phase.cpu_s = cpu_seconds(pid) - cpu
                phase.load_average = round(os.getloadavg()[0], 1)
                if job is not None:
                    await job
                phases.append(phase)
                print(f"  {phase.name}: sent {phase.sent}", file=sys.stderr, flush=True)
    return phases, expected


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def summarize(
    phases: list[Phase],
    records: list[tuple[float, float, int, int]],
    expected: Counter[int],
    connected: dict[str, float],
) -> list[dict[str, Any]]:
    distinct: dict[int, set[int]] = {}
    duplicates = 0
    for _, _, agent, nid in records:
        seen = distinct.setdefault(agent, set())
        if nid in seen:
            duplicates += 1
        seen.add(nid)
    lost = sum(max(0, count - len(distinct.get(agent, ()))) for agent, count in expected.items())
    rows = []
    for phase in phases:
        # With the job: the notifications committed while it ran (it may end before the phase).
        start, end = (
            (phase.job_start, min(phase.job_end, phase.end))
            if phase.retention
            else (phase.start, phase.end)
        )
        latencies = [lat * 1000 for sent, lat, _, _ in records if start <= sent < end]
        wall = phase.end - phase.start
        runs = phase.retention_runs
        rows.append(
            {
                "agents": phase.agents,
                "rate": phase.rate,
                "retention": phase.retention,
                "achieved_rate": round(phase.sent / wall, 1),
                "received": len(latencies),
                "p50_ms": round(percentile(latencies, 0.50), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "max_ms": round(max(latencies, default=math.nan), 2),
                "server_cpu_pct": round(100 * phase.cpu_s / wall, 1),
                "cpu_ms_per_notification": round(1000 * phase.cpu_s / max(phase.sent, 1), 2),
                "load_average": phase.load_average,
                "retention_run_s": round(runs[0]["seconds"], 2) if runs else None,
                "retention_deleted": sum(r["deleted"] for r in runs),
                "retention_pruned": sum(r["pruned_events"] for r in runs),
                **connected,
                "lost": lost,
                "duplicated": duplicates,
            }
        )
    return rows


def run_agents(
    agents: int, rates: list[int], seconds: float, old: int, procs: int
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="server-load-") as folder:
        root = Path(folder)
        server = Helpdesk(root, extra_args=("--retention-interval", "0"))
        started = time.monotonic()
        seeded = seed(server.db, agents, old, len(rates))
        seed_s = time.monotonic() - started
        server.start()
        try:
            assert server._process is not None
            pid = server._process.pid
            children: list[multiprocessing.process.BaseProcess] = []
            httpx.get(f"{server.url}/api/v1/me", trust_env=False)
            rss_before = rss_kib(pid)
            procs = procs or min(4, max(1, math.ceil(agents / 1500)))
            slices = [
                [(i, seeded.tokens[i]) for i in range(p, agents, procs)] for p in range(procs)
            ]
            context = multiprocessing.get_context("spawn")
            pipes = []
            started = time.monotonic()
            for tokens in slices:
                parent, child = context.Pipe()
                process = context.Process(
                    target=client_process, args=(server.url, tokens, child), daemon=True
                )
                process.start()
                pipes.append(parent)
                children.append(process)
            for pipe in pipes:
                if not pipe.poll(600):
                    raise RuntimeError("a client process did not connect within 600 s")
                assert pipe.recv()[0] == "ready"
            connect_s = time.monotonic() - started
            time.sleep(1.0)
            rss_connected = rss_kib(pid)
            print(
                f"{agents} agents connected in {connect_s:.1f} s (seeded in {seed_s:.1f} s); "
                f"server RSS {rss_before / 1024:.1f} -> {rss_connected / 1024:.1f} MiB",
                file=sys.stderr,
                flush=True,
            )
            phases, expected = asyncio.run(run_phases(server.url, pid, seeded, rates, seconds))
            time.sleep(DRAIN_S)
            rss_after = rss_kib(pid)
            records: list[tuple[float, float, int, int]] = []
            for pipe in pipes:
                pipe.send("stop")
            for pipe in pipes:
                kind, chunk = pipe.recv()
                assert kind == "records"
                records.extend(chunk)
            for process in children:
                process.join(30)
            log = server.log_text()
        except BaseException:
            print(f"server log:\n{server.log_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            for process in children:
                if process.is_alive():
                    process.kill()
            server.stop()
    connected = {
        "connect_s": round(connect_s, 1),
        "rss_idle_mib": round(rss_before / 1024, 1),
        "rss_connected_mib": round(rss_connected / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "kib_per_agent": round((rss_connected - rss_before) / agents, 1),
    }
    if "Traceback" in log:
        print(f"server log has a traceback:\n{log[-3000:]}", file=sys.stderr)
    return summarize(phases, records, expected, connected)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| agents | rate/s | retention job | sent/s | p50 ms | p95 ms | p99 ms | max ms "
        "| server CPU | CPU ms/notif. | RSS connected | KiB/agent | lost | dup | load avg |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        lines.append(
            f"| {r['agents']} | {r['rate']} | {'running' if r['retention'] else '–'} "
            f"| {r['achieved_rate']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} "
            f"| {r['max_ms']} | {r['server_cpu_pct']}% | {r['cpu_ms_per_notification']} "
            f"| {r['rss_connected_mib']} MiB | {r['kib_per_agent']} | {r['lost']} "
            f"| {r['duplicated']} | {r['load_average']} |"
        )
    return "\n".join(lines)


def retention_calls(agents: int, old: int) -> dict[str, Any]:
    """The retention job's calls on the database thread, timed one by one on a seeded copy
    (no server, no load): a delivery waits behind at most one of them, and the job's pauses
    keep it to a quarter of the thread. Less sensitive to a busy machine than latencies."""
    with tempfile.TemporaryDirectory(prefix="server-load-") as folder:
        path = Path(folder) / "helpdesk.db"
        seed(path, agents, old, 1)
        connection = connect_db(path)
        try:
            days = SLICE_AGES[0] - 50
            settings.update(
                connection,
                {"retention_days": days, "event_log_days": days},
                expected_version=None,
                actor="benchmark",
                via="cli",
            )
            ids = retention.agent_ids(connection)
            now = datetime.now(UTC)
            calls: list[float] = []
            deleted = pruned = index = 0
            while index < len(ids):
                started = time.perf_counter()
                step = retention.retention_step(connection, ids, index, now)
                calls.append(time.perf_counter() - started)
                index = step.next_index
                deleted += sum(step.deleted.values())
                pruned += step.pruned
        finally:
            connection.close()
    ms = [c * 1000 for c in calls]
    return {
        "agents": agents,
        "deleted": deleted,
        "pruned": pruned,
        "calls": len(calls),
        "database_s": round(sum(calls), 2),
        "call_p50_ms": round(percentile(ms, 0.5), 2),
        "call_p99_ms": round(percentile(ms, 0.99), 2),
        "call_max_ms": round(max(ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="200,1000", help="comma-separated agent counts")
    parser.add_argument("--rates", default="50,200,1000", help="notifications per second")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--old", type=int, default=5, help="old read notifications per slice")
    parser.add_argument("--client-procs", type=int, default=0, help="0: one per 1,500 agents")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if len(rates) > len(SLICE_AGES):
        parser.error(f"at most {len(SLICE_AGES)} rates")
    raise_open_file_limit()
    rows: list[dict[str, Any]] = []
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    costs: list[dict[str, Any]] = []
    for agents in (int(a) for a in args.agents.split(",")):
        rows.extend(run_agents(agents, rates, args.seconds, args.old, args.client_procs))
        costs.append(retention_calls(agents, args.old))
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print(table(rows))
    print()
    print("| agents | deleted | pruned events | calls | database time | call p50 | p99 | max |")
    print("|---|---|---|---|---|---|---|---|")
    for c in costs:
        print(
            f"| {c['agents']} | {c['deleted']} | {c['pruned']} | {c['calls']} "
            f"| {c['database_s']} s | {c['call_p50_ms']} ms | {c['call_p99_ms']} ms "
            f"| {c['call_max_ms']} ms |"
        )
    for r in rows:
        if r["retention"]:
            print(
                f"{r['agents']} agents {r['rate']}/s: the retention job ran "
                f"{r['retention_run_s']} s, deleted {r['retention_deleted']}, "
                f"pruned {r['retention_pruned']} events; {r['received']} notifications "
                "committed meanwhile"
            )
    if args.json:
        args.json.write_text(json.dumps({"load": rows, "retention_calls": costs}, indent=2))


if __name__ == "__main__":
    main()
