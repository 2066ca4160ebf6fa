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

``--smaps`` also prints, for "100k, popup used", where the popup's visit stays: the
difference of /proc/PID/smaps between just before the click and ``--settle`` seconds after
the popup closed, per mapping (a library's file, the heap, the anonymous regions), split
into private dirty (written: heap, relocations), private clean and shared pages (a
library's code and data read from its file, which count in RSS however many processes map
them). ``--only`` runs the named programs alone (say, ``--only "100k, popup used"``).

``--tree DIR`` (twice or more) compares source trees side by side: each of ours runs once
per tree, alternating, from that tree's ``notifier`` (``python -P -m notifier`` with
``PYTHONPATH=DIR``), labelled with the tree's folder name.

``--cold-libraries`` drops the page cache of the Python's and the environment's shared
libraries before each program starts, so that every program finds them as after a reboot
(the system's libraries stay cached: the desktop uses them). It matters: a page of a library
counts in RSS once a process maps it, and on a fault the kernel maps the neighbouring pages
that are already cached too. In one session, a venv just installed (its libraries never
dropped from the page cache) gave the bare app 63.5 MB and ours with the popup used 93.1 MB
(1.47x); once dropped, 49.9 and 85.0 MB (1.70x, the quiet machine's figures), and so after
(benchmarks/README.md). With the option, runs repeat.

``--installed-libraries`` is the other repeatable state: before each program, every one of
those libraries is written anew as a package manager installs it (the whole file in one
write, renamed over the old one; the same bytes). What decides between the two is the size
of the page-cache folios that hold a library: ext4 on Linux 6.16+ keeps a file written in
one go in large folios, and a fault maps the whole folio, so every program maps more of each
library than it touches; pages read back after a drop (or written 64 KiB at a time) sit in
small folios. Rewriting the same PySide6 files one way or the other moved the bare app
between 62.4 and 50.2 MB with nothing else changed (benchmarks/README.md, session 9).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

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


SMAPS_FIELDS = ("Rss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Shared_Dirty")
SMAPS_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
Smaps = dict[str, dict[str, int]]  # mapping name -> field -> kB


def read_smaps(pid: int) -> Smaps:
    """/proc/PID/smaps summed per mapping name (anonymous regions under "[anon]")."""
    totals: Smaps = defaultdict(lambda: dict.fromkeys(SMAPS_FIELDS, 0))
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if SMAPS_HEADER.match(line):
            parts = line.split(maxsplit=5)
            name = parts[5].strip() if len(parts) == 6 else "[anon]"
            continue
        field, _, value = line.partition(":")
        if field in SMAPS_FIELDS:
            totals[name][field] += int(value.split()[0])
    return dict(totals)


def print_smaps_growth(before: Smaps, after: Smaps, smallest_kb: int = 64) -> None:
    """Per mapping: what the RSS grew by between ``before`` and ``after``, largest first."""
    rows = []
    for name in before.keys() | after.keys():
        old = before.get(name, dict.fromkeys(SMAPS_FIELDS, 0))
        new = after.get(name, dict.fromkeys(SMAPS_FIELDS, 0))
        growth = {field: new[field] - old[field] for field in SMAPS_FIELDS}
        if abs(growth["Rss"]) >= smallest_kb:
            rows.append((growth["Rss"], name, growth))
    total = {f: sum(m[f] for m in after.values()) - sum(m[f] for m in before.values())
             for f in SMAPS_FIELDS}  # fmt: skip
    print(f"  smaps growth, kB ({' / '.join(SMAPS_FIELDS)}), mappings of {smallest_kb} kB+:")
    for _, name, growth in sorted(rows, key=lambda row: -row[0]):
        print("   " + " ".join(f"{growth[f]:7d}" for f in SMAPS_FIELDS) + f"  {name}")
    print("   " + " ".join(f"{total[f]:7d}" for f in SMAPS_FIELDS) + "  total")


def library_folders() -> list[Path]:
    """Where the Python and the environment's packages (PySide6, Qt, dbus_fast …) live."""
    return sorted({Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"})


def drop_page_cache(folders: list[Path]) -> None:
    """Drop the page cache of the shared libraries under ``folders`` (``posix_fadvise``
    DONTNEED: clean pages that no process maps go; mapped ones stay)."""
    for folder in folders:
        for path in folder.rglob("*.so*"):
            if not path.is_file():
                continue
            with path.open("rb") as file:
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def rewrite_libraries(folders: list[Path]) -> None:
    """Write every shared library under ``folders`` anew, as a package manager installs it:
    the same bytes in one write to a new file, renamed over the old one."""
    for folder in folders:
        for path in folder.rglob("*.so*"):
            if not path.is_file() or path.is_symlink():
                continue
            temp = path.with_name(f".{path.name}.rewrite")
            temp.write_bytes(path.read_bytes())
            temp.chmod(path.stat().st_mode)
            os.replace(temp, path)


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
    *,
    smaps: bool = False,
    tree: Path | None = None,
    cold: bool = False,
    installed: bool = False,
) -> tuple[float, float]:
    """(VmRSS, RssAnon) in MB of one program after it has settled (ours from ``tree``'s
    ``notifier`` if given)."""
    if cold:
        drop_page_cache(library_folders())
    if installed:
        rewrite_libraries(library_folders())
    if which.startswith("bare"):
        argv = [sys.executable, "-c", BARE_APP]
        env = session.environment(b.base_env)
    elif tree is None:
        argv = [sys.executable, "-m", "notifier"]
        env = envs["small" if which == "200 cached" else "big"]
    else:  # -P: the working directory's notifier does not come first
        argv = [sys.executable, "-P", "-m", "notifier"]
        env = {**envs["small" if which == "200 cached" else "big"], "PYTHONPATH": str(tree)}
    log = b.app_log(env)
    lives = log.count("status: live")
    process = session.spawn(which, argv, env)
    display = XDisplay(session.display)
    before: Smaps | None = None
    try:
        if not which.startswith("bare"):
            wait_for(lambda: log.count("status: live") > lives, f"{which} to go live", 120)
        if which in USED:
            time.sleep(settle)  # as the others: settled before the agent looks
            icon = None
            while icon is None:
                icon = display.docked(process.pid, trayer)
            shown = visible_windows(session, process.pid)
            before = read_smaps(process.pid) if smaps else None
            session.run(["xdotool", "mousemove", "--window", str(icon), "5", "5",
                         "click", USED[which]])  # fmt: skip
            wait_for(lambda: visible_windows(session, process.pid) - shown, "the popup", 30)
            session.run(["xdotool", "key", "Escape"])
            wait_for(lambda: not visible_windows(session, process.pid) - shown, "closed", 30)
        time.sleep(settle)
        if process.poll() is not None:
            raise RuntimeError(f"{which} exited: {session.log_text(which)}")
        if which in USED and before is not None:
            print_smaps_growth(before, read_smaps(process.pid))
        return rss_mb(process.pid), rss_mb(process.pid, "RssAnon")
    finally:
        display.close()
        session.stop_process(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--smaps", action="store_true", help="where the popup's visit stays")
    parser.add_argument("--only", action="append", choices=PROGRAMS, help="run these alone")
    parser.add_argument("--tree", action="append", type=Path, help="compare source trees")
    libraries = parser.add_mutually_exclusive_group()
    libraries.add_argument("--cold-libraries", action="store_true", help="see the docstring")
    libraries.add_argument("--installed-libraries", action="store_true", help="see the docstring")
    args = parser.parse_args()
    cold, installed = args.cold_libraries, args.installed_libraries
    trees: list[Path | None] = [tree.resolve() for tree in args.tree or ()] or [None]
    programs: list[tuple[str, str, Path | None]] = []  # (label, program, tree)
    for which in PROGRAMS:
        if args.only and which not in args.only:
            continue
        for tree in [None] if which.startswith("bare") else trees:
            programs.append((which if tree is None else f"{which} [{tree.name}]", which, tree))
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in programs}
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
                order = programs if index % 2 == 0 else programs[::-1]
                for label, which, tree in order:
                    rss, anon = measure(b, session, which, envs, args.settle, trayer.pid,
                                        smaps=args.smaps, tree=tree, cold=cold,
                                        installed=installed)  # fmt: skip
                    results[label].append((rss, anon))
                    print(f"run {index} {label:18} {rss:6.1f} MB (anon {anon:5.1f} MB);"
                          f" {load_average()}", flush=True)  # fmt: skip
    medians = {label: statistics.median(r for r, _ in runs) for label, runs in results.items()}
    bare = medians.get("bare")
    print(f"\nidle RSS, {args.runs} runs each, alternating; median (min-max) MB and / bare:")
    for label, runs in results.items():
        ratio = f", {medians[label] / bare:.2f}x" if bare else ""
        print(f"  {label:18} {spread([r for r, _ in runs])} MB,"
              f" anon {spread([a for _, a in runs])} MB{ratio}")  # fmt: skip
    used, popup = medians.get("bare, menu used"), medians.get("100k, popup used")
    if used and popup:
        print(f"  100k, popup used / bare, menu used: {popup / used:.2f}x")
    print("  target: 100k, popup used <= 1.5x bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
