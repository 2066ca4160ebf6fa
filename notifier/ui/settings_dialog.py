"""The settings dialog: Account, Notifications, Quiet hours, Email and General tabs.

The dialog knows the app only through :class:`SettingsBackend` (the controller implements
it; tests pass a fake with the same Protocol). It never touches files, the keyring or the
network itself.

* Client settings (everything but Account actions and Email) are edited in the widgets and
  saved together on OK: every field is validated first with the core validators, and each
  refusal is shown as a reason next to its field (the dialog switches to that tab and does
  not close). The new value is built on the backend's *current* settings, so a pause set from
  the tray menu while the dialog was open is kept.
* Account actions (sign in, test connection, sign out), the email preferences (kept on the
  helpdesk) and "start at login" act at once. The async ones run as tasks on the running
  asyncio loop (qasync in the app): the dialog never blocks; while one runs, the action
  buttons are disabled and the result or the error is shown in the tab's status line.
  :meth:`SettingsDialog.idle` waits for them (tests, and a clean shutdown).
* The password is an echo-less field, cleared after use. A token is never shown back: the
  token field is always empty when the dialog opens.
* Every label shows plain text; nothing from the helpdesk is interpreted as markup.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from notifier.core.errors import AuthFailed, NotifierError
from notifier.core.quiet_hours import system_timezone
from notifier.core.settings import (
    BadgeStyle,
    LogLevel,
    Settings,
    SettingsError,
    validate_proxy,
    validate_server_url,
)
from notifier.core.wire import (
    AgentInfo,
    EmailFrequency,
    NotificationType,
    Preferences,
)
from notifier.ui.schedule_editor import ScheduleEditor

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TYPE_LABELS = {
    NotificationType.ASSIGNMENT: "Tickets assigned to me",
    NotificationType.MENTION: "@mentions",
    NotificationType.REACTION: "Customer replies and reactions",
}
BADGE_LABELS = {BadgeStyle.COUNT: "Unread count", BadgeStyle.DOT: "A dot only"}
FREQUENCY_LABELS = {
    EmailFrequency.INSTANT: "For each notification",
    EmailFrequency.HOURLY_DIGEST: "Hourly digest",
    EmailFrequency.DAILY_DIGEST: "Daily digest",
}
TAB_ACCOUNT, TAB_NOTIFICATIONS, TAB_QUIET, TAB_EMAIL, TAB_GENERAL = range(5)


class SettingsBackend(Protocol):
    """What the dialog needs from the app (implemented by ``notifier.app.controller``)."""

    def settings(self) -> Settings: ...

    def save_settings(self, settings: Settings) -> None:
        """Validate, store and apply; raise :class:`SettingsError` naming the bad field."""
        ...

    async def sign_in_password(self, server_url: str, username: str, password: str) -> AgentInfo:
        """Exchange the credentials for a token, keep it in the keyring, connect."""
        ...

    async def sign_in_token(self, server_url: str, token: str) -> AgentInfo: ...

    async def test_connection(self, server_url: str) -> str:
        """Words for the agent, e.g. "Connected as Alice"."""
        ...

    async def sign_out(self) -> None:
        """Disconnect and delete the token from the keyring."""
        ...

    def signed_in_agent(self) -> AgentInfo | None: ...

    async def load_preferences(self) -> Preferences: ...

    async def save_preferences(self, preferences: Preferences) -> Preferences: ...

    def set_start_at_login(self, enabled: bool) -> None:
        """Write or remove the autostart entry; raise with a message where unsupported."""
        ...

    def open_log_folder(self) -> None: ...


def _error_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet("color: #c62828;")
    label.setVisible(False)
    return label


def _status_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setAccessibleName(name.replace("_", " "))
    return label


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


SIGN_IN_REFUSED = "The helpdesk refused these credentials. Check them and try again."
SESSION_REFUSED = "The helpdesk did not accept the saved sign-in. Sign in again."


def describe_error(error: BaseException, refused: str = SESSION_REFUSED) -> str:
    """An exception from the backend in words for the status line (never a token).
    ``refused`` is what a 401 means for this call."""
    if isinstance(error, AuthFailed):
        return refused
    if isinstance(error, SettingsError):
        return error.reason
    if isinstance(error, NotifierError):
        return str(error) or type(error).__name__
    return f"Something went wrong: {error}" if str(error) else "Something went wrong."


class SettingsDialog(QDialog):
    # Combo boxes hold enum values as item data; Qt hands them back as plain str, so the
    # dialog converts them back (BadgeStyle(...)) before building settings.

    def __init__(
        self,
        backend: SettingsBackend,
        parent: QWidget | None = None,
        *,
        schedule_editor: ScheduleEditor | None = None,
    ) -> None:
        super().__init__(parent)
        self._backend = backend
        self._tasks: set[asyncio.Task[None]] = set()
        self._after_idle: list[Callable[[], None]] = []
        self._preferences: Preferences | None = None
        self.setWindowTitle("notifier settings")
        self.setMinimumWidth(520)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_account_tab(), "Account")
        self.tabs.addTab(self._build_notifications_tab(), "Notifications")
        self.schedule_editor = schedule_editor or ScheduleEditor(system_timezone())
        self.tabs.addTab(self._build_quiet_tab(), "Quiet hours")
        self.tabs.addTab(self._build_email_tab(), "Email")
        self.tabs.addTab(self._build_general_tab(), "General")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.save_error = _error_label(self, "save_error")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.save_error)
        layout.addWidget(self.buttons)
        self.load(backend.settings())

    # ----------------------------------------------------------------------- tabs

    def _build_account_tab(self) -> QWidget:
        tab = QWidget(self)
        self.server_url = QLineEdit(tab)
        self.server_url.setPlaceholderText("https://helpdesk.example.com")
        self.server_url.setAccessibleName("Helpdesk server URL")
        self.server_url_error = _error_label(tab, "server_url_error")

        self.use_password = QRadioButton("User name and password", tab)
        self.use_token = QRadioButton("API token", tab)
        self.use_password.setChecked(True)
        self._method = QButtonGroup(tab)
        self._method.addButton(self.use_password)
        self._method.addButton(self.use_token)

        self.username = QLineEdit(tab)
        self.username.setAccessibleName("User name")
        self.password = QLineEdit(tab)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.token = QLineEdit(tab)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("Paste a token from your helpdesk profile")
        self.token.setAccessibleName("API token")
        password_page = QWidget(tab)
        password_form = QFormLayout(password_page)
        password_form.addRow("User name:", self.username)
        password_form.addRow("Password:", self.password)
        token_page = QWidget(tab)
        token_form = QFormLayout(token_page)
        token_form.addRow("Token:", self.token)
        self.credentials = QStackedWidget(tab)
        self.credentials.addWidget(password_page)
        self.credentials.addWidget(token_page)
        self.use_token.toggled.connect(
            lambda token: self.credentials.setCurrentIndex(1 if token else 0)
        )

        self.sign_in_button = QPushButton("Sign in", tab)
        self.test_button = QPushButton("Test connection", tab)
        self.sign_out_button = QPushButton("Sign out", tab)
        self.sign_out_button.setToolTip("Disconnect and delete the saved token from the keyring")
        self.sign_in_button.clicked.connect(self._on_sign_in_clicked)
        self.test_button.clicked.connect(self._on_test_clicked)
        self.sign_out_button.clicked.connect(self._on_sign_out_clicked)
        self.password.returnPressed.connect(self._on_sign_in_clicked)
        self.token.returnPressed.connect(self._on_sign_in_clicked)

        self.agent_label = _status_label(tab, "agent_label")
        self.account_status = _status_label(tab, "account_status")

        form = QFormLayout()
        form.addRow("Helpdesk:", self.server_url)
        form.addRow("", self.server_url_error)
        form.addRow("Signed in:", self.agent_label)
        method = QHBoxLayout()
        method.addWidget(self.use_password)
        method.addWidget(self.use_token)
        method.addStretch(1)
        form.addRow("Sign in with:", method)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sign_in_button)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.sign_out_button)
        layout = QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addWidget(self.credentials)
        layout.addLayout(buttons)
        layout.addWidget(self.account_status)
        layout.addStretch(1)
        return tab

    def _build_notifications_tab(self) -> QWidget:
        tab = QWidget(self)
        self.toasts_enabled = QCheckBox("Show a notification on the desktop", tab)
        self.type_boxes = {t: QCheckBox(label, tab) for t, label in TYPE_LABELS.items()}
        self.sound = QCheckBox("Play a sound", tab)
        self.summary_after_quiet = QCheckBox(
            "When quiet hours or a pause end, summarise what arrived", tab
        )
        self.burst_threshold = QSpinBox(tab)
        self.burst_threshold.setRange(1, 100)
        self.burst_threshold.setSuffix(" at once")
        self.burst_threshold.setAccessibleName("Summary threshold")
        self.burst_threshold.setToolTip(
            "When more than this many arrive together, show one summary instead"
        )
        self.badge_style = QComboBox(tab)
        for style, label in BADGE_LABELS.items():
            self.badge_style.addItem(label, style)
        self.badge_style.setAccessibleName("Badge style")
        self.burst_threshold_error = _error_label(tab, "burst_threshold_error")
        self.toasts_enabled.toggled.connect(self._on_toasts_enabled_toggled)

        types = QVBoxLayout()
        for box in self.type_boxes.values():
            types.addWidget(box)
        form = QFormLayout(tab)
        form.addRow(self.toasts_enabled)
        form.addRow("Notify me about:", types)
        form.addRow(self.sound)
        form.addRow(self.summary_after_quiet)
        form.addRow("Summarise more than:", self.burst_threshold)
        form.addRow("", self.burst_threshold_error)
        form.addRow("Tray badge:", self.badge_style)
        return tab

    def _build_quiet_tab(self) -> QWidget:
        tab = QWidget(self)
        self.quiet_hours_error = _error_label(tab, "quiet_hours_error")
        layout = QVBoxLayout(tab)
        layout.addWidget(self.schedule_editor)
        layout.addWidget(self.quiet_hours_error)
        return tab

    def _build_email_tab(self) -> QWidget:
        tab = QWidget(self)
        self.email_enabled = QCheckBox("Send me email notifications", tab)
        self.email_frequency = QComboBox(tab)
        for frequency, label in FREQUENCY_LABELS.items():
            self.email_frequency.addItem(label, frequency)
        self.email_frequency.setAccessibleName("Email frequency")
        self.email_type_boxes = {t: QCheckBox(label, tab) for t, label in TYPE_LABELS.items()}
        self.in_app = QCheckBox("Create notifications for me at all (off: nothing arrives)", tab)
        self.comment_reactions = QCheckBox("Tell me when people react to my comments", tab)
        self.email_load_button = QPushButton("Reload", tab)
        self.email_save_button = QPushButton("Save helpdesk settings", tab)
        self.email_load_button.clicked.connect(self._on_email_load_clicked)
        self.email_save_button.clicked.connect(self._on_email_save_clicked)
        self.email_status = _status_label(tab, "email_status")
        note = QLabel(
            "These settings are kept on the helpdesk (they follow you to other devices) and "
            "are saved with their own button."
        )
        note.setWordWrap(True)

        types = QVBoxLayout()
        for box in self.email_type_boxes.values():
            types.addWidget(box)
        form = QFormLayout()
        form.addRow(self.email_enabled)
        form.addRow("How often:", self.email_frequency)
        form.addRow("Email me about:", types)
        form.addRow("On the helpdesk:", self.in_app)
        form.addRow("", self.comment_reactions)
        buttons = QHBoxLayout()
        buttons.addWidget(self.email_save_button)
        buttons.addWidget(self.email_load_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(tab)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.email_status)
        layout.addStretch(1)
        self._set_email_editable(False)
        return tab

    def _build_general_tab(self) -> QWidget:
        tab = QWidget(self)
        self.start_at_login = QCheckBox("Start notifier when I log in", tab)
        self.start_at_login_error = _error_label(tab, "start_at_login_error")
        self.start_at_login.clicked.connect(self._on_start_at_login_clicked)
        self.ca_bundle = QLineEdit(tab)
        self.ca_bundle.setPlaceholderText("Only if your helpdesk uses a private CA (PEM file)")
        self.ca_bundle.setAccessibleName("Custom CA bundle")
        self.ca_bundle_browse = QPushButton("Browse…", tab)
        self.ca_bundle_browse.clicked.connect(self._on_ca_bundle_browse_clicked)
        self.ca_bundle_error = _error_label(tab, "ca_bundle_error")
        self.proxy = QLineEdit(tab)
        self.proxy.setPlaceholderText("Empty: use the system settings (e.g. http://proxy:3128)")
        self.proxy.setAccessibleName("Proxy")
        self.proxy_error = _error_label(tab, "proxy_error")
        self.log_level = QComboBox(tab)
        for level in LogLevel:
            self.log_level.addItem(level.value.capitalize(), level)
        self.log_level.setAccessibleName("Log level")
        self.open_logs_button = QPushButton("Open log folder", tab)
        self.open_logs_button.clicked.connect(self._on_open_logs_clicked)
        self.general_status = _status_label(tab, "general_status")

        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle, 1)
        ca_row.addWidget(self.ca_bundle_browse)
        logs_row = QHBoxLayout()
        logs_row.addWidget(self.log_level, 1)
        logs_row.addWidget(self.open_logs_button)
        form = QFormLayout(tab)
        form.addRow(self.start_at_login)
        form.addRow("", self.start_at_login_error)
        form.addRow("CA bundle:", ca_row)
        form.addRow("", self.ca_bundle_error)
        form.addRow("Proxy:", self.proxy)
        form.addRow("", self.proxy_error)
        form.addRow("Log level:", logs_row)
        form.addRow(self.general_status)
        return tab

    # ----------------------------------------------------------------------- load/save

    def load(self, settings: Settings) -> None:
        """Show ``settings`` (and the account state) in the widgets; clear every message."""
        self.server_url.setText(settings.server_url)
        self.password.clear()
        self.token.clear()
        self.toasts_enabled.setChecked(settings.toasts_enabled)
        for kind, box in self.type_boxes.items():
            box.setChecked(kind in settings.toast_types)
        self.sound.setChecked(settings.sound)
        self.summary_after_quiet.setChecked(settings.summary_after_quiet)
        self.burst_threshold.setValue(settings.burst_threshold)
        self.badge_style.setCurrentIndex(self.badge_style.findData(settings.badge_style))
        self.schedule_editor.set_ranges(settings.quiet_hours)
        self.start_at_login.setChecked(settings.start_at_login)
        self.ca_bundle.setText(settings.ca_bundle or "")
        self.proxy.setText(settings.proxy or "")
        self.log_level.setCurrentIndex(self.log_level.findData(settings.log_level))
        self._on_toasts_enabled_toggled(settings.toasts_enabled)
        for label in self._error_labels():
            self._show_error(label, "")
        for label in (self.account_status, self.email_status, self.general_status):
            label.clear()
        self._show_agent(self._backend.signed_in_agent())

    def collect(self) -> Settings:
        """The edited settings on top of the backend's current ones; raise the first
        :class:`SettingsError` after showing every field's reason."""
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}

        def check(field_name: str, make: Callable[[], object]) -> None:
            try:
                changes[field_name] = make()
            except SettingsError as error:
                errors.setdefault(error.field_name, error.reason)

        check("server_url", lambda: validate_server_url(self.server_url.text()))
        check("proxy", lambda: validate_proxy(self.proxy.text()))
        check("ca_bundle", self._checked_ca_bundle)
        changes.update(
            toasts_enabled=self.toasts_enabled.isChecked(),
            toast_types=frozenset(t for t, box in self.type_boxes.items() if box.isChecked()),
            sound=self.sound.isChecked(),
            summary_after_quiet=self.summary_after_quiet.isChecked(),
            burst_threshold=self.burst_threshold.value(),
            badge_style=BadgeStyle(self.badge_style.currentData()),
            quiet_hours=self.schedule_editor.ranges(),
            start_at_login=self.start_at_login.isChecked(),
            log_level=LogLevel(self.log_level.currentData()),
        )
        for label in self._error_labels():
            self._show_error(label, "")
        if not errors:
            try:
                return self._backend.settings().replace(**changes)
            except SettingsError as error:
                errors[error.field_name] = error.reason
        for field_name, reason in errors.items():
            self._show_field_error(field_name, reason)
        first = next(iter(errors.items()))
        raise SettingsError(*first)

    def accept(self) -> None:
        try:
            settings = self.collect()
            self._backend.save_settings(settings)
        except SettingsError as error:
            self._show_field_error(error.field_name, error.reason)
            return
        except (OSError, NotifierError, RuntimeError) as error:
            log.warning("could not save the settings: %s", error)
            self._show_error(self.save_error, f"Could not save the settings: {error}")
            return
        super().accept()

    def _checked_ca_bundle(self) -> str | None:
        text = self.ca_bundle.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_file():
            raise SettingsError("ca_bundle", f"there is no file at {path}")
        return str(path)

    # ----------------------------------------------------------------------- messages

    def _error_labels(self) -> list[QLabel]:
        return [
            self.server_url_error,
            self.proxy_error,
            self.ca_bundle_error,
            self.burst_threshold_error,
            self.quiet_hours_error,
            self.start_at_login_error,
            self.save_error,
        ]

    def _show_error(self, label: QLabel, text: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))

    def _show_field_error(self, field_name: str, reason: str) -> None:
        where = {
            "server_url": (self.server_url_error, TAB_ACCOUNT),
            "proxy": (self.proxy_error, TAB_GENERAL),
            "ca_bundle": (self.ca_bundle_error, TAB_GENERAL),
            "burst_threshold": (self.burst_threshold_error, TAB_NOTIFICATIONS),
            "quiet_hours": (self.quiet_hours_error, TAB_QUIET),
            "start_at_login": (self.start_at_login_error, TAB_GENERAL),
        }
        label, tab = where.get(field_name, (self.save_error, self.tabs.currentIndex()))
        self._show_error(
            label, reason if label is not self.save_error else f"{field_name}: {reason}"
        )
        self.tabs.setCurrentIndex(tab)

    def _show_agent(self, agent: AgentInfo | None) -> None:
        if agent is None:
            self.agent_label.setText("Not signed in")
        else:
            self.agent_label.setText(f"{agent.name} ({agent.username})")
        self.sign_out_button.setEnabled(agent is not None and not self._tasks)
        self._set_email_editable(agent is not None and self._preferences is not None)

    def _set_email_editable(self, editable: bool) -> None:
        for widget in (
            self.email_enabled,
            self.email_frequency,
            self.email_save_button,
            self.in_app,
            self.comment_reactions,
        ):
            widget.setEnabled(editable and not self._tasks)
        for box in self.email_type_boxes.values():
            box.setEnabled(editable and not self._tasks)

    # ----------------------------------------------------------------------- async

    def busy(self) -> bool:
        return bool(self._tasks)

    async def idle(self) -> None:
        """Wait until no backend call started by the dialog is running."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _action_buttons(self) -> list[QAbstractButton]:
        return [
            self.sign_in_button,
            self.test_button,
            self.sign_out_button,
            self.email_load_button,
            self.email_save_button,
            self.buttons.button(QDialogButtonBox.StandardButton.Ok),
        ]

    def _set_busy(self, busy: bool) -> None:
        for button in self._action_buttons():
            button.setEnabled(not busy)
        if not busy:
            self._show_agent(self._backend.signed_in_agent())

    def _run(
        self,
        coroutine: Coroutine[Any, Any, _T],
        status: QLabel,
        doing: str,
        on_success: Callable[[_T], None],
        *,
        refused: str = SESSION_REFUSED,
    ) -> None:
        """Run one backend call as a task; buttons off meanwhile; outcome in ``status``."""
        if self._tasks:  # one call at a time; the buttons are off, but Enter is not
            coroutine.close()
            return
        if not _loop_running():  # only in a misassembled app; say so instead of hanging
            coroutine.close()
            log.error("settings dialog: no running asyncio loop for %s", doing)
            status.setText("This needs the app's event loop, which is not running.")
            return
        status.setText(doing)
        task = asyncio.ensure_future(self._guarded(coroutine, status, on_success, refused))
        self._tasks.add(task)
        self._set_busy(True)

        def on_done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._set_busy(False)
            follow_ups, self._after_idle = self._after_idle, []
            for follow_up in follow_ups:
                follow_up()

        task.add_done_callback(on_done)

    async def _guarded(
        self,
        coroutine: Coroutine[Any, Any, _T],
        status: QLabel,
        on_success: Callable[[_T], None],
        refused: str,
    ) -> None:
        try:
            result = await coroutine
        except asyncio.CancelledError:
            status.setText("Cancelled.")
            raise
        except SettingsError as error:
            self._show_field_error(error.field_name, error.reason)
            status.setText(error.reason)
        except Exception as error:  # every failure ends in the status line, not a crash
            if not isinstance(error, NotifierError | ValueError):
                log.exception("settings dialog: backend call failed")
            status.setText(describe_error(error, refused))
        else:
            on_success(result)

    # ----------------------------------------------------------------------- slots

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        if not event.spontaneous():
            # Opened (again): show what is saved now, not what was typed and cancelled.
            self.load(self._backend.settings())
            self.tabs.setCurrentIndex(TAB_ACCOUNT)
            if self._backend.signed_in_agent() is not None and _loop_running():
                self._on_email_load_clicked()
        super().showEvent(event)

    def _on_toasts_enabled_toggled(self, enabled: bool) -> None:
        for widget in (*self.type_boxes.values(), self.sound, self.burst_threshold):
            widget.setEnabled(enabled)

    def _entered_server_url(self) -> str | None:
        """The server URL field, normalised; None (with the reason shown) when unusable."""
        try:
            server_url = validate_server_url(self.server_url.text())
        except SettingsError as error:
            self._show_field_error(error.field_name, error.reason)
            return None
        if not server_url:
            self._show_field_error("server_url", "enter the helpdesk address first")
            return None
        self._show_error(self.server_url_error, "")
        return server_url

    def _on_sign_in_clicked(self) -> None:
        server_url = self._entered_server_url()
        if server_url is None:
            return
        if self.use_token.isChecked():
            token = self.token.text().strip()
            if not token:
                self.account_status.setText("Paste an API token first.")
                return
            coroutine = self._backend.sign_in_token(server_url, token)
        else:
            username = self.username.text().strip()
            if not username or not self.password.text():
                self.account_status.setText("Enter your user name and password first.")
                return
            coroutine = self._backend.sign_in_password(server_url, username, self.password.text())
        self.server_url.setText(server_url)
        self._run(
            coroutine,
            self.account_status,
            "Signing in…",
            self._on_signed_in,
            refused=SIGN_IN_REFUSED,
        )

    def _on_signed_in(self, agent: AgentInfo) -> None:
        self.password.clear()
        self.token.clear()
        self.account_status.setText(f"Signed in as {agent.name}.")
        self._show_agent(agent)
        self._preferences = None
        # This agent's email preferences next, once this call's task has finished.
        self._after_idle.append(self._on_email_load_clicked)

    def _on_test_clicked(self) -> None:
        server_url = self._entered_server_url()
        if server_url is None:
            return
        self._run(
            self._backend.test_connection(server_url),
            self.account_status,
            "Testing the connection…",
            self.account_status.setText,
        )

    def _on_sign_out_clicked(self) -> None:
        self._run(
            self._backend.sign_out(), self.account_status, "Signing out…", self._on_signed_out
        )

    def _on_signed_out(self, _: None) -> None:
        self.account_status.setText("Signed out; the saved token was deleted.")
        self._preferences = None
        self._show_agent(None)

    def _on_email_load_clicked(self) -> None:
        self._run(
            self._backend.load_preferences(),
            self.email_status,
            "Loading from the helpdesk…",
            self._on_preferences_loaded,
        )

    def _on_preferences_loaded(self, preferences: Preferences) -> None:
        self._preferences = preferences
        email = preferences.email
        self.email_enabled.setChecked(email.enabled)
        self.email_frequency.setCurrentIndex(self.email_frequency.findData(email.frequency))
        for kind, box in self.email_type_boxes.items():
            box.setChecked(kind in email.types)
        self.in_app.setChecked(preferences.in_app)
        self.comment_reactions.setChecked(preferences.comment_reactions)
        self.email_status.setText("")
        self._set_email_editable(True)

    def _on_email_save_clicked(self) -> None:
        if self._preferences is None:
            self.email_status.setText("Load the helpdesk settings first.")
            return
        # Only what this tab shows changes; the rest of the document (the digest time and
        # "only when not connected" included) goes back as loaded.
        email = dataclasses.replace(
            self._preferences.email,
            enabled=self.email_enabled.isChecked(),
            frequency=EmailFrequency(self.email_frequency.currentData()),
            types=frozenset(t for t, box in self.email_type_boxes.items() if box.isChecked()),
        )
        preferences = dataclasses.replace(
            self._preferences,
            email=email,
            in_app=self.in_app.isChecked(),
            comment_reactions=self.comment_reactions.isChecked(),
        )
        self._run(
            self._backend.save_preferences(preferences),
            self.email_status,
            "Saving to the helpdesk…",
            self._on_preferences_saved,
        )

    def _on_preferences_saved(self, preferences: Preferences) -> None:
        self._on_preferences_loaded(preferences)
        self.email_status.setText("Saved on the helpdesk.")

    def _on_start_at_login_clicked(self, enabled: bool) -> None:
        try:
            self._backend.set_start_at_login(enabled)
        except Exception as error:  # unsupported platform, unwritable folder
            self.start_at_login.setChecked(not enabled)
            self._show_error(self.start_at_login_error, str(error))
            return
        self._show_error(self.start_at_login_error, "")

    def _on_ca_bundle_browse_clicked(self) -> None:
        # Non-modal (open(), not exec()): no nested event loop under qasync.
        chooser = QFileDialog(self, "Choose a CA bundle", "", "PEM files (*.pem *.crt);;All (*)")
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.fileSelected.connect(self.ca_bundle.setText)
        chooser.open()

    def _on_open_logs_clicked(self) -> None:
        try:
            self._backend.open_log_folder()
        except Exception as error:
            self.general_status.setText(f"Could not open the log folder: {error}")
