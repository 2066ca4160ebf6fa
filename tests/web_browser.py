"""Real-browser support for the web pages' tests: Playwright driving Debian's chromium.

One browser per test module (``chromium`` fixture, module scope); each signed-in person gets
a context of their own (separate cookie jars), made by :func:`signed_in`.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chromium import launch
from engine_support import Harness, running_engine
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from notifier.store.cache import NotificationCache

PASSWORD = "correct horse battery staple"
PHONE = {"viewport": {"width": 375, "height": 812}, "has_touch": True, "is_mobile": True}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def signed_in(
    browser: Browser, base_url: str, username: str, next_path: str = "/", **options: object
) -> tuple[BrowserContext, Page]:
    """A new context (its own cookies) signed in on the sign-in page as a person would."""
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"/login?next={next_path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")
    return context, page


def swipe(page: Page, selector: str, dx: float) -> None:
    """A one-finger horizontal swipe over ``selector`` (touch events, as a phone sends)."""
    page.evaluate(
        """([selector, dx]) => {
            const target = document.querySelector(selector);
            const box = target.getBoundingClientRect();
            const x = box.left + box.width / 2, y = box.top + box.height / 2;
            const touch = (cx) => new Touch({identifier: 1, target, clientX: cx, clientY: y});
            const send = (type, cx) => target.dispatchEvent(new TouchEvent(type, {
                bubbles: true, cancelable: true,
                touches: type === "touchend" ? [] : [touch(cx)],
                changedTouches: [touch(cx)]}));
            send("touchstart", x);
            for (let step = 1; step <= 5; step++) send("touchmove", x + dx * step / 5);
            send("touchend", x + dx);
        }""",
        [selector, dx],
    )


class EngineThread:
    """A tray engine (tests/engine_support.py ``running_engine``) on its own event loop in a
    thread, so a synchronous Playwright test can drive pages while the engine syncs live.
    :meth:`wait_until` checks a predicate on the engine's cache in the engine's thread."""

    def __init__(self, server_url: str, token: str, cache_path: Path) -> None:
        self._args = (server_url, token, cache_path)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._harness: Harness | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._failure: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the test by __enter__
            self._failure = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with running_engine(*self._args) as harness:
            self._harness = harness
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> EngineThread:
        self._thread.start()
        assert self._ready.wait(20), "the engine did not start"
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        assert not self._thread.is_alive(), "the engine did not stop"

    def wait_until(
        self, predicate: Callable[[NotificationCache], bool], within_s: float = 20.0
    ) -> None:
        harness = self._harness
        assert harness is not None
        waiting = asyncio.run_coroutine_threadsafe(
            harness.wait_until(lambda: predicate(harness.cache), within_s), self._loop
        )
        waiting.result(within_s + 5)


# WCAG's colour arithmetic for page scripts: rgba("rgb(1, 2, 3)") → [1, 2, 3], the relative
# luminance lum(c) and the contrast ratio(a, b) of two colours. The start of a script's body.
COLOUR_MATH = """
    const rgba = s => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = c => {
        const [r, g, b] = c.slice(0, 3).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
"""


CONTRAST = """el => {
    const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    const lum = c => {
        const [r, g, b] = c.map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``notifier-server demo --rate 0`` (its pages have the most in the header: the mail
    page's link too): (its URL, its database). Tests add their own people and tickets."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    command = [sys.executable, "-m", "notifier.server.cli", "demo", "--port", "0", "--rate", "0"]
    process = subprocess.Popen(
        [*command, "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        found = re.match(r"listening on (http://\S+)", process.stdout.readline())
        assert found is not None, "the demo did not start"
        yield found.group(1), db
    finally:
        process.terminate()
        process.communicate(timeout=10)  # also closes its pipe


def cli(db: Path, *args: str) -> str:
    """``notifier-server ARGS --db DB``; its output (a new person's API token)."""
    done = subprocess.run(
        [sys.executable, "-m", "notifier.server.cli", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()
