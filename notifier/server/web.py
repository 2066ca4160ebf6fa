"""Minimal server-rendered pages: sign-in, home, the ticket page.

They exist so that the links the tray opens lead somewhere real. Every piece of text from the
database goes through :func:`html.escape`; there is no template engine to forget it. Forms are
``application/x-www-form-urlencoded`` and parsed here (no multipart dependency); each carries a
``csrf`` field (see :func:`logout_csrf` and the app's sign-in form). The pages have no script
and one inline style, allowed by its hash in the Content-Security-Policy (:data:`CSP`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from typing import Any, Final
from urllib.parse import parse_qs, urlencode

from notifier.core import wire
from notifier.server.repository import User

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
.status{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;background:#eee}
.comment{border-left:3px solid #8ab;padding:.3rem .8rem;margin:1rem 0}
.comment.reply{border-color:#d95}
.comment:target{background:#ffd}
.meta{color:#666;font-size:.85rem}
pre{white-space:pre-wrap;font-family:inherit;margin:.3rem 0}
"""


_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# Sent with every answer of the server (app.SecurityHeaders): nothing but our own origin, no
# script at all, the one inline style by its hash, no framing (clickjacking), forms only to us.
CSP: Final = (
    f"default-src 'self'; script-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def logout_csrf(session_token: str) -> str:
    """The sign-out form's token: derived from the session token, which another site never
    has, and useless without it."""
    return hashlib.sha256(b"helpdesk-logout\0" + session_token.encode()).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of a form token (any text) with the expected one."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _csrf_field(token: str) -> str:
    return f'<input type=hidden name=csrf value="{html.escape(token)}">'


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def parse_form(raw: bytes) -> dict[str, str]:
    fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items() if values}


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": next_path})


def login_page(next_path: str, error: str | None, csrf: str) -> str:
    message = f"<p role=alert>{html.escape(error)}</p>" if error else ""
    return _page(
        "Sign in · helpdesk",
        "<h1>Sign in</h1>"
        f"{message}"
        '<form method=post action="/login">'
        f"{_csrf_field(csrf)}"
        f'<input type=hidden name=next value="{html.escape(next_path)}">'
        "<p><label>Username <input name=username autocomplete=username required></label></p>"
        "<p><label>Password <input name=password type=password"
        " autocomplete=current-password required></label></p>"
        "<p><button type=submit>Sign in</button></p></form>",
    )


def home_page(user: User, logout_token: str) -> str:
    return _page(
        "Helpdesk",
        f"<h1>Helpdesk</h1><p>Signed in as {html.escape(user.name)}"
        f" ({html.escape(user.username)}).</p>"
        "<p>Open a ticket from a notification in the tray.</p>"
        f'<form method=post action="/logout">{_csrf_field(logout_token)}'
        "<button type=submit>Sign out</button></form>",
    )


def error_page(message: str) -> str:
    return _page("Helpdesk", f"<h1>Sorry</h1><p>{html.escape(message)}</p>")


def _who(person: dict[str, Any] | None) -> str:
    return html.escape(person["name"]) if person else "nobody"


def ticket_page(ticket: dict[str, Any], after: int = 0) -> str:
    """The ticket and the page of comments in ``ticket`` (after comment id ``after``), with
    links to the first page and the next one."""
    parts = [
        f"<h1>{html.escape(ticket['subject'])}</h1>",
        f"<p><span class=status>{html.escape(ticket['status'])}</span>",
        f" · customer: {_who(ticket['customer'])} · assigned to: {_who(ticket['assignee'])}</p>",
        f"<pre class=body>{html.escape(ticket['body'])}</pre>",
    ]
    for comment in ticket["comments"]:
        kind = "reply" if comment["kind"] == "reply" else "comment"
        reactions = " ".join(
            f"{html.escape(emoji)} {count}" for emoji, count in comment["reactions"].items()
        )
        parts.append(
            f'<div class="comment {kind}" id="comment-{html.escape(comment["id"])}">'
            f"<div class=meta>{_who(comment['author'])}"
            f" · {'customer reply' if kind == 'reply' else 'internal comment'}"
            f" · {html.escape(comment['created_at'])}</div>"
            f"<pre>{html.escape(comment['body'])}</pre>"
            + (f"<div class=meta>{reactions}</div>" if reactions else "")
            + "</div>"
        )
    here = f"/tickets/{html.escape(ticket['id'])}"
    if after:
        parts.insert(4, f'<p class=meta><a href="{here}">From the first comment</a></p>')
    if ticket.get("has_more_comments"):
        last = html.escape(ticket["comments"][-1]["id"])
        parts.append(f'<p class=meta><a href="{here}?after={last}">Later comments</a></p>')
    return _page(f"{ticket['subject']} · helpdesk", "".join(parts))


_FREQUENCY_WORDS = {
    "instant": "a mail for each notification",
    "hourly_digest": "an hourly digest",
    "daily_digest": "a daily digest",
}


def mail_settings_page(
    user: User, preferences: wire.Preferences, action: str, just_turned_off: bool
) -> str:
    """The e-mail settings page notification mails link to, with a button to turn e-mail off."""
    email = preferences.email
    if just_turned_off:
        status = "<p role=status>Done: the helpdesk sends you no more notification mail.</p>"
    elif not email.enabled:
        status = "<p>E-mail notifications are off.</p>"
    else:
        when = _FREQUENCY_WORDS[email.frequency.value]
        if email.frequency is wire.EmailFrequency.DAILY_DIGEST:
            when += f" at {email.digest_time} ({preferences.timezone})"
        types = ", ".join(t.value for t in wire.NotificationType if t in email.types) or "none"
        only = (
            " Only for notifications that arrive while you are not connected."
            if email.only_when_disconnected and email.frequency is wire.EmailFrequency.INSTANT
            else ""
        )
        status = (
            f"<p>E-mail notifications are on: {html.escape(when)}, about {html.escape(types)}."
            f"{only}</p>"
            f'<form method=post action="{html.escape(action)}">'
            "<button type=submit>Turn e-mail notifications off</button></form>"
        )
    return _page(
        "E-mail notifications · helpdesk",
        f"<h1>E-mail notifications for {html.escape(user.name)}</h1>{status}"
        "<p>Change what you get by e-mail in the tray app: Settings, Email tab.</p>",
    )
