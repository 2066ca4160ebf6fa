"""Headless commands: ``login``, ``logout``, ``tail`` and ``doctor`` (no Qt unless needed).

They use the same parts as the tray app (:func:`notifier.compose.build_engine` and
:func:`~notifier.compose.build_backend`, the keyring :class:`~notifier.store.secrets.TokenStore`),
so ``notifier tail`` syncs exactly like the app and ``notifier doctor`` checks what the app
needs; ``login`` signs in through the app's account service
(:class:`~notifier.app.account.AccountService`, no Qt), as its settings dialog does.
``tail`` keeps its own cache file (``AppPaths.tail_cache_file``): its cursor is what it
printed, and it prints each change before committing it (at-least-once output).

Everything a test needs to replace is a keyword argument of :func:`run_command` (the token
store, the environment, the password prompt, the streams, the timeouts); ``main.py`` passes
none of them. Exit codes: 0 success, 1 a failure the output explains, 2 a usage problem
(nothing to do), 3 ``tail`` could not print (its standard output went away).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from notifier.app.account import AccountService
from notifier.app.status_text import every_words
from notifier.client.auth import revoke_token
from notifier.client.transport import CA_BUNDLE_ADVICE, TransportConfig
from notifier.compose import (
    LiveServices,
    build_backend,
    build_engine,
    forget_backend_state,
    redact_also,
    resolve_credentials,
    resolve_server_url,
    setup_logging,
    transport_config,
)
from notifier.core.errors import (
    AuthFailed,
    BackendError,
    ConnectionLost,
    KeyringUnavailable,
    NotFound,
    NotifierError,
    ProxyFailed,
)
from notifier.core.ports import HelpdeskBackend
from notifier.core.settings import (
    BackendKind,
    HelpdeskChoice,
    Settings,
    SettingsError,
    validate_frappe_site_name,
    validate_server_url,
    validate_time_zone,
)
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.core.text import plain_line, reason_label
from notifier.core.wire import Hello, Notification
from notifier.store.cache import NotificationCache
from notifier.store.paths import AppPaths, app_paths
from notifier.store.secrets import TokenStore
from notifier.store.settings_file import load_settings
from notifier.store.site_settings import (
    NO_SITE_SETTINGS,
    SiteSettings,
    load_site_settings,
    read_site_settings,
    site_settings_file,
)

if TYPE_CHECKING:  # the Frappe adapter is imported only when the settings name it
    from notifier.client.frappe_rest import FrappeSite

EXIT_STDOUT_GONE = 3  # `notifier tail` could not print: its reader went away


@dataclass
class Io:
    """The outside world of a command, replaceable in tests."""

    environ: Mapping[str, str]
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    token_store: TokenStore
    read_password: Callable[[str], str]
    transport: TransportConfig | None = None  # the timeouts (tests shorten them)
    site: SiteSettings = NO_SITE_SETTINGS  # IT's system-wide defaults and locks
    site_problem: str | None = None  # why the site file is ignored (None: it is not)

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def warn(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()


def run_command(
    command: str,
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    token_store: TokenStore | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    read_password: Callable[[str], str] | None = None,
    transport: TransportConfig | None = None,
) -> int:
    env = os.environ if environ is None else environ
    site_file = site_settings_file(env)
    if command == "doctor":  # an unusable file is one of its checks, not a log line
        site, site_problem = read_site_settings(site_file)
    else:
        site, site_problem = load_site_settings(site_file), None
    io = Io(
        environ=env,
        stdin=stdin or sys.stdin,
        stdout=stdout or sys.stdout,
        stderr=stderr or sys.stderr,
        token_store=token_store if token_store is not None else TokenStore(),
        read_password=read_password or read_terminal_password,
        transport=transport,
        site=site,
        site_problem=site_problem,
    )
    paths = app_paths(dict(io.environ))
    settings = load_settings(paths.settings_file, io.site)
    commands: dict[str, Callable[[argparse.Namespace, AppPaths, Settings, Io], int]] = {
        "login": _login,
        "logout": _logout,
        "tail": _tail,
        "doctor": _doctor,
    }
    handler = commands.get(command)
    if handler is None:
        io.warn(f"notifier: unknown command {command!r}")
        return 2
    try:
        return handler(args, paths, settings, io)
    except SettingsError as error:
        io.warn(f"notifier {command}: {error}")
        return 2


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # closed
        return False


def read_terminal_password(prompt: str) -> str:
    """The password: asked on a terminal without echo; else one line of standard input (a
    script's ``echo "$PASSWORD" | notifier login -u alice``), without getpass's warning about
    echo, which printed a Python file name and line above the prompt. EOFError when there is
    none, as getpass raises it."""
    if _is_terminal(sys.stdin):
        return getpass.getpass(prompt)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise EOFError
    # Only the line ending goes: spaces may be part of a password.
    return line.removesuffix("\n").removesuffix("\r")


def _server(args: argparse.Namespace, settings: Settings, io: Io) -> str:
    return resolve_server_url(settings, io.environ, getattr(args, "server", None))


# --------------------------------------------------------------------------- login / logout


def _login(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    server_url = _server(args, settings, io)
    if not server_url:
        io.warn(
            "notifier login: which helpdesk? Use: notifier login --server https://helpdesk.example.com"
            " (add --backend frappe for a Frappe Helpdesk site)"
        )
        return 2
    named = getattr(args, "server", None)
    if named and "server_url" in io.site.locked and server_url != settings.server_url:
        # The app would keep using the locked helpdesk: a token for this one is no use.
        io.warn(
            f"notifier login: your IT department set the helpdesk to {settings.server_url}"
            f" ({io.site.path}); sign in there: notifier login"
        )
        return 2
    try:
        helpdesk = _chosen_helpdesk(args, settings, server_url)
    except SettingsError as error:
        io.warn(f"notifier login: {error}")
        return 2
    frappe = helpdesk.backend is BackendKind.FRAPPE
    # The tray's account service: the same checks, keyring entry and settings as its dialog.
    account = AccountService(
        settings,
        LiveServices(paths, io.environ, transport=io.transport, token_store=io.token_store),
        settings_path=paths.settings_file,
        site=io.site,
    )
    token: str | None = None  # None: a username and password
    try:
        if getattr(args, "token_stdin", False):
            token = io.stdin.readline().strip()
            if not token:
                io.warn(
                    "notifier login: no token on standard input"
                    + (" (a Frappe API key and secret: KEY:SECRET)" if frappe else "")
                )
                return 2
            key, colon, secret = token.partition(":")
            if frappe and not (key.strip() and colon and secret.strip()):
                io.warn(
                    "notifier login: the token on standard input is not API_KEY:API_SECRET"
                    " (the API key, a colon, then the API secret)"
                )
                return 2
        elif frappe and not getattr(args, "username", None):
            key = _ask(io, "API key: ")
            secret = io.read_password(f"API secret for {key} at {server_url}: ").strip()
            if not key or not secret:
                io.warn("notifier login: an API key and its secret are needed (or use --username)")
                return 2
            token = f"{key}:{secret}"
        if token is not None:
            agent = asyncio.run(account.sign_in_token(server_url, token, helpdesk=helpdesk))
        else:
            username = getattr(args, "username", None) or _ask(io, "Username: ")
            if not username:
                io.warn("notifier login: a user name is needed (or use --token-stdin)")
                return 2
            password = io.read_password(f"Password for {username} at {server_url}: ")
            agent = asyncio.run(
                account.sign_in_password(server_url, username, password, helpdesk=helpdesk)
            )
    except NotFound as error:
        # Frappe: a site name that is not this site's (or no Frappe Helpdesk there).
        io.warn(f"notifier login: {_frappe_not_found(server_url, error) if frappe else error}")
        return 1
    except (NotifierError, ValueError) as error:
        io.warn(f"notifier login: {error}")
        return 1
    except (EOFError, KeyboardInterrupt) as stopped:
        # Ctrl+D or Ctrl+C at the password prompt, or no terminal and nothing on standard
        # input: a sentence on a line of its own (the prompt left the cursor), no traceback.
        if isinstance(stopped, EOFError) and not _is_terminal(io.stdin):
            # A script: say what it must give, not that someone cancelled.
            io.warn(
                "\nnotifier login: no password on standard input; pipe it in as one line"
                " (or use --token-stdin), or run login in a terminal; nothing was stored"
            )
        else:
            io.warn("\nnotifier login: cancelled; nothing was stored")
        return 1
    kind = " (Frappe Helpdesk)" if frappe else ""
    io.say(f"Signed in to {server_url}{kind} as {agent.name} ({agent.username}).")
    return 0


FRAPPE_OPTIONS = {
    "site_name": "--site-name",
    "socketio_url": "--socketio-url",
    "time_zone": "--time-zone",
}


def _chosen_helpdesk(
    args: argparse.Namespace, settings: Settings, server_url: str
) -> HelpdeskChoice:
    """The kind of helpdesk and the Frappe fields ``notifier login`` signs in with: the options
    given, else the settings' (a site's fields are kept only for the same site)."""
    given = getattr(args, "backend", None)
    backend = BackendKind(given) if given else settings.backend
    options = {name: getattr(args, name, None) for name in FRAPPE_OPTIONS}
    if backend is not BackendKind.FRAPPE:
        used = [flag for name, flag in FRAPPE_OPTIONS.items() if options[name] is not None]
        if used:
            raise SettingsError("backend", f"{', '.join(used)}: only with --backend frappe")
        return HelpdeskChoice(backend)
    checks: dict[str, Callable[[str], str | None]] = {
        "site_name": validate_frappe_site_name,
        "socketio_url": lambda url: validate_server_url(url, "frappe_socketio_url"),
        "time_zone": validate_time_zone,
    }
    for name, check in checks.items():
        given = options[name]
        try:
            options[name] = check(str(given)) if given is not None else None
        except SettingsError as error:  # named as typed: "--time-zone", not the settings key
            raise SettingsError(FRAPPE_OPTIONS[name], error.reason) from None
    same_site = server_url == settings.server_url and backend is settings.backend
    kept = HelpdeskChoice.of(settings) if same_site else HelpdeskChoice(backend)
    return HelpdeskChoice(
        backend,
        frappe_site_name=options["site_name"] or kept.frappe_site_name,
        frappe_socketio_url=options["socketio_url"] or kept.frappe_socketio_url,
        frappe_time_zone=options["time_zone"] or kept.frappe_time_zone,
    )


def _ask(io: Io, prompt: str) -> str:
    io.stderr.write(prompt)
    io.stderr.flush()
    return io.stdin.readline().strip()


def _logout(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    server_url = _server(args, settings, io)
    if not server_url:
        io.warn("notifier logout: no helpdesk is configured; nothing to do")
        return 2
    try:
        token = io.token_store.get(server_url)
        # Only this project's helpdesk revokes tokens over its API (a Frappe key stays valid
        # on the site until its owner regenerates it there).
        revoked = (
            _revoke(server_url, token, settings, io)
            if token and settings.backend is BackendKind.REFERENCE
            else None
        )
        io.token_store.delete(server_url)
    except KeyringUnavailable as error:
        io.warn(f"notifier logout: {error}")
        return 1
    # Like the app's sign-out: this agent's notifications and unsent actions stay private.
    # A cache that another helpdesk's sync filled (`logout --server` for an old address) is
    # left alone: its unsent actions are still that account's to send.
    kept = False
    for cache_file in (paths.cache_file, paths.tail_cache_file):
        cache = NotificationCache.open(cache_file)
        try:
            owner = cache.owner()
            if owner is not None and not owner.startswith(f"{server_url} "):
                kept = True
                continue
            cache.forget()
        finally:
            cache.close()
        forget_backend_state(cache_file)
    deleted = (
        "the stored token was deleted (the cached notifications are another helpdesk's and were"
        " kept)"
        if kept
        else "the stored token and the cached notifications were deleted"
    )
    io.say(
        f"Signed out of {server_url}; {deleted}"
        + (" and the server revoked the token." if revoked else ".")
    )
    return 0


def _revoke(server_url: str, token: str, settings: Settings, io: Io) -> bool:
    """Ask the server to revoke the token (best effort: signing out works offline too)."""
    try:
        asyncio.run(revoke_token(server_url, token, TransportConfig.from_settings(settings)))
    except AuthFailed:
        return True  # the server had already forgotten it
    except (NotifierError, ValueError) as error:
        io.warn(
            f"notifier logout: the server could not revoke the token ({error}); "
            "it is deleted on this computer only"
        )
        return False
    return True


# --------------------------------------------------------------------------- tail


def change_to_json(change: CacheChange) -> list[dict[str, Any]]:
    """One JSON object per line: one per notification for upserts, one per change else."""
    flags = {"replay": change.replay, "local": change.local}
    if change.kind is ChangeKind.UPSERTED:
        return [
            {"change": change.kind.value, "notification": n.to_json(), **flags}
            for n in change.notifications
        ]
    if change.kind is ChangeKind.READ_STATE:
        return [
            {"change": change.kind.value, "ids": list(change.ids), "read": change.read, **flags}
        ]
    if change.kind is ChangeKind.DELETED:
        return [{"change": change.kind.value, "ids": list(change.ids), **flags}]
    return [{"change": change.kind.value, **flags}]


# Characters that line-splitting readers (JavaScript, Python's str.splitlines) take for line
# ends, and C1 controls a terminal may act on: json.dumps leaves them raw with
# ensure_ascii=False, so they are written as \uXXXX escapes (they only occur inside strings).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def terminal_text(text: str) -> str:
    """Text from the server made safe to print on a terminal, on one line: no escape
    sequence, control character or bidi override can reach the terminal."""
    return plain_line(text)


def json_line(item: Mapping[str, Any]) -> str:
    """``item`` as one line of JSON that every line-splitting reader splits only at its end."""
    text = json.dumps(item, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def change_to_text(change: CacheChange) -> list[str]:
    """Lines for a terminal; every field from the server goes through terminal_text."""
    if change.kind is ChangeKind.UPSERTED:
        return [_notification_line(n, change.replay) for n in change.notifications]
    ids = ", ".join(terminal_text(i) for i in change.ids)
    if change.kind is ChangeKind.READ_STATE:
        word = "read" if change.read else "unread"
        return [f"marked {word}: {ids}"]
    if change.kind is ChangeKind.DELETED:
        return [f"deleted: {ids}"]
    return ["the cache was reloaded from the server"]


def _notification_line(n: Notification, replay: bool) -> str:
    who = terminal_text(n.sender.name) if n.sender else "helpdesk"
    # Read lines keep the marker's column blank, so the labels of a history line up.
    state = "  " if n.read else "* "
    first_line = next((line for line in n.message.splitlines() if line.strip()), "")
    prefix = "(earlier) " if replay else ""
    subject, message, link = (terminal_text(t) for t in (n.ticket.subject, first_line, n.link))
    said = f": {message}" if message else ""  # a Frappe assignment has no message
    return f"{prefix}{state}[{reason_label(n)}] {subject} — {who}{said}  {link}"


def _tail(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    as_json = bool(getattr(args, "json", False))

    def on_change(change: CacheChange) -> None:
        # Runs before the engine commits the change (publish_before_commit): a line is
        # printed, then committed, so a kill in between prints it again on the next start.
        lines = (
            [json_line(i) for i in change_to_json(change)] if as_json else change_to_text(change)
        )
        try:
            for line in lines:
                io.say(line)
        except OSError as error:
            # Standard output is gone (the reader closed the pipe). Exit at once, before the
            # engine commits this change, so the next run prints it again; returning would
            # commit it, and go on syncing with nobody to print to.
            logging.getLogger(__name__).warning("notifier tail: cannot print (%s); exiting", error)
            logging.shutdown()
            os._exit(EXIT_STDOUT_GONE)

    try:
        return asyncio.run(_tail_async(args, paths, settings, io, on_change))
    except KeyboardInterrupt:  # Ctrl-C where no signal handler could be installed
        return 0


async def _tail_async(
    args: argparse.Namespace,
    paths: AppPaths,
    settings: Settings,
    io: Io,
    on_change: Callable[[CacheChange], None],
) -> int:
    final: list[ConnectionStatus] = []
    stop_requested = asyncio.Event()

    shown: list[tuple[object, ...]] = []

    def on_status(status: ConnectionStatus) -> None:
        # The engine also publishes when only the agent or the retry time changed; a
        # terminal wants a line per state, error or notice change.
        key = (status.state, status.last_error, status.notice, status.delayed)
        if shown and shown[-1] == key:
            return
        shown.append(key)
        # A status may quote the server (an error message, a close reason): printed as
        # plain text, as every other word from the server is (terminal_text).
        detail = f": {terminal_text(status.last_error)}" if status.last_error else ""
        if status.delayed is not None:  # connected, but new notifications only by a check
            every = every_words(status.delayed.check_interval)
            reason = terminal_text(status.delayed.reason)
            detail = f": no live updates ({reason}); checking {every}"
        io.warn(f"[{status.state.value}{detail}]")
        if status.notice and (len(shown) == 1 or shown[-2][2] != status.notice):
            io.warn(f"[notice: {status.notice}]")
        if status.state is ConnectionState.AUTH_FAILED:
            final.append(status)
            stop_requested.set()

    # Logging first: what reading the token logs (a keyring that cannot be used) goes to the
    # log file, not to Python's last-resort handler, which printed it on stderr before the
    # line below says the same.
    handler = setup_logging(paths, settings.log_level.value)
    credentials = resolve_credentials(
        settings,
        io.environ,
        server_override=getattr(args, "server", None),
        token_store=io.token_store,
    )
    if credentials.token:
        redact_also(handler, credentials.token)
    cache = NotificationCache.open(paths.tail_cache_file)
    engine = build_engine(
        settings,
        cache,
        on_status=on_status,
        on_change=on_change,
        environ=io.environ,
        token_store=io.token_store,
        server_override=getattr(args, "server", None),
        transport=io.transport,
        publish_before_commit=True,
    )
    try:
        if engine is None:
            io.warn(
                f"notifier tail: not signed in ({credentials.token_source}). "
                "Run: notifier login --server URL (or set NOTIFIER_SERVER and NOTIFIER_TOKEN)"
            )
            return 2
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Not on Windows: there Ctrl-C arrives as KeyboardInterrupt (caught in _tail).
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop_requested.set)
                handled.append(signum)
        run = asyncio.create_task(engine.run())
        stopper = asyncio.create_task(stop_requested.wait())
        try:
            await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await engine.stop()
            await run
            stopper.cancel()
            for signum in handled:
                loop.remove_signal_handler(signum)
        if final:
            io.warn(
                "notifier tail: the server rejected the token; sign in again with notifier login"
            )
            return 1
        return 0
    finally:
        cache.close()
        logging.getLogger().removeHandler(handler)
        handler.close()


# --------------------------------------------------------------------------- doctor


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIPPED = "skipped"  # not needed here (the keyring when NOTIFIER_TOKEN is set)


SYMBOLS = {Outcome.OK: "✓", Outcome.WARN: "!", Outcome.FAIL: "✗", Outcome.SKIPPED: "–"}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report. A warning always carries ``advice`` (what to do); failures
    give it in ``advice`` or, the older ones, inside ``detail``."""

    name: str
    outcome: Outcome
    detail: str
    advice: str = ""

    def __post_init__(self) -> None:
        if self.outcome is Outcome.WARN and not self.advice:
            raise ValueError(f"the warning {self.name!r} says nothing about what to do")

    def line(self) -> str:
        text = f"{self.detail.rstrip('. ')}: {self.advice}" if self.advice else self.detail
        return f"{SYMBOLS[self.outcome]} {self.name}: {text}"


def summary(checks: list[Check]) -> str:
    """The last line: "All checks passed." only when nothing failed or warned."""
    failed = sum(c.outcome is Outcome.FAIL for c in checks)
    warned = sum(c.outcome is Outcome.WARN for c in checks)
    warnings = f"{warned} warning{'s' if warned != 1 else ''}"
    if failed:
        also = f" and {warnings}" if warned else ""
        failures = f"{failed} check{'s' if failed != 1 else ''}"
        return f"{failures} failed{also}; fix them in the order above."
    if warned:
        return f"No check failed, but {warnings}: see what to do above."
    return "All checks passed."


def _doctor(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    checks = asyncio.run(run_checks(args, paths, settings, io))
    for check in checks:
        io.say(check.line())
    io.say(summary(checks))
    return 1 if any(c.outcome is Outcome.FAIL for c in checks) else 0


@dataclass(frozen=True, slots=True)
class _DoctorToken:
    """The token doctor checks with, and what to say when there is none."""

    token: str | None
    missing: str  # the sign-in advice when the server wants a token and there is none
    withheld: bool = False  # it may be in the keyring, left closed: reading it would prompt
    from_environment: bool = False  # NOTIFIER_TOKEN: signing in again would not replace it


def _keyring_check(server_url: str, settings: Settings, io: Io) -> tuple[Check, _DoctorToken]:
    """The keyring line and the token. With NOTIFIER_TOKEN the keyring is not opened at all
    (on a desktop, opening it may start a daemon and ask for a password); without it, the
    token is read only when that asks for nothing (:meth:`TokenStore.prompt_risk`)."""
    login = f"run `{_login_command(settings)}`"
    env_token = io.environ.get("NOTIFIER_TOKEN", "").strip()
    if env_token:
        skipped = Check(
            "keyring",
            Outcome.SKIPPED,
            "not used: the token comes from NOTIFIER_TOKEN, so doctor did not open the keyring",
        )
        return skipped, _DoctorToken(env_token, login, from_environment=True)
    try:
        risk = io.token_store.prompt_risk()
        if risk is not None:
            return (
                Check("keyring", Outcome.WARN, risk.reason, risk.advice),
                _DoctorToken(None, login, withheld=True),
            )
        token = io.token_store.get(server_url) if server_url else None
    except KeyringUnavailable as error:
        return (
            Check("keyring", Outcome.FAIL, str(error)),
            _DoctorToken(None, f"{login} (after fixing the keyring) or set NOTIFIER_TOKEN"),
        )
    usable = Check("keyring", Outcome.OK, f"usable ({io.token_store.backend_name()})")
    return usable, _DoctorToken(token, login)


async def run_checks(
    args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io
) -> list[Check]:
    checks: list[Check] = []
    if io.site_problem is not None:
        checks.append(
            Check(
                "site settings",
                Outcome.FAIL,
                f"{io.site_problem}: it is ignored, so the helpdesk address and locked settings"
                " your IT department set there do not apply",
                "ask your IT department to fix the file",
            )
        )
    if io.site.ignored:
        checks.append(
            Check(
                "site settings",
                Outcome.WARN,
                f"{io.site.path} has names this version does not know, so they are ignored:"
                f" {', '.join(io.site.ignored)}",
                "correct their spelling in the file, or remove them",
            )
        )
    server_url = _server(args, settings, io)
    config, tls_notice = transport_config(settings, io.transport, io.environ)
    if tls_notice is not None:
        ca_fix = _setting_fix("ca_bundle", settings.ca_bundle, "Settings → General", io.site)
        problem = tls_notice.removesuffix(f"; {CA_BUNDLE_ADVICE}")
        checks.append(Check("TLS settings", Outcome.FAIL, problem, f"{ca_fix} (a PEM file)"))

    keyring_check, token = _keyring_check(server_url, settings, io)
    checks.append(keyring_check)

    if not server_url:
        checks.append(
            Check(
                "server",
                Outcome.FAIL,
                "no helpdesk URL is configured"
                + (
                    " (the site settings file, which may set it, is unusable: above)"
                    if io.site_problem is not None
                    else ""
                )
                + ": run `notifier login --server https://your-helpdesk` or set NOTIFIER_SERVER",
            )
        )
    else:
        proxy_fix = _setting_fix("proxy", settings.proxy, "Settings → General", io.site)
        checks.extend(await _server_checks(settings, server_url, token, config, proxy_fix))

    checks.append(_cache_check(paths))
    checks.append(_tray_check(io.environ))
    checks.append(_notification_service_check(io.environ))
    return checks


async def _server_checks(
    settings: Settings,
    server_url: str,
    token: _DoctorToken,
    config: TransportConfig,
    proxy_fix: str,
) -> list[Check]:
    """The proxy, the server, the token and the live connection, through the backend the
    engine uses (the kind ``settings.backend`` names)."""
    try:
        route = config.proxy_for(server_url)
    except ProxyFailed as error:
        return [_proxy_check(error, proxy_fix)]
    frappe = settings.backend is BackendKind.FRAPPE
    # Without a token, a made-up one still shows whether the server answers (with a 401).
    probe = "doctor:probe" if frappe else "doctor-probe"
    # A ledger of its own: a tray that runs meanwhile keeps its ledger to itself.
    with tempfile.TemporaryDirectory(prefix="notifier-doctor-") as folder:
        try:
            backend = build_backend(
                settings,
                server_url,
                token.token or probe,
                config,
                ledger_file=Path(folder) / "ledger.sqlite3",
            )
        except AuthFailed as error:
            if token.from_environment:
                unusable = (
                    "NOTIFIER_TOKEN is not a Frappe Helpdesk sign-in:"
                    f" {_fix_environment_token(settings)}"
                )
                return [Check("sign-in", Outcome.FAIL, unusable)]
            return [Check("sign-in", Outcome.FAIL, f"{error}: run `{_login_command(settings)}`")]
        try:
            checks = await _backend_checks(backend, settings, server_url, token, config, proxy_fix)
        finally:
            await backend.aclose()
    if route is not None and all(check.name != "proxy" for check in checks):
        checks.insert(0, Check("proxy", Outcome.OK, f"connections go through {route.describe()}"))
    return checks


def _login_command(settings: Settings) -> str:
    return (
        "notifier login --backend frappe"
        if settings.backend is BackendKind.FRAPPE
        else ("notifier login")
    )


def _fix_environment_token(settings: Settings) -> str:
    """What to do about a token from NOTIFIER_TOKEN the helpdesk does not take: it wins over
    the keyring, so signing in again alone changes nothing."""
    form = " (API_KEY:API_SECRET)" if settings.backend is BackendKind.FRAPPE else ""
    return f"correct NOTIFIER_TOKEN{form}, or unset it and run `{_login_command(settings)}`"


def _setting_fix(name: str, value: object, where: str, site: SiteSettings) -> str:
    """Where to correct the setting ``name``: the dialog, or IT's site settings file when the
    value in force is the one that file sets (there the agent cannot change it for good)."""
    if value is not None and site.path is not None and site.values.get(name) == value:
        return f"correct or clear {name} in the site settings file {site.path}"
    return f"correct or clear it in {where}"


def _proxy_check(error: ProxyFailed, setting_fix: str) -> Check:
    fix = (
        setting_fix
        if error.route == "the proxy setting"
        else f"correct {error.route}, or unset it to connect directly"
    )
    return Check("proxy", Outcome.FAIL, f"{error}: start the proxy, or {fix}")


async def _backend_checks(
    backend: HelpdeskBackend,
    settings: Settings,
    server_url: str,
    token: _DoctorToken,
    config: TransportConfig,
    proxy_fix: str,
) -> list[Check]:
    frappe = settings.backend is BackendKind.FRAPPE
    answers = Check("server", Outcome.OK, f"{server_url} answers")
    try:
        agent = await backend.me()
    except AuthFailed as error:
        if token.withheld:
            not_read = Check(
                "sign-in",
                Outcome.WARN,
                "not checked: the token was not read from the keyring, since that would ask"
                " for its password",
                "see the keyring line above, then run notifier doctor again",
            )
            return [answers, not_read]
        if token.token is None:
            missing = Check(
                "sign-in", Outcome.FAIL, "no token stored for this server", token.missing
            )
            return [answers, missing]
        if error.code == "not_an_agent":  # Frappe: a user without the Agent role
            return [answers, Check("sign-in", Outcome.FAIL, str(error))]
        if token.from_environment:
            refused = (
                f"the site refused the API key and secret, or password, in NOTIFIER_TOKEN"
                f" ({error}): {_fix_environment_token(settings)}"
                if frappe
                else "the server rejected the token in NOTIFIER_TOKEN (expired or revoked):"
                f" {_fix_environment_token(settings)}"
            )
        else:
            refused = (
                f"the site refused the saved API key and secret, or password ({error}): run"
                f" `{_login_command(settings)}` again"
                if frappe
                else "the server rejected the token (expired or revoked): run `notifier login`"
                " again"
            )
        return [answers, Check("sign-in", Outcome.FAIL, refused)]
    except ProxyFailed as error:
        return [_proxy_check(error, proxy_fix)]
    except ConnectionLost as error:
        return [
            Check(
                "server",
                Outcome.FAIL,
                f"{server_url} cannot be reached: {error}",
                "check the URL, your network, VPN and proxy settings (HTTPS_PROXY / the proxy"
                " setting)",
            )
        ]
    except NotFound as error:
        if frappe:
            return [Check("server", Outcome.FAIL, _frappe_not_found(server_url, error))]
        return [_server_error(server_url, error)]
    except BackendError as error:
        return [_server_error(server_url, error)]
    return [
        answers,
        Check("sign-in", Outcome.OK, f"signed in as {agent.name} ({agent.username})"),
        await _stream_check(backend, config, proxy_fix),
    ]


def _server_error(server_url: str, error: BackendError) -> Check:
    return Check(
        "server",
        Outcome.FAIL,
        f"{server_url} answered with an error: {error}",
        "check that the URL is your helpdesk's address (the one you open in the browser),"
        " and ask its administrator to look at the server's log",
    )


def _frappe_not_found(server_url: str, error: NotFound) -> str:
    return (
        f"{server_url} answered 404 to helpdesk's sign-in check ({error}): either the site name"
        " is not this site's (on a bench with several sites the name picks one: set it in"
        " Settings → Account, or `notifier login --backend frappe --site-name NAME`), or Frappe"
        " Helpdesk is not installed on this site"
    )


async def _stream_check(backend: HelpdeskBackend, config: TransportConfig, proxy_fix: str) -> Check:
    try:
        async with asyncio.timeout(config.connect_timeout + 5):
            stream = await backend.open_stream(0)
            try:
                # A Frappe stream opens without socket.io too (reconciliation alone): the
                # tray would work, but late; doctor names what is missing.
                missing = getattr(stream, "realtime_error", None)
                if isinstance(missing, ConnectionLost):
                    raise missing
                async for event in stream:
                    if isinstance(event, Hello):
                        break
            finally:
                await stream.close()
    except ProxyFailed as error:
        return _proxy_check(error, proxy_fix)
    except (ConnectionLost, AuthFailed, TimeoutError) as error:
        frappe = _frappe_realtime_failure(backend, error)
        if frappe is not None:
            return Check("live connection", Outcome.FAIL, frappe)
        return Check(
            "live connection",
            Outcome.FAIL,
            f"the WebSocket connection failed ({error or 'timed out'}). A proxy or firewall may"
            " block WebSockets: ask IT to allow them to the helpdesk, or configure the proxy",
        )
    site = _frappe_site(backend)
    if site is not None:
        return Check(
            "live connection",
            Outcome.OK,
            f"socket.io at {site.socketio_url} lets this agent join the site's namespace"
            f" /{site.name}",
        )
    return Check("live connection", Outcome.OK, "the WebSocket connects (through any proxy)")


def _frappe_site(backend: HelpdeskBackend) -> FrappeSite | None:
    from notifier.client.frappe import FrappeBackend

    return backend.site if isinstance(backend, FrappeBackend) else None


def _frappe_realtime_failure(backend: HelpdeskBackend, error: BaseException) -> str | None:
    """What went wrong with a Frappe site's socket.io server, and what to do (None: not a
    Frappe backend). The adapter tells three cases apart: no socket.io server answers, the
    server refuses to let it join (Frappe's connect_error says why), and a server that never
    answers the join."""
    site = _frappe_site(backend)
    if site is None:
        return None
    from notifier.client.frappe_realtime import NamespaceRefused, SocketIOUnreachable

    socketio_host = urlsplit(site.socketio_url).hostname or site.socketio_url
    if isinstance(error, SocketIOUnreachable):
        return (
            f"no socket.io server answers at {site.socketio_url} ({error}). Behind Frappe's"
            " nginx it is the site's own URL; on a development bench it is port 9000"
            " (http://HOST:9000): set the socket.io URL in Settings → Account, or"
            " `notifier login --backend frappe --socketio-url URL`. Check that the site's"
            " socketio process runs and that no proxy or firewall blocks WebSockets"
        )
    if isinstance(error, NamespaceRefused):
        reason = (error.reason or "").lower()
        if error.reason is None or "namespace" in reason:
            what = (
                "never answered joining the namespace /{0}: the site name is probably wrong"
                if error.reason is None
                else "refused the namespace /{0}: the site name is wrong"
            ).format(site.name)
            return (
                f"the socket.io server {what} (live updates would never arrive). Use the Frappe"
                " site's name (its folder under sites/ on the bench, often the host name):"
                " Settings → Account, or `notifier login --backend frappe --site-name NAME`"
            )
        if "origin" in reason:
            return (
                f"the socket.io server refused the Origin {site.origin}: Frappe accepts only"
                " an Origin whose host is the one the socket.io server is reached at"
                f" ({socketio_host}). Use the same host name in the site URL and the socket.io"
                " URL (not localhost in one and 127.0.0.1 in the other), or have the proxy in"
                " front pass the Host header on"
            )
        return (
            f"the socket.io server refused this sign-in ({error.reason}) though the site"
            f" accepted it: sign in again (`notifier login --backend frappe`), and check that"
            f" the socket.io server can reach the site at {site.url}"
        )
    return (
        f"the socket.io connection to {site.socketio_url} failed ({error or 'timed out'}). A"
        " proxy or firewall may block WebSockets: ask IT to allow them to the site, or"
        " configure the proxy"
    )


def _cache_check(paths: AppPaths) -> Check:
    try:
        paths.cache_dir.mkdir(parents=True, exist_ok=True)
        cache = NotificationCache.open(paths.cache_file)
    except (OSError, NotifierError) as error:
        return Check(
            "cache",
            Outcome.FAIL,
            f"{paths.cache_file} cannot be used ({error}); check the folder's permissions and"
            " free disk space",
        )
    try:
        count = cache.count()
        if cache.recovered_from is not None:
            return Check(
                "cache",
                Outcome.WARN,
                f"the cache was unreadable and was rebuilt empty (old file kept as"
                f" {cache.recovered_from.name})",
                "nothing to do: it refills from the server the next time the app or tail"
                f" connects; delete {cache.recovered_from.name} once you no longer need it",
            )
        return Check("cache", Outcome.OK, f"{paths.cache_file} readable ({count} notifications)")
    finally:
        cache.close()


def _has_display(environ: Mapping[str, str]) -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _tray_check(environ: Mapping[str, str]) -> Check:
    if not _has_display(environ):
        return Check(
            "system tray",
            Outcome.WARN,
            "no desktop session here (no DISPLAY / WAYLAND_DISPLAY), and the tray app needs one",
            "start the tray app from a desktop session; here, `notifier tail` prints the"
            " notifications instead",
        )
    try:
        from PySide6.QtWidgets import QApplication, QSystemTrayIcon
    except ImportError as error:
        return Check("system tray", Outcome.FAIL, f"Qt cannot load ({error}); reinstall notifier")
    app = QApplication.instance() or QApplication([])
    available = QSystemTrayIcon.isSystemTrayAvailable()
    del app
    if available:
        return Check("system tray", Outcome.OK, "available")
    return Check(
        "system tray",
        Outcome.FAIL,
        "the desktop has no system tray. On GNOME install the 'AppIndicator and KStatusNotifierItem"
        " Support' extension; on other desktops add a tray/notification-area applet",
    )


def _notification_service_check(environ: Mapping[str, str]) -> Check:
    if sys.platform != "linux":
        return Check("notification service", Outcome.OK, "provided by the operating system")
    address = environ.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        return Check(
            "notification service",
            Outcome.WARN,
            "no D-Bus session bus (no desktop session), and pop-up notifications need one",
            "run the tray app in a desktop session, where it shows them; here, use `notifier tail`",
        )
    name = "org.freedesktop.Notifications"
    try:
        from jeepney import DBusAddress, new_method_call  # type: ignore[import-untyped]
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

        bus = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )
        with contextlib.closing(open_dbus_connection(bus=address)) as connection:
            owned = connection.send_and_get_reply(
                new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=2
            )
            activatable = connection.send_and_get_reply(
                new_method_call(bus, "ListActivatableNames"), timeout=2
            )
        has_owner = bool(owned.body[0])
        can_start = name in activatable.body[0]
    except Exception as error:  # any D-Bus trouble is a finding, not a crash
        return Check(
            "notification service",
            Outcome.FAIL,
            f"the session bus cannot be asked ({type(error).__name__}: {error})",
            "check that DBUS_SESSION_BUS_ADDRESS names your desktop session's bus (log out"
            " and in again if it does)",
        )
    if has_owner or can_start:
        return Check("notification service", Outcome.OK, f"{name} is available")
    return Check(
        "notification service",
        Outcome.FAIL,
        "no notification service on the session bus: install one (your desktop's, or dunst /"
        " mako / xfce4-notifyd)",
    )
