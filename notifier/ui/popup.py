"""The notification centre: a frameless panel near the tray icon with the list of notifications.

:class:`NotificationPanel` is the content (header, offline banner, list); :class:`Popup`
wraps it in a ``Qt.Popup`` window, which closes on a click anywhere outside it and on
Escape. The fallback window (no system tray) embeds the same panel in a normal window.

The panel never changes state itself: it emits intents (``openRequested(id)``,
``deleteRequested(id)``, ``markAllReadRequested(types)`` …) that the application connects to
the controller, and it shows what the controller says (unread count, connection status). The
list is a plain QListView over :class:`~notifier.app.list_model.NotificationListModel` with
:class:`~notifier.ui.delegate.NotificationDelegate`, so its rows are never rich text.

Filters: "Show" (all or unread) and "Type", each a box with a visible label (its buddy, with
a mnemonic: Alt+S, Alt+T). Everything in the header speaks for the type filter: the count
("2 unread mentions"), and the actions, whose labels name what they act on ("Mark all
mentions read" marks only mentions). When the list is empty, it says why and
offers the one change of filter that would show something ("Show all types").

While the pointer is over the list, new arrivals do not push the rows down under it: the
model holds them and a "N new" button at the top of the list says how many; they go in when
the pointer leaves the list, when the list is scrolled back to the top, or on a click on it.

Signed out (or refused), the banner says so and its "Sign in…" button asks for the settings
(``settingsRequested``).

Mouse: click a row to open it (the controller checks the link and marks it read); the hover
buttons toggle read and delete; right click for a menu with the same actions.
Keyboard: arrows move, Enter opens, Delete deletes, R toggles read, the Menu key (or Shift+F10)
opens the row's menu, Escape closes; the row they act on is always highlighted (the first one
on opening and after a change of filter). Screen readers: every label's name is its text, the
filters are named by their labels and describe themselves (Linux names a combo box by its
current item, and its label through the "labelled by" relation), the list describes itself,
and each row reads as its model's ``AccessibleTextRole`` ("Unread. Bea assigned you #2 …").
While the panel's window is open and active, arrivals (held ones too: the list does not move
for them) are announced politely in those words, a burst as one "3 new mentions"; closed,
nothing is said (the toast is the channel then). See notifier/ui/announcer.py.

Timers run only while the panel is visible: relative times refresh every 30 s, and the
offline banner's "retrying in N s" counts down once a second only while the banner shows.

Look: the list is flush with the popup's edges (no frame of its own inside the popup's);
where the style is Qt's own Fusion (a Linux desktop without a Qt theme, where native
scroll bars have no arrows), the list's scroll bar is a slim one without arrows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCursor,
    QFontMetrics,
    QGuiApplication,
    QHideEvent,
    QKeyEvent,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSpacerItem,
    QVBoxLayout,
    QWidget,
)

from notifier.app.list_model import NotificationListModel, Role, ScopeCounts
from notifier.app.status_text import banner_text, can_retry
from notifier.core.ports import Clock
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.core.wire import Notification, NotificationType
from notifier.ui.announcer import BURST_MS, ArrivalAnnouncer, post_announcement
from notifier.ui.delegate import (
    NotificationDelegate,
    row_sizes,
    secondary_text_color,
    text_scale,
)
from notifier.ui.placement import popup_geometry

POPUP_SIZE = QSize(420, 520)  # at the reference font (delegate.REFERENCE_LINE, 14 px lines)
FILTERS_GAP = 6  # px at the reference font, beside the layout's spacing: "All ▾  Type"
TIME_REFRESH_MS = 30_000
COUNTDOWN_MS = 1_000
SHOW_ALL, SHOW_UNREAD = 0, 1
NEEDS_SIGN_IN = frozenset({ConnectionState.SIGNED_OUT, ConnectionState.AUTH_FAILED})
SLIM_SCROLL_BAR = """
QScrollBar:vertical { background: transparent; width: 10px; margin: 0; border: none; }
QScrollBar::handle:vertical {
    background: palette(mid); min-height: 32px; margin: 2px 2px 2px 3px; border-radius: 2px;
}
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0; border: none; }
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical { background: transparent; }
"""
NEW_BUTTON_STYLE = """
QPushButton { background-color: palette(highlight); color: palette(highlighted-text);
              border: 1px solid palette(highlight); border-radius: 11px;
              min-height: 20px; padding: 0 12px; font-weight: bold; }
QPushButton:hover { background-color: palette(dark); border-color: palette(dark); }
"""
SHOW_FILTER_DESCRIPTION = "Show all notifications or only unread ones"
TYPE_FILTER_DESCRIPTION = "Which type of notifications to show"
LIST_KEYS_DESCRIPTION = (
    "Enter opens the ticket, R marks it read or unread, Delete deletes it, "
    "the Menu key shows all actions"
)


def new_button_name(held: int) -> str:
    """What a screen reader says for the "↑ N new" button."""
    return f"Show {held} new notification{'' if held == 1 else 's'}"


# Phrases of the banner a line must never break inside: a countdown split as "retrying in 1"
# / "s" reads as nonsense, and its width changes every second.
_KEEP_TOGETHER = re.compile(r"retrying in \d+ s|retrying now|Offline —")
NO_BREAK_SPACE = "\u00a0"


def banner_words(text: str) -> str:
    """``text`` with the spaces inside :data:`_KEEP_TOGETHER`'s phrases made non-breaking, so
    a word-wrapping label moves each phrase to the next line whole."""
    return _KEEP_TOGETHER.sub(lambda match: match.group().replace(" ", NO_BREAK_SPACE), text)


@dataclass(frozen=True, slots=True)
class TypeChoice:
    """One entry of the type filter, and the words for what it shows."""

    label: str
    types: frozenset[NotificationType] | None
    singular: str
    plural: str

    def count(self, number: int) -> str:
        return f"{number} {self.singular if number == 1 else self.plural}"


TYPE_CHOICES: tuple[TypeChoice, ...] = (
    TypeChoice("All types", None, "notification", "notifications"),
    TypeChoice(
        "Assignments", frozenset({NotificationType.ASSIGNMENT}), "assignment", "assignments"
    ),
    TypeChoice("Mentions", frozenset({NotificationType.MENTION}), "mention", "mentions"),
    TypeChoice(
        "Ticket updates", frozenset({NotificationType.REACTION}), "ticket update", "ticket updates"
    ),
)
ALL_TYPES = TYPE_CHOICES[0]


class Widen(Enum):
    """How an empty list can show something: the button under the empty-state text."""

    TYPES = "Show all types"
    READ = "Show read ones too"
    EVERYTHING = "Show everything"


def popup_size(metrics: QFontMetrics) -> QSize:
    """:data:`POPUP_SIZE` grown with the font: desktops with larger text (GNOME's 11 pt, text
    scaling for accessibility) get a popup as many lines wide and high."""
    scale = text_scale(metrics.height())
    return QSize(round(POPUP_SIZE.width() * scale), round(POPUP_SIZE.height() * scale))


def header_text(choice: TypeChoice, counts: ScopeCounts) -> str:
    """The count above the list: "3 unread", or for one type "1 unread mention"."""
    if choice.types is None:
        return f"{counts.unread} unread"
    noun = choice.singular if counts.unread == 1 else choice.plural
    return f"{counts.unread} unread {noun}"


def action_labels(choice: TypeChoice) -> tuple[str, str]:
    """(mark all read, clear read) as the buttons say it for ``choice``."""
    if choice.types is None:
        return "Mark all read", "Clear read"
    return f"Mark all {choice.plural} read", f"Clear read {choice.plural}"


@dataclass(frozen=True, slots=True)
class EmptyState:
    """What an empty list says: why it is empty, more detail, and the way to widen it."""

    title: str
    detail: str
    widen: Widen | None


def empty_state(choice: TypeChoice, unread_only: bool, counts: ScopeCounts) -> EmptyState:
    """Why the list is empty, and the change of filter that would show something."""
    if counts.nothing_at_all:
        return EmptyState(
            "No notifications yet",
            "Tickets assigned to you, mentions, and customer replies on your tickets will "
            "show up here.",
            None,
        )
    if unread_only and counts.unread == 0:
        title = f"No unread {choice.plural}"
        others = counts.unread_elsewhere
        if others:
            detail = f"{ALL_TYPES.count(others)} of other types {_are(others)} unread."
            return EmptyState(title, detail, Widen.TYPES)
        detail = "You are all caught up."
        return EmptyState(title, detail, Widen.READ if counts.read else Widen.EVERYTHING)
    # "All" shown, one type chosen, and none of that type at all.
    others = counts.unread_elsewhere + counts.read_elsewhere
    detail = f"{ALL_TYPES.count(others)} of other types {_are(others)} in the list."
    return EmptyState(f"No {choice.plural}", detail, Widen.TYPES)


def _are(number: int) -> str:
    return "is" if number == 1 else "are"


def two_line_width(metrics: QFontMetrics, text: str) -> int:
    """The narrowest width ``text`` fits in on at most two lines, broken between words."""
    words = text.split(" ")
    if len(words) < 2:
        return metrics.horizontalAdvance(text)
    return min(
        max(
            metrics.horizontalAdvance(" ".join(words[:split])),
            metrics.horizontalAdvance(" ".join(words[split:])),
        )
        for split in range(1, len(words))
    )


class CountLabel(QLabel):
    """The header's count: on one line where the filters beside it leave room, else on two.
    "128 unread ticket updates" on one line was wider than the filters left of a 420 px
    popup, and the popup grew past the tray icon it opened at to make room."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        # What the layout must give it; more (the header's spare room) keeps it on one line.
        width = two_line_width(self.fontMetrics(), self.text()) + 1  # the last pixel's rounding
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()


class NotificationPanel(QWidget):
    openRequested = Signal(str)
    toggleReadRequested = Signal(str)
    markReadRequested = Signal(str)
    markUnreadRequested = Signal(str)
    deleteRequested = Signal(str)
    markAllReadRequested = Signal(object)  # frozenset[NotificationType] | None (all types)
    clearReadRequested = Signal(object)  # the same
    retryRequested = Signal()
    settingsRequested = Signal()  # "Sign in…" in the banner while signed out

    def __init__(
        self,
        model: NotificationListModel,
        clock: Clock,
        parent: QWidget | None = None,
        *,
        announce: Callable[[str], None] | None = None,
        announce_burst_ms: int = BURST_MS,
    ) -> None:
        """``announce(text)`` says ``text`` to a screen reader (default: an accessibility
        announcement from the list), arrivals within ``announce_burst_ms`` as one; tests pass
        a recorder and a short burst."""
        super().__init__(parent)
        self.model = model
        self._clock = clock
        self._status = ConnectionStatus(ConnectionState.SIGNED_OUT)
        self._counts = ScopeCounts(0, 0, 0, 0)
        self._pointer_over_list = False
        self._scroll_watched = False
        self.setAccessibleName("Helpdesk notifications")

        self.count_label = CountLabel("0 unread")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        # No accessible name on the labels of this panel: a label's name is its text ("2 unread
        # mentions"), and a fixed one ("Unread count") is all a screen reader would say.
        title_font = self.count_label.font()
        title_font.setBold(True)
        self.count_label.setFont(title_font)
        # Each filter has a visible label, its buddy: a sighted agent sees what the box is
        # for, Alt+S / Alt+T reach it, and a screen reader names the box by the label (no
        # accessible name of its own: on Windows and macOS the name is the buddy's text, on
        # Linux (AT-SPI) the box's current item ("All"), with the label as its "labelled by"
        # relation). The description says what the box chooses, there as everywhere.
        self.show_filter = QComboBox()
        self.show_filter.addItems(["All", "Unread"])
        self.show_filter.setAccessibleDescription(SHOW_FILTER_DESCRIPTION)
        self.show_label = QLabel("&Show")
        self.show_label.setBuddy(self.show_filter)
        self.type_filter = QComboBox()
        for choice in TYPE_CHOICES:
            self.type_filter.addItem(choice.label)
        self.type_filter.setAccessibleDescription(TYPE_FILTER_DESCRIPTION)
        self.type_label = QLabel("&Type")
        self.type_label.setBuddy(self.type_filter)
        self.mark_all_button = QPushButton("Mark all read")
        self.mark_all_button.setAccessibleName("Mark all read")
        self.clear_read_button = QPushButton("Clear read")
        self.clear_read_button.setAccessibleName("Clear read notifications")

        header = QHBoxLayout()
        # The gaps around the filters grow with the font (_space_filters): at 18 pt the
        # layout's few pixels left "Type" touching its box.
        self._label_gaps = (QSpacerItem(0, 0), QSpacerItem(0, 0))
        self._filters_gap = QSpacerItem(0, 0)
        header.addWidget(self.count_label, 1)  # the room the filters leave
        header.addWidget(self.show_label)
        header.addSpacerItem(self._label_gaps[0])
        header.addWidget(self.show_filter)
        header.addSpacerItem(self._filters_gap)
        header.addWidget(self.type_label)
        header.addSpacerItem(self._label_gaps[1])
        header.addWidget(self.type_filter)
        self._header = header
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.mark_all_button)
        actions.addWidget(self.clear_read_button)

        self.banner = QFrame()
        self.banner.setObjectName("offlineBanner")
        self.banner.setStyleSheet(
            "#offlineBanner { background: #fff4ce; border: 1px solid #e0c060; border-radius: 4px; }"
            " #offlineBanner QLabel { color: #3d3000; }"
        )
        self.banner_label = QLabel()
        self.banner_label.setTextFormat(Qt.TextFormat.PlainText)
        self.banner_label.setWordWrap(True)  # between phrases only: see banner_words
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setAccessibleName("Retry connecting now")
        # Signed out, the banner says to sign in in Settings: this button opens them, so the
        # agent need not go looking for the tray menu.
        self.sign_in_button = QPushButton("Sign in…")
        self.sign_in_button.setAccessibleName("Open the settings to sign in")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(8, 4, 8, 4)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.retry_button)
        banner_layout.addWidget(self.sign_in_button)
        self.banner.hide()

        self.delegate = NotificationDelegate(self)
        self.list_view = QListView()
        self.list_view.setModel(model)
        self.list_view.setItemDelegate(self.delegate)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setMouseTracking(True)
        self.list_view.setFrameShape(QFrame.Shape.NoFrame)  # flush: the popup has the frame
        self.list_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list_view.setAccessibleName("Notifications")
        # The hover buttons are painted, not widgets: say once, on the list, which keys do
        # what they do (see _on_list_key).
        self.list_view.setAccessibleDescription(LIST_KEYS_DESCRIPTION)
        if QApplication.style().name().lower() == "fusion":
            self.list_view.setStyleSheet(SLIM_SCROLL_BAR)
        # Hover from the view's own signals, not an event filter on its viewport: the first
        # Python handle on that C++-made widget makes PySide6 load the Python types of the
        # widget classes it had not loaded yet, which a window that shows its list at once
        # (no tray) would carry all day (benchmarks/README.md, idle memory).
        self.list_view.installEventFilter(self)
        self.list_view.entered.connect(self._on_row_entered)
        self.list_view.viewportEntered.connect(self._clear_hover)

        # Over the list (children of the view, so showing them moves no row): the empty
        # state, and the "N new" button of arrivals held while the pointer is on the list.
        self.empty_state = QWidget(self.list_view)
        self.empty_label = QLabel(self.empty_state)
        self.empty_detail = QLabel(self.empty_state)
        for label in (self.empty_label, self.empty_detail):
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
        big = self.empty_label.font()
        big.setBold(True)
        big.setPointSizeF(big.pointSizeF() * 1.15)
        self.empty_label.setFont(big)
        self._colour_empty_detail()
        self.widen_button = QPushButton(self.empty_state)
        self._widen: Widen | None = None
        empty_layout = QVBoxLayout(self.empty_state)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty_label)
        empty_layout.addWidget(self.empty_detail)
        empty_layout.addSpacing(6)
        empty_layout.addWidget(self.widen_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(2)
        self.empty_state.hide()
        self.new_button = QPushButton(self.list_view)
        self.new_button.setStyleSheet(NEW_BUTTON_STYLE)
        self.new_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.new_button.hide()

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(8, 8, 8, 8)
        top_layout.addLayout(header)
        self._space_filters()  # in a widget now, the header knows the style's spacing
        top_layout.addLayout(actions)
        top_layout.addWidget(self.banner)
        separator = QFrame()
        separator.setFrameShape(QFrame.Shape.HLine)
        separator.setFrameShadow(QFrame.Shadow.Plain)
        separator.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(top)
        layout.addWidget(separator)
        layout.addWidget(self.list_view, 1)

        self._time_timer = QTimer(self)
        self._time_timer.setInterval(TIME_REFRESH_MS)
        self._time_timer.timeout.connect(self._on_time_timer_timeout)
        self._countdown = QTimer(self)
        self._countdown.setInterval(COUNTDOWN_MS)
        self._countdown.timeout.connect(self._update_banner)
        self.announcer = ArrivalAnnouncer(
            announce or partial(post_announcement, self.list_view),  # not self: see announcer
            burst_ms=announce_burst_ms,
            parent=self,
        )

        self.show_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.type_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.mark_all_button.clicked.connect(self._on_mark_all_clicked)
        self.clear_read_button.clicked.connect(self._on_clear_read_clicked)
        self.retry_button.clicked.connect(self.retryRequested)
        self.sign_in_button.clicked.connect(self.settingsRequested)
        self.widen_button.clicked.connect(self._on_widen_clicked)
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.delegate.rowClicked.connect(self.openRequested)
        self.delegate.toggleReadClicked.connect(self.toggleReadRequested)
        self.delegate.deleteClicked.connect(self.deleteRequested)
        self.list_view.customContextMenuRequested.connect(self._on_list_context_menu)
        model.modelReset.connect(self._update_scope)
        model.modelReset.connect(self.select_current_row)  # after the view's own reset
        model.rowsInserted.connect(self._update_scope)
        model.rowsRemoved.connect(self._update_scope)
        model.heldChanged.connect(self._on_model_held_changed)
        model.arrived.connect(self._on_model_arrived)

    # ------------------------------------------------------------------ what the app tells us

    def set_unread_count(self, unread: int) -> None:
        """The number of unread notifications changed (``unread`` of every type: the words
        above the list are for the type filter, so they are counted again here)."""
        self._update_scope()

    def set_status(self, status: ConnectionStatus) -> None:
        self._status = status
        self._update_banner()

    def timers_active(self) -> tuple[bool, bool]:
        """(relative-time refresh, banner countdown) running; for tests of idle behaviour."""
        return self._time_timer.isActive(), self._countdown.isActive()

    def current_id(self) -> str | None:
        index = self.list_view.currentIndex()
        return str(index.data(Role.ID)) if index.isValid() else None

    def select_current_row(self) -> None:
        """Highlight the row the keyboard acts on (the first one when there is none), so
        Enter and Delete never act on a row the agent cannot see is chosen: focusing the list
        makes its first row current without selecting it, and a new filter leaves none."""
        current = self.list_view.currentIndex()
        if not current.isValid() and self.model.rowCount():
            current = self.model.index(0)
        if current.isValid():
            self.list_view.setCurrentIndex(current)  # selects it too (single selection)

    @property
    def type_choice(self) -> TypeChoice:
        return TYPE_CHOICES[max(0, self.type_filter.currentIndex())]

    @property
    def unread_only(self) -> bool:
        return self.show_filter.currentIndex() == SHOW_UNREAD

    @property
    def counts(self) -> ScopeCounts:
        return self._counts

    # ------------------------------------------------------------------ internals

    def _update_banner(self) -> None:
        text = banner_text(self._status, self._clock.now())
        if text is None:
            self.banner.hide()
            self._countdown.stop()
            return
        self.banner_label.setText(banner_words(text))
        self.retry_button.setVisible(can_retry(self._status))
        self.sign_in_button.setVisible(self._status.state in NEEDS_SIGN_IN)
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

    def _update_scope(self) -> None:
        """The header's words, the actions and the empty state, for the current filter."""
        counts = self._counts = self.model.scope_counts()
        choice = self.type_choice
        self.count_label.setText(header_text(choice, counts))
        mark_label, clear_label = action_labels(choice)
        self.mark_all_button.setText(mark_label)
        self.mark_all_button.setAccessibleName(mark_label)
        self.mark_all_button.setEnabled(counts.unread > 0)
        self.clear_read_button.setText(clear_label)
        self.clear_read_button.setAccessibleName(clear_label)
        self.clear_read_button.setEnabled(counts.read > 0)
        empty = self.model.rowCount() == 0 and self.model.held_count == 0
        self.empty_state.setVisible(empty)
        if empty:
            state = empty_state(choice, self.unread_only, counts)
            self.empty_label.setText(state.title)
            self.empty_detail.setText(state.detail)
            self._widen = state.widen
            self.widen_button.setVisible(state.widen is not None)
            if state.widen is not None:
                self.widen_button.setText(state.widen.value)
            self._place_overlays()

    def _on_filter_changed(self) -> None:
        self.model.set_view(unread_only=self.unread_only, types=self.type_choice.types)

    def _on_mark_all_clicked(self) -> None:
        self.markAllReadRequested.emit(self.type_choice.types)

    def _on_clear_read_clicked(self) -> None:
        self.clearReadRequested.emit(self.type_choice.types)

    def _on_widen_clicked(self) -> None:
        widen = self._widen
        # One reload for both filter changes: the combo boxes' signals are held meanwhile.
        for combo in (self.show_filter, self.type_filter):
            combo.blockSignals(True)
        if widen in (Widen.TYPES, Widen.EVERYTHING):
            self.type_filter.setCurrentIndex(0)
        if widen in (Widen.READ, Widen.EVERYTHING):
            self.show_filter.setCurrentIndex(SHOW_ALL)
        for combo in (self.show_filter, self.type_filter):
            combo.blockSignals(False)
        self._on_filter_changed()

    def _on_model_held_changed(self, held: int) -> None:
        self.new_button.setVisible(held > 0)
        if held > 0:
            self.new_button.setText(f"↑ {held} new")
            self.new_button.setAccessibleName(new_button_name(held))  # not the arrow's name
            self.new_button.adjustSize()
            self._place_overlays()
        self._update_scope()

    def _on_model_arrived(self, count: int, notification: Notification | None) -> None:
        """Say what arrived, while the agent is in the popup (see the module docstring)."""
        if not (self.isVisible() and self.isActiveWindow()):  # a shown Qt.Popup is active
            return
        words = self.model.spoken_text(notification) if notification is not None else None
        choice = self.type_choice
        self.announcer.arrived(count, words, (choice.singular, choice.plural))

    def _on_new_button_clicked(self) -> None:
        self._release_held()
        self.list_view.scrollToTop()

    def _hold_arrivals(self, hold: bool) -> None:
        self._pointer_over_list = hold
        self.model.hold_arrivals(hold)

    def _release_held(self) -> None:
        """Let the held arrivals in now; keep holding later ones while the pointer stays."""
        self.model.hold_arrivals(False)
        self.model.hold_arrivals(self._pointer_over_list)

    def _on_scrolled(self, value: int) -> None:
        if value == 0 and self.model.held_count:
            self._release_held()  # scrolled back to the top: the agent wants the newest

    def _place_overlays(self) -> None:
        area = self.list_view.rect()
        if self.new_button.isVisible():
            self.new_button.move(area.center().x() - self.new_button.width() // 2, 6)
            self.new_button.raise_()
        self.empty_state.setGeometry(area.adjusted(16, 8, -16, -8))

    def _on_time_timer_timeout(self) -> None:
        self.model.refresh_times()

    def _colour_empty_detail(self) -> None:
        """The empty state's detail in the rows' grey, readable on the list (4.5:1). From the
        panel's palette: on a change of palette the panel hears of it before its children."""
        palette = self.empty_detail.palette()
        palette.setColor(QPalette.ColorRole.WindowText, secondary_text_color(self.palette()))
        self.empty_detail.setPalette(palette)

    def _space_filters(self) -> None:
        """Each filter's label as far from its box, and the two filters as far apart, as the
        reference font has them, times :func:`~notifier.ui.delegate.text_scale`."""
        scale = text_scale(self.fontMetrics().height())
        spacing = self._header.spacing()  # the style's, between every two widgets
        if spacing < 0:  # a style that spaces by the kinds of controls (macOS)
            spacing = self.style().layoutSpacing(
                QSizePolicy.ControlType.Label,
                QSizePolicy.ControlType.ComboBox,
                Qt.Orientation.Horizontal,
            )
        spacing = max(0, spacing)
        extra = round(spacing * scale) - spacing  # 0 at the reference font: today's look
        for gap in self._label_gaps:
            gap.changeSize(extra, 0, QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Minimum)
        self._filters_gap.changeSize(
            round(FILTERS_GAP * scale), 0, QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Minimum
        )
        self._header.invalidate()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            if self.list_view.styleSheet():
                # A style sheet keeps the font it was polished with (the list does not take
                # its parent's new one): hand it over, so the rows follow the desktop to
                # larger text (and back) like the rest.
                self.list_view.setFont(self.font())
            self._space_filters()
        if event.type() == QEvent.Type.PaletteChange:
            if self.list_view.styleSheet():
                # A style sheet keeps the palette it was polished with: set it again, so the
                # list follows the desktop from light to dark (and back) like the rest.
                self.list_view.setStyleSheet(self.list_view.styleSheet())
            self._colour_empty_detail()  # after: re-polishing restores the labels' palettes

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.model.refresh_times()
        self._time_timer.start()
        self._update_banner()
        self._update_scope()
        # The banner may have just appeared or changed height: lay out now, not after the
        # first paint, so the rows are where they are drawn from the first frame on.
        layout = self.layout()
        if layout is not None:
            layout.activate()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._time_timer.stop()
        self._countdown.stop()
        self.announcer.cancel()  # closed: the toast is the channel
        self._hold_arrivals(False)

    def _on_list_context_menu(self, position: QPoint) -> None:
        index = self.list_view.indexAt(position)
        if not index.isValid():
            return
        menu = self.row_menu(index)
        menu.exec(self.list_view.viewport().mapToGlobal(position))

    def _open_row_menu(self, index: QModelIndex) -> None:
        rect = self.list_view.visualRect(index)
        at = QPoint(rect.left() + row_sizes(rect).text_left, rect.center().y())
        self.row_menu(index).exec(self.list_view.viewport().mapToGlobal(at))

    def row_menu(self, index: QModelIndex) -> QMenu:
        """The per-row context menu (built fresh, so it always matches the row's state)."""
        notification_id = str(index.data(Role.ID))
        read = bool(index.data(Role.READ))
        menu = QMenu(self)
        menu.addAction("Open").triggered.connect(lambda: self.openRequested.emit(notification_id))
        if read:
            menu.addAction("Mark unread").triggered.connect(
                lambda: self.markUnreadRequested.emit(notification_id)
            )
        else:
            menu.addAction("Mark read").triggered.connect(
                lambda: self.markReadRequested.emit(notification_id)
            )
        menu.addAction("Delete").triggered.connect(
            lambda: self.deleteRequested.emit(notification_id)
        )
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list_view:
            kind = event.type()
            if kind == QEvent.Type.KeyPress:
                assert isinstance(event, QKeyEvent)
                return self._on_list_key(event)
            if kind == QEvent.Type.Enter:
                self._on_list_entered()
            elif kind == QEvent.Type.Leave:
                self._clear_hover()  # the pointer left the list (Qt sends the view its own Leave)
                self._hold_arrivals(False)
            elif kind == QEvent.Type.Resize:
                self._place_overlays()
        return super().eventFilter(watched, event)

    def _on_list_entered(self) -> None:
        if not self._pointer_over_list and self.isVisible():
            if not self._scroll_watched:
                # Connected on the first visit, not at start-up (see the hover note above).
                self.list_view.verticalScrollBar().valueChanged.connect(self._on_scrolled)
                self._scroll_watched = True
            self._hold_arrivals(True)

    def _set_hovered_row(self, row: int | None) -> None:
        previous, self.delegate.hovered_row = self.delegate.hovered_row, row
        for changed in (previous, row):
            if changed is not None:  # repaint the rows whose buttons appear or go
                self.list_view.update(self.model.index(changed, 0))

    def _on_row_entered(self, index: QModelIndex) -> None:
        self._set_hovered_row(index.row())
        self._on_list_entered()  # entered fires on every row change: holding is idempotent

    def _clear_hover(self) -> None:
        self._set_hovered_row(None)

    def _on_list_key(self, event: QKeyEvent) -> bool:
        notification_id = self.current_id()
        key = event.key()
        if notification_id is None:
            return False
        if key == Qt.Key.Key_Menu or (
            key == Qt.Key.Key_F10 and event.modifiers() == Qt.KeyboardModifier.ShiftModifier
        ):
            # The right click's menu from the keyboard too, for the row the keys act on (the
            # right click's is for the row under the pointer).
            self._open_row_menu(self.list_view.currentIndex())
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.openRequested.emit(notification_id)
            return True
        if key == Qt.Key.Key_Delete:
            self.deleteRequested.emit(notification_id)
            return True
        if key == Qt.Key.Key_R and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.toggleReadRequested.emit(notification_id)
            return True
        return False


class Popup(QFrame):
    """The panel in a frameless ``Qt.Popup`` window near the tray icon."""

    opened = Signal()
    closed = Signal()

    def __init__(self, panel: NotificationPanel) -> None:
        super().__init__(None, Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
        self.setFrameShape(QFrame.Shape.StyledPanel)  # the one frame: the list inside is flush
        self.setAccessibleName("Helpdesk notifications")
        self.panel = panel
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(panel)
        self.resize(popup_size(self.fontMetrics()))

    def show_near(self, anchor: QRect | None) -> None:
        """Open next to ``anchor`` (the tray icon's geometry; None or invalid where the
        platform does not tell, then next to the pointer): see notifier/ui/placement.py."""
        cursor = QCursor.pos()
        known = anchor is not None and anchor.isValid() and not anchor.isEmpty()
        at = anchor.center() if anchor is not None and known else cursor
        screen = QGuiApplication.screenAt(at) or QGuiApplication.primaryScreen()
        whole, available = screen.geometry(), screen.availableGeometry()
        preferred = popup_size(self.fontMetrics())
        self.setGeometry(popup_geometry(preferred, anchor, cursor, whole, available))
        self.opened.emit()
        self.show()
        self.raise_()
        self.activateWindow()
        self.panel.list_view.setFocus()
        self.panel.select_current_row()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.closed.emit()
        QTimer.singleShot(0, self._release_window)

    def _release_window(self) -> None:
        """Drop the native window and its backing store (the window's pixels) while the popup
        is closed, which is most of the day; the next :meth:`show_near` makes new ones
        (benchmarks/README.md: idle memory, opening the popup). The widgets and the list stay."""
        if not self.isVisible():
            self.destroy()
