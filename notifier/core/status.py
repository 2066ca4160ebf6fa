"""What the sync engine publishes to the UI: its connection status and each cache change.

These types are the contract between ``notifier.sync`` (which produces them) and
``notifier.app`` (which turns them into Qt signals); both sides import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from notifier.core.wire import AgentInfo, Notification


class ConnectionState(StrEnum):
    SIGNED_OUT = "signed-out"  # no server or no token: nothing to do until sign-in
    CONNECTING = "connecting"  # handshake / resume in progress
    LIVE = "live"  # replay done, live events flowing
    BACKING_OFF = "backing-off"  # lost the connection; next attempt at next_retry_at
    OFFLINE = "offline"  # the OS says there is no network; waiting for it to return
    AUTH_FAILED = "auth-failed"  # 401: retrying cannot help; the agent must sign in again


@dataclass(frozen=True, slots=True)
class DeliveryDelay:
    """Connected, but without live delivery: new notifications arrive only by a check every
    ``check_interval`` seconds (a Frappe site whose socket.io server cannot be reached).
    ``reason`` says why, in words an agent (or an administrator) understands."""

    reason: str
    check_interval: float


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    state: ConnectionState
    last_error: str | None = None  # in words an agent understands, e.g. "server unreachable"
    next_retry_at: datetime | None = None  # aware UTC, set while BACKING_OFF
    agent: AgentInfo | None = None  # who is signed in, once known
    notice: str | None = None  # one-off information, e.g. "cache was rebuilt"
    delayed: DeliveryDelay | None = None  # only while LIVE: no live delivery, periodic checks

    @property
    def is_live(self) -> bool:
        return self.state is ConnectionState.LIVE


class ChangeKind(StrEnum):
    UPSERTED = "upserted"  # notifications created or re-issued (new content)
    READ_STATE = "read-state"  # ids changed read flag to ``read``
    DELETED = "deleted"  # ids removed
    RESET = "reset"  # the whole cache was replaced (first sync, rebuild): reload everything


@dataclass(frozen=True, slots=True)
class CacheChange:
    """One change applied to the cache.

    ``replay`` is True for events that arrived as part of a resume replay or the initial
    history page-through (toast policy coalesces those), False for live ones. ``local`` is
    True for the agent's own optimistic actions (mark read, delete), applied before the server
    confirmed them; the later echo from the server changes nothing and is not published again.
    """

    kind: ChangeKind
    notifications: tuple[Notification, ...] = ()
    ids: tuple[str, ...] = ()
    read: bool | None = None
    replay: bool = False
    local: bool = False
