"""``ReferenceBackend``: the :class:`~notifier.core.ports.HelpdeskBackend` for the reference
helpdesk (docs/protocol.md), built from :mod:`.rest` and :mod:`.stream`.

The sync engine reaches a helpdesk only through that Protocol; an adapter for another helpdesk
(Frappe Helpdesk, Zammad) is another class like this one.

Import hygiene: the REST client (httpx, with its TLS context holding the system's trust
store) is made on the first REST call. A tray app that resumes its stream from the cache's
cursor makes none until the agent acts, so the idle app never loads httpx (its memory:
benchmarks/README.md, "Where the idle-memory budget goes").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifier.client.stream import WebSocketEventStream, open_event_stream
from notifier.client.transport import TransportConfig
from notifier.core.wire import (
    ActionResult,
    AgentInfo,
    ClearScope,
    NotificationPage,
    Preferences,
)

if TYPE_CHECKING:
    import httpx

    from notifier.client.rest import RestClient


class ReferenceBackend:
    def __init__(
        self,
        server_url: str,
        token: str,
        config: TransportConfig | None = None,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server_url = server_url
        self.config = config if config is not None else TransportConfig()
        self._token = token
        self._http_transport = http_transport
        self._rest_client: RestClient | None = None
        if self.config.ca_bundle is not None:
            # A bad CA bundle is refused here, as when the REST client was made right away.
            self.config.ssl_context()

    @property
    def _rest(self) -> RestClient:
        if self._rest_client is None:
            from notifier.client.rest import RestClient

            self._rest_client = RestClient(
                self.server_url, self._token, self.config, transport=self._http_transport
            )
        return self._rest_client

    def __repr__(self) -> str:  # never show the token
        return f"ReferenceBackend({self.server_url!r})"

    async def me(self) -> AgentInfo:
        return await self._rest.me()

    async def open_stream(self, after_seq: int) -> WebSocketEventStream:
        return await open_event_stream(self.server_url, self._token, self.config, after_seq)

    async def list_notifications(self, after_seq: int, limit: int) -> NotificationPage:
        return await self._rest.list_notifications(after_seq, limit)

    async def mark_read(self, notification_id: str) -> ActionResult:
        return await self._rest.mark_read(notification_id)

    async def mark_unread(self, notification_id: str) -> ActionResult:
        return await self._rest.mark_unread(notification_id)

    async def mark_all_read(self, up_to_seq: int) -> ActionResult:
        return await self._rest.mark_all_read(up_to_seq)

    async def delete(self, notification_id: str) -> ActionResult:
        return await self._rest.delete(notification_id)

    async def clear(self, scope: ClearScope) -> ActionResult:
        return await self._rest.clear(scope)

    async def get_preferences(self) -> Preferences:
        return await self._rest.get_preferences()

    async def put_preferences(self, preferences: Preferences) -> Preferences:
        return await self._rest.put_preferences(preferences)

    async def aclose(self) -> None:
        if self._rest_client is not None:
            await self._rest_client.aclose()
