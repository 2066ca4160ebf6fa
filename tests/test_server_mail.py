"""Notification mail end to end: the real server (in-process, injected clock) mails a real SMTP
server on loopback (aiosmtpd), which parses every mail.

Covers: instant mail after the grace period (headers, parts, escaping, threading), the drop
when read in time, "only when I am not connected", hourly and daily digests across the
fall-back night in Europe/Berlin, quiet hours holding mail and then sending one digest, an SMTP
server down and back (nothing lost, nothing twice, across server restarts), 4xx and 5xx
answers, the e-mail settings page and List-Unsubscribe, and older clients' preference writes.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from helpdesk import connect_stream, receive_until
from mail_support import WITHIN_S, FakeClock, Inbox, LiveHelpdesk, SmtpServer, html_of, text_of

from notifier.core import wire
from notifier.server import retention as retention_job
from notifier.server import settings
from notifier.server.db import Database
from notifier.server.digest import DropReason
from notifier.server.mailer import NO_ADDRESS, MailConfig

MONDAY_NOON = datetime(2024, 10, 21, 12, 0, tzinfo=UTC)
EMAIL_ON = wire.EmailPreferences(enabled=True)
BERLIN = "Europe/Berlin"


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer(Inbox())
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def live(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[LiveHelpdesk]:
    config = MailConfig(
        smtp=smtp.settings,
        mail_from="helpdesk@desk.example",
        mail_from_name="Desk",
        round_interval_s=0,
        retry_first_s=5,
        retry_cap_s=60,
        send_batch=1,  # several batches in one round
    )
    helpdesk = LiveHelpdesk(tmp_path / "helpdesk", FakeClock(MONDAY_NOON), config)
    await helpdesk.start()
    yield helpdesk
    await helpdesk.close()


def preferences(**email: Any) -> wire.Preferences:
    quiet = email.pop("quiet_hours", ())
    timezone = email.pop("timezone", "UTC")
    return wire.Preferences(
        email=wire.EmailPreferences(enabled=True, **email),
        quiet_hours=tuple(quiet),
        timezone=timezone,
    )


class Desk:
    """Ann receives; Bob, a colleague, makes tickets and mentions her."""

    def __init__(self, live: LiveHelpdesk, ann: str, bob: str) -> None:
        self.live = live
        self.ann = ann
        self.bob = bob

    @classmethod
    async def create(cls, live: LiveHelpdesk, ann_preferences: wire.Preferences) -> Desk:
        ann = await live.add_agent("ann", preferences=ann_preferences)
        return cls(live, ann, await live.add_agent("bob"))

    async def ticket(self, subject: str) -> str:
        body = {"subject": subject, "body": "first message"}
        return str((await self.live.call(self.bob, "POST", "/api/v1/tickets", body))["id"])

    async def mention(self, ticket_id: str, text: str = "please look") -> str:
        comment = await self.live.call(
            self.bob, "POST", f"/api/v1/tickets/{ticket_id}/comments", {"body": f"@ann {text}"}
        )
        return str(comment["id"])

    async def assign(self, ticket_id: str) -> None:
        await self.live.call(
            self.bob, "POST", f"/api/v1/tickets/{ticket_id}/assign", {"agent": "ann"}
        )

    async def newest_notification(self) -> dict[str, Any]:
        page = await self.live.call(self.ann, "GET", "/api/v1/notifications?limit=500")
        newest: dict[str, Any] = page["notifications"][-1]
        return newest

    async def read(self, notification_id: str) -> None:
        await self.live.call(self.ann, "POST", f"/api/v1/notifications/{notification_id}/read")

    def outbox(self) -> list[tuple[str, str | None]]:
        """(state, reason) of Ann's outbox rows, oldest first."""
        return [
            (str(state), reason)
            for state, reason in self.live.rows(
                "SELECT o.state, o.reason FROM email_outbox AS o JOIN users AS u"
                " ON u.id = o.agent_id WHERE u.username = 'ann' ORDER BY o.id"
            )
        ]


async def at(live: LiveHelpdesk, when: datetime) -> None:
    live.clock.set(when)
    await live.flush()


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


# --------------------------------------------------------------------------- instant


@pytest.mark.asyncio
async def test_an_instant_mail_after_the_grace_period(live: LiveHelpdesk, smtp: SmtpServer) -> None:
    desk = await Desk.create(live, preferences())
    printer = await desk.ticket("Printer <on> fire & smoke")
    comment = await desk.mention(printer, "look at <script>alert(1)</script> & this")
    live.clock.advance(seconds=119)
    await live.flush()
    assert smtp.inbox.take() == []
    live.clock.advance(seconds=1)
    await live.flush()
    [mail] = smtp.inbox.take()
    assert smtp.inbox.recipients == [["ann@example.com"]]
    assert mail["To"] == "Ann <ann@example.com>"
    assert mail["From"] == "Desk <helpdesk@desk.example>"
    assert mail["Subject"] == f"[#{printer}] Printer <on> fire & smoke"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.is_multipart() and mail.get_content_type() == "multipart/alternative"
    text, page = text_of(mail), html_of(mail)
    link = f"{live.url}/tickets/{printer}#comment-{comment}"
    assert f"Bob mentioned you on #{printer} Printer <on> fire & smoke" in text
    assert "@ann look at <script>alert(1)</script> & this" in text
    assert link in text
    assert "<script>" not in page
    assert "look at &lt;script&gt;alert(1)&lt;/script&gt; &amp; this" in page
    assert "Printer &lt;on&gt; fire &amp; smoke" in page
    assert f'href="{link}"' in page
    [(token,)] = live.rows("SELECT token FROM email_unsubscribe")
    settings_url = f"{live.url}/mail/{token}"
    assert settings_url in text and f'href="{settings_url}"' in page
    assert mail["List-Unsubscribe"] == f"<{settings_url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    first_id = mail["Message-ID"]
    assert first_id.startswith("<") and first_id.endswith("@desk.example>")
    thread = mail["References"]
    assert mail["In-Reply-To"] == thread and thread.startswith(f"<ticket-{printer}.")

    # A ticket's mails share a thread; another ticket's do not; every mail has its own id.
    await desk.mention(printer, "again")
    other = await desk.ticket("Other")
    await desk.assign(other)
    live.clock.advance(minutes=2)
    await live.flush()
    by_subject = {m["Subject"]: m for m in smtp.inbox.take()}
    assert by_subject.keys() == {f"[#{printer}] Printer <on> fire & smoke", f"[#{other}] Other"}
    same, different = by_subject[mail["Subject"]], by_subject[f"[#{other}] Other"]
    assert same["References"] == thread and different["References"] != thread
    assert "Bob assigned you" in text_of(different)
    assert len({first_id, same["Message-ID"], different["Message-ID"]}) == 3

    # Sent once: later rounds send nothing more.
    live.clock.advance(hours=3)
    await live.flush()
    assert smtp.inbox.take() == []
    assert live.rows("SELECT state, attempts FROM email_messages") == [("sent", 1)] * 3
    assert desk.outbox() == [("mailed", None)] * 3


@pytest.mark.asyncio
async def test_the_grace_period_is_the_admin_setting(live: LiveHelpdesk, smtp: SmtpServer) -> None:
    # No --mail-grace override (the fixture's MailConfig): the admin's mail_grace_seconds rules.
    await live.database.run(
        lambda connection: settings.update(
            connection,
            settings.validate_changes({"mail_grace_seconds": 600}),
            expected_version=None,
            actor="test",
            via="cli",
        )
    )
    desk = await Desk.create(live, preferences())
    await desk.mention(await desk.ticket("Printer"), "look")
    live.clock.advance(seconds=599)
    await live.flush()
    assert smtp.inbox.take() == []  # the built-in 120 s would have mailed by now
    live.clock.advance(seconds=1)
    await live.flush()
    assert len(smtp.inbox.take()) == 1


@pytest.mark.asyncio
async def test_a_notification_read_within_the_grace_period_is_not_mailed(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    desk = await Desk.create(live, preferences())
    first = await desk.ticket("Read in the tray")
    await desk.mention(first)
    live.clock.advance(seconds=60)
    await desk.read((await desk.newest_notification())["id"])
    second = await desk.ticket("Opened in the browser")
    await desk.mention(second)
    live.clock.advance(seconds=30)
    await live.call(desk.ann, "POST", f"/api/v1/tickets/{second}/view")
    third = await desk.ticket("Deleted")
    await desk.mention(third)
    await live.call(
        desk.ann, "DELETE", f"/api/v1/notifications/{(await desk.newest_notification())['id']}"
    )
    live.clock.advance(minutes=5)
    await live.flush()
    assert smtp.inbox.take() == []
    assert desk.outbox() == [
        ("dropped", DropReason.READ.value),
        ("dropped", DropReason.READ.value),
        ("dropped", DropReason.DELETED.value),
    ]


@pytest.mark.asyncio
async def test_only_when_not_connected_drops_what_arrived_while_a_stream_was_open(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    desk = await Desk.create(live, preferences())
    always_token = await live.add_agent("cy", preferences=preferences(only_when_disconnected=False))
    ticket = await desk.ticket("Streams")
    async with (
        connect_stream(live.url, desk.ann) as ann_stream,
        connect_stream(live.url, always_token) as cy_stream,
    ):
        for stream in (ann_stream, cy_stream):
            await stream.send(wire.encode_json(wire.ResumeRequest(0).to_json()))
            await receive_until(stream, "synced")
        await live.call(
            desk.bob, "POST", f"/api/v1/tickets/{ticket}/comments", {"body": "@ann @cy online"}
        )
        await receive_until(ann_stream, "notification")
    await wait_for_no_streams(live)
    await desk.mention(ticket, "offline now")
    live.clock.advance(minutes=2)
    await live.flush()
    mails = smtp.inbox.take()
    assert sorted((m["To"].addresses[0].username, "offline" in text_of(m)) for m in mails) == [
        ("ann", True),
        ("cy", False),  # cy asked for mail even while connected
    ]
    assert desk.outbox() == [("dropped", DropReason.CONNECTED.value), ("mailed", None)]


async def wait_for_no_streams(live: LiveHelpdesk) -> None:
    async with asyncio.timeout(10):
        # The server counts a stream closed once its handler has ended; nothing signals that.
        while live.rows("SELECT * FROM agent_presence"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- digests


@pytest.mark.asyncio
async def test_hourly_digests_across_the_fall_back_night(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    # Berlin, Sunday 27 October 2024: 03:00 CEST becomes 02:00 CET (01:00 UTC).
    live.clock.set(utc(2024, 10, 27, 0, 10))  # 02:10 CEST
    desk = await Desk.create(
        live, preferences(frequency=wire.EmailFrequency.HOURLY_DIGEST, timezone=BERLIN)
    )
    printer = await desk.ticket("Printer")
    await desk.mention(printer, "printer first")
    live.clock.set(utc(2024, 10, 27, 0, 20))
    invoice = await desk.ticket("Invoice")
    await desk.assign(invoice)
    live.clock.set(utc(2024, 10, 27, 0, 25))
    await desk.mention(printer, "printer second")
    live.clock.set(utc(2024, 10, 27, 0, 30))
    await desk.mention(invoice, "invoice read")
    await desk.read((await desk.newest_notification())["id"])

    await at(live, utc(2024, 10, 27, 0, 59, 59))
    assert smtp.inbox.take() == []
    await at(live, utc(2024, 10, 27, 1, 0))  # 02:00 CET, the second 02:00 of the night
    [digest] = smtp.inbox.take()
    assert digest["Subject"] == "Hourly digest: 3 new notifications: 1 assignment, 2 mentions"
    assert "In-Reply-To" not in digest
    text = text_of(digest)
    order = [
        text.index(marker)
        for marker in (f"#{printer} Printer", "printer second", "printer first", f"#{invoice}")
    ]
    assert order == sorted(order), text  # by ticket, the newest ticket first, newest first
    assert "02:25" in text and "02:20" in text and "02:10" in text  # CEST wall times
    # The first line (a mail list's preview, beside the subject) adds to the subject rather
    # than repeating its counts: how many tickets, and since when.
    first_line = "Still unread: 3 notifications on 2 tickets, from 02:10 to 02:25."
    assert text.splitlines()[0] == first_line
    assert f"<p><strong>{first_line}</strong></p>" in html_of(digest)
    assert "invoice read" not in text and "invoice read" not in html_of(digest)

    live.clock.set(utc(2024, 10, 27, 1, 5))  # 02:05 CET
    await desk.mention(invoice, "after the change")
    await at(live, utc(2024, 10, 27, 1, 59))
    assert smtp.inbox.take() == []
    await at(live, utc(2024, 10, 27, 2, 0))  # 03:00 CET
    [second] = smtp.inbox.take()
    assert second["Subject"] == "Hourly digest: 1 new notification: 1 mention"
    assert "after the change" in text_of(second) and "printer" not in text_of(second)
    assert text_of(second).splitlines()[0] == "Still unread: 1 notification on 1 ticket, at 02:05."
    await at(live, utc(2024, 10, 27, 3, 0))  # nothing new: no digest
    await at(live, utc(2024, 10, 27, 9, 0))
    assert smtp.inbox.take() == []


@pytest.mark.asyncio
async def test_a_daily_digest_keeps_its_local_time_across_the_fall_back_night(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    live.clock.set(utc(2024, 10, 26, 7, 0))  # Saturday 09:00 CEST
    desk = await Desk.create(
        live,
        preferences(
            frequency=wire.EmailFrequency.DAILY_DIGEST, digest_time="08:00", timezone=BERLIN
        ),
    )
    await desk.mention(await desk.ticket("Saturday"), "saturday morning")
    live.clock.set(utc(2024, 10, 26, 20, 0))
    await desk.mention(await desk.ticket("Evening"), "saturday evening")
    await at(live, utc(2024, 10, 27, 6, 0))  # 24 hours after Saturday 08:00: only 07:00 CET
    await at(live, utc(2024, 10, 27, 6, 59))
    assert smtp.inbox.take() == []
    await at(live, utc(2024, 10, 27, 7, 0))  # Sunday 08:00 CET
    [digest] = smtp.inbox.take()
    assert digest["Subject"] == "Daily digest: 2 new notifications: 2 mentions"
    assert digest["Date"] == "Sun, 27 Oct 2024 07:00:00 +0000"
    text = text_of(digest)
    assert text.index("saturday evening") < text.index("saturday morning")
    assert "Sat 26 Oct 09:00" in text and "Sat 26 Oct 22:00" in text
    await at(live, utc(2024, 10, 28, 7, 0))  # Monday 08:00: nothing new, no digest
    assert smtp.inbox.take() == []


@pytest.mark.asyncio
async def test_quiet_hours_hold_instant_mail_and_send_one_digest_when_they_end(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    nights = [wire.QuietRange(day=d, start="22:00", end="07:00") for d in range(7)]
    live.clock.set(utc(2024, 10, 22, 20, 30))  # Tuesday 22:30 CEST
    desk = await Desk.create(live, preferences(quiet_hours=nights, timezone=BERLIN))
    stored = await live.call(desk.ann, "GET", "/api/v1/me/preferences")
    assert wire.Preferences.parse(stored).quiet_hours == tuple(nights)
    await desk.mention(await desk.ticket("Night one"), "at half past ten")
    live.clock.set(utc(2024, 10, 22, 21, 0))
    await desk.mention(await desk.ticket("Night two"), "read at night")
    live.clock.set(utc(2024, 10, 22, 23, 0))
    await desk.mention(await desk.ticket("Night three"), "at one")
    live.clock.set(utc(2024, 10, 23, 0, 0))
    await desk.read(
        next(
            n["id"]
            for n in (await live.call(desk.ann, "GET", "/api/v1/notifications"))["notifications"]
            if n["message"].endswith("read at night")
        )
    )
    for hour in (1, 3, 4):
        await at(live, utc(2024, 10, 23, hour, 0))
    await at(live, utc(2024, 10, 23, 4, 59))  # 06:59 CEST
    assert smtp.inbox.take() == []
    await at(live, utc(2024, 10, 23, 5, 0))  # 07:00 CEST: quiet hours end
    [digest] = smtp.inbox.take()
    assert digest["Subject"] == ("While your quiet hours were on: 2 new notifications: 2 mentions")
    text = text_of(digest)
    assert "at half past ten" in text and "at one" in text and "read at night" not in text
    # After quiet hours, instant mail is instant again.
    live.clock.set(utc(2024, 10, 23, 5, 10))
    await desk.mention(await desk.ticket("Morning"), "good morning")
    await at(live, utc(2024, 10, 23, 5, 12))
    [morning] = smtp.inbox.take()
    assert morning["Subject"].endswith("Morning") and "good morning" in text_of(morning)


# --------------------------------------------------------------------------- delivery


def messages(live: LiveHelpdesk) -> list[tuple[Any, ...]]:
    return live.rows("SELECT state, attempts, last_error FROM email_messages ORDER BY id")


@pytest.mark.asyncio
async def test_an_smtp_server_down_then_back_loses_nothing_and_sends_nothing_twice(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    desk = await Desk.create(live, preferences())
    await smtp.stop()
    ticket = await desk.ticket("While the mail server is down")
    await desk.mention(ticket, "first while down")
    live.clock.advance(minutes=2)
    await live.flush()
    [(state, attempts, error)] = messages(live)
    assert (state, attempts) == ("queued", 1) and "cannot connect" in error
    live.clock.advance(seconds=2)  # within the first backoff (2.5 to 5 s): no attempt
    await live.flush()
    assert messages(live)[0][1] == 1
    live.clock.advance(seconds=5)
    await live.flush()
    assert messages(live)[0][1] == 2

    await desk.mention(ticket, "second while down")
    await live.restart()  # the queue is in the database, not in memory
    live.clock.advance(minutes=3)
    await live.flush()
    # One failed connection postpones every due mail (two batches here), each counted.
    assert [row[:2] for row in messages(live)] == [("queued", 3), ("queued", 1)]
    assert smtp.inbox.take() == []

    await smtp.start()  # back, on the same port
    live.clock.advance(minutes=2)
    await live.flush()
    mails = smtp.inbox.take()
    assert sorted("second" in text_of(m) for m in mails) == [False, True]
    assert [row[0] for row in messages(live)] == ["sent", "sent"]

    await live.restart()
    live.clock.advance(days=1)
    await live.flush()
    assert smtp.inbox.take() == []  # nothing twice, across a restart after the hand-over

    # A 4xx answer is "try again later": retried, then delivered once.
    smtp.inbox.answers.append("451 4.3.0 Mailbox busy, try again later")
    await desk.mention(ticket, "deferred once")
    live.clock.advance(minutes=2)
    await live.flush()
    assert smtp.inbox.take() == [] and smtp.inbox.refused == 1
    assert messages(live)[-1] == ("queued", 1, "451 4.3.0 Mailbox busy, try again later")
    live.clock.advance(seconds=10)
    await live.flush()
    [deferred] = smtp.inbox.take()
    assert "deferred once" in text_of(deferred)
    assert messages(live)[-1][:2] == ("sent", 2)


@pytest.mark.asyncio
async def test_a_permanent_refusal_gives_up_with_the_reason_for_the_admin(
    live: LiveHelpdesk, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    desk = await Desk.create(live, preferences())
    smtp.inbox.answers.append("550 5.1.1 No such mailbox here")
    await desk.mention(await desk.ticket("Bounces"), "to a missing mailbox")
    live.clock.advance(minutes=2)
    with caplog.at_level(logging.WARNING, logger="notifier.server.mailer"):
        await live.flush()
    assert messages(live) == [("failed", 1, "refused: 550 5.1.1 No such mailbox here")]
    assert any("refused for good" in r.getMessage() for r in caplog.records)
    live.clock.advance(days=3)
    await live.flush()
    assert smtp.inbox.refused == 1 and smtp.inbox.take() == []  # never retried

    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "notifier.server.cli", "mail-status", "--db", str(live.db_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "mails: 0 queued, 0 sent, 1 failed" in status.stdout
    assert "failed:" in status.stdout and "to ann <ann@example.com>" in status.stdout
    assert "refused: 550 5.1.1 No such mailbox here" in status.stdout


# --------------------------------------------------------------------------- settings


@pytest.mark.asyncio
async def test_the_settings_link_turns_mail_off_and_unknown_links_are_refused(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    desk = await Desk.create(live, preferences())
    ticket = await desk.ticket("Unsubscribe")
    await desk.mention(ticket)
    live.clock.advance(minutes=2)
    await live.flush()
    [mail] = smtp.inbox.take()
    settings_path = mail["List-Unsubscribe"].strip("<>").removeprefix(live.url)
    page = await live.request(None, "GET", settings_path)
    assert page.status_code == 200 and "Turn e-mail notifications off" in page.text
    await desk.mention(ticket, "waiting in the grace period")
    # RFC 8058: the mail provider POSTs "List-Unsubscribe=One-Click", without a session.
    done = await live._http.post(live.url + settings_path, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "no more notification mail" in done.text
    stored = wire.Preferences.parse(await live.call(desk.ann, "GET", "/api/v1/me/preferences"))
    assert stored.email.enabled is False
    await desk.mention(ticket, "after unsubscribing")  # not even queued
    live.clock.advance(minutes=2)
    await live.flush()
    assert smtp.inbox.take() == []
    assert desk.outbox() == [("mailed", None), ("dropped", DropReason.EMAIL_OFF.value)]
    again = await live.request(None, "GET", settings_path)
    assert "E-mail notifications are off." in again.text
    for path in ("/mail/not-a-token", "/mail/" + "x" * 300):
        for method in ("GET", "POST"):
            refused = await live.request(None, method, path)
            assert refused.status_code == 404, (method, path)


@pytest.mark.asyncio
async def test_an_agent_without_an_address_gets_nothing_and_the_reason_is_kept(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    token = await live.add_agent("noaddress", email=None)
    await live.call(token, "PUT", "/api/v1/me/preferences", preferences().to_json())
    bob = await live.add_agent("bob")
    ticket = await live.call(bob, "POST", "/api/v1/tickets", {"subject": "x", "body": "y"})
    await live.call(
        bob, "POST", f"/api/v1/tickets/{ticket['id']}/comments", {"body": "@noaddress hi"}
    )
    live.clock.advance(minutes=2)
    await live.flush()
    assert smtp.inbox.take() == []
    assert live.rows("SELECT state, reason FROM email_outbox") == [("dropped", NO_ADDRESS)]


@pytest.mark.asyncio
async def test_a_client_that_omits_the_new_email_fields_keeps_their_stored_values(
    live: LiveHelpdesk,
) -> None:
    token = await live.add_agent(
        "old",
        preferences=preferences(
            frequency=wire.EmailFrequency.DAILY_DIGEST,
            digest_time="18:30",
            only_when_disconnected=False,
        ),
    )
    version_1 = preferences(frequency=wire.EmailFrequency.INSTANT).to_json()
    for key in wire.EMAIL_OPTIONAL_FIELDS:
        del version_1["email"][key]
    version_1["email"]["some_future_field"] = 1  # unknown fields are ignored
    stored = wire.Preferences.parse(
        await live.call(token, "PUT", "/api/v1/me/preferences", version_1)
    )
    assert stored.email.frequency is wire.EmailFrequency.INSTANT
    assert (stored.email.digest_time, stored.email.only_when_disconnected) == ("18:30", False)
    bad = preferences().to_json()
    bad["email"]["digest_time"] = "25:00"
    refused = await live.request(token, "PUT", "/api/v1/me/preferences", bad)
    assert refused.status_code == 422


# --------------------------------------------------------------------------- retention


@pytest.mark.asyncio
async def test_retention_prunes_finished_mail_keeps_unsent_mail_and_threads_after(
    live: LiveHelpdesk, smtp: SmtpServer
) -> None:
    desk = await Desk.create(live, preferences())
    await live.add_agent("dee", preferences=preferences(frequency=wire.EmailFrequency.DAILY_DIGEST))
    printer = await desk.ticket("Printer")
    await desk.mention(printer, "sent")
    live.clock.advance(minutes=2)
    await live.flush()
    [sent] = smtp.inbox.take()
    smtp.inbox.answers.append("550 5.1.1 No such mailbox here")
    await desk.mention(await desk.ticket("Bounces"), "given up")
    live.clock.advance(minutes=2)
    await live.flush()
    await desk.mention(printer, "read in time")
    await desk.read((await desk.newest_notification())["id"])
    await live.call(
        desk.bob, "POST", f"/api/v1/tickets/{printer}/comments", {"body": "@dee digest me"}
    )
    live.clock.advance(minutes=2)
    await live.flush()
    await smtp.stop()
    await desk.mention(printer, "queued while the mail server is down")
    live.clock.advance(minutes=2)
    await live.flush()
    await smtp.start()
    assert [row[:2] for row in messages(live)] == [("sent", 1), ("failed", 1), ("queued", 1)]
    outbox = (
        "SELECT u.username, o.state FROM email_outbox AS o JOIN users AS u ON u.id = o.agent_id"
    )
    before = sorted(live.rows(outbox))
    assert before == sorted([("ann", "mailed")] * 3 + [("ann", "dropped"), ("dee", "pending")])

    # The real job on the real file, with the server (and its mailer) stopped, so that no
    # mailer round sends Dee's digest meanwhile: the rows stay as old as the clock says.
    await live.stop()

    async def retention(days_later: timedelta) -> retention_job.RetentionReport:
        live.clock.set(MONDAY_NOON + days_later)
        database = Database(live.db_path, clock=live.clock)
        await asyncio.to_thread(database.open)
        try:
            async with asyncio.timeout(WITHIN_S):
                return await retention_job.run_retention(database, lambda appended: None)
        finally:
            await asyncio.to_thread(database.close)

    # Younger than retention_days (90): nothing goes.
    assert (await retention(timedelta(days=89, hours=23))).deleted_outbox == 0
    assert sorted(live.rows(outbox)) == before
    # Older: the sent and the given-up mail go with the rows they carried, and the dropped
    # row; the queued mail (and its row) and the pending row stay, however old.
    report = await retention(timedelta(days=91))
    assert (report.deleted_mails, report.deleted_outbox) == (2, 3)
    assert [row[0] for row in messages(live)] == ["queued"]
    assert sorted(live.rows(outbox)) == [("ann", "mailed"), ("dee", "pending")]
    assert (await retention(timedelta(days=91))).deleted_outbox == 0  # nothing left

    # Mail goes on: the digest carries the pending row, and a ticket's new mail threads with
    # its deleted ones.
    await live.start()
    await live.flush()
    [digest] = [m for m in smtp.inbox.take() if m["To"].startswith("Dee")]
    assert "digest me" in text_of(digest)
    await desk.mention(printer, "after the prune")
    live.clock.advance(minutes=2)
    await live.flush()
    [after] = [m for m in smtp.inbox.take() if "after the prune" in text_of(m)]
    assert after["References"] == sent["References"] == after["In-Reply-To"]
    assert after["Message-ID"] != sent["Message-ID"]
