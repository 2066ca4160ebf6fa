""" "Forgot your password?": a person who can read their mail sets a new web password.

The flow, and why each step is as it is:

* ``GET /password-reset`` asks for an e-mail address (the sign-in page links to it). The form
  carries the sign-in form's anti-forgery token (the ``helpdesk_csrf`` cookie and field).
* ``POST /password-reset`` always answers with the same page ("If an account uses that
  address, we have sent a link…"), whether or not the address is anyone's, and before the
  database was even asked: the look-up and the mail are queued on the database thread
  (:meth:`Database.submit`) and not awaited, so neither the answer nor its time tells who has
  an account. Requests are counted per address and per client address (the :class:`Limits`
  ``reset_*`` values) *before* that, for addresses with and without an account alike; beyond
  them the answer is 429 and nothing is mailed.
* Only an active person with that address gets a mail: a customer whose username is the
  address, an agent whose ``email`` is. The link is the server's public URL +
  ``/password-reset/TOKEN``; the token is ``secrets.token_urlsafe(32)``, stored only as its
  SHA-256 (like API tokens) in ``password_resets`` (migration 9), one row per person: a
  newer request replaces the older link. It works once, for :data:`VALID_FOR`, by the
  database's clock (:func:`db.clock_now`). The mail is queued in ``email_messages`` with
  ``purpose`` ``password_reset`` and sent by the mailer like any other mail; its content
  (the link) is blanked once the mail is sent or given up.
* ``GET /password-reset/TOKEN`` asks for the new password twice; ``POST`` checks it with the
  same rule as the admin's ``notifier-server password`` (:func:`limits.password_problem`),
  hashes it in the :class:`PasswordPool`, then in one transaction sets it, deletes the link
  and every web session of the person (a stolen session dies; their streams close), and
  sends them to the sign-in page, which says the password was changed. API tokens (the
  tray's) stay, as with the admin's command. An unknown, used or expired link gets a page
  that says so with a link to ask again (404), never an error in the log.
"""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.errors import MessageError
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from notifier.server import outbox, repository, web
from notifier.server.db import clock_now, transaction
from notifier.server.limits import MAX_USERNAME_CHARS, SlidingWindow, password_problem
from notifier.server.mail import Sender, render_password_reset
from notifier.server.repository import ActionError, User

if TYPE_CHECKING:
    from notifier.server.app import HelpdeskApp

log = logging.getLogger(__name__)

PATH: Final = "/password-reset"
VALID_FOR: Final = timedelta(hours=1)
VALID_WORDS: Final = "1 hour"
SENT: Final = (
    "If an account uses that address, we have sent a link to reset its password."
    f" It works for {VALID_WORDS}."
)
LINK_INVALID: Final = (
    "This link to reset a password does not work any more: it was used already, it is older"
    f" than {VALID_WORDS}, or a newer link was sent."
)
CHANGED_NOTICE: Final = "Your password was changed. Sign in with the new one."
# secrets.token_urlsafe(32); anything else is refused without asking the database.
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")
_WIRE_POLICY: Final = policy.SMTP.clone(max_line_length=998)
# At most this many people share one address (an agent's mail and a customer's username).
_MAX_PEOPLE_PER_ADDRESS: Final = 5


def reset_url(base_url: str, token: str) -> str:
    return f"{base_url}{PATH}/{token}"


@dataclass(frozen=True, slots=True)
class Requested:
    """What :func:`request_reset` did, for the log (never for the answer)."""

    mailed: tuple[str, ...] = ()  # usernames a link was mailed to
    unmailed: tuple[str, ...] = ()  # usernames that would have got one, without a mail server
    unusable: tuple[str, ...] = ()  # usernames whose stored address no mail can go to
    capped: tuple[str, ...] = ()  # usernames mailed their cap of links in the window already


def request_reset(
    connection: sqlite3.Connection,
    address: str,
    base_url: str,
    sender_address: str,
    sender_name: str,
    can_mail: bool,
    mails_per_window: int,
    window: timedelta,
) -> Requested:
    """Queue a reset link for every active person with the e-mail ``address`` (any case):
    one transaction, replacing each one's older link. Without a mail server (``can_mail``
    False) nothing is stored: a link nobody can receive is no use.

    A person already sent ``mails_per_window`` links within ``window`` gets none: counted in
    the database, from the mail kept in ``email_messages``, so that neither a restart nor
    requests that push the address out of the in-memory limiter (it keeps a bounded number
    of keys) can turn the form into a way to flood someone's mailbox."""
    rows = connection.execute(
        "SELECT id, username, name, email FROM users WHERE deactivated_at IS NULL"
        " AND ((kind = 'customer' AND username = ?) OR lower(email) = lower(?))"
        " ORDER BY id LIMIT ?",
        (address, address, _MAX_PEOPLE_PER_ADDRESS),
    ).fetchall()
    if not rows:
        return Requested()
    if not can_mail:
        return Requested(unmailed=tuple(str(row[1]) for row in rows))
    now = clock_now(connection)
    mailed: list[str] = []
    unusable: list[str] = []
    capped: list[str] = []
    since = outbox.stamp(now - window)
    with transaction(connection):
        sender = Sender(sender_address, sender_name, outbox.instance_name(connection))
        for user_id, username, name, email in rows:
            (sent,) = connection.execute(
                "SELECT count(*) FROM email_messages WHERE agent_id = ?"
                " AND purpose = 'password_reset' AND created_at > ?",
                (user_id, since),
            ).fetchone()
            if sent >= mails_per_window:
                capped.append(str(username))
                continue
            token = secrets.token_urlsafe(32)
            recipient = email if email and str(email).lower() == address.lower() else username
            message_id = sender.new_message_id()
            try:
                message = render_password_reset(
                    sender,
                    name,
                    recipient,
                    username,
                    reset_url(base_url, token),
                    VALID_WORDS,
                    now,
                    message_id,
                )
                content = message.as_bytes(policy=_WIRE_POLICY)
            except (ValueError, MessageError):
                # A stored address the pattern let in but no mail header can carry (a
                # non-ASCII local part, "a@x..com"): no link, and the others still get theirs.
                unusable.append(str(username))
                continue
            connection.execute(
                "INSERT INTO password_resets(user_id, token_hash, created_at, expires_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
                " token_hash = excluded.token_hash, created_at = excluded.created_at,"
                " expires_at = excluded.expires_at",
                (
                    user_id,
                    repository.hash_token(token),
                    outbox.stamp(now),
                    outbox.stamp(now + VALID_FOR),
                ),
            )
            outbox.store_message(
                connection,
                outbox.NewMessage(
                    agent_id=user_id,
                    kind="instant",
                    recipient=recipient,
                    message_id=message_id,
                    subject=str(message["Subject"]),
                    content=content,
                    purpose="password_reset",
                ),
                [],
                now,
            )
            mailed.append(str(username))
    return Requested(mailed=tuple(mailed), unusable=tuple(unusable), capped=tuple(capped))


def _live_user_id(connection: sqlite3.Connection, token: str) -> int | None:
    """The person whose live link ``token`` is; an expired link is deleted on the way."""
    token_hash = repository.hash_token(token)
    row = connection.execute(
        "SELECT user_id, expires_at FROM password_resets WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    if row is None:
        return None
    if str(row[1]) <= outbox.stamp(clock_now(connection)):
        with transaction(connection):
            connection.execute("DELETE FROM password_resets WHERE token_hash = ?", (token_hash,))
        return None
    return int(row[0])


def user_for_reset(connection: sqlite3.Connection, token: str) -> User | None:
    """The active person a live reset link is for, else None (unknown, used, expired)."""
    user_id = _live_user_id(connection, token)
    user = repository.user_by_id(connection, user_id) if user_id is not None else None
    return user if user is not None and not user.deactivated else None


@dataclass(frozen=True, slots=True)
class Reset:
    user: User
    ended_sessions: tuple[str, ...]  # the token hashes of the web sessions deleted


def reset_password(
    connection: sqlite3.Connection, token: str, password_hash: str, salt_hex: str
) -> Reset | None:
    """Use the link: in one transaction the new password (hashed by the caller, off this
    thread) is set, the link deleted and every web session of the person ended. None when
    the link is not live (any more)."""
    user = user_for_reset(connection, token)
    if user is None:
        return None
    with transaction(connection):
        deleted = connection.execute(
            "DELETE FROM password_resets WHERE token_hash = ? AND user_id = ?",
            (repository.hash_token(token), user.id),
        ).rowcount
        if not deleted:  # used meanwhile
            return None
        repository.write_password(connection, user.id, password_hash, salt_hex)
        sessions = tuple(
            str(row[0])
            for row in connection.execute(
                "DELETE FROM tokens WHERE user_id = ? AND purpose = 'session' RETURNING token_hash",
                (user.id,),
            ).fetchall()
        )
    return Reset(user, sessions)


class PasswordResetPages:
    """The four handlers of the flow (see the module docstring) for one :class:`HelpdeskApp`."""

    def __init__(self, app: HelpdeskApp) -> None:
        self.app = app
        limits = app.limits
        self.by_address = SlidingWindow(limits.reset_requests_per_address, limits.reset_window_s)
        self.by_client = SlidingWindow(limits.reset_requests_per_client, limits.reset_window_s)
        self._jobs: set[Any] = set()

    def _page(self, request: Request, step: str, status: int = 200, **context: Any) -> HTMLResponse:
        """``step``: "ask" (the address form), "sent", "choose" (the new password's form) or
        "invalid" (a dead link); with this browser's form token."""
        csrf = self.app.form_token(request)
        response = self.app.pages.render(
            "password_reset.html", status, step=step, csrf=csrf, page="password-reset", **context
        )
        self.app.set_cookie(response, self.app.form_cookie, csrf)
        return response

    async def ask(self, request: Request) -> Response:
        return self._page(request, "ask")

    async def request(self, request: Request) -> Response:
        form = web.parse_form(await self.app.read_body(request))
        if form is None:
            return self._page(request, "ask", 400, error=web.REPEATED_FIELD)
        address = form.get("email", "").strip()
        if not self.app.form_token_ok(request, form):
            return self._page(
                request,
                "ask",
                403,
                email=address[:MAX_USERNAME_CHARS],
                error="This form has expired or came from another site; please send it again here.",
            )
        if len(address) > MAX_USERNAME_CHARS or not repository.EMAIL_PATTERN.match(address):
            return self._page(
                request,
                "ask",
                422,
                email=address[:MAX_USERNAME_CHARS],
                error="Type the e-mail address of your account, like name@example.com.",
                invalid="email",
            )
        client = request.client.host if request.client else ""
        key = address.lower()
        wait = max(self.by_address.wait(key), self.by_client.wait(client))
        if wait > 0:
            minutes = max(1, round(wait / 60))
            refused = self._page(
                request,
                "ask",
                429,
                email=address,
                error=f"Too many requests to reset a password. Try again in {minutes} minute"
                f"{'' if minutes == 1 else 's'}.",
            )
            refused.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return refused
        self.by_address.add(key)
        self.by_client.add(client)
        self._start(address)
        return self._page(request, "sent")

    def _start(self, address: str) -> None:
        """Queue the look-up and the mail (see the module docstring): not awaited."""
        mailer = self.app.mailer
        job = self.app.database.submit(
            request_reset,
            address,
            self.app.public_url,
            mailer.config.mail_from,
            mailer.config.mail_from_name,
            mailer.transport is not None,
            self.app.limits.reset_requests_per_address,
            timedelta(seconds=self.app.limits.reset_window_s),
        )
        self._jobs.add(job)
        job.add_done_callback(self._done)

    def _done(self, job: Any) -> None:
        self._jobs.discard(job)
        if job.cancelled():
            return
        failure = job.exception()
        if failure is not None:
            log.error("a password reset request failed", exc_info=failure)
            return
        done: Requested = job.result()
        if done.mailed:
            log.info("password reset link queued for %s", ", ".join(done.mailed))
            self.app.mailer.wake()
        if done.unusable:
            log.warning(
                "password reset asked for %s, but the stored e-mail address cannot be put in"
                " a mail header: nothing was mailed",
                ", ".join(done.unusable),
            )
        if done.capped:
            log.warning(
                "password reset asked for %s again, but as many links as the limit allows"
                " were mailed within the window: nothing was mailed",
                ", ".join(done.capped),
            )
        if done.unmailed:
            log.warning(
                "password reset asked for %s, but no SMTP server is configured"
                " (serve --smtp): nothing was mailed",
                ", ".join(done.unmailed),
            )

    async def choose(self, request: Request) -> Response:
        token = request.path_params["token"]
        user = await self._user(token)
        if user is None:
            return self._page(request, "invalid", 404, message=LINK_INVALID)
        return self._page(request, "choose", user=user, action=request.url.path)

    async def _user(self, token: str) -> User | None:
        if not _TOKEN.match(token):
            return None
        return await self.app.database.run(user_for_reset, token)

    async def reset(self, request: Request) -> Response:
        token = request.path_params["token"]
        form = web.parse_form(await self.app.read_body(request))
        user = await self._user(token)
        if user is None:
            return self._page(request, "invalid", 404, message=LINK_INVALID)

        def again(status: int, error: str, invalid: str = "") -> HTMLResponse:
            """The form again, saying why; ``invalid``: the field the error is about."""
            return self._page(
                request,
                "choose",
                status,
                user=user,
                action=request.url.path,
                error=error,
                invalid=invalid,
            )

        if form is None:
            return again(400, web.REPEATED_FIELD)
        if not self.app.form_token_ok(request, form):
            return again(
                403, "This form has expired or came from another site; please type it again here."
            )
        password = form.get("password", "")
        problem = password_problem(password)
        if problem is not None:
            return again(422, f"{problem[:1].upper()}{problem[1:]}.", "password")
        if password != form.get("again", ""):
            return again(422, "The two passwords differ. Type the same one twice.", "again")
        try:
            password_hash, salt_hex = await self.app.passwords.run(
                repository.stored_password, password
            )
        except ActionError as exc:  # 503: too many password checks at once
            refused = again(exc.status, exc.message[:1].upper() + exc.message[1:] + ".")
            refused.headers["Retry-After"] = str(exc.retry_after or 1)
            return refused
        done = await self.app.database.run(reset_password, token, password_hash, salt_hex)
        if done is None:
            return self._page(request, "invalid", 404, message=LINK_INVALID)
        self.app.web_sessions_ended(done.ended_sessions)
        # A person locked out by wrong guesses who proved their mailbox may sign in at once.
        self.app.sign_ins.by_account.forget(done.user.username.lower())
        log.info(
            "password of %s reset with a mailed link; %d web session(s) ended",
            done.user.username,
            len(done.ended_sessions),
        )
        response = RedirectResponse("/login?password=changed", status_code=303)
        response.delete_cookie(self.app.session_cookie, path="/")
        return response
