"""notifier login / logout / doctor, in-process, against the reference server, with an
in-memory keyring injected (the default keyring in tests is the failing one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import run, run_process
from engine_keyring import MemoryKeyring
from helpdesk import Helpdesk

from notifier.store.cache import NotificationCache
from notifier.store.paths import app_paths
from notifier.store.secrets import SERVICE, TokenStore
from notifier.store.settings_file import load_settings


def test_login_with_a_password_stores_the_token_and_logout_deletes_it(helpdesk: Helpdesk) -> None:
    helpdesk.add_agent("alice", "Alice Adams", password="s3cret pass")
    keyring = MemoryKeyring()
    store = TokenStore(keyring)
    code, out, err = run(
        ["--server", helpdesk.url, "login", "--username", "alice"],
        store=store,
        password="s3cret pass",
    )
    assert code == 0, err
    assert "Alice Adams" in out
    token = keyring.entries[(SERVICE, helpdesk.url)]
    assert token and token not in out + err
    # the server URL is remembered, so later commands need no --server
    assert load_settings(app_paths().settings_file).server_url == helpdesk.url
    code, out, _ = run(["doctor"], store=store)
    assert "signed in as Alice Adams" in out
    cache = NotificationCache.open(app_paths().cache_file)
    cache.local_mark("some-id", True)  # something private in the cache
    cache.close()
    code, out, err = run(["logout"], store=store)
    assert code == 0, err
    assert (SERVICE, helpdesk.url) not in keyring.entries
    cache = NotificationCache.open(app_paths().cache_file)
    assert cache.pending_count() == 0
    cache.close()


def test_login_with_a_wrong_password_stores_nothing(helpdesk: Helpdesk) -> None:
    helpdesk.add_agent("alice", password="right")
    keyring = MemoryKeyring()
    code, _, err = run(
        ["--server", helpdesk.url, "login", "-u", "alice"],
        store=TokenStore(keyring),
        password="wrong",
    )
    assert code == 1
    assert "wrong username or password" in err
    assert keyring.entries == {}


def test_login_with_a_pasted_token(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("bob", "Bob Brown")
    keyring = MemoryKeyring()
    code, out, err = run(
        ["--server", helpdesk.url, "login", "--token-stdin"],
        store=TokenStore(keyring),
        stdin=token + "\n",
    )
    assert code == 0, err
    assert "Bob Brown" in out
    assert keyring.entries[(SERVICE, helpdesk.url)] == token
    code, _, err = run(
        ["--server", helpdesk.url, "login", "--token-stdin"],
        store=TokenStore(keyring),
        stdin="bogus\n",
    )
    assert code == 1 and "sign in again" in err


def test_login_without_a_keyring_says_what_to_do(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("bob")
    code, _, err = run(["--server", helpdesk.url, "login", "--token-stdin"], stdin=token)
    assert code == 1
    assert "keyring" in err and "NOTIFIER_TOKEN" in err
    assert token not in err


def test_login_without_a_server_is_a_usage_error() -> None:
    code, _, err = run(["login", "--token-stdin"], stdin="t", store=TokenStore(MemoryKeyring()))
    assert code == 2 and "--server" in err


def test_doctor_passes_with_a_valid_token_from_the_environment(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("alice", "Alice Adams")
    code, out, _ = run(
        ["doctor"], environ={"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": token}
    )
    assert code == 0, out
    assert "signed in as Alice Adams" in out
    assert "WebSocket connects" in out
    # The environment's token is enough: doctor leaves the keyring alone (test_doctor.py).
    assert "– keyring: not used: the token comes from NOTIFIER_TOKEN" in out
    assert "readable" in out
    assert token not in out


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "no helpdesk URL is configured"),
        ({"NOTIFIER_SERVER": "http://127.0.0.1:9", "NOTIFIER_TOKEN": "t"}, "cannot be reached"),
    ],
)
def test_doctor_fails_and_says_what_to_do(environ: dict[str, str], expected: str) -> None:
    code, out, _ = run(["doctor"], environ=environ)
    assert code == 1
    assert expected in out
    assert "✗ keyring" in out or "NOTIFIER_TOKEN" in environ


def test_doctor_reports_a_rejected_token(helpdesk: Helpdesk) -> None:
    code, out, _ = run(
        ["doctor"], environ={"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": "revoked"}
    )
    assert code == 1
    assert "rejected the token" in out and "notifier login" in out


def test_doctor_says_a_rejected_notifier_token_is_fixed_there(helpdesk: Helpdesk) -> None:
    # "run `notifier login` again" alone changed nothing: NOTIFIER_TOKEN wins over the keyring.
    code, out, _ = run(
        ["doctor"], environ={"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": "revoked"}
    )
    assert code == 1
    assert (
        "✗ sign-in: the server rejected the token in NOTIFIER_TOKEN (expired or revoked): correct"
        " NOTIFIER_TOKEN, or unset it and run `notifier login`\n"
    ) in out


def test_doctor_reports_a_rebuilt_cache(helpdesk: Helpdesk, tmp_path: Path) -> None:
    token = helpdesk.add_agent("alice")
    paths = app_paths().ensure()
    paths.cache_file.write_bytes(b"junk" * 100)
    code, out, _ = run(
        ["doctor"], environ={"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": token}
    )
    assert code == 0
    assert "! cache: the cache was unreadable" in out


def test_tail_when_signed_out_says_how_to_sign_in() -> None:
    code, _, err = run(["tail"])
    assert code == 2
    assert "notifier login" in err


def test_logout_revokes_the_token_on_the_server_before_deleting_it(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("carol")
    keyring = MemoryKeyring()
    keyring.entries[(SERVICE, helpdesk.url)] = token
    me = helpdesk.actions(token)
    assert me.request("GET", "/api/v1/me").status_code == 200
    code, out, err = run(["--server", helpdesk.url, "logout"], store=TokenStore(keyring))
    assert code == 0, err
    assert "the server revoked the token" in out
    assert (SERVICE, helpdesk.url) not in keyring.entries
    assert me.request("GET", "/api/v1/me").status_code == 401


def test_logout_offline_still_deletes_the_token_here_and_says_so(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("dave")
    keyring = MemoryKeyring()
    keyring.entries[(SERVICE, helpdesk.url)] = token
    helpdesk.stop()  # the server is unreachable now
    code, out, err = run(["--server", helpdesk.url, "logout"], store=TokenStore(keyring))
    assert code == 0, err
    assert (SERVICE, helpdesk.url) not in keyring.entries
    assert "could not revoke the token" in err and "on this computer only" in err
    assert "Signed out" in out and "revoked" not in out
    assert token not in out + err


def test_login_to_another_helpdesk_than_the_locked_one_is_refused(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    # IT locked the helpdesk (issue 15): a token for another one would never be used.
    site = tmp_path / "site.json"
    site.write_text(
        json.dumps({"version": 1, "server_url": helpdesk.url, "locked": ["server_url"]}),
        encoding="utf-8",
    )
    environ = {"NOTIFIER_SITE_CONFIG": str(site)}
    token = helpdesk.add_agent("bob", "Bob Brown")
    keyring = MemoryKeyring()
    elsewhere = "http://127.0.0.1:9"
    code, out, err = run(
        ["--server", elsewhere, "login", "--token-stdin"],
        store=TokenStore(keyring),
        environ=environ,
        stdin=token + "\n",
    )
    assert code == 2, err
    assert "IT department" in err and helpdesk.url in err and str(site) in err
    assert out == ""
    assert keyring.entries == {}
    assert not app_paths().settings_file.exists()
    # The locked helpdesk itself, named or not, signs in as usual.
    for argv in (["--server", helpdesk.url, "login", "--token-stdin"], ["login", "--token-stdin"]):
        code, out, err = run(argv, store=TokenStore(keyring), environ=environ, stdin=token + "\n")
        assert code == 0, err
        assert keyring.entries == {(SERVICE, helpdesk.url): token}


def test_login_without_a_password_to_read_says_so_without_a_traceback() -> None:
    # With nothing on standard input and no terminal (or Ctrl+D at the prompt), getpass raised
    # EOFError and login printed its traceback.
    environ = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    argv = ["--server", "http://127.0.0.1:9", "login", "--username", "alice"]
    result = run_process(argv, environ, stdin="")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    # A script gave nothing: it is told what to give, not that someone cancelled.
    assert result.stderr.rstrip().endswith(
        "notifier login: no password on standard input; pipe it in as one line"
        " (or use --token-stdin), or run login in a terminal; nothing was stored"
    )
    # Asked for a user name and given none, it says one is needed before any password.
    result = run_process(argv[:3], environ, stdin="")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "notifier login: a user name is needed" in result.stderr


def test_tail_without_a_keyring_says_so_once(helpdesk: Helpdesk) -> None:
    # As an agent runs it: a process, whose logging starts inside the command. What reading
    # the token logged before went to Python's last-resort handler, a second copy on stderr.
    env = {key: value for key, value in os.environ.items() if key != "NOTIFIER_TOKEN"}
    result = run_process(["tail"], {**env, "NOTIFIER_SERVER": helpdesk.url})
    assert result.returncode == 2, result.stderr
    assert "notifier tail: not signed in (keyring unavailable" in result.stderr
    assert result.stderr.count("no usable system keyring") == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_logout_of_another_helpdesk_keeps_this_ones_cache_and_queue(helpdesk: Helpdesk) -> None:
    # `notifier logout --server OLD` (an address the agent no longer uses) emptied the cache
    # of the helpdesk in use, unsent actions included.
    token = helpdesk.add_agent("olga", "Olga Old")
    keyring = MemoryKeyring()
    keyring.entries[(SERVICE, helpdesk.url)] = token
    cache = NotificationCache.open(app_paths().cache_file)
    assert cache.claim(f"{helpdesk.url} olga-id")
    cache.local_mark("some-id", True)  # an action not yet sent to the helpdesk in use
    cache.close()
    old = "http://127.0.0.1:9"
    keyring.entries[(SERVICE, old)] = "an old token"
    code, out, err = run(["--server", old, "logout"], store=TokenStore(keyring))
    assert code == 0, err
    assert (SERVICE, old) not in keyring.entries
    assert keyring.entries[(SERVICE, helpdesk.url)] == token
    assert out.startswith(
        f"Signed out of {old}; the stored token was deleted (the cached notifications are"
        " another helpdesk's and were kept)"
    )
    cache = NotificationCache.open(app_paths().cache_file)
    assert cache.pending_count() == 1 and cache.owner() == f"{helpdesk.url} olga-id"
    cache.close()
    # Signing out of the helpdesk in use still empties it.
    code, out, err = run(["--server", helpdesk.url, "logout"], store=TokenStore(keyring))
    assert code == 0, err
    assert "the stored token and the cached notifications were deleted" in out
    cache = NotificationCache.open(app_paths().cache_file)
    assert cache.pending_count() == 0 and cache.owner() is None
    cache.close()


def test_a_server_url_with_a_wrong_path_is_told_to_check_the_url(helpdesk: Helpdesk) -> None:
    # "http://host/helpdesk" where the helpdesk is at "http://host": login said only "Not
    # Found", doctor "answered with an error: Not Found".
    helpdesk.add_agent("alice", "Alice Adams", password="s3cret pass")
    keyring = MemoryKeyring()
    wrong = f"{helpdesk.url}/helpdesk"
    code, _, err = run(
        ["--server", wrong, "login", "--username", "alice"],
        store=TokenStore(keyring),
        password="s3cret pass",
    )
    assert code == 1
    assert f"no helpdesk API at {wrong}/api/v1" in err and "check the server URL" in err, err
    assert keyring.entries == {}
    code, out, _ = run(["--server", wrong, "doctor"], store=TokenStore(keyring))
    assert f"no helpdesk API at {wrong}/api/v1" in out, out
