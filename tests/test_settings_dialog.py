"""The settings dialog and the quiet-hours editor, offscreen.

The dialog talks to the app only through ``SettingsBackend``; here a fake with that Protocol
stands in for the controller (its async calls can be held on a gate to see the dialog stay
responsive and disable its buttons). Async parts run on a real qasync loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import qasync
from PySide6.QtCore import Qt, QTime
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTimeEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from notifier.core.errors import AuthFailed, ConnectionLost
from notifier.core.settings import (
    BadgeStyle,
    HelpdeskChoice,
    LogLevel,
    Settings,
    SettingsError,
)
from notifier.core.wire import (
    AgentInfo,
    EmailFrequency,
    EmailPreferences,
    NotificationType,
    Preferences,
    QuietRange,
)
from notifier.ui.schedule_editor import ScheduleEditor
from notifier.ui.settings_dialog import (
    EMAIL_SIGN_IN_FIRST,
    SESSION_REFUSED,
    SIGN_IN_REFUSED,
    TAB_ACCOUNT,
    TAB_EMAIL,
    TAB_GENERAL,
    TAB_NOTIFICATIONS,
    SettingsBackend,
    SettingsDialog,
)

A, M, R = NotificationType.ASSIGNMENT, NotificationType.MENTION, NotificationType.REACTION
ALICE = AgentInfo("a1", "alice", "Alice Agent")
SERVER = "https://helpdesk.example.com"
TIMEOUT_S = 10
_T = TypeVar("_T")
Runner = Callable[[Coroutine[Any, Any, _T]], _T]


class FakeBackend:
    """SettingsBackend with in-memory state; ``gate`` (when set) holds every async call."""

    def __init__(self, settings: Settings | None = None, agent: AgentInfo | None = None) -> None:
        self._settings = settings or Settings()
        self.agent = agent
        self.saved: list[Settings] = []
        self.calls: list[tuple[object, ...]] = []
        self.helpdesks: list[HelpdeskChoice | None] = []  # what each account call was given
        self.gate: asyncio.Event | None = None
        self.passwords = {"alice": "correct horse"}
        self.tokens = {"tok-123": ALICE}
        self.preferences = Preferences(
            types=frozenset({A, M}),
            email=EmailPreferences(False, EmailFrequency.INSTANT, frozenset({A})),
            quiet_hours=(QuietRange(0, "20:00", "08:00"),),
            timezone="Europe/Berlin",
        )
        self.fail_next: BaseException | None = None
        self.save_error: BaseException | None = None
        self.autostart_error: Exception | None = None
        self.autostart: list[bool] = []
        self.log_folder_opened = 0
        self.server_override: str | None = None  # what --server / NOTIFIER_SERVER would set
        self.locked: frozenset[str] = frozenset()  # what a site file would lock
        self.zone: tzinfo = UTC  # the account's time zone for quiet hours

    async def _enter(self, *call: object) -> None:
        self.calls.append(call)
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)  # always yield: a real backend does I/O here
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error

    def settings(self) -> Settings:
        return self._settings

    @property
    def tz(self) -> tzinfo:
        return self.zone

    @property
    def server_url(self) -> str:
        return self.server_override or self._settings.server_url

    def save_settings(self, settings: Settings) -> None:
        if self.save_error is not None:
            raise self.save_error
        settings = settings.replace()
        self.saved.append(settings)
        self._settings = settings

    def set_paused_until(self, until: datetime) -> None:  # what the tray menu does
        self._settings = self._settings.replace(paused_until=until)

    async def sign_in_password(
        self,
        server_url: str,
        username: str,
        password: str,
        *,
        helpdesk: HelpdeskChoice | None = None,
    ) -> AgentInfo:
        await self._enter("sign_in_password", server_url, username, password)
        self.helpdesks.append(helpdesk)
        if self.passwords.get(username) != password:
            raise AuthFailed("invalid credentials", status=401, code="unauthorized")
        return self._signed_in(server_url, ALICE, helpdesk)

    async def sign_in_token(
        self, server_url: str, token: str, *, helpdesk: HelpdeskChoice | None = None
    ) -> AgentInfo:
        await self._enter("sign_in_token", server_url, token)
        self.helpdesks.append(helpdesk)
        if token not in self.tokens:
            raise AuthFailed("invalid token", status=401, code="unauthorized")
        return self._signed_in(server_url, self.tokens[token], helpdesk)

    def _signed_in(
        self, server_url: str, agent: AgentInfo, helpdesk: HelpdeskChoice | None
    ) -> AgentInfo:
        self.agent = agent
        self._settings = self._settings.replace(server_url=server_url)
        if helpdesk is not None:
            self._settings = helpdesk.applied_to(self._settings)
        return agent

    async def test_connection(
        self, server_url: str, *, helpdesk: HelpdeskChoice | None = None
    ) -> str:
        await self._enter("test_connection", server_url)
        self.helpdesks.append(helpdesk)
        return f"Connected as {self.agent.name}" if self.agent else "Not signed in yet."

    async def sign_out(self) -> None:
        await self._enter("sign_out")
        self.agent = None

    def signed_in_agent(self) -> AgentInfo | None:
        return self.agent

    async def load_preferences(self) -> Preferences:
        await self._enter("load_preferences")
        return self.preferences

    async def save_preferences(self, preferences: Preferences) -> Preferences:
        await self._enter("save_preferences", preferences)
        self.preferences = preferences
        return preferences

    def set_start_at_login(self, enabled: bool) -> None:
        if self.autostart_error is not None:
            raise self.autostart_error
        self.autostart.append(enabled)
        self._settings = self._settings.replace(start_at_login=enabled)

    def open_log_folder(self) -> None:
        self.log_folder_opened += 1

    def locked_settings(self) -> frozenset[str]:
        return self.locked


def _typed(backend: FakeBackend) -> SettingsBackend:
    return backend  # mypy checks the fake against the Protocol here


@pytest.fixture
def run(qapp: QApplication) -> Iterator[Runner[Any]]:
    """Run a coroutine on a qasync loop (Qt events are processed meanwhile), with a timeout."""
    loop = qasync.QEventLoop(qapp)

    def runner(coroutine: Coroutine[Any, Any, _T]) -> _T:
        async def bounded() -> _T:
            async with asyncio.timeout(TIMEOUT_S):
                return await coroutine

        result: _T = loop.run_until_complete(bounded())
        return result

    yield runner
    loop.close()


def make_dialog(qtbot: QtBot, backend: FakeBackend, *, show: bool = True) -> SettingsDialog:
    dialog = SettingsDialog(_typed(backend), schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    if show:  # laid out, so that clicks land on the buttons
        dialog.show()
    return dialog


def click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


CUSTOM = Settings(
    server_url=SERVER,
    proxy="http://proxy.example.com:3128",
    log_level=LogLevel.DEBUG,
    toast_types=frozenset({M}),
    sound=False,
    summary_after_quiet=False,
    badge_style=BadgeStyle.DOT,
    quiet_hours=(QuietRange(0, "22:00", "07:00"),),
    burst_threshold=5,
)


# --------------------------------------------------------------------------- round trip


def test_the_dialog_shows_the_settings(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, FakeBackend(CUSTOM))
    assert dialog.server_url.text() == SERVER
    assert dialog.proxy.text() == "http://proxy.example.com:3128"
    assert dialog.log_level.currentData() == LogLevel.DEBUG
    assert {t for t, box in dialog.type_boxes.items() if box.isChecked()} == {M}
    assert not dialog.sound.isChecked()
    assert not dialog.summary_after_quiet.isChecked()
    assert dialog.badge_style.currentData() == BadgeStyle.DOT
    assert dialog.burst_threshold.value() == 5
    assert dialog.schedule_editor.ranges() == (QuietRange(0, "22:00", "07:00"),)
    assert dialog.agent_label.text() == "Not signed in"


def test_accepting_unchanged_saves_the_same_settings(qtbot: QtBot) -> None:
    backend = FakeBackend(CUSTOM)
    dialog = make_dialog(qtbot, backend)
    dialog.accept()
    assert backend.saved == [CUSTOM]
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_edited_fields_round_trip_into_saved_settings(qtbot: QtBot, tmp_path: Path) -> None:
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    backend = FakeBackend(CUSTOM)
    dialog = make_dialog(qtbot, backend)
    dialog.server_url.setText("  http://127.0.0.1:8765/  ")
    dialog.proxy.setText("")
    dialog.ca_bundle.setText(str(bundle))
    dialog.type_boxes[A].setChecked(True)
    dialog.type_boxes[M].setChecked(False)
    dialog.sound.setChecked(True)
    dialog.summary_after_quiet.setChecked(True)
    dialog.burst_threshold.setValue(9)
    dialog.badge_style.setCurrentIndex(dialog.badge_style.findData(BadgeStyle.COUNT))
    dialog.log_level.setCurrentIndex(dialog.log_level.findData(LogLevel.WARNING))
    dialog.schedule_editor.add_range(QuietRange(5, "00:00", "00:00"))
    backend.set_paused_until(datetime(2026, 1, 5, 9, tzinfo=UTC))  # from the tray meanwhile
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Ok))
    assert backend.saved == [
        dataclasses.replace(
            CUSTOM,
            server_url="http://127.0.0.1:8765",
            proxy=None,
            ca_bundle=str(bundle),
            toast_types=frozenset({A}),
            sound=True,
            summary_after_quiet=True,
            burst_threshold=9,
            badge_style=BadgeStyle.COUNT,
            log_level=LogLevel.WARNING,
            quiet_hours=(QuietRange(0, "22:00", "07:00"), QuietRange(5, "00:00", "00:00")),
            paused_until=datetime(2026, 1, 5, 9, tzinfo=UTC),
        )
    ]
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_toasts_off_disables_their_options_and_saves(qtbot: QtBot) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    dialog.toasts_enabled.setChecked(False)
    assert not dialog.sound.isEnabled() and not dialog.type_boxes[A].isEnabled()
    dialog.accept()
    assert backend.saved[-1].toasts_enabled is False


def test_toasts_off_greys_out_the_summary_after_quiet_hours_and_the_labels(
    qtbot: QtBot,
) -> None:
    # The summary after quiet hours is a toast, yet its box stayed on with toasts off, and
    # the "Notify me about:" and "Summarise more than:" labels stayed black by greyed fields.
    dialog = make_dialog(qtbot, FakeBackend())
    tab = dialog.tabs.widget(TAB_NOTIFICATIONS)
    labels = {label.text(): label for label in tab.findChildren(QLabel) if label.text()}
    toast_only = [dialog.summary_after_quiet, labels["Notify me about:"]]
    toast_only.append(labels["Summarise more than:"])
    assert all(widget.isEnabled() for widget in toast_only)
    dialog.toasts_enabled.setChecked(False)
    assert not any(widget.isEnabled() for widget in toast_only)
    dialog.toasts_enabled.setChecked(True)
    assert all(widget.isEnabled() for widget in toast_only)


def test_reopening_shows_saved_values_not_cancelled_edits(qtbot: QtBot) -> None:
    backend = FakeBackend(CUSTOM)
    dialog = make_dialog(qtbot, backend)
    dialog.server_url.setText("https://typed-but-cancelled.example.com")
    dialog.reject()
    dialog.show()
    assert dialog.server_url.text() == SERVER
    assert backend.saved == []


# --------------------------------------------------------------------------- refusals


def test_an_invalid_server_url_shows_the_reason_and_does_not_save(qtbot: QtBot) -> None:
    backend = FakeBackend(CUSTOM)
    dialog = make_dialog(qtbot, backend)
    dialog.tabs.setCurrentIndex(TAB_NOTIFICATIONS)
    dialog.server_url.setText("ftp://helpdesk.example.com")
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Ok))
    assert backend.saved == []
    assert dialog.isVisible()
    assert dialog.tabs.currentIndex() == TAB_ACCOUNT
    assert dialog.server_url_error.isVisible()
    assert "https://" in dialog.server_url_error.text()
    dialog.server_url.setText("https://helpdesk.example.com")
    dialog.accept()
    assert not dialog.server_url_error.isVisible()
    assert [s.server_url for s in backend.saved] == ["https://helpdesk.example.com"]


def test_every_bad_field_gets_its_reason(qtbot: QtBot, tmp_path: Path) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    dialog.proxy.setText("proxy.example.com:3128")
    dialog.ca_bundle.setText(str(tmp_path / "missing.pem"))
    dialog.accept()
    assert backend.saved == []
    assert dialog.tabs.currentIndex() == TAB_GENERAL
    assert "socks5://" in dialog.proxy_error.text() and dialog.proxy_error.isVisible()
    assert "no file at" in dialog.ca_bundle_error.text()
    assert str(tmp_path / "missing.pem") in dialog.ca_bundle_error.text()
    assert not dialog.server_url_error.isVisible()


def test_a_refusal_from_the_backend_is_shown_at_its_field(qtbot: QtBot) -> None:
    backend = FakeBackend()
    backend.save_error = SettingsError("burst_threshold", "is too high for this helpdesk")
    dialog = make_dialog(qtbot, backend)
    dialog.accept()
    assert dialog.isVisible()
    assert dialog.tabs.currentIndex() == TAB_NOTIFICATIONS
    assert dialog.burst_threshold_error.text() == "is too high for this helpdesk"


def test_a_failed_write_is_reported_and_the_dialog_stays(qtbot: QtBot) -> None:
    backend = FakeBackend()
    backend.save_error = PermissionError("read-only folder")
    dialog = make_dialog(qtbot, backend)
    dialog.accept()
    assert dialog.isVisible()
    assert "read-only folder" in dialog.save_error.text()


# --------------------------------------------------------------------------- account


def test_sign_in_with_password_runs_without_blocking_and_shows_the_agent(
    qtbot: QtBot, run: Runner[None]
) -> None:
    backend = FakeBackend(Settings())
    dialog = make_dialog(qtbot, backend)
    assert dialog.password.echoMode() == QLineEdit.EchoMode.Password

    async def scenario() -> None:
        backend.gate = asyncio.Event()
        dialog.server_url.setText(SERVER + "/")
        dialog.username.setText("alice")
        dialog.password.setText("correct horse")
        click(qtbot, dialog.sign_in_button)
        await asyncio.sleep(0.01)  # the loop (and Qt) keep running while the call waits
        assert dialog.busy()
        assert dialog.account_status.text() == "Signing in…"
        assert not dialog.sign_in_button.isEnabled()
        assert not dialog.test_button.isEnabled()
        assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
        backend.gate.set()
        await dialog.idle()

    run(scenario())
    assert backend.calls[0] == ("sign_in_password", SERVER, "alice", "correct horse")
    assert dialog.agent_label.text() == "Alice Agent (alice)"
    assert dialog.account_status.text() == "Signed in as Alice Agent."
    assert dialog.password.text() == ""
    # Signed in: the sign-in fields close, switching and signing out are offered.
    assert not dialog.sign_in_button.isEnabled() and not dialog.username.isEnabled()
    assert dialog.switch_button.isEnabled() and dialog.sign_out_button.isEnabled()
    # the signed-in agent's email preferences were loaded next
    assert ("load_preferences",) in backend.calls
    assert dialog.email_enabled.isEnabled()


def test_wrong_credentials_are_reported_and_the_buttons_come_back(
    qtbot: QtBot, run: Runner[None]
) -> None:
    backend = FakeBackend(Settings(server_url=SERVER))
    dialog = make_dialog(qtbot, backend)

    async def scenario() -> None:
        dialog.username.setText("alice")
        dialog.password.setText("wrong")
        click(qtbot, dialog.sign_in_button)
        await dialog.idle()

    run(scenario())
    assert dialog.account_status.text() == SIGN_IN_REFUSED
    assert dialog.agent_label.text() == "Not signed in"
    assert dialog.sign_in_button.isEnabled()
    assert not dialog.sign_out_button.isEnabled()


def test_sign_in_with_a_token_that_is_never_shown_back(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER))
    dialog = make_dialog(qtbot, backend)
    assert dialog.token.echoMode() == QLineEdit.EchoMode.Password

    async def scenario() -> None:
        dialog.use_token.setChecked(True)
        assert dialog.credentials.currentIndex() == 1
        dialog.token.setText("  tok-123 ")
        click(qtbot, dialog.sign_in_button)
        await dialog.idle()

    run(scenario())
    assert backend.calls[0] == ("sign_in_token", SERVER, "tok-123")
    assert dialog.agent_label.text() == "Alice Agent (alice)"
    assert dialog.token.text() == ""
    dialog.load(backend.settings())
    assert dialog.token.text() == ""


def test_sign_in_refuses_a_bad_url_without_calling_the_backend(qtbot: QtBot) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    dialog.server_url.setText("helpdesk.example.com")
    dialog.username.setText("alice")
    dialog.password.setText("correct horse")
    click(qtbot, dialog.sign_in_button)
    assert backend.calls == []
    assert "https://" in dialog.server_url_error.text()
    dialog.server_url.setText("")
    click(qtbot, dialog.sign_in_button)
    assert "helpdesk address" in dialog.server_url_error.text()
    assert not dialog.busy()


def test_missing_credentials_are_asked_for(qtbot: QtBot) -> None:
    backend = FakeBackend(Settings(server_url=SERVER))
    dialog = make_dialog(qtbot, backend)
    click(qtbot, dialog.sign_in_button)
    assert dialog.account_status.text() == "Enter your user name and password first."
    dialog.use_token.setChecked(True)
    click(qtbot, dialog.sign_in_button)
    assert dialog.account_status.text() == "Paste an API token first."
    assert backend.calls == []


def test_test_connection_shows_the_backends_words(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    dialog = make_dialog(qtbot, backend)

    async def scenario() -> None:
        click(qtbot, dialog.test_button)
        await dialog.idle()

    run(scenario())
    assert dialog.account_status.text() == "Connected as Alice Agent"
    assert backend.calls[0] == ("test_connection", SERVER)


def test_a_connection_error_is_shown_in_words(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    backend.fail_next = ConnectionLost("server unreachable")
    dialog = make_dialog(qtbot, backend)

    async def scenario() -> None:
        click(qtbot, dialog.test_button)
        await dialog.idle()

    run(scenario())
    assert dialog.account_status.text() == "server unreachable"


def test_a_refused_session_is_not_called_wrong_credentials(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    backend.fail_next = AuthFailed("token revoked", status=401)
    dialog = make_dialog(qtbot, backend)

    async def scenario() -> None:
        click(qtbot, dialog.test_button)
        await dialog.idle()

    run(scenario())
    assert dialog.account_status.text() == SESSION_REFUSED


def test_sign_out(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    dialog = make_dialog(qtbot, backend)
    assert dialog.agent_label.text() == "Alice Agent (alice)"

    async def scenario() -> None:
        click(qtbot, dialog.sign_out_button)
        await dialog.idle()

    run(scenario())
    assert backend.calls == [("sign_out",)]
    assert backend.agent is None
    assert dialog.agent_label.text() == "Not signed in"
    assert not dialog.sign_out_button.isEnabled()
    assert not dialog.email_enabled.isEnabled()
    # Signed out: the sign-in fields are open again.
    assert dialog.sign_in_button.isEnabled() and dialog.username.isEnabled()
    assert not dialog.server_url.isReadOnly()
    assert not dialog.switch_button.isVisibleTo(dialog)


def test_signed_in_the_account_tab_shows_the_helpdesk_and_the_agent(qtbot: QtBot) -> None:
    """The reported case: an empty helpdesk field under "Signed in: Alice" (the helpdesk came
    from NOTIFIER_SERVER, not the settings), with the sign-in fields still active."""
    backend = FakeBackend(Settings(), agent=ALICE)
    backend.server_override = "http://127.0.0.1:8765"
    dialog = make_dialog(qtbot, backend)
    assert dialog.server_url.text() == "http://127.0.0.1:8765"
    assert dialog.server_url.isReadOnly()
    assert dialog.agent_label.text() == "Alice Agent (alice)"
    for field in (dialog.username, dialog.password, dialog.use_token, dialog.sign_in_button):
        assert not field.isEnabled()
    assert dialog.switch_button.isEnabled() and dialog.sign_out_button.isEnabled()
    # OK keeps the settings' helpdesk as it was: the override is not written into them.
    dialog.accept()
    assert backend.saved[-1].server_url == ""


def test_switch_account_opens_the_sign_in_fields_and_keep_closes_them(
    qtbot: QtBot, run: Runner[None]
) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    backend.tokens["tok-bob"] = AgentInfo("a2", "bob", "Bob Builder")
    dialog = make_dialog(qtbot, backend)
    click(qtbot, dialog.switch_button)
    assert not dialog.server_url.isReadOnly()
    assert dialog.username.isEnabled() and dialog.sign_in_button.isEnabled()
    assert dialog.keep_account_button.isVisibleTo(dialog)
    assert not dialog.switch_button.isEnabled()
    # Changed their mind: everything as it was.
    dialog.server_url.setText("https://elsewhere.example.com")
    click(qtbot, dialog.keep_account_button)
    assert dialog.server_url.text() == SERVER and dialog.server_url.isReadOnly()
    assert not dialog.sign_in_button.isEnabled()
    # Switch for real: another agent's token.
    click(qtbot, dialog.switch_button)

    async def scenario() -> None:
        dialog.use_token.setChecked(True)
        dialog.token.setText("tok-bob")
        click(qtbot, dialog.sign_in_button)
        await dialog.idle()

    run(scenario())
    assert dialog.agent_label.text() == "Bob Builder (bob)"
    assert not dialog.sign_in_button.isEnabled()
    assert not dialog.keep_account_button.isVisibleTo(dialog)


def test_names_from_the_helpdesk_are_plain_text(qtbot: QtBot) -> None:
    backend = FakeBackend(agent=AgentInfo("a9", "eve", "<b>Eve</b> <img src=x>"))
    dialog = make_dialog(qtbot, backend)
    assert dialog.agent_label.textFormat() == Qt.TextFormat.PlainText
    assert dialog.agent_label.text() == "<b>Eve</b> <img src=x> (eve)"


# --------------------------------------------------------------------------- email


def test_email_preferences_load_on_open_and_save(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    dialog = make_dialog(qtbot, backend, show=False)
    assert not dialog.email_enabled.isEnabled()  # nothing loaded yet

    async def load() -> None:
        dialog.show()
        await dialog.idle()

    run(load())
    assert dialog.email_enabled.isEnabled()
    assert not dialog.email_enabled.isChecked()
    assert dialog.email_frequency.currentData() == EmailFrequency.INSTANT
    assert {t for t, box in dialog.email_type_boxes.items() if box.isChecked()} == {A}

    async def save() -> None:
        dialog.email_enabled.setChecked(True)
        dialog.email_frequency.setCurrentIndex(
            dialog.email_frequency.findData(EmailFrequency.DAILY_DIGEST)
        )
        dialog.email_type_boxes[R].setChecked(True)
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Ok))  # the one way
        await dialog.idle()

    before = backend.preferences
    assert dialog.in_app.isChecked() and dialog.comment_reactions.isChecked()
    dialog.comment_reactions.setChecked(False)
    run(save())
    assert backend.preferences == dataclasses.replace(
        before,
        email=EmailPreferences(True, EmailFrequency.DAILY_DIGEST, frozenset({A, R})),
        comment_reactions=False,
    )  # the server-side types, quiet hours and time zone went back as loaded
    assert backend.saved == [Settings(server_url=SERVER)]  # the client settings, unchanged
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    # No second way to save: the tab has no save button of its own.
    assert [b.text() for b in dialog.tabs.widget(TAB_EMAIL).findChildren(QPushButton)] == [
        "Reload from the helpdesk"
    ]


def test_ok_without_email_edits_does_not_call_the_helpdesk(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    dialog = make_dialog(qtbot, backend, show=False)

    async def scenario() -> None:
        dialog.show()
        await dialog.idle()
        dialog.sound.setChecked(False)
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Ok))
        await dialog.idle()

    run(scenario())
    assert [call[0] for call in backend.calls] == ["load_preferences"]
    assert backend.saved[-1].sound is False
    assert not dialog.isVisible()


def test_a_refused_email_save_keeps_the_dialog_open_and_saves_nothing(
    qtbot: QtBot, run: Runner[None]
) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    dialog = make_dialog(qtbot, backend, show=False)

    async def scenario() -> None:
        dialog.show()
        await dialog.idle()
        dialog.email_enabled.setChecked(True)
        dialog.sound.setChecked(False)
        backend.fail_next = ConnectionLost("the helpdesk did not answer")
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Ok))
        await dialog.idle()

    run(scenario())
    assert dialog.isVisible()
    assert dialog.tabs.currentIndex() == TAB_EMAIL
    assert dialog.email_status.text() == "the helpdesk did not answer"
    assert backend.saved == []  # nothing half-saved: the client settings wait for OK too
    assert dialog.email_enabled.isChecked()  # the edit is still there to try again


def test_email_fields_the_tab_does_not_show_go_back_as_loaded(
    qtbot: QtBot, run: Runner[None]
) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    backend.preferences = dataclasses.replace(
        backend.preferences,
        email=EmailPreferences(
            True,
            EmailFrequency.HOURLY_DIGEST,
            frozenset({A}),
            digest_time="18:30",
            only_when_disconnected=False,
        ),
    )
    dialog = make_dialog(qtbot, backend, show=False)

    async def load_and_save() -> None:
        dialog.show()
        await dialog.idle()
        assert dialog.email_frequency.currentText() == "Hourly digest"
        dialog.email_type_boxes[M].setChecked(True)
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Ok))
        await dialog.idle()

    run(load_and_save())
    saved = backend.preferences.email
    assert saved.frequency is EmailFrequency.HOURLY_DIGEST and saved.types == {A, M}
    assert (saved.digest_time, saved.only_when_disconnected) == ("18:30", False)


def test_email_load_failure_is_shown_and_editing_stays_off(qtbot: QtBot, run: Runner[None]) -> None:
    backend = FakeBackend(Settings(server_url=SERVER), agent=ALICE)
    backend.fail_next = ConnectionLost("the helpdesk did not answer")
    dialog = make_dialog(qtbot, backend)

    async def scenario() -> None:
        click(qtbot, dialog.email_load_button)
        await dialog.idle()

    run(scenario())
    assert dialog.email_status.text() == "the helpdesk did not answer"
    assert not dialog.email_enabled.isEnabled()
    assert not dialog.in_app.isEnabled()
    assert dialog.email_load_button.isEnabled()


# --------------------------------------------------------------------------- general


def test_start_at_login_acts_at_once(qtbot: QtBot) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    click_box = dialog.start_at_login
    QTest.mouseClick(click_box, Qt.MouseButton.LeftButton)
    assert backend.autostart == [True]
    assert click_box.isChecked()
    dialog.accept()
    assert backend.saved[-1].start_at_login is True


def test_start_at_login_failure_reverts_and_explains(qtbot: QtBot) -> None:
    backend = FakeBackend()
    backend.autostart_error = PermissionError("the autostart folder cannot be written")
    dialog = make_dialog(qtbot, backend)
    QTest.mouseClick(dialog.start_at_login, Qt.MouseButton.LeftButton)
    assert not dialog.start_at_login.isChecked()
    assert dialog.start_at_login_error.text() == "the autostart folder cannot be written"


def test_open_log_folder(qtbot: QtBot) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    click(qtbot, dialog.open_logs_button)
    assert backend.log_folder_opened == 1


def test_quiet_hours_are_edited_in_the_accounts_time_zone(qtbot: QtBot) -> None:
    # The tray reads quiet hours in the account's zone; the editor must show and preview
    # them in that zone, not the computer's.
    backend = FakeBackend()
    backend.zone = ZoneInfo("Pacific/Auckland")
    dialog = SettingsDialog(_typed(backend))
    qtbot.addWidget(dialog)
    assert "(Pacific/Auckland)" in dialog.schedule_editor.hint.text()


# --------------------------------------------------------------------------- schedule editor


def widgets(
    editor: ScheduleEditor, row: int
) -> tuple[QComboBox, QTimeEdit, QTimeEdit, QPushButton]:
    return editor.row_widgets(row)


def test_schedule_editor_round_trips_ranges(qtbot: QtBot) -> None:
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.show()
    ranges = (QuietRange(0, "22:00", "07:00"), QuietRange(6, "00:00", "00:00"))
    editor.set_ranges(ranges)
    assert editor.ranges() == ranges
    day, start, end, _ = widgets(editor, 1)
    assert (day.currentText(), start.text(), end.text()) == ("Sunday", "00:00", "00:00")


def test_schedule_editor_edits_adds_and_removes(qtbot: QtBot) -> None:
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.show()
    editor.set_ranges([QuietRange(0, "22:00", "07:00")])
    with qtbot.waitSignal(editor.changed):
        click(qtbot, editor.add_button)
    assert editor.ranges()[1] == QuietRange(1, "22:00", "07:00")
    day, start, end, _ = widgets(editor, 1)
    with qtbot.waitSignal(editor.changed):
        day.setCurrentIndex(4)
    start.setTime(QTime(18, 30))
    end.setTime(QTime(6, 15))
    assert editor.ranges() == (QuietRange(0, "22:00", "07:00"), QuietRange(4, "18:30", "06:15"))
    _, _, _, remove_first = widgets(editor, 0)
    with qtbot.waitSignal(editor.changed):
        click(qtbot, remove_first)
    assert editor.ranges() == (QuietRange(4, "18:30", "06:15"),)
    click(qtbot, editor.weeknights_button)
    assert editor.ranges() == tuple(QuietRange(d, "22:00", "07:00") for d in range(5))
    click(qtbot, editor.clear_button)
    assert editor.ranges() == ()


def test_schedule_editor_previews_against_the_clock(qtbot: QtBot) -> None:
    monday_23 = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
    now = [monday_23]
    editor = ScheduleEditor(UTC, now=lambda: now[0])
    qtbot.addWidget(editor)
    assert editor.preview.text() == "No quiet hours."
    editor.set_ranges([QuietRange(0, "22:00", "07:00")])
    assert editor.preview.text() == "Quiet now: quiet hours until 07:00."
    now[0] = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
    editor.add_range(QuietRange(3, "09:00", "10:00"))
    assert editor.preview.text() == "Next quiet hours: Thursday 09:00."


def test_the_dialog_saves_what_the_editor_holds(qtbot: QtBot) -> None:
    backend = FakeBackend()
    dialog = make_dialog(qtbot, backend)
    click(qtbot, dialog.schedule_editor.weeknights_button)
    dialog.accept()
    assert backend.saved[-1].quiet_hours == tuple(QuietRange(d, "22:00", "07:00") for d in range(5))


LONG_URL = "https://helpdesk.support-team-of-a-very-long-company-name.example.com/helpdesk/site"


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_long_helpdesk_address_shows_from_its_start(qtbot: QtBot, signed_in: bool) -> None:
    # setText left the cursor at the end, so the field showed "…example.com/helpdesk/site"
    # and hid which helpdesk it was.
    backend = FakeBackend(Settings(server_url=LONG_URL), agent=ALICE if signed_in else None)
    dialog = make_dialog(qtbot, backend)
    field = dialog.server_url
    metrics = field.fontMetrics()
    assert metrics.horizontalAdvance(LONG_URL) > field.width()  # too long to show whole
    # The first character is drawn at the left of the field's text area.
    assert field.cursorPosition() == 0
    assert field.cursorRect().left() < metrics.horizontalAdvance("https://")
    if signed_in:  # "Switch account…" then "Keep this account" shows it the same way
        click(qtbot, dialog.switch_button)
        field.setCursorPosition(len(LONG_URL))
        click(qtbot, dialog.keep_account_button)
        assert field.cursorPosition() == 0


def test_signed_out_the_email_tab_says_to_sign_in_first(qtbot: QtBot, run: Runner[None]) -> None:
    # Signed out, every field was greyed out with no reason given, next to an enabled
    # "Reload from the helpdesk" that could only fail.
    backend = FakeBackend(Settings(server_url=SERVER))
    dialog = make_dialog(qtbot, backend)
    dialog.tabs.setCurrentIndex(TAB_EMAIL)
    assert not dialog.email_enabled.isEnabled()
    assert dialog.email_sign_in_first.isVisible()
    assert dialog.email_sign_in_first.text() == EMAIL_SIGN_IN_FIRST
    assert not dialog.email_load_button.isEnabled()

    async def sign_in() -> None:
        dialog.tabs.setCurrentIndex(TAB_ACCOUNT)
        dialog.username.setText("alice")
        dialog.password.setText("correct horse")
        click(qtbot, dialog.sign_in_button)
        while dialog.busy() or not dialog.email_enabled.isEnabled():  # then the email load
            await dialog.idle()
            await asyncio.sleep(0.01)

    run(sign_in())
    dialog.tabs.setCurrentIndex(TAB_EMAIL)
    assert not dialog.email_sign_in_first.isVisible()
    assert dialog.email_load_button.isEnabled()
    assert dialog.email_enabled.isEnabled()


def tab_through(qtbot: QtBot, dialog: SettingsDialog, first: QWidget, presses: int) -> list[str]:
    """The accessible names (or texts) of the widgets Tab reaches from ``first``, in order."""
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=2000)
    first.setFocus()
    reached = []
    for _ in range(presses):
        widget = QApplication.focusWidget()
        assert widget is not None
        name = widget.accessibleName() or getattr(widget, "text", lambda: "")()
        reached.append(name)
        QTest.keyClick(widget, Qt.Key.Key_Tab)
    return reached


def test_tab_goes_down_the_account_tab_in_reading_order(qtbot: QtBot) -> None:
    # Tab went from the address to Test connection and the sign-in fields, and reached the
    # helpdesk kind (the row under the address) only after the password.
    dialog = make_dialog(qtbot, FakeBackend(Settings(server_url=SERVER)))
    assert tab_through(qtbot, dialog, dialog.server_url, 8) == [
        "Helpdesk server URL",
        "Kind of helpdesk",
        "Test connection",
        "User name and password",
        "User name",
        "Password",
        "Sign in",
        "OK",
    ]
    dialog.helpdesk_kind.kind.setCurrentIndex(1)  # a Frappe site: its fields come next
    assert tab_through(qtbot, dialog, dialog.server_url, 6) == [
        "Helpdesk server URL",
        "Kind of helpdesk",
        "Frappe site name",
        "Frappe socket.io URL",
        "Frappe site time zone",
        "Test connection",
    ]


def test_the_window_title_names_the_app_as_its_toasts_do(qtbot: QtBot) -> None:
    # It said "notifier settings": the command's name, lower case, unlike everything else
    # the agent sees ("Helpdesk notifier" on every toast).
    dialog = make_dialog(qtbot, FakeBackend())
    assert dialog.windowTitle() == "Helpdesk notifier settings"
