"""The settings dialog's choice of a Frappe Helpdesk site (notifier/ui/helpdesk_kind.py).

* Offscreen over the fake ``SettingsBackend`` of tests/test_settings_dialog.py: the kind
  chooser shows the site's fields and the API key and secret, signing in passes the choice on,
  a bad field is named next to it, OK saves the kind and the fields, and the Email tab says
  in one line why it is off for Frappe.
* Over the real account service, controller and LiveServices against the stand-in Frappe
  site: sign in with an API key and secret (a wrong secret refused first), the keyring holds
  ``KEY:SECRET``, the engine goes live and a new assignment arrives, Test connection, sign
  out (the ledger is deleted with the token).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from engine_keyring import MemoryKeyring, installed_memory_keyring
from frappe_support import SiteUnderTest
from pytestqt.qtbot import QtBot
from test_app_e2e import until
from test_settings_dialog import ALICE, SERVER, FakeBackend, Runner, click, make_dialog
from test_settings_dialog import run as run
from test_settings_dialog_live import click as press
from test_settings_dialog_live import live_controller

from notifier.compose import frappe_ledger_file
from notifier.core.settings import BackendKind, HelpdeskChoice, Settings
from notifier.core.status import ConnectionState
from notifier.core.wire import QuietRange
from notifier.store.secrets import SERVICE
from notifier.store.settings_file import load_settings
from notifier.ui.helpdesk_kind import NO_SERVER_PREFERENCES
from notifier.ui.schedule_editor import ScheduleEditor
from notifier.ui.settings_dialog import TAB_ACCOUNT, TAB_EMAIL, SettingsDialog

TIMEOUT_S = 20
FRAPPE = Settings(
    server_url=SERVER,
    backend=BackendKind.FRAPPE,
    frappe_site_name="hd.example.com",
    frappe_socketio_url="http://127.0.0.1:9000",
)


def choose_frappe(dialog: SettingsDialog) -> None:
    box = dialog.helpdesk_kind
    box.kind.setCurrentIndex(box.kind.findData(BackendKind.FRAPPE))


# --------------------------------------------------------------------------- offscreen, fake


def test_choosing_frappe_shows_the_site_fields_and_the_key_and_secret(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, FakeBackend())
    box = dialog.helpdesk_kind
    assert box.current() is BackendKind.REFERENCE
    assert not box.frappe_group.isVisible()
    dialog.use_token.setChecked(True)
    assert dialog.credentials.currentWidget() is not box.key_page  # the one-token field

    choose_frappe(dialog)
    assert box.frappe_group.isVisible()
    assert dialog.use_token.text() == "API key and secret"
    assert dialog.credentials.currentWidget() is box.key_page
    assert box.api_secret.echoMode() is box.api_secret.EchoMode.Password
    dialog.use_password.setChecked(True)  # a Frappe username and password work too
    assert dialog.credentials.currentIndex() == 0


def test_the_dialog_shows_saved_frappe_settings(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, FakeBackend(FRAPPE.replace(frappe_time_zone="Asia/Kolkata")))
    box = dialog.helpdesk_kind
    assert box.current() is BackendKind.FRAPPE and box.frappe_group.isVisible()
    assert (box.site_name.text(), box.socketio_url.text(), box.time_zone.text()) == (
        "hd.example.com",
        "http://127.0.0.1:9000",
        "Asia/Kolkata",
    )
    assert box.api_secret.text() == ""  # a secret is never shown back


def test_signing_in_with_a_key_and_secret_passes_the_choice_on(
    qtbot: QtBot, run: Runner[Any]
) -> None:
    backend = FakeBackend()
    backend.tokens["k3y:s3cret"] = ALICE
    dialog = make_dialog(qtbot, backend)
    dialog.server_url.setText(SERVER)
    choose_frappe(dialog)
    box = dialog.helpdesk_kind
    box.site_name.setText("hd.example.com")
    box.socketio_url.setText("http://127.0.0.1:9000/")
    dialog.use_token.setChecked(True)
    click(qtbot, dialog.sign_in_button)
    assert dialog.account_status.text() == "Enter the API key and secret first."
    assert backend.calls == []

    async def scenario() -> None:
        box.api_key.setText(" k3y ")
        box.api_secret.setText("s3cret")
        click(qtbot, dialog.sign_in_button)
        await dialog.idle()

    run(scenario())
    assert backend.calls[0] == ("sign_in_token", SERVER, "k3y:s3cret")
    assert backend.helpdesks[0] == HelpdeskChoice(
        BackendKind.FRAPPE, "hd.example.com", "http://127.0.0.1:9000", None
    )
    assert dialog.account_status.text() == "Signed in as Alice Agent."
    assert box.api_secret.text() == ""
    assert box.api_key.text() == " k3y "  # not a secret: kept for the next sign-in


def test_a_bad_site_field_is_named_next_to_it_and_nothing_is_sent(
    qtbot: QtBot, run: Runner[Any]
) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    dialog.server_url.setText(SERVER)
    choose_frappe(dialog)
    box = dialog.helpdesk_kind
    box.site_name.setText("not a site name!")
    box.time_zone.setText("Mars/Olympus")
    dialog.username.setText("alice")
    dialog.password.setText("correct horse")
    dialog.tabs.setCurrentIndex(TAB_EMAIL)
    click(qtbot, dialog.sign_in_button)
    assert backend.calls == []
    assert dialog.tabs.currentIndex() == TAB_ACCOUNT
    assert box.errors["frappe_site_name"].isVisible()
    assert "site name like" in box.errors["frappe_site_name"].text()
    assert box.errors["frappe_time_zone"].isVisible()
    assert not box.errors["frappe_socketio_url"].isVisible()

    dialog.accept()  # OK refuses the same way
    assert backend.saved == []
    box.site_name.setText("")
    box.time_zone.setText("")

    async def scenario() -> None:
        click(qtbot, dialog.sign_in_button)
        await dialog.idle()

    run(scenario())
    assert backend.calls[0] == ("sign_in_password", SERVER, "alice", "correct horse")
    assert backend.helpdesks[0] == HelpdeskChoice(BackendKind.FRAPPE)
    assert not box.errors["frappe_site_name"].isVisible()


def test_ok_saves_the_kind_and_the_site_fields(qtbot: QtBot) -> None:
    backend = FakeBackend(Settings(server_url=SERVER))
    dialog = make_dialog(qtbot, backend)
    choose_frappe(dialog)
    dialog.helpdesk_kind.site_name.setText("hd.example.com")
    dialog.helpdesk_kind.socketio_url.setText("http://127.0.0.1:9000")
    dialog.accept()
    assert backend.saved == [FRAPPE]

    # Back to the project's own helpdesk: the kind changes, the site's fields stay as typed.
    dialog.show()
    box = dialog.helpdesk_kind
    box.kind.setCurrentIndex(box.kind.findData(BackendKind.REFERENCE))
    dialog.accept()
    assert backend.saved[-1] == FRAPPE.replace(backend=BackendKind.REFERENCE)


def opened_and_idle(qtbot: QtBot, backend: FakeBackend, run: Runner[Any]) -> SettingsDialog:
    """The dialog opened on the loop (opening loads the e-mail preferences), then idle."""

    async def scenario() -> SettingsDialog:
        dialog = make_dialog(qtbot, backend)
        await dialog.idle()
        return dialog

    dialog: SettingsDialog = run(scenario())
    return dialog


def test_the_email_tab_says_why_it_is_off_for_frappe(qtbot: QtBot, run: Runner[Any]) -> None:
    backend = FakeBackend(FRAPPE, agent=ALICE)
    dialog = opened_and_idle(qtbot, backend, run)
    assert dialog.email_unsupported.text() == NO_SERVER_PREFERENCES
    assert not dialog.email_unsupported.isHidden()
    assert not dialog.email_enabled.isEnabled()
    assert not dialog.email_load_button.isEnabled()  # OK saves; nothing to load
    assert not dialog.email_load_button.isEnabled()
    assert ("load_preferences",) not in backend.calls  # a Frappe site has none to load

    # The project's own helpdesk: the tab works as before.
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    dialog = opened_and_idle(qtbot, backend, run)
    assert dialog.email_unsupported.isHidden()
    assert dialog.email_enabled.isEnabled()
    assert ("load_preferences",) in backend.calls


def test_the_email_tab_does_not_say_frappe_keeps_its_settings(
    qtbot: QtBot, run: Runner[Any]
) -> None:
    # Signed in to a Frappe site, the tab said both "These settings are kept on the helpdesk
    # ... OK saves them there" and that Frappe keeps none.
    dialog = opened_and_idle(qtbot, FakeBackend(FRAPPE, agent=ALICE), run)
    dialog.tabs.setCurrentIndex(TAB_EMAIL)
    assert dialog.email_unsupported.isVisible()
    assert not dialog.email_kept_note.isVisible()

    # The project's own helpdesk keeps them: the note is there, the Frappe one is not.
    dialog = opened_and_idle(qtbot, FakeBackend(Settings(server_url=SERVER), agent=ALICE), run)
    dialog.tabs.setCurrentIndex(TAB_EMAIL)
    assert dialog.email_kept_note.isVisible()
    assert not dialog.email_unsupported.isVisible()


def test_choosing_frappe_signed_out_turns_the_email_tab_off(qtbot: QtBot, run: Runner[Any]) -> None:
    # Signed out, with Frappe Helpdesk chosen as the kind, the tab still said "Sign in on the
    # Account tab to see and change these settings": there will never be any to change.
    dialog = opened_and_idle(qtbot, FakeBackend(Settings(server_url=SERVER)), run)
    dialog.tabs.setCurrentIndex(TAB_EMAIL)
    assert dialog.email_sign_in_first.isVisible()
    choose_frappe(dialog)
    assert dialog.email_unsupported.isVisible()
    assert not dialog.email_sign_in_first.isVisible()
    assert not dialog.email_kept_note.isVisible()
    box = dialog.helpdesk_kind
    box.kind.setCurrentIndex(box.kind.findData(BackendKind.REFERENCE))  # and back
    assert dialog.email_sign_in_first.isVisible()
    assert dialog.email_kept_note.isVisible()
    assert not dialog.email_unsupported.isVisible()


# --------------------------------------------------------------------------- live, stand-in


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_memory_keyring() as backend:
        yield backend


@pytest.mark.asyncio
async def test_signing_in_to_a_frappe_site_through_the_dialog(
    qtbot: QtBot,
    standin_site: SiteUnderTest,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standin, driver = standin_site.standin, standin_site.driver
    assert standin is not None
    ann, bea = driver.create_user("Ann Adams"), driver.create_user("Bea Baker")
    controller, cache, settings_file = live_controller(tmp_path)
    dialog = SettingsDialog(controller.account, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()
    box = dialog.helpdesk_kind
    try:
        async with asyncio.timeout(TIMEOUT_S):
            dialog.server_url.setText(standin.url)
            choose_frappe(dialog)
            box.site_name.setText(standin.name)
            box.socketio_url.setText(standin.socketio_url)
            dialog.use_token.setChecked(True)
            box.api_key.setText(bea.api_key)
            box.api_secret.setText("not-the-secret")
            press(dialog.sign_in_button)
            await dialog.idle()
            assert "refused" in dialog.account_status.text()
            assert memory_keyring.entries == {}

            box.api_secret.setText(bea.api_secret)
            press(dialog.sign_in_button)
            await dialog.idle()
            await dialog.idle()
            assert dialog.agent_label.text() == f"Bea Baker ({bea.email})"
            assert memory_keyring.entries == {
                (SERVICE, standin.url): f"{bea.api_key}:{bea.api_secret}"
            }
            saved = load_settings(settings_file)
            assert (saved.backend, saved.frappe_site_name, saved.frappe_socketio_url) == (
                BackendKind.FRAPPE,
                standin.name,
                standin.socketio_url,
            )
            assert not dialog.email_unsupported.isHidden()  # no preferences on Frappe

            # The engine the sign-in started is live on the site: an assignment arrives.
            live = ConnectionState.LIVE
            await until(controller.statusChanged, lambda: controller.status.state is live, "live")
            ticket = await asyncio.to_thread(driver.create_ticket, "Printer on fire")
            await asyncio.to_thread(driver.as_user(ann).assign, ticket, bea.email)
            await until(controller.unreadChanged, lambda: cache.count() == 1, "the assignment")
            (notification,) = cache.all_notifications()
            assert notification.ticket.subject == "Printer on fire"
            ledger = frappe_ledger_file(cache.path)
            assert ledger.exists()

            press(dialog.test_button)
            await dialog.idle()
            assert dialog.account_status.text() == "Connected as Bea Baker"

            # Quiet hours stay in the tray: a Frappe site has no preferences to copy them to
            # (sending them would fail with 501 in the background).
            nights = (QuietRange(0, "22:00", "07:00"),)
            controller.account.save_settings(
                controller.account.settings().replace(quiet_hours=nights)
            )

            press(dialog.sign_out_button)
            await dialog.idle()
            assert dialog.agent_label.text() == "Not signed in"
            assert memory_keyring.entries == {}
            assert not ledger.exists()  # the agent's notifications leave with the token
            assert cache.count() == 0
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await controller.stop()  # also waits for the account's background saves
        cache.close()
    assert "saving the quiet hours on the helpdesk failed" not in caplog.text
    assert load_settings(settings_file).quiet_hours == nights


@pytest.mark.asyncio
async def test_test_connection_names_a_socketio_url_where_nothing_answers(
    qtbot: QtBot, standin_site: SiteUnderTest, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    # The site answers, so the sign-in works, but nothing answers at the socket.io URL: the
    # tray never goes live, and Test connection said "Connected as Bea Baker".
    standin = standin_site.standin
    assert standin is not None
    bea = standin_site.driver.create_user("Bea Baker")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nothing_there = f"http://127.0.0.1:{probe.getsockname()[1]}"
    controller, cache, _settings_file = live_controller(tmp_path)
    dialog = SettingsDialog(controller.account, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()
    box = dialog.helpdesk_kind
    try:
        async with asyncio.timeout(TIMEOUT_S):
            dialog.server_url.setText(standin.url)
            choose_frappe(dialog)
            box.site_name.setText(standin.name)
            box.socketio_url.setText(nothing_there)
            dialog.use_token.setChecked(True)
            box.api_key.setText(bea.api_key)
            box.api_secret.setText(bea.api_secret)
            press(dialog.sign_in_button)
            await dialog.idle()
            assert dialog.agent_label.text() == f"Bea Baker ({bea.email})"

            press(dialog.test_button)
            await dialog.idle()
            status = dialog.account_status.text()
            assert status.startswith(
                "Signed in as Bea Baker, but live updates cannot connect: the socket.io server"
                " is unreachable ("
            ), status
            assert status.endswith(
                "Check the site name and the socket.io URL; `notifier doctor` says what to fix."
            )
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await controller.stop()
        cache.close()
