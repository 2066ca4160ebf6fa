"""Sign-in: trade a username and password for an API token, check a token works, revoke it.

Used by ``notifier login`` / ``logout`` and the UI's settings dialog. No function stores
anything: the caller keeps the token in the keyring (:class:`notifier.store.secrets.TokenStore`).
"""

from __future__ import annotations

from typing import Any

import httpx

from notifier.client.rest import HttpSession, RestClient, no_api_here
from notifier.client.transport import TransportConfig, api_url
from notifier.core.errors import AuthFailed, NotFound, ProtocolViolation
from notifier.core.wire import AgentInfo


async def request_token(
    server_url: str,
    username: str,
    password: str,
    config: TransportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """POST /auth/token; raises ``AuthFailed`` on wrong credentials, ``ConnectionLost`` etc."""
    async with HttpSession(server_url, config, transport=transport) as http:
        try:
            body: Any = await http.send(
                "POST",
                api_url(server_url, "/auth/token"),
                json={"username": username, "password": password},
            )
        except AuthFailed as error:
            raise AuthFailed(
                "wrong username or password", status=error.status, code=error.code
            ) from None
        except NotFound as error:
            raise no_api_here(server_url, error) from None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token or len(token) > 512:
        raise ProtocolViolation("the server's token answer has no usable token")
    return token


async def revoke_token(
    server_url: str,
    token: str,
    config: TransportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """DELETE /auth/token: the server forgets the token and closes its streams. Raises
    ``AuthFailed`` when the server no longer knew it, ``ConnectionLost`` when unreachable,
    ``BackendError`` when it cannot revoke (a helpdesk without the endpoint)."""
    async with HttpSession(server_url, config, token=token, transport=transport) as http:
        await http.send("DELETE", api_url(server_url, "/auth/token"))


async def check_connection(
    server_url: str,
    token: str,
    config: TransportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AgentInfo:
    """GET /me with the token: who it belongs to, or ``AuthFailed`` / ``ConnectionLost``."""
    client = RestClient(server_url, token, config, transport=transport)
    try:
        return await client.me()
    finally:
        await client.aclose()
