"""What `notifier tail` prints of server-supplied text: plain lines carry no escape sequence,
control or bidi character (a customer's subject must not retitle or clear the agent's
terminal), and --json lines split only at their end, for every line-splitting reader."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import unicodedata
from pathlib import Path

import pytest
from helpdesk import Helpdesk
from tail_process import TIMEOUT_S, kill, start_tail
from tray_fakes import make_notification

from notifier.core.status import CacheChange, ChangeKind
from notifier.core.wire import NotificationType, Reason, TicketRef
from notifier.headless import change_to_text, json_line, terminal_text

HOSTILE_SUBJECT = (
    "\x1b]0;you have been pwned\x07"  # OSC: retitles the terminal window
    "\x1b[2J\x1b[H"  # CSI: clears the screen, cursor home
    "\x1bc"  # RIS: resets the terminal
    "Printer\u202e on fire"  # a bidi override
)


def is_terminal_safe(text: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cf") for ch in text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (HOSTILE_SUBJECT, "Printer on fire"),
        ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),  # OSC 8 link
        ("\x1bP1$r0m\x1b\\ok", "ok"),  # DCS string
        ("Printer\x9b2J on fire", "Printer on fire"),  # the 8-bit CSI
        ("\x9d0;title\x9cok", "ok"),  # the 8-bit OSC
        ("a\x00b\x07c\x7fd\x1b", "abcd"),  # C0, DEL and a lone ESC
        ("one\ntwo\u2028three\x85four\tfive", "one two three four five"),  # line breaks
        ("\u2066isolated\u2069 \u200fmarks\u200e", "isolated marks"),  # isolates, RLM/LRM
        ("Ünïcødé ✓ 日本語", "Ünïcødé ✓ 日本語"),  # ordinary text is left alone
    ],
)
def test_terminal_text(raw: str, shown: str) -> None:
    assert terminal_text(raw) == shown


def test_a_notification_line_has_no_control_character_from_any_field() -> None:
    base = make_notification(7, message="\x1b[31mfirst\x1b[0m line\nsecond line", sender="B\x1bcea")
    hostile = dataclasses.replace(
        base,
        ticket=TicketRef("7", HOSTILE_SUBJECT, "https://hd.example.com/tickets/7\x1b[2J"),
    )
    [line] = change_to_text(CacheChange(ChangeKind.UPSERTED, notifications=(hostile,)))
    assert is_terminal_safe(line)
    assert line == (
        "* [mention] Printer on fire — Bea: first line  https://hd.example.com/tickets/7"
    )


@pytest.mark.parametrize(
    ("type_", "reason", "label"),
    [
        (NotificationType.ASSIGNMENT, Reason.ASSIGNED, "assignment"),
        (NotificationType.ASSIGNMENT, Reason.AUTO_ASSIGNED, "assignment"),
        (NotificationType.MENTION, Reason.MENTIONED, "mention"),
        (NotificationType.REACTION, Reason.CUSTOMER_REPLIED, "customer reply"),
        (NotificationType.REACTION, Reason.CUSTOMER_REOPENED, "reopened"),
        (NotificationType.REACTION, Reason.COMMENT_REACTION, "reaction"),
        (NotificationType.REACTION, None, "ticket update"),  # a helpdesk that gives no reason
    ],
)
def test_a_notification_line_is_labelled_in_the_popups_words(
    type_: NotificationType, reason: Reason | None, label: str
) -> None:
    # The wire calls every customer reply, reopening and reaction "reaction"; the agent reads
    # what the popup shows: its icon's word ("customer reply"), not the wire's.
    notification = make_notification(3, type=type_, reason=reason, subject="Refund", message="Hi")
    [line] = change_to_text(CacheChange(ChangeKind.UPSERTED, notifications=(notification,)))
    assert line == f"* [{label}] Refund — Bea: Hi  http://127.0.0.1:8000/tickets/3"


@pytest.mark.parametrize("kind", [ChangeKind.READ_STATE, ChangeKind.DELETED])
def test_ids_in_read_and_delete_lines_are_cleaned_too(kind: ChangeKind) -> None:
    [line] = change_to_text(CacheChange(kind, ids=("n1\x1b]0;x\x07", "n2"), read=True))
    assert is_terminal_safe(line)
    assert line.endswith(": n1, n2")


def test_json_lines_escape_what_line_splitting_readers_split_at() -> None:
    item = {"subject": "a\u2028b\u2029c\x85d\x9be\x7ff é ✓", "n": 1}
    line = json_line(item)
    assert len(line.splitlines()) == 1  # Python splits at U+2028, U+2029 and U+0085
    assert not any(ch in line for ch in "\u2028\u2029\x85\x9b\x7f")
    assert "\\u2028" in line and "\\u0085" in line
    assert "é ✓" in line  # everything else stays as it is (ensure_ascii=False)
    assert json.loads(line) == item


@pytest.mark.asyncio
async def test_plain_tail_prints_a_customers_escape_sequences_harmlessly(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("alice", "Alice Adams")
    _, customer = helpdesk.new_customer()
    _, bob = helpdesk.new_agent("bob")
    ticket = customer.create_ticket(HOSTILE_SUBJECT, "help")
    bob.assign(ticket["id"], "alice")
    process = await start_tail(helpdesk.url, token, tmp_path / "home", as_json=False)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(TIMEOUT_S):
            line = await process.stdout.readline()
    finally:
        await kill(process)
    text = line.decode()
    assert "Printer on fire" in text
    assert is_terminal_safe(text.rstrip("\n"))


def test_read_and_unread_lines_line_up() -> None:
    # A read line had no marker column at all, so in a history of both the labels zigzagged:
    # "(earlier) [assignment] …" under "(earlier) * [reaction] …".
    unread = make_notification(1, subject="Refund", message="Hi")
    read = make_notification(2, read=True, subject="Refund", message="Hi")
    change = CacheChange(ChangeKind.UPSERTED, notifications=(unread, read), replay=True)
    lines = change_to_text(change)
    assert lines == [
        "(earlier) * [mention] Refund — Bea: Hi  http://127.0.0.1:8000/tickets/1",
        "(earlier)   [mention] Refund — Bea: Hi  http://127.0.0.1:8000/tickets/2",
    ]


def test_the_message_shown_is_its_first_line_with_words() -> None:
    # A message starting with a blank line printed an empty message.
    notification = make_notification(4, subject="Refund", message="\n  \nHello there\nBye")
    [line] = change_to_text(CacheChange(ChangeKind.UPSERTED, notifications=(notification,)))
    assert line == "* [mention] Refund — Bea: Hello there  http://127.0.0.1:8000/tickets/4"


def test_a_notification_without_a_message_ends_at_the_sender() -> None:
    # A Frappe Helpdesk assignment has no message (observed: "message": null), and the line
    # read "— Agent Alice:   http://…", a colon before nothing.
    notification = dataclasses.replace(
        make_notification(5, subject="Printer on fire", message=""),
        type=NotificationType.ASSIGNMENT,
        reason=Reason.ASSIGNED,
    )
    [line] = change_to_text(CacheChange(ChangeKind.UPSERTED, notifications=(notification,)))
    assert line == "* [assignment] Printer on fire — Bea  http://127.0.0.1:8000/tickets/5"
