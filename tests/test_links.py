"""The link allow-list: only http(s) on the helpdesk's own origin is ever opened."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core.links import (
    MAX_LINK_CHARS,
    LinkRefused,
    check_link,
    is_on_this_machine,
    origin_of,
)

SERVER = "https://helpdesk.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://helpdesk.example.com/tickets/123",
        "https://helpdesk.example.com/tickets/123#comment-9",
        "https://helpdesk.example.com/tickets/123?tab=activity",
        "https://helpdesk.example.com",
        "https://helpdesk.example.com/",
        "HTTPS://HELPDESK.Example.COM/tickets/1",
        "https://helpdesk.example.com:443/tickets/1",
        "https://helpdesk.example.com/a%2F..%2Fb",  # escapes in the path stay on the host
        "https://helpdesk.example.com/tickets/ünïcode",
        "https://helpdesk.example.com/search?q=a@b.com",  # an @ after the host is fine
    ],
)
def test_links_on_the_helpdesk_origin_are_allowed(url: str) -> None:
    assert check_link(url, SERVER) == url


@pytest.mark.parametrize(
    ("url", "reason_part"),
    [
        ("javascript:alert(1)", "scheme"),
        ("JavaScript://helpdesk.example.com/%0aalert(1)", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("data:text/html,<script>alert(1)</script>", "scheme"),
        ("ftp://helpdesk.example.com/x", "scheme"),
        ("//evil.com/tickets/1", "scheme"),
        ("/tickets/1", "scheme"),
        ("tickets/1", "scheme"),
        ("", "scheme"),
        ("https:helpdesk.example.com/tickets/1", "absolute"),
        ("https:/helpdesk.example.com/tickets/1", "absolute"),
        ("http://helpdesk.example.com/tickets/1", "not to the helpdesk"),
        ("https://helpdesk.example.com:8443/tickets/1", "not to the helpdesk"),
        ("https://helpdesk.example.com.evil.com/tickets/1", "not to the helpdesk"),
        ("https://evil.com/helpdesk.example.com", "not to the helpdesk"),
        ("https://evilhelpdesk.example.com/", "not to the helpdesk"),
        ("https://example.com/", "not to the helpdesk"),
        ("https://helpdesk.example.com./", "not to the helpdesk"),
        ("https://helpdesk@evil.com/", "user name"),
        ("http://helpdesk@evil.com", "user name"),
        ("https://helpdesk.example.com@evil.com/", "user name"),
        ("https://user:pw@helpdesk.example.com/", "user name"),
        ("https://helpdesk.example.com\\@evil.com/", "backslash"),
        ("https:\\\\evil.com\\tickets", "backslash"),
        ("https://evil.com\\.helpdesk.example.com/", "backslash"),
        ("https://helpdesk%2eexample%2ecom/", "percent"),
        ("https://helpdesk.example%2Ecom/", "percent"),
        ("https://helpdesk.example.com /x", "whitespace"),
        (" https://helpdesk.example.com/x", "whitespace"),
        ("https://helpdesk.example.com/x\n", "whitespace"),
        ("https://helpdesk.example.com/\x00", "control"),
        ("https://helpdesk.example.com/\u202egnp.exe", "control"),
        ("https://helpdesk.example.com/\u00a0", "whitespace"),
        ("java\tscript:alert(1)", "whitespace"),
        ("https://helpdesk.example.com:99999/", "cannot be parsed"),
        ("https://helpdesk.example.com:port/", "cannot be parsed"),
        ("https://[::1/", "cannot be parsed"),
        ("https:///tickets", "no host"),
        ("https://:443/tickets", "no host"),
        ("https://" + "a" * 64 + ".example.com/", "not a valid domain"),
        (SERVER + "/" + "a" * MAX_LINK_CHARS, "longer than"),
    ],
)
def test_everything_else_is_refused_with_a_reason(url: str, reason_part: str) -> None:
    with pytest.raises(LinkRefused) as caught:
        check_link(url, SERVER)
    assert reason_part in caught.value.reason


@pytest.mark.parametrize(
    ("server", "url", "allowed"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/tickets/1", True),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8766/tickets/1", False),
        ("http://127.0.0.1:8765", "http://localhost:8765/tickets/1", False),
        ("http://helpdesk.example.com", "http://helpdesk.example.com:80/x", True),
        ("http://helpdesk.example.com:80", "http://helpdesk.example.com/x", True),
        ("https://helpdesk.example.com:443/", "https://helpdesk.example.com/x", True),
        ("https://helpdesk.example.com/desk", "https://helpdesk.example.com/other", True),
        ("http://[::1]:8080", "http://[::1]:8080/tickets/1", True),
        ("http://[::1]:8080", "http://[::2]:8080/tickets/1", False),
        ("https://bücher.example", "https://xn--bcher-kva.example/t/1", True),
        ("https://xn--bcher-kva.example", "https://BÜCHER.example/t/1", True),
        ("https://bucher.example", "https://bücher.example/t/1", False),
        # IDNA 2003 maps ß to ss, browsers do not: never let the two meet
        ("https://strasse.example", "https://straße.example/t/1", False),
        ("https://strasse.example", "https://STRASSE.example/t/1", True),
        ("https://xn--strae-oqa.example", "https://straße.example/t/1", False),
        ("https://example.gr", "https://ςexample.gr/t/1", False),
    ],
)
def test_origin_comparison(server: str, url: str, allowed: bool) -> None:
    if allowed:
        assert check_link(url, server) == url
    else:
        with pytest.raises(LinkRefused):
            check_link(url, server)


@pytest.mark.parametrize("server", ["", "helpdesk.example.com", "ftp://helpdesk.example.com"])
def test_without_a_usable_server_nothing_opens(server: str) -> None:
    with pytest.raises(LinkRefused):
        check_link("https://helpdesk.example.com/tickets/1", server)


def test_a_link_of_exactly_the_limit_is_allowed() -> None:
    url = SERVER + "/" + "a" * (MAX_LINK_CHARS - len(SERVER) - 1)
    assert len(url) == MAX_LINK_CHARS
    assert check_link(url, SERVER) == url


@given(st.text(max_size=300))
def test_any_text_is_refused_or_is_an_allowed_link(url: str) -> None:
    try:
        result = check_link(url, SERVER)
    except LinkRefused:
        return
    parts = urlsplit(result)
    assert result == url
    assert parts.scheme.lower() == "https"
    assert parts.hostname == "helpdesk.example.com"
    assert parts.port in (None, 443)
    assert "\\" not in url and "@" not in parts.netloc


@given(
    prefix=st.sampled_from(
        ["https://helpdesk.example.com", "https://evil.com", "http://helpdesk.example.com"]
    ),
    middle=st.text(alphabet="@\\/:.%#?[]x ", max_size=12),
    path=st.text(max_size=40),
)
def test_fuzzed_authority_tricks_never_leave_the_origin(
    prefix: str, middle: str, path: str
) -> None:
    url = prefix + middle + "/" + quote(path)
    try:
        result = check_link(url, SERVER)
    except LinkRefused:
        return
    assert origin_of(result) == origin_of(SERVER)
    assert urlsplit(result).hostname == "helpdesk.example.com"


@given(st.text(max_size=200))
def test_any_quoted_path_on_the_origin_is_allowed(path: str) -> None:
    url = f"{SERVER}/tickets/{quote(path, safe='')}"
    assert check_link(url, SERVER) == url


@pytest.mark.parametrize(
    ("server_url", "here"),
    [
        ("http://localhost:8765", True),
        ("http://LOCALHOST", True),
        ("http://helpdesk.localhost", True),
        ("http://127.0.0.1:8765", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:8765", True),
        ("http://[::ffff:127.0.0.1]", True),
        ("https://helpdesk.example.com", False),
        ("http://10.8.0.1", False),
        ("http://[::ffff:10.8.0.1]", False),
        ("http://localhost.example.com", False),
        ("http://192.168.1.10:8000", False),
        ("", False),
        ("not a url", False),
    ],
)
def test_a_server_on_this_machine_is_recognised(server_url: str, here: bool) -> None:
    assert is_on_this_machine(server_url) is here
