"""The settings dialog over the real account service (watched by the real controller) and
LiveServices, against the reference helpdesk on loopback: sign in with a password, test the
connection, edit the server-side email preferences, sign out. Only the true edges are fakes:
the OS keyring (in memory), the browser, and the controller's clock/scheduler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from engine_keyring import MemoryKeyring, installed_memory_keyring
from helpdesk import Helpdesk
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.compose import LiveServices
from notifier.core.settings import Settings
from notifier.core.wire import EmailFrequency, NotificationType, Preferences, QuietRange
from notifier.store.cache import NotificationCache
from notifier.store.paths import app_paths
from notifier.store.secrets import SERVICE
from notifier.store.settings_file import load_settings
from notifier.ui.schedule_editor import ScheduleEditor
from notifier.ui.settings_dialog import SettingsDialog

TIMEOUT_S = 20


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_memory_keyring() as backend:
        yield backend


def live_controller(
    tmp_path: Path, tz: tzinfo | None = None
) -> tuple[AppController, NotificationCache, Path]:
    """The real controller with LiveServices, signed out, its files in ``tmp_path``; also
    its cache and settings file."""
    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")}).ensure()
    cache = NotificationCache.open(paths.cache_file)
    clock = FakeClock()
    services = LiveServices(paths, {})
    controller = AppController(
        account=AccountService(
            Settings(),
            services,
            settings_path=paths.settings_file,
            tz=tz,
            url_opener=RecordingUrlOpener(),
        ),
        cache=cache,
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=RecordingUrlOpener(),
        engines=services,
    )
    return controller, cache, paths.settings_file


def click(button: QPushButton) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.mark.asyncio
async def test_sign_in_email_preferences_and_sign_out_through_the_dialog(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    helpdesk.add_agent("alice", "Alice Able", password="correct horse battery")
    controller, cache, settings_file = live_controller(tmp_path)
    dialog = SettingsDialog(controller.account, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            # A wrong password: refused by the helpdesk, nothing stored.
            dialog.server_url.setText(helpdesk.url)
            dialog.username.setText("alice")
            dialog.password.setText("wrong")
            click(dialog.sign_in_button)
            await dialog.idle()
            assert "refused" in dialog.account_status.text()
            assert memory_keyring.entries == {}

            dialog.password.setText("correct horse battery")
            click(dialog.sign_in_button)
            await dialog.idle()  # the sign-in, then the email preferences load
            await dialog.idle()
            assert dialog.agent_label.text() == "Alice Able (alice)"
            assert dialog.password.text() == ""
            token = memory_keyring.entries[(SERVICE, helpdesk.url)]
            assert token and token not in dialog.account_status.text()
            assert load_settings(settings_file).server_url == helpdesk.url

            click(dialog.test_button)
            await dialog.idle()
            assert dialog.account_status.text() == "Connected as Alice Able"

            # Email preferences live on the helpdesk: OK sends them there, then closes.
            assert dialog.email_enabled.isEnabled(), dialog.email_status.text()
            dialog.email_enabled.setChecked(True)
            dialog.email_frequency.setCurrentIndex(
                dialog.email_frequency.findData(EmailFrequency.DAILY_DIGEST)
            )
            for kind, box in dialog.email_type_boxes.items():
                box.setChecked(kind is NotificationType.MENTION)
            click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))
            await dialog.idle()
            assert not dialog.isVisible()
            alice = helpdesk.actions(token)
            response = await asyncio.to_thread(alice.request, "GET", "/api/v1/me/preferences")
            preferences = Preferences.parse(response.json())
            email = preferences.email
            assert preferences.in_app
            assert email.enabled
            assert email.frequency is EmailFrequency.DAILY_DIGEST
            assert email.types == frozenset({NotificationType.MENTION})

            # Opened again: the helpdesk and the agent are shown, signing in is closed.
            dialog.show()
            await dialog.idle()
            assert dialog.server_url.text() == helpdesk.url and dialog.server_url.isReadOnly()
            assert not dialog.sign_in_button.isEnabled()
            assert dialog.email_enabled.isChecked()  # as the helpdesk has it now
            click(dialog.sign_out_button)
            await dialog.idle()
            assert dialog.agent_label.text() == "Not signed in"
            assert memory_keyring.entries == {}  # the token left the keyring
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await controller.stop()
        cache.close()


@pytest.mark.asyncio
async def test_saving_quiet_hours_also_saves_them_on_the_helpdesk(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    # The helpdesk holds e-mail during the agent's quiet hours, read in their time zone.
    helpdesk.add_agent("quinn", "Quinn Quiet", password="quiet hours please")
    controller, cache, _ = live_controller(tmp_path, ZoneInfo("Europe/Berlin"))
    nights = (QuietRange(day=0, start="22:00", end="07:00"), QuietRange(4, "18:00", "09:00"))
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await controller.account.sign_in_password(helpdesk.url, "quinn", "quiet hours please")
            controller.account.save_settings(
                controller.account.settings().replace(quiet_hours=nights)
            )
            agent = helpdesk.actions(memory_keyring.entries[(SERVICE, helpdesk.url)])
            while True:  # the controller saves them in the background
                response = await asyncio.to_thread(agent.request, "GET", "/api/v1/me/preferences")
                stored = Preferences.parse(response.json())
                if stored.quiet_hours:
                    break
                await asyncio.sleep(0.05)
            assert stored.quiet_hours == nights and stored.timezone == "Europe/Berlin"
            assert stored.email == Preferences().email  # the rest is left as it was
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await controller.stop()
        cache.close()
