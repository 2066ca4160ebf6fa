"""The sign-in token in a real Secret Service keyring on a private session bus.

gnome-keyring-daemon (unlocked unattended, files in tmp) is the keyring an agent's GNOME
session has. Checked here, with ``secret-tool`` as an independent reader:

* :class:`~notifier.store.secrets.TokenStore` stores, reads and deletes through it;
* ``notifier login --token-stdin`` and ``notifier logout`` (subprocesses, keyring choosing its
  backend as on a desktop) put the token there and remove it, and never print it;
* with no keyring service on the bus, both the store and the commands say so
  (KeyringUnavailable, a message naming NOTIFIER_TOKEN) and nothing is written in plain text.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import keyring.backend
import pytest
from desktop_session import (  # noqa: F401  (the fixtures bare_desktop_session, desktop_session)
    COMMAND_TIMEOUT_S,
    DesktopSession,
    bare_desktop_session_fixture,
    desktop_session_fixture,
    require,
)
from helpdesk import Helpdesk
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

from notifier.core.errors import KeyringUnavailable
from notifier.store.secrets import SERVICE, TokenStore

pytestmark = pytest.mark.desktop


def secret_service() -> keyring.backend.KeyringBackend:
    backend: keyring.backend.KeyringBackend = SecretServiceKeyring()  # type: ignore[no-untyped-call]
    return backend


def lookup(session: DesktopSession, server_url: str) -> str | None:
    """The token as another Secret Service client sees it (None: not stored)."""
    require("secret-tool")
    result = session.run(
        ["secret-tool", "lookup", "service", SERVICE, "username", server_url], check=False
    )
    return result.stdout if result.returncode == 0 else None


def notifier(
    session: DesktopSession, args: Sequence[str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        input=stdin,
        env=session.environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def test_token_store_keeps_the_token_in_the_secret_service(
    desktop_session: DesktopSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    desktop_session.apply(monkeypatch)
    store = TokenStore(secret_service())
    url = "https://helpdesk-a.example"
    assert store.get(url) is None
    store.set(url, "token-a")
    store.set("https://helpdesk-b.example", "token-b")
    assert store.get(url) == "token-a"
    assert lookup(desktop_session, url) == "token-a"
    assert lookup(desktop_session, "https://helpdesk-b.example") == "token-b"
    store.set(url, "token-a2")  # signing in again replaces the token
    assert lookup(desktop_session, url) == "token-a2"
    store.delete(url)
    assert store.get(url) is None
    assert lookup(desktop_session, url) is None
    assert lookup(desktop_session, "https://helpdesk-b.example") == "token-b"
    store.delete(url)  # nothing stored is not an error
    store.delete("https://helpdesk-b.example")


def test_login_and_logout_put_the_token_in_the_keyring_and_take_it_out(
    desktop_session: DesktopSession, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("kim", "Kim Keyring")
    login = notifier(desktop_session, ["--server", helpdesk.url, "login", "--token-stdin"], token)
    assert login.returncode == 0, login.stderr
    assert "Kim Keyring" in login.stdout
    assert token not in login.stdout + login.stderr
    assert lookup(desktop_session, helpdesk.url) == token
    # Only the keyring holds it: not the settings file, not the log, nothing under HOME.
    leaked = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and token.encode() in path.read_bytes()
    ]
    assert [p for p in leaked if "helpdesk" not in p.relative_to(tmp_path).parts] == []

    doctor = notifier(desktop_session, ["doctor"])
    assert "✓ keyring: usable (keyring.backends.SecretService.Keyring)" in doctor.stdout
    assert "✓ sign-in: signed in as Kim Keyring (kim)" in doctor.stdout

    logout = notifier(desktop_session, ["logout"])
    assert logout.returncode == 0, logout.stderr
    assert lookup(desktop_session, helpdesk.url) is None
    doctor = notifier(desktop_session, ["doctor"])
    assert "✗ sign-in: no token stored for this server" in doctor.stdout


# keyring 25.7 (backends/SecretService.py, get_preferred_collection) does not close its D-Bus
# connection when the collection cannot be opened; collected below, inside this test.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_without_a_keyring_service_the_store_refuses_instead_of_plain_text(
    bare_desktop_session: DesktopSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The Secret Service backend an agent's desktop would use, on a bus where nobody
    # provides org.freedesktop.secrets (and nothing can be activated).
    bare_desktop_session.apply(monkeypatch)
    store = TokenStore(secret_service())
    with pytest.raises(KeyringUnavailable, match=r"could not store the token .*secrets"):
        store.set("https://helpdesk.example", "secret-token")
    with pytest.raises(KeyringUnavailable):
        store.get("https://helpdesk.example")
    gc.collect()  # keyring's leaked connections, see the filter above
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and b"secret-token" in p.read_bytes()]
    assert stored == []


def test_without_a_keyring_service_login_says_so_and_stores_nothing(
    bare_desktop_session: DesktopSession, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("nat", "Nat Nokeyring")
    login = notifier(
        bare_desktop_session, ["--server", helpdesk.url, "login", "--token-stdin"], token
    )
    assert login.returncode == 1
    assert "no usable system keyring" in login.stderr
    assert "NOTIFIER_TOKEN" in login.stderr
    assert token not in login.stdout + login.stderr
    home = tmp_path / "home"
    assert not [p for p in home.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    logout = notifier(bare_desktop_session, ["--server", helpdesk.url, "logout"])
    assert logout.returncode == 1
    assert "no usable system keyring" in logout.stderr
