"""Web plumbing shared by the pages: the Content-Security-Policy, form parsing and tokens,
and the two pages that do without the templates of :mod:`notifier.server.pages` (the e-mail
settings page a mail links to, and its error page).

Forms are ``application/x-www-form-urlencoded`` and parsed here (no multipart dependency);
each carries a ``csrf`` field (:func:`session_csrf`, or the sign-in form's cookie-bound one).
These two pages have no script and one inline style, allowed by its hash in :data:`CSP`; every
text from the database goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from typing import Final
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
# Sent with every answer of the server (app.SecurityHeaders): nothing but our own origin:
# scripts and styles only from our files (static/), plus this module's one inline style by its
# hash; no inline script, no framing (clickjacking), forms and fetches only to us.
CSP: Final = (
    f"default-src 'self'; script-src 'self'; style-src 'self' 'sha256-{_STYLE_HASH}'; "
    "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def session_csrf(session_token: str) -> str:
    """The signed-in pages' form token (sign-out, every change): derived from the session
    token, which another site never has, and useless without it."""
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


REPEATED_FIELD: Final = "This form came with a field twice; please fill it in again here."


def parse_form(raw: bytes) -> dict[str, str] | None:
    """A posted form's fields, or None when a field is given more than once: a form of ours
    never repeats one, and which copy counts must not depend on who reads the body (a proxy's
    filter may judge the last one where this server would take the first)."""
    fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    if any(len(values) > 1 for values in fields.values()):
        return None
    return {key: values[0] for key, values in fields.items() if values}


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": next_path})


def error_page(message: str) -> str:
    return _page("Helpdesk", f"<h1>Sorry</h1><p>{html.escape(message)}</p>")


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
