"""Start-up and idle memory of the PyInstaller bundle against the pip install of the same app.

Both run the same code against a reference helpdesk started here, signed in with
NOTIFIER_TOKEN, with a cache pre-filled by a first run, alternating run by run:

* pip: ``python -m notifier`` from the project's venv (byte-code cached, as installed);
* bundle: ``dist/notifier/notifier`` from ``bash packaging/build.sh`` (``--bundle`` to point
  elsewhere): its own Python and Qt, its modules in one compressed archive.

Start-up is to the first paint (NOTIFIER_STARTUP_MARKER, as benchmarks/startup.py measures
it), idle RSS after ``--settle`` seconds connected, in the desktop session of startup.py
(Xvfb, a session bus with dunst, trayer as the tray) or offscreen. Run:
``.venv/bin/python benchmarks/bundle.py [--runs 5] [--session desktop]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from startup import (
    FAIL_KEYRING,
    ROOT,
    Helpdesk,
    Idle,
    desktop_programs_missing,
    first_paint_s,
    idle_of,
    session_envs,
)

IDLE_S = 5.0  # the window for idle CPU


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "notifier" / "notifier")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--notifications", type=int, default=200)
    parser.add_argument("--session", choices=("offscreen", "desktop"), default="desktop")
    args = parser.parse_args()
    if not args.bundle.is_file():
        print(f"no bundle at {args.bundle}: run bash packaging/build.sh first", file=sys.stderr)
        return 2
    if args.session == "desktop" and desktop_programs_missing():
        print(f"no desktop session: {desktop_programs_missing()} missing", file=sys.stderr)
        return 2
    apps = {"pip": [sys.executable, "-m", "notifier"], "bundle": [str(args.bundle)]}
    with tempfile.TemporaryDirectory(prefix="notifier-bundle-bench-") as temp:
        work = Path(temp)
        home = work / "home"
        home.mkdir()
        (work / "runtime").mkdir(mode=0o700)
        base = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_RUNTIME_DIR": str(work / "runtime"),
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),
            "QT_QPA_PLATFORM": "offscreen",
            "PYTHON_KEYRING_BACKEND": FAIL_KEYRING,
        }
        server = Helpdesk(work / "server", env=base)
        server.start()
        try:
            token = server.add_agent("alice", "Alice Able")
            bob = server.actions(server.add_agent("bob", "Bob Baker"))
            for i in range(args.notifications):
                bob.assign(bob.create_ticket(f"Ticket {i}", "body")["id"], "alice")
            envs = {
                name: dict(
                    base,
                    NOTIFIER_HOME=str(work / f"notifier-{name}"),
                    NOTIFIER_SERVER=server.url,
                    NOTIFIER_TOKEN=token,
                )
                for name in apps
            }
            for name, argv in apps.items():  # fill each cache; warm the page cache
                idle_of(argv, envs[name], settle=3.0, idle=0.1)
            with session_envs(args.session, work, envs["pip"], envs["bundle"]) as (pip, bundled):
                session = {"pip": pip, "bundle": bundled}
                startup: dict[str, list[float]] = {name: [] for name in apps}
                memory: dict[str, list[Idle]] = {name: [] for name in apps}
                for _ in range(args.runs):
                    for name, argv in apps.items():
                        startup[name].append(first_paint_s(argv, session[name], work / "marker"))
                for _ in range(args.runs):
                    for name, argv in apps.items():
                        memory[name].append(idle_of(argv, session[name], args.settle, IDLE_S))
        finally:
            server.stop()
    print(f"session={args.session} runs={args.runs} settle={args.settle}s (medians)")
    print(f"{'app':<8}{'start-up ms':>13}{'idle RSS MB':>13}{'(anon MB)':>11}{'CPU ms/s':>10}")
    for name in apps:
        print(
            f"{name:<8}{statistics.median(startup[name]) * 1000:>13.0f}"
            f"{statistics.median(m.rss_mb for m in memory[name]):>13.1f}"
            f"{statistics.median(m.anon_mb for m in memory[name]):>11.1f}"
            f"{statistics.median(m.cpu_s for m in memory[name]) * 1000 / IDLE_S:>10.2f}"
        )
    ratio = statistics.median(m.rss_mb for m in memory["bundle"]) / statistics.median(
        m.rss_mb for m in memory["pip"]
    )
    print(f"idle RSS bundle/pip {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
