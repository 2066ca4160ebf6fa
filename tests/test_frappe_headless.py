"""``notifier login``, ``logout`` and ``doctor`` for a Frappe Helpdesk site, in-process,
against the stand-in site (tests/frappe_standin.py), with an in-memory keyring.

* login with an API key (standard input or prompted) or a username and password: the one
  token in the keyring, the backend kind and the site's fields in the settings; a key without
  the Agent role, or a wrong secret, is refused and nothing is stored;
* doctor names each Frappe failure with what to do: no socket.io server, the Origin refused,
  a wrong site name (a 404 from the site, the namespace refused behind nginx, or a join that
  is never answered), a key without the Agent role, and an unusable saved sign-in;
* logout deletes the token and the adapter's ledger.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cli_support import report, run
from engine_keyring import MemoryKeyring
from frappe_driver import Account
from frappe_standin import FrappeStandin
from frappe_support import SiteUnderTest
from websockets.asyncio.server import ServerConnection, serve

from notifier.client.frappe_ledger import Ledger
from notifier.client.transport import TransportConfig
from notifier.compose import build_engine, frappe_ledger_file
from notifier.core.settings import BackendKind, Settings
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.store.paths import app_paths
from notifier.store.secrets import SERVICE, TokenStore
from notifier.store.settings_file import load_settings, save_settings

SHORT = TransportConfig(connect_timeout=2, read_timeout=5, request_deadline=8)


@pytest.fixture
def site(standin_site: SiteUnderTest) -> Iterator[FrappeStandin]:
    assert standin_site.standin is not None
    yield standin_site.standin


@pytest.fixture
def bea(standin_site: SiteUnderTest) -> Account:
    return standin_site.driver.create_user("Bea Baker")


def login_args(site: FrappeStandin, *extra: str) -> list[str]:
    return [
        "--server",
        site.url,
        "login",
        "--backend",
        "frappe",
        "--site-name",
        site.name,
        "--socketio-url",
        site.socketio_url,
        *extra,
    ]


def frappe_settings(site: FrappeStandin, **changes: object) -> Settings:
    settings = Settings(
        server_url=site.url,
        backend=BackendKind.FRAPPE,
        frappe_site_name=site.name,
        frappe_socketio_url=site.socketio_url,
    )
    return settings.replace(**changes)


def doctor(
    settings: Settings, token: str | None, *, in_keyring: bool = False
) -> tuple[int, dict[str, str], str]:
    """``notifier doctor`` with ``settings`` saved and ``token`` in NOTIFIER_TOKEN (or, with
    ``in_keyring``, saved in the keyring as `notifier login` saves it)."""
    save_settings(app_paths().settings_file, settings)
    keyring = MemoryKeyring()
    if token and in_keyring:
        keyring.entries[(SERVICE, settings.server_url)] = token
    code, out, err = run(
        ["doctor"],
        environ={"NOTIFIER_TOKEN": token} if token and not in_keyring else {},
        store=TokenStore(keyring),
        transport=SHORT,
    )
    return code, report(out), out + err


def doctor_as(
    account: Account, site: FrappeStandin, **changes: object
) -> tuple[int, dict[str, str], str]:
    """``notifier doctor`` signed in with ``account``'s API key, Frappe settings ``changes``."""
    return doctor(frappe_settings(site, **changes), f"{account.api_key}:{account.api_secret}")


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --------------------------------------------------------------------------- login, logout


def test_login_with_an_api_key_then_doctor_then_logout(site: FrappeStandin, bea: Account) -> None:
    keyring = MemoryKeyring()
    store = TokenStore(keyring)
    token = f"{bea.api_key}:{bea.api_secret}"
    code, out, err = run(
        login_args(site, "--token-stdin"), store=store, stdin=token + "\n", transport=SHORT
    )
    assert code == 0, err
    assert out == f"Signed in to {site.url} (Frappe Helpdesk) as Bea Baker ({bea.email}).\n"
    assert keyring.entries == {(SERVICE, site.url): token}
    settings = load_settings(app_paths().settings_file)
    assert settings == frappe_settings(site)

    code, out, err = run(["doctor"], store=store, transport=SHORT)
    checks = report(out)
    assert checks["server"] == f"✓ {site.url} answers", out
    assert checks["sign-in"] == f"✓ signed in as Bea Baker ({bea.email})"
    assert checks["live connection"] == (
        f"✓ socket.io at {site.socketio_url} lets this agent join the site's namespace /{site.name}"
    )
    assert bea.api_secret not in out + err

    # The tray's ledger holds the agent's notifications: logout deletes it with the token.
    ledger_file = frappe_ledger_file(app_paths().cache_file)
    assert ledger_file.name == "notifications.frappe-ledger.sqlite3"
    Ledger.open(ledger_file, f"{site.url} {site.name} {bea.email}").close()
    code, out, err = run(["logout"], store=store)
    assert code == 0, err
    assert keyring.entries == {}
    assert not ledger_file.exists()


def test_login_asks_for_the_api_key_and_secret(site: FrappeStandin, bea: Account) -> None:
    keyring = MemoryKeyring()
    code, _out, err = run(
        login_args(site),
        store=TokenStore(keyring),
        stdin=bea.api_key + "\n",
        password=bea.api_secret,
        transport=SHORT,
    )
    assert code == 0, err
    assert "API key: " in err  # the prompt; the secret is read without echo
    assert keyring.entries == {(SERVICE, site.url): f"{bea.api_key}:{bea.api_secret}"}


@pytest.mark.asyncio
async def test_login_with_a_password_keeps_it_for_new_sessions(
    standin_site: SiteUnderTest, site: FrappeStandin, bea: Account, tmp_path: Path
) -> None:
    ann = standin_site.driver.create_user("Ann Adams")
    ticket = standin_site.driver.create_ticket("Printer on fire")
    standin_site.driver.as_user(ann).assign(ticket, bea.email)
    keyring = MemoryKeyring()
    store = TokenStore(keyring)
    code, out, err = await asyncio.to_thread(
        run,
        login_args(site, "--username", bea.email),
        store=store,
        password=bea.password,
        transport=SHORT,
    )
    assert code == 0, err
    assert out.endswith(f"as Bea Baker ({bea.email}).\n")
    # The username and password, so that the tray can sign in again when the session ends.
    stored = json.loads(keyring.entries[(SERVICE, site.url)])
    assert stored == {"user": bea.email, "password": bea.password}

    # The engine the factory builds from the saved settings and the keyring syncs, also after
    # every session on the site expired.
    site.expire_sessions()
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    live = asyncio.Event()

    def on_status(status: ConnectionStatus) -> None:
        if status.state is ConnectionState.LIVE:
            live.set()

    engine = build_engine(
        load_settings(app_paths().settings_file),
        cache,
        on_status=on_status,
        on_change=lambda change: None,
        token_store=store,
        environ={},
        transport=SHORT,
    )
    assert engine is not None
    task = asyncio.create_task(engine.run())
    try:
        async with asyncio.timeout(20):
            await live.wait()
        assert [n.ticket.id for n in cache.all_notifications()] == [ticket]
        assert (tmp_path / "cache.frappe-ledger.sqlite3").exists()  # beside its cache
    finally:
        await engine.stop()
        async with asyncio.timeout(20):
            await task
        cache.close()


def test_login_refuses_a_key_without_the_agent_role(
    standin_site: SiteUnderTest, site: FrappeStandin
) -> None:
    customer = standin_site.driver.create_user("Cara Customer", agent=False)
    keyring = MemoryKeyring()
    code, _out, err = run(
        login_args(site, "--token-stdin"),
        store=TokenStore(keyring),
        stdin=f"{customer.api_key}:{customer.api_secret}",
        transport=SHORT,
    )
    assert code == 1
    assert f"{customer.email} is not an agent on {site.url}" in err
    assert "needs the Agent role" in err
    assert keyring.entries == {}
    assert not app_paths().settings_file.exists()  # nothing changed


def test_login_refuses_a_wrong_secret(site: FrappeStandin, bea: Account) -> None:
    keyring = MemoryKeyring()
    code, _, err = run(
        login_args(site, "--token-stdin"),
        store=TokenStore(keyring),
        stdin=f"{bea.api_key}:not-the-secret",
        transport=SHORT,
    )
    assert code == 1
    assert "check the API key and secret" in err
    assert "not-the-secret" not in err
    assert keyring.entries == {}


def test_login_as_the_readme_writes_it_with_server_after_login(
    site: FrappeStandin, bea: Account
) -> None:
    # README.md: `notifier login --server URL --backend frappe --token-stdin`. --server was
    # only an option before the command, so this stopped at "unrecognized arguments".
    keyring = MemoryKeyring()
    argv = ["login", "--server", site.url, "--backend", "frappe", "--token-stdin"]
    argv += ["--site-name", site.name, "--socketio-url", site.socketio_url]
    code, out, err = run(
        argv, store=TokenStore(keyring), stdin=f"{bea.api_key}:{bea.api_secret}\n", transport=SHORT
    )
    assert code == 0, err
    assert out == f"Signed in to {site.url} (Frappe Helpdesk) as Bea Baker ({bea.email}).\n"
    assert keyring.entries == {(SERVICE, site.url): f"{bea.api_key}:{bea.api_secret}"}


def test_login_with_a_wrong_site_name_says_to_set_it(site: FrappeStandin, bea: Account) -> None:
    # It said only "notifier login: Site wrong.example.com does not exist".
    keyring = MemoryKeyring()
    code, _out, err = run(
        login_args(site, "--token-stdin", "--site-name", "wrong.example.com"),
        store=TokenStore(keyring),
        stdin=f"{bea.api_key}:{bea.api_secret}",
        transport=SHORT,
    )
    assert code == 1
    assert err.startswith(
        f"notifier login: {site.url} answered 404 to helpdesk's sign-in check (Site"
        " wrong.example.com does not exist): either the site name is not this site's"
    ), err
    assert "`notifier login --backend frappe --site-name NAME`" in err
    assert err.count("\n") == 1  # one line
    assert keyring.entries == {}


def test_login_names_a_token_that_is_not_key_and_secret(site: FrappeStandin, bea: Account) -> None:
    # The secret alone on standard input was called "the saved sign-in", and nothing is saved.
    keyring = MemoryKeyring()
    code, _out, err = run(
        login_args(site, "--token-stdin"),
        store=TokenStore(keyring),
        stdin=bea.api_secret + "\n",
        transport=SHORT,
    )
    assert code == 2
    assert err == (
        "notifier login: the token on standard input is not API_KEY:API_SECRET (the API key, a"
        " colon, then the API secret)\n"
    )
    assert bea.api_secret not in err
    assert keyring.entries == {}


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--site-name", "hd localhost", "must be a site name like helpdesk.example.com"),
        ("--socketio-url", "127.0.0.1:9000", "must start with https://"),
        ("--time-zone", "CET+1", "'CET+1' is not a time zone name like Europe/Berlin"),
    ],
)
def test_login_names_a_bad_frappe_option_as_typed(
    site: FrappeStandin, bea: Account, option: str, value: str, reason: str
) -> None:
    # It said "frappe_time_zone: ..." (the settings file's key) and exited 1, as if the site
    # had refused; a mistyped option is a usage error (2), named as it was typed.
    keyring = MemoryKeyring()
    argv = ["--server", site.url, "login", "--backend", "frappe", "--token-stdin", option, value]
    code, _out, err = run(
        argv, store=TokenStore(keyring), stdin=f"{bea.api_key}:{bea.api_secret}", transport=SHORT
    )
    assert code == 2
    assert err.startswith(f"notifier login: {option}: {reason}"), err
    assert err.count("\n") == 1
    assert keyring.entries == {}
    assert not app_paths().settings_file.exists()


def test_login_refuses_a_wrong_secret_said_with_no_message(
    site: FrappeStandin, bea: Account
) -> None:
    # Frappe raises a bare AuthenticationError for a wrong secret: the only text in its
    # answer is the class name, which was shown as the reason:
    # "the site refused the credentials (frappe.exceptions.AuthenticationError); ...".
    site.bare_key_refusal = True
    try:
        code, _, err = run(
            login_args(site, "--token-stdin"),
            store=TokenStore(MemoryKeyring()),
            stdin=f"{bea.api_key}:not-the-secret",
            transport=SHORT,
        )
    finally:
        site.bare_key_refusal = False
    assert code == 1
    assert err == (
        "notifier login: the site refused the credentials (Unauthorized); check the API key and"
        " secret\n"
    )


def test_frappe_options_need_the_frappe_backend() -> None:
    code, _, err = run(
        ["--server", "http://127.0.0.1:9", "login", "--site-name", "hd.example.com"],
        store=TokenStore(MemoryKeyring()),
    )
    assert code == 2
    assert "--site-name: only with --backend frappe" in err


# --------------------------------------------------------------------------- doctor


def test_doctor_names_a_key_without_the_agent_role(
    standin_site: SiteUnderTest, site: FrappeStandin
) -> None:
    customer = standin_site.driver.create_user("Cara Customer", agent=False)
    code, checks, text = doctor_as(customer, site)
    assert code == 1
    assert checks["sign-in"] == (
        f"✗ {customer.email} is not an agent on {site.url}: the API key (or user) needs the"
        " Agent role in Frappe Helpdesk (Helpdesk admin → Agents), ask an administrator"
    ), text


def test_doctor_names_a_missing_socketio_server(site: FrappeStandin, bea: Account) -> None:
    nowhere = f"http://127.0.0.1:{dead_port()}"
    code, checks, text = doctor_as(bea, site, frappe_socketio_url=nowhere)
    assert code == 1
    assert checks["sign-in"].startswith("✓ signed in as Bea Baker")
    detail = checks["live connection"]
    assert detail.startswith(f"✗ no socket.io server answers at {nowhere} (the socket.io"), text
    assert "on a development bench it is port 9000" in detail
    assert "--socketio-url URL" in detail


def test_doctor_names_a_site_url_given_as_the_socketio_url(
    site: FrappeStandin, bea: Account
) -> None:
    code, checks, text = doctor_as(bea, site, frappe_socketio_url=site.url)
    assert code == 1
    # Starlette refuses a WebSocket upgrade it has no route for with 403 (Frappe's web server
    # with 404: "is this the socket.io URL?").
    assert checks["live connection"].startswith(
        f"✗ no socket.io server answers at {site.url} (the socket.io server refused the"
        " connection (HTTP 403)"
    ), text


def test_doctor_names_a_refused_origin(site: FrappeStandin, bea: Account) -> None:
    # The site by one name, its socket.io server by another: Frappe compares the host names.
    by_name = f"http://localhost:{site.site_port}"
    code, checks, text = doctor_as(bea, site, server_url=by_name)
    assert code == 1
    assert checks["sign-in"].startswith("✓ signed in"), text
    assert checks["live connection"] == (
        f"✗ the socket.io server refused the Origin {by_name}: Frappe accepts only an Origin"
        " whose host is the one the socket.io server is reached at (127.0.0.1). Use the same"
        " host name in the site URL and the socket.io URL (not localhost in one and 127.0.0.1"
        " in the other), or have the proxy in front pass the Host header on"
    )


def test_doctor_names_a_wrong_site_name_behind_nginx(site: FrappeStandin, bea: Account) -> None:
    site.proxy_sets_site_name = True
    try:
        code, checks, text = doctor_as(bea, site, frappe_site_name="wrong.example.com")
    finally:
        site.proxy_sets_site_name = False
    assert code == 1
    assert checks["sign-in"].startswith("✓ signed in"), text  # REST is fine behind nginx
    assert checks["live connection"] == (
        "✗ the socket.io server refused the namespace /wrong.example.com: the site name is"
        " wrong (live updates would never arrive). Use the Frappe site's name (its folder under"
        " sites/ on the bench, often the host name): Settings → Account, or"
        " `notifier login --backend frappe --site-name NAME`"
    )


def test_doctor_names_a_wrong_site_name_on_a_bench(site: FrappeStandin, bea: Account) -> None:
    code, checks, text = doctor_as(bea, site, frappe_site_name="wrong.example.com")
    assert code == 1
    assert checks["server"].startswith(
        f"✗ {site.url} answered 404 to helpdesk's sign-in check (Site wrong.example.com does not"
        " exist): either the site name is not this site's"
    ), text
    assert "--site-name NAME" in checks["server"]
    assert "sign-in" not in checks


@asynccontextmanager
async def socketio_that_never_answers_the_join() -> AsyncIterator[str]:
    """A WebSocket server that opens an Engine.IO session and then ignores the namespace
    CONNECT (no ack, no connect_error)."""

    async def handler(connection: ServerConnection) -> None:
        await connection.send('0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
        async for _frame in connection:
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


@pytest.mark.asyncio
async def test_doctor_names_a_join_that_is_never_answered(
    site: FrappeStandin, bea: Account
) -> None:
    async with socketio_that_never_answers_the_join() as silent:
        code, checks, text = await asyncio.to_thread(
            doctor_as, bea, site, frappe_socketio_url=silent
        )
    assert code == 1
    assert checks["live connection"].startswith(
        f"✗ the socket.io server never answered joining the namespace /{site.name}: the site"
        " name is probably wrong"
    ), text


def test_doctor_without_a_saved_sign_in(site: FrappeStandin) -> None:
    code, checks, text = doctor(frappe_settings(site), None)
    assert code == 1
    assert checks["server"] == f"✓ {site.url} answers", text
    assert checks["sign-in"] == (
        "✗ no token stored for this server: run `notifier login --backend frappe`"
    )


def test_doctor_names_a_saved_sign_in_that_is_not_frappes(site: FrappeStandin) -> None:
    code, checks, text = doctor(
        frappe_settings(site), "a-reference-helpdesk-token", in_keyring=True
    )
    assert code == 1
    assert checks["sign-in"] == (
        "✗ the saved sign-in is not one for a Frappe Helpdesk site (a Frappe API token is"
        " '<api key>:<api secret>'); sign in again: run `notifier login --backend frappe`"
    ), text


def test_doctor_names_a_revoked_secret(site: FrappeStandin, bea: Account) -> None:
    code, checks, text = doctor(
        frappe_settings(site), f"{bea.api_key}:regenerated", in_keyring=True
    )
    assert code == 1
    assert checks["sign-in"].startswith(
        "✗ the site refused the saved API key and secret, or password"
    ), text
    assert checks["sign-in"].endswith("run `notifier login --backend frappe` again")


def test_doctor_names_a_refused_notifier_token(site: FrappeStandin, bea: Account) -> None:
    # A token from NOTIFIER_TOKEN was called "saved", and the advice was to sign in again,
    # which changes nothing while NOTIFIER_TOKEN is set: it wins over the keyring.
    code, checks, text = doctor(frappe_settings(site), f"{bea.api_key}:regenerated")
    assert code == 1
    assert checks["sign-in"].startswith(
        "✗ the site refused the API key and secret, or password, in NOTIFIER_TOKEN ("
    ), text
    assert checks["sign-in"].endswith(
        ": correct NOTIFIER_TOKEN (API_KEY:API_SECRET), or unset it and run"
        " `notifier login --backend frappe`"
    ), text
    assert "regenerated" not in text


def test_doctor_names_a_notifier_token_that_is_not_frappes(site: FrappeStandin) -> None:
    code, checks, text = doctor(frappe_settings(site), "a-reference-helpdesk-token")
    assert code == 1
    assert checks["sign-in"] == (
        "✗ NOTIFIER_TOKEN is not a Frappe Helpdesk sign-in: correct NOTIFIER_TOKEN"
        " (API_KEY:API_SECRET), or unset it and run `notifier login --backend frappe`"
    ), text
