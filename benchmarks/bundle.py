"""Start-up and idle memory of the app's bundles against the pip install of the same app.

All run the same code against a reference helpdesk started here, signed in with
NOTIFIER_TOKEN, with a cache pre-filled by a first run, alternating run by run:

* pip: ``python -m notifier`` from the project's venv (byte-code cached, as installed);
* bundle: ``dist/notifier/notifier`` from ``bash packaging/build.sh`` (PyInstaller): its own
  Python and Qt, its modules in one compressed archive;
* or the bundles named with ``--bundle NAME=PROGRAM`` (repeatable), e.g. also
  ``nuitka=dist-nuitka/notifier/notifier`` from ``bash packaging/nuitka/build.sh``, whose
  modules are compiled to C.

Start-up is to the first paint (NOTIFIER_STARTUP_MARKER, as benchmarks/startup.py measures
it), idle RSS after ``--settle`` seconds connected, in the desktop session of startup.py
(Xvfb, a session bus with dunst, trayer as the tray) or offscreen. Run:
``.venv/bin/python benchmarks/bundle.py [--runs 5] [--session desktop] [--bundle ...]``.
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
DEFAULT_BUNDLE = ROOT / "dist" / "notifier" / "notifier"


def named_bundle(value: str) -> tuple[str, Path]:
    """``NAME=PROGRAM``, or a bare PROGRAM named "bundle"."""
    name, sep, program = value.partition("=")
    return (name, Path(program)) if sep else ("bundle", Path(value))


def folder_mb(program: Path) -> float:
    """The size on disk of the one-folder bundle ``program`` is in."""
    folder = program.resolve().parent
    files = [f for f in folder.rglob("*") if f.is_file() and not f.is_symlink()]
    return sum(f.stat().st_size for f in files) / 1e6  # links to a library count once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bundle",
        type=named_bundle,
        action="append",
        metavar="[NAME=]PROGRAM",
        help=f"a bundle's program (repeatable; default {DEFAULT_BUNDLE.relative_to(ROOT)})",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--notifications", type=int, default=200)
    parser.add_argument("--session", choices=("offscreen", "desktop"), default="desktop")
    args = parser.parse_args()
    bundles: dict[str, Path] = dict(args.bundle or [("bundle", DEFAULT_BUNDLE)])
    for program in bundles.values():
        if not program.is_file():
            print(f"no bundle at {program}: run bash packaging/build.sh first", file=sys.stderr)
            return 2
    if args.session == "desktop" and desktop_programs_missing():
        print(f"no desktop session: {desktop_programs_missing()} missing", file=sys.stderr)
        return 2
    apps = {"pip": [sys.executable, "-m", "notifier"]}
    apps.update((name, [str(program)]) for name, program in bundles.items())
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
            # One desktop for all; the apps' environments differ only in NOTIFIER_HOME.
            with session_envs(args.session, work, envs["pip"], envs["pip"]) as (desktop, _):
                session = {
                    name: dict(desktop, NOTIFIER_HOME=env["NOTIFIER_HOME"])
                    for name, env in envs.items()
                }
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
    print(
        f"{'app':<12}{'start-up ms':>13}{'idle RSS MB':>13}{'(anon MB)':>11}{'CPU ms/s':>10}"
        f"{'size MB':>9}"
    )
    rss = {name: statistics.median(m.rss_mb for m in memory[name]) for name in apps}
    for name in apps:
        size = f"{folder_mb(bundles[name]):>9.0f}" if name in bundles else f"{'':>9}"
        print(
            f"{name:<12}{statistics.median(startup[name]) * 1000:>13.0f}{rss[name]:>13.1f}"
            f"{statistics.median(m.anon_mb for m in memory[name]):>11.1f}"
            f"{statistics.median(m.cpu_s for m in memory[name]) * 1000 / IDLE_S:>10.2f}{size}"
        )
    for name in bundles:
        print(f"idle RSS {name}/pip {rss[name] / rss['pip']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
