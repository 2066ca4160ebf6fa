"""The notification centre: a frameless panel near the tray icon with the list of notifications.

:class:`NotificationPanel` is the content (header, offline banner, list); :class:`Popup`
wraps it in a ``Qt.Popup`` window, which closes on a click anywhere outside it and on
Escape. The fallback window (no system tray) embeds the same panel in a normal window.

The panel never changes state itself: it emits intents (``openRequested(id)``,
``deleteRequested(id)``, ``markAllReadRequested()`` …) that the application connects to the
controller, and it shows what the controller says (unread count, connection status). The
list is a plain QListView over :class:`~notifier.app.list_model.NotificationListModel` with
:class:`~notifier.ui.delegate.NotificationDelegate`, so its rows are never rich text.

Mouse: click a row to open it (the controller checks the link and marks it read); the hover
buttons toggle read and delete; right click for a menu with the same actions.
Keyboard: arrows move, Enter opens, Delete deletes, R toggles read, Escape closes.

Timers run only while the panel is visible: relative times refresh every 30 s, and the
offline banner's "retrying in N s" counts down once a second only while the banner shows.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QGuiApplication, QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from notifier.app.list_model import NotificationListModel, Role
from notifier.app.signals import emit
from notifier.app.status_text import banner_text, can_retry
from notifier.core.ports import Clock
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.core.wire import NotificationType
from notifier.ui.delegate import NotificationDelegate

POPUP_SIZE = QSize(420, 520)
TIME_REFRESH_MS = 30_000
COUNTDOWN_MS = 1_000
TYPE_CHOICES: tuple[tuple[str, frozenset[NotificationType] | None], ...] = (
    ("All types", None),
    ("Assignments", frozenset({NotificationType.ASSIGNMENT})),
    ("Mentions", frozenset({NotificationType.MENTION})),
    ("Ticket updates", frozenset({NotificationType.REACTION})),
)


def place_popup(size: QSize, anchor: QRect | None, cursor: QPoint, available: QRect) -> QPoint:
    """Top-left corner for a popup of ``size`` next to ``anchor`` (the tray icon's geometry,
    or the cursor when the platform does not tell), kept inside ``available``."""
    target = anchor if anchor is not None and anchor.isValid() else QRect(cursor, QSize(1, 1))
    # Open away from the panel edge the icon sits on: above a bottom panel, below a top one.
    below = target.center().y() < available.center().y()
    y = target.bottom() + 4 if below else target.top() - size.height() - 4
    x = target.right() - size.width() + 1
    if target.center().x() < available.center().x():
        x = target.left()
    x = min(max(x, available.left()), available.right() - size.width() + 1)
    y = min(max(y, available.top()), available.bottom() - size.height() + 1)
    return QPoint(x, y)


class NotificationPanel(QWidget):
    openRequested = Signal(str)
    toggleReadRequested = Signal(str)
    markReadRequested = Signal(str)
    markUnreadRequested = Signal(str)
    deleteRequested = Signal(str)
    markAllReadRequested = Signal()
    clearReadRequested = Signal()
    retryRequested = Signal()

    def __init__(
        self, model: NotificationListModel, clock: Clock, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._clock = clock
        self._status = ConnectionStatus(ConnectionState.SIGNED_OUT)
        self.setAccessibleName("Helpdesk notifications")

        self.count_label = QLabel("0 unread")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.count_label.setAccessibleName("Unread count")
        self.show_filter = QComboBox()
        self.show_filter.addItems(["All", "Unread"])
        self.show_filter.setAccessibleName("Show")
        self.type_filter = QComboBox()
        for label, _types in TYPE_CHOICES:
            self.type_filter.addItem(label)
        self.type_filter.setAccessibleName("Notification type")
        self.mark_all_button = QPushButton("Mark all read")
        self.mark_all_button.setAccessibleName("Mark all read")
        self.clear_read_button = QPushButton("Clear read")
        self.clear_read_button.setAccessibleName("Clear read notifications")

        header = QHBoxLayout()
        header.addWidget(self.count_label)
        header.addStretch(1)
        header.addWidget(self.show_filter)
        header.addWidget(self.type_filter)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.mark_all_button)
        actions.addWidget(self.clear_read_button)

        self.banner = QFrame()
        self.banner.setObjectName("offlineBanner")
        self.banner.setStyleSheet(
            "#offlineBanner { background: #fff4ce; border: 1px solid #e0c060; border-radius: 4px; }"
        )
        self.banner_label = QLabel()
        self.banner_label.setTextFormat(Qt.TextFormat.PlainText)
        self.banner_label.setWordWrap(True)
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setAccessibleName("Retry connecting now")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(8, 4, 8, 4)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.retry_button)
        self.banner.hide()

        self.delegate = NotificationDelegate(self)
        self.list_view = QListView()
        self.list_view.setModel(model)
        self.list_view.setItemDelegate(self.delegate)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setMouseTracking(True)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list_view.setAccessibleName("Notifications")
        # Hover from the view's own signals, not an event filter on its viewport: the first
        # Python handle on that C++-made widget makes PySide6 load the Python types of the
        # widget classes it had not loaded yet (134 here, 0.9 MB), which a window that shows
        # its list at once (no tray) would carry all day.
        self.list_view.installEventFilter(self)
        self.list_view.entered.connect(self._on_row_entered)
        self.list_view.viewportEntered.connect(self._clear_hover)
        self.empty_label = QLabel("No notifications")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(header)
        layout.addLayout(actions)
        layout.addWidget(self.banner)
        layout.addWidget(self.list_view, 1)
        layout.addWidget(self.empty_label)

        self._time_timer = QTimer(self)
        self._time_timer.setInterval(TIME_REFRESH_MS)
        self._time_timer.timeout.connect(self._on_time_timer_timeout)
        self._countdown = QTimer(self)
        self._countdown.setInterval(COUNTDOWN_MS)
        self._countdown.timeout.connect(self._update_banner)

        self.show_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.type_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.mark_all_button.clicked.connect(self.markAllReadRequested)
        self.clear_read_button.clicked.connect(self.clearReadRequested)
        self.retry_button.clicked.connect(self.retryRequested)
        self.delegate.rowClicked.connect(self.openRequested)
        self.delegate.toggleReadClicked.connect(self.toggleReadRequested)
        self.delegate.deleteClicked.connect(self.deleteRequested)
        self.list_view.customContextMenuRequested.connect(self._on_list_context_menu)
        model.modelReset.connect(self._update_empty)
        model.rowsInserted.connect(self._update_empty)
        model.rowsRemoved.connect(self._update_empty)

    # ------------------------------------------------------------------ what the app tells us

    def set_unread_count(self, unread: int) -> None:
        self.count_label.setText(f"{unread} unread")
        self.mark_all_button.setEnabled(unread > 0)

    def set_status(self, status: ConnectionStatus) -> None:
        self._status = status
        self._update_banner()

    def timers_active(self) -> tuple[bool, bool]:
        """(relative-time refresh, banner countdown) running; for tests of idle behaviour."""
        return self._time_timer.isActive(), self._countdown.isActive()

    def current_id(self) -> str | None:
        index = self.list_view.currentIndex()
        return str(index.data(Role.ID)) if index.isValid() else None

    # ------------------------------------------------------------------ internals

    def _update_banner(self) -> None:
        text = banner_text(self._status, self._clock.now())
        if text is None:
            self.banner.hide()
            self._countdown.stop()
            return
        self.banner_label.setText(text)
        self.retry_button.setVisible(can_retry(self._status))
        self.banner.show()
        counting = (
            self._status.state is ConnectionState.BACKING_OFF
            and self._status.next_retry_at is not None
        )
        if counting and self.isVisible():
            if not self._countdown.isActive():
                self._countdown.start()
        else:
            self._countdown.stop()

    def _update_empty(self) -> None:
        empty = self.model.rowCount() == 0
        self.empty_label.setVisible(empty)
        if empty:
            unread_only = self.show_filter.currentIndex() == 1
            self.empty_label.setText(
                "No unread notifications" if unread_only else "No notifications"
            )

    def _on_filter_changed(self) -> None:
        types = TYPE_CHOICES[max(0, self.type_filter.currentIndex())][1]
        self.model.set_view(unread_only=self.show_filter.currentIndex() == 1, types=types)

    def _on_time_timer_timeout(self) -> None:
        self.model.refresh_times()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.model.refresh_times()
        self._time_timer.start()
        self._update_banner()
        self._update_empty()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._time_timer.stop()
        self._countdown.stop()

    def _on_list_context_menu(self, position: QPoint) -> None:
        index = self.list_view.indexAt(position)
        if not index.isValid():
            return
        menu = self.row_menu(index)
        menu.exec(self.list_view.viewport().mapToGlobal(position))

    def row_menu(self, index: QModelIndex) -> QMenu:
        """The per-row context menu (built fresh, so it always matches the row's state)."""
        notification_id = str(index.data(Role.ID))
        read = bool(index.data(Role.READ))
        menu = QMenu(self)
        menu.addAction("Open").triggered.connect(lambda: emit(self.openRequested, notification_id))
        if read:
            menu.addAction("Mark unread").triggered.connect(
                lambda: emit(self.markUnreadRequested, notification_id)
            )
        else:
            menu.addAction("Mark read").triggered.connect(
                lambda: emit(self.markReadRequested, notification_id)
            )
        menu.addAction("Delete").triggered.connect(
            lambda: emit(self.deleteRequested, notification_id)
        )
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list_view and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            return self._on_list_key(event)
        if watched is self.list_view and event.type() == QEvent.Type.Leave:
            self._clear_hover()  # the pointer left the list (Qt sends the view its own Leave)
        return super().eventFilter(watched, event)

    def _set_hovered_row(self, row: int | None) -> None:
        previous, self.delegate.hovered_row = self.delegate.hovered_row, row
        for changed in (previous, row):
            if changed is not None:  # repaint the rows whose buttons appear or go
                self.list_view.update(self.model.index(changed, 0))

    def _on_row_entered(self, index: QModelIndex) -> None:
        self._set_hovered_row(index.row())

    def _clear_hover(self) -> None:
        self._set_hovered_row(None)

    def _on_list_key(self, event: QKeyEvent) -> bool:
        notification_id = self.current_id()
        key = event.key()
        if notification_id is None:
            return False
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            emit(self.openRequested, notification_id)
            return True
        if key == Qt.Key.Key_Delete:
            emit(self.deleteRequested, notification_id)
            return True
        if key == Qt.Key.Key_R and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            emit(self.toggleReadRequested, notification_id)
            return True
        return False


class Popup(QFrame):
    """The panel in a frameless ``Qt.Popup`` window near the tray icon."""

    opened = Signal()
    closed = Signal()

    def __init__(self, panel: NotificationPanel) -> None:
        super().__init__(None, Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Helpdesk notifications")
        self.panel = panel
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(panel)
        self.resize(POPUP_SIZE)

    def show_near(self, anchor: QRect | None) -> None:
        cursor = QCursor.pos()
        screen = (
            QGuiApplication.screenAt(
                anchor.center() if anchor is not None and anchor.isValid() else cursor
            )
            or QGuiApplication.primaryScreen()
        )
        available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1920, 1080)
        self.move(place_popup(self.size(), anchor, cursor, available))
        emit(self.opened)
        self.show()
        self.raise_()
        self.activateWindow()
        self.panel.list_view.setFocus()
        if not self.panel.list_view.currentIndex().isValid() and self.panel.model.rowCount():
            self.panel.list_view.setCurrentIndex(self.panel.model.index(0))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        emit(self.closed)
