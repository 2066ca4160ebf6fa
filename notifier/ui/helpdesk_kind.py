"""The Account tab's choice of helpdesk kind: this project's own helpdesk or a Frappe Helpdesk
site, with the Frappe site's fields and its API key and secret.

A self-contained piece of the settings dialog (:mod:`notifier.ui.settings_dialog` places it):
:class:`HelpdeskKindBox` holds the kind chooser and the "Frappe Helpdesk site" group (site
name, socket.io URL, time zone: each optional); :attr:`HelpdeskKindBox.key_page` is the page
the dialog shows for "API key and secret" sign-ins. It reads and checks what was typed
(:meth:`HelpdeskKindBox.choice` raises ``SettingsError`` naming the field, shown next to it)
and never touches the network, the keyring or files: signing in goes through the dialog's
``SettingsBackend``, the same path as for the reference helpdesk.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from notifier.core.settings import (
    BackendKind,
    HelpdeskChoice,
    Settings,
    SettingsError,
    validate_frappe_site_name,
    validate_server_url,
    validate_time_zone,
)

KIND_LABELS = {
    BackendKind.REFERENCE: "The project's own helpdesk (notifier-server)",
    BackendKind.FRAPPE: "Frappe Helpdesk",
}
# Shown in the Email tab for a helpdesk that keeps no notification preferences.
NO_SERVER_PREFERENCES = (
    "Frappe Helpdesk keeps no notification settings for the tray to edit; e-mail is set up"
    " on the site."
)


class HelpdeskKindBox(QWidget):
    """The kind chooser and the Frappe site's fields (shown for Frappe only).
    ``error_label(parent, name)`` makes the (hidden) label for a field's error, so that the
    dialog's errors all look alike."""

    kindChanged = Signal(object)  # BackendKind

    def __init__(
        self, error_label: Callable[[QWidget, str], QLabel], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.kind = QComboBox(self)
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind.setAccessibleName("Kind of helpdesk")

        self.frappe_group = QGroupBox("Frappe Helpdesk site", self)
        self.site_name = QLineEdit(self.frappe_group)
        # Placeholders short enough to show whole in the field (tests/
        # test_settings_dialog_fit.py); the tooltips say the rest.
        self.site_name.setPlaceholderText("Default: the URL's host name")
        self.site_name.setToolTip(
            "The Frappe site's name: its folder under sites/ on the bench, often the host name"
        )
        self.site_name.setAccessibleName("Frappe site name")
        self.socketio_url = QLineEdit(self.frappe_group)
        self.socketio_url.setPlaceholderText("Default: the site URL (bench: port 9000)")
        self.socketio_url.setToolTip(
            "Where the site's socket.io server answers: behind Frappe's nginx the site URL,"
            " on a development bench port 9000 (http://HOST:9000)"
        )
        self.socketio_url.setAccessibleName("Frappe socket.io URL")
        self.time_zone = QLineEdit(self.frappe_group)
        self.time_zone.setPlaceholderText("Default: this computer's (e.g. Asia/Tokyo)")
        self.time_zone.setToolTip("The site's time zone, e.g. Europe/Berlin or Asia/Kolkata")
        self.time_zone.setAccessibleName("Frappe site time zone")
        self.errors = {
            name: error_label(self.frappe_group, f"{name}_error")
            for name in ("frappe_site_name", "frappe_socketio_url", "frappe_time_zone")
        }
        form = QFormLayout(self.frappe_group)
        form.addRow("Site name:", self.site_name)
        form.addRow("", self.errors["frappe_site_name"])
        form.addRow("socket.io URL:", self.socketio_url)
        form.addRow("", self.errors["frappe_socketio_url"])
        form.addRow("Time zone:", self.time_zone)
        form.addRow("", self.errors["frappe_time_zone"])

        # The sign-in page for "API key and secret" (the dialog puts it in its stack).
        self.key_page = QWidget(self)
        self.api_key = QLineEdit(self.key_page)
        self.api_key.setAccessibleName("API key")
        self.api_secret = QLineEdit(self.key_page)
        self.api_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_secret.setAccessibleName("API secret")
        self.api_secret.setPlaceholderText("Shown once when the key is generated in the desk")
        key_form = QFormLayout(self.key_page)
        key_form.addRow("API key:", self.api_key)
        key_form.addRow("API secret:", self.api_secret)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.frappe_group)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self._on_kind_changed()

    def current(self) -> BackendKind:
        # Qt hands enum item data back as plain str.
        return BackendKind(self.kind.currentData())

    def is_frappe(self) -> bool:
        return self.current() is BackendKind.FRAPPE

    def load(self, settings: Settings) -> None:
        """Show the settings' kind and Frappe fields; clear the secret and every error."""
        self.kind.setCurrentIndex(self.kind.findData(settings.backend))
        self.site_name.setText(settings.frappe_site_name or "")
        self.socketio_url.setText(settings.frappe_socketio_url or "")
        self.time_zone.setText(settings.frappe_time_zone or "")
        self.clear_secret()
        for field_name in self.errors:
            self.show_error(field_name, "")

    def choice(self) -> HelpdeskChoice:
        """What is chosen, checked; ``SettingsError`` names the first bad field (each bad
        field shows its reason)."""
        errors: list[SettingsError] = []

        def checked(make: Callable[[], str | None]) -> str | None:
            try:
                return make()
            except SettingsError as error:
                errors.append(error)
                return None

        socketio_field = "frappe_socketio_url"
        choice = HelpdeskChoice(
            self.current(),
            checked(lambda: validate_frappe_site_name(self.site_name.text())),
            checked(lambda: validate_server_url(self.socketio_url.text(), socketio_field) or None),
            checked(lambda: validate_time_zone(self.time_zone.text())),
        )
        for field_name in self.errors:
            self.show_error(field_name, "")
        for error in errors:
            self.show_error(error.field_name, error.reason)
        if errors:
            raise errors[0]
        return choice

    def api_token(self) -> str:
        """``KEY:SECRET`` (the one token the keyring keeps); empty until both are typed."""
        key, secret = self.api_key.text().strip(), self.api_secret.text().strip()
        return f"{key}:{secret}" if key and secret else ""

    def clear_secret(self) -> None:
        self.api_secret.clear()

    def show_error(self, field_name: str, reason: str) -> bool:
        """Show ``reason`` next to a Frappe field; False when the field is not one of them."""
        label = self.errors.get(field_name)
        if label is None:
            return False
        label.setText(reason)
        label.setVisible(bool(reason))
        return True

    def _on_kind_changed(self) -> None:
        self.frappe_group.setVisible(self.is_frappe())
        self.kindChanged.emit(self.current())
