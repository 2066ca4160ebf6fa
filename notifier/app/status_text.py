"""The connection status in words, for the tray tooltip and the popup's offline banner.

One place, so the tooltip and the banner never disagree. Plain text, time passed in.

The banner counts down ("retrying in 8 s"): the popup refreshes it every second while it is
shown. The tooltip (and the fallback window's status line) is set when something changes and
read whenever the agent hovers, so it names the wall-clock time of the next attempt instead
("retrying at 14:05:32", local time): always right, with no timer ticking while offline.
"""

from __future__ import annotations

import math
from datetime import datetime

from notifier.core.status import ConnectionState, ConnectionStatus


def retry_in(status: ConnectionStatus, now: datetime) -> int | None:
    """Whole seconds until the next attempt (rounded up, at least 0), or None."""
    if status.next_retry_at is None or status.state is not ConnectionState.BACKING_OFF:
        return None
    return max(0, math.ceil((status.next_retry_at - now).total_seconds()))


def _retrying(status: ConnectionStatus, now: datetime) -> str:
    seconds = retry_in(status, now)
    if seconds is None:
        return "retrying"
    if seconds == 0:
        return "retrying now"
    return f"retrying in {seconds} s"


def _retrying_at(status: ConnectionStatus, now: datetime) -> str:
    seconds = retry_in(status, now)
    if seconds is None or status.next_retry_at is None:
        return "retrying"
    if seconds == 0:
        return "retrying now"
    return f"retrying at {status.next_retry_at.astimezone():%H:%M:%S}"  # local wall clock


def every_words(seconds: float) -> str:
    """How often a periodic check runs, e.g. "every minute", "every 5 minutes", "every 30 s"."""
    if seconds >= 60:
        minutes = round(seconds / 60)
        return "every minute" if minutes == 1 else f"every {minutes} minutes"
    return f"every {seconds:g} s"


def status_words(status: ConnectionStatus, now: datetime) -> str:
    """E.g. "Connected", "Offline — server unreachable, retrying at 14:05:32"."""
    state = status.state
    if state is ConnectionState.LIVE:
        if status.delayed is not None:  # live, but new notifications only by periodic checks
            every = every_words(status.delayed.check_interval)
            return f"Connected — no live updates; checking {every}"
        return "Connected"
    if state is ConnectionState.CONNECTING:
        return "Connecting…"
    if state is ConnectionState.BACKING_OFF:
        reason = status.last_error or "connection lost"
        return f"Offline — {reason}, {_retrying_at(status, now)}"
    if state is ConnectionState.OFFLINE:
        return "Offline — no network; waiting for it to return"
    if state is ConnectionState.AUTH_FAILED:
        if status.last_error:
            # The adapter's reason carries its own advice: "sign in again", or for a Frappe
            # user without the Agent role, ask an administrator (signing in again cannot help).
            return f"Signed out — {status.last_error}"
        return "Signed out — the helpdesk refused the token; sign in again in Settings"
    return "Not signed in — open Settings to sign in"


def state_words(status: ConnectionStatus) -> str:
    """The state alone ("Offline", "Signed out"), for a line shown above a banner that
    already gives the reason: the fallback window's header."""
    state = status.state
    if state is ConnectionState.LIVE:
        return "Connected"
    if state is ConnectionState.CONNECTING:
        return "Connecting…"
    if state in (ConnectionState.BACKING_OFF, ConnectionState.OFFLINE):
        return "Offline"
    if state is ConnectionState.AUTH_FAILED:
        return "Signed out"
    return "Not signed in"


def tooltip_text(unread: int, status: ConnectionStatus, now: datetime, quiet: str | None) -> str:
    """The tray tooltip: "3 unread · Connected", plus the quiet-hours reason on a second line."""
    head = f"{unread} unread · {status_words(status, now)}"
    return f"{head}\n{quiet}" if quiet else head


def header_text(unread: int, status: ConnectionStatus, quiet: str | None) -> str:
    """The fallback window's header: "3 unread · Signed out" (the panel's banner below it
    says why, and the window's tooltip has the whole sentence)."""
    head = f"{unread} unread · {state_words(status)}"
    return f"{head}\n{quiet}" if quiet else head


def banner_text(status: ConnectionStatus, now: datetime) -> str | None:
    """The popup's banner, or None while live with live updates (the list is current)."""
    state = status.state
    if state is ConnectionState.LIVE:
        if status.delayed is not None:  # the list is current only as of the last check
            return (
                "No live updates from the helpdesk; checking for new notifications"
                f" {every_words(status.delayed.check_interval)}"
            )
        return None
    if state is ConnectionState.BACKING_OFF:
        return f"Offline — showing saved notifications; {_retrying(status, now)}"
    if state is ConnectionState.OFFLINE:
        return "Offline — showing saved notifications; waiting for the network"
    if state is ConnectionState.CONNECTING:
        return "Connecting… showing saved notifications"
    # The banner has its own "Sign in…" button: its words do not send the agent to Settings.
    if state is ConnectionState.SIGNED_OUT:
        return "Not signed in to a helpdesk"
    if state is ConnectionState.AUTH_FAILED and not status.last_error:
        return "Signed out — the helpdesk refused the token"
    return status_words(status, now)


def can_retry(status: ConnectionStatus) -> bool:
    return status.state in (
        ConnectionState.BACKING_OFF,
        ConnectionState.OFFLINE,
        ConnectionState.CONNECTING,
    )
