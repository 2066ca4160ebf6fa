"""The bounds the reference helpdesk enforces, and the small in-memory counters behind them.

:class:`Limits` is the one settings object: every field is a ``notifier-server serve`` flag
(its name and help are the field's metadata, so the CLI cannot drift from it) and
docs/server.md lists them with their defaults. Tests start servers with lowered values.

The counters live in memory: a restart forgets them, which is fine for limits measured in
minutes. Each is bounded in size, so a flood of distinct keys (made-up usernames) cannot grow
them without end.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, Final, TypeVar

from notifier.server.repository import ActionError

_T = TypeVar("_T")

MAX_TRACKED_KEYS: Final = 10_000
# Fixed bounds of a sign-in, checked before any hashing.
MAX_USERNAME_CHARS: Final = 254
MAX_PASSWORD_CHARS: Final = 1024


def _limit(default: Any, flag: str, help_text: str) -> Any:
    return field(default=default, metadata={"flag": flag, "help": help_text})


@dataclass(frozen=True, slots=True)
class Limits:
    """Every tunable bound of the server (defaults are the production values)."""

    sign_in_window_s: float = _limit(
        300.0, "--sign-in-window", "seconds over which failed sign-ins are counted"
    )
    sign_in_failures_per_account: int = _limit(
        10,
        "--sign-in-failures-per-account",
        "failed sign-ins per username in the window before 429",
    )
    sign_in_failures_per_address: int = _limit(
        100,
        "--sign-in-failures-per-address",
        "failed sign-ins per client address in the window before 429",
    )
    password_workers: int = _limit(
        1, "--password-workers", "threads that check passwords (scrypt, ~16 MiB each)"
    )
    password_queue: int = _limit(
        32, "--password-queue", "sign-ins waiting for a password thread before 503"
    )
    streams_per_token: int = _limit(
        8, "--max-streams-per-token", "open streams per token; one more closes the oldest (4001)"
    )
    header_timeout_s: float = _limit(
        10.0, "--header-timeout", "seconds a connection may take to send a request's headers"
    )
    body_timeout_s: float = _limit(
        30.0, "--body-timeout", "seconds a request may take to send its body, then 408"
    )
    customer_writes: int = _limit(
        30, "--customer-writes", "tickets, replies and reopenings per customer in the window"
    )
    customer_window_s: float = _limit(
        60.0, "--customer-window", "seconds over which a customer's writes are counted"
    )
    session_max_age_s: float = _limit(
        7 * 24 * 3600.0, "--session-max-age", "seconds a web sign-in lasts (0: until sign-out)"
    )
    reset_requests_per_address: int = _limit(
        3,
        "--reset-requests-per-address",
        "password reset requests per e-mail address in the reset window before 429",
    )
    reset_requests_per_client: int = _limit(
        20,
        "--reset-requests-per-client",
        "password reset requests per client address in the reset window before 429",
    )
    reset_window_s: float = _limit(
        3600.0, "--reset-window", "seconds over which password reset requests are counted"
    )

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, int | float) or value < 0 or math.isnan(value):
                raise ValueError(f"{item.metadata['flag']} must be a number ≥ 0, not {value!r}")
        if self.password_workers < 1:
            raise ValueError("--password-workers must be 1 or more")


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be a new password (a sentence without its full stop), or None.
    The one rule for every way a password is set: the admin's ``notifier-server password``
    and the web's "Forgot your password?" page."""
    if not password:
        return "an empty password is not allowed"
    if len(password) > MAX_PASSWORD_CHARS:
        # The sign-in refuses longer ones unhashed: such a password could never be used.
        return f"a password has at most {MAX_PASSWORD_CHARS} characters"
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # undecodable terminal bytes come as lone surrogates
        return "the password is not valid text"
    return None


def rate_limited(retry_after_s: float, message: str) -> ActionError:
    """429 with a ``Retry-After`` of whole seconds (at least 1)."""
    return ActionError(429, "rate_limited", message, retry_after=max(1, math.ceil(retry_after_s)))


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds (0: no limit).

    :meth:`wait` says how long until one more event would be allowed (0 when it is now);
    :meth:`add` records one. Keys unused for a window are dropped; beyond ``max_keys`` the
    least recently used key is dropped first.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._events.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._events[key]
            return None
        return times

    def wait(self, key: str) -> float:
        now = self._clock()
        times = self._recent(key, now)
        if self.limit == 0 or times is None or len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.window_s - now

    def add(self, key: str) -> None:
        if self.limit == 0:
            return
        now = self._clock()
        times = self._recent(key, now)
        if times is None:
            times = self._events[key] = deque()
            while len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        self._events.move_to_end(key)
        times.append(now)
        while len(times) > self.limit:
            times.popleft()

    def take_back(self, key: str) -> None:
        """Forget the latest event of ``key`` (one that turned out not to count)."""
        times = self._events.get(key)
        if times:
            times.pop()

    def forget(self, key: str) -> None:
        self._events.pop(key, None)


class SignInGuard:
    """Counts sign-in attempts per account and per client address (:class:`Limits`).

    An attempt is counted *before* its password is checked, so a burst of parallel guesses
    cannot all slip past the limit while the first ones are still hashing; a correct password
    then takes its attempt back and clears the account's failures.
    """

    def __init__(self, limits: Limits) -> None:
        self.by_account = SlidingWindow(
            limits.sign_in_failures_per_account, limits.sign_in_window_s
        )
        self.by_address = SlidingWindow(
            limits.sign_in_failures_per_address, limits.sign_in_window_s
        )

    def begin(self, account: str, address: str) -> None:
        """Count one attempt; :class:`ActionError` 429 when either limit is reached."""
        wait = max(self.by_account.wait(account), self.by_address.wait(address))
        if wait > 0:
            raise rate_limited(wait, "too many failed sign-ins; try again later")
        self.by_account.add(account)
        self.by_address.add(address)

    def succeeded(self, account: str, address: str) -> None:
        self.by_account.forget(account)
        self.by_address.take_back(address)


class PasswordPool:
    """A few threads for password hashing with a bounded queue.

    scrypt is CPU- and memory-heavy by design; run unbounded (``asyncio.to_thread``), a burst of
    sign-ins took every core and starved the event loop. Here at most ``workers`` hashes run at
    once and ``queue`` more wait; anything beyond gets ``503 busy`` at once.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="helpdesk-password"
        )
        self._capacity = workers + queue
        self._pending = 0
        self._lock = threading.Lock()

    def _release(self, _: object) -> None:
        with self._lock:
            self._pending -= 1

    async def run(self, function: Callable[..., _T], *args: object) -> _T:
        with self._lock:
            if self._pending >= self._capacity:
                raise ActionError(
                    503, "busy", "too many sign-ins at once; try again shortly", retry_after=1
                )
            self._pending += 1
        # Released when the job ends, not when the caller stops waiting: the queue bound
        # holds even for callers that went away.
        future = self._executor.submit(partial(function, *args))
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
