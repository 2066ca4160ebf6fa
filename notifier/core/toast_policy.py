"""Which toasts to show, and when: bursts, replays, quiet hours, pause and the agent's choices.

Pure logic with time passed in. The controller (``notifier.app``) feeds it every
:class:`~notifier.core.status.CacheChange` the sync engine publishes, keeps ONE timer for
:meth:`ToastPolicy.next_wakeup`, calls :meth:`ToastPolicy.due` when it fires, and hands the
returned :class:`Toast` requests to the toast adapter; :meth:`ToastPolicy.withdrawn` says
which shown toasts to close. Obligations of the caller:

* call :meth:`~ToastPolicy.offer` for every change, in order (also local ones: they carry
  read and delete information even though they never toast);
* after :meth:`~ToastPolicy.offer` or :meth:`~ToastPolicy.update`, re-read
  :meth:`~ToastPolicy.next_wakeup` and re-arm the timer; after :meth:`~ToastPolicy.update`
  also call :meth:`~ToastPolicy.due` (a resumed pause may end a quiet stretch right away).

Rules
-----
* Candidates are UPSERTED, non-local, unread notifications of a type the agent toasts
  (``settings.toast_types``) while ``settings.toasts_enabled``. A read notification, a local
  change, a read-state change or a deletion never toasts.
* Leading edge: a live candidate after a quiet spell (no toast for ``window``) is due at
  once: :meth:`~ToastPolicy.next_wakeup` says *now*. What joins it before the caller's timer
  fires is shown with it.
* Burst window: what follows within ``window`` of a toast collects until ``window`` after
  that toast, so toasts come at most once a ``window`` however fast notifications arrive.
  Each time the collected ones are shown, at most ``settings.burst_threshold`` give one
  toast each (title by type, body = summary line and a message excerpt); more give ONE
  summary toast ("12 new notifications: ...").
* Replayed changes (a resume after being offline, a first sign-in) have no leading edge:
  they collect for ``window`` after the first one, and each replayed batch extends the
  window by ``window`` (up to ``replay_wait`` after the first) so a replay that arrives in
  several batches still becomes one summary.
* Quiet hours / pause (:class:`~notifier.core.quiet_hours.QuietState`): no toast at all.
  What arrives is remembered (ids and types) and, when suppression ends, ONE summary "While
  you were away" covers what is still unread, if ``settings.summary_after_quiet``. A burst
  whose window closes during quiet hours joins that memory.
* A burst of more than :data:`FULL_BURST` candidates (a first sign-in's history, a long
  replay) keeps only their ids and types from then on, not the notifications: it will be
  one summary, and 50,000 notifications held for the window were ~38 MB of a first
  sign-in's peak memory (benchmarks/README.md). Should reads bring it back under the
  threshold before it is shown, it is still one summary of what is left.
* Notifications read or deleted meanwhile (anywhere) drop out of the pending burst and the
  quiet-hours memory. A ``RESET`` change (the cache was rebuilt) keeps them: the engine's
  later read-state changes still arrive.
* A re-issued notification (same id, new seq: a folded reaction or a rate-limited burst)
  whose toast is still shown gives a toast under the same key, without sound: the adapter
  replaces the shown one, so the agent sees one toast, updated.
* :meth:`~ToastPolicy.withdrawn`: toasts this policy emitted whose notification became read
  or was deleted (including the agent's own local actions), and summaries all of whose
  notifications did.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from notifier.core.quiet_hours import QuietState
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind
from notifier.core.text import count_summary, excerpt, summary_line, type_title
from notifier.core.wire import Notification, NotificationType

DEFAULT_WINDOW: Final = timedelta(seconds=0.8)
DEFAULT_REPLAY_WAIT: Final = timedelta(seconds=5)
# How many emitted toasts are remembered for withdrawal; platforms keep far fewer on screen.
_SHOWN_LIMIT: Final = 500
SUMMARY_TITLE: Final = "New notifications"
AWAY_TITLE: Final = "While you were away"
# Candidates beyond which a burst keeps ids and types only (see the module docstring); far
# above any burst_threshold the settings allow.
FULL_BURST: Final = 1_000


@dataclass(frozen=True)
class Toast:
    """One toast request for the adapter. All text is plain text."""

    key: str  # the notification id, or "summary-<n>"
    title: str
    body: str
    notification_id: str | None  # None for summaries
    link: str | None
    sound: bool


class ToastPolicy:
    def __init__(
        self,
        settings: Settings,
        quiet: QuietState,
        *,
        window: timedelta = DEFAULT_WINDOW,
        replay_wait: timedelta = DEFAULT_REPLAY_WAIT,
    ) -> None:
        if window <= timedelta(0) or replay_wait < window:
            raise ValueError("window must be positive and replay_wait at least window")
        self._settings = settings
        self._quiet = quiet
        self._window = window
        self._replay_wait = replay_wait
        # The open burst: candidates in arrival order (a re-issued one keeps its place); only
        # their types once it is thin (more than FULL_BURST of them).
        self._burst: OrderedDict[str, Notification | NotificationType] = OrderedDict()
        self._thin = False
        self._burst_opened: datetime | None = None
        self._burst_deadline: datetime | None = None
        # Until when a live candidate joins a burst instead of toasting at once: ``window``
        # after the last toast (so a flood toasts at most once a window).
        self._hold_until: datetime | None = None
        # Arrived while suppressed and still unread: id -> type.
        self._away: dict[str, NotificationType] = {}
        # Emitted toasts still on screen as far as we know: key -> notification ids it shows.
        self._shown: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._summaries = 0
        self._last_now: datetime | None = None

    # ----------------------------------------------------------------------- inputs

    def update(self, settings: Settings, quiet: QuietState) -> None:
        """New settings or quiet state (schedule edited, paused, resumed)."""
        self._settings = settings
        self._quiet = quiet

    def offer(self, change: CacheChange, now: datetime) -> None:
        """Take one change from the engine (see the module docstring for what toasts)."""
        self._last_now = now
        if change.kind is ChangeKind.READ_STATE:
            if change.read:
                self._forget(change.ids)
            return
        if change.kind is ChangeKind.DELETED:
            self._forget(change.ids)
            return
        if change.kind is not ChangeKind.UPSERTED:
            return
        self._forget(n.id for n in change.notifications if n.read)
        if change.local:
            return
        candidates = [n for n in change.notifications if self._wanted(n)]
        if not candidates:
            return
        if self._quiet.is_suppressed(now):
            for notification in candidates:
                self._burst.pop(notification.id, None)
                self._away[notification.id] = notification.type
            return
        if self._burst_opened is None:
            self._burst_opened = now
            if change.replay:
                self._burst_deadline = now + self._window
            elif self._hold_until is not None and now < self._hold_until:
                self._burst_deadline = self._hold_until
            else:
                self._burst_deadline = now  # the leading edge: toast at once
        elif change.replay:
            assert self._burst_deadline is not None
            cap = self._burst_opened + self._replay_wait
            self._burst_deadline = max(self._burst_deadline, min(now + self._window, cap))
        if self._away:
            for notification in candidates:
                self._away.pop(notification.id, None)
        if not self._thin and len(self._burst) + len(candidates) > FULL_BURST:
            self._thin = True
            for nid, held in self._burst.items():
                self._burst[nid] = _type_of(held)
        burst = self._burst
        if self._thin:
            for notification in candidates:
                burst[notification.id] = notification.type
        else:
            for notification in candidates:
                burst[notification.id] = notification

    # ----------------------------------------------------------------------- outputs

    def next_wakeup(self) -> datetime | None:
        """When :meth:`due` next has something to do: the burst window closing, or (while
        something is remembered from a quiet stretch) the next quiet-state change."""
        times = []
        if self._burst_deadline is not None:
            times.append(self._burst_deadline)
        if self._away and self._last_now is not None:
            change = self._quiet.next_change(self._last_now)
            if change is not None:
                times.append(change)
        return min(times, default=None)

    def due(self, now: datetime) -> list[Toast]:
        """The toasts to show now (possibly none). Call at :meth:`next_wakeup`."""
        self._last_now = now
        toasts: list[Toast] = []
        suppressed = self._quiet.is_suppressed(now)
        if self._burst_deadline is not None and now >= self._burst_deadline:
            # The settings may have changed since they were offered (candidates are unread).
            burst = {
                nid: held for nid, held in self._burst.items() if self._wanted_type(_type_of(held))
            }
            thin = self._thin
            self._clear_burst()
            if suppressed:
                self._away.update((nid, _type_of(held)) for nid, held in burst.items())
            else:
                toasts.extend(self._burst_toasts(burst, thin))
        if self._away and not suppressed:
            away = {
                nid: kind for nid, kind in self._away.items() if kind in self._settings.toast_types
            }
            self._away.clear()
            if away and self._settings.toasts_enabled and self._settings.summary_after_quiet:
                toasts.append(self._summary(AWAY_TITLE, away))
        if toasts:
            self._hold_until = now + self._window
        return toasts

    def withdrawn(self, change: CacheChange) -> list[str]:
        """Keys of emitted toasts to close because ``change`` read or deleted what they show."""
        if (change.kind is ChangeKind.READ_STATE and change.read) or (
            change.kind is ChangeKind.DELETED
        ):
            gone = set(change.ids)
        elif change.kind is ChangeKind.UPSERTED:
            gone = {n.id for n in change.notifications if n.read}
        else:
            return []
        if not gone:
            return []
        closed = []
        for key, ids in list(self._shown.items()):
            remaining = ids - gone
            if not remaining:
                closed.append(key)
                del self._shown[key]
            elif remaining != ids:
                self._shown[key] = remaining
        return closed

    # ----------------------------------------------------------------------- helpers

    def _wanted(self, notification: Notification) -> bool:
        return not notification.read and self._wanted_type(notification.type)

    def _wanted_type(self, kind: NotificationType) -> bool:
        return self._settings.toasts_enabled and kind in self._settings.toast_types

    def _forget(self, ids: Iterable[str]) -> None:
        for notification_id in ids:
            self._burst.pop(notification_id, None)
            self._away.pop(notification_id, None)
        if not self._burst and self._burst_deadline is not None:
            self._clear_burst()

    def _clear_burst(self) -> None:
        self._burst.clear()
        self._burst_opened = self._burst_deadline = None
        self._thin = False

    def _burst_toasts(
        self, burst: dict[str, Notification | NotificationType], thin: bool
    ) -> list[Toast]:
        if not burst:
            return []
        if thin or len(burst) > self._settings.burst_threshold:
            return [self._summary(SUMMARY_TITLE, {k: _type_of(v) for k, v in burst.items()})]
        return [self._single(n) for n in burst.values() if isinstance(n, Notification)]

    def _single(self, notification: Notification) -> Toast:
        body = summary_line(notification)
        message = excerpt(notification.message)
        if message:
            body = f"{body}\n{message}"
        # A re-issued notification whose toast is still up (a folded burst of replies, more
        # reactions) updates that toast under the same key, silently: one toast, not N.
        update = notification.id in self._shown
        self._remember(notification.id, frozenset({notification.id}))
        return Toast(
            key=notification.id,
            title=type_title(notification.type),
            body=body,
            notification_id=notification.id,
            link=notification.link,
            sound=self._settings.sound and not update,
        )

    def _summary(self, title: str, items: dict[str, NotificationType]) -> Toast:
        self._summaries += 1
        key = f"summary-{self._summaries}"
        self._remember(key, frozenset(items))
        return Toast(
            key=key,
            title=title,
            body=count_summary(Counter(items.values())),
            notification_id=None,
            link=None,
            sound=self._settings.sound,
        )

    def _remember(self, key: str, ids: frozenset[str]) -> None:
        self._shown.pop(key, None)
        self._shown[key] = ids
        while len(self._shown) > _SHOWN_LIMIT:
            self._shown.popitem(last=False)


def _type_of(held: Notification | NotificationType) -> NotificationType:
    return held if isinstance(held, NotificationType) else held.type
