"""The helpdesk's web pages for agents and customers (issue 12): Jinja2 templates, one
stylesheet and one small script served from the package, no request to any other origin.

* Every page is server-rendered from ``templates/`` (autoescaped); the script only adds live
  updates, state changes without a reload, swipes and the @mention picker.
* Every state change is a POST carrying the session's form token (:func:`web.session_csrf`,
  derived from the session cookie, which another site can neither read nor send: the cookie is
  SameSite=Strict). The one change on a GET is the spec's: viewing a ticket marks the viewer's
  notifications about it read.
* The rules are those of the REST API: each form runs the same :mod:`actions` or
  :mod:`repository` function as its REST endpoint.
* The live bell and list use the agent's event stream with the session cookie
  (:meth:`HelpdeskApp.stream` checks the Origin); no token ever appears in a page or URL.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import functools
import re
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from notifier.core import text, wire
from notifier.server import actions, admin_form, outbox, repository, settings, web
from notifier.server.actions import Outcome
from notifier.server.db import transaction
from notifier.server.repository import ActionError, User

if TYPE_CHECKING:
    from notifier.server.app import HelpdeskApp

PRODUCT: Final = "Notifier Helpdesk"
NOTIFICATIONS_SHOWN: Final = 200
MAILS_SHOWN: Final = 100
ADMIN_AUDIT_SHOWN: Final = 20
MAX_ID: Final = repository.MAX_SEQ
TICKET_SCOPES: Final = (("mine", "Assigned to me"), ("team", "My team's"), ("open", "All"))
CUSTOMERS_ONLY: Final = (
    "Customers open their tickets here; agents open one for a customer over the API."
)
TICKET_STATUSES: Final = (("open", "Open"), ("resolved", "Resolved"), ("all", "Any status"))
# (type, tab label, what its empty list says it has none of), in the tray popup's words:
# the wire's "reaction" type is also a customer's reply or reopening, so "Ticket updates".
NOTIFICATION_FILTERS: Final = (
    ("", "All types", "notifications"),
    ("assignment", "Assignments", "assignments"),
    ("mention", "Mentions", "mentions"),
    ("reaction", "Ticket updates", "ticket updates"),
)
_ICONS: Final = resources.files("notifier.resources")
_STATIC: Final = resources.files("notifier.server").joinpath("static")
_FILE_NAME: Final = re.compile(r"^[a-z0-9_-]{1,64}\.(css|js|svg)$")
_CONTENT_TYPES: Final = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
# The files change only with the package; a short cache keeps pages fast without going stale.
STATIC_MAX_AGE_S: Final = 300


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return wire.parse_timestamp(value)


def ago(value: str | datetime) -> str:
    """ "5 minutes ago" (the exact time is the element's title)."""
    try:
        return text.relative_time(parse_time(value), datetime.now(UTC))
    except ValueError:
        return str(value)


def exact(value: str | datetime) -> str:
    try:
        return parse_time(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(value)


# A web address in a text: http(s), up to a space or a character that cannot be in one;
# punctuation at its end is the sentence's ("see https://x.example/a.").
_WEB_ADDRESS: Final = re.compile(r"\bhttps?://[^\s<>\"'`]+")
_SENTENCE_END: Final = ".,;:!?)]}»’”"


def linked(value: str) -> Markup:
    """A person's text with its web addresses as links (everything escaped; only http and
    https; opened without telling the target where from)."""
    pieces: list[str] = []
    last = 0
    for found in _WEB_ADDRESS.finditer(value):
        address = found.group(0).rstrip(_SENTENCE_END)
        if "(" in address and found.group(0)[len(address) : len(address) + 1] == ")":
            address += ")"  # https://en.wikipedia.org/wiki/Bell_(instrument)
        start, end = found.start(), found.start() + len(address)
        pieces.append(escape(value[last:start]))
        target = escape(address)
        pieces.append(f'<a href="{target}" rel="noopener noreferrer nofollow">{target}</a>')
        last = end
    pieces.append(escape(value[last:]))
    return Markup("".join(pieces))  # noqa: S704 (every piece escaped above)


_SVG_ROOT: Final = re.compile(r'<svg\b[^>]*\bviewBox="([^"]+)"[^>]*>(.*)</svg>', re.S)
_SVG_COMMENT: Final = re.compile(r"<!--.*?-->", re.S)


@functools.cache
def icon_sprite() -> Markup:
    """Every icon of resources/ as a ``<symbol id="icon-NAME">`` of one hidden inline SVG,
    which each page carries once and its rows and header draw with ``<use>``: an ``<img>``
    per icon cost the browser a request and an SVG document of its own each, on the main
    thread before the page's first paint (benchmarks/README.md, "Web pages")."""
    symbols = []
    for entry in sorted(_ICONS.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".svg"):
            continue
        found = _SVG_ROOT.search(entry.read_text(encoding="utf-8"))
        if found is None:
            raise ValueError(f"{entry.name}: not an <svg> with a viewBox")
        body = " ".join(_SVG_COMMENT.sub("", found.group(2)).split())
        symbols.append(
            f'<symbol id="icon-{entry.name[:-4]}" viewBox="{found.group(1)}">{body}</symbol>'
        )
    return Markup(  # noqa: S704 (the package's own icon files, read once)
        '<svg class="sprite" xmlns="http://www.w3.org/2000/svg" aria-hidden="true">'
        + "".join(symbols)
        + "</svg>"
    )


_TICKET_PATH: Final = re.compile(r"^/tickets/(\d{1,18})(?:[?#].*)?$")
_DESTINATIONS: Final = {
    "/": "your tickets",
    "/notifications": "your notifications",
    "/admin": "the system settings",
    "/mail": "the demo's mail",
}


def destination(path: str) -> str:
    """Where signing in leads, in words: "ticket #7", "your notifications"."""
    found = _TICKET_PATH.match(path)
    if found:
        return f"ticket #{found.group(1)}"
    return _DESTINATIONS.get(re.split(r"[?#]", path, maxsplit=1)[0], f"the page {path}")


def local_link(notification: wire.Notification) -> str:
    """The notification's target on this site, as a path (the page is always on this origin)."""
    anchor = f"#comment-{notification.comment.id}" if notification.comment else ""
    return f"/tickets/{notification.ticket.id}{anchor}"


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("notifier.server", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["ago"] = ago
    environment.filters["exact"] = exact
    environment.filters["linked"] = linked
    environment.globals.update(
        product=PRODUCT,
        summary=text.summary_line,
        excerpt=text.excerpt,
        icon_name=text.icon_name,
        icon_sprite=icon_sprite,
        reason=text.reason_label,
        local=local_link,
        destination=destination,
    )
    return environment


def read_mails(
    folder: Path, limit: int = MAILS_SHOWN, *, to: str | None = None
) -> list[dict[str, str]]:
    """The newest ``.eml`` files of the demo's mail catcher, parsed for the mail page: the
    subject, the recipient's name, when (ISO, "" if unreadable), the first line of the text
    (what the mail is about: a ticket's mails share one subject) and the text. ``to``: only
    the mails to that address (case-insensitive)."""
    found: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.eml"), reverse=True):
        if len(found) >= limit:
            break
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        name, address = email.utils.parseaddr(str(message.get("to", "")))
        if to is not None and address.lower() != to.lower():
            continue
        part = message.get_body(preferencelist=("plain", "html"))
        content = part.get_content().replace("\r\n", "\n") if part is not None else ""
        found.append(
            {
                "subject": str(message.get("subject", "(no subject)")),
                "to": name or address,
                "sent_at": _mail_time(str(message.get("date", ""))),
                "first_line": " ".join(content.split("\n\n", 1)[0].split()),
                "text": content,
            }
        )
    return found


def _own_address(connection: sqlite3.Connection, user: User) -> str:
    return outbox.email_address(connection, user.id) or ""


def _mail_time(header: str) -> str:
    try:
        return email.utils.parsedate_to_datetime(header).astimezone(UTC).isoformat()
    except (TypeError, ValueError):
        return ""


class WebPages:
    """The page handlers; they share the app's database, hub, sign-in and limits."""

    def __init__(self, app: HelpdeskApp, mail_dir: Path | None = None) -> None:
        self.app = app
        self.mail_dir = mail_dir
        self.templates = _environment()

    # ----------------------------------------------------------------- rendering

    def render(self, name: str, code: int = 200, /, **context: Any) -> HTMLResponse:
        context.setdefault("me", None)
        context.setdefault("mail_page", self.mail_dir is not None)
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=code)

    async def _page(
        self, request: Request, user: User, name: str, page: str, /, code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A signed-in page: the header's bell and the session's form token added."""
        bell: dict[str, int] = {}
        if user.is_agent:
            # Opening the notification center is looking at it: the "new" mark goes.
            looked = MAX_ID if page == "notifications" else 0
            bell = await self.app.database.run(bell_state, user.id, looked)
        return self.render(
            name,
            code,
            me=user,
            bell=bell,
            page=page,
            csrf=web.session_csrf(request.cookies.get(self.app.session_cookie, "")),
            **context,
        )

    def error(self, request: Request, message: str, status: int) -> HTMLResponse:
        return self.render("error.html", status, message=message)

    async def sorry(self, request: Request, message: str, status: int) -> Response:
        """The error page, with the header of whoever is signed in (else the bare one)."""
        user = await self.app.session_user(request)
        if user is None:
            return self.error(request, message, status)
        return await self._sorry(request, user, message, status)

    async def _sorry(self, request: Request, user: User, message: str, status: int) -> Response:
        """The error page for someone signed in: with the header (menu, bell, sign-out), so
        they are not stranded on it."""
        return await self._page(request, user, "error.html", "error", code=status, message=message)

    async def _signed_in(self, request: Request, *, agent: bool = False) -> User | Response:
        user = await self.app.session_user(request)
        if user is None:
            return self.app.to_login(request)
        if agent and not user.is_agent:
            return await self._sorry(request, user, "This page is for agents.", 403)
        return user

    async def _form(self, request: Request, *, agent: bool = False) -> tuple[User, dict[str, str]]:
        """The signed-in user and the posted form, if its token is this session's: else an
        ActionError (403), so a cross-site post changes nothing."""
        user = await self.app.session_user(request)
        form = web.parse_form(await self.app.read_body(request))
        if form is None:
            raise ActionError(400, "bad_request", web.REPEATED_FIELD)
        token = request.cookies.get(self.app.session_cookie, "")
        if user is None or not web.same_token(form.get("csrf", ""), web.session_csrf(token)):
            raise ActionError(403, "forbidden", "this form has expired or came from another site")
        if agent and not user.is_agent:
            raise ActionError(403, "forbidden", "this is for agents")
        return user, form

    # ----------------------------------------------------------------- pages

    async def home(self, request: Request) -> Response:
        user = await self._signed_in(request)
        if isinstance(user, Response):
            return user
        scope = request.query_params.get("scope", "mine")
        if scope not in actions.TICKET_SCOPES:
            scope = "mine"
        status = request.query_params.get("status", "open")
        if status not in ("open", "resolved", "all"):
            status = "open"
        tickets = await self.app.database.run(actions.ticket_list, user, scope, status)
        return await self._page(
            request,
            user,
            "home.html",
            "home",
            tickets=tickets,
            scope=scope,
            status=status,
            scopes=TICKET_SCOPES,
            statuses=TICKET_STATUSES,
        )

    async def new_ticket(self, request: Request) -> Response:
        user = await self._signed_in(request)
        if isinstance(user, Response):
            return user
        if user.is_agent:
            return await self._sorry(request, user, CUSTOMERS_ONLY, 403)
        return await self._new_ticket_page(request, user)

    async def _new_ticket_page(
        self,
        request: Request,
        user: User,
        code: int = 200,
        *,
        form: Mapping[str, str] | None = None,
        problem: str = "",
        invalid: str = "",
    ) -> HTMLResponse:
        """The form; after a refusal (``code`` 422) with what was typed, why, and which field
        (``invalid``) it is about."""
        form = form or {}
        return await self._page(
            request,
            user,
            "new_ticket.html",
            "new_ticket",
            code,
            subject=form.get("subject", ""),
            draft=form.get("body", ""),
            problem=problem,
            invalid=invalid,
            subject_limit=wire.MAX_SUBJECT_CHARS,
            body_limit=actions.MAX_BODY_CHARS,
        )

    async def create_ticket(self, request: Request) -> Response:
        """A customer opens a ticket: to its page (303); a refused text comes back in the
        form with why (422)."""
        user: User | None = None
        form: dict[str, str] = {}
        try:
            user, form = await self._form(request)
            if user.is_agent:
                raise ActionError(403, "forbidden", CUSTOMERS_ONLY)
            data = {"subject": form.get("subject", ""), "body": form.get("body", "")}
            with self.app.counted_write(user):
                outcome = await self.app.run_action(
                    actions.create_ticket, user, data, self.app.links
                )
        except ActionError as exc:
            if user is not None and exc.status == 422:
                return await self._new_ticket_page(
                    request,
                    user,
                    422,
                    form=form,
                    problem=_text_problem(exc.message),
                    invalid="subject" if exc.message.startswith("subject") else "body",
                )
            return await self._refused(request, exc)
        self.app.announce(outcome.appended, outcome.woken)
        if _wants_json(request):
            return JSONResponse(outcome.body, status_code=201)
        return RedirectResponse(f"/tickets/{outcome.body['id']}", status_code=303)

    async def ticket(self, request: Request) -> Response:
        user = await self._signed_in(request)
        if isinstance(user, Response):
            return user
        return await self._ticket_page(request, user, request.path_params["id"])

    async def _ticket_page(
        self,
        request: Request,
        user: User,
        ticket_id: str,
        code: int = 200,
        *,
        draft: str = "",
        problem: str = "",
    ) -> Response:
        """The ticket page; after a refused comment (``code`` 422) with what was typed
        (``draft``) back in the box and why next to it (``problem``)."""
        try:
            # The page shows the most a request may ask for: a notification's link
            # (#comment-N) is then on the first page for any thread of a usual length.
            comments = self.app.comments_page(request, actions.COMMENTS_PAGE_MAX)
            if user.is_agent:
                outcome = await self.app.run_action(
                    actions.view, user, ticket_id, self.app.links, comments
                )
                self.app.announce(outcome.appended, outcome.woken)
                ticket = outcome.body
            else:
                ticket = await self.app.database.run(
                    actions.ticket_page, user, ticket_id, self.app.links, comments
                )
            extra = await self.app.database.run(_ticket_extra, user, ticket)
        except ActionError as exc:
            return await self._sorry(request, user, exc.message, exc.status)
        return await self._page(
            request,
            user,
            "ticket.html",
            "ticket",
            code=code,
            t=ticket,
            draft=draft,
            problem=problem,
            body_limit=actions.MAX_BODY_CHARS,
            after=comments.after,
            emojis=actions.REACTION_EMOJIS,
            **extra,
        )

    async def notifications(self, request: Request) -> Response:
        user = await self._signed_in(request, agent=True)
        if isinstance(user, Response):
            return user
        return await self._page(
            request, user, "notifications.html", "notifications", **await self._list(request, user)
        )

    async def notification_list(self, request: Request) -> Response:
        """The list alone: what the script swaps in when the stream says something changed."""
        user = await self._signed_in(request, agent=True)
        if isinstance(user, Response):
            return user
        token = request.cookies.get(self.app.session_cookie, "")
        return self.render(
            "notification_list.html",
            csrf=web.session_csrf(token),
            **await self._list(request, user),
        )

    async def _list(self, request: Request, user: User) -> dict[str, Any]:
        show = "unread" if request.query_params.get("show") == "unread" else "all"
        try:
            kind = wire.NotificationType(request.query_params.get("type", ""))
        except ValueError:
            kind = None
        found = await self.app.database.run(
            lambda connection: repository.recent_notifications(
                connection,
                user.id,
                self.app.public_url,
                limit=NOTIFICATIONS_SHOWN,
                unread_only=show == "unread",
                kind=kind,
            )
        )
        return {
            "notifications": found,
            "show": show,
            "kind": kind.value if kind else "",
            "filters": NOTIFICATION_FILTERS,
        }

    async def mail(self, request: Request) -> Response:
        user = await self._signed_in(request, agent=True)
        if isinstance(user, Response):
            return user
        if self.mail_dir is None:
            return await self._sorry(request, user, "This helpdesk has no demo mail catcher.", 404)
        folder = self.mail_dir
        # An agent reads their own mail; every agent reading everyone's would hand them the
        # others' password-reset and e-mail settings links. The admin sees it all.
        own = None if user.is_admin else await self.app.database.run(_own_address, user)
        mails = await self.app.database.run(lambda _connection: read_mails(folder, to=own))
        return await self._page(request, user, "mail.html", "mail", mails=mails, only_to=own)

    async def static(self, request: Request) -> Response:
        return _package_file(_STATIC, request.path_params["name"])

    async def icon(self, request: Request) -> Response:
        return _package_file(_ICONS, request.path_params["name"])

    async def admin(self, request: Request) -> Response:
        """The system settings (admins): where new tickets go, the integer settings as a
        form, the default preferences, the audit's newest entries."""
        user = await self._signed_in(request, agent=True)
        if isinstance(user, Response):
            return user
        if not user.is_admin:
            return await self._sorry(request, user, "This page is for admins.", 403)
        return await self._admin_page(request, user)

    async def _admin_page(
        self,
        request: Request,
        user: User,
        code: int = 200,
        *,
        saved: str = "",
        failed: str = "",
        errors: Mapping[str, str] | None = None,
        posted_settings: Mapping[str, str] | None = None,
        posted_preferences: admin_form.PreferencesForm | None = None,
    ) -> HTMLResponse:
        """The admin page; after a refused post (``failed``: "new-tickets", "settings" or
        "preferences", ``code`` 422 or 409) with the posted values and ``errors`` by field id."""
        stored = await self.app.database.run(settings.load)
        audit = await self.app.database.run(settings.audit_page, ADMIN_AUDIT_SHOWN, MAX_ID)
        teams = await self.app.database.run(repository.team_names)
        current = stored.settings.to_json()
        return await self._page(
            request,
            user,
            "admin.html",
            "admin",
            code=code,
            stored=stored,
            int_settings=settings.INT_SETTINGS,
            values=posted_settings or {s.key: str(current[s.key]) for s in settings.INT_SETTINGS},
            team_settings=settings.TEAM_SETTINGS,
            teams=teams,
            no_team_words=admin_form.NO_TEAM_WORDS,
            prefs=posted_preferences
            or admin_form.PreferencesForm.of(stored.settings.default_preferences),
            days=admin_form.DAYS,
            types=admin_form.TYPES,
            frequencies=admin_form.FREQUENCIES,
            label_of=admin_form.label_of,
            help_of=admin_form.help_of,
            audit_label=admin_form.audit_label,
            via_words=admin_form.VIA_WORDS,
            audit=audit["entries"],
            audit_changes=admin_form.audit_changes,
            saved=saved,
            failed=failed,
            errors=errors or {},
        )

    async def _admin_form(self, request: Request) -> tuple[User, dict[str, str], int]:
        """An admin's posted settings form with its token checked, and the settings version
        the page showed."""
        user, form = await self._form(request, agent=True)
        if not user.is_admin:
            raise ActionError(403, "forbidden", "this is for admins")
        version = form.get("version", "")
        if not (version.isascii() and version.isdigit() and len(version) <= 18):
            raise ActionError(400, "invalid_field", "version must be an integer ≥ 0")
        return user, form, int(version)

    async def save_admin(self, request: Request) -> Response:
        """The integer settings form; every wrong field is named next to it (422)."""
        try:
            user, form, version = await self._admin_form(request)
        except ActionError as exc:
            return await self._refused(request, exc)
        changes, errors = admin_form.validate_settings(form)
        if errors:
            return await self._admin_page(
                request, user, 422, failed="settings", errors=errors, posted_settings=form
            )
        return await self._store_settings(request, user, changes, version, "settings")

    async def save_new_tickets(self, request: Request) -> Response:
        """The new-tickets form: the team a ticket opened without one goes to, or nobody."""
        try:
            user, form, version = await self._admin_form(request)
        except ActionError as exc:
            return await self._refused(request, exc)
        teams = await self.app.database.run(repository.team_names)
        changes, errors = admin_form.validate_team_settings(form, teams)
        if errors:
            return await self._admin_page(request, user, 422, failed="new-tickets", errors=errors)
        return await self._store_settings(request, user, changes, version, "new-tickets")

    async def save_default_preferences(self, request: Request) -> Response:
        """The default preferences form: what new agents start with."""
        try:
            user, form, version = await self._admin_form(request)
            posted = admin_form.PreferencesForm.posted(form)
        except ActionError as exc:
            return await self._refused(request, exc)
        value, errors = admin_form.validate_preferences(posted)
        if value is None:
            return await self._admin_page(
                request, user, 422, failed="preferences", errors=errors, posted_preferences=posted
            )
        changes = {settings.PREFERENCES_KEY: value}
        return await self._store_settings(request, user, changes, version, "preferences")

    async def _store_settings(
        self, request: Request, user: User, changes: dict[str, Any], version: int, form: str
    ) -> Response:
        """One new version if the page's ``version`` is still current, audited (``via``
        web) by the settings service the API and the CLI use; else the page again with the
        current settings and 409."""
        update = functools.partial(
            settings.update, expected_version=version, actor=user.username, via="web"
        )
        try:
            await self.app.database.run(update, changes)
        except ActionError as exc:
            if exc.status != 409:
                return await self._refused(request, exc)
            return await self._admin_page(request, user, 409, failed=form)
        return await self._admin_page(request, user, saved=form)

    # ----------------------------------------------------------------- notification changes

    async def bell(self, request: Request) -> Response:
        """The bell as JSON (``unread_count``, ``newest``, ``seen``): what a page asks when it
        is looked at again, so that a mark cleared in another browser clears here too."""
        user = await self.app.session_user(request)
        if user is None:
            raise ActionError(401, "unauthorized", "sign in first")
        if not user.is_agent:
            raise ActionError(403, "forbidden", "this is for agents")
        return JSONResponse(await self.app.database.run(bell_state, user.id, 0))

    async def seen(self, request: Request) -> Response:
        """The notification center was looked at with notifications up to ``up_to_seq`` on
        screen (the page's script says so while it is visible): the mark moves up to there."""
        try:
            user, form = await self._form(request, agent=True)
            up_to = _seq_field(form, "up_to_seq")
            bell = await self.app.database.run(bell_state, user.id, up_to)
        except ActionError as exc:
            return await self._refused(request, exc)
        if _wants_json(request):
            return JSONResponse(bell)
        return RedirectResponse("/notifications", status_code=303)

    async def _notification_change(
        self, request: Request, change: Callable[..., wire.ActionResult], *args: object
    ) -> Response:
        try:
            user, form = await self._form(request, agent=True)
            extra: tuple[object, ...] = args
            if change is repository.mark_all_read:
                extra = (_seq_field(form, "up_to_seq"),)
            elif change is repository.clear:
                extra = (wire.ClearScope.READ,)
            result = await self.app.database.run(change, user.id, *extra)
        except ActionError as exc:
            return await self._refused(request, exc)
        if result.changed:
            self.app.hub.wake([user.id])
        if _wants_json(request):
            return JSONResponse(result.to_json())
        return RedirectResponse("/notifications", status_code=303)

    async def _refused(self, request: Request, exc: ActionError) -> Response:
        if _wants_json(request):
            return JSONResponse(
                wire.ApiError(code=exc.code, message=exc.message).to_json(),
                status_code=exc.status,
            )
        return await self.sorry(request, exc.message, exc.status)

    async def mark_read(self, request: Request) -> Response:
        return await self._notification_change(
            request, repository.set_read, request.path_params["id"], True
        )

    async def mark_unread(self, request: Request) -> Response:
        return await self._notification_change(
            request, repository.set_read, request.path_params["id"], False
        )

    async def delete(self, request: Request) -> Response:
        return await self._notification_change(
            request, repository.delete, request.path_params["id"]
        )

    async def read_all(self, request: Request) -> Response:
        return await self._notification_change(request, repository.mark_all_read)

    async def clear(self, request: Request) -> Response:
        return await self._notification_change(request, repository.clear)

    # ----------------------------------------------------------------- ticket changes

    async def _ticket_change(
        self,
        request: Request,
        run: Callable[[User, dict[str, str]], tuple[Callable[..., Outcome], list[object]]],
        written_on: str | None = None,
    ) -> Response:
        """Check the form, run the action ``run`` picks with its arguments, go back to the
        ticket (303). A text refused (422) on ticket ``written_on`` comes back on its page,
        with why next to the box and nothing typed lost."""
        user: User | None = None
        form: dict[str, str] = {}
        try:
            user, form = await self._form(request)
            function, args = run(user, form)
            with self.app.counted_write(user):
                outcome = await self.app.run_action(function, user, *args)
        except ActionError as exc:
            if user is not None and written_on is not None and exc.status == 422:
                problem = _text_problem(exc.message)
                draft = form.get("body", "")
                return await self._ticket_page(
                    request, user, written_on, 422, draft=draft, problem=problem
                )
            return await self._refused(request, exc)
        self.app.announce(outcome.appended, outcome.woken)
        body = outcome.body
        if "emoji" in body:  # a reaction: back to its comment
            target = f"/comments/{body['comment_id']}"
        elif "kind" in body:  # a comment or reply: to it
            target = f"/tickets/{body['ticket_id']}#comment-{body['id']}"
        else:
            target = f"/tickets/{body['id']}"
        return RedirectResponse(target, status_code=303)

    async def comment(self, request: Request) -> Response:
        ticket_id = request.path_params["id"]
        links = self.app.links

        def run(user: User, form: dict[str, str]) -> tuple[Callable[..., Outcome], list[object]]:
            function = actions.answer_customer if form.get("kind") == "reply" else actions.comment
            return function, [ticket_id, {"body": form.get("body", "")}, links]

        return await self._ticket_change(request, run, ticket_id)

    async def reply(self, request: Request) -> Response:
        ticket_id = request.path_params["id"]
        links = self.app.links
        return await self._ticket_change(
            request,
            lambda user, form: (actions.reply, [ticket_id, {"body": form.get("body", "")}, links]),
            ticket_id,
        )

    async def reopen(self, request: Request) -> Response:
        ticket_id = request.path_params["id"]
        links = self.app.links
        return await self._ticket_change(
            request,
            lambda user, form: (actions.reopen, [ticket_id, {"body": form.get("body", "")}, links]),
            ticket_id,
        )

    async def resolve(self, request: Request) -> Response:
        ticket_id = request.path_params["id"]
        links = self.app.links
        return await self._ticket_change(
            request, lambda user, form: (actions.resolve, [ticket_id, links])
        )

    async def assign(self, request: Request) -> Response:
        ticket_id = request.path_params["id"]
        links = self.app.links

        def run(user: User, form: dict[str, str]) -> tuple[Callable[..., Outcome], list[object]]:
            kind, _, name = form.get("to", "").partition(":")
            data = {"team": name} if kind == "team" else {"agent": name}
            return actions.assign, [ticket_id, data, links]

        return await self._ticket_change(request, run)

    async def react(self, request: Request) -> Response:
        comment_id = request.path_params["id"]
        links = self.app.links
        return await self._ticket_change(
            request,
            lambda user, form: (
                actions.react,
                [comment_id, {"emoji": form.get("emoji", "")}, links],
            ),
        )


def _package_file(folder: Traversable, name: str) -> Response:
    """A file shipped in the package, by a plain name only (no paths): 404 otherwise."""
    found = _FILE_NAME.match(name)
    path = folder.joinpath(name) if found else None
    if found is None or path is None or not path.is_file():
        raise ActionError(404, "not_found", "no such file")
    return Response(
        path.read_bytes(),
        media_type=_CONTENT_TYPES[found.group(1)],
        headers={"cache-control": f"public, max-age={STATIC_MAX_AGE_S}"},
    )


_TOO_LONG: Final = re.compile(r"^(body|subject) has (\d+) characters, limit (\d+)$")
_FIELD_WORDS: Final = {"body": "text", "subject": "subject"}


def _text_problem(message: str) -> str:
    """Why a typed text (a comment's, a new ticket's) was refused, for whoever typed it."""
    for field, words in _FIELD_WORDS.items():
        if message == f"{field} must not be empty":
            return f"Write something first: the {words} is empty."
    found = _TOO_LONG.match(message)
    if found:
        field, length, limit = found.group(1), int(found.group(2)), int(found.group(3))
        return (
            f"This {_FIELD_WORDS[field]} has {length:,} characters; the most is {limit:,}."
            " Shorten it a little."
        )
    return message[:1].upper() + message[1:]


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _seq_field(form: dict[str, str], name: str) -> int:
    """A seq posted in a form (ASCII digits), capped at :data:`MAX_ID`; 400 otherwise."""
    value = form.get(name, "")
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise ActionError(400, "invalid_field", f"{name} must be an integer ≥ 0")
    return min(int(value), MAX_ID)


def bell_state(connection: sqlite3.Connection, agent_id: int, looked_up_to: int) -> dict[str, int]:
    """The header's bell: the unread count, the seq of the newest notification, the log's head
    and the "new since you last looked" mark (``seen``: the newest notification seq the agent
    has looked at; the dot shows while ``newest > seen``).

    ``looked_up_to`` > 0: the agent looked at the notification center with everything up to
    that seq on screen; the mark moves there first (never past the newest notification, never
    down). It is kept per agent on the server (table ``notification_seen``), not per browser,
    so the agent's phone and desktop agree."""
    newest = repository.newest_notification_seq(connection, agent_id)
    row = connection.execute(
        "SELECT seq FROM notification_seen WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    seen = int(row[0]) if row is not None else 0
    if min(looked_up_to, newest) > seen:
        seen = min(looked_up_to, newest)
        with transaction(connection):
            connection.execute(
                "INSERT INTO notification_seen(agent_id, seq) VALUES (?, ?)"
                " ON CONFLICT(agent_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (agent_id, seen),
            )
    return {
        "unread_count": repository.unread_count(connection, agent_id),
        "newest": newest,
        "seen": seen,
        "head": repository.head_seq(connection, agent_id),
    }


def _ticket_extra(connection: Any, user: User, ticket: dict[str, Any]) -> dict[str, Any]:
    """What the ticket page shows besides the ticket: agents and teams (assign, @mentions)
    and who reacted with what."""
    if not user.is_agent:
        return {"agents": [], "teams": [], "reactors": {}}
    return {
        "agents": repository.agents(connection),
        "teams": repository.team_names(connection),
        "reactors": actions.reactors(connection, [int(c["id"]) for c in ticket["comments"]]),
    }
