"""Words the agent reads: one-line summaries, relative times, toast titles and burst counts.

Everything here returns plain text. Callers put it into widgets that show plain text
(``Qt.PlainText`` labels, toast bodies), never into anything that interprets markup, so
nothing here escapes HTML; instead, every piece of text that came from the helpdesk (names,
subjects) is flattened to one line, because a newline or a tab in a subject must not break a
row or a toast title.

English only for now; each function is the single place a translation would hook in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

from notifier.core.wire import Notification, NotificationType, Reason

_SOMEONE: Final = "Someone"
_MONTHS: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
# Noun (singular, plural) per type for count summaries. A "reaction" notification covers
# customer replies, reopenings and reactions to comments, so it is counted as an update.
_NOUNS: Final[Mapping[NotificationType, tuple[str, str]]] = {
    NotificationType.ASSIGNMENT: ("assignment", "assignments"),
    NotificationType.MENTION: ("mention", "mentions"),
    NotificationType.REACTION: ("ticket update", "ticket updates"),
}
_TITLES: Final[Mapping[NotificationType, str]] = {
    NotificationType.ASSIGNMENT: "Ticket assigned to you",
    NotificationType.MENTION: "You were mentioned",
    NotificationType.REACTION: "Activity on your ticket",
}
_WHITESPACE_RUN = re.compile(r"\s+")
# Terminal escape sequences, removed whole so that nothing of them is left to print: CSI
# (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC strings (… ST), the two-character
# ones (ESC c resets the terminal), and the 8-bit CSI and OSC. The stray control characters
# left (a lone ESC, C0, C1, DEL) and the format characters (bidi overrides) go in one_line.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# The longest stretch of a server's own words (a close reason, an error message) that goes
# into a status line or the log: a sentence, not a page.
SERVER_WORDS_CHARS: Final = 200


def one_line(text: str) -> str:
    """``text`` with control and format characters removed and whitespace runs collapsed.

    Format characters (category Cf) include the bidirectional overrides that could make a
    subject display as something it is not.
    """
    flattened = _WHITESPACE_RUN.sub(" ", text)
    if flattened.isprintable():
        # Nothing left to remove (printable excludes Cc and Cf): the common case, and a
        # character loop is slow enough for a 50-entry digest mail to feel it
        # (benchmarks/README.md, "Figures behind the code").
        return flattened.strip()
    cleaned = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return _WHITESPACE_RUN.sub(" ", cleaned).strip()


def plain_line(text: str) -> str:
    """``text`` on one line with no escape sequence, control or bidi character: safe to
    print on a terminal, to write as one log line, or to show in a status."""
    return one_line(_ESCAPE_SEQUENCE.sub("", text))


def server_words(text: str) -> str:
    """Words a server chose (a close reason, an error message) for a status or the log: a
    :func:`plain_line`, cut to :data:`SERVER_WORDS_CHARS`. A server's newline must not
    forge a log line, nor its escape sequence retitle the terminal of ``notifier tail``."""
    line = plain_line(text)
    if len(line) <= SERVER_WORDS_CHARS:
        return line
    return line[: SERVER_WORDS_CHARS - 1].rstrip() + "…"


def wait_words(seconds: float) -> str:
    """A wait as a person says it: "45 s", "5 minutes", "2 hours" (rounded up)."""
    if seconds <= 90:
        return f"{max(1, -int(-seconds // 1))} s"
    minutes = -int(-seconds // 60)
    if minutes <= 90:
        return f"{minutes} minutes"
    return _plural(-int(-minutes // 60), "hour", "hours")


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def ticket_label(n: Notification) -> str:
    """Which ticket, e.g. "#123 Printer on fire"."""
    subject = one_line(n.ticket.subject)
    ticket_id = one_line(n.ticket.id)
    return f"#{ticket_id} {subject}" if subject else f"#{ticket_id}"


def _who(n: Notification) -> str:
    if n.sender is None:
        return _SOMEONE
    return one_line(n.sender.name) or _SOMEONE


def headline(n: Notification) -> str:
    """Who did what, without the ticket: "Bea assigned you", "Bea mentioned you on",
    "Bea updated".

    :func:`summary_line` is this followed by :func:`ticket_label`; the popup shows the two
    on lines of their own, so neither a long name nor a long subject can hide the other.
    """
    who = _who(n)
    if n.type is NotificationType.ASSIGNMENT:
        if n.sender is None or n.reason is Reason.AUTO_ASSIGNED:
            return "Assigned to you automatically:"
        return f"{who} assigned you"
    if n.type is NotificationType.MENTION:
        return f"{who} mentioned you on"
    if n.reason is Reason.CUSTOMER_REPLIED:
        return f"{who} replied on"
    if n.reason is Reason.CUSTOMER_REOPENED:
        return f"{who} reopened"
    if n.reason is Reason.COMMENT_REACTION:
        return f"{who} reacted to your comment on"
    # No reason (a Frappe reaction, a folded mix of replies and reopenings): the popup's
    # "ticket update", as a verb.
    return f"{who} updated"


def summary_line(n: Notification) -> str:
    """One line saying who did what on which ticket, e.g. "Bea assigned you #123 Printer"."""
    return f"{headline(n)} {ticket_label(n)}"


def excerpt(message: str, limit: int = 200) -> str:
    """The message as one line, cut at a word boundary to at most ``limit`` characters."""
    text = one_line(message)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def relative_time(then: datetime, now: datetime) -> str:
    """How long ago ``then`` was, by elapsed time: "just now", "5 minutes ago", "yesterday".

    Both must be aware. Times in the future (clock skew between helpdesk and desktop) read
    "just now". From a week on, the date is shown in ``now``'s time zone, e.g. "3 Mar 2026".
    """
    elapsed = now - then
    if elapsed < timedelta(minutes=1):
        return "just now"
    if elapsed < timedelta(hours=1):
        return f"{_plural(elapsed // timedelta(minutes=1), 'minute', 'minutes')} ago"
    if elapsed < timedelta(days=1):
        return f"{_plural(elapsed // timedelta(hours=1), 'hour', 'hours')} ago"
    if elapsed < timedelta(days=2):
        return "yesterday"
    if elapsed < timedelta(days=7):
        return f"{elapsed.days} days ago"
    local = then.astimezone(now.tzinfo)
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"


def type_title(t: NotificationType) -> str:
    """The toast title for one notification of type ``t``."""
    return _TITLES[t]


def count_summary(counts: Mapping[NotificationType, int]) -> str:
    """E.g. "12 new notifications: 3 assignments, 9 mentions"; zero types are left out."""
    parts = [_plural(counts[t], *_NOUNS[t]) for t in NotificationType if counts.get(t, 0) > 0]
    total = sum(count for count in counts.values() if count > 0)
    if total == 0:
        return "No new notifications"
    head = _plural(total, "new notification", "new notifications")
    return f"{head}: {', '.join(parts)}"


_UPDATE_ICONS: Final = {
    Reason.CUSTOMER_REPLIED: "reply",
    Reason.CUSTOMER_REOPENED: "reopened",
    Reason.COMMENT_REACTION: "reaction",
}


def icon_name(n: Notification) -> str:
    """The type icon (``resources/<name>.svg``): one per reason an agent is told something.
    The tray's list and the web notification center both use it."""
    if n.type is NotificationType.ASSIGNMENT:
        return "assignment"
    if n.type is NotificationType.MENTION:
        return "mention"
    if n.reason is None:
        return "update"
    return _UPDATE_ICONS.get(n.reason, "update")


# What each icon stands for, in the words of the popup (its type filter says "Ticket updates"
# for the type the wire calls "reaction"; its headlines say "replied on", "reopened",
# "reacted to your comment on"). Keyed by icon, so the word and the picture always agree.
_REASON_WORDS: Final = {
    "assignment": "assignment",
    "mention": "mention",
    "reply": "customer reply",
    "reopened": "reopened",
    "reaction": "reaction",
    "update": "ticket update",
}


def reason_label(n: Notification) -> str:
    """Why the agent is told, as a short label ("customer reply", "mention"): the word for
    :func:`icon_name`'s icon, for text-only output such as ``notifier tail``."""
    return _REASON_WORDS[icon_name(n)]
