"""``notifier doctor`` and a real Secret Service keyring (gnome-keyring on a private session
bus) that would prompt if read: doctor reports it, with what to do, and asks nothing.

* the login keyring is locked: reading the token would ask for its password (keyring's
  backend calls ``Unlock``); doctor reads the collection's ``Locked`` property instead;
* there is no login keyring: reading would ask to create one (``CreateCollection``, the
  "Prompt dismissed.." of a desktop without a prompter); doctor reads the ``default`` alias.

The bus is watched with dbus-monitor: no ``Unlock``, ``CreateCollection``, ``Prompt`` or
secret is asked of the keyring, while the questions doctor does ask are seen.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from contextlib import closing

import pytest
import secretstorage
from cli_support import report, run_process
from desktop_session import (  # noqa: F401  (the fixtures)
    COMMAND_TIMEOUT_S,
    DesktopSession,
    NotificationMonitor,
    keyring_desktop_session_fixture,
    new_keyring_desktop_session_fixture,
)
from helpdesk import Helpdesk

pytestmark = pytest.mark.desktop

# What would open a dialog on a desktop, or hand a secret out.
PROMPTING = {"Unlock", "CreateCollection", "Prompt", "GetSecrets", "GetSecret", "SearchItems"}
KEYRING_BUS = (
    "destination='org.freedesktop.secrets'",
    "interface='org.freedesktop.Secret.Prompt'",
)


def notifier(
    args: list[str], env: Mapping[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_process(args, env, stdin, COMMAND_TIMEOUT_S)


def doctor_watched(session: DesktopSession, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """doctor's output, and the methods it called on the keyring service."""
    with session.monitor(*KEYRING_BUS) as bus:
        doctor = notifier(["doctor"], env)
        bus.wait_for(lambda: bool(bus.calls("ReadAlias")), "doctor asking for the default alias")
        bus.settle()
    return doctor.stdout, sorted({NotificationMonitor.member(m) for m in bus.messages})


def test_doctor_reports_a_locked_keyring_without_unlocking_it(
    keyring_desktop_session: DesktopSession, helpdesk: Helpdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = keyring_desktop_session
    token = helpdesk.add_agent("lou", "Lou Locked")
    env = session.environment(NOTIFIER_SERVER=helpdesk.url)
    login = notifier(["login", "--token-stdin"], env, token)
    assert login.returncode == 0, login.stderr
    session.apply(monkeypatch)
    with closing(secretstorage.dbus_init()) as connection:
        secretstorage.get_default_collection(connection).lock()  # no prompt: only unlocking asks

    out, called = doctor_watched(session, env)
    checks = report(out)
    assert checks["keyring"] == (
        "! the keyring is locked: reading the token would ask for the keyring's password: unlock"
        " it in your desktop's password manager (GNOME: Passwords and Keys), or log in with the"
        " password that unlocks it; the tray app asks for it otherwise"
    ), out
    assert checks["server"] == f"✓ {helpdesk.url} answers"
    assert checks["sign-in"] == (
        "! not checked: the token was not read from the keyring, since that would ask for its"
        " password: see the keyring line above, then run notifier doctor again"
    )
    assert "All checks passed" not in out
    assert not PROMPTING & set(called), called
    assert token not in out


def test_doctor_reports_a_keyring_without_a_default_collection_without_creating_one(
    new_keyring_desktop_session: DesktopSession, helpdesk: Helpdesk
) -> None:
    session = new_keyring_desktop_session
    env = session.environment(NOTIFIER_SERVER=helpdesk.url)
    out, called = doctor_watched(session, env)
    checks = report(out)
    assert checks["keyring"] == (
        "! the keyring has no default collection yet: signing in would ask you to create one"
        " and choose its password: create the default (login) keyring in your desktop's"
        " password manager (GNOME: Passwords and Keys), or run notifier login in the desktop"
        " session and answer its prompt"
    ), out
    assert ".." not in out
    assert not PROMPTING & set(called), called
