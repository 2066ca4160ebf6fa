"""The reference helpdesk's ASGI application (Starlette): REST, the event stream, web pages.

* One route table (:func:`endpoints`) is the source of both the Starlette routes and the
  OpenAPI document (:mod:`notifier.server.openapi`), so the two cannot drift apart.
* Handlers authenticate, parse and size-check the request, then run ONE repository or action
  function on the database thread (:class:`~notifier.server.db.Database`) and wake the
  streams of the agents whose event logs grew (:class:`~notifier.server.hub.Hub`).
* Every error answer is a :class:`notifier.core.wire.ApiError` body.
* The stream (:meth:`HelpdeskApp.stream`) has one code path for replay and live events: read
  the log after a cursor in batches, send, advance; when the head is reached send
  ``unread_count`` (and ``synced`` once), then sleep on the agent's wake-up and repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from notifier.core import wire
from notifier.server import actions, repository, web
from notifier.server.actions import Links, Outcome
from notifier.server.db import Database
from notifier.server.hub import Hub, OpenStreams, Published, Subscription
from notifier.server.limits import (
    MAX_PASSWORD_CHARS,
    MAX_USERNAME_CHARS,
    Limits,
    PasswordPool,
    SignInGuard,
    SlidingWindow,
    rate_limited,
)
from notifier.server.mailer import MAIL_SETTINGS_PATH, MailConfig, Mailer, mail_settings_for
from notifier.server.pages import WebPages
from notifier.server.password_reset import CHANGED_NOTICE, PasswordResetPages
from notifier.server.password_reset import PATH as RESET_PATH
from notifier.server.repository import ActionError, User

log = logging.getLogger(__name__)

API: Final = "/api/v1"
STREAM_PATH: Final = f"{API}/stream"
SESSION_ENDED: Final = "Your session has ended. Please sign in again."
MAX_USERNAME_SHOWN: Final = 200  # a refused sign-in's username, typed back into the form
RESUME_TIMEOUT_S: Final = 10.0
STREAM_BATCH: Final = 500
SESSION_COOKIE: Final = "helpdesk_session"
# The sign-in form's anti-forgery secret: a cookie and the same value in the form (another
# site can make a browser post the form, but can neither read nor set this cookie).
CSRF_COOKIE: Final = "helpdesk_csrf"
_CSRF_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
# Close codes of the stream (RFC 6455 and the application range).
CLOSE_POLICY: Final = 1008
CLOSE_RESET: Final = 4000
CLOSE_TOO_MANY_STREAMS: Final = 4001
CLOSE_TOKEN_REVOKED: Final = 4002
CLOSE_REVOKED_REASON: Final = "the token was revoked; sign in again"
CLOSE_SESSION_REASON: Final = "the web session has ended; sign in again"
# How soon a token deleted by another process (the admin's `notifier-server tokens revoke`)
# ends its open streams: this server's own revocations end them at once.
REVOCATION_CHECK_S: Final = 2.0
# No request body or stream frame of the protocol nests deeper than 4; anything deeper than
# this is refused before a handler sees it.
MAX_JSON_DEPTH: Final = 32
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

Handler = Callable[[Request], Awaitable[Response]]

# Set in the connection's task when the stream refuses a handshake on purpose (401 / 403).
_denied_handshake: ContextVar[bool] = ContextVar("denied_handshake", default=False)


class RedactSecrets(logging.Filter):
    """Removes credentials from every log record before a handler writes it: Bearer and Basic
    credentials, whole ``Authorization`` and ``Cookie`` header values (the websockets library
    logs the handshake's headers at debug level) and the session cookie. Installed on every
    handler of the server's log configuration (cli.py), so no level or logger can leak one."""

    _PATTERNS: Final = (
        (
            re.compile(r"(?im)\b((?:proxy-)?authorization|cookie)(\s*[:=]\s*)[^\r\n]*"),
            r"\1\2[redacted]",
        ),
        (re.compile(r"(?i)(authorization['\"]?,\s*b?['\"])[^'\"]*"), r"\1[redacted]"),  # repr
        (re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",;]+"), r"\1 [redacted]"),
        (re.compile(rf"(?i)\b({SESSION_COOKIE}=)[^\s;'\",]+"), r"\1[redacted]"),
        # A password reset link's token (the access log's request lines).
        (re.compile(r"(/password-reset/)[^\s?#'\"]+"), r"\1[redacted]"),
    )

    @classmethod
    def redact(cls, text: str) -> str:
        for pattern, replacement in cls._PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: the handler reports it, it holds no header
            return True
        redacted = self.redact(message)
        if redacted == message:
            return True
        # Redact the arguments one by one where that suffices, keeping them a tuple: uvicorn's
        # access formatter unpacks them (client, method, path, version, status) and cannot
        # format a record without them (a "--- Logging error ---" traceback instead).
        if isinstance(record.msg, str) and isinstance(record.args, tuple):
            args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
            try:
                rebuilt = self.redact(record.msg) % args
            except (TypeError, ValueError):
                rebuilt = None
            if rebuilt is not None and self.redact(rebuilt) == rebuilt:
                record.msg, record.args = self.redact(record.msg), args
                return True
        record.msg, record.args = redacted, None
        return True


class _DeniedHandshakeFilter(logging.Filter):
    """Drops one false alarm: uvicorn 0.54's websockets-sansio protocol logs "ASGI callable
    returned without completing handshake" after a denial response too (it checks only for an
    accepted handshake). Only records from connections this app denied are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            _denied_handshake.get()
            and record.getMessage().startswith("ASGI callable returned without completing")
        )


@dataclass(frozen=True, slots=True)
class QueryParam:
    """An integer query parameter and the bounds the handler enforces (400 outside them)."""

    name: str
    description: str
    minimum: int
    maximum: int
    default: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One HTTP route and what the OpenAPI document says about it."""

    method: str
    path: str
    handler: Handler
    summary: str
    auth: str  # "agent" | "customer" | "user" (either) | "session" | "none"
    request: str | None = None  # component schema of the JSON body
    response: str | None = None  # component schema of the 2xx JSON body, "html", "redirect"
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()
    tag: str = "helpdesk"
    extra: dict[str, Any] = field(default_factory=dict)


def api_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(wire.ApiError(code=code, message=message).to_json(), status_code=status)


def parse_json(raw: str | bytes) -> Any:
    """:func:`wire.decode_json` (which refuses what json's recursion limit refuses), refusing
    too with :class:`wire.WireError` (code ``malformed_json``) what the server could neither
    store nor answer anywhere in the document, before a handler picks fields out of it:
    nesting deeper than :data:`MAX_JSON_DEPTH` and lone surrogates, which are valid JSON escapes
    but not Unicode text (SQLite and UTF-8 cannot take them)."""
    data = wire.decode_json(raw)
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE.search(value):
                raise wire.WireError(
                    "malformed_json", "a string holds a lone surrogate, which is not Unicode text"
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise wire.WireError(
                "malformed_json", f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels"
            )
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        pending.extend((item, depth + 1) for item in items)
    return data


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in; anything else (other hosts, schemes) → "/"."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 for c in target)
    ):
        return "/"
    return target


class HelpdeskApp:
    """Holds the database, the wake-up hub and the public URL; builds the Starlette app."""

    def __init__(
        self,
        database: Database,
        public_url: str,
        mail: MailConfig | None = None,
        limits: Limits | None = None,
        mail_dir: Path | None = None,
    ) -> None:
        self.database = database
        self.session_cookie = SESSION_COOKIE
        self.pages = WebPages(self, mail_dir)
        self.hub = Hub()
        self.streams = OpenStreams()
        self.links = Links(public_url)
        self.mailer = Mailer(database, self.links.base_url, mail or MailConfig())
        self.hub.add_listener(self.mailer.wake)
        self.limits = limits or Limits()
        self.sign_ins = SignInGuard(self.limits)
        self.customer_writes = SlidingWindow(
            self.limits.customer_writes, self.limits.customer_window_s
        )
        self.passwords = PasswordPool(self.limits.password_workers, self.limits.password_queue)
        self.form_cookie = CSRF_COOKIE
        self.password_reset = PasswordResetPages(self)
        self._revocation_watch: asyncio.Task[None] | None = None

    def close(self) -> None:
        if self._revocation_watch is not None:
            self._revocation_watch.cancel()
        self.passwords.close()

    @property
    def public_url(self) -> str:
        return self.links.base_url

    # ----------------------------------------------------------------- plumbing

    async def _user(self, request: Request) -> User:
        token = bearer_token(request.headers.get("authorization"))
        user = await self.database.run(repository.user_for_token, token) if token else None
        if user is None:
            raise ActionError(401, "unauthorized", "a valid Bearer token is required")
        return user

    async def _agent(self, request: Request) -> User:
        user = await self._user(request)
        if not user.is_agent:
            raise ActionError(403, "forbidden", "this endpoint is for agents")
        return user

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > wire.MAX_FRAME_BYTES:
            raise ActionError(413, "too_large", f"the body exceeds {wire.MAX_FRAME_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s or None):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > wire.MAX_FRAME_BYTES:
                        raise ActionError(
                            413, "too_large", f"the body exceeds {wire.MAX_FRAME_BYTES} bytes"
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise ActionError(
                408,
                "request_timeout",
                f"the body did not arrive within {self.limits.body_timeout_s:g} s",
            ) from None
        return b"".join(chunks)

    async def _json(self, request: Request, *, required: bool = True) -> dict[str, Any]:
        raw = await self.read_body(request)
        if not raw.strip():
            if required:
                raise ActionError(400, "bad_request", "a JSON object body is required")
            return {}
        try:
            data = parse_json(raw)
        except wire.WireError as exc:
            raise ActionError(400, exc.code, str(exc)) from None
        if not isinstance(data, dict):
            raise ActionError(400, "invalid_field", "the body must be a JSON object")
        return data

    def _done(self, outcome: Outcome, status: int = 200) -> JSONResponse:
        self.announce(outcome.appended, outcome.woken)
        return JSONResponse(outcome.body, status_code=status)

    def announce(
        self, appended: Mapping[int, repository.EventBatch], woken: Iterable[int] = ()
    ) -> None:
        """Tell the streams about committed writes: the batches read right after the commit
        are published to the agents' streams (rendered once, see hub.py); the other agents'
        streams (``woken``) are woken to read their logs."""
        to_wake = set(woken)
        for agent_id, batch in appended.items():
            to_wake.add(agent_id)
            # A batch cut short (more than one read's worth) is left to the streams to read.
            if batch.events and batch.reaches_head and self.hub.subscribed(agent_id):
                self.hub.publish(agent_id, self._published(agent_id, batch))
                to_wake.discard(agent_id)
        self.hub.wake(to_wake)

    def _published(self, agent_id: int, batch: repository.EventBatch) -> Published:
        """A committed batch rendered once for every stream of the agent."""
        frames = tuple(
            (seq, _frame(repository.render_event(agent_id, seq, kind, payload, self.public_url)))
            for seq, kind, payload in batch.events
        )
        return Published(
            first_seq=batch.events[0][0], frames=frames, head=batch.head, unread=batch.unread
        )

    async def run_action(self, function: Callable[..., Outcome], *args: object) -> Outcome:
        """Run a helpdesk action on the database thread and, in the same call, read what it
        appended to the event logs (for :meth:`_done`)."""
        return await self.database.run(_action_and_appended, function, *args)

    @staticmethod
    def _int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not low <= int(raw) <= high:
            raise ActionError(400, "invalid_field", f"{name} must be an integer {low}..{high}")
        return int(raw)

    @contextlib.contextmanager
    def counted_write(self, user: User) -> Iterator[None]:
        """Counts a customer's write (ticket, reply, reopening) against their limit: 429 when
        it is reached. Counted before the action runs (parallel requests cannot slip past)
        and taken back when the action fails. Agents are not limited."""
        if user.is_agent:
            yield
            return
        key = str(user.id)
        wait = self.customer_writes.wait(key)
        if wait > 0:
            raise rate_limited(wait, "too many tickets and replies at once; try again later")
        self.customer_writes.add(key)
        try:
            yield
        except BaseException:
            self.customer_writes.take_back(key)
            raise

    def comments_page(self, request: Request, default_limit: int) -> actions.CommentsPage:
        return actions.CommentsPage(
            after=self._int_query(request, "after", 0, 0, repository.MAX_SEQ),
            limit=self._int_query(request, "limit", default_limit, 1, actions.COMMENTS_PAGE_MAX),
        )

    # ----------------------------------------------------------------- auth and me

    async def _sign_in(
        self, request: Request, username: str, password: str, purpose: str
    ) -> str | None:
        """A new token for a correct agent username and password, else None.

        Attempts are limited per account and per client address (429), and the password check
        runs in the small bounded :class:`PasswordPool` (503 when full), never on the database
        thread or the event loop, so sign-ins cannot starve the streams.
        """
        if len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
            raise ActionError(
                400,
                "invalid_field",
                f"username and password have at most {MAX_USERNAME_CHARS} and "
                f"{MAX_PASSWORD_CHARS} characters",
            )
        account = username.lower()  # usernames compare case-insensitively
        address = request.client.host if request.client else ""
        self.sign_ins.begin(account, address)
        # Customers sign in on the web pages only; API tokens are for agents.
        record = await self.database.run(repository.password_record, username, purpose == "session")
        user = await self.passwords.run(repository.verify_password, record, password)
        if user is None or record.password_hash is None:
            return None
        # Only if that password is still theirs: a password reset may have committed meanwhile.
        token = await self.database.run(
            repository.create_token_for_password, user.id, purpose, record.password_hash
        )
        if token is not None:
            self.sign_ins.succeeded(account, address)
        return token

    async def issue_token(self, request: Request) -> Response:
        data = await self._json(request)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ActionError(400, "invalid_field", "username and password must be strings")
        token = await self._sign_in(request, username, password, "api")
        if token is None:
            raise ActionError(401, "unauthorized", "wrong username or password")
        return JSONResponse({"token": token})

    async def revoke_token(self, request: Request) -> Response:
        """Revoke the calling token: every later request with it gets 401, and its open
        streams close with 4002."""
        await self._user(request)
        token = bearer_token(request.headers.get("authorization"))
        assert token is not None  # _user accepted it
        await self.database.run(repository.revoke_token, token)
        self.streams.end_all(
            repository.hash_token(token), CLOSE_TOKEN_REVOKED, CLOSE_REVOKED_REASON
        )
        return JSONResponse({"revoked": True})

    async def me(self, request: Request) -> Response:
        user = await self._user(request)
        return JSONResponse({**user.info().to_json(), "kind": user.kind})

    async def get_preferences(self, request: Request) -> Response:
        user = await self._agent(request)
        preferences = await self.database.run(repository.get_preferences, user.id)
        return JSONResponse(preferences.to_json())

    async def put_preferences(self, request: Request) -> Response:
        user = await self._agent(request)
        data = await self._json(request)
        preferences = repository.validate_preferences(data)
        stored = await self.database.run(
            repository.put_preferences,
            user.id,
            preferences,
            repository.omitted_email_fields(data),
        )
        return JSONResponse(stored.to_json())

    # ----------------------------------------------------------------- notifications

    async def list_notifications(self, request: Request) -> Response:
        user = await self._agent(request)
        after_seq = self._int_query(request, "after_seq", 0, 0, repository.MAX_SEQ)
        limit = self._int_query(request, "limit", 100, 1, wire.MAX_PAGE_LIMIT)
        body = await self.database.run(
            repository.notification_page_json, user.id, after_seq, limit, self.public_url
        )
        return Response(body, media_type="application/json")

    async def _action(
        self, user: User, function: Callable[..., wire.ActionResult], *args: object
    ) -> Response:
        result = await self.database.run(function, user.id, *args)
        if result.changed:
            self.hub.wake([user.id])
        return JSONResponse(result.to_json())

    async def mark_read(self, request: Request) -> Response:
        user = await self._agent(request)
        return await self._action(user, repository.set_read, request.path_params["id"], True)

    async def mark_unread(self, request: Request) -> Response:
        user = await self._agent(request)
        return await self._action(user, repository.set_read, request.path_params["id"], False)

    async def read_all(self, request: Request) -> Response:
        user = await self._agent(request)
        data = await self._json(request)
        up_to = data.get("up_to_seq")
        if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 0:
            raise ActionError(400, "invalid_field", "up_to_seq must be an integer ≥ 0")
        up_to = min(up_to, repository.MAX_SEQ)  # "everything"; keeps it inside SQLite INTEGER
        return await self._action(user, repository.mark_all_read, up_to)

    async def delete_notification(self, request: Request) -> Response:
        user = await self._agent(request)
        return await self._action(user, repository.delete, request.path_params["id"])

    async def clear(self, request: Request) -> Response:
        user = await self._agent(request)
        data = await self._json(request, required=False)
        try:
            scope = wire.ClearScope(data.get("scope", "read"))
        except ValueError:
            raise ActionError(400, "invalid_field", 'scope must be "read" or "all"') from None
        return await self._action(user, repository.clear, scope)

    # ----------------------------------------------------------------- helpdesk actions

    async def create_ticket(self, request: Request) -> Response:
        user = await self._user(request)
        data = await self._json(request)
        with self.counted_write(user):
            outcome = await self.run_action(actions.create_ticket, user, data, self.links)
        return self._done(outcome, 201)

    async def _ticket_action(
        self,
        request: Request,
        function: Callable[..., Outcome],
        *,
        body: bool = True,
        status: int = 200,
        extra: Callable[[Request], object] | None = None,
        customer_write: bool = False,
    ) -> Response:
        """Run ``function(user, id, [body,] links, [extra(request)])`` and answer with it;
        ``customer_write`` counts it against a customer's limit (:meth:`counted_write`)."""
        user = await self._user(request)
        ticket_id = request.path_params["id"]
        args: list[object] = [user, ticket_id]
        if body:
            args.append(await self._json(request, required=False))
        args.append(self.links)
        if extra is not None:
            args.append(extra(request))
        with self.counted_write(user) if customer_write else contextlib.nullcontext():
            outcome = await self.run_action(function, *args)
        return self._done(outcome, status)

    async def assign(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.assign)

    async def comment(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.comment, status=201)

    async def reply(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.reply, status=201, customer_write=True)

    async def resolve(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.resolve, body=False)

    async def reopen(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.reopen, customer_write=True)

    async def view(self, request: Request) -> Response:
        return await self._ticket_action(
            request,
            actions.view,
            body=False,
            extra=lambda r: self.comments_page(r, actions.COMMENTS_PAGE_DEFAULT),
        )

    async def get_ticket(self, request: Request) -> Response:
        user = await self._user(request)
        comments = self.comments_page(request, actions.COMMENTS_PAGE_DEFAULT)
        page = await self.database.run(
            actions.ticket_page, user, request.path_params["id"], self.links, comments
        )
        return JSONResponse(page)

    async def edit_comment(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.edit_comment)

    async def react(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.react)

    # ----------------------------------------------------------------- web pages

    async def session_user(self, request: Request) -> User | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        return await self.database.run(
            repository.user_for_token, token, "session", self.limits.session_max_age_s
        )

    def to_login(self, request: Request) -> Response:
        target = request.url.path
        return RedirectResponse(web.login_url(target), status_code=303)

    def set_cookie(
        self, response: Response, name: str, value: str, max_age: int | None = None
    ) -> None:
        """HttpOnly, SameSite=Strict (a link from another site carries no cookie, so it
        cannot act as the agent, not even mark a ticket read), Secure on https."""
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="strict",
            secure=self.public_url.startswith("https://"),
            path="/",
            max_age=max_age,
        )

    def form_token(self, request: Request) -> str:
        """The anti-forgery secret of the forms one fills in before signing in (sign-in,
        password reset): this browser's ``helpdesk_csrf`` cookie, or a new one to set."""
        csrf = request.cookies.get(CSRF_COOKIE, "")
        return csrf if _CSRF_PATTERN.match(csrf) else secrets.token_urlsafe(32)

    def form_token_ok(self, request: Request, form: Mapping[str, str]) -> bool:
        """Whether a posted form's ``csrf`` field is this browser's cookie."""
        return web.same_token(form.get("csrf", ""), request.cookies.get(CSRF_COOKIE, ""))

    def web_sessions_ended(self, token_hashes: Iterable[str]) -> None:
        """Close the streams open with web sessions this server just deleted."""
        for token_hash in token_hashes:
            self.streams.end_all(token_hash, CLOSE_TOKEN_REVOKED, CLOSE_SESSION_REASON)

    def _sign_in_page(
        self,
        request: Request,
        target: str,
        error: str | None,
        status: int = 200,
        username: str = "",
        notice: str | None = None,
    ) -> HTMLResponse:
        """The sign-in form with this browser's anti-forgery secret (a new one if it has none);
        after a refusal with the username that was typed, so only the password is typed again."""
        csrf = self.form_token(request)
        response = self.pages.render(
            "login.html",
            status,
            next=target,
            error=error,
            notice=notice,
            username=username[:MAX_USERNAME_SHOWN],
            csrf=csrf,
            page="login",
        )
        self.set_cookie(response, CSRF_COOKIE, csrf)
        return response

    async def login_form(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        has_cookie = bool(request.cookies.get(SESSION_COOKIE))
        if has_cookie and await self.session_user(request) is not None:
            # Signed in: whatever the link says (another site can link here with
            # ?password=changed), the session and its cookie stay.
            return self._sign_in_page(request, target, None)
        if request.query_params.get("password") == "changed":
            # From a password reset (password_reset.py), which ended every web session.
            notice: str | None = CHANGED_NOTICE
        elif has_cookie:
            # A session cookie the server no longer knows: it expired or was signed out
            # elsewhere. Say so (once: the stale cookie goes) rather than just ask again.
            notice = SESSION_ENDED
        else:
            notice = None
        page = self._sign_in_page(request, target, None, notice=notice)
        if has_cookie:
            page.delete_cookie(SESSION_COOKIE, path="/")
        return page

    async def login(self, request: Request) -> Response:
        form = web.parse_form(await self.read_body(request))
        if form is None:
            return self._sign_in_page(request, "/", web.REPEATED_FIELD, 400)
        target = safe_next(form.get("next"))
        username = form.get("username", "")
        if not self.form_token_ok(request, form):
            # Login CSRF: another site posting its own credentials in the agent's browser.
            return self._sign_in_page(
                request,
                target,
                "This sign-in form has expired or came from another site; please sign in here.",
                403,
            )
        try:
            token = await self._sign_in(request, username, form.get("password", ""), "session")
        except ActionError as exc:  # too many attempts, busy, a 2 KB username
            refused = self._sign_in_page(request, target, exc.message, exc.status, username)
            refused.headers.update(_retry_after(exc))
            return refused
        if token is None:
            return self._sign_in_page(request, target, "Wrong username or password.", 401, username)
        response = RedirectResponse(target, status_code=303)
        self.set_cookie(response, SESSION_COOKIE, token, int(self.limits.session_max_age_s) or None)
        return response

    async def logout(self, request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            form = web.parse_form(await self.read_body(request))
            if form is None or not web.same_token(form.get("csrf", ""), web.session_csrf(token)):
                return await self.pages.sorry(
                    request, "Sign out with the button on the helpdesk's own page.", 403
                )
            # The session ends on the server, not only in this browser.
            await self.database.run(repository.revoke_token, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def comment_web(self, request: Request) -> Response:
        user = await self.session_user(request)
        if user is None:
            return self.to_login(request)
        try:
            ticket_id, comment_id = await self.database.run(
                actions.comment_ticket, user, request.path_params["id"]
            )
        except ActionError as exc:
            return await self.pages.sorry(request, exc.message, exc.status)
        return RedirectResponse(f"/tickets/{ticket_id}#comment-{comment_id}", status_code=303)

    async def mail_settings(self, request: Request) -> Response:
        """The page every notification mail links to (and ``List-Unsubscribe`` names): the
        agent's e-mail settings; ``POST`` (its button, or a mail client's RFC 8058 one-click
        unsubscribe) turns e-mail off. The token in the URL is the only credential."""
        unsubscribe = request.method == "POST"
        if unsubscribe:
            await self.read_body(request)  # read (size-checked) and ignored
        found = await self.database.run(
            mail_settings_for, request.path_params["token"], unsubscribe
        )
        if found is None:
            return HTMLResponse(
                web.error_page("This e-mail settings link is not valid."), status_code=404
            )
        user, preferences = found
        page = web.mail_settings_page(user, preferences, request.url.path, unsubscribe)
        return HTMLResponse(page)

    async def openapi(self, request: Request) -> Response:
        from notifier.server.openapi import build_document

        return JSONResponse(build_document(self.endpoints(), self.public_url))

    # ----------------------------------------------------------------- the stream

    def _own_origin(self, origin: str) -> bool:
        """Whether a browser's ``Origin`` is this helpdesk's public origin."""
        own = urlsplit(self.public_url)
        given = urlsplit(origin)
        return (given.scheme, given.netloc.lower()) == (own.scheme, own.netloc.lower())

    async def _stream_user(self, websocket: WebSocket) -> tuple[str | None, User | None, str]:
        """(token, user, why refused): a Bearer token (the tray), or the web pages' session
        cookie, accepted only from a page of this helpdesk's own origin: a page on another
        site must not open an agent's stream with the cookie their browser sends along."""
        token = bearer_token(websocket.headers.get("authorization"))
        if token:
            return token, await self.database.run(repository.user_for_token, token), ""
        token = websocket.cookies.get(SESSION_COOKIE)
        if not token:
            return None, None, ""
        if not self._own_origin(websocket.headers.get("origin", "")):
            return None, None, "the stream takes the session cookie only from this site's pages"
        user = await self.database.run(
            repository.user_for_token, token, "session", self.limits.session_max_age_s
        )
        return token, user, ""

    async def stream(self, websocket: WebSocket) -> None:
        token, user, refused = await self._stream_user(websocket)
        if user is None or not user.is_agent:
            _denied_handshake.set(True)
            await websocket.send_denial_response(
                api_error(403, "forbidden", refused)
                if refused
                else api_error(401, "unauthorized", "a valid Bearer token is required")
                if user is None
                else api_error(403, "forbidden", "the stream is for agents")
            )
            return
        await websocket.accept()
        assert token is not None
        token_hash = repository.hash_token(token)
        ends_at = await self._session_end(websocket, token)
        serving = asyncio.create_task(self._serve_stream(websocket, user))
        with (
            contextlib.suppress(WebSocketDisconnect, OSError),
            self.streams.track(token_hash, serving, ends_at) as this,
        ):
            self._watch_stream_credentials()
            if self.limits.streams_per_token:
                self.streams.end_oldest(
                    token_hash,
                    self.limits.streams_per_token,
                    CLOSE_TOO_MANY_STREAMS,
                    f"more than {self.limits.streams_per_token} streams on this token;"
                    " the oldest was closed",
                )
            try:
                await serving
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if this.close_code is None or (current is not None and current.cancelling()):
                    raise  # the server is stopping, not ending this stream
                await websocket.close(this.close_code, this.close_reason)

    async def _session_end(self, websocket: WebSocket, token: str) -> float | None:
        """When (the event loop's time) a stream opened with a web session must end: when the
        session expires, as every page does then. None for the tray's API tokens."""
        max_age_s = self.limits.session_max_age_s
        if bearer_token(websocket.headers.get("authorization")) or not max_age_s:
            return None
        created_at = await self.database.run(repository.token_created_at, token)
        if created_at is None:  # revoked meanwhile: the watch ends the stream
            return None
        left_s = max_age_s - (self.database.clock() - created_at).total_seconds()
        return asyncio.get_running_loop().time() + max(0.0, left_s)

    def _watch_stream_credentials(self) -> None:
        if self._revocation_watch is None or self._revocation_watch.done():
            self._revocation_watch = asyncio.create_task(self._end_revoked_and_expired_streams())

    async def _end_revoked_and_expired_streams(self) -> None:
        """While any stream is open, end within :data:`REVOCATION_CHECK_S` those whose token
        another process deleted (an admin locking out a lost laptop or someone who left) and
        those of a web session that has expired."""
        seen_version: int | None = None
        while hashes := self.streams.token_hashes():
            seen_version, revoked = await self.database.run(
                repository.revoked_tokens, hashes, seen_version
            )
            for token_hash in revoked:
                self.streams.end_all(token_hash, CLOSE_TOKEN_REVOKED, CLOSE_REVOKED_REASON)
            self.streams.end_expired(
                asyncio.get_running_loop().time(), CLOSE_TOKEN_REVOKED, CLOSE_SESSION_REASON
            )
            await asyncio.sleep(REVOCATION_CHECK_S)

    async def _send(self, websocket: WebSocket, event: Any) -> None:
        await websocket.send_text(_frame(event))

    async def _serve_stream(self, websocket: WebSocket, user: User) -> None:
        head = await self.database.run(repository.head_seq, user.id)
        await self._send(
            websocket, wire.Hello(protocol=wire.PROTOCOL_VERSION, agent=user.info(), last_seq=head)
        )
        try:
            first = await asyncio.wait_for(websocket.receive(), RESUME_TIMEOUT_S)
        except TimeoutError:
            await self._send(
                websocket, wire.ErrorEvent("bad_message", "no resume message within 10 s")
            )
            await websocket.close(CLOSE_POLICY)
            return
        if first["type"] == "websocket.disconnect":
            return
        try:
            data = parse_json(first.get("text") or first.get("bytes") or b"")
            if not isinstance(data, dict):
                raise wire.WireError("invalid_field", "the resume message must be a JSON object")
            resume = wire.ResumeRequest.parse(data)
        except ValueError as exc:  # WireError, or an integer over Python's digit limit
            await self._send(websocket, wire.ErrorEvent("bad_message", str(exc)))
            await websocket.close(CLOSE_POLICY)
            return
        async with self.mailer.stream_presence(user.id):
            await self._stream_subscribed(websocket, user, resume)

    async def _stream_subscribed(
        self, websocket: WebSocket, user: User, resume: wire.ResumeRequest
    ) -> None:
        with self.hub.subscribe(user.id) as wake:
            reader = asyncio.create_task(_drain_client_frames(websocket))
            try:
                await self._stream_events(websocket, user, resume, wake, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError):
                    await reader

    async def _stream_events(
        self,
        websocket: WebSocket,
        user: User,
        resume: wire.ResumeRequest,
        wake: Subscription,
        reader: asyncio.Task[None],
    ) -> None:
        cursor = resume.after_seq
        synced = False
        while True:
            wake.clear()
            published, stale = wake.take()
            if synced and not stale and _continues(published, cursor):
                # Live, and the commits published exactly what follows the cursor: send the
                # frames rendered once for every stream, without reading the log again.
                unread: int | None = None
                for write in published:
                    if write.head <= cursor:
                        continue
                    for seq, text in write.frames:
                        if seq > cursor:
                            await websocket.send_text(text)
                            cursor = seq
                    unread = write.unread
                if unread is not None:
                    await self._send(websocket, wire.UnreadCountEvent(seq=cursor, count=unread))
                if not await _wait_for_wake(wake, reader):
                    return
                continue
            while True:
                batch = await self.database.run(
                    repository.read_events, user.id, cursor, STREAM_BATCH
                )
                reset_reason = _reset_reason(cursor, batch)
                if reset_reason is not None:
                    await self._send(
                        websocket, wire.ResetEvent(seq=batch.head, reason=reset_reason)
                    )
                    await websocket.close(CLOSE_RESET)
                    return
                # Rendered as they are sent: the first frame of a replay leaves after the first
                # ~130 events are rendered, not all of the batch (~30 ms for 500).
                frames = (
                    _frame(repository.render_event(user.id, seq, kind, payload, self.public_url))
                    for seq, kind, payload in batch.events
                )
                # A client that reads events frames gets the replay a few hundred events a
                # frame: per frame, sending costs ~40 µs here and reading ~30 µs there.
                for frame in wire.batch_frames(frames) if resume.batch else frames:
                    await websocket.send_text(frame)
                if batch.events:
                    cursor = batch.events[-1][0]
                if batch.reaches_head:
                    break
            if not synced:
                await self._send(websocket, wire.SyncedEvent(seq=cursor))
                synced = True
            await self._send(websocket, wire.UnreadCountEvent(seq=cursor, count=batch.unread))
            if not await _wait_for_wake(wake, reader):
                return

    # ----------------------------------------------------------------- assembly

    def endpoints(self) -> list[Endpoint]:
        from notifier.server.admin import AdminApi  # it builds on this module's Endpoint

        n = f"{API}/notifications"
        t = f"{API}/tickets"
        ticket_errors = (400, 401, 403, 404, 413, 422)
        customer_write_errors = (*ticket_errors, 429)
        comments_page = (
            QueryParam("after", "return comments with a greater id", 0, repository.MAX_SEQ, 0),
            QueryParam(
                "limit",
                "comments per page",
                1,
                actions.COMMENTS_PAGE_MAX,
                actions.COMMENTS_PAGE_DEFAULT,
            ),
        )
        return [
            Endpoint(
                "POST",
                f"{API}/auth/token",
                self.issue_token,
                "Exchange an agent's username and password for an API token",
                "none",
                request="Credentials",
                response="Token",
                errors=(400, 401, 413, 429, 503),
                tag="auth",
            ),
            Endpoint(
                "DELETE",
                f"{API}/auth/token",
                self.revoke_token,
                "Revoke the calling token (401 with it from then on; its streams close with 4002)",
                "user",
                response="Revoked",
                errors=(401,),
                tag="auth",
            ),
            Endpoint(
                "GET",
                f"{API}/me",
                self.me,
                "The signed-in agent (or customer)",
                "user",
                response="Me",
                errors=(401,),
                tag="notifications",
            ),
            Endpoint(
                "GET",
                f"{API}/me/preferences",
                self.get_preferences,
                "The agent's notification preferences",
                "agent",
                response="Preferences",
                errors=(401, 403),
                tag="notifications",
            ),
            Endpoint(
                "PUT",
                f"{API}/me/preferences",
                self.put_preferences,
                "Replace the agent's notification preferences (whole document)",
                "agent",
                request="Preferences",
                response="Preferences",
                errors=(400, 401, 403, 413, 422),
                tag="notifications",
            ),
            Endpoint(
                "GET",
                n,
                self.list_notifications,
                "The agent's notifications with seq > after_seq, ascending, paged",
                "agent",
                response="NotificationPage",
                query=(
                    QueryParam(
                        "after_seq",
                        "return notifications with a greater seq",
                        0,
                        repository.MAX_SEQ,
                        0,
                    ),
                    QueryParam("limit", "page size", 1, wire.MAX_PAGE_LIMIT, 100),
                ),
                errors=(400, 401, 403),
                tag="notifications",
            ),
            Endpoint(
                "POST",
                f"{n}/read-all",
                self.read_all,
                "Mark read every unread notification with seq ≤ up_to_seq",
                "agent",
                request="ReadAll",
                response="ActionResult",
                errors=(400, 401, 403, 413),
                tag="notifications",
            ),
            Endpoint(
                "POST",
                f"{n}/clear",
                self.clear,
                "Delete the read notifications (scope read, default) or all",
                "agent",
                request="Clear",
                response="ActionResult",
                errors=(400, 401, 403, 413),
                tag="notifications",
            ),
            Endpoint(
                "POST",
                f"{n}/{{id}}/read",
                self.mark_read,
                "Mark one notification read",
                "agent",
                response="ActionResult",
                errors=(401, 403, 404),
                tag="notifications",
            ),
            Endpoint(
                "POST",
                f"{n}/{{id}}/unread",
                self.mark_unread,
                "Mark one notification unread",
                "agent",
                response="ActionResult",
                errors=(401, 403, 404),
                tag="notifications",
            ),
            Endpoint(
                "DELETE",
                f"{n}/{{id}}",
                self.delete_notification,
                "Delete one notification",
                "agent",
                response="ActionResult",
                errors=(401, 403, 404),
                tag="notifications",
            ),
            Endpoint(
                "POST",
                t,
                self.create_ticket,
                "Open a ticket (a customer for themselves, or an agent for `customer`);"
                " `team` lets the team's round-robin rule assign it",
                "user",
                request="NewTicket",
                response="Ticket",
                errors=customer_write_errors,
            ),
            Endpoint(
                "GET",
                f"{t}/{{id}}",
                self.get_ticket,
                "A ticket with one page of its comments and replies (a customer: replies only);"
                " marks nothing read",
                "user",
                response="TicketPage",
                query=comments_page,
                errors=(400, 401, 404),
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/assign",
                self.assign,
                "Assign the ticket to an agent (notifies them unless it is you)",
                "agent",
                request="Assign",
                response="Ticket",
                errors=ticket_errors,
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/comments",
                self.comment,
                "Add an internal comment; @username mentions notify those agents",
                "agent",
                request="Body",
                response="Comment",
                errors=ticket_errors,
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/replies",
                self.reply,
                "The ticket's customer replies (notifies the assigned agent)",
                "customer",
                request="Body",
                response="Comment",
                errors=customer_write_errors,
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/resolve",
                self.resolve,
                "Resolve an open ticket",
                "agent",
                response="Ticket",
                errors=(401, 403, 404, 409),
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/reopen",
                self.reopen,
                "Reopen a resolved ticket: its customer, with an optional message (notifies"
                " the assigned agent), or an agent, without one (notifies no one)",
                "user",
                request="OptionalBody",
                response="Ticket",
                errors=(401, 403, 404, 409, 413, 422, 429),
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/view",
                self.view,
                "The agent viewed the ticket: marks their notifications about it read",
                "agent",
                response="TicketPage",
                query=comments_page,
                errors=(400, 401, 403, 404),
            ),
            Endpoint(
                "PATCH",
                f"{API}/comments/{{id}}",
                self.edit_comment,
                "Edit your comment; only newly added @mentions notify",
                "agent",
                request="Body",
                response="Comment",
                errors=ticket_errors,
            ),
            Endpoint(
                "POST",
                f"{API}/comments/{{id}}/reactions",
                self.react,
                "Toggle an emoji reaction (👍 👎 ❤️ 🎉 👀 ✅) on a comment",
                "agent",
                request="Reaction",
                response="ReactionResult",
                errors=ticket_errors,
            ),
            Endpoint(
                "GET",
                "/openapi.json",
                self.openapi,
                "This document",
                "none",
                response="object",
                tag="meta",
            ),
            Endpoint(
                "GET",
                "/",
                self.pages.home,
                "Web: tickets (an agent's: assigned to them, their team's, all; a customer's"
                " own), filtered by ?scope=mine|team|open and ?status=open|resolved|all",
                "session",
                response="html",
                tag="web",
            ),
            Endpoint(
                "GET",
                "/login",
                self.login_form,
                "Web: the sign-in form",
                "none",
                response="html",
                tag="web",
            ),
            Endpoint(
                "POST",
                "/login",
                self.login,
                "Web: sign in (form: username, password, next, csrf: the form's token, which"
                " must match this browser's helpdesk_csrf cookie); sets an HttpOnly,"
                " SameSite=Strict session cookie",
                "none",
                response="redirect",
                tag="web",
                extra={"form": "LoginForm"},
            ),
            *self._password_reset_endpoints(),
            Endpoint(
                "POST",
                "/logout",
                self.logout,
                "Web: sign out (form: csrf, from the signed-in home page); revokes the session",
                "session",
                response="redirect",
                tag="web",
                extra={"form": "LogoutForm"},
            ),
            # Before /tickets/{id}: the first route that matches a path serves it.
            Endpoint(
                "GET",
                "/tickets/new",
                self.pages.new_ticket,
                "Web: a customer's form to open a ticket",
                "session",
                response="html",
                tag="web",
            ),
            Endpoint(
                "POST",
                "/tickets/new",
                self.pages.create_ticket,
                "Web form (csrf): a customer opens a ticket (subject, body); 303 to its page",
                "session",
                response="redirect",
                tag="web",
                extra={"form": "SessionForm"},
            ),
            Endpoint(
                "GET",
                "/tickets/{id}",
                self.pages.ticket,
                "Web: the ticket page; viewing it marks the agent's notifications about it read",
                "session",
                response="html",
                tag="web",
            ),
            *self._web_forms(),
            Endpoint(
                "GET",
                "/comments/{id}",
                self.comment_web,
                "Web: redirects to the comment's anchor on its ticket page",
                "session",
                response="redirect",
                tag="web",
            ),
            Endpoint(
                "GET",
                MAIL_SETTINGS_PATH,
                self.mail_settings,
                "Web: the e-mail settings page every notification mail links to",
                "none",
                response="html",
                tag="web",
            ),
            Endpoint(
                "POST",
                MAIL_SETTINGS_PATH,
                self.mail_settings,
                "Web: turn the agent's e-mail off (the page's button, or RFC 8058 one-click"
                " List-Unsubscribe)",
                "none",
                response="html",
                tag="web",
            ),
            *AdminApi(self).endpoints(),
        ]

    def _password_reset_endpoints(self) -> list[Endpoint]:
        """ "Forgot your password?" (password_reset.py): forms with the sign-in form's
        token (the ``helpdesk_csrf`` cookie and field)."""
        resets = self.password_reset
        return [
            Endpoint(
                "GET",
                "/password-reset",
                resets.ask,
                "Web: forgot your password? The form asking for the account's e-mail address",
                "none",
                response="html",
                tag="web",
            ),
            Endpoint(
                "POST",
                "/password-reset",
                resets.request,
                "Web: mail a link to reset the password of each active person with this e-mail"
                " address (form: email, csrf; 400 if a field repeats); the same page whether or not"
                " there is one; 429 beyond the per-address and per-client limits",
                "none",
                response="html",
                errors=(400, 403, 422, 429),
                tag="web",
                extra={"form": "PasswordResetRequestForm"},
            ),
            Endpoint(
                "GET",
                "/password-reset/{token}",
                resets.choose,
                "Web: the form for a new password, from a reset mail's link (404: unknown,"
                " used or expired)",
                "none",
                response="html",
                errors=(404,),
                tag="web",
            ),
            Endpoint(
                "POST",
                "/password-reset/{token}",
                resets.reset,
                "Web: set the new password (form: password, again, csrf; 400 if a field repeats),"
                " use the link up and"
                " end the person's web sessions; 303 to the sign-in page",
                "none",
                response="redirect",
                errors=(400, 403, 404, 422, 503),
                tag="web",
                extra={"form": "PasswordResetForm"},
            ),
        ]

    def _web_forms(self) -> list[Endpoint]:
        """The signed-in pages beyond home and ticket, and their forms: every change a POST
        with the session's form token (field ``csrf``), running the REST API's own action.
        A form answers 303 back to its page, or JSON (the REST answer) to ``Accept:
        application/json``."""
        p = self.pages

        def page(path: str, handler: Handler, summary: str) -> Endpoint:
            return Endpoint(
                "GET", path, handler, f"Web: {summary}", "session", response="html", tag="web"
            )

        def form(path: str, handler: Handler, summary: str) -> Endpoint:
            return Endpoint(
                "POST",
                path,
                handler,
                f"Web form (csrf): {summary}",
                "session",
                response="redirect",
                tag="web",
                extra={"form": "SessionForm"},
            )

        return [
            page(
                "/notifications",
                p.notifications,
                "the notification center (?show=unread, ?type=assignment|mention|reaction)",
            ),
            page(
                "/notifications/list",
                p.notification_list,
                "the notification center's list alone (the page's live updates)",
            ),
            Endpoint(
                "GET",
                "/notifications/bell",
                p.bell,
                "Web: the bell as JSON: unread_count, newest (seq), seen (the agent's mark)",
                "session",
                response="object",
                errors=(401, 403),
                tag="web",
            ),
            form(
                "/notifications/seen",
                p.seen,
                "the center was looked at up to up_to_seq: the bell's 'new' mark moves there",
            ),
            page("/mail", p.mail, "the demo's mail (the mail catcher's folder)"),
            page("/admin", p.admin, "the system settings (admins)"),
            form("/admin", p.save_admin, "save the integer system settings (version, KEY=N)"),
            form(
                "/admin/new-tickets",
                p.save_new_tickets,
                "save the team tickets opened without one go to (version, new_ticket_team)",
            ),
            form(
                "/admin/preferences",
                p.save_default_preferences,
                "save the default preferences of new agents (version and the page's fields)",
            ),
            Endpoint(
                "GET",
                "/static/{name}",
                p.static,
                "Web: the pages' stylesheet and script",
                "none",
                response="file",
                tag="web",
            ),
            Endpoint(
                "GET",
                "/icons/{name}",
                p.icon,
                "Web: the notification type icons (SVG)",
                "none",
                response="file",
                tag="web",
            ),
            form("/notifications/{id}/read", p.mark_read, "mark a notification read"),
            form("/notifications/{id}/unread", p.mark_unread, "mark a notification unread"),
            form("/notifications/{id}/delete", p.delete, "delete a notification"),
            form("/notifications/read-all", p.read_all, "mark read up to up_to_seq"),
            form("/notifications/clear", p.clear, "delete the read notifications"),
            form(
                "/tickets/{id}/comment",
                p.comment,
                "body; kind=comment (internal, @mentions notify) or reply (to the customer)",
            ),
            form("/tickets/{id}/reply", p.reply, "the customer replies (body)"),
            form("/tickets/{id}/reopen", p.reopen, "reopen (the customer: optional body)"),
            form("/tickets/{id}/resolve", p.resolve, "resolve the ticket"),
            form("/tickets/{id}/assign", p.assign, "to=agent:USERNAME or team:NAME"),
            form("/comments/{id}/react", p.react, "toggle a reaction (emoji)"),
        ]

    def routes(self) -> list[BaseRoute]:
        """One route per path with all of its methods, so a wrong method gets a 405 whose
        ``Allow`` names every method of the path."""
        handlers: dict[str, dict[str, Handler]] = {}
        for e in self.endpoints():
            handlers.setdefault(e.path, {})[e.method] = e.handler
        routes: list[BaseRoute] = [
            Route(path, _by_method(by_method), methods=list(by_method))
            for path, by_method in handlers.items()
        ]
        routes.append(Route(STREAM_PATH, _stream_without_upgrade, methods=["GET"]))
        routes.append(WebSocketRoute(STREAM_PATH, self.stream))
        return routes

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own 404 and 405: a page in words for a person's browser off the API,
        the API's JSON error otherwise."""
        assert isinstance(exc, HTTPException)
        message = _PAGE_ERRORS.get(exc.status_code)
        wants_page = "text/html" in request.headers.get("accept", "")
        if message is None or not wants_page or request.url.path.startswith(f"{API}/"):
            return await _http_error(request, exc)
        response = await self.pages.sorry(request, message, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    def build(self) -> Starlette:
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DeniedHandshakeFilter) for f in uvicorn_errors.filters):
            uvicorn_errors.addFilter(_DeniedHandshakeFilter())
        return Starlette(
            routes=self.routes(),
            middleware=[Middleware(SecurityHeaders)],
            exception_handlers={
                ActionError: _action_error,
                ClientDisconnect: _client_gone,
                HTTPException: self._http_error,
                Exception: _internal_error,
            },
        )


class SecurityHeaders:
    """Adds the browser-facing safety headers to every HTTP answer (pages, API, errors):
    the Content-Security-Policy of :data:`web.CSP` (framing forbidden too, also as
    ``X-Frame-Options`` for old browsers), ``nosniff``, a same-origin referrer (none at all
    from a password reset link's pages, whose URL holds the token), and
    ``Cache-Control: no-store``: answers hold an agent's data or a form's secret, and a
    shared computer's cache must not keep them."""

    HEADERS: Final = {
        "content-security-policy": web.CSP,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }
    # A password reset link's page: its URL holds the token, which a same-origin Referer
    # would carry to the icon, style and script requests (and so into a proxy's access log).
    NO_REFERRER_PREFIX: Final = f"{RESET_PATH}/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS.items():
                    headers.setdefault(name, value)
                if str(scope.get("path", "")).startswith(self.NO_REFERRER_PREFIX):
                    headers["referrer-policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _frame(event: Any) -> str:
    return wire.encode_json(event.to_json())


def _action_and_appended(
    connection: sqlite3.Connection, function: Callable[..., Outcome], *args: object
) -> Outcome:
    return actions.read_appended(connection, function(connection, *args))


def _continues(published: list[Published], cursor: int) -> bool:
    """Whether the published writes, in order, continue ``cursor`` without a gap."""
    for write in published:
        if write.head <= cursor:
            continue  # already sent (read from the log meanwhile)
        if write.first_seq > cursor + 1:
            return False
        cursor = write.head
    return True


async def _wait_for_wake(wake: asyncio.Event, reader: asyncio.Task[None]) -> bool:
    """Wait for the next wake-up; False when the client went away instead."""
    woken = asyncio.ensure_future(wake.wait())
    done, _ = await asyncio.wait({woken, reader}, return_when=asyncio.FIRST_COMPLETED)
    if reader in done:
        woken.cancel()
        return False
    return True


def _reset_reason(cursor: int, batch: repository.EventBatch) -> str | None:
    """Why the log cannot be replayed after ``cursor`` (None: it can): the cursor is beyond
    the head (the server's data was replaced), or below the floor (those events were pruned)."""
    if cursor > batch.head:
        return (
            f"the server's event log ends at seq {batch.head}, before the client's cursor {cursor}"
        )
    if cursor < batch.floor:
        return (
            f"the server pruned its event log up to seq {batch.floor}, "
            f"past the client's cursor {cursor}"
        )
    return None


async def _drain_client_frames(websocket: WebSocket) -> None:
    """Read and ignore client frames after ``resume`` (a later protocol may use them) until
    the client goes away; oversized frames are closed with 1009 by the server (ws_max_size)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def _retry_after(exc: ActionError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}


async def _action_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ActionError)
    response = api_error(exc.status, exc.code, exc.message)
    response.headers.update(_retry_after(exc))
    return response


_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
}  # 426 upgrade_required: _stream_without_upgrade


_PAGE_ERRORS: Final = {
    404: "there is no page at this address. It may have moved, or the link has a typo",
    405: "this address only takes the helpdesk's own forms: go back and use the button there",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    response = api_error(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})  # Allow, on a 405
    return response


def _by_method(handlers: dict[str, Handler]) -> Handler:
    """One handler for a path's methods (HEAD is answered like GET)."""
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch


async def _stream_without_upgrade(request: Request) -> Response:
    response = api_error(
        426, "upgrade_required", "the stream is a WebSocket: connect with Upgrade: websocket"
    )
    response.headers.update({"Upgrade": "websocket", "Connection": "Upgrade"})
    return response


async def _client_gone(request: Request, exc: Exception) -> Response:
    # Normal network life (a closed laptop, a killed script), not a server fault: no traceback.
    # Nobody reads the answer.
    log.debug("the client hung up during %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return api_error(500, "internal", "internal server error")
