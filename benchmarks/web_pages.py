"""Size and first paint of the helpdesk's web pages, by Chromium's own timing (issue 12).

Budget: each page under 100 KB transferred and first paint under 200 ms on loopback.

What runs: the demo (``notifier-server demo --rate 0``, its seeded tickets and notifications)
as a subprocess, and Debian's chromium driven by Playwright; each page is loaded ``--runs``
times in a fresh context (an empty cache: the worst case) signed in as alice. Per load:

* transferred: the sum of ``transferSize`` over the navigation entry and every resource
  entry of the Performance API (headers and body, as on the wire; a fresh cache, so the
  stylesheet, script and icons count every time);
* first paint: the ``first-paint`` PerformanceEntry (``first-contentful-paint`` too),
  measured from the navigation's start;
* the floor: the same for a plain text file from the same server, which needs no stylesheet,
  script or layout: what any first paint costs this browser on this machine right now.

    .venv/bin/python benchmarks/web_pages.py [--runs 10] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chromium import CHROMIUM, launch, start_demo

BUDGET_BYTES = 100_000
BUDGET_PAINT_MS = 200.0
# The floor: a plain text file from the same server (no stylesheet, no script, no layout
# work) shows what this browser on this machine needs for any first paint.
FLOOR = "/static/web.css"
PAGES = (FLOOR, "/login", "/", "/tickets/1", "/notifications", "/mail", "/admin")
UNSIGNED = (FLOOR, "/login")
PHONE = {"viewport": {"width": 375, "height": 812}, "has_touch": True, "is_mobile": True}
MEASURE = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const paint = Object.fromEntries(
        performance.getEntriesByType("paint").map(e => [e.name, e.startTime]));
    return {
        bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        requests: 1 + resources.length,
        response_start: nav.responseStart,
        response_end: nav.responseEnd,
        first_paint: paint["first-paint"],
        first_contentful_paint: paint["first-contentful-paint"],
    };
}"""


def measure(browser: Browser, url: str, path: str, device: dict[str, Any]) -> dict[str, Any]:
    context = browser.new_context(base_url=url, **device)
    try:
        if path not in UNSIGNED:
            # Sign in through the context's own HTTP client (it shares the cookie jar), so
            # the page loads with the session but nothing in the browser's cache.
            form = context.request.get("/login").text()
            token = re.search(r'name=csrf value="([^"]+)"', form)
            assert token is not None
            context.request.post(
                "/login",
                form={"username": "alice", "password": "alice", "csrf": token.group(1)},
                max_redirects=0,
            )
        page = context.new_page()
        page.goto(path, wait_until="load")
        page.wait_for_function(
            "() => performance.getEntriesByName('first-contentful-paint').length"
        )
        result: dict[str, Any] = page.evaluate(MEASURE)
        return result
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    over_budget = False
    with tempfile.TemporaryDirectory() as folder:
        demo, url = start_demo(Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright, args.chromium)
                print(f"chromium {browser.version}, {args.runs} loads per page, empty cache")
                print(
                    f"{'page':24} {'device':8} {'KB':>6} {'requests':>8} {'FP ms':>7} {'FCP ms':>7}"
                )
                for device_name, device in (("desktop", {}), ("phone", PHONE)):
                    for path in PAGES:
                        runs = [measure(browser, url, path, device) for _ in range(args.runs)]
                        size = statistics.median(r["bytes"] for r in runs)
                        paint = statistics.median(r["first_paint"] for r in runs)
                        contentful = statistics.median(r["first_contentful_paint"] for r in runs)
                        if path != FLOOR:
                            over_budget |= size >= BUDGET_BYTES or paint >= BUDGET_PAINT_MS
                        print(
                            f"{path + (' (floor)' if path == FLOOR else ''):24} {device_name:8} "
                            f"{size / 1000:6.1f} "
                            f"{runs[0]['requests']:8} {paint:7.1f} {contentful:7.1f}"
                        )
                browser.close()
        finally:
            demo.terminate()
            demo.wait(10)
    print("within budget" if not over_budget else "OVER BUDGET")
    return 1 if over_budget else 0


if __name__ == "__main__":
    raise SystemExit(main())
