"""Headless commands: ``login``, ``logout``, ``tail`` and ``doctor`` (no Qt unless needed).

They use the same parts as the tray app (:func:`notifier.compose.build_engine`, the keyring
:class:`~notifier.store.secrets.TokenStore`, the cache), so ``notifier tail`` syncs exactly
like the app and ``notifier doctor`` checks what the app needs.

Everything a test needs to replace is a keyword argument of :func:`run_command` (the token
store, the environment, the password prompt, the streams); ``main.py`` passes none of them.
Exit codes: 0 success, 1 a failure the output explains, 2 a usage problem (nothing to do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from notifier.client.auth import check_connection, request_token, revoke_token
from notifier.client.stream import open_event_stream
from notifier.client.transport import TransportConfig
from notifier.compose import build_engine, resolve_credentials, resolve_server_url, setup_logging
from notifier.core.errors import (
    AuthFailed,
    BackendError,
    ConnectionLost,
    KeyringUnavailable,
    NotifierError,
)
from notifier.core.settings import Settings, SettingsError
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.core.wire import Hello, Notification
from notifier.store.cache import NotificationCache
from notifier.store.paths import AppPaths, app_paths
from notifier.store.secrets import TokenStore
from notifier.store.settings_file import load_settings, save_settings


@dataclass
class Io:
    """The outside world of a command, replaceable in tests."""

    environ: Mapping[str, str]
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    token_store: TokenStore
    read_password: Callable[[str], str]

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
    read_password: Callable[[str], str] = getpass.getpass,
) -> int:
    io = Io(
        environ=os.environ if environ is None else environ,
        stdin=stdin or sys.stdin,
        stdout=stdout or sys.stdout,
        stderr=stderr or sys.stderr,
        token_store=token_store if token_store is not None else TokenStore(),
        read_password=read_password,
    )
    paths = app_paths(dict(io.environ))
    settings = load_settings(paths.settings_file)
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


def _server(args: argparse.Namespace, settings: Settings, io: Io) -> str:
    return resolve_server_url(settings, io.environ, getattr(args, "server", None))


# --------------------------------------------------------------------------- login / logout


def _login(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    server_url = _server(args, settings, io)
    if not server_url:
        io.warn(
            "notifier login: which helpdesk? Use: notifier login --server https://helpdesk.example.com"
        )
        return 2
    config = TransportConfig.from_settings(settings)
    try:
        if getattr(args, "token_stdin", False):
            token = io.stdin.readline().strip()
            if not token:
                io.warn("notifier login: no token on standard input")
                return 2
        else:
            username = getattr(args, "username", None) or _ask(io, "Username: ")
            password = io.read_password(f"Password for {username} at {server_url}: ")
            token = asyncio.run(request_token(server_url, username, password, config))
        agent = asyncio.run(check_connection(server_url, token, config))
        io.token_store.set(server_url, token)
    except AuthFailed as error:
        io.warn(f"notifier login: {error}")
        return 1
    except (NotifierError, ValueError) as error:
        io.warn(f"notifier login: {error}")
        return 1
    if settings.server_url != server_url:
        save_settings(paths.settings_file, settings.replace(server_url=server_url))
    io.say(f"Signed in to {server_url} as {agent.name} ({agent.username}).")
    return 0


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
        revoked = _revoke(server_url, token, settings, io) if token else None
        io.token_store.delete(server_url)
    except KeyringUnavailable as error:
        io.warn(f"notifier logout: {error}")
        return 1
    # Like the app's sign-out: this agent's notifications and unsent actions stay private.
    paths.cache_dir.mkdir(parents=True, exist_ok=True)
    cache = NotificationCache.open(paths.cache_file)
    try:
        cache.forget()
    finally:
        cache.close()
    io.say(
        f"Signed out of {server_url}; the stored token and the cached notifications were deleted"
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


def change_to_text(change: CacheChange) -> list[str]:
    if change.kind is ChangeKind.UPSERTED:
        return [_notification_line(n, change.replay) for n in change.notifications]
    if change.kind is ChangeKind.READ_STATE:
        word = "read" if change.read else "unread"
        return [f"marked {word}: {', '.join(change.ids)}"]
    if change.kind is ChangeKind.DELETED:
        return [f"deleted: {', '.join(change.ids)}"]
    return ["the cache was reloaded from the server"]


def _notification_line(n: Notification, replay: bool) -> str:
    who = n.sender.name if n.sender else "helpdesk"
    state = "" if n.read else "* "
    first_line = n.message.splitlines()[0] if n.message else ""
    prefix = "(earlier) " if replay else ""
    return f"{prefix}{state}[{n.type.value}] {n.ticket.subject} — {who}: {first_line}  {n.link}"


def _tail(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    as_json = bool(getattr(args, "json", False))

    def on_change(change: CacheChange) -> None:
        if as_json:
            for item in change_to_json(change):
                io.say(json.dumps(item, ensure_ascii=False))
        else:
            for line in change_to_text(change):
                io.say(line)

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
        key = (status.state, status.last_error, status.notice)
        if shown and shown[-1] == key:
            return
        shown.append(key)
        detail = f": {status.last_error}" if status.last_error else ""
        io.warn(f"[{status.state.value}{detail}]")
        if status.notice and (len(shown) == 1 or shown[-2][2] != status.notice):
            io.warn(f"[notice: {status.notice}]")
        if status.state is ConnectionState.AUTH_FAILED:
            final.append(status)
            stop_requested.set()

    credentials = resolve_credentials(
        settings,
        io.environ,
        server_override=getattr(args, "server", None),
        token_store=io.token_store,
    )
    handler = setup_logging(
        paths, settings.log_level.value, secrets=(credentials.token,) if credentials.token else ()
    )
    engine, cache = build_engine(
        paths,
        settings,
        on_status=on_status,
        on_change=on_change,
        environ=io.environ,
        token_store=io.token_store,
        server_override=getattr(args, "server", None),
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


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    outcome: Outcome
    detail: str


def _doctor(args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io) -> int:
    checks = asyncio.run(run_checks(args, paths, settings, io))
    symbols = {Outcome.OK: "✓", Outcome.WARN: "!", Outcome.FAIL: "✗"}
    for check in checks:
        io.say(f"{symbols[check.outcome]} {check.name}: {check.detail}")
    failed = [c for c in checks if c.outcome is Outcome.FAIL]
    io.say(
        "All checks passed."
        if not failed
        else f"{len(failed)} check(s) failed; fix them in the order above."
    )
    return 1 if failed else 0


async def run_checks(
    args: argparse.Namespace, paths: AppPaths, settings: Settings, io: Io
) -> list[Check]:
    checks: list[Check] = []
    server_url = _server(args, settings, io)
    try:
        config = TransportConfig.from_settings(settings)
        config.ssl_context()
    except ValueError as error:
        checks.append(Check("TLS settings", Outcome.FAIL, str(error)))
        config = TransportConfig()

    # keyring
    keyring_ok = True
    try:
        io.token_store.get(server_url or "https://example.invalid")
        checks.append(Check("keyring", Outcome.OK, f"usable ({io.token_store.backend_name()})"))
    except KeyringUnavailable as error:
        keyring_ok = False
        env_token = bool(io.environ.get("NOTIFIER_TOKEN"))
        checks.append(Check("keyring", Outcome.WARN if env_token else Outcome.FAIL, f"{error}"))

    if not server_url:
        checks.append(
            Check(
                "server",
                Outcome.FAIL,
                "no helpdesk URL is configured: run `notifier login --server https://your-helpdesk`"
                " or set NOTIFIER_SERVER",
            )
        )
    else:
        credentials = resolve_credentials(
            settings,
            io.environ,
            server_override=getattr(args, "server", None),
            token_store=io.token_store,
        )
        checks.extend(await _server_checks(server_url, credentials.token, config, keyring_ok))

    checks.append(_cache_check(paths))
    checks.append(_tray_check(io.environ))
    checks.append(_notification_service_check(io.environ))
    return checks


async def _server_checks(
    server_url: str, token: str | None, config: TransportConfig, keyring_ok: bool
) -> list[Check]:
    checks: list[Check] = []
    if token is None:
        reachable = await _reachable(server_url, config)
        checks.append(reachable)
        checks.append(
            Check(
                "sign-in",
                Outcome.FAIL,
                "no token stored for this server: run `notifier login`"
                + ("" if keyring_ok else " (after fixing the keyring) or set NOTIFIER_TOKEN"),
            )
        )
        return checks
    try:
        agent = await check_connection(server_url, token, config)
    except AuthFailed:
        checks.append(Check("server", Outcome.OK, f"{server_url} answers"))
        checks.append(
            Check(
                "sign-in",
                Outcome.FAIL,
                "the server rejected the token (expired or revoked): run `notifier login` again",
            )
        )
        return checks
    except ConnectionLost as error:
        checks.append(
            Check(
                "server",
                Outcome.FAIL,
                f"{server_url} cannot be reached: {error}. Check the URL, your network, VPN and"
                " proxy settings (HTTPS_PROXY / the proxy setting)",
            )
        )
        return checks
    except BackendError as error:
        checks.append(
            Check("server", Outcome.FAIL, f"{server_url} answered with an error: {error}")
        )
        return checks
    checks.append(Check("server", Outcome.OK, f"{server_url} answers"))
    checks.append(Check("sign-in", Outcome.OK, f"signed in as {agent.name} ({agent.username})"))
    checks.append(await _stream_check(server_url, token, config))
    return checks


async def _reachable(server_url: str, config: TransportConfig) -> Check:
    try:
        await check_connection(server_url, "doctor-probe", config)
    except (AuthFailed, BackendError):
        return Check("server", Outcome.OK, f"{server_url} answers")
    except ConnectionLost as error:
        return Check(
            "server",
            Outcome.FAIL,
            f"{server_url} cannot be reached: {error}. Check the URL, network, VPN and proxy",
        )
    return Check("server", Outcome.OK, f"{server_url} answers")


async def _stream_check(server_url: str, token: str, config: TransportConfig) -> Check:
    try:
        async with asyncio.timeout(config.connect_timeout + 5):
            stream = await open_event_stream(server_url, token, config, after_seq=0)
            try:
                async for event in stream:
                    if isinstance(event, Hello):
                        break
            finally:
                await stream.close()
    except (ConnectionLost, AuthFailed, TimeoutError) as error:
        return Check(
            "live connection",
            Outcome.FAIL,
            f"the WebSocket connection failed ({error or 'timed out'}). A proxy or firewall may"
            " block WebSockets: ask IT to allow them to the helpdesk, or configure the proxy",
        )
    return Check("live connection", Outcome.OK, "the WebSocket connects (through any proxy)")


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
                f" {cache.recovered_from.name}); it refills from the server",
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
            "no desktop session here (no DISPLAY / WAYLAND_DISPLAY): the tray app needs one;"
            " the headless commands work",
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
            "no D-Bus session bus (no desktop session): pop-up notifications need one",
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
        )
    if has_owner or can_start:
        return Check("notification service", Outcome.OK, f"{name} is available")
    return Check(
        "notification service",
        Outcome.FAIL,
        "no notification service on the session bus: install one (your desktop's, or dunst /"
        " mako / xfce4-notifyd)",
    )
