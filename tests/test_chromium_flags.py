"""The flags tests/chromium.py starts Chromium with: Playwright's own feature switches kept,
the browser's preloading of its own UI in each new window turned off."""

from __future__ import annotations

import base64
import json
import re

import pytest
from chromium import CHROMIUM, CHROMIUM_ARGS, launch
from playwright.sync_api import Browser, Playwright, sync_playwright

pytestmark = pytest.mark.timeout(60)


def disabled_features(browser: Browser) -> set[str]:
    """The features the running browser took as disabled from its command line, as
    chrome://version reports them (base64 JSON of the effective switches)."""
    page = browser.new_page()
    try:
        page.goto("chrome://version")
        html = page.content()
    finally:
        page.close()
    for encoded in re.findall(r"eyJ[A-Za-z0-9+/=]+", html):
        switches = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
        if "disable-features" in switches:
            return set(switches["disable-features"].split(","))
    raise AssertionError("chrome://version shows no command-line variations")


def plain_launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))


def test_our_launch_keeps_every_feature_playwright_disables_and_adds_ours() -> None:
    with sync_playwright() as playwright:
        plain = plain_launch(playwright)
        try:
            playwrights = disabled_features(plain)
        finally:
            plain.close()
        ours_browser = launch(playwright)
        try:
            ours = disabled_features(ours_browser)
        finally:
            ours_browser.close()
    assert "PreloadTopChromeWebUI" not in playwrights
    assert playwrights <= ours, f"add to PLAYWRIGHT_DISABLED_FEATURES: {playwrights - ours}"
    assert "PreloadTopChromeWebUI" in ours


def test_a_new_window_loads_only_the_page_not_the_browsers_own_ui() -> None:
    """Each fresh context is a new window; with the preload on, Chromium built its omnibox
    popup (a chrome:// WebUI page of 170-250 resources) in another renderer beside our page."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            requested: list[str] = []
            for _ in range(3):
                context = browser.new_context()
                page = context.new_page()
                browser.start_tracing(page=page, categories=["devtools.timeline", "loading"])
                page.goto("data:text/html,<p>hello</p>")
                page.wait_for_timeout(300)
                trace = json.loads(browser.stop_tracing())
                requested += [
                    event["args"]["data"]["url"]
                    for event in trace["traceEvents"]
                    if event.get("name") == "ResourceSendRequest"
                ]
                context.close()
        finally:
            browser.close()
    assert not [url for url in requested if url.startswith("chrome://")], requested[:5]
