"""The settings dialog: Account, Notifications, Quiet hours, Email and General tabs.

The dialog knows the app only through :class:`SettingsBackend` (the account service,
:class:`notifier.app.account.AccountService`, implements it; tests pass a fake with the same
Protocol). It never touches files, the keyring or the
network itself.

* Everything but the Account actions is edited in the widgets and saved by OK, the one way
  to save: every field is validated first with the core validators, and each refusal is
  shown as a reason next to its field (the dialog switches to that tab and does not close).
  The new value is built on the backend's *current* settings, so a pause set from the tray
  menu while the dialog was open is kept. The Email tab's preferences live on the helpdesk:
  when they were edited, OK sends them first and saves and closes only once the helpdesk
  took them (a refusal or an outage is shown on the Email tab, nothing is saved).
* The Account tab shows the helpdesk in use (also when it comes from ``--server`` or
  ``NOTIFIER_SERVER``) and who is signed in. Signed in, the sign-in fields are disabled and
  the tab offers "Test connection", "Switch account…" (which opens the sign-in fields; the
  current account stays until another sign-in succeeds) and "Sign out".
* Account actions (sign in, test connection, sign out) and "start at login" act at once.
  The async ones run as tasks on the running asyncio loop (qasync in the app): the dialog
  never blocks; while one runs, the action buttons are disabled and the result or the error
  is shown in the tab's status line. :meth:`SettingsDialog.idle` waits for them (tests, and
  a clean shutdown).
* The dialog opens at least as large as its contents need (no explicit minimum width, which
  would override the layout's and let a large font squeeze the widgets), but never larger
  than the screen: each tab scrolls, so on a small screen, at 2x scaling or with large text
  (1280x720 at 2x is 640x360) every field and the OK button stay reachable.
* The password is an echo-less field, cleared after use. A token is never shown back: the
  token field is always empty when the dialog opens.
* Every label shows plain text; nothing from the helpdesk is interpreted as markup.
* Settings the site file locks (:meth:`SettingsBackend.locked_settings`, IT's system-wide
  defaults) are shown but disabled, with a tooltip and a note saying IT set them; OK keeps
  the backend's value for each of them whatever the widget holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from datetime import tzinfo
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from notifier.core.errors import AuthFailed, NotifierError
from notifier.core.settings import (
    BadgeStyle,
    HelpdeskChoice,
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
from notifier.ui.helpdesk_kind import NO_SERVER_PREFERENCES, HelpdeskKindBox
from notifier.ui.placement import window_room
from notifier.ui.schedule_editor import ScheduleEditor
from notifier.ui.toasts import APP_NAME

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
PREFERRED_WIDTH = 520  # the dialog opens this wide, or wider when its contents need it
EMAIL_SIGN_IN_FIRST = "Sign in on the Account tab to see and change these settings."
LOCKED_TIP = "Set by your IT department"
LOCKED_NOTE = "Settings shown greyed out are set by your IT department and cannot be changed here."


class SettingsBackend(Protocol):
    """What the dialog needs from the app (the account service implements it)."""

    def settings(self) -> Settings: ...

    @property
    def server_url(self) -> str:
        """The helpdesk in use: a ``--server`` / ``NOTIFIER_SERVER`` override, else the
        settings' one."""
        ...

    @property
    def tz(self) -> tzinfo:
        """The time zone the tray reads quiet hours in: the editor shows and previews them in
        the same one."""
        ...

    def save_settings(self, settings: Settings) -> None:
        """Validate, store and apply; raise :class:`SettingsError` naming the bad field."""
        ...

    async def sign_in_password(
        self,
        server_url: str,
        username: str,
        password: str,
        *,
        helpdesk: HelpdeskChoice | None = None,
    ) -> AgentInfo:
        """Exchange the credentials for a token, keep it in the keyring, connect. ``helpdesk``:
        the kind of helpdesk and a Frappe site's fields (kept once signed in)."""
        ...

    async def sign_in_token(
        self, server_url: str, token: str, *, helpdesk: HelpdeskChoice | None = None
    ) -> AgentInfo: ...

    async def test_connection(
        self, server_url: str, *, helpdesk: HelpdeskChoice | None = None
    ) -> str:
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

    def locked_settings(self) -> frozenset[str]:
        """The names of the settings IT locked (site file): shown, not editable."""
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
    # No accessible name: a label's name is its text ("Alice Agent (alice)"); a fixed one
    # ("agent label") was all a screen reader said of it.
    return label


class TabScroller(QScrollArea):
    """One tab's page in a scroll area: it asks for the whole page (a plain QScrollArea asks
    for at most 24 lines, which would open the dialog too small) and, where the dialog is
    smaller than that (a small screen, large text), scrolls instead of squeezing or cutting
    the fields."""

    def __init__(self, page: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(page)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)  # the tab's own frame is around it
        # Not a stop of its own for Tab (it has nothing to say or do); tabbing to a field
        # below the fold still scrolls it into view.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # The tab's background shows through, as it did without the scroll area.
        self.viewport().setAutoFillBackground(False)
        page.setAutoFillBackground(False)

    def sizeHint(self) -> QSize:  # Qt override
        page = self.widget()
        return page.sizeHint().expandedTo(page.minimumSizeHint()) if page else super().sizeHint()


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
        self._switching = False  # "Switch account…": the sign-in fields are open while signed in
        self.setWindowTitle(f"{APP_NAME} settings")  # the name its toasts go out under

        self.tabs = QTabWidget(self)
        self.tabs.addTab(TabScroller(self._build_account_tab()), "Account")
        self.tabs.addTab(TabScroller(self._build_notifications_tab()), "Notifications")
        self.schedule_editor = schedule_editor or ScheduleEditor(backend.tz)
        self.tabs.addTab(TabScroller(self._build_quiet_tab()), "Quiet hours")
        self.tabs.addTab(TabScroller(self._build_email_tab()), "Email")
        self.tabs.addTab(TabScroller(self._build_general_tab()), "General")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.save_error = _error_label(self, "save_error")
        self.locked_note = _status_label(self, "locked_note")
        self.locked_note.setText(LOCKED_NOTE)
        self._locked: frozenset[str] = frozenset()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.locked_note)
        layout.addWidget(self.save_error)
        layout.addWidget(self.buttons)
        self.load(backend.settings())
        preferred = self.sizeHint().expandedTo(QSize(PREFERRED_WIDTH, 0))
        self.resize(preferred.boundedTo(self._room()))
        # Choosing Frappe shows the site's fields: grow to show them too, as far as the
        # screen allows (the tab scrolls past that).
        self.helpdesk_kind.kindChanged.connect(self._grow_to_contents)
        # So do added quiet-hours ranges (Weeknights adds five): the tab scrolled at once
        # although the screen had room below.
        self.schedule_editor.changed.connect(self._grow_to_contents)

    # ----------------------------------------------------------------------- tabs

    def _build_account_tab(self) -> QWidget:
        tab = QWidget(self)
        self.server_url = QLineEdit(tab)
        self.server_url.setPlaceholderText("https://helpdesk.example.com")
        self.server_url.setAccessibleName("Helpdesk server URL")
        self.server_url_error = _error_label(tab, "server_url_error")
        self.agent_label = _status_label(tab, "agent_label")
        self.test_button = QPushButton("Test connection", tab)
        self.switch_button = QPushButton("Switch account…", tab)
        self.switch_button.setToolTip(
            "Sign in as someone else, or to another helpdesk; this account stays signed in"
            " until that works"
        )
        self.sign_out_button = QPushButton("Sign out", tab)
        self.sign_out_button.setToolTip("Disconnect and delete the saved token from the keyring")
        self.test_button.clicked.connect(self._on_test_clicked)
        self.switch_button.clicked.connect(self._on_switch_clicked)
        self.sign_out_button.clicked.connect(self._on_sign_out_clicked)

        self.sign_in_box = QGroupBox("Sign in", tab)
        self.use_password = QRadioButton("User name and password", self.sign_in_box)
        self.use_token = QRadioButton("API token", self.sign_in_box)
        self.use_password.setChecked(True)
        self._method = QButtonGroup(tab)
        self._method.addButton(self.use_password)
        self._method.addButton(self.use_token)
        self.username = QLineEdit(self.sign_in_box)
        self.username.setAccessibleName("User name")
        self.password = QLineEdit(self.sign_in_box)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.token = QLineEdit(self.sign_in_box)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("Paste a token from your helpdesk profile")
        self.token.setAccessibleName("API token")
        password_page = QWidget(self.sign_in_box)
        password_form = QFormLayout(password_page)
        password_form.setContentsMargins(0, 0, 0, 0)
        password_form.addRow("User name:", self.username)
        password_form.addRow("Password:", self.password)
        token_page = QWidget(self.sign_in_box)
        token_form = QFormLayout(token_page)
        token_form.setContentsMargins(0, 0, 0, 0)
        token_form.addRow("Token:", self.token)
        self.helpdesk_kind = HelpdeskKindBox(_error_label, tab)
        self.credentials = QStackedWidget(self.sign_in_box)
        self.credentials.addWidget(password_page)
        self.credentials.addWidget(token_page)
        self.credentials.addWidget(self.helpdesk_kind.key_page)  # Frappe's key and secret
        self.use_token.toggled.connect(self._show_credentials_page)
        self.helpdesk_kind.kindChanged.connect(self._show_credentials_page)
        self.helpdesk_kind.kindChanged.connect(self._on_kind_changed)
        self.helpdesk_kind.api_secret.returnPressed.connect(self._on_sign_in_clicked)
        self.sign_in_button = QPushButton("Sign in", self.sign_in_box)
        self.keep_account_button = QPushButton("Keep this account", self.sign_in_box)
        self.keep_account_button.setToolTip("Close the sign-in fields; nothing changes")
        self.sign_in_button.clicked.connect(self._on_sign_in_clicked)
        self.keep_account_button.clicked.connect(self._on_keep_account_clicked)
        self.password.returnPressed.connect(self._on_sign_in_clicked)
        self.token.returnPressed.connect(self._on_sign_in_clicked)
        self.account_status = _status_label(tab, "account_status")

        form = QFormLayout()
        form.addRow("Helpdesk:", self.server_url)
        form.addRow("", self.server_url_error)
        form.addRow("Kind:", self.helpdesk_kind)
        form.addRow("Signed in as:", self.agent_label)
        account_buttons = QHBoxLayout()
        account_buttons.addWidget(self.test_button)
        account_buttons.addWidget(self.switch_button)
        account_buttons.addStretch(1)
        account_buttons.addWidget(self.sign_out_button)
        form.addRow("", account_buttons)
        method = QHBoxLayout()
        method.addWidget(self.use_password)
        method.addWidget(self.use_token)
        method.addStretch(1)
        sign_in_buttons = QHBoxLayout()
        sign_in_buttons.addWidget(self.sign_in_button)
        sign_in_buttons.addWidget(self.keep_account_button)
        sign_in_buttons.addStretch(1)
        box = QVBoxLayout(self.sign_in_box)
        box.addLayout(method)
        box.addWidget(self.credentials)
        box.addLayout(sign_in_buttons)
        layout = QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addWidget(self.sign_in_box)
        layout.addWidget(self.account_status)
        layout.addStretch(1)
        # Tab goes down the tab as it reads: the kind box was made after the sign-in fields,
        # so Tab reached it (the second row) only after the password.
        kind = self.helpdesk_kind
        in_reading_order: list[QWidget] = [
            self.server_url,
            kind.kind,
            kind.site_name,
            kind.socketio_url,
            kind.time_zone,
            self.test_button,
            self.switch_button,
            self.sign_out_button,
            self.use_password,
            self.use_token,
            self.username,
            self.password,
            self.token,
            kind.api_key,
            kind.api_secret,
            self.sign_in_button,
            self.keep_account_button,
        ]
        for before, after in pairwise(in_reading_order):
            QWidget.setTabOrder(before, after)
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
        # Labels of their own, greyed out with their fields while toasts are off.
        self.toast_types_label = QLabel("Notify me about:", tab)
        self.burst_threshold_label = QLabel("Summarise more than:", tab)
        self.burst_threshold_label.setBuddy(self.burst_threshold)
        form = QFormLayout(tab)
        form.addRow(self.toasts_enabled)
        form.addRow(self.toast_types_label, types)
        form.addRow(self.sound)
        form.addRow(self.summary_after_quiet)
        form.addRow(self.burst_threshold_label, self.burst_threshold)
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
        self.email_load_button = QPushButton("Reload from the helpdesk", tab)
        self.email_load_button.setToolTip("Show what the helpdesk has now (undoes edits here)")
        self.email_load_button.clicked.connect(self._on_email_load_clicked)
        self.email_status = _status_label(tab, "email_status")
        self.email_kept_note = QLabel(
            "These settings are kept on the helpdesk, so they follow you to other devices;"
            " OK saves them there.",
            tab,
        )
        self.email_kept_note.setWordWrap(True)
        self.email_unsupported = _status_label(tab, "email_unsupported")
        self.email_unsupported.setText(NO_SERVER_PREFERENCES)
        self.email_sign_in_first = _status_label(tab, "email_sign_in_first")
        self.email_sign_in_first.setText(EMAIL_SIGN_IN_FIRST)

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
        buttons.addWidget(self.email_load_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(tab)
        layout.addWidget(self.email_kept_note)
        layout.addWidget(self.email_unsupported)
        layout.addWidget(self.email_sign_in_first)
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
        self._switching = False
        self._show_server_url(self._backend.server_url or settings.server_url)
        self.helpdesk_kind.load(settings)
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
        self._apply_locks(self._backend.locked_settings())
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

        if self._account_editable():  # signed in, the helpdesk is the account's: kept
            check("server_url", lambda: validate_server_url(self.server_url.text()))
        check("helpdesk", self.helpdesk_kind.choice)
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
        for name in self._locked:  # the backend's value stands
            changes.pop(name, None)
            errors.pop(name, None)
        for label in self._error_labels():
            self._show_error(label, "")
        if not errors:
            try:
                helpdesk: HelpdeskChoice = changes.pop("helpdesk")
                return helpdesk.applied_to(self._backend.settings().replace(**changes))
            except SettingsError as error:
                errors[error.field_name] = error.reason
        for field_name, reason in errors.items():
            self._show_field_error(field_name, reason)
        first = next(iter(errors.items()))
        raise SettingsError(*first)

    def accept(self) -> None:
        """OK: validate, send edited email preferences to the helpdesk (and wait for it),
        then save the client settings and close."""
        try:
            settings = self.collect()
        except SettingsError as error:
            self._show_field_error(error.field_name, error.reason)
            return
        edited = self.edited_preferences()
        if edited is None or edited == self._preferences:
            self._save_and_close(settings)
            return
        self._run(
            self._backend.save_preferences(edited),
            self.email_status,
            "Saving to the helpdesk…",
            lambda saved: self._on_preferences_saved(saved, settings),
            on_failure=lambda: self.tabs.setCurrentIndex(TAB_EMAIL),
        )

    def _save_and_close(self, settings: Settings) -> None:
        try:
            self._backend.save_settings(settings)
        except SettingsError as error:
            self._show_field_error(error.field_name, error.reason)
            return
        except (OSError, NotifierError, RuntimeError) as error:
            log.warning("could not save the settings: %s", error)
            self._show_error(self.save_error, f"Could not save the settings: {error}")
            return
        super().accept()

    def edited_preferences(self) -> Preferences | None:
        """The email preferences as the Email tab shows them (None until loaded): only what
        the tab shows changes; the rest of the document goes back as loaded."""
        if self._preferences is None:
            return None
        # The digest time and "only when not connected" go back as loaded too.
        email = dataclasses.replace(
            self._preferences.email,
            enabled=self.email_enabled.isChecked(),
            frequency=EmailFrequency(self.email_frequency.currentData()),
            types=frozenset(t for t, box in self.email_type_boxes.items() if box.isChecked()),
        )
        return dataclasses.replace(
            self._preferences,
            email=email,
            in_app=self.in_app.isChecked(),
            comment_reactions=self.comment_reactions.isChecked(),
        )

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
        if self.helpdesk_kind.show_error(field_name, reason):
            self.tabs.setCurrentIndex(TAB_ACCOUNT)
            return
        label, tab = where.get(field_name, (self.save_error, self.tabs.currentIndex()))
        self._show_error(
            label, reason if label is not self.save_error else f"{field_name}: {reason}"
        )
        self.tabs.setCurrentIndex(tab)

    def _show_agent(self, agent: AgentInfo | None) -> None:
        if agent is None:
            self.agent_label.setText("Not signed in")
            self._switching = False
        else:
            self.agent_label.setText(f"{agent.name} ({agent.username})")
        idle = not self._tasks
        signed_in = agent is not None
        editable = self._account_editable()
        self.server_url.setReadOnly(not editable)
        # Read-only looks read-only: the window's colour behind the text, not the field's.
        palette = self.palette()
        if not editable:
            palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
        self.server_url.setPalette(palette)
        self.helpdesk_kind.setEnabled(editable)  # the account's kind, like its address
        self.sign_in_box.setEnabled(editable and idle)
        self.sign_in_box.setTitle("Sign in to another account" if signed_in else "Sign in")
        self.keep_account_button.setVisible(self._switching)
        self.switch_button.setVisible(signed_in)
        self.switch_button.setEnabled(signed_in and not self._switching and idle)
        self.sign_out_button.setEnabled(signed_in and idle)
        self.test_button.setEnabled(idle)
        self._set_email_editable(signed_in and self._preferences is not None)

    def _show_server_url(self, url: str) -> None:
        # From its start: a field too narrow for a long address shows where the cursor is,
        # and setText leaves it at the end ("…example.com/helpdesk" hides which site it is).
        self.server_url.setText(url)
        self.server_url.setCursorPosition(0)

    def _account_editable(self) -> bool:
        """Whether the helpdesk and the sign-in fields are open: signed out, or switching."""
        return self._switching or self._backend.signed_in_agent() is None

    def _set_email_editable(self, editable: bool) -> None:
        supported = self._email_supported()
        # Signed out there is nothing to load them from: say so, rather than leave every
        # field greyed out for no stated reason beside a Reload button that can only fail.
        signed_in = self._backend.signed_in_agent() is not None
        # The notes are about the helpdesk the tab is for: signed out, the kind chosen on
        # the Account tab (a Frappe site chosen there will never have these settings).
        kept = supported if signed_in else self.helpdesk_kind.current().keeps_preferences
        self.email_kept_note.setVisible(kept)
        self.email_unsupported.setVisible(not kept)
        self.email_sign_in_first.setVisible(kept and not signed_in)
        self.email_load_button.setEnabled(supported and signed_in and not self._tasks)
        editable = editable and supported
        for widget in (
            self.email_enabled,
            self.email_frequency,
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
            self.keep_account_button,
            self.test_button,
            self.switch_button,
            self.sign_out_button,
            self.email_load_button,
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
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        """Run one backend call as a task; buttons off meanwhile; outcome in ``status``
        (and ``on_failure`` called when it failed)."""
        if self._tasks:  # one call at a time; the buttons are off, but Enter is not
            coroutine.close()
            return
        if not _loop_running():  # only in a misassembled app; say so instead of hanging
            coroutine.close()
            log.error("settings dialog: no running asyncio loop for %s", doing)
            status.setText("This needs the app's event loop, which is not running.")
            return
        status.setText(doing)
        task = asyncio.ensure_future(
            self._guarded(coroutine, status, on_success, refused, on_failure)
        )
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
        on_failure: Callable[[], None] | None,
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
            return
        if on_failure is not None:
            on_failure()

    # ----------------------------------------------------------------------- slots

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        if not event.spontaneous():
            # Opened (again): show what is saved now, not what was typed and cancelled.
            self.load(self._backend.settings())
            self.tabs.setCurrentIndex(TAB_ACCOUNT)
            if self._backend.signed_in_agent() is not None and _loop_running():
                self._on_email_load_clicked()
        super().showEvent(event)
        if not event.spontaneous():
            # Only now are the tabs' layouts up to date (the Frappe site's fields, the quiet
            # hours' rows): the size set in __init__ may have been too small for them.
            self._grow_to_contents()

    def _on_toasts_enabled_toggled(self, enabled: bool) -> None:
        # Everything that shapes toasts, the summary after quiet hours included (it is a
        # toast: with toasts off it never shows).
        for name, widgets in (
            ("toast_types", self.type_boxes.values()),
            ("sound", [self.sound]),
            ("summary_after_quiet", [self.summary_after_quiet]),
            ("burst_threshold", [self.burst_threshold]),
        ):
            for widget in widgets:
                widget.setEnabled(enabled and name not in self._locked)
        self.toast_types_label.setEnabled(enabled)
        self.burst_threshold_label.setEnabled(enabled)

    def _widgets_by_setting(self) -> dict[str, list[QWidget]]:
        """The widgets that edit each setting (the account's server URL included)."""
        return {
            "server_url": [self.server_url],
            "toasts_enabled": [self.toasts_enabled],
            "toast_types": list(self.type_boxes.values()),
            "sound": [self.sound],
            "summary_after_quiet": [self.summary_after_quiet],
            "burst_threshold": [self.burst_threshold],
            "badge_style": [self.badge_style],
            "quiet_hours": [self.schedule_editor],
            "start_at_login": [self.start_at_login],
            "ca_bundle": [self.ca_bundle, self.ca_bundle_browse],
            "proxy": [self.proxy],
            "log_level": [self.log_level],
        }

    def _apply_locks(self, locked: frozenset[str]) -> None:
        """Disable the widgets of the ``locked`` settings, with a tooltip saying why; enable
        the others (a later site file may have unlocked them)."""
        self._locked = locked
        for name, widgets in self._widgets_by_setting().items():
            for widget in widgets:
                tip = widget.toolTip().removesuffix(f"\n{LOCKED_TIP}").removesuffix(LOCKED_TIP)
                if name in locked:
                    tip = f"{tip}\n{LOCKED_TIP}" if tip else LOCKED_TIP
                widget.setToolTip(tip)
                widget.setEnabled(name not in locked)
        self.locked_note.setVisible(bool(locked & self._widgets_by_setting().keys()))

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

    def _entered_helpdesk(self) -> HelpdeskChoice | None:
        """The kind of helpdesk and the Frappe fields; None (reasons shown) when unusable."""
        try:
            return self.helpdesk_kind.choice()
        except SettingsError:
            self.tabs.setCurrentIndex(TAB_ACCOUNT)
            return None

    def _show_credentials_page(self) -> None:
        token = self.use_token.isChecked()
        self.use_token.setText(
            "API key and secret" if self.helpdesk_kind.is_frappe() else "API token"
        )
        page = (2 if self.helpdesk_kind.is_frappe() else 1) if token else 0
        self.credentials.setCurrentIndex(page)

    def _room(self) -> QSize:
        """The largest size the dialog may have on its screen."""
        return window_room(self.screen().availableGeometry().size())

    def _grow_to_contents(self) -> None:
        """As large as the tabs need, as far as the screen allows (never smaller than now,
        unless now is larger than the screen)."""
        wanted = self.size().expandedTo(self.sizeHint())
        # The dialog's size hint can lag behind a page that just grew (the tab widget keeps
        # its pages' old hints): add what the shown page lacks in its scroll area.
        tab = self.tabs.currentWidget()
        page = tab.widget() if isinstance(tab, TabScroller) else None
        if isinstance(tab, TabScroller) and page is not None:
            need = page.sizeHint().expandedTo(page.minimumSizeHint())
            shown = tab.viewport().size()
            wanted += QSize(
                max(0, need.width() - shown.width()), max(0, need.height() - shown.height())
            )
        self.resize(wanted.boundedTo(self._room()))
        if self.isVisible():  # placed for its old size: grown, its edge may be off the screen
            screen = self.screen().availableGeometry()
            frame = self.frameGeometry()
            left = min(frame.left(), screen.x() + screen.width() - frame.width())
            top = min(frame.top(), screen.y() + screen.height() - frame.height())
            self.move(max(screen.left(), left), max(screen.top(), top))

    def _on_kind_changed(self) -> None:
        if self._backend.signed_in_agent() is None:  # signed in, the kind is not editable
            self._set_email_editable(False)

    def _email_supported(self) -> bool:
        """Does the helpdesk in use keep the preferences this tab edits?"""
        return self._backend.settings().backend.keeps_preferences

    def _on_sign_in_clicked(self) -> None:
        server_url = self._entered_server_url()
        helpdesk = self._entered_helpdesk()
        if server_url is None or helpdesk is None:
            return
        if self.use_token.isChecked():
            frappe = self.helpdesk_kind.is_frappe()
            token = self.helpdesk_kind.api_token() if frappe else self.token.text().strip()
            if not token:
                self.account_status.setText(
                    "Enter the API key and secret first." if frappe else "Paste an API token first."
                )
                return
            coroutine = self._backend.sign_in_token(server_url, token, helpdesk=helpdesk)
        else:
            username = self.username.text().strip()
            if not username or not self.password.text():
                self.account_status.setText("Enter your user name and password first.")
                return
            coroutine = self._backend.sign_in_password(
                server_url, username, self.password.text(), helpdesk=helpdesk
            )
        self._show_server_url(server_url)
        self._run(
            coroutine,
            self.account_status,
            "Signing in…",
            self._on_signed_in,
            refused=SIGN_IN_REFUSED,
        )

    def _on_switch_clicked(self) -> None:
        self._switching = True
        self._show_agent(self._backend.signed_in_agent())
        self.username.setFocus()

    def _on_keep_account_clicked(self) -> None:
        self._switching = False
        self._show_server_url(self._backend.server_url)
        self.password.clear()
        self.token.clear()
        self._show_error(self.server_url_error, "")
        self._show_agent(self._backend.signed_in_agent())

    def _on_signed_in(self, agent: AgentInfo) -> None:
        self._switching = False
        self.password.clear()
        self.token.clear()
        self.helpdesk_kind.clear_secret()
        self.account_status.setText(f"Signed in as {agent.name}.")
        self._show_agent(agent)
        self._preferences = None
        # This agent's email preferences next, once this call's task has finished.
        self._after_idle.append(self._on_email_load_clicked)

    def _on_test_clicked(self) -> None:
        server_url = self._entered_server_url()
        helpdesk = self._entered_helpdesk()
        if server_url is None or helpdesk is None:
            return
        self._run(
            self._backend.test_connection(server_url, helpdesk=helpdesk),
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
        if not self._email_supported():
            return  # the reason is on the tab
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

    def _on_preferences_saved(self, preferences: Preferences, settings: Settings) -> None:
        self._on_preferences_loaded(preferences)
        self.email_status.setText("Saved on the helpdesk.")
        self._save_and_close(settings)

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
