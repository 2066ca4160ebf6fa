"""The connection status in words: the tooltip names the time of the next attempt (true
whenever it is read), the banner counts down (refreshed while shown)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.app.status_text import (
    banner_text,
    can_retry,
    header_text,
    status_words,
    tooltip_text,
)
from notifier.core.status import ConnectionState, ConnectionStatus, DeliveryDelay

NOW = datetime(2026, 11, 25, 13, 0, 0, tzinfo=UTC)


def backing_off(after: timedelta) -> ConnectionStatus:
    return ConnectionStatus(
        ConnectionState.BACKING_OFF, last_error="server unreachable", next_retry_at=NOW + after
    )


def test_tooltip_names_the_local_time_of_the_next_attempt_and_stays_true() -> None:
    status = backing_off(timedelta(seconds=8))
    local = (NOW + timedelta(seconds=8)).astimezone().strftime("%H:%M:%S")
    expected = f"3 unread · Offline — server unreachable, retrying at {local}"
    assert tooltip_text(3, status, NOW, None) == expected
    # Read five seconds later, the same words are still right.
    assert tooltip_text(3, status, NOW + timedelta(seconds=5), None) == expected


def test_banner_counts_down_to_retrying_now() -> None:
    status = backing_off(timedelta(seconds=8))
    assert banner_text(status, NOW) == "Offline — showing saved notifications; retrying in 8 s"
    assert banner_text(status, NOW + timedelta(seconds=5.5)) == (
        "Offline — showing saved notifications; retrying in 3 s"
    )
    assert banner_text(status, NOW + timedelta(seconds=9)) == (
        "Offline — showing saved notifications; retrying now"
    )
    assert status_words(status, NOW + timedelta(seconds=9)) == (
        "Offline — server unreachable, retrying now"
    )


def test_words_without_a_scheduled_attempt_and_other_states() -> None:
    no_time = ConnectionStatus(ConnectionState.BACKING_OFF, last_error=None)
    assert status_words(no_time, NOW) == "Offline — connection lost, retrying"
    assert status_words(ConnectionStatus(ConnectionState.LIVE), NOW) == "Connected"
    assert banner_text(ConnectionStatus(ConnectionState.LIVE), NOW) is None
    quiet = tooltip_text(0, ConnectionStatus(ConnectionState.LIVE), NOW, "Quiet hours until 08:00")
    assert quiet == "0 unread · Connected\nQuiet hours until 08:00"


def test_a_refused_sign_in_says_why() -> None:
    # A Frappe user without the Agent role read "the helpdesk refused the token; sign in
    # again in Settings": signing in again cannot help, an administrator can.
    reason = (
        "bea@example.com is not an agent on https://hd.example.com: the API key (or user) needs"
        " the Agent role in Frappe Helpdesk (Helpdesk admin → Agents), ask an administrator"
    )
    refused = ConnectionStatus(ConnectionState.AUTH_FAILED, last_error=reason)
    assert status_words(refused, NOW) == f"Signed out — {reason}"
    assert banner_text(refused, NOW) == status_words(refused, NOW)
    no_reason = ConnectionStatus(ConnectionState.AUTH_FAILED)
    assert status_words(no_reason, NOW) == (
        "Signed out — the helpdesk refused the token; sign in again in Settings"
    )


def test_the_banner_beside_its_sign_in_button_does_not_send_the_agent_to_settings() -> None:
    # The banner said "… sign in again in Settings" next to its own "Sign in…" button.
    assert banner_text(ConnectionStatus(ConnectionState.SIGNED_OUT), NOW) == (
        "Not signed in to a helpdesk"
    )
    assert banner_text(ConnectionStatus(ConnectionState.AUTH_FAILED), NOW) == (
        "Signed out — the helpdesk refused the token"
    )
    # The tray's tooltip has no button: it keeps the advice.
    assert status_words(ConnectionStatus(ConnectionState.SIGNED_OUT), NOW) == (
        "Not signed in — open Settings to sign in"
    )


def test_the_fallback_header_names_the_state_alone() -> None:
    backing_off = ConnectionStatus(
        ConnectionState.BACKING_OFF, last_error="server unreachable", next_retry_at=NOW
    )
    assert header_text(4, backing_off, None) == "4 unread · Offline"
    assert header_text(0, ConnectionStatus(ConnectionState.LIVE), "Quiet hours until 08:00") == (
        "0 unread · Connected\nQuiet hours until 08:00"
    )
    assert header_text(1, ConnectionStatus(ConnectionState.SIGNED_OUT), None) == (
        "1 unread · Not signed in"
    )


def test_live_without_live_updates_says_so_in_the_tooltip_and_the_banner() -> None:
    # A Frappe site whose socket.io server is missing: notifications arrive only by the
    # periodic check, up to a minute late. The tray said plain "Connected" and the popup
    # showed no banner, as if every notification arrived at once.
    delayed = ConnectionStatus(
        ConnectionState.LIVE,
        delayed=DeliveryDelay("the socket.io server is unreachable (refused)", 60.0),
    )
    assert tooltip_text(3, delayed, NOW, None) == (
        "3 unread · Connected — no live updates; checking every minute"
    )
    assert banner_text(delayed, NOW) == (
        "No live updates from the helpdesk; checking for new notifications every minute"
    )
    assert not can_retry(delayed)  # a Retry button could not bring socket.io back
    every = [
        status_words(
            ConnectionStatus(ConnectionState.LIVE, delayed=DeliveryDelay("down", seconds)), NOW
        )
        for seconds in (300.0, 30.0)
    ]
    assert every == [
        "Connected — no live updates; checking every 5 minutes",
        "Connected — no live updates; checking every 30 s",
    ]
    live = ConnectionStatus(ConnectionState.LIVE)
    assert (status_words(live, NOW), banner_text(live, NOW)) == ("Connected", None)


def test_a_revoked_token_is_said_once() -> None:
    # "Signed out — the helpdesk refused the sign-in: the server rejected the token (sign in
    # again)" said the refusal twice, in a three-line banner.
    revoked = ConnectionStatus(
        ConnectionState.AUTH_FAILED, last_error="the helpdesk rejected the token; sign in again"
    )
    assert banner_text(revoked, NOW) == (
        "Signed out — the helpdesk rejected the token; sign in again"
    )
