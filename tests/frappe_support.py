"""Fixtures for the Frappe adapter's tests (loaded from tests/conftest.py).

``frappe_site`` is parametrised: ``standin`` (tests/frappe_standin.py, always) and ``real``
(a real Frappe Helpdesk site, when ``NOTIFIER_FRAPPE_URL``, ``NOTIFIER_FRAPPE_KEY`` and
``NOTIFIER_FRAPPE_SECRET`` name one and an administrator's API key; optional
``NOTIFIER_FRAPPE_SITE`` (site name), ``NOTIFIER_FRAPPE_SOCKETIO_URL`` (e.g. a bench's
``http://127.0.0.1:9000``) and ``NOTIFIER_FRAPPE_TIME_ZONE``). The same tests run against
both, so the stand-in is held to what a real site does.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine_support import FAST, Harness, running_engine_on
from frappe_driver import Account, SiteDriver
from frappe_standin import FrappeStandin

from notifier.client.frappe import FrappeBackend
from notifier.client.frappe_rest import FrappeCredentials, FrappeSite
from notifier.core.status import ConnectionState
from notifier.store.cache import NotificationCache

REAL_SITE_VARIABLES = ("NOTIFIER_FRAPPE_URL", "NOTIFIER_FRAPPE_KEY", "NOTIFIER_FRAPPE_SECRET")


@dataclass
class SiteUnderTest:
    site: FrappeSite
    driver: SiteDriver
    time_zone: str | None
    standin: FrappeStandin | None  # None for a real site

    def credentials(self, account: Account) -> FrappeCredentials:
        return FrappeCredentials(api_key=account.api_key, api_secret=account.api_secret)

    def backend(self, account: Account, ledger: Path, **kwargs: Any) -> FrappeBackend:
        kwargs.setdefault("time_zone", self.time_zone)
        return FrappeBackend(self.site, self.credentials(account), ledger, FAST, **kwargs)


# The stand-in runs Python on a thread of its own all the time (socket.io pings every second),
# so the garbage collector may run there. Qt objects left in reference cycles by Qt tests (a
# closed qasync loop's timers, a dialog) would then be freed off the GUI thread, which crashes
# the test process later ("QObject::~QObject: Timers cannot be stopped from another thread",
# then a segmentation fault in the next event processing). So garbage is collected on the
# main thread before the stand-in starts and after each test while one runs.
_running_standins: list[FrappeStandin] = []


@pytest.fixture(scope="module")
def frappe_standin() -> Iterator[FrappeStandin]:
    gc.collect()
    with FrappeStandin(ping_interval=1.0, ping_timeout=1.0) as standin:
        _running_standins.append(standin)
        try:
            yield standin
        finally:
            _running_standins.remove(standin)
            gc.collect()


@pytest.fixture(autouse=True)
def _garbage_freed_on_the_main_thread() -> Iterator[None]:
    yield
    if _running_standins:
        gc.collect()


def _standin_under_test(standin: FrappeStandin) -> SiteUnderTest:
    site = FrappeSite(standin.url, standin.name, standin.socketio_url)
    driver = SiteDriver(standin.url, standin.admin_key, standin.admin_secret, standin.name)
    driver.allow_mentions()
    return SiteUnderTest(site, driver, standin.data.time_zone, standin)


def _real_under_test() -> SiteUnderTest:
    missing = [name for name in REAL_SITE_VARIABLES if not os.environ.get(name)]
    if missing:
        pytest.skip(f"no real Frappe Helpdesk site: set {', '.join(missing)} to run the contract")
    url = os.environ["NOTIFIER_FRAPPE_URL"]
    site = FrappeSite(
        url,
        os.environ.get("NOTIFIER_FRAPPE_SITE", ""),
        os.environ.get("NOTIFIER_FRAPPE_SOCKETIO_URL", ""),
    )
    driver = SiteDriver(
        url, os.environ["NOTIFIER_FRAPPE_KEY"], os.environ["NOTIFIER_FRAPPE_SECRET"], site.name
    )
    driver.allow_mentions()
    return SiteUnderTest(site, driver, os.environ.get("NOTIFIER_FRAPPE_TIME_ZONE"), None)


@pytest.fixture(params=["standin", "real"])
def frappe_site(request: pytest.FixtureRequest) -> Iterator[SiteUnderTest]:
    """A site to run an adapter test against (see the module docstring)."""
    if request.param == "standin":
        under_test = _standin_under_test(request.getfixturevalue("frappe_standin"))
    else:
        under_test = _real_under_test()
    try:
        yield under_test
    finally:
        under_test.driver.close()


@pytest.fixture
def standin_site(frappe_standin: FrappeStandin) -> Iterator[SiteUnderTest]:
    """The stand-in only: for tests that restart or cut its socket.io server."""
    under_test = _standin_under_test(frappe_standin)
    try:
        yield under_test
    finally:
        under_test.driver.close()


def running_frappe_engine(
    backend: FrappeBackend, cache_path: Path, **engine_kwargs: Any
) -> AbstractAsyncContextManager[Harness]:
    """A real SyncEngine on a real cache file, syncing through ``backend``."""
    return running_engine_on(backend, cache_path, account=backend.site.url, **engine_kwargs)


@asynccontextmanager
async def live_tray(
    under_test: SiteUnderTest, account: Account, folder: Path, **backend_kwargs: Any
) -> AsyncIterator[Harness]:
    """``account``'s tray (ledger and cache in ``folder``), once it is live."""
    backend = under_test.backend(account, folder / "ledger.sqlite3", **backend_kwargs)
    async with running_frappe_engine(backend, folder / "cache.sqlite3") as harness:
        await wait_live(harness)
        yield harness


def ann_and_bea(driver: SiteDriver) -> tuple[Account, Account]:
    """Two new agents: Ann makes notifications for Bea, whose tray is under test."""
    return driver.create_user("Ann Adams"), driver.create_user("Bea Baker")


def site_view(under_test: SiteUnderTest, email: str) -> list[tuple[str, bool]]:
    """The site's rows for ``email``: (name, read), sorted."""
    return sorted(
        (row["name"], bool(row["read"])) for row in under_test.driver.notifications_of(email)
    )


def cache_view(cache: NotificationCache) -> list[tuple[str, bool]]:
    return sorted((n.id, n.read) for n in cache.all_notifications())


async def wait_live(harness: Harness) -> None:
    await harness.wait_until(lambda: harness.state is ConnectionState.LIVE)


async def wait_equal(
    harness: Harness, under_test: SiteUnderTest, email: str, within: float = 20.0
) -> None:
    """Wait until the cache shows exactly the site's rows for ``email`` (with read flags)."""
    expected: list[tuple[str, bool]] = []

    def same() -> bool:
        nonlocal expected
        expected = site_view(under_test, email)
        return cache_view(harness.cache) == expected

    try:
        await harness.wait_until(same, within=within)
    except TimeoutError:
        raise AssertionError(
            f"cache {cache_view(harness.cache)} != site {expected} after {within} s"
        ) from None
