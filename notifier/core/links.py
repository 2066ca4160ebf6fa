"""The link allow-list: the only URLs the app ever hands to the browser.

A notification carries links that came from the helpdesk, and a helpdesk (or whoever wrote a
ticket) is not trusted to choose what the agent's desktop opens. :func:`check_link` lets a URL
through only when it is an ``http``/``https`` URL on exactly the configured helpdesk's origin
(scheme, host and port, with default ports made explicit and the host compared
case-insensitively after IDNA encoding), and refuses with a reason otherwise.

It is deliberately stricter than a URL parser: anything a browser might read differently
from :func:`urllib.parse.urlsplit` is refused outright instead of being normalised: backslashes
(browsers treat ``\\`` as ``/`` in http URLs, so ``https://helpdesk\\@evil.com`` would go to
evil.com), control, format and whitespace characters, percent-escapes in the host, host
letters that IDNA 2003 and browsers encode differently (``ß``, ``ς``), user info
(``https://helpdesk.example.com@evil.com``), scheme-relative URLs (``//evil.com``), and URLs
longer than :data:`MAX_LINK_CHARS`.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Final, NamedTuple
from urllib.parse import urlsplit

MAX_LINK_CHARS: Final = 2048
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_ALLOWED_SCHEMES: Final = frozenset(_DEFAULT_PORTS)
# Python's "idna" codec is IDNA 2003, which maps these to other letters ("ß" -> "ss"), while
# browsers (UTS #46, non-transitional) keep them: "straße.example" would pass a check against
# "strasse.example" and then open xn--strae-oqa.example. ZWJ/ZWNJ are refused as format
# characters anyway. For every other character the two agree or IDNA 2003 refuses.
_IDNA_DEVIATIONS: Final = frozenset("\u00df\u03c2\u200c\u200d")


class LinkRefused(ValueError):
    """A URL that must not be opened; ``reason`` says why, in words for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Origin(NamedTuple):
    scheme: str
    host: str  # lower case, IDNA (ASCII) encoded
    port: int


def _check_characters(url: str, what: str) -> None:
    for ch in url:
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs"):
            raise LinkRefused(f"{what} contains a control or whitespace character")
        if ch == "\\":
            raise LinkRefused(f"{what} contains a backslash")


def _normalise_host(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):  # IPv6 literal
        return host.lower()
    if any(ch in _IDNA_DEVIATIONS for ch in host):
        raise LinkRefused(f"host {host!r} contains a character browsers encode differently")
    try:
        encoded = host.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise LinkRefused(f"host {host!r} is not a valid domain name") from None
    return encoded.lower()


def origin_of(url: str, what: str = "link") -> Origin:
    """The origin of an absolute http(s) URL; raise :class:`LinkRefused` for anything else."""
    if len(url) > MAX_LINK_CHARS:
        raise LinkRefused(f"{what} is longer than {MAX_LINK_CHARS} characters")
    _check_characters(url, what)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise LinkRefused(f"{what} cannot be parsed: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise LinkRefused(f"{what} scheme {parts.scheme or '(none)'!r} is not http or https")
    if not url[len(parts.scheme) :].startswith("://"):
        raise LinkRefused(f"{what} is not an absolute URL (scheme:// missing)")
    netloc = parts.netloc
    if "@" in netloc:
        raise LinkRefused(f"{what} contains a user name or password")
    if "%" in netloc:
        raise LinkRefused(f"{what} has a percent-escaped host")
    host_part = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    if not host_part or host_part == "[]":
        raise LinkRefused(f"{what} has no host")
    host = _normalise_host(host_part)
    return Origin(scheme, host, port if port is not None else _DEFAULT_PORTS[scheme])


def check_link(url: str, server_url: str) -> str:
    """Return ``url`` if it may be opened: http(s) on the helpdesk's own origin.

    Raises :class:`LinkRefused` with the reason otherwise, including when no (or an invalid)
    helpdesk ``server_url`` is configured.
    """
    if not server_url:
        raise LinkRefused("no helpdesk server is configured")
    try:
        allowed = origin_of(server_url, "helpdesk server URL")
    except LinkRefused as error:
        raise LinkRefused(f"cannot check links: {error.reason}") from None
    origin = origin_of(url)
    if origin != allowed:
        raise LinkRefused(
            f"link goes to {origin.scheme}://{origin.host}:{origin.port}, not to the helpdesk "
            f"at {allowed.scheme}://{allowed.host}:{allowed.port}"
        )
    return url


def is_on_this_machine(server_url: str) -> bool:
    """Whether ``server_url`` names this machine (localhost, 127.0.0.0/8, ::1).

    Such a server is reachable with no network at all (the demo on a laptop on a train), so
    the OS's "offline" must not stop the app from trying it.
    """
    try:
        host = origin_of(server_url, "helpdesk server URL").host
    except LinkRefused:
        return False
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # ::ffff:127.0.0.1
    return address.is_loopback
