"""The toast adapters: plain text, buttons, click routing, withdrawal and the fallback chain.

desktop-notifier is the OS edge here: a small fake with its ``send``/``clear`` signature stands
in for it (the real service is exercised by the desktop test with dunst).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot

from notifier.ui.toasts import (
    ACTION_MARK_READ,
    ACTION_OPEN,
    DesktopNotifierSink,
    NullSink,
    TrayMessageSink,
    choose_sink,
    plain_body,
)


@dataclass(frozen=True)
class SampleToast:
    key: str
    title: str = "You were mentioned"
    body: str = "Bob mentioned you on #1 Printer\n<b>x</b> & y"
    notification_id: str | None = "n1"
    link: str | None = None
    sound: bool = True


@dataclass(frozen=True)
class FakeButton:
    title: str
    on_pressed: Callable[[], None]


@dataclass
class FakeDesktopNotifier:
    sent: list[dict[str, Any]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    release: asyncio.Event | None = None

    async def send(
        self,
        title: str,
        message: str,
        *,
        buttons: Any = (),
        on_clicked: Callable[[], Any] | None = None,
        sound: Any = None,
    ) -> str:
        if self.release is not None:
            await self.release.wait()
        self.sent.append(
            {
                "title": title,
                "message": message,
                "buttons": list(buttons),
                "on_clicked": on_clicked,
                "sound": sound,
            }
        )
        return f"id-{len(self.sent)}"

    async def clear(self, identifier: str) -> None:
        self.cleared.append(identifier)


def make_sink(fake: FakeDesktopNotifier, body_click: bool = True) -> DesktopNotifierSink:
    return DesktopNotifierSink(
        fake,
        button_factory=FakeButton,
        default_sound="DEFAULT",
        body_click_supported=body_click,
    )


@pytest.mark.asyncio
async def test_desktop_sink_sends_plain_text_with_mark_read_and_routes_clicks() -> None:
    fake = FakeDesktopNotifier()
    sink = make_sink(fake)
    clicks: list[str] = []
    actions: list[tuple[str, str]] = []
    sink.bind(clicks.append, lambda key, action: actions.append((key, action)))
    sink.show(SampleToast("n1"))
    sink.show(SampleToast("summary-2", notification_id=None, sound=False))
    async with asyncio.timeout(5):
        await sink.drain()
    first, second = fake.sent
    assert first["title"] == "You were mentioned"
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in first["message"]
    assert first["sound"] == "DEFAULT" and second["sound"] is None
    assert [b.title for b in first["buttons"]] == ["Mark read"]
    assert second["buttons"] == []  # a summary has nothing to mark read
    first["on_clicked"]()
    first["buttons"][0].on_pressed()
    second["on_clicked"]()
    assert clicks == ["n1", "summary-2"]
    assert actions == [("n1", ACTION_MARK_READ)]


@pytest.mark.asyncio
async def test_desktop_sink_offers_open_button_when_body_clicks_are_not_reported() -> None:
    fake = FakeDesktopNotifier()
    sink = make_sink(fake, body_click=False)
    actions: list[tuple[str, str]] = []
    sink.bind(lambda key: None, lambda key, action: actions.append((key, action)))
    sink.show(SampleToast("n1"))
    async with asyncio.timeout(5):
        await sink.drain()
    buttons = fake.sent[0]["buttons"]
    assert [b.title for b in buttons] == ["Mark read", "Open"]
    buttons[1].on_pressed()
    assert actions == [("n1", ACTION_OPEN)]


@pytest.mark.asyncio
async def test_desktop_sink_withdraws_shown_and_in_flight_toasts() -> None:
    fake = FakeDesktopNotifier()
    sink = make_sink(fake)
    sink.show(SampleToast("n1"))
    async with asyncio.timeout(5):
        await sink.drain()
    sink.withdraw("n1")
    sink.withdraw("never-shown")
    async with asyncio.timeout(5):
        await sink.drain()
    assert fake.cleared == ["id-1"]
    # Withdrawn while the send is still in flight: cleared right after it lands.
    fake.release = asyncio.Event()
    sink.show(SampleToast("n2"))
    await asyncio.sleep(0)
    sink.withdraw("n2")
    fake.release.set()
    async with asyncio.timeout(5):
        await sink.drain()
    assert fake.cleared == ["id-1", "id-2"]


@pytest.mark.asyncio
async def test_desktop_sink_replaces_the_toast_of_a_key_shown_again() -> None:
    fake = FakeDesktopNotifier()
    sink = make_sink(fake)
    sink.show(SampleToast("n1", body="a reply"))
    async with asyncio.timeout(5):
        await sink.drain()
    sink.show(SampleToast("n1", body="1 more reply"))
    async with asyncio.timeout(5):
        await sink.drain()
    assert [sent["message"] for sent in fake.sent] == ["a reply", "1 more reply"]
    assert fake.cleared == ["id-1"]  # one toast on screen, updated
    # Two shows of one key in flight: the later show wins, whatever lands first.
    fake.release = asyncio.Event()
    sink.show(SampleToast("n1", body="2 more replies"))
    sink.show(SampleToast("n1", body="3 more replies"))
    await asyncio.sleep(0)
    fake.release.set()
    async with asyncio.timeout(5):
        await sink.drain()
    assert [sent["message"] for sent in fake.sent][2:] == ["2 more replies", "3 more replies"]
    assert sorted(fake.cleared) == ["id-1", "id-2", "id-3"]
    sink.withdraw("n1")
    async with asyncio.timeout(5):
        await sink.drain()
    assert fake.cleared[-1] == "id-4"


def test_tray_message_sink_routes_a_balloon_click_to_the_latest_toast(qtbot: QtBot) -> None:
    tray = QSystemTrayIcon()
    sink = TrayMessageSink(tray)
    clicks: list[str] = []
    sink.bind(clicks.append, lambda key, action: None)
    sink.show(SampleToast("n1"))
    sink.show(SampleToast("n2"))
    tray.messageClicked.emit()
    sink.withdraw("n2")
    tray.messageClicked.emit()  # withdrawn: a late click does nothing
    assert clicks == ["n2"]


def test_plain_body_escapes_markup_on_freedesktop() -> None:
    assert plain_body("<i>a</i> & b") in ("&lt;i&gt;a&lt;/i&gt; &amp; b", "<i>a</i> & b")


@pytest.mark.asyncio
async def test_fallback_chain_ends_in_the_null_sink_without_bus_or_tray(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # No session bus (a socket path that does not exist) and no tray offscreen.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    async with asyncio.timeout(10):
        sink = await choose_sink(QSystemTrayIcon())
    assert isinstance(sink, NullSink)
    sink.show(SampleToast("n1"))
    assert sink.shown_count == 1
