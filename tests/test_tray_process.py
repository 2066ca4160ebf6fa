"""The real tray app as a process (offscreen, signed out): a second start wakes the first and
exits 0, and SIGTERM quits cleanly with exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEADLINE_S = 30.0


def wait_for(condition: object, what: str) -> None:
    """Poll a subprocess's observable state, with a deadline (readiness, not timing)."""
    assert callable(condition)
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_second_start_wakes_the_first_and_sigterm_quits(tmp_path: Path) -> None:
    home = tmp_path / "notifier"
    marker = tmp_path / "painted"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env.update(QT_QPA_PLATFORM="offscreen", NOTIFIER_HOME=str(home))
    first = subprocess.Popen(
        [sys.executable, "-m", "notifier"],
        env=dict(env, NOTIFIER_STARTUP_MARKER=str(marker)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: marker.exists() or first.poll() is not None, "the first paint")
        assert first.poll() is None
        log_file = home / "logs" / "notifier.log"
        wait_for(lambda: log_file.exists(), "the log file")

        second = subprocess.run(
            [sys.executable, "-m", "notifier"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        assert second.returncode == 0, second.stderr
        wait_for(
            lambda: "another start asked" in log_file.read_text(encoding="utf-8"),
            "the first instance to show its list",
        )

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=DEADLINE_S) == 0
        assert "signal 15: quitting" in log_file.read_text(encoding="utf-8")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        assert first.stderr is not None
        first.stderr.close()


def test_no_tray_is_said_once_in_the_log_file(tmp_path: Path) -> None:
    home = tmp_path / "notifier"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env.update(QT_QPA_PLATFORM="offscreen", NOTIFIER_HOME=str(home))
    app = subprocess.Popen(
        [sys.executable, "-m", "notifier"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log_file = home / "logs" / "notifier.log"
    try:
        wait_for(
            lambda: log_file.exists() and "toasts: using" in log_file.read_text("utf-8"),
            "start-up to finish",
        )
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=DEADLINE_S) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert log_file.read_text(encoding="utf-8").count("no system tray") == 1
