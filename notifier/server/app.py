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
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from notifier.core import wire
from notifier.server import actions, repository, web
from notifier.server.actions import Links, Outcome
from notifier.server.db import Database
from notifier.server.hub import Hub, Published, Subscription
from notifier.server.repository import ActionError, User

log = logging.getLogger(__name__)

API: Final = "/api/v1"
STREAM_PATH: Final = f"{API}/stream"
RESUME_TIMEOUT_S: Final = 10.0
STREAM_BATCH: Final = 500
SESSION_COOKIE: Final = "helpdesk_session"
# Close codes of the stream (RFC 6455 and the application range).
CLOSE_POLICY: Final = 1008
CLOSE_RESET: Final = 4000

Handler = Callable[[Request], Awaitable[Response]]

# Set in the connection's task when the stream refuses a handshake on purpose (401 / 403).
_denied_handshake: ContextVar[bool] = ContextVar("denied_handshake", default=False)


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
class Endpoint:
    """One HTTP route and what the OpenAPI document says about it."""

    method: str
    path: str
    handler: Handler
    summary: str
    auth: str  # "agent" | "customer" | "user" (either) | "session" | "none"
    request: str | None = None  # component schema of the JSON body
    response: str | None = None  # component schema of the 2xx JSON body, "html", "redirect"
    query: tuple[tuple[str, str], ...] = ()  # (name, description) integer query parameters
    errors: tuple[int, ...] = ()
    tag: str = "helpdesk"
    extra: dict[str, Any] = field(default_factory=dict)


def api_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(wire.ApiError(code=code, message=message).to_json(), status_code=status)


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

    def __init__(self, database: Database, public_url: str) -> None:
        self.database = database
        self.hub = Hub()
        self.links = Links(public_url)

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

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > wire.MAX_FRAME_BYTES:
            raise ActionError(413, "too_large", f"the body exceeds {wire.MAX_FRAME_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > wire.MAX_FRAME_BYTES:
                raise ActionError(
                    413, "too_large", f"the body exceeds {wire.MAX_FRAME_BYTES} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _json(self, request: Request, *, required: bool = True) -> dict[str, Any]:
        raw = await self._body(request)
        if not raw.strip():
            if required:
                raise ActionError(400, "bad_request", "a JSON object body is required")
            return {}
        try:
            data = wire.decode_json(raw)
        except ValueError as exc:
            # WireError, or json's own ValueError for an integer literal over Python's
            # 4,300-digit limit, which decode_json lets through.
            code = exc.code if isinstance(exc, wire.WireError) else "malformed_json"
            raise ActionError(400, code, str(exc)) from None
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

    async def _run_action(self, function: Callable[..., Outcome], *args: object) -> Outcome:
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

    # ----------------------------------------------------------------- auth and me

    async def _sign_in(self, username: str, password: str, purpose: str) -> str | None:
        """A new token for a correct agent username and password, else None."""
        record = await self.database.run(repository.password_record, username)
        user = await asyncio.to_thread(repository.verify_password, record, password)
        if user is None:
            return None
        return await self.database.run(repository.create_token, user.id, purpose)

    async def issue_token(self, request: Request) -> Response:
        data = await self._json(request)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ActionError(400, "invalid_field", "username and password must be strings")
        token = await self._sign_in(username, password, "api")
        if token is None:
            raise ActionError(401, "unauthorized", "wrong username or password")
        return JSONResponse({"token": token})

    async def me(self, request: Request) -> Response:
        user = await self._user(request)
        return JSONResponse({**user.info().to_json(), "kind": user.kind})

    async def get_preferences(self, request: Request) -> Response:
        user = await self._agent(request)
        preferences = await self.database.run(repository.get_preferences, user.id)
        return JSONResponse(preferences.to_json())

    async def put_preferences(self, request: Request) -> Response:
        user = await self._agent(request)
        preferences = repository.validate_preferences(await self._json(request))
        stored = await self.database.run(repository.put_preferences, user.id, preferences)
        return JSONResponse(stored.to_json())

    # ----------------------------------------------------------------- notifications

    async def list_notifications(self, request: Request) -> Response:
        user = await self._agent(request)
        after_seq = self._int_query(request, "after_seq", 0, 0, repository.MAX_SEQ)
        limit = self._int_query(request, "limit", 100, 1, wire.MAX_PAGE_LIMIT)
        page = await self.database.run(
            repository.list_notifications, user.id, after_seq, limit, self.public_url
        )
        return JSONResponse(page.to_json())

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
        outcome = await self._run_action(actions.create_ticket, user, data, self.links)
        return self._done(outcome, 201)

    async def _ticket_action(
        self,
        request: Request,
        function: Callable[..., Outcome],
        *,
        body: bool = True,
        status: int = 200,
    ) -> Response:
        user = await self._user(request)
        ticket_id = request.path_params["id"]
        if body:
            data = await self._json(request, required=False)
            outcome = await self._run_action(function, user, ticket_id, data, self.links)
        else:
            outcome = await self._run_action(function, user, ticket_id, self.links)
        return self._done(outcome, status)

    async def assign(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.assign)

    async def comment(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.comment, status=201)

    async def reply(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.reply, status=201)

    async def resolve(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.resolve, body=False)

    async def reopen(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.reopen)

    async def view(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.view, body=False)

    async def get_ticket(self, request: Request) -> Response:
        user = await self._user(request)
        page = await self.database.run(
            actions.ticket_page, user, request.path_params["id"], self.links
        )
        return JSONResponse(page)

    async def edit_comment(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.edit_comment)

    async def react(self, request: Request) -> Response:
        return await self._ticket_action(request, actions.react)

    # ----------------------------------------------------------------- web pages

    async def _session_user(self, request: Request) -> User | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        return await self.database.run(repository.user_for_token, token, "session")

    def _to_login(self, request: Request) -> Response:
        target = request.url.path
        return RedirectResponse(web.login_url(target), status_code=303)

    async def login_form(self, request: Request) -> Response:
        return HTMLResponse(web.login_page(safe_next(request.query_params.get("next")), None))

    async def login(self, request: Request) -> Response:
        form = web.parse_form(await self._body(request))
        target = safe_next(form.get("next"))
        token = await self._sign_in(form.get("username", ""), form.get("password", ""), "session")
        if token is None:
            return HTMLResponse(
                web.login_page(target, "Wrong username or password."), status_code=401
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=self.public_url.startswith("https://"),
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await self.database.run(repository.revoke_token, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(self, request: Request) -> Response:
        user = await self._session_user(request)
        if user is None:
            return self._to_login(request)
        return HTMLResponse(web.home_page(user))

    async def ticket_web(self, request: Request) -> Response:
        user = await self._session_user(request)
        if user is None:
            return self._to_login(request)
        try:
            outcome = await self.database.run(
                actions.view, user, request.path_params["id"], self.links
            )
        except ActionError as exc:
            return HTMLResponse(web.error_page(exc.message), status_code=exc.status)
        self.hub.wake(outcome.woken)
        return HTMLResponse(web.ticket_page(outcome.body))

    async def comment_web(self, request: Request) -> Response:
        user = await self._session_user(request)
        if user is None:
            return self._to_login(request)
        try:
            ticket_id, comment_id = await self.database.run(
                actions.comment_ticket, user, request.path_params["id"]
            )
        except ActionError as exc:
            return HTMLResponse(web.error_page(exc.message), status_code=exc.status)
        return RedirectResponse(f"/tickets/{ticket_id}#comment-{comment_id}", status_code=303)

    async def openapi(self, request: Request) -> Response:
        from notifier.server.openapi import build_document

        return JSONResponse(build_document(self.endpoints(), self.public_url))

    # ----------------------------------------------------------------- the stream

    async def stream(self, websocket: WebSocket) -> None:
        token = bearer_token(websocket.headers.get("authorization"))
        user = await self.database.run(repository.user_for_token, token) if token else None
        if user is None or not user.is_agent:
            _denied_handshake.set(True)
            await websocket.send_denial_response(
                api_error(401, "unauthorized", "a valid Bearer token is required")
                if user is None
                else api_error(403, "forbidden", "the stream is for agents")
            )
            return
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await self._serve_stream(websocket, user)

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
            resume = wire.ResumeRequest.parse(first.get("text") or first.get("bytes") or b"")
        except ValueError as exc:  # WireError, or an integer over Python's digit limit
            await self._send(websocket, wire.ErrorEvent("bad_message", str(exc)))
            await websocket.close(CLOSE_POLICY)
            return
        with self.hub.subscribe(user.id) as wake:
            reader = asyncio.create_task(_drain_client_frames(websocket))
            try:
                await self._stream_events(websocket, user, resume.after_seq, wake, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError):
                    await reader

    async def _stream_events(
        self,
        websocket: WebSocket,
        user: User,
        cursor: int,
        wake: Subscription,
        reader: asyncio.Task[None],
    ) -> None:
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
                for seq, kind, payload in batch.events:
                    await self._send(
                        websocket,
                        repository.render_event(user.id, seq, kind, payload, self.public_url),
                    )
                    cursor = seq
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
        return [
            Endpoint(
                "POST",
                f"{API}/auth/token",
                self.issue_token,
                "Exchange an agent's username and password for an API token",
                "none",
                request="Credentials",
                response="Token",
                errors=(400, 401, 413),
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
                    ("after_seq", "return notifications with a greater seq (≥ 0)"),
                    ("limit", "page size, 1..500, default 100"),
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
                errors=ticket_errors,
            ),
            Endpoint(
                "GET",
                f"{t}/{{id}}",
                self.get_ticket,
                "A ticket with its comments and replies (does not mark anything read)",
                "user",
                response="TicketPage",
                errors=(401, 404),
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
                errors=ticket_errors,
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
                "The ticket's customer reopens it (notifies the assigned agent)",
                "customer",
                request="OptionalBody",
                response="Ticket",
                errors=(401, 403, 404, 409, 413, 422),
            ),
            Endpoint(
                "POST",
                f"{t}/{{id}}/view",
                self.view,
                "The agent viewed the ticket: marks their notifications about it read",
                "agent",
                response="TicketPage",
                errors=(401, 403, 404),
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
                self.home,
                "Web: home page (signed-in agents)",
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
                "Web: sign in (form: username, password, next); sets an HttpOnly,"
                " SameSite=Lax session cookie",
                "none",
                response="redirect",
                tag="web",
                extra={"form": True},
            ),
            Endpoint(
                "POST",
                "/logout",
                self.logout,
                "Web: sign out",
                "session",
                response="redirect",
                tag="web",
            ),
            Endpoint(
                "GET",
                "/tickets/{id}",
                self.ticket_web,
                "Web: the ticket page; viewing it marks the agent's notifications about it read",
                "session",
                response="html",
                tag="web",
            ),
            Endpoint(
                "GET",
                "/comments/{id}",
                self.comment_web,
                "Web: redirects to the comment's anchor on its ticket page",
                "session",
                response="redirect",
                tag="web",
            ),
            *AdminApi(self).endpoints(),
        ]

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route(e.path, e.handler, methods=[e.method]) for e in self.endpoints()
        ]
        routes.append(WebSocketRoute(STREAM_PATH, self.stream))
        return routes

    def build(self) -> Starlette:
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DeniedHandshakeFilter) for f in uvicorn_errors.filters):
            uvicorn_errors.addFilter(_DeniedHandshakeFilter())
        return Starlette(
            routes=self.routes(),
            exception_handlers={
                ActionError: _action_error,
                HTTPException: _http_error,
                Exception: _internal_error,
            },
        )


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


async def _action_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ActionError)
    return api_error(exc.status, exc.code, exc.message)


_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return api_error(exc.status_code, code, str(exc.detail))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return api_error(500, "internal", "internal server error")
