"""Idle memory with a big cache, after the popup was opened and closed once.

Issue 13: with 100,000 notifications cached, the popup opened and closed once, the idle app
must stay within 1.5x the RSS of a bare PySide6 tray app (today's 1.47x with 200 cached,
benchmarks/startup.py). On an Xvfb desktop with a tray (trayer) and a notification daemon
(dunst), one after the other, in alternating order, each for ``--settle`` seconds before
VmRSS is read:

* bare: the bare tray app of benchmarks/startup.py (QApplication, QSystemTrayIcon, QMenu);
* bare, menu used: the same, its menu opened once (a right click on its icon) and closed
  with Escape: what any Qt tray app pays to have shown text once (fonts, FreeType, the
  widgets' painting code), the fair baseline for a popup that was shown;
* 200 cached: ours, live, 200 notifications cached, popup never opened (startup.py's case);
* 100k cached: ours, live, 100,000 cached, popup never opened;
* 100k, popup used: the same, the popup opened once (a left click on the icon, as the agent
  does) and closed with Escape; RSS is read ``--settle`` seconds after it closed.

    .venv/bin/python benchmarks/idle_memory.py [--runs 3] [--settle 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from e2e_support import (
    FAIL_KEYRING,
    Bench,
    DesktopSession,
    XDisplay,
    bench,
    load_average,
    rss_mb,
    spread,
    wait_for,
)
from startup import BARE_APP

BIG = 100_000
SMALL = 200
PROGRAMS = ("bare", "bare, menu used", "200 cached", "100k cached", "100k, popup used")
USED = {"bare, menu used": "3", "100k, popup used": "1"}  # the mouse button that opens it


def visible_windows(session: DesktopSession, pid: int) -> set[int]:
    result = session.run(["xdotool", "search", "--all", "--onlyvisible", "--pid", str(pid)],
                         check=False)  # fmt: skip
    return {int(word) for word in result.stdout.split()}


def measure(
    b: Bench,
    session: DesktopSession,
    which: str,
    envs: dict[str, dict[str, str]],
    settle: float,
    trayer: int,
) -> tuple[float, float]:
    """(VmRSS, RssAnon) in MB of one program after it has settled."""
    if which.startswith("bare"):
        argv = [sys.executable, "-c", BARE_APP]
        env = session.environment(b.base_env)
    else:
        argv = [sys.executable, "-m", "notifier"]
        env = envs["small" if which == "200 cached" else "big"]
    log = b.app_log(env)
    lives = log.count("status: live")
    process = session.spawn(which, argv, env)
    display = XDisplay(session.display)
    try:
        if not which.startswith("bare"):
            wait_for(lambda: log.count("status: live") > lives, f"{which} to go live", 120)
        if which in USED:
            time.sleep(settle)  # as the others: settled before the agent looks
            icon = None
            while icon is None:
                icon = display.docked(process.pid, trayer)
            shown = visible_windows(session, process.pid)
            session.run(["xdotool", "mousemove", "--window", str(icon), "5", "5",
                         "click", USED[which]])  # fmt: skip
            wait_for(lambda: visible_windows(session, process.pid) - shown, "the popup", 30)
            session.run(["xdotool", "key", "Escape"])
            wait_for(lambda: not visible_windows(session, process.pid) - shown, "closed", 30)
        time.sleep(settle)
        if process.poll() is not None:
            raise RuntimeError(f"{which} exited: {session.log_text(which)}")
        return rss_mb(process.pid), rss_mb(process.pid, "RssAnon")
    finally:
        display.close()
        session.stop_process(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {which: [] for which in PROGRAMS}
    with bench("idle-memory") as b:
        carol = b.server.add_agent("carol", "Carol Cole")  # the agent with 200
        b.server.seed_assignments("carol", "bob", b.ticket, SMALL)
        b.seed(BIG)
        with b.desktop() as session, session.tray_host() as trayer:
            envs = {
                "big": session.environment(b.app_env("big"), PYTHON_KEYRING_BACKEND=FAIL_KEYRING),
                "small": session.environment(
                    b.app_env("small", NOTIFIER_TOKEN=carol),
                    PYTHON_KEYRING_BACKEND=FAIL_KEYRING,
                ),
            }
            for env in envs.values():  # the first sign-in fills each cache
                log = b.app_log(env)
                first = session.spawn("first-sign-in", [sys.executable, "-m", "notifier"], env)
                wait_for(lambda log=log: "status: live" in log.text(), "first sign-in", 600)
                session.stop_process(first)
            for index in range(args.runs):
                order = PROGRAMS if index % 2 == 0 else tuple(reversed(PROGRAMS))
                for which in order:
                    results[which].append(measure(b, session, which, envs, args.settle, trayer.pid))
                    rss, anon = results[which][-1]
                    print(f"run {index} {which:18} {rss:6.1f} MB (anon {anon:5.1f} MB);"
                          f" {load_average()}", flush=True)  # fmt: skip
    bare = statistics.median(r for r, _ in results["bare"])
    print(f"\nidle RSS, {args.runs} runs each, alternating; median (min-max) MB and / bare:")
    for which, runs in results.items():
        rss = [r for r, _ in runs]
        print(f"  {which:18} {spread(rss)} MB, anon {spread([a for _, a in runs])} MB,"
              f" {statistics.median(rss) / bare:.2f}x")  # fmt: skip
    used = statistics.median(r for r, _ in results["bare, menu used"])
    popup = statistics.median(r for r, _ in results["100k, popup used"])
    print(f"  100k, popup used / bare, menu used: {popup / used:.2f}x")
    print("  target: 100k, popup used <= 1.5x bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
