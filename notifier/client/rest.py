"""The helpdesk's REST API (docs/protocol.md) over httpx.

Error mapping (the tree is in :mod:`notifier.core.errors`):

* 401 → ``AuthFailed``, 403 → ``Forbidden``, 404 → ``NotFound``;
* any other non-2xx → ``BackendError`` (with the server's code and message when it sent an
  ``ApiError`` body);
* a 2xx body that breaks the contract (not JSON, wrong shape, over ``MAX_FRAME_BYTES`` or
  the session's own ``max_body_bytes``, a ``Content-Encoding`` it does not decode by) →
  ``ProtocolViolation``; the body is read no further than that limit (an error status's
  over-long body is dropped, its status kept);
* no answer at all (refused, timed out, TLS failure), or no complete answer within
  ``TransportConfig.request_deadline`` → ``ConnectionLost``; a failure at the proxy (down,
  refusing the tunnel, an unusable proxy value) → its subclass ``ProxyFailed``, naming it.

Tests inject ``transport=`` (``httpx.MockTransport``) for malformed answers; everything else is
tested against the reference server. The token travels only in the ``Authorization`` header;
the logging filter in :mod:`notifier.compose` redacts it anywhere else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from notifier.client.transport import TransportConfig, api_url
from notifier.core.backoff import requested_wait
from notifier.core.errors import (
    AuthFailed,
    BackendError,
    ConnectionLost,
    Forbidden,
    NotFound,
    ProtocolViolation,
)
from notifier.core.text import server_words, wait_words
from notifier.core.wire import (
    LEGACY_PAGE_LIMIT,
    MAX_FRAME_BYTES,
    MAX_PAGE_LIMIT,
    ActionResult,
    AgentInfo,
    ApiError,
    ClearScope,
    NotificationPage,
    Preferences,
    WireError,
    decode_json,
)

log = logging.getLogger(__name__)


class HttpSession:
    """httpx's client for one helpdesk: the proxy :meth:`TransportConfig.proxy_for` chose
    (httpx's own environment lookup is off, so REST and the stream always agree), TLS, and
    the total deadline of each request. Close with :meth:`aclose` (or ``async with``).

    Raises ``ProxyFailed`` at once for a proxy value that cannot be used."""

    def __init__(
        self,
        server_url: str,
        config: TransportConfig,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": "notifier",
            **(headers or {}),
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.route = config.proxy_for(server_url)
        self._deadline = config.request_deadline
        self._max_body_bytes = max_body_bytes
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            verify=config.ssl_context(),
            proxy=self.route.url if self.route is not None else None,
            trust_env=False,
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> HttpSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, method: str, url: str, *, raw: bool = False, **kwargs: Any) -> Any:
        """Send a request and return the decoded JSON body of a 2xx answer (its bytes with
        ``raw=True``), or raise (see the module docstring)."""
        response = await self.request(method, url, **kwargs)
        if raw and response.is_success:
            return response.content
        return json_body(response, f"{method} {url}")

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request and return the answer whatever its status (another helpdesk's
        adapter reads its own error bodies), or raise ``ConnectionLost`` / ``ProxyFailed``,
        or ``ProtocolViolation`` for a 2xx body that is over ``max_body_bytes`` (the
        contract's ``MAX_FRAME_BYTES`` unless another helpdesk's adapter says) or cannot be
        decoded. The whole request, answer body included, must be done within the
        deadline: httpx's timeouts bound each read, not their sum."""
        try:
            async with asyncio.timeout(self._deadline):
                async with self._client.stream(method, url, **kwargs) as streamed:
                    body = await _read_capped(streamed, self._max_body_bytes)
        except (httpx.DecodingError, UndecodableBody) as error:
            raise ProtocolViolation(
                f"{method} {url}: the answer could not be decoded ({error})"
            ) from None
        except httpx.TransportError as error:
            if self.route is not None and _at_the_proxy(error):
                answered = isinstance(error, httpx.ProxyError)
                raise self.route.failed(error, answered=answered) from error
            raise ConnectionLost(describe_transport_error(error)) from error
        except TimeoutError:
            raise ConnectionLost(
                f"the server did not answer within {self._deadline:g} s"
                " (the connection is too slow)"
            ) from None
        log.debug("%s %s → %s", method, url, streamed.status_code)
        if body is None:
            if streamed.is_success:
                raise ProtocolViolation(
                    f"{method} {url}: the answer is larger than {self._max_body_bytes} bytes",
                    status=streamed.status_code,
                )
            body = b""  # an error's words are lost, its status still says what went wrong
        # The body is decoded already: the copy must not claim an encoding or a length.
        headers = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in _BODY_FRAMING_HEADERS
        ]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=body,
            request=streamed.request,
            extensions=streamed.extensions,
        )


# Headers that describe the body as it travelled, not as it was read.
_BODY_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# The encodings asked for, and decoded here rather than by httpx: httpx unpacks each chunk
# received whole, and 64 KiB of gzip unpack to 64 MiB. Named, so that httpx never offers
# brotli or zstd because such a package happens to be installed.
ACCEPT_ENCODING = "gzip, deflate"
_ZLIB_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})


class UndecodableBody(ValueError):
    """A body in an encoding that was not asked for, or whose bytes are not that encoding."""


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The decoded body, or None as soon as it passes ``limit`` bytes: no answer of the
    contract is larger (docs/protocol.md, section 1), so a server sending gigabytes within
    the deadline, or a small compressed bomb, costs the app ``limit`` bytes and no more."""
    if response.is_stream_consumed:  # a test's transport built it from bytes in memory
        content = response.content
        return content if len(content) <= limit else None
    encoding = response.headers.get("content-encoding", "").strip().lower()
    unpack: zlib._Decompress | None = None
    if encoding in _ZLIB_ENCODINGS:
        unpack = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by its header
    elif encoding not in ("", "identity"):
        raise UndecodableBody(f"it is in an encoding the app did not ask for: {encoding[:40]!r}")
    chunks: list[bytes] = []
    size = 0
    # "deflate" is meant to be zlib-wrapped (RFC 9110), but some servers send raw deflate,
    # as browsers and httpx accept: until the first output, keep the input to start over.
    raw_deflate_possible = encoding == "deflate"
    taken = b""
    try:
        async for received in response.aiter_raw():
            pending = received
            while pending:
                if unpack is None:
                    chunk, pending = pending, b""
                else:  # never more than one byte past the limit at a time
                    try:
                        chunk = unpack.decompress(pending, limit + 1 - size)
                    except zlib.error:
                        if not raw_deflate_possible:
                            raise
                        raw_deflate_possible = False
                        unpack = zlib.decompressobj(-zlib.MAX_WBITS)
                        pending = taken + pending
                        continue
                    if raw_deflate_possible:
                        taken += pending[: len(pending) - len(unpack.unconsumed_tail)]
                        raw_deflate_possible = not chunk
                    pending = unpack.unconsumed_tail
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        if unpack is not None:
            chunks.append(unpack.flush())
    except zlib.error as error:
        raise UndecodableBody(str(error)) from None
    body = b"".join(chunks)
    return body if len(body) <= limit else None


def json_body(
    response: httpx.Response,
    context: str,
    error_for: Callable[[httpx.Response], BackendError] | None = None,
    max_bytes: int = MAX_FRAME_BYTES,
) -> Any:
    """The decoded JSON body of a 2xx answer (``ProtocolViolation``, prefixed with
    ``context``, when it is not JSON or over ``max_bytes``); for any other status, raise what
    ``error_for`` makes of the answer (by default: the reference helpdesk's ``ApiError`` body
    read)."""
    if response.is_success:
        try:
            return decode_json(response.content, max_bytes)
        except WireError as error:
            raise ProtocolViolation(f"{context}: {error}", status=response.status_code) from None
    raise (error_for or _error_for)(response)


def _tls_failure(error: Exception) -> bool:
    text = str(error).lower()
    return "certificate" in text or "ssl" in text


def _at_the_proxy(error: httpx.TransportError) -> bool:
    """Did this fail at the proxy? Connecting goes to the proxy, so a connect failure that is
    not the server's TLS is the proxy's; ProxyError is the proxy refusing the tunnel."""
    if isinstance(error, httpx.ProxyError):
        return True
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout) and not _tls_failure(error)


def describe_transport_error(error: Exception) -> str:
    """An httpx transport failure (on a direct connection) in words an agent understands."""
    if isinstance(error, httpx.ConnectTimeout | httpx.ConnectError):
        if _tls_failure(error):
            return f"the server's certificate is not trusted ({error}); check the CA bundle"
        return "the server is unreachable (connection refused or no route)"
    if isinstance(error, httpx.TimeoutException):
        return "the server did not answer in time"
    return f"the connection failed ({type(error).__name__})"


def _error_for(response: httpx.Response) -> BackendError:
    code, message = "http_error", response.reason_phrase or f"HTTP {response.status_code}"
    try:
        api_error = ApiError.parse(response.content)
        code, message = api_error.code, api_error.message or message
    except WireError:
        pass
    message = server_words(message) or f"HTTP {response.status_code}"
    status = response.status_code
    kind: type[BackendError] = {401: AuthFailed, 403: Forbidden, 404: NotFound}.get(
        status, BackendError
    )
    wait = asked_wait(response)
    if status == 401:
        message = f"the helpdesk rejected the token ({message}); sign in again"
    elif wait is not None:
        message = f"{message} (the helpdesk asks to wait {wait_words(wait)})"
    elif 300 <= status < 400:
        # Never followed: the token would go to wherever it points (a login page, another
        # host). The server URL is what to check, not the "Found" of the status line.
        message = (
            f"the server answered with a redirect (HTTP {status}) instead of the helpdesk's"
            " answer; check the server URL (https:// or http://, and its path)"
        )
    return kind(message, status=status, code=code, retry_after=wait)


def asked_wait(response: httpx.Response) -> float | None:
    """The seconds a 429 or 503 answer asks the client to wait (its ``Retry-After``)."""
    retry_after = response.headers.get("retry-after")
    return requested_wait(response.status_code, retry_after, datetime.now(UTC))


def no_api_here(server_url: str, error: NotFound) -> NotFound:
    """A 404 where the helpdesk API's fixed entry points are (``/me``, ``/auth/token``): not a
    missing thing, but no helpdesk at that address (a wrong path after the host, mostly)."""
    return NotFound(
        f"no helpdesk API at {api_url(server_url, '')} (HTTP 404: {error}); check the server"
        " URL: the helpdesk's address, with a path only if it is served under one",
        status=error.status,
        code=error.code,
    )


def _parsed(kind: str, parse: Any, body: Any) -> Any:
    try:
        return parse(body)
    except WireError as error:
        raise ProtocolViolation(f"the server sent a bad {kind}: {error}") from None


class RestClient:
    """The agent's REST calls. One per signed-in server; close with :meth:`aclose`."""

    def __init__(
        self,
        server_url: str,
        token: str,
        config: TransportConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server_url = server_url
        self._http = HttpSession(server_url, config, token=token, transport=transport)
        # The largest history page this server takes: lowered for the session when it
        # refuses a page larger than servers before MAX_PAGE_LIMIT took.
        self._page_limit = MAX_PAGE_LIMIT

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._http.send(method, api_url(self.server_url, path), **kwargs)

    async def me(self) -> AgentInfo:
        try:
            body = await self._send("GET", "/me")
        except NotFound as error:
            raise no_api_here(self.server_url, error) from None
        result: AgentInfo = _parsed("agent", AgentInfo.parse, body)
        return result

    async def list_notifications(self, after_seq: int, limit: int) -> NotificationPage:
        limit = max(1, min(limit, self._page_limit))
        try:
            body = await self._send(
                "GET", "/notifications", params={"after_seq": after_seq, "limit": limit}, raw=True
            )
        except BackendError as error:
            if error.status != 400 or limit <= LEGACY_PAGE_LIMIT:
                raise
            # A server from before pages of MAX_PAGE_LIMIT refuses the limit (docs/protocol.md,
            # section 5): pages of the old size from now on, asked once.
            log.info(
                "the server refused a page of %d (%s); asking for %d from now on",
                limit,
                error,
                LEGACY_PAGE_LIMIT,
            )
            self._page_limit = LEGACY_PAGE_LIMIT
            return await self.list_notifications(after_seq, limit)
        # Decoding and validating a page is milliseconds of CPU (benchmarks/README.md,
        # "Figures behind the code"): on a worker thread the GUI's event loop gets turns in
        # between (the GIL switches every 5 ms at most).
        page: NotificationPage = await asyncio.to_thread(
            _parsed,
            "notification page",
            functools.partial(NotificationPage.parse, skip_bad=True),
            body,
        )
        for seq, why in page.skipped:
            log.warning("skipped an unreadable notification (seq %s) in the history: %s", seq, why)
        return page

    async def _action(self, method: str, path: str, json: Any = None) -> ActionResult:
        body = await self._send(method, path, json=json)
        result: ActionResult = _parsed("action result", ActionResult.parse, body)
        return result

    async def mark_read(self, notification_id: str) -> ActionResult:
        return await self._action("POST", f"/notifications/{_segment(notification_id)}/read")

    async def mark_unread(self, notification_id: str) -> ActionResult:
        return await self._action("POST", f"/notifications/{_segment(notification_id)}/unread")

    async def mark_all_read(self, up_to_seq: int) -> ActionResult:
        return await self._action("POST", "/notifications/read-all", {"up_to_seq": up_to_seq})

    async def delete(self, notification_id: str) -> ActionResult:
        return await self._action("DELETE", f"/notifications/{_segment(notification_id)}")

    async def clear(self, scope: ClearScope) -> ActionResult:
        return await self._action("POST", "/notifications/clear", {"scope": scope.value})

    async def get_preferences(self) -> Preferences:
        body = await self._send("GET", "/me/preferences")
        result: Preferences = _parsed("preferences", Preferences.parse, body)
        return result

    async def put_preferences(self, preferences: Preferences) -> Preferences:
        body = await self._send("PUT", "/me/preferences", json=preferences.to_json())
        result: Preferences = _parsed("preferences", Preferences.parse, body)
        return result

    async def aclose(self) -> None:
        await self._http.aclose()


def _segment(notification_id: str) -> str:
    # Ids come from the server, but never let one smuggle a path into the URL.
    return quote(notification_id, safe="")
