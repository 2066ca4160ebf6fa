"""Screenshots of the helpdesk's main web pages for the README: desktop and phone, light and
dark, from the demo (``notifier-server demo --rate 0``) in Debian's chromium via Playwright.

    .venv/bin/python scripts/web_screenshots.py [--out docs/images] [--chromium PATH]

Writes ``web-<page>-<desktop|phone>-<light|dark>.png`` for the sign-in page, an agent's
tickets, a ticket, the notification center, a notification's detail (phone), the demo's mail
and the admin settings (alice is the demo's admin).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from chromium import CHROMIUM, launch, start_demo  # noqa: E402

DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 860}},
    "phone": {
        "viewport": {"width": 375, "height": 812},
        "has_touch": True,
        "is_mobile": True,
        "device_scale_factor": 2,
    },
}


def sign_in(page: Page, username: str, password: str, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def shoot(browser: Browser, url: str, out: Path) -> list[Path]:
    written: list[Path] = []
    for device, options in DEVICES.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(base_url=url, color_scheme=scheme, **options)  # type: ignore[arg-type]
            page = context.new_page()

            def save(
                name: str, page: Page = page, device: str = device, scheme: str = scheme
            ) -> None:
                path = out / f"web-{name}-{device}-{scheme}.png"
                page.screenshot(path=str(path), full_page=False)
                written.append(path)

            page.goto("/login")
            save("signin")
            sign_in(page, "alice", "alice", "/notifications")
            page.wait_for_selector(".note")
            save("notifications")
            if device == "phone":
                page.locator(".note .note-open").first.tap()
                page.wait_for_selector(".detail:not([hidden])")
                save("detail")
            page.goto("/")
            save("tickets")
            first = page.locator(".tickets a").first
            first.click()
            page.wait_for_selector(".thread")
            save("ticket")
            page.goto("/mail")
            save("mail")
            page.goto("/admin")
            page.wait_for_selector("#retention_days, [name=retention_days]")
            save("admin")
            context.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        demo, url = start_demo(Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright, args.chromium)
                for path in shoot(browser, url, out):
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                browser.close()
        finally:
            demo.terminate()
            demo.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
