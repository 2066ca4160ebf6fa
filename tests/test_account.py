"""The account service on its own (no controller, no Qt): signing in and out, testing the
saved sign-in, the locks of the site file, saving the settings, against the reference helpdesk
on loopback through the composition root's LiveServices, with an in-memory keyring (a true
edge). A recording watcher stands in for the part that syncs."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from engine_keyring import MemoryKeyring, installed_memory_keyring
from helpdesk import Helpdesk, MakeHelpdesk
from tray_fakes import RecordingUrlOpener

from notifier.app.account import AccountService
from notifier.compose import LiveServices
from notifier.core.errors import AuthFailed, BackendError
from notifier.core.settings import Settings, SettingsError
from notifier.core.wire import AgentInfo, Preferences, QuietRange
from notifier.store.paths import app_paths
from notifier.store.secrets import SERVICE, TokenStore
from notifier.store.settings_file import load_settings
from notifier.store.site_settings import NO_SITE_SETTINGS, load_site_settings

TIMEOUT_S = 20
NIGHTS = (QuietRange(0, "22:00", "07:00"),)


class RecordingWatcher:
    """notifier.app.account.AccountWatcher that records what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def account_settings_changed(self, settings: Settings) -> None:
        self.events.append(("settings", settings.server_url))

    def account_connection_changed(self) -> None:
        self.events.append(("reconnect", None))

    async def account_switching(self) -> None:
        self.events.append(("switching", None))

    def account_switched(self, agent: AgentInfo | None) -> None:
        self.events.append(("switched", agent.username if agent else None))


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_memory_keyring() as backend:
        yield backend


def account_service(
    tmp_path: Path, settings: Settings | None = None, **kwargs: object
) -> tuple[AccountService, RecordingWatcher, Path]:
    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")}).ensure()
    account = AccountService(
        settings or Settings(),
        LiveServices(paths, {}),
        settings_path=paths.settings_file,
        url_opener=RecordingUrlOpener(),
        **kwargs,  # type: ignore[arg-type]
    )
    watcher = RecordingWatcher()
    account.watch(watcher)
    return account, watcher, paths.settings_file


@pytest.mark.asyncio
async def test_sign_in_keeps_the_token_and_the_helpdesk_then_sign_out_forgets_them(
    helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    helpdesk.add_agent("alice", "Alice Able", password="correct horse")
    account, watcher, settings_file = account_service(tmp_path, site=NO_SITE_SETTINGS)
    async with asyncio.timeout(TIMEOUT_S):
        assert await account.test_connection(helpdesk.url) == (
            "Not signed in to this helpdesk yet: sign in to test the connection."
        )
        agent = await account.sign_in_password(helpdesk.url, "alice", "correct horse")
        assert agent.name == "Alice Able"
        assert account.signed_in_agent() == agent
        token = memory_keyring.entries[(SERVICE, helpdesk.url)]
        assert helpdesk.actions(token).request("GET", "/api/v1/me").status_code == 200
        assert load_settings(settings_file).server_url == helpdesk.url
        assert account.server_url == helpdesk.url
        # The part that syncs stops before the credentials change and starts after.
        assert watcher.events == [
            ("switching", None),
            ("settings", helpdesk.url),
            ("switched", "alice"),
        ]
        assert await account.test_connection(helpdesk.url) == "Connected as Alice Able"

        watcher.events.clear()
        await account.sign_out()
    assert memory_keyring.entries == {}
    assert account.signed_in_agent() is None
    assert watcher.events == [("switching", None), ("switched", None)]


@pytest.mark.asyncio
async def test_a_refused_sign_in_changes_nothing(
    helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    helpdesk.add_agent("bob", "Bob", password="right")
    account, watcher, settings_file = account_service(tmp_path, site=NO_SITE_SETTINGS)
    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(AuthFailed):
            await account.sign_in_password(helpdesk.url, "bob", "wrong")
        with pytest.raises(AuthFailed):
            await account.sign_in_token(helpdesk.url, "not-a-token")
    assert memory_keyring.entries == {}
    assert account.signed_in_agent() is None
    assert account.settings().server_url == ""
    assert not settings_file.exists()
    assert watcher.events == []


@pytest.mark.asyncio
async def test_after_a_429_the_next_sign_in_waits_as_long_as_the_helpdesk_asked(
    make_helpdesk: MakeHelpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    # docs/protocol.md: a client never retries a 429 before its Retry-After, and shows the
    # wait. The wait was not shown, and a second click on Sign in went straight out.
    hd = make_helpdesk("--sign-in-failures-per-account", "2", "--sign-in-window", "120")
    hd.add_agent("cleo", "Cleo", password="right")
    clock = [1000.0]
    account, _, _ = account_service(tmp_path, site=NO_SITE_SETTINGS, monotonic=lambda: clock[0])
    async with asyncio.timeout(TIMEOUT_S):
        for _ in range(2):
            with pytest.raises(AuthFailed):
                await account.sign_in_password(hd.url, "cleo", "wrong")
        with pytest.raises(BackendError) as refused:
            await account.sign_in_password(hd.url, "cleo", "right")
        assert refused.value.status == 429
        assert "too many failed sign-ins" in str(refused.value)
        assert "(the helpdesk asks to wait 2 minutes)" in str(refused.value)
        assert refused.value.retry_after is not None and 110 < refused.value.retry_after <= 120
        # Not sent: the app says how long is left without asking the helpdesk.
        clock[0] += 60
        with pytest.raises(BackendError) as held:
            await account.sign_in_password(hd.url, "cleo", "right")
        assert str(held.value) in {
            f"the helpdesk asked for a pause after too many sign-ins; try again in {left} s"
            for left in (59, 60)  # the helpdesk's Retry-After: its window, rounded up
        }
        # Once the wait has passed (by this clock), the sign-in goes out again: the helpdesk,
        # whose window runs on its own clock, answers for itself.
        clock[0] += 61
        with pytest.raises(BackendError) as answered:
            await account.sign_in_password(hd.url, "cleo", "right")
        assert "too many failed sign-ins" in str(answered.value)
    assert memory_keyring.entries == {}


@pytest.mark.asyncio
async def test_a_helpdesk_locked_by_it_refuses_a_sign_in_elsewhere(
    helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    site_file = tmp_path / "site.json"
    site_file.write_text(
        json.dumps({"version": 1, "server_url": helpdesk.url, "locked": ["server_url"]}),
        encoding="utf-8",
    )
    site = load_site_settings(site_file)
    token = helpdesk.add_agent("carol", "Carol")
    account, watcher, settings_file = account_service(
        tmp_path, Settings(server_url=helpdesk.url), site=site
    )
    assert account.locked_settings() == {"server_url"}
    with pytest.raises(SettingsError, match="your IT department set the helpdesk"):
        await account.sign_in_token("https://elsewhere.example.com", token)
    assert watcher.events == []
    # Saving another helpdesk keeps the site's (no reconnect); the other settings are saved.
    account.save_settings(account.settings().replace(server_url="https://x.example", sound=False))
    assert account.settings().server_url == helpdesk.url
    assert watcher.events == [("settings", helpdesk.url)]
    assert load_settings(settings_file, site).sound is False
    # As the agent's own file may look (written by hand, or by an older version).
    settings_file.write_text(json.dumps({"version": 1, "sound": False}) + "\n")
    saved = settings_file.read_bytes()
    async with asyncio.timeout(TIMEOUT_S):
        agent = await account.sign_in_token(helpdesk.url, f"  {token}\n")
    assert agent.username == "carol"
    assert memory_keyring.entries == {(SERVICE, helpdesk.url): token}
    # The locked helpdesk is the site's, not the agent's: their file is left as it was.
    assert settings_file.read_bytes() == saved


@pytest.mark.asyncio
async def test_saving_settings_reconnects_only_when_the_way_to_the_helpdesk_changes(
    helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    token = helpdesk.add_agent("dave", "Dave")
    account, watcher, _ = account_service(
        tmp_path, site=NO_SITE_SETTINGS, tz=ZoneInfo("Europe/Berlin")
    )
    async with asyncio.timeout(TIMEOUT_S):
        await account.sign_in_token(helpdesk.url, token)
        watcher.events.clear()
        account.save_settings(account.settings().replace(sound=False))
        assert watcher.events == [("settings", helpdesk.url)]
        account.save_settings(account.settings().replace(proxy="http://127.0.0.1:9"))
        assert watcher.events[-1] == ("reconnect", None)
        account.save_settings(account.settings().replace(proxy=None, quiet_hours=NIGHTS))
        # The quiet hours also go to the helpdesk (it holds e-mail then), in the background.
        await account.wait_idle()
    response = helpdesk.actions(token).request("GET", "/api/v1/me/preferences")
    stored = Preferences.parse(response.json())
    assert stored.quiet_hours == NIGHTS
    assert stored.timezone == "Europe/Berlin"


def test_without_ports_the_settings_work_and_signing_in_says_why_not(tmp_path: Path) -> None:
    account = AccountService(Settings(), settings_path=tmp_path / "s.json", tz=UTC)
    account.apply(account.settings().replace(sound=False))
    assert load_settings(tmp_path / "s.json").sound is False
    with pytest.raises(RuntimeError, match="without its ports"):
        asyncio.run(account.sign_in_token("https://helpdesk.example.com", "t"))


def test_login_from_the_command_line_signs_in_through_the_account_service(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    """``notifier login`` and the tray share the sign-in: same token, same settings."""
    from notifier.headless import run_command
    from notifier.main import build_parser

    token = helpdesk.add_agent("erin", "Erin")
    memory = MemoryKeyring()
    environ = {"NOTIFIER_HOME": str(tmp_path / "cli")}
    args = build_parser().parse_args(["--server", helpdesk.url, "login", "--token-stdin"])
    out, err = io.StringIO(), io.StringIO()
    code = run_command(
        "login",
        args,
        environ=environ,
        token_store=TokenStore(memory),
        stdin=io.StringIO(token + "\n"),
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    assert out.getvalue() == f"Signed in to {helpdesk.url} as Erin (erin).\n"
    assert memory.entries == {(SERVICE, helpdesk.url): token}
    assert load_settings(app_paths(environ).settings_file).server_url == helpdesk.url


def test_the_account_service_imports_no_qt() -> None:
    """``notifier login`` uses it without a display: it must not pull Qt in."""
    code = (
        "import sys, notifier.app.account, notifier.compose\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert result.returncode == 0, result.stderr
