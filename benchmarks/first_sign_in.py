"""First sign-in with a long history, as the agent starts it: the tray app as a process.

The reference helpdesk holds ``--count`` notifications for the agent (default 50,000, the
issue's case); the app starts with an empty cache (``python -m notifier``, signed in with
NOTIFIER_TOKEN, Qt on Xvfb) and pages the whole history over REST, then goes live. Two
desktops, alternating run by run so that drift and order hit both alike:

* tray: trayer is the system tray, the list is not shown (the agent's usual case);
* notray: no tray, so the app shows its fallback window with the list open the whole time
  (where an open list used to make the sync's cost grow with the rows it held).

Measured from outside: the time from starting the process to its log line ``status: live``
(the history is in the cache); its peak RSS (VmHWM) then; its CPU time and the server's; the
largest size the cache's write-ahead log reached (sampled every 50 ms) and the cache's size.
Then the app is stopped with SIGTERM: what is left of the log, and how long the next start
takes to its first paint (NOTIFIER_STARTUP_MARKER) with it.

Target (issue 13): under 3 s for 50,000; peak RSS reported.

    .venv/bin/python benchmarks/first_sign_in.py [--runs 3] [--count 50000]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from e2e_support import (
    FAIL_KEYRING,
    Bench,
    DesktopSession,
    app_command,
    bench,
    cpu_seconds,
    file_mb,
    load_average,
    rss_mb,
    spread,
)

SESSIONS = ("tray", "notray")


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    app_cpu_s: float
    server_cpu_s: float
    wal_max_mb: float
    cache_mb: float
    wal_left_mb: float  # after SIGTERM
    next_paint_ms: float  # the next start's first paint, with what was left


@contextlib.contextmanager
def desktop(session: DesktopSession, which: str) -> Iterator[None]:
    if which == "tray":
        with session.tray_host():
            yield
    else:
        yield


def one_run(b: Bench, session: DesktopSession, which: str, index: int, profile: Path | None) -> Run:
    env = session.environment(
        b.app_env(f"app-{which}-{index}"), PYTHON_KEYRING_BACKEND=FAIL_KEYRING
    )
    log = b.app_log(env)
    cache = b.cache_file(env)
    wal = cache.with_name(cache.name + "-wal")
    server_cpu = cpu_seconds(b.server.pid)
    started = time.time()
    app = session.spawn(f"app-{which}-{index}", app_command(profile, index), env)
    try:
        wal_max = 0.0
        deadline = started + 900
        while "status: live" not in log.text():
            if app.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"no sign-in: {session.log_text(f'app-{which}-{index}')}")
            wal_max = max(wal_max, file_mb(wal))
            time.sleep(0.05)
        live_at = log.time_of("status: live")
        assert live_at is not None
        peak = rss_mb(app.pid, "VmHWM")
        app_cpu = cpu_seconds(app.pid)
        server_cpu = cpu_seconds(b.server.pid) - server_cpu
        cache_mb = file_mb(cache)
    finally:
        session.stop_process(app)  # SIGTERM, as a logout or shutdown does
    wal_left = file_mb(wal)
    marker = b.work / f"painted-{which}-{index}"
    painted_from = time.time()
    subprocess.run(
        [sys.executable, "-m", "notifier"],
        env=dict(env, NOTIFIER_STARTUP_MARKER=str(marker), NOTIFIER_EXIT_AFTER_PAINT="1"),
        check=True,
        capture_output=True,
        timeout=60,
    )
    next_paint = float(marker.read_text()) - painted_from
    return Run(
        seconds=live_at - started,
        peak_rss_mb=peak,
        app_cpu_s=app_cpu,
        server_cpu_s=server_cpu,
        wal_max_mb=max(wal_max, file_mb(wal)),
        cache_mb=cache_mb,
        wal_left_mb=wal_left,
        next_paint_ms=next_paint * 1000,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--session", choices=(*SESSIONS, "both"), default="both")
    parser.add_argument(
        "--profile", type=Path, help="run the app under cProfile, writing PROFILE.<session>.<run>"
    )
    args = parser.parse_args()
    sessions = SESSIONS if args.session == "both" else (args.session,)
    results: dict[str, list[Run]] = {which: [] for which in sessions}
    with bench("first-sign-in") as b:
        seeded = time.perf_counter()
        b.seed(args.count)
        print(f"{args.count} notifications seeded in {time.perf_counter() - seeded:.0f} s")
        with b.desktop() as session:
            for index in range(args.runs):
                order = sessions if index % 2 == 0 else tuple(reversed(sessions))
                for which in order:
                    with desktop(session, which):
                        profile = args.profile and args.profile.with_name(
                            f"{args.profile.name}.{which}"
                        )
                        r = one_run(b, session, which, index, profile)
                    results[which].append(r)
                    print(
                        f"{which:6} run {index}: {r.seconds:6.2f} s, peak RSS"
                        f" {r.peak_rss_mb:.0f} MB, CPU app {r.app_cpu_s:.1f} s server"
                        f" {r.server_cpu_s:.1f} s, log max {r.wal_max_mb:.1f} MB beside a"
                        f" {r.cache_mb:.1f} MB cache, left {r.wal_left_mb:.1f} MB, next paint"
                        f" {r.next_paint_ms:.0f} ms; {load_average()}",
                        flush=True,
                    )
    print(f"\nfirst sign-in, {args.count} notifications of history; median (min-max):")
    for which, runs in results.items():
        print(f"  {which}: time {spread([r.seconds for r in runs])} s (target < 3 s),"
              f" peak RSS {spread([r.peak_rss_mb for r in runs])} MB,"
              f" CPU app {spread([r.app_cpu_s for r in runs])} s,"
              f" server {spread([r.server_cpu_s for r in runs])} s,"
              f" log max {spread([r.wal_max_mb for r in runs])} MB,"
              f" cache {spread([r.cache_mb for r in runs])} MB,"
              f" next first paint {spread([r.next_paint_ms for r in runs])} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
