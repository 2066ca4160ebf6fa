"""``notifier doctor`` (a subprocess, as the agent runs it) inside a real desktop session.

Its environment points at the private display and session bus, so what it reports about
the notification service, the system tray and the keyring is what that session really has:

* everything present (dunst, trayer, gnome-keyring with the token from ``notifier login``,
  the reference helpdesk): every check passes, exit 0;
* the same session without a tray host: the tray check fails with what to install; with a
  StatusNotifierItem tray instead of the XEmbed one it passes again;
* a bare session (X and a bus, nothing on it) with the token in NOTIFIER_TOKEN: the tray and
  the notification service fail, each with advice; the keyring is not used (the token comes
  from the environment).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

import pytest
from cli_support import report, run_process
from desktop_session import (  # noqa: F401  (the fixtures bare_desktop_session, desktop_session)
    COMMAND_TIMEOUT_S,
    DesktopSession,
    bare_desktop_session_fixture,
    desktop_session_fixture,
)
from helpdesk import Helpdesk

pytestmark = pytest.mark.desktop


def notifier(
    args: list[str], env: Mapping[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_process(args, env, stdin, COMMAND_TIMEOUT_S)


def test_doctor_finds_every_service_of_a_full_session(
    desktop_session: DesktopSession, helpdesk: Helpdesk
) -> None:
    token = helpdesk.add_agent("dora", "Dora Doctor")
    env = desktop_session.environment()
    login = notifier(["--server", helpdesk.url, "login", "--token-stdin"], env, token)
    assert login.returncode == 0, login.stderr

    with desktop_session.tray_host():
        doctor = notifier(["doctor"], env)
    checks = report(doctor.stdout)
    assert checks == {
        "keyring": "✓ usable (keyring.backends.SecretService.Keyring)",
        "server": f"✓ {helpdesk.url} answers",
        "sign-in": "✓ signed in as Dora Doctor (dora)",
        "live connection": "✓ the WebSocket connects (through any proxy)",
        "cache": checks["cache"],  # its path and count are the cache test's business
        "system tray": "✓ available",
        "notification service": "✓ org.freedesktop.Notifications is available",
    }, doctor.stdout + doctor.stderr
    assert checks["cache"].startswith("✓ ")
    assert doctor.stdout.rstrip().endswith("All checks passed.")
    assert doctor.returncode == 0
    assert token not in doctor.stdout + doctor.stderr

    # The tray host goes away: the same session now lacks a tray, and doctor says so.
    doctor = notifier(["doctor"], env)
    checks = report(doctor.stdout)
    assert checks["system tray"].startswith("✗ the desktop has no system tray")
    assert checks["notification service"] == "✓ org.freedesktop.Notifications is available"
    assert doctor.returncode == 1

    # A StatusNotifierItem tray (KDE, GNOME with the AppIndicator extension) counts as a tray.
    with desktop_session.sni_tray_host():
        doctor = notifier(["doctor"], env)
    assert report(doctor.stdout)["system tray"] == "✓ available", doctor.stdout
    assert doctor.returncode == 0


def test_doctor_reports_a_session_without_tray_notifications_or_keyring(
    bare_desktop_session: DesktopSession, helpdesk: Helpdesk
) -> None:
    token = helpdesk.add_agent("bea", "Bea Bare")
    env = bare_desktop_session.environment(NOTIFIER_SERVER=helpdesk.url, NOTIFIER_TOKEN=token)
    doctor = notifier(["doctor"], env)
    checks = report(doctor.stdout)
    assert checks["system tray"].startswith("✗ the desktop has no system tray"), doctor.stdout
    assert checks["notification service"] == (
        "✗ no notification service on the session bus: install one (your desktop's, or dunst /"
        " mako / xfce4-notifyd)"
    )
    assert checks["keyring"].startswith("– not used: the token comes from NOTIFIER_TOKEN")
    assert checks["sign-in"] == "✓ signed in as Bea Bare (bea)"
    assert "2 checks failed" in doctor.stdout
    assert doctor.returncode == 1
    assert token not in doctor.stdout + doctor.stderr
