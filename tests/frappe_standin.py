"""A stand-in Frappe Helpdesk site for the adapter's tests, built from
shared/frappe-helpdesk-observed.md (helpdesk v1.25.1 on Frappe 15.55.1) and, where the
observations are silent, from Frappe's and helpdesk's source (marked "source" below).

Two real servers on 127.0.0.1, as on a Frappe bench:

* the site (Starlette under uvicorn): the REST calls the adapter and the tests' site driver
  (tests/frappe_driver.py) make, with Frappe's answer shapes (``{"data": ...}``,
  ``{"message": ...}``, ``{}`` for ``clear``) and error bodies (``exc_type``, ``exception``,
  ``_server_messages``). ``HD Notification`` has no permission query: any agent reads and
  writes anyone's rows (observed, S8); only System Managers delete (doctype JSON).
* the socket.io server (python-socketio's AsyncServer under uvicorn, its own port, like
  Frappe's Node server on :9000): any namespace, checked as ``realtime/middlewares/
  authenticate.js`` does (namespace = site name, Origin host = Host, a Cookie header present,
  a ``sid`` or an ``Authorization`` header, credentials valid), rooms ``user:<id>``,
  ``website``, ``all`` and ``doctype:<doctype>`` after ``doctype_subscribe`` (agents only).

What it publishes (observed): on every ``HD Notification`` insert, update and (source)
delete, ``list_update {doctype, name, user: <who did it>}`` to the doctype room, i.e. to every
subscribed agent, for anyone's rows; ``doc_update`` to the document's room; nothing for the
recipient's own room except Frappe's generic ``notification {}`` after an assignment (a
Notification Log, from the worker, a little later); ``clear`` publishes nothing and does not
change ``modified``; a ``PUT`` does change it. ``helpdesk:new-ticket {}`` goes to ``website``.

It runs in a thread of its own with its own event loop (so tests may block on it) and can
restart the socket.io server alone (:meth:`FrappeStandin.restart_socketio`): rooms and
connections are lost and events published meanwhile go nowhere, as with a Node restart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NOTIFICATION = "HD Notification"
NOTIFICATION_FIELDS = (
    "read",
    "user_from",
    "user_to",
    "notification_type",
    "reference_ticket",
    "reference_comment",
    "message",
)
STANDARD_FIELDS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
AGENT_ROLES = frozenset({"Agent", "Agent Manager", "System Manager"})
MENTION = re.compile(r'data-id="([^"]+)"')


class FrappeError(Exception):
    """A Frappe exception: answered with ``status`` and Frappe's error body."""

    def __init__(self, status: int, exc_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exc_type = exc_type
        self.message = message

    def response(self) -> JSONResponse:
        if not self.message:
            # Raised bare (`raise frappe.AuthenticationError`): no message to show, and the
            # exception is the traceback's last line, the class name alone.
            body = {"exc_type": self.exc_type, "exception": f"frappe.exceptions.{self.exc_type}"}
            return JSONResponse(body, status_code=self.status)
        server_message = json.dumps(
            {"message": self.message, "title": "Message", "indicator": "red", "raise_exception": 1}
        )
        return JSONResponse(
            {
                "exc_type": self.exc_type,
                "exception": f"frappe.exceptions.{self.exc_type}: {self.message}",
                "_server_messages": json.dumps([server_message]),
            },
            status_code=self.status,
        )


def _not_permitted(what: str = "Not permitted") -> FrappeError:
    return FrappeError(403, "PermissionError", what)


@dataclass
class User:
    email: str
    full_name: str
    roles: set[str]
    password: str = ""
    api_key: str = ""
    api_secret: str = ""
    user_type: str = "System User"

    @property
    def is_agent(self) -> bool:
        return bool(self.roles & AGENT_ROLES)


GUEST = User("Guest", "Guest", set(), user_type="Website User")


@dataclass
class SiteData:
    """Everything the site stores (what MariaDB holds on a real bench)."""

    time_zone: str
    users: dict[str, User] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # sid → user
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)  # HD Agent: user → agent_name
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    skip_email_workflow: bool = False
    ticket_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def now(self) -> str:
        # Frappe stores naive datetimes in the system time zone; str() is its format.
        return str(datetime.now(ZoneInfo(self.time_zone)).replace(tzinfo=None))

    def user_by_key(self, key: str, secret: str) -> User | None:
        for user in self.users.values():
            if user.api_key and user.api_key == key and user.api_secret == secret:
                return user
        return None


def _hash_name() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def _hostname(value: str | None) -> str | None:
    # authenticate.js's get_hostname: the host part without the port.
    if not value:
        return None
    if "://" in value:
        value = value.split("/")[2]
    return value.split(":", 1)[0]


# --------------------------------------------------------------------------- the site


class FrappeStandin:
    """The stand-in site. ``with FrappeStandin() as site:``; ``site.url``, ``site.socketio_url``,
    ``site.name``; the Administrator's API key is ``site.admin_key`` / ``site.admin_secret``."""

    def __init__(
        self,
        *,
        name: str = "hd.localhost",
        time_zone: str = "Asia/Kolkata",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        worker_delay: float = 0.2,
    ) -> None:
        self.name = name
        self.data = SiteData(time_zone=time_zone)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.worker_delay = worker_delay
        self.admin_key = "adminkey" + secrets.token_hex(4)
        self.admin_secret = secrets.token_hex(8)
        self.data.users["Administrator"] = User(
            "Administrator",
            "Administrator",
            {"System Manager", "Administrator"},
            password="admin",
            api_key=self.admin_key,
            api_secret=self.admin_secret,
        )
        self.site_port = 0
        self.socketio_port = 0
        # As behind Frappe's nginx (its bench template), which sets X-Frappe-Site-Name to the
        # site's name on every request, REST and socket.io, whatever the client sent.
        self.proxy_sets_site_name = False
        # As Frappe's validate_api_key_secret since it raises on a wrong secret (source,
        # frappe/auth.py): `raise frappe.AuthenticationError`, with no message.
        self.bare_key_refusal = False
        self.published: list[tuple[str, str, dict[str, Any]]] = []  # (room, event, data)
        self.requests: list[tuple[str, str, str]] = []  # (method, path, user)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._site_server: uvicorn.Server | None = None
        self._site_task: asyncio.Task[None] | None = None
        self._sio: socketio.AsyncServer | None = None
        self._sio_server: uvicorn.Server | None = None
        self._sio_task: asyncio.Task[None] | None = None
        self._socket_users: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"

    @property
    def socketio_url(self) -> str:
        return f"http://127.0.0.1:{self.socketio_port}"

    def __enter__(self) -> FrappeStandin:
        self._thread.start()
        self._run(self._start_site())
        self._run(self._start_socketio())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self._stop_socketio())
            self._run(self._stop(self._site_server, self._site_task))
            self._run(self._cancel_leftovers())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    @staticmethod
    async def _cancel_leftovers() -> None:
        # Engine.IO's per-client tasks may outlive their server; end them before the loop.
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def restart_socketio(self) -> None:
        """Stop the socket.io server (every connection drops, rooms are forgotten) and start
        a new one on the same port, as a restart of Frappe's Node process does."""
        self._run(self._stop_socketio())
        self._run(self._start_socketio())

    def stop_socketio(self) -> None:
        self._run(self._stop_socketio())

    def start_socketio(self) -> None:
        self._run(self._start_socketio())

    def call(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``work()`` on the site's loop (to change data the way the site would)."""
        return self._run(work())

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout=20)

    async def _serve(self, app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        return server, task, bound

    async def _start_site(self) -> None:
        self._site_server, self._site_task, self.site_port = await self._serve(
            self._site_app(), self.site_port
        )

    async def _start_socketio(self) -> None:
        sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins="*",  # Frappe: cors origin true; authenticate.js checks hosts
            namespaces="*",
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
        )
        sio.on("connect", self._on_connect, namespace="*")
        sio.on("disconnect", self._on_disconnect, namespace="*")
        sio.on("doctype_subscribe", self._on_doctype_subscribe, namespace="*")
        sio.on("doctype_unsubscribe", self._on_doctype_unsubscribe, namespace="*")
        sio.on("doc_subscribe", self._on_doc_subscribe, namespace="*")
        self._socket_users = {}
        self._sio = sio
        app = socketio.ASGIApp(sio, socketio_path="socket.io")
        self._sio_server, self._sio_task, self.socketio_port = await self._serve(
            app, self.socketio_port
        )

    async def _stop_socketio(self) -> None:
        if self._sio is not None:
            # Node's exit closes every socket; python-socketio would wait for clients to go.
            for namespace in list(self._sio.manager.rooms):
                for sid in list(self._sio.manager.get_participants(namespace, None)):
                    await self._sio.disconnect(sid[0], namespace=namespace)
        await self._stop(self._sio_server, self._sio_task)
        self._sio = self._sio_server = self._sio_task = None

    @staticmethod
    async def _stop(server: uvicorn.Server | None, task: asyncio.Task[None] | None) -> None:
        if server is None or task is None:
            return
        server.should_exit = True
        server.force_exit = True
        await asyncio.wait_for(task, timeout=10)

    # ------------------------------------------------------------------ realtime

    async def _on_connect(
        self, namespace: str, sid: str, environ: Mapping[str, Any], auth: Any = None
    ) -> None:
        headers = {
            key[5:].lower().replace("_", "-"): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if self.proxy_sets_site_name:
            headers["x-frappe-site-name"] = self.name
        site = _hostname(headers.get("x-frappe-site-name")) or _hostname(
            headers.get("origin") or headers.get("host")
        )
        if namespace[1:] != site:
            raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")
        if _hostname(headers.get("host")) != _hostname(headers.get("origin")):
            raise socketio.exceptions.ConnectionRefusedError("Invalid origin")
        if not headers.get("cookie"):
            raise socketio.exceptions.ConnectionRefusedError("No cookie transmitted.")
        cookie = SimpleCookie(headers["cookie"])
        authorization = headers.get("authorization")
        if "sid" not in cookie and not authorization:
            raise socketio.exceptions.ConnectionRefusedError(
                "No authentication method used. Use cookie or authorization header."
            )
        try:  # frappe.realtime.get_user_info, called back with the same credentials
            user = self._authenticate(
                authorization, cookie["sid"].value if "sid" in cookie else None
            )
        except FrappeError as error:
            raise socketio.exceptions.ConnectionRefusedError(
                f"Unauthorized: {error.exc_type}"
            ) from None
        assert self._sio is not None
        self._socket_users[sid] = user.email
        await self._sio.enter_room(sid, f"user:{user.email}", namespace=namespace)
        await self._sio.enter_room(sid, "website", namespace=namespace)
        if user.user_type == "System User":
            await self._sio.enter_room(sid, "all", namespace=namespace)

    async def _on_disconnect(self, namespace: str, sid: str, reason: Any = None) -> None:
        self._socket_users.pop(sid, None)

    def _socket_user(self, sid: str) -> User:
        return self.data.users.get(self._socket_users.get(sid, ""), GUEST)

    async def _on_doctype_subscribe(self, namespace: str, sid: str, doctype: Any = None) -> None:
        # can_subscribe_doctype needs read permission; a refusal is silent (observed, user C).
        if isinstance(doctype, str) and self._can_read(self._socket_user(sid), doctype):
            assert self._sio is not None
            await self._sio.enter_room(sid, f"doctype:{doctype}", namespace=namespace)

    async def _on_doctype_unsubscribe(self, namespace: str, sid: str, doctype: Any = None) -> None:
        if isinstance(doctype, str) and self._sio is not None:
            await self._sio.leave_room(sid, f"doctype:{doctype}", namespace=namespace)

    async def _on_doc_subscribe(
        self, namespace: str, sid: str, doctype: Any = None, name: Any = None
    ) -> None:
        if (
            isinstance(doctype, str)
            and isinstance(name, str)
            and self._can_read(self._socket_user(sid), doctype)
            and self._sio is not None
        ):
            await self._sio.enter_room(sid, f"doc:{doctype}/{name}", namespace=namespace)

    async def publish(self, event: str, data: dict[str, Any], room: str) -> None:
        """frappe.publish_realtime: to one room of the site's namespace (lost if the
        socket.io server is down, like Redis pub/sub with no subscriber)."""
        self.published.append((room, event, data))
        if self._sio is not None:
            await self._sio.emit(event, data, room=room, namespace=f"/{self.name}")

    async def _notify_update(self, row: Mapping[str, Any], actor: User) -> None:
        # Document.notify_update (after commit): list_update to the doctype room, doc_update
        # to the document's room.
        await self.publish(
            "doc_update",
            {"doctype": NOTIFICATION, "modified": row["modified"], "name": row["name"]},
            f"doc:{NOTIFICATION}/{row['name']}",
        )
        await self.publish(
            "list_update",
            {"doctype": NOTIFICATION, "name": row["name"], "user": actor.email},
            f"doctype:{NOTIFICATION}",
        )

    # ------------------------------------------------------------------ permissions

    def _authenticate(self, authorization: str | None, sid: str | None) -> User:
        if authorization:
            scheme, _space, value = authorization.partition(" ")
            key, _colon, secret = value.partition(":")
            user = self.data.user_by_key(key, secret) if scheme.lower() == "token" else None
            if user is None:
                message = "" if self.bare_key_refusal else "Invalid API key or secret"
                raise FrappeError(401, "AuthenticationError", message)
            return user
        if sid:
            return self.data.users.get(self.data.sessions.get(sid, ""), GUEST)
        return GUEST

    @staticmethod
    def _can_read(user: User, doctype: str) -> bool:
        if doctype in (NOTIFICATION, "HD Ticket", "HD Agent"):
            return user.is_agent
        return "System Manager" in user.roles

    # ------------------------------------------------------------------ data changes

    def _new_notification(
        self,
        actor: User,
        user_to: str,
        kind: str,
        ticket: str,
        comment: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        now = self.data.now()
        row = {
            "name": _hash_name(),
            "owner": actor.email,
            "creation": now,
            "modified": now,
            "modified_by": actor.email,
            "docstatus": 0,
            "idx": 0,
            "read": 0,
            "user_from": actor.email,
            "user_to": user_to,
            "notification_type": kind,
            "reference_ticket": ticket,
            "reference_comment": comment,
            "message": message,
        }
        self.data.notifications[row["name"]] = row
        return row

    async def insert_notification(
        self, actor: str, user_to: str, kind: str, ticket: str, **fields: Any
    ) -> dict[str, Any]:
        """A notification created the way helpdesk's code does (for tests that need one
        without a ticket flow); published like any insert."""
        user = self.data.users[actor]
        row = self._new_notification(user, user_to, kind, ticket, **fields)
        await self._notify_update(row, user)
        return row

    # ------------------------------------------------------------------ REST

    def _site_app(self) -> Starlette:
        routes = [
            Route("/api/method/login", self._login, methods=["POST"]),
            Route("/api/method/{method:path}", self._method, methods=["GET", "POST"]),
            Route("/api/resource/{doctype}", self._resource_list, methods=["GET", "POST"]),
            Route(
                "/api/resource/{doctype}/{name:path}",
                self._resource_doc,
                methods=["GET", "PUT", "DELETE"],
            ),
        ]
        return Starlette(routes=routes)

    async def _request_user(self, request: Request) -> User:
        site = request.headers.get("x-frappe-site-name")
        if site is not None and _hostname(site) != self.name and not self.proxy_sets_site_name:
            raise FrappeError(404, "DoesNotExistError", f"Site {site} does not exist")
        user = self._authenticate(request.headers.get("authorization"), request.cookies.get("sid"))
        self.requests.append((request.method, request.url.path, user.email))
        return user

    @staticmethod
    async def _arguments(request: Request) -> dict[str, Any]:
        arguments: dict[str, Any] = dict(request.query_params)
        if request.method in ("POST", "PUT"):
            raw = await request.body()
            if raw:
                if request.headers.get("content-type", "").startswith("application/json"):
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise FrappeError(417, "ValidationError", "Expected a JSON object")
                    arguments.update(body)
                else:
                    arguments.update((await request.form()).items())
        return arguments

    async def _guarded(self, work: Callable[[], Awaitable[Response]]) -> Response:
        try:
            return await work()
        except FrappeError as error:
            return error.response()
        except (ValueError, KeyError, TypeError) as error:
            return FrappeError(417, "ValidationError", f"Invalid request: {error}").response()

    async def _login(self, request: Request) -> Response:
        async def work() -> Response:
            arguments = await self._arguments(request)
            user = self.data.users.get(str(arguments.get("usr", "")))
            if user is None or not user.password or user.password != arguments.get("pwd"):
                # LoginManager.fail: the message goes into the response, then 401 (source).
                error = FrappeError(401, "AuthenticationError", "Invalid login credentials")
                response = error.response()
                body = json.loads(bytes(response.body))
                body["message"] = "Invalid login credentials"
                return JSONResponse(body, status_code=401)
            sid = secrets.token_hex(28)
            self.data.sessions[sid] = user.email
            response = JSONResponse(
                {"message": "Logged In", "home_page": "/app", "full_name": user.full_name}
            )
            response.set_cookie("sid", sid, httponly=True)
            response.set_cookie("system_user", "yes")
            response.set_cookie("full_name", user.full_name)
            response.set_cookie("user_id", user.email)
            return response

        return await self._guarded(work)

    def expire_sessions(self) -> None:
        """Every session ends (an expired ``sid`` makes the caller a Guest)."""
        self.data.sessions.clear()

    async def _method(self, request: Request) -> Response:
        async def work() -> Response:
            user = await self._request_user(request)
            method = request.path_params["method"]
            arguments = await self._arguments(request)
            handler = self._methods().get(method)
            if handler is None:
                raise FrappeError(404, "DoesNotExistError", f"Failed to get method {method}")
            result = await handler(user, arguments)
            return JSONResponse(result)

        return await self._guarded(work)

    def _methods(self) -> dict[str, Callable[[User, dict[str, Any]], Awaitable[dict[str, Any]]]]:
        return {
            "helpdesk.api.auth.get_user": self._get_user,
            "frappe.auth.get_logged_user": self._get_logged_user,
            "frappe.realtime.get_user_info": self._get_user_info,
            "frappe.client.get_count": self._get_count,
            "frappe.client.get_list": self._get_list,
            "helpdesk.helpdesk.doctype.hd_notification.utils.clear": self._clear,
            "run_doc_method": self._run_doc_method,
            "frappe.core.doctype.user.user.generate_keys": self._generate_keys,
        }

    @staticmethod
    def _logged_in(user: User) -> None:
        if user is GUEST:
            raise _not_permitted()

    async def _get_user(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        self._logged_in(user)
        return {
            "message": {
                "has_desk_access": user.is_agent,
                "is_admin": "System Manager" in user.roles,
                "is_agent": user.is_agent,
                "user_id": user.email,
                "user_name": user.full_name,
                "user_first_name": user.full_name.split(" ")[0],
                "username": user.email.partition("@")[0],
                "time_zone": None,
            }
        }

    async def _get_logged_user(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        self._logged_in(user)
        return {"message": user.email}

    async def _get_user_info(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "message": {
                "user": user.email,
                "user_type": user.user_type,
                "installed_apps": ["frappe", "telephony", "helpdesk"],
            }
        }

    async def _get_count(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        doctype = arguments["doctype"]
        query = {"filters": arguments.get("filters"), "fields": '["name"]', "limit_page_length": 0}
        rows = self._query(user, doctype, query)
        return {"message": len(rows)}

    async def _get_list(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        query = dict(arguments)
        query["limit_start"] = arguments.get("start", arguments.get("limit_start", 0))
        query["limit_page_length"] = arguments.get(
            "page_length", arguments.get("limit_page_length", 20)
        )
        return {"message": self._query(user, arguments["doctype"], query)}

    async def _clear(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        # hd_notification/utils.py: the caller's unread rows (by ticket / comment); extra
        # keyword arguments such as ``user`` are dropped; set_value without update_modified
        # and without notify_update: nothing is published (observed, S5/S6/S8/S12).
        self._logged_in(user)
        for row in self.data.notifications.values():
            if row["user_to"] != user.email or row["read"]:
                continue
            if arguments.get("ticket") and str(row["reference_ticket"]) != str(arguments["ticket"]):
                continue
            if arguments.get("comment") and row["reference_comment"] != arguments["comment"]:
                continue
            row["read"] = 1
        return {}

    async def _generate_keys(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        if "System Manager" not in user.roles:
            raise _not_permitted()
        target = self.data.users[str(arguments["user"])]
        if not target.api_key:
            target.api_key = secrets.token_hex(8)
        target.api_secret = secrets.token_hex(8)
        return {"message": {"api_secret": target.api_secret}}

    async def _run_doc_method(self, user: User, arguments: dict[str, Any]) -> dict[str, Any]:
        self._logged_in(user)
        if arguments.get("dt") != "HD Ticket":
            raise FrappeError(417, "ValidationError", "Only HD Ticket methods are implemented")
        ticket = self.data.tickets.get(str(arguments.get("dn")))
        if ticket is None:
            raise FrappeError(
                404, "DoesNotExistError", f"HD Ticket {arguments.get('dn')} not found"
            )
        if not user.is_agent:
            raise _not_permitted()
        args = arguments.get("args") or {}
        if isinstance(args, str):
            args = json.loads(args)
        method = arguments.get("method")
        if method == "assign_agent":
            await self._assign_agent(user, ticket, str(args["agent"]))
        elif method == "new_comment":
            await self._new_comment(user, ticket, str(args["content"]))
        else:
            raise FrappeError(403, "PermissionError", f"Method {method} is not whitelisted")
        return {"docs": [dict(ticket, doctype="HD Ticket")]}

    async def _assign_agent(self, user: User, ticket: dict[str, Any], agent: str) -> None:
        if agent not in self.data.users:
            raise FrappeError(404, "DoesNotExistError", f"User {agent} not found")
        ticket["_assign"] = json.dumps([agent])
        await self.publish(
            "list_update",
            {"doctype": "HD Ticket", "name": ticket["name"], "user": user.email},
            "doctype:HD Ticket",
        )
        if agent == user.email:
            return  # assigning to yourself notifies no one (helpdesk source)
        row = self._new_notification(user, agent, "Assignment", ticket["name"])
        await self._notify_update(row, user)

        async def notification_log() -> None:  # Frappe's own Notification Log, from the worker
            await asyncio.sleep(self.worker_delay)
            await self.publish("notification", {}, f"user:{agent}")

        task = asyncio.create_task(notification_log())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _new_comment(self, user: User, ticket: dict[str, Any], content: str) -> None:
        mentioned = [email for email in MENTION.findall(content) if email != user.email]
        if mentioned and not self.data.skip_email_workflow:
            # HDNotification.after_insert sends mail; with no Email Account it raises and the
            # whole request rolls back: neither comment nor notification (observed, S3).
            raise FrappeError(
                501,
                "OutgoingEmailError",
                "Please setup default Email Account from Settings > Email Account",
            )
        comment = {"name": _hash_name(), "reference_ticket": ticket["name"], "content": content}
        self.data.comments[comment["name"]] = comment
        for email in dict.fromkeys(mentioned):
            row = self._new_notification(
                user, email, "Mention", ticket["name"], comment=comment["name"], message=content
            )
            await self._notify_update(row, user)

    async def _resource_list(self, request: Request) -> Response:
        async def work() -> Response:
            user = await self._request_user(request)
            doctype = unquote(request.path_params["doctype"])
            arguments = await self._arguments(request)
            if request.method == "GET":
                return JSONResponse({"data": self._query(user, doctype, arguments)})
            return JSONResponse({"data": await self._insert(user, doctype, arguments)})

        return await self._guarded(work)

    async def _resource_doc(self, request: Request) -> Response:
        async def work() -> Response:
            user = await self._request_user(request)
            doctype = unquote(request.path_params["doctype"])
            name = unquote(request.path_params["name"])
            if doctype == "HD Settings" and request.method == "PUT":
                if "System Manager" not in user.roles:
                    raise _not_permitted()
                arguments = await self._arguments(request)
                self.data.skip_email_workflow = bool(arguments.get("skip_email_workflow"))
                settings = {"name": "HD Settings", "doctype": "HD Settings",
                            "skip_email_workflow": int(self.data.skip_email_workflow)}  # fmt: skip
                return JSONResponse({"data": settings})
            if doctype == "User" and request.method == "GET":
                if "System Manager" not in user.roles and user.email != name:
                    raise _not_permitted()
                target = self.data.users.get(name)
                if target is None:
                    raise FrappeError(404, "DoesNotExistError", f"User {name} not found")
                doc = {"name": target.email, "email": target.email, "doctype": "User",
                       "full_name": target.full_name, "api_key": target.api_key or None,
                       "roles": [{"role": r} for r in sorted(target.roles)]}  # fmt: skip
                return JSONResponse({"data": doc})
            if doctype != NOTIFICATION:
                raise FrappeError(404, "DoesNotExistError", f"{doctype} {name} not found")
            row = self.data.notifications.get(name)
            if request.method == "GET":
                if not self._can_read(user, NOTIFICATION):
                    raise _not_permitted()
                if row is None:
                    raise FrappeError(404, "DoesNotExistError", f"{NOTIFICATION} {name} not found")
                return JSONResponse({"data": _as_doc(row)})
            if request.method == "PUT":
                if not user.is_agent:  # write for Agent and System Manager, any row (S8)
                    raise _not_permitted()
                if row is None:
                    raise FrappeError(404, "DoesNotExistError", f"{NOTIFICATION} {name} not found")
                arguments = await self._arguments(request)
                for key, value in arguments.items():
                    if key in NOTIFICATION_FIELDS:
                        row[key] = int(value) if key == "read" else value
                row["modified"] = self.data.now()
                row["modified_by"] = user.email
                await self._notify_update(row, user)
                return JSONResponse({"data": _as_doc(row)})
            # DELETE: System Manager only (the doctype JSON gives Agent no delete).
            if "System Manager" not in user.roles:
                raise _not_permitted(f"No permission to delete {NOTIFICATION} {name}")
            if row is None:
                raise FrappeError(404, "DoesNotExistError", f"{NOTIFICATION} {name} not found")
            del self.data.notifications[name]
            await self._notify_update(row, user)  # delete_doc calls notify_update (source)
            return JSONResponse({"message": "ok"})

        return await self._guarded(work)

    async def _insert(self, user: User, doctype: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if doctype == "HD Ticket":
            self._logged_in(user)
            name = f"{next(self.data.ticket_numbers):04d}"
            now = self.data.now()
            ticket = {"name": name, "subject": str(arguments.get("subject", "")),
                      "description": str(arguments.get("description", "")),
                      "raised_by": arguments.get("raised_by") or user.email, "creation": now,
                      "modified": now, "status": "Open"}  # fmt: skip
            self.data.tickets[name] = ticket
            await self.publish("helpdesk:new-ticket", {}, "website")
            return dict(ticket, doctype="HD Ticket")
        if "System Manager" not in user.roles:
            raise _not_permitted()
        if doctype == "User":
            email = str(arguments["email"])
            roles = {str(r["role"]) for r in arguments.get("roles", [])}
            full_name = " ".join(
                str(arguments.get(k) or "") for k in ("first_name", "last_name")
            ).strip()
            self.data.users[email] = User(
                email,
                full_name or email,
                roles,
                password=str(arguments.get("new_password") or ""),
                user_type="System User" if roles else "Website User",
            )
            return {"name": email, "email": email, "full_name": full_name, "doctype": "User"}
        if doctype == "HD Agent":
            email = str(arguments["user"])
            target = self.data.users[email]
            target.roles.add("Agent")  # HDAgent.before_save gives the Agent role (source)
            target.user_type = "System User"
            self.data.agents[email] = str(arguments.get("agent_name") or target.full_name)
            return {"name": email, "user": email, "agent_name": self.data.agents[email],
                    "doctype": "HD Agent"}  # fmt: skip
        raise FrappeError(403, "PermissionError", f"Cannot insert {doctype} here")

    def _query(
        self, user: User, doctype: str, arguments: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """frappe.get_list for the doctypes the adapter reads (permissions, no query
        conditions: agents see every row, observed)."""
        if not self._can_read(user, doctype):
            raise _not_permitted(f"No permission to read {doctype}")
        if doctype == NOTIFICATION:
            rows = list(self.data.notifications.values())
        elif doctype == "HD Ticket":
            rows = list(self.data.tickets.values())
        elif doctype == "HD Agent":
            rows = [{"name": u, "user": u, "agent_name": n} for u, n in self.data.agents.items()]
        else:
            raise _not_permitted()
        fields = _json_arg(arguments.get("fields"), ["name"])
        known = set(rows[0]) if rows else set(STANDARD_FIELDS + NOTIFICATION_FIELDS)
        for name in fields:
            if name not in known and name != "*":
                raise FrappeError(417, "DataError", f"Field not permitted in query: {name}")
        for condition in _conditions(_json_arg(arguments.get("filters"), [])):
            rows = [row for row in rows if _matches(row, *condition)]
        for key, descending in reversed(_order(str(arguments.get("order_by") or "modified desc"))):
            rows.sort(key=lambda row, key=key: _sort_key(row.get(key)), reverse=descending)
        start = int(arguments.get("limit_start") or 0)
        length = int(arguments.get("limit_page_length", 20) or 0)
        rows = rows[start : start + length] if length else rows[start:]
        if fields == ["*"]:
            return [dict(row) for row in rows]
        return [{name: row.get(name) for name in fields} for row in rows]


def _as_doc(row: Mapping[str, Any]) -> dict[str, Any]:
    # doc.as_dict() as the REST API returns it: no null fields, plus the doctype (observed S7).
    doc = {key: value for key, value in row.items() if value is not None}
    doc["doctype"] = NOTIFICATION
    return doc


def _json_arg(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    return json.loads(value) if isinstance(value, str) else value


def _conditions(filters: Any) -> list[tuple[str, str, Any]]:
    if isinstance(filters, dict):
        return [
            (key, *value) if isinstance(value, list) else (key, "=", value)
            for key, value in filters.items()
        ]
    conditions = []
    for item in filters:
        if len(item) == 4:  # [doctype, field, op, value]
            item = item[1:]
        conditions.append((str(item[0]), str(item[1]), item[2]))
    return conditions


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if re.match(r"^\d{4}-\d\d-\d\d", value) else value
        except ValueError:
            return value
    return value


def _matches(row: Mapping[str, Any], field_name: str, op: str, value: Any) -> bool:
    actual = row.get(field_name)
    if field_name == "read" and value is not None:
        value = int(value)
    if op in ("in", "not in"):
        values = value.split(",") if isinstance(value, str) else list(value)
        inside = str(actual) in {str(v) for v in values}
        return inside if op == "in" else not inside
    left, right = _comparable(actual), _comparable(value)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    return comparisons[op](left, right)


def _order(order_by: str) -> list[tuple[str, bool]]:
    keys = []
    for part in order_by.split(","):
        words = part.replace("`", "").split()
        if words:
            name = words[0].split(".")[-1]
            keys.append((name, len(words) > 1 and words[1].lower() == "desc"))
    return keys


def _sort_key(value: Any) -> tuple[int, str]:
    # Datetimes before anything else that is not one (never mixed on a real site, whose
    # columns are typed; tests plant odd values), each compared as text.
    comparable = _comparable(value)
    if comparable is None:
        return (0, "")
    if isinstance(comparable, datetime):
        return (1, comparable.isoformat())
    return (2, str(comparable))


__all__ = ["FrappeError", "FrappeStandin", "SiteData", "User"]
