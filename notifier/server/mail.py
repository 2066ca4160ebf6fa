"""Notification mail as RFC 5322 messages: one notification, or a digest of several.

Pure: everything, ``now`` included, is passed in, and the result is an
:class:`email.message.EmailMessage` the mailer stores as bytes and sends as is.

Every mail has a plain-text part and an HTML part (``multipart/alternative``); every text that
came from the helpdesk (names, subjects, messages) goes through :func:`html.escape` in the HTML
part. Headers:

* ``Message-ID``: random, made once when the mail is composed and stored with it, so a retry
  sends the same id (a receiving system that already has it can drop the copy);
* ``In-Reply-To`` / ``References``: a per-ticket thread id ``<ticket-ID.INSTANCE@DOMAIN>``
  on single-notification mails, so a mail client threads a ticket's notifications together
  (no mail has that id: clients thread on the reference alone). Digests span tickets and
  carry none. The subject is the same for all of a ticket's mails, ``[#ID] subject``, which
  clients that also compare subjects (Gmail) need;
* ``List-Unsubscribe`` (with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, RFC 8058)
  and a link in the body to the agent's e-mail settings page (the same URL: it shows the
  settings and a button that turns e-mail off);
* ``Auto-Submitted: auto-generated`` (RFC 3834) so that vacation responders stay quiet, and a
  ``List-Id`` that mail filters can match.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

from notifier.core import text, wire
from notifier.server.digest import MailKind

_DIGEST_TITLES: Final = {
    MailKind.HOURLY_DIGEST: "Hourly digest",
    MailKind.DAILY_DIGEST: "Daily digest",
    MailKind.QUIET_HOURS_DIGEST: "While your quiet hours were on",
}
_FOOTER: Final = "You get this mail because e-mail notifications are on for you on this helpdesk."


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    address: str
    tz: tzinfo  # times in the mail are shown in the agent's zone
    settings_url: str  # the e-mail settings page, also the List-Unsubscribe target


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the mails are from and how their ids are formed."""

    address: str  # the From address, e.g. helpdesk@desk.example (no display name)
    name: str  # the From display name
    instance: str  # random per database (outbox.instance_name)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"

    def new_message_id(self) -> str:
        return f"{secrets.token_hex(10)}.{self.instance}@{self.domain}"

    def thread_id(self, ticket_id: str) -> str:
        return f"ticket-{ticket_id}.{self.instance}@{self.domain}"


def ticket_subject(n: wire.Notification) -> str:
    subject = text.one_line(n.ticket.subject)
    return f"[#{text.one_line(n.ticket.id)}] {subject}".rstrip()


def render(
    kind: MailKind,
    notifications: Sequence[wire.Notification],
    sender: Sender,
    recipient: Recipient,
    now: datetime,
    message_id: str,
) -> EmailMessage:
    """One mail: ``kind`` INSTANT with one notification, or a digest of several."""
    if not notifications:
        raise ValueError("a mail needs at least one notification")
    if kind is MailKind.INSTANT:
        (only,) = notifications
        subject = ticket_subject(only)
        plain, rich = _instant_body(only)
    else:
        subject = f"{_DIGEST_TITLES[kind]}: {_count_line(notifications)}"
        plain, rich = _digest_body(notifications, recipient.tz, now)
    plain += f"\n\n-- \n{_FOOTER}\nE-mail settings and unsubscribe: {recipient.settings_url}\n"
    rich += (
        f'<hr><p style="color:#666;font-size:.85em">{html.escape(_FOOTER)}<br>'
        f'<a href="{html.escape(recipient.settings_url)}">E-mail settings and unsubscribe</a>'
        "</p>"
    )
    message = EmailMessage()
    message["From"] = Address(sender.name, addr_spec=sender.address)
    message["To"] = Address(text.one_line(recipient.name), addr_spec=recipient.address)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id}>"
    if kind is MailKind.INSTANT:
        thread = f"<{sender.thread_id(notifications[0].ticket.id)}>"
        message["In-Reply-To"] = thread
        message["References"] = thread
    message["List-Id"] = f"Helpdesk notifications <notifications.{sender.domain}>"
    message["List-Unsubscribe"] = f"<{recipient.settings_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(plain)
    message.add_alternative(_html_document(subject, rich), subtype="html")
    return message


def _count_line(notifications: Sequence[wire.Notification]) -> str:
    counts: dict[wire.NotificationType, int] = {}
    for n in notifications:
        counts[n.type] = counts.get(n.type, 0) + 1
    return text.count_summary(counts)


def _instant_body(n: wire.Notification) -> tuple[str, str]:
    summary = text.summary_line(n)
    plain = f"{summary}\n\n{_indented(n.message)}\n\nOpen it: {n.link}"
    rich = (
        f"<p><strong>{html.escape(summary)}</strong></p>"
        f'<blockquote style="white-space:pre-wrap">{html.escape(n.message)}</blockquote>'
        f'<p><a href="{html.escape(n.link)}">Open it in the helpdesk</a>'
        f' · <a href="{html.escape(n.ticket.url)}">the ticket</a></p>'
    )
    return plain, rich


def _indented(message: str) -> str:
    return "\n".join(f"  {line}" for line in message.splitlines()) or "  (no text)"


def _digest_body(
    notifications: Sequence[wire.Notification], tz: tzinfo, now: datetime
) -> tuple[str, str]:
    """Grouped by ticket; the ticket with the newest notification first, and newest first
    within each ticket."""
    newest_first = sorted(notifications, key=lambda n: (n.created_at, n.seq), reverse=True)
    groups: dict[str, list[wire.Notification]] = {}
    for n in newest_first:
        groups.setdefault(n.ticket.id, []).append(n)
    heading = _digest_heading(newest_first, len(groups), tz, now)
    plain_parts = [heading]
    rich_parts = [f"<p><strong>{html.escape(heading)}</strong></p>"]
    for group in groups.values():
        first = group[0]
        title = f"#{text.one_line(first.ticket.id)} {text.one_line(first.ticket.subject)}"
        plain_parts.append(f"\n{title}\n{first.ticket.url}")
        rich_parts.append(
            f'<h3><a href="{html.escape(first.ticket.url)}">{html.escape(title)}</a></h3><ul>'
        )
        for n in group:
            when = _local_time(n.created_at, tz, now)
            summary = text.summary_line(n)
            excerpt = text.excerpt(n.message)
            plain_parts.append(f"  * {when}  {summary}\n    {excerpt}\n    {n.link}")
            rich_parts.append(
                f'<li><span style="color:#666">{html.escape(when)}</span> '
                f'<a href="{html.escape(n.link)}">{html.escape(summary)}</a>'
                f"<br>{html.escape(excerpt)}</li>"
            )
        rich_parts.append("</ul>")
    return "\n".join(plain_parts), "".join(rich_parts)


def _digest_heading(
    newest_first: Sequence[wire.Notification], tickets: int, tz: tzinfo, now: datetime
) -> str:
    """The body's first line, under a subject that already says the kind and the counts by
    type: how many tickets and over what time, e.g. "Still unread: 3 notifications on 2
    tickets, from 02:10 to 02:25." (a mail list shows the subject and this line side by side)."""
    oldest = _local_time(newest_first[-1].created_at, tz, now)
    newest = _local_time(newest_first[0].created_at, tz, now)
    span = f"at {oldest}" if oldest == newest else f"from {oldest} to {newest}"
    count = len(newest_first)
    notifications = f"{count} notification{'' if count == 1 else 's'}"
    on = f"{tickets} ticket{'' if tickets == 1 else 's'}"
    return f"Still unread: {notifications} on {on}, {span}."


def _local_time(instant: datetime, tz: tzinfo, now: datetime) -> str:
    local = instant.astimezone(tz)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if local.date() == now.astimezone(tz).date():
        return clock
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')} {clock}"


def _html_document(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:system-ui,sans-serif;max-width:40rem">'
        f"{body}</body></html>"
    )


def render_password_reset(
    sender: Sender,
    name: str,
    address: str,
    username: str,
    link: str,
    valid_words: str,
    now: datetime,
    message_id: str,
) -> EmailMessage:
    """The mail of "Forgot your password?": the link that sets a new password for
    ``username`` (valid for ``valid_words``, "1 hour"). Not a notification: no thread, no
    List-Unsubscribe (a person asked for it, and may ask once more)."""
    subject = "Reset your helpdesk password"
    who = text.one_line(username)
    plain = (
        f"Someone, hopefully you, asked to reset the password of {who} on the helpdesk.\n\n"
        f"Choose a new password here (the link works once, for {valid_words}):\n{link}\n\n"
        "If you did not ask for this, ignore this mail: your password stays as it is.\n"
    )
    rich = (
        f"<p>Someone, hopefully you, asked to reset the password of "
        f"<strong>{html.escape(who)}</strong> on the helpdesk.</p>"
        f'<p><a href="{html.escape(link)}">Choose a new password</a>'
        f" (the link works once, for {html.escape(valid_words)}).</p>"
        "<p>If you did not ask for this, ignore this mail: your password stays as it is.</p>"
    )
    message = EmailMessage()
    message["From"] = Address(sender.name, addr_spec=sender.address)
    message["To"] = Address(text.one_line(name), addr_spec=address)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(plain)
    message.add_alternative(_html_document(subject, rich), subtype="html")
    return message
