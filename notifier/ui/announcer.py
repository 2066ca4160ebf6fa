"""Screen-reader announcements of arrivals while the popup is open.

While the popup is open (in quiet hours it is where the agent looks), a new notification
arriving is news a screen reader would otherwise not say: the focus stays on the chosen row,
and an arrival held while the pointer is over the list does not even move the rows.
:class:`ArrivalAnnouncer` turns arrivals into polite announcements:

* one arrival is announced in the words its row uses ("Unread. Bea Baker assigned you #2 …");
* arrivals within :data:`BURST_MS` of the first collect into ONE announcement ("3 new
  notifications"), so a burst is not a flood, and announcements come at most once a burst;
* :meth:`ArrivalAnnouncer.cancel` drops what is collected (the popup closed: the toast is
  the channel then).

What is said goes to an injected ``post(text)`` sink; :func:`post_announcement` is the real
one, a ``QAccessibleAnnouncementEvent`` (Qt 6.8) through ``QAccessible.updateAccessibility``.
Its Qt classes are imported at the first announcement, not with this module: PySide6 makes a
class's Python type when it is first named, and most days never announce anything.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

BURST_MS = 1_000  # arrivals within this of the first are one announcement


NOTIFICATIONS = ("notification", "notifications")


def post_announcement(source: QObject, text: str) -> None:
    """Ask the screen reader to say ``text`` politely (after what it is saying), on behalf of
    ``source`` (a widget with an accessible interface: the popup's list)."""
    from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent  # lazily: see above

    event = QAccessibleAnnouncementEvent(source, text)
    event.setPoliteness(QAccessible.AnnouncementPoliteness.Polite)
    QAccessible.updateAccessibility(event)


class ArrivalAnnouncer(QObject):
    """Collects arrivals for :data:`BURST_MS` and posts one announcement for them.

    ``post`` must not hold the announcer's parent: a widget kept alive by a cycle through it
    outlives its C++ half (give it the list, not the panel)."""

    def __init__(
        self,
        post: Callable[[str], None],
        *,
        burst_ms: int = BURST_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._post = post
        self._count = 0
        self._words: str | None = None
        self._nouns = NOTIFICATIONS
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(burst_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def pending(self) -> int:
        """How many arrivals wait to be announced."""
        return self._count

    def arrived(
        self, count: int, words: str | None = None, nouns: tuple[str, str] = NOTIFICATIONS
    ) -> None:
        """``count`` more arrivals; ``words``: what the row says, when ``count`` is 1;
        ``nouns``: what they are, singular and plural, for the count ("3 new mentions")."""
        if count <= 0:
            return
        self._count += count
        self._words = words if self._count == 1 else None
        self._nouns = nouns
        if not self._timer.isActive():
            self._timer.start()

    def cancel(self) -> None:
        """Forget what is collected, unsaid."""
        self._timer.stop()
        self._count, self._words = 0, None

    def _on_timer_timeout(self) -> None:
        count, words, (singular, plural) = self._count, self._words, self._nouns
        self.cancel()
        if count == 1 and words:
            self._post(words)
        elif count:
            self._post(f"{count} new {singular if count == 1 else plural}")
