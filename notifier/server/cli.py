"""``notifier-server``: run the reference helpdesk and manage its people.

Subcommands (each takes ``--db PATH``)::

    serve        --host 127.0.0.1 --port N [--public-url URL] [--ping-interval S]
                 [--smtp smtp://HOST:PORT] [--mail-from ADDRESS] [--mail-grace S]
    add-agent    USERNAME --name NAME [--password PW] [--team TEAM] [--admin] [--email ADDRESS]
    add-customer EMAIL --name NAME [--password P]
    mail-status  [--all] [--limit N]
    settings     show | set KEY VALUE
    tokens       revoke | new USERNAME
    password     USERNAME        (asked twice on a terminal, else one line from stdin)
    deactivate   USERNAME
    reactivate   USERNAME
    people       [--json]
    backup       DESTINATION
    demo         [--host] [--port 8765] [--rate N] [--credentials-file PATH] [--seed N]
                 [--mail-dir PATH] [--mail-grace S]

``serve`` and ``demo`` bind the listening socket themselves before starting uvicorn: the bound
port (``--port 0`` picks a free one) is then known up front for the public URL, and a port in
use is reported as one clear line. Once the server accepts connections it prints exactly one
line ``listening on http://HOST:PORT`` and flushes (test fixtures and scripts wait for it).
``add-agent`` / ``add-customer`` print the new API token alone on stdout; a new agent starts with
the admin's default preferences. ``settings`` shows or changes the system settings
(:mod:`notifier.server.settings`) as JSON, audited under the operating-system user.
``password``, ``deactivate`` / ``reactivate`` (someone who left) and ``people`` are in
:mod:`notifier.server.people`.

Starlette and uvicorn are imported only when a server actually starts, so ``--help`` and the
admin commands stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import errno
import getpass
import json
import math
import os
import signal
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from notifier.core import wire
from notifier.server import repository, settings
from notifier.server.db import Database, DatabaseError, connect, transaction
from notifier.server.limits import Limits
from notifier.server.repository import ActionError
from notifier.server.retention import DEFAULT_INTERVAL_S, run_periodically

if TYPE_CHECKING:
    import uvicorn

    from notifier.server.app import HelpdeskApp
    from notifier.server.mailer import MailConfig

DEFAULT_DB = "helpdesk.db"


class CliError(Exception):
    """Reported as ``notifier-server: error: <message>`` with exit status 1, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifier-server",
        description="The reference helpdesk backend of notifier (REST + WebSocket stream).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        help_text: str,
        db_default: Path | None = Path(DEFAULT_DB),
        db_help: str = "SQLite database file",
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--db", default=db_default, type=Path, help=db_help)
        return sub

    serve = add("serve", "run the helpdesk server")
    _server_options(serve, default_port=8765)
    serve.add_argument(
        "--public-url",
        help="base URL of ticket links (default: http://HOST:PORT as bound)",
    )
    serve.add_argument(
        "--ping-interval",
        type=seconds,
        default=20.0,
        metavar="S",
        help="seconds between WebSocket keepalive pings (the pong timeout is the same; default"
        " 20; 0: no pings)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every request line (credentials are redacted from every log line)",
    )
    serve.add_argument(
        "--smtp",
        metavar="URL",
        help="send notification mail through this server: smtp://HOST:PORT (STARTTLS when"
        " offered) or smtps://HOST:PORT (TLS); user and password from NOTIFIER_SMTP_USER and"
        " NOTIFIER_SMTP_PASSWORD",
    )
    serve.add_argument(
        "--mail-from",
        default="helpdesk@localhost",
        metavar="ADDRESS",
        help='From address of notification mail, e.g. "Helpdesk <helpdesk@desk.example>"',
    )
    _mail_grace_option(serve, default=None)
    _limit_options(serve)

    serve.add_argument(
        "--retention-interval",
        type=seconds,
        metavar="S",
        default=DEFAULT_INTERVAL_S,
        help="seconds between runs of the retention job (default 3600; 0: only when an admin "
        "runs it)",
    )

    agent = add("add-agent", "create an agent and print a new API token")
    agent.add_argument("username")
    agent.add_argument("--name", help="display name (default: the username)")
    agent.add_argument("--password", help="password for the web page and token sign-in")
    agent.add_argument("--team", help="team for round-robin assignment")
    agent.add_argument("--admin", action="store_true", help="mark the agent as an admin")
    agent.add_argument("--email", help="where the agent's notification mail goes")

    status = add("mail-status", "list queued and failed notification mail, with the reasons")
    status.add_argument("--all", action="store_true", help="also list mail that was sent")
    status.add_argument("--limit", type=int, default=20, help="mails per list (default 20)")

    customer = add("add-customer", "create a customer and print a new API token")
    customer.add_argument("email")
    customer.add_argument("--name", help="display name (default: the e-mail address)")
    customer.add_argument("--password", help="for signing in on the web pages")

    system = add(
        "settings",
        "show or change the system settings (audited as the operating-system user)",
    )
    system.add_argument("action", choices=["show", "set"])
    system.add_argument("key", nargs="?", help=f"with set: one of {', '.join(settings.KEYS)}")
    system.add_argument(
        "value",
        nargs="?",
        help="""with set: the value as JSON, e.g. 30, '"support"' (a team), null or a"""
        " preferences document",
    )

    tokens = add(
        "tokens",
        "revoke every API token and web sign-in of a person (a lost laptop, someone who left),"
        " or print a new API token for them",
    )
    tokens.add_argument("action", choices=["revoke", "new"])
    tokens.add_argument("username", help="an agent's username or a customer's e-mail address")

    password = add(
        "password",
        "set a new password for an agent or customer: asked twice on a terminal, else one line"
        " read from stdin (never an argument: ps and the shell history would show it); their"
        " tokens keep working",
    )
    password.add_argument("username", help="an agent's username or a customer's e-mail address")
    deactivate = add(
        "deactivate",
        "for someone who left: every token and web sign-in ends, the password no longer signs"
        " in, and they get no assignments, notifications or mail; what they wrote stays",
    )
    deactivate.add_argument("username", help="an agent's username or a customer's e-mail address")
    reactivate = add("reactivate", "undo deactivate: they sign in again with their password")
    reactivate.add_argument("username", help="an agent's username or a customer's e-mail address")
    people = add(
        "people",
        "list every agent and customer: team, admin, active or deactivated, API tokens and"
        " web sign-ins",
    )
    people.add_argument("--json", action="store_true", help="print a JSON array, for scripts")

    backup = add(
        "backup",
        "copy the database to a new file, consistent even while the server runs",
    )
    backup.add_argument(
        "destination", type=Path, help="the copy to write (a new file in an existing folder)"
    )

    demo = add(
        "demo",
        "serve a throw-away helpdesk with demo data and simulated activity",
        db_default=None,
        db_help="SQLite database file (default: a temporary one, removed at exit)",
    )
    _server_options(demo, default_port=8765)
    demo.add_argument(
        "--rate",
        type=float,
        default=6.0,
        metavar="N",
        help="simulated events per minute (default 6; 0 turns the simulator off)",
    )
    demo.add_argument(
        "--credentials-file",
        type=Path,
        metavar="FILE",
        help="write the demo agent's credentials here as JSON",
    )
    demo.add_argument("--seed", type=int, metavar="N", help="random seed for the simulator")
    demo.add_argument(
        "--mail-dir",
        type=Path,
        metavar="FOLDER",
        help="folder for the demo's mail as .eml files (default: next to the database)",
    )
    _mail_grace_option(demo, default=30.0)
    demo.add_argument("--ping-interval", type=seconds, default=20.0, help=argparse.SUPPRESS)
    return parser


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0-65535 (the socket layer would wrap 70000 to 4464)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more (0 turns the thing off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _server_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=port_number,
        default=default_port,
        help=f"port to bind, 0-65535 (default {default_port}); 0 picks a free one",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (stderr)",
    )


def _mail_grace_option(parser: argparse.ArgumentParser, default: float | None) -> None:
    parser.add_argument(
        "--mail-grace",
        type=float,
        default=default,
        metavar="SECONDS",
        help="instant mail waits this long and is not sent if the notification was read"
        " meanwhile (default "
        + (f"{default:g}" if default is not None else "the admin setting mail_grace_seconds, 120")
        + ")",
    )


def _limit_options(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`Limits` field (docs/server.md lists them)."""
    limits = parser.add_argument_group("limits (0 turns a count limit off)")
    for item in fields(Limits):
        limits.add_argument(
            item.metadata["flag"],
            dest=item.name,
            type=type(item.default),
            default=item.default,
            metavar="S" if isinstance(item.default, float) else "N",
            help=f"{item.metadata['help']} (default {item.default:g})",
        )


def limits_from(args: argparse.Namespace) -> Limits:
    try:
        return Limits(**{item.name: getattr(args, item.name) for item in fields(Limits)})
    except ValueError as exc:
        raise CliError(str(exc)) from None


def parse_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Like ``parse_args``, but a mistyped option is reported with its command's usage
    (argparse would print the top-level ``notifier-server [-h] COMMAND ...``)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next(
            action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
        )
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


PEOPLE_COMMANDS: Final = ("password", "deactivate", "reactivate", "people")  # people.py's


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(build_parser(), argv)
    # The database holds password and token hashes, the demo's files its credentials: files
    # this process creates are its user's alone (as the systemd unit's UMask=0077 does).
    os.umask(0o077)
    if getattr(args, "rate", 0) < 0:
        print("notifier-server: error: --rate must be 0 or more", file=sys.stderr)
        return 1
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "demo":
            from notifier.server.demo import run_demo

            return run_demo(args)
        if args.command == "mail-status":
            return mail_status(args)
        if args.command == "settings":
            return system_settings(args)
        if args.command == "tokens":
            return person_tokens(args)
        if args.command in PEOPLE_COMMANDS:
            from notifier.server.people import run_people_command

            return run_people_command(args)
        if args.command == "backup":
            return backup_database(args.db, args.destination)
        return add_person(args)
    except (CliError, DatabaseError) as exc:
        print(f"notifier-server: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        # The web stack is the optional `server` extra; the tray app does not need it.
        print(
            f"notifier-server: error: {exc.name} is not installed; install the server extra: "
            "pip install 'notifier[server]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


def add_person(args: argparse.Namespace) -> int:
    connection = connect(args.db)
    try:
        if args.command == "add-agent":
            _, token = repository.add_user(
                connection,
                kind="agent",
                username=args.username,
                name=args.name or args.username,
                password=args.password,
                team=args.team,
                is_admin=args.admin,
                email=args.email,
                preferences=settings.current(connection).default_preferences,
            )
        else:
            _, token = repository.add_user(
                connection,
                kind="customer",
                username=args.email,
                name=args.name or args.email,
                password=args.password,
            )
    except ActionError as exc:
        raise CliError(exc.message) from None
    finally:
        connection.close()
    print(token, flush=True)
    return 0


def person_tokens(args: argparse.Namespace) -> int:
    """``tokens revoke USERNAME``: delete all their tokens (the server checks tokens on every
    request, so the next one is refused, and ends the streams open with them within two
    seconds). ``tokens new USERNAME``: print a new API token alone."""
    with admin_connection(args.db) as connection:
        user = repository.user_by_username(connection, args.username)
        if user is None:
            raise CliError(f"no agent or customer named {args.username!r}")
        if args.action == "new":
            if user.deactivated:  # the token would be refused: say why instead
                raise CliError(
                    f"{user.username} is deactivated; `reactivate {user.username}` first"
                )
            print(repository.create_token(connection, user.id), flush=True)
            return 0
        with transaction(connection):
            revoked = connection.execute(
                "DELETE FROM tokens WHERE user_id = ?", (user.id,)
            ).rowcount
    print(
        f"revoked {revoked} token{'' if revoked == 1 else 's'} of {args.username}; a running"
        " server ends the streams open with them within two seconds",
        flush=True,
    )
    return 0


def admin_connection(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A connection to the helpdesk at ``path`` for one admin command, closed after its
    ``with`` block; the database must exist (:func:`existing_database`)."""
    return contextlib.closing(connect(existing_database(path)))


def existing_database(path: Path) -> Path:
    """``path`` if a file is there: the commands that only read or change a helpdesk must not
    create an empty one at a mistyped ``--db`` and report its defaults as if they were live."""
    if not path.is_file():
        raise CliError(f"no database at {path} (give the server's --db; serve creates one)")
    return path


def mail_status(args: argparse.Namespace) -> int:
    from notifier.server.outbox import format_mail_status

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    with admin_connection(args.db) as connection:
        print(format_mail_status(connection, include_sent=args.all, limit=args.limit), flush=True)
    return 0


def mail_config(args: argparse.Namespace, smtp_url: str | None) -> MailConfig:
    """The mail options of ``serve`` / ``demo`` as a :class:`MailConfig`."""
    from notifier.server.mailer import build_mail_config

    try:
        return build_mail_config(smtp_url, getattr(args, "mail_from", None), args.mail_grace)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def system_settings(args: argparse.Namespace) -> int:
    """``settings show`` / ``settings set KEY VALUE``: print the settings document as JSON."""
    if args.action == "show" and args.key is not None:
        raise CliError("settings show takes no KEY")
    if args.action == "set":
        if args.key is None or args.value is None:
            raise CliError("settings set needs KEY and VALUE")
        try:
            value = wire.decode_json(args.value)
        except ValueError:
            raise CliError(
                "VALUE must be JSON (a number such as 30, a name in quotes such as"
                f""" '"support"', null, or an object), not {args.value!r}"""
            ) from None
    connection = connect(existing_database(args.db))
    try:
        if args.action == "show":
            stored = settings.load(connection)
        else:
            changes = settings.validate_changes({args.key: value})
            stored = settings.update(
                connection, changes, expected_version=None, actor=_os_user(), via="cli"
            )
    except ActionError as exc:
        raise CliError(exc.message) from None
    finally:
        connection.close()
    print(json.dumps(stored.to_json(), indent=2, ensure_ascii=False), flush=True)
    return 0


def backup_database(source: Path, destination: Path) -> int:
    """Copy ``source`` with SQLite's online backup, which includes what the running server has
    committed to its write-ahead log (a plain ``cp`` of the .db file misses that). The source
    is only read, never migrated, so a newer ``notifier-server`` may back up an older
    server's database before an upgrade. The copy appears under its name only when complete."""
    existing_database(source)
    if destination.exists():
        raise CliError(f"{destination} already exists; name a new file")
    if not destination.parent.is_dir():
        raise CliError(f"cannot write {destination}: folder {destination.parent} does not exist")
    try:
        fd, temp = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise CliError(f"cannot write {destination}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        try:
            # Not mode=ro: a read-only connection cannot remove the -wal and -shm files it makes
            # when no server runs, and root's would then lock the service's user out.
            reader = sqlite3.connect(source)
            try:
                reader.execute("PRAGMA busy_timeout=5000")
                version = reader.execute("SELECT version FROM schema_version").fetchone()
                with contextlib.closing(sqlite3.connect(temp)) as copy_db:
                    reader.backup(copy_db)
                    copy_db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                reader.close()
        except sqlite3.Error as exc:
            raise CliError(f"cannot back up {source}: {exc}") from None
        os.replace(temp, destination)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    print(
        f"backed up {source} (schema version {version[0] if version else '?'}) to {destination}",
        flush=True,
    )
    return 0


def _os_user() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        user = f"uid {os.getuid()}"
    # Names from the environment may hold undecodable bytes (surrogate escapes).
    return user.encode("utf-8", "backslashreplace").decode("utf-8")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or :class:`CliError` with the reason in words."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted server take its port back from TIME_WAIT; on Linux it never lets two
        # live listeners share a port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"port {port} on {host} is already in use") from None
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_public_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise CliError(
            f"--public-url must be an http(s) base URL such as https://desk.example, not {url!r}"
        )
    return url.rstrip("/")


def serve(args: argparse.Namespace) -> int:
    public_url = check_public_url(args.public_url)
    mail = mail_config(args, args.smtp)
    run_server(
        db_path=args.db,
        host=args.host,
        port=args.port,
        public_url=public_url,
        ping_interval=args.ping_interval,
        log_level=args.log_level,
        mail=mail,
        limits=limits_from(args),
        access_log=args.access_log,
        retention_interval=args.retention_interval,
    )
    return 0


def run_server(
    *,
    db_path: Path,
    host: str,
    port: int,
    public_url: str | None,
    ping_interval: float,
    log_level: str,
    on_started: Callable[[HelpdeskApp], Awaitable[None]] | None = None,
    mail: MailConfig | None = None,
    limits: Limits | None = None,
    access_log: bool = False,
    retention_interval: float = DEFAULT_INTERVAL_S,
    mail_dir: Path | None = None,
) -> None:
    """Open the database, bind, serve until SIGINT/SIGTERM. Blocks. ``mail_dir``: the demo's
    mail catcher folder, shown on the /mail page."""
    raise_open_file_limit()
    database = Database(db_path)
    database.open()
    try:
        sock = bind_socket(host, port)
        try:
            _install_exit_on_sigterm()
            asyncio.run(
                _serve(
                    database,
                    sock,
                    public_url,
                    ping_interval,
                    log_level,
                    on_started,
                    mail,
                    limits,
                    access_log,
                    retention_interval,
                    mail_dir,
                )
            )
        finally:
            sock.close()
    finally:
        database.close()


def raise_open_file_limit() -> int:
    """Lift the soft limit of open files to the hard one; returns the soft limit now.

    Every open stream is a socket: Linux's usual soft limit of 1,024 would refuse agents
    beyond about a thousand (accept fails with EMFILE), while the hard limit is typically far
    higher and any process may raise its soft limit up to it.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # a sandbox may refuse
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _install_exit_on_sigterm() -> None:
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal to the handler
    # that was installed before it: make that one a normal exit so `finally` blocks run.
    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)


async def _serve(
    database: Database,
    sock: socket.socket,
    public_url: str | None,
    ping_interval: float,
    log_level: str,
    on_started: Callable[[HelpdeskApp], Awaitable[None]] | None,
    mail: MailConfig | None = None,
    limits: Limits | None = None,
    access_log: bool = False,
    retention_interval: float = DEFAULT_INTERVAL_S,
    mail_dir: Path | None = None,
) -> None:
    import uvicorn

    from notifier.server.app import HelpdeskApp

    bound_url = base_url(sock)
    helpdesk = HelpdeskApp(
        database, (public_url or bound_url).rstrip("/"), mail, limits, mail_dir=mail_dir
    )
    config = uvicorn_config(helpdesk, ping_interval, log_level, access_log=access_log)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                print(f"listening on {bound_url}", flush=True)
                if retention_interval > 0:
                    background.append(
                        asyncio.create_task(
                            run_periodically(database, helpdesk.announce, retention_interval)
                        )
                    )
                if on_started is not None:
                    await on_started(helpdesk)

    background: list[asyncio.Task[None]] = []
    try:
        async with helpdesk.mailer.running():
            await _Server(config).serve(sockets=[sock])
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        helpdesk.close()


def uvicorn_config(
    helpdesk: HelpdeskApp, ping_interval: float, log_level: str, *, access_log: bool = False
) -> uvicorn.Config:
    """How uvicorn serves the helpdesk (also used by tests that run it in-process): the
    header deadline of ``helpdesk.limits``, and logs without credentials."""
    import uvicorn

    from notifier.core.wire import MAX_FRAME_BYTES
    from notifier.server.app import RedactSecrets
    from notifier.server.http_protocol import with_header_deadline

    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    # Every handler drops credentials from what it writes, whatever the level.
    log_config["filters"] = {"redact": {"()": RedactSecrets}}
    for handler in log_config["handlers"].values():
        handler["filters"] = ["redact"]
    # stdout carries only the "listening on" line; the access log goes to stderr too.
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    # The server's own records (notifier.server.*) go where uvicorn's go, at the same level.
    log_config["loggers"]["notifier.server"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    return uvicorn.Config(
        helpdesk.build(),
        http=with_header_deadline(helpdesk.limits.header_timeout_s),
        ws="websockets-sansio",
        ws_max_size=MAX_FRAME_BYTES,
        # No permessage-deflate: its zlib state per open stream is a large part of what a
        # connected agent costs the server, and frames are small JSON (benchmarks/README.md,
        # "Server load").
        ws_per_message_deflate=False,
        ws_ping_interval=ping_interval if ping_interval > 0 else None,
        ws_ping_timeout=ping_interval if ping_interval > 0 else None,
        lifespan="off",
        log_config=log_config,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=3,
    )


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the whole new one (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    # `python -m` runs this file as __main__, a second copy of the module: demo.py and
    # people.py raise notifier.server.cli.CliError, which __main__'s `except CliError` would
    # not catch (a traceback instead of one line). Run the one copy they import.
    from notifier.server.cli import main as imported_main

    raise SystemExit(imported_main())
