"""The words the agent reads: summaries per type and reason, relative times, counts."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fresh_interpreter import fresh_output
from hypothesis import given
from hypothesis import strategies as st

from notifier.core.html_text import html_to_text
from notifier.core.text import (
    count_summary,
    excerpt,
    icon_name,
    one_line,
    reason_label,
    relative_time,
    summary_line,
    type_title,
    wait_words,
)
from notifier.core.wire import (
    Actor,
    ActorKind,
    CommentRef,
    Notification,
    NotificationType,
    Reason,
    TicketRef,
)

BEA = Actor(ActorKind.AGENT, "a2", "Bea Baker")
CAROL = Actor(ActorKind.CUSTOMER, "c7", "Carol Customer")
NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)


def make(
    type_: NotificationType = NotificationType.ASSIGNMENT,
    sender: Actor | None = BEA,
    reason: Reason | None = None,
    subject: str = "Printer on fire",
) -> Notification:
    return Notification(
        id="n1",
        seq=1,
        type=type_,
        sender=sender,
        to="a1",
        ticket=TicketRef("123", subject, "https://helpdesk.example.com/tickets/123"),
        comment=CommentRef("c1", "https://helpdesk.example.com/tickets/123#c1"),
        message="hello",
        read=False,
        created_at=NOW,
        reason=reason,
    )


@pytest.mark.parametrize(
    ("notification", "expected"),
    [
        (make(), "Bea Baker assigned you #123 Printer on fire"),
        (make(sender=None), "Assigned to you automatically: #123 Printer on fire"),
        (
            make(reason=Reason.AUTO_ASSIGNED, sender=Actor(ActorKind.SYSTEM, "rr", "Round robin")),
            "Assigned to you automatically: #123 Printer on fire",
        ),
        (make(NotificationType.MENTION), "Bea Baker mentioned you on #123 Printer on fire"),
        (
            make(NotificationType.REACTION, CAROL, Reason.CUSTOMER_REPLIED),
            "Carol Customer replied on #123 Printer on fire",
        ),
        (
            make(NotificationType.REACTION, CAROL, Reason.CUSTOMER_REOPENED),
            "Carol Customer reopened #123 Printer on fire",
        ),
        (
            make(NotificationType.REACTION, BEA, Reason.COMMENT_REACTION),
            "Bea Baker reacted to your comment on #123 Printer on fire",
        ),
        (make(NotificationType.REACTION, BEA, None), "Bea Baker updated #123 Printer on fire"),
        (make(NotificationType.REACTION, None, None), "Someone updated #123 Printer on fire"),
        (make(subject=""), "Bea Baker assigned you #123"),
    ],
)
def test_summary_line_per_type_and_reason(notification: Notification, expected: str) -> None:
    assert summary_line(notification) == expected


def test_summary_line_is_one_line_and_keeps_markup_as_text() -> None:
    sender = Actor(ActorKind.CUSTOMER, "c1", "Eve\n<b>Evil</b>\u202e")
    line = summary_line(make(NotificationType.MENTION, sender, subject="Line\r\none\ttwo"))
    assert line == "Eve <b>Evil</b> mentioned you on #123 Line one two"


@given(st.text())
def test_one_line_never_contains_control_or_line_breaks(text: str) -> None:
    line = one_line(text)
    assert all(ch == " " for ch in line if ch.isspace())
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in line)
    assert line == line.strip()


@given(st.text())
def test_one_line_fast_path_equals_the_character_by_character_rule(text: str) -> None:
    by_character = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    assert one_line(text) == " ".join(by_character.split())


def test_excerpt_cuts_at_a_word_with_an_ellipsis() -> None:
    message = "word " * 100
    cut = excerpt(message, limit=50)
    assert len(cut) <= 50 and cut.endswith("word…")
    assert excerpt("short\nmessage") == "short message"


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(seconds=-30), "just now"),
        (timedelta(hours=-5), "just now"),
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=60), "1 minute ago"),
        (timedelta(minutes=5, seconds=59), "5 minutes ago"),
        (timedelta(minutes=59), "59 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=2, minutes=30), "2 hours ago"),
        (timedelta(hours=23, minutes=59), "23 hours ago"),
        (timedelta(days=1), "yesterday"),
        (timedelta(days=1, hours=23), "yesterday"),
        (timedelta(days=2), "2 days ago"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=6, hours=23), "6 days ago"),
        (timedelta(days=7), "18 Nov 2026"),
        (timedelta(days=400), "21 Oct 2025"),
    ],
)
def test_relative_time(ago: timedelta, expected: str) -> None:
    assert relative_time(NOW - ago, NOW) == expected


def test_relative_time_shows_the_date_in_the_local_zone() -> None:
    tokyo = timezone(timedelta(hours=9))
    then = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # already 2 March in Tokyo
    assert relative_time(then, NOW.astimezone(tokyo)) == "2 Mar 2026"


def test_type_titles_are_distinct_and_worded() -> None:
    titles = {t: type_title(t) for t in NotificationType}
    assert titles[NotificationType.ASSIGNMENT] == "Ticket assigned to you"
    assert titles[NotificationType.MENTION] == "You were mentioned"
    assert len(set(titles.values())) == len(titles)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (
            {NotificationType.ASSIGNMENT: 3, NotificationType.MENTION: 9},
            "12 new notifications: 3 assignments, 9 mentions",
        ),
        ({NotificationType.MENTION: 1}, "1 new notification: 1 mention"),
        (
            {NotificationType.REACTION: 1, NotificationType.ASSIGNMENT: 1},
            "2 new notifications: 1 assignment, 1 ticket update",
        ),
        (
            {NotificationType.MENTION: 0, NotificationType.REACTION: 4},
            "4 new notifications: 4 ticket updates",
        ),
        ({}, "No new notifications"),
    ],
)
def test_count_summary(counts: dict[NotificationType, int], expected: str) -> None:
    assert count_summary(counts) == expected


def test_summary_uses_the_notification_not_a_copy_of_its_sender() -> None:
    renamed = dataclasses.replace(make(), sender=Actor(ActorKind.AGENT, "a2", "  "))
    assert summary_line(renamed) == "Someone assigned you #123 Printer on fire"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        (
            '<p><span class="mention" data-type="mention" data-id="agent.b@example.com"'
            ' data-label="Agent B">@Agent B</span> please take a look</p>',
            "@Agent B please take a look",
        ),
        ("<p>one &amp; two</p><p>three<br>four</p>", "one & two\nthree\nfour"),
        ("<ul><li>a</li><li>b</li></ul>", "a\nb"),
        ("<p>x<script>alert(1)</script><style>p{}</style></p>", "x"),
        ('<p>see <img src="/files/a.png" alt="screenshot"></p>', "see [screenshot]"),
        ("&lt;b&gt;not bold&lt;/b&gt;", "<b>not bold</b>"),
        ("plain   text", "plain text"),
        ("<p>unclosed <b>tags", "unclosed tags"),
    ],
)
def test_html_messages_become_plain_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_the_words_module_leaves_the_html_parser_out() -> None:
    # The tray imports core.text all day; only the Frappe adapter turns HTML into text, and
    # html.parser brings html.entities' big table. A fresh interpreter: this session has it.
    probe = (
        "import sys, notifier.core.text, notifier.core.toast_policy;"
        "print(sorted(m for m in ('html.parser', 'html.entities') if m in sys.modules))"
    )
    assert fresh_output(probe).strip() == "[]"


def test_reason_labels_name_each_icon_in_one_word_each() -> None:
    updates = [None, *Reason]
    notifications = [make(NotificationType.REACTION, CAROL, reason) for reason in updates]
    notifications += [make(), make(NotificationType.MENTION)]
    by_icon = {icon_name(n): reason_label(n) for n in notifications}
    assert by_icon == {
        "assignment": "assignment",
        "mention": "mention",
        "reply": "customer reply",
        "reopened": "reopened",
        "reaction": "reaction",
        "update": "ticket update",
    }


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.2, "1 s"),
        (30, "30 s"),
        (30.5, "31 s"),
        (90, "90 s"),
        (91, "2 minutes"),
        (300, "5 minutes"),
        (5400, "90 minutes"),
        (5401, "2 hours"),
        (3 * 3600, "3 hours"),
    ],
)
def test_a_wait_in_words_rounds_up(seconds: float, words: str) -> None:
    assert wait_words(seconds) == words
