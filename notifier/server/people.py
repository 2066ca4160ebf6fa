"""``notifier-server password | deactivate | reactivate | people``: the IT admin's people.

* ``password USERNAME``: a new password for an agent or customer who forgot theirs. Asked twice
  on a terminal (getpass, nothing echoed); otherwise ONE line is read from stdin, for scripts
  (``echo "$PW" | notifier-server password alice``). Never an argument: ``ps`` and the shell
  history would show it. Their tokens keep working (``tokens revoke`` ends them).
* ``deactivate USERNAME``: someone who left. Their tokens are deleted and neither the password
  nor any token signs them in again; team assignment skips them, they cannot be assigned and
  they get no notifications nor mail (:func:`repository.deactivate`). Nothing they wrote goes.
  ``reactivate USERNAME`` undoes it: the password works again, no token is made.
* ``people [--json]``: everyone, with team, admin, active or deactivated, and token counts.

Each prints one line (``people`` a table) and reports a mistake as :class:`CliError`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, Final

from notifier.server import repository
from notifier.server.cli import CliError, admin_connection
from notifier.server.limits import MAX_PASSWORD_CHARS, password_problem
from notifier.server.repository import ActionError, User

# A line of stdin longer than this cannot hold a password the sign-in accepts (at most 4 UTF-8
# bytes a character, and the line ending).
_MAX_LINE_BYTES: Final = 4 * MAX_PASSWORD_CHARS + 2
EMPTY_HELPDESK: Final = "no people yet; add one with notifier-server add-agent USERNAME"


def run_people_command(args: argparse.Namespace) -> int:
    """One of :data:`notifier.server.cli.PEOPLE_COMMANDS`."""
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "password": change_password,
        "deactivate": deactivate,
        "reactivate": reactivate,
        "people": list_people,
    }
    return commands[args.command](args)


def _person(connection: sqlite3.Connection, username: str) -> User:
    user = repository.user_by_username(connection, username)
    if user is None:
        raise CliError(f"no agent or customer named {username!r}")
    return user


# --------------------------------------------------------------------------- password


def change_password(args: argparse.Namespace) -> int:
    with admin_connection(args.db) as connection:
        # Who first: a mistyped name is reported before anyone types a password for it.
        user = _person(connection, args.username)
        password = read_new_password(user.username)
        try:
            repository.set_password(connection, user.id, password)
        except ActionError as exc:
            raise CliError(exc.message) from None
    name = user.username
    if user.deactivated:
        print(
            f"password of {name} changed; {name} is deactivated and can sign in with it after"
            f" `reactivate {name}`",
            flush=True,
        )
    else:
        print(
            f"password of {name} changed; their API tokens and web sign-ins still work"
            f" — `tokens revoke {name}` ends them",
            flush=True,
        )
    return 0


def read_new_password(username: str) -> str:
    """Asked twice on a terminal, else the first line of stdin without its line ending."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        try:
            password = getpass.getpass(f"New password for {username}: ")
            again = getpass.getpass("Again: ")
        except EOFError:
            raise CliError("no password given; nothing changed") from None
        _check_password(password)
        if password != again:
            raise CliError("the two passwords differ; nothing changed")
        return password
    raw = stdin.buffer.readline(_MAX_LINE_BYTES + 1) if stdin is not None else b""
    if not raw:
        raise CliError(
            "no password on stdin; type it on a terminal, or pipe one line in:"
            f' echo "$PASSWORD" | notifier-server password {username}'
        )
    if len(raw) > _MAX_LINE_BYTES:
        raise CliError(f"a password has at most {MAX_PASSWORD_CHARS} characters; nothing changed")
    try:
        password = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError("the password on stdin is not UTF-8 text; nothing changed") from None
    # Only the line ending goes: spaces may be part of a password.
    password = password.removesuffix("\n").removesuffix("\r")
    _check_password(password)
    return password


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise CliError(f"{problem}; nothing changed")


# --------------------------------------------------------------------------- leavers


def deactivate(args: argparse.Namespace) -> int:
    with admin_connection(args.db) as connection:
        user = _person(connection, args.username)
        done = repository.deactivate(connection, user.id)
    name = user.username
    if done.already:
        print(f"{name} is already deactivated (since {done.since}); nothing changed", flush=True)
        return 0
    revoked = f"{done.revoked} token{'' if done.revoked == 1 else 's'} revoked"
    if user.is_agent:
        # Their open tickets stay theirs (nothing is changed behind the admin's back), but a
        # customer's reply there now notifies nobody: say how many to reassign.
        waiting = (
            f"; {done.open_tickets} open ticket{' is' if done.open_tickets == 1 else 's are'}"
            " still assigned to them: reassign them"
            if done.open_tickets
            else ""
        )
        print(
            f"deactivated {name}: they cannot sign in ({revoked}) and get no assignments,"
            f" notifications or mail; their tickets and comments stay{waiting}",
            flush=True,
        )
    else:
        print(
            f"deactivated {name}: they cannot sign in ({revoked}); their tickets and replies stay",
            flush=True,
        )
    return 0


def reactivate(args: argparse.Namespace) -> int:
    with admin_connection(args.db) as connection:
        user = _person(connection, args.username)
        changed = repository.reactivate(connection, user.id)
    if changed:
        print(
            f"reactivated {user.username}: they can sign in again with their password", flush=True
        )
    else:
        print(f"{user.username} is not deactivated; nothing changed", flush=True)
    return 0


# --------------------------------------------------------------------------- the list

HEADER: Final = (
    "KIND",
    "USERNAME",
    "NAME",
    "TEAM",
    "ADMIN",
    "STATUS",
    "API TOKENS",
    "WEB SIGN-INS",
)
_NUMBER_COLUMNS: Final = frozenset({6, 7})  # right-aligned


def list_people(args: argparse.Namespace) -> int:
    with admin_connection(args.db) as connection:
        everyone = repository.people(connection)
    if args.json:
        print(json.dumps([_person_json(p) for p in everyone], indent=2, ensure_ascii=False))
    elif not everyone:
        print(EMPTY_HELPDESK)
    else:
        print(format_people(everyone))
    sys.stdout.flush()
    return 0


def format_people(everyone: list[repository.Person]) -> str:
    """Aligned columns under a header, two spaces apart."""
    rows = [HEADER, *(_row(person) for person in everyone)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if column in _NUMBER_COLUMNS else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _row(person: repository.Person) -> tuple[str, ...]:
    user = person.user
    status = f"deactivated {person.deactivated_at[:10]}" if person.deactivated_at else "active"
    return (
        user.kind,
        _cell(user.username),
        _cell(user.name),
        _cell(user.team or "-"),
        ("yes" if user.is_admin else "no") if user.is_agent else "-",
        status,
        str(person.api_tokens),
        str(person.web_sign_ins),
    )


def _cell(text: str) -> str:
    # A name is printed to the admin's terminal: no control characters (escape sequences,
    # line breaks) from the database get there.
    return "".join(character if character.isprintable() else "?" for character in text)


def _person_json(person: repository.Person) -> dict[str, Any]:
    user = person.user
    return {
        "kind": user.kind,
        "username": user.username,
        "name": user.name,
        "team": user.team,
        "admin": user.is_admin,
        "active": person.deactivated_at is None,
        "deactivated_at": person.deactivated_at,
        "api_tokens": person.api_tokens,
        "web_sign_ins": person.web_sign_ins,
    }
