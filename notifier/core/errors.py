"""The error tree shared by the client layers.

NotifierError
├── BackendError            the helpdesk answered, but not with success
│   ├── AuthFailed          401: the token is wrong, expired or revoked; stop retrying
│   ├── Forbidden           403
│   ├── NotFound            404
│   └── ProtocolViolation   the answer broke docs/protocol.md (bad JSON, wrong shape)
├── ConnectionLost          the network or the server went away; retry with backoff
│   ├── ProxyFailed         the proxy in between: unreachable, refused, or not usable
│   └── UnreadableStream    the stream sent a message too large to read; resuming repeats it
├── KeyringUnavailable      no working OS keyring backend; never fall back to plain text
└── CacheCorrupt            the local cache file cannot be used; set aside and rebuild
"""

from __future__ import annotations


class NotifierError(Exception):
    """Base of every error this package raises on purpose."""


class BackendError(NotifierError):
    """The helpdesk answered, with an error. ``retry_after``: the seconds it asked the client
    to wait before asking again (429, 503 with ``Retry-After``), else None."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class AuthFailed(BackendError):
    pass


class Forbidden(BackendError):
    pass


class NotFound(BackendError):
    pass


class ProtocolViolation(BackendError):
    pass


class ConnectionLost(NotifierError):
    """No (usable) answer. ``retry_after`` as for :class:`BackendError`: a stream's handshake
    refused with 429 or 503 and a ``Retry-After``."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProxyFailed(ConnectionLost):
    """The connection failed at the proxy, not at the server; ``route`` names the setting
    that chose the proxy (``"ALL_PROXY"``, ``"the proxy setting"``) so the fix is findable."""

    def __init__(self, message: str, *, route: str) -> None:
        super().__init__(message)
        self.route = route


class UnreadableStream(ConnectionLost):
    """The stream sent a message over the size limit, which the client closes the connection
    on instead of reading: its ``seq`` is unknown, so resuming from the cursor gets it again."""


class KeyringUnavailable(NotifierError):
    pass


class CacheCorrupt(NotifierError):
    pass
