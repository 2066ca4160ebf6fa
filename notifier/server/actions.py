"""Helpdesk actions and the notification rules they trigger (issue 3).

Each public function is one action by one authenticated user. It runs on the database thread
inside ONE transaction: the ticket / comment change, every notification it causes and every
event announcing them commit together. It returns an :class:`Outcome`: the JSON answer for
the caller and the ids of the agents whose event logs grew (the app wakes their streams).

The rules, in one place:

* assignment: a manual assignment to someone else notifies the assignee (``assigned``, from the
  assigning agent); self-assignment notifies no one; a ticket created with ``team`` is given to
  the next agent of that team in round-robin order and notifies them (``auto_assigned``, from
  nobody); so is one created without a team when the admin setting ``new_ticket_team`` names
  a team. The message is an excerpt of the ticket's first message. A deactivated agent is
  skipped by the round-robin and cannot be assigned.
* mention: each ``@username`` of an agent in a comment notifies that agent once per comment;
  an edit notifies only agents not mentioned before in that comment; self-mentions nothing.
  The notification links to the comment.
* customer reply / reopen: the ticket's assigned agent gets a ``reaction`` notification
  (``customer_replied`` / ``customer_reopened``).
* emoji reaction on a comment: the comment's author, when their preferences have
  ``comment_reactions`` on, gets one notification per comment, re-issued (same id, new seq,
  unread again) as more people react: "👍 ❤️, with Bea Baker and 1 other, on “Fixed it”"
  (from the newest: clients name them first).
  Withdrawing a reaction notifies nobody. Reactions on your own comment notify nobody.
* viewing a ticket marks the viewer's unread notifications about it read (one event).

Preferences (types off, in-app off) and deactivated recipients (nothing at all) are applied in
:func:`repository.notify`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from notifier.core import text, wire
from notifier.server import ratelimit, settings
from notifier.server.db import transaction
from notifier.server.repository import (
    ActionError,
    EventBatch,
    NewNotification,
    User,
    agents_by_usernames,
    clip,
    clock_stamp,
    forbidden,
    get_preferences,
    invalid,
    mark_ticket_read,
    not_found,
    notify,
    parse_id,
    read_events,
    user_by_id,
    user_by_username,
)

REACTION_EMOJIS: Final = ("👍", "👎", "❤️", "🎉", "👀", "✅")
MAX_BODY_CHARS: Final = 100_000
NO_REOPEN_MESSAGE: Final = "No message from the customer."
REACTION_EXCERPT_CHARS: Final = 80  # of the comment reacted to, in its notification
# Comments of a ticket per page: GET /api/v1/tickets/{id}?after=COMMENT_ID&limit=N.
COMMENTS_PAGE_DEFAULT: Final = 100
COMMENTS_PAGE_MAX: Final = 500
ASSIGNMENT_EXCERPT_CHARS: Final = 500
# "@bob" but not "bob@example.com"; a username never ends in "." or "-".
MENTION_PATTERN: Final = re.compile(
    r"(?<![A-Za-z0-9_.@-])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
)


@dataclass(slots=True)
class Outcome:
    body: dict[str, Any]
    woken: set[int] = field(default_factory=set)
    first_seq: dict[int, int] = field(default_factory=dict)  # agent -> first seq appended
    # Filled by :func:`read_appended` after the commit: what each agent's log gained.
    appended: dict[int, EventBatch] = field(default_factory=dict)

    def notify(
        self, connection: sqlite3.Connection, agent_id: int, content: NewNotification
    ) -> None:
        """Create the notification (the agent's preferences permitting); if it was, the
        agent's live streams are woken once the transaction commits."""
        seq = notify(connection, agent_id, content, ratelimit.limit)
        if seq:
            self.woken.add(agent_id)
            self.first_seq.setdefault(agent_id, seq)


def read_appended(connection: sqlite3.Connection, outcome: Outcome) -> Outcome:
    """After an action committed, on the same call: read what it appended to each agent's
    log, so the app can hand it to the streams without each of them reading it again."""
    for agent_id, first in outcome.first_seq.items():
        outcome.appended[agent_id] = read_events(connection, agent_id, first - 1)
    return outcome


TYPE_OF_REASON: Final = {
    wire.Reason.ASSIGNED: wire.NotificationType.ASSIGNMENT,
    wire.Reason.AUTO_ASSIGNED: wire.NotificationType.ASSIGNMENT,
    wire.Reason.MENTIONED: wire.NotificationType.MENTION,
    wire.Reason.CUSTOMER_REPLIED: wire.NotificationType.REACTION,
    wire.Reason.CUSTOMER_REOPENED: wire.NotificationType.REACTION,
    wire.Reason.COMMENT_REACTION: wire.NotificationType.REACTION,
}


def about(
    reason: wire.Reason,
    sender: User | None,
    ticket_id: int,
    subject: str,
    comment_id: int | None,
    message: str,
    *,
    fold_key: str | None = None,
) -> NewNotification:
    """A notification's content; its type follows from the reason."""
    return NewNotification(
        type=TYPE_OF_REASON[reason],
        reason=reason,
        sender=sender.actor() if sender is not None else None,
        ticket_id=ticket_id,
        subject=subject,
        comment_id=comment_id,
        message=message,
        fold_key=fold_key,
    )


class Links:
    """Builds the public URLs of tickets and comments from the server's public URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def ticket(self, ticket_id: int) -> str:
        return f"{self.base_url}/tickets/{ticket_id}"

    def comment(self, ticket_id: int, comment_id: int) -> str:
        return f"{self.ticket(ticket_id)}#comment-{comment_id}"


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    subject: str
    body: str
    status: str
    customer_id: int | None
    assignee_id: int | None
    team: str | None
    created_at: str


def mentions_in(text: str) -> list[str]:
    return [match.group(1) for match in MENTION_PATTERN.finditer(text)]


# --------------------------------------------------------------------------- reading


def _visible_row(
    connection: sqlite3.Connection,
    user: User,
    id_text: str,
    query: str,
    customer_column: int,
    what: str,
) -> tuple[Any, ...]:
    """The row ``query`` finds for the id, if this user may see it: any agent, or the
    ticket's own customer (``customer_column``). Anything else answers like a missing row."""
    key = parse_id(id_text)
    row = connection.execute(query, (key,)).fetchone() if key is not None else None
    if row is None or (not user.is_agent and row[customer_column] != user.id):
        raise not_found(what)
    return tuple(row)


def _load_ticket(connection: sqlite3.Connection, user: User, ticket_id: str) -> Ticket:
    """The ticket if this user may see it."""
    query = (
        "SELECT id, subject, body, status, customer_id, assignee_id, team, created_at"
        " FROM tickets WHERE id = ?"
    )
    return Ticket(*_visible_row(connection, user, ticket_id, query, 4, "ticket"))


def _person(connection: sqlite3.Connection, user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    user = user_by_id(connection, user_id)
    if user is None:
        return None
    return {"kind": user.kind, "id": str(user.id), "username": user.username, "name": user.name}


def ticket_json(connection: sqlite3.Connection, ticket: Ticket, links: Links) -> dict[str, Any]:
    return {
        "id": str(ticket.id),
        "subject": ticket.subject,
        "body": ticket.body,
        "status": ticket.status,
        "customer": _person(connection, ticket.customer_id),
        "assignee": _person(connection, ticket.assignee_id),
        "team": ticket.team,
        "url": links.ticket(ticket.id),
        "created_at": ticket.created_at,
    }


def _reaction_counts(
    connection: sqlite3.Connection, where: str, args: tuple[object, ...]
) -> dict[int, dict[str, int]]:
    """{comment id: {emoji: count}} for the comments ``where`` selects, in one query."""
    counts: dict[int, dict[str, int]] = {}
    for comment_id, emoji, count in connection.execute(
        "SELECT comment_id, emoji, COUNT(*) FROM reactions"  # noqa: S608
        f" WHERE comment_id IN (SELECT id FROM comments WHERE {where}) GROUP BY comment_id, emoji",
        args,
    ):
        counts.setdefault(int(comment_id), {})[emoji] = int(count)
    return {
        cid: {emoji: found[emoji] for emoji in REACTION_EMOJIS if emoji in found}
        for cid, found in counts.items()
    }


def _comment_reactions(connection: sqlite3.Connection, comment_id: int) -> dict[str, int]:
    return _reaction_counts(connection, "id = ?", (comment_id,)).get(comment_id, {})


# A comment with its author, in one row (see _comment_from_row).
_COMMENT_QUERY: Final = (
    "SELECT comments.id, comments.ticket_id, comments.kind, comments.body, comments.created_at,"
    " comments.updated_at, users.kind, users.id, users.username, users.name"
    " FROM comments JOIN users ON users.id = comments.author_id"
)


def _comment_from_row(
    row: tuple[Any, ...], links: Links, reactions: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": str(row[0]),
        "ticket_id": str(row[1]),
        "author": {"kind": row[6], "id": str(row[7]), "username": row[8], "name": row[9]},
        "kind": row[2],
        "body": row[3],
        "url": links.comment(row[1], row[0]),
        "reactions": reactions,
        "created_at": row[4],
        "updated_at": row[5],
    }


def comment_json(connection: sqlite3.Connection, comment_id: int, links: Links) -> dict[str, Any]:
    row = connection.execute(f"{_COMMENT_QUERY} WHERE comments.id = ?", (comment_id,)).fetchone()
    return _comment_from_row(tuple(row), links, _comment_reactions(connection, comment_id))


@dataclass(frozen=True, slots=True)
class CommentsPage:
    """Which comments of a ticket to return: those with an id above ``after``, at most
    ``limit`` (1..COMMENTS_PAGE_MAX)."""

    after: int = 0
    limit: int = COMMENTS_PAGE_DEFAULT


FIRST_PAGE: Final = CommentsPage()


def ticket_page(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    links: Links,
    comments: CommentsPage = FIRST_PAGE,
) -> dict[str, Any]:
    """The ticket and one page of its comments and replies, in order, in a constant number of
    queries however long the thread (the comments with their authors, then their reactions);
    ``has_more_comments`` says whether more follow the page.

    A customer gets the replies only: internal comments (and the @mentions in them) and the
    agents' reactions are the helpdesk's own business.
    """
    ticket = _load_ticket(connection, user, ticket_id)
    only_replies = "" if user.is_agent else " AND comments.kind = 'reply'"
    rows = [
        tuple(row)
        for row in connection.execute(
            f"{_COMMENT_QUERY} WHERE comments.ticket_id = ? AND comments.id > ?{only_replies}"
            " ORDER BY comments.id LIMIT ?",
            (ticket.id, comments.after, comments.limit + 1),
        )
    ]
    has_more = len(rows) > comments.limit
    rows = rows[: comments.limit]
    reactions = (
        _reaction_counts(
            connection,
            "ticket_id = ? AND id > ? AND id <= ?",
            (ticket.id, comments.after, rows[-1][0]),
        )
        if user.is_agent and rows
        else {}
    )
    page = ticket_json(connection, ticket, links)
    page["comments"] = [_comment_from_row(row, links, reactions.get(row[0], {})) for row in rows]
    page["has_more_comments"] = has_more
    return page


def comment_ticket(connection: sqlite3.Connection, user: User, comment_id: str) -> tuple[int, int]:
    """(ticket id, comment id) of a comment this user may see: a customer sees only the
    replies of their own tickets; an internal comment answers them like a missing one, so a
    link to it (``/comments/ID``) does not tell that it exists."""
    query = (
        "SELECT comments.id, tickets.id, tickets.customer_id, comments.kind FROM comments"
        " JOIN tickets ON tickets.id = comments.ticket_id WHERE comments.id = ?"
    )
    row = _visible_row(connection, user, comment_id, query, 2, "comment")
    if not user.is_agent and row[3] != "reply":
        raise not_found("comment")
    return int(row[1]), int(row[0])


# --------------------------------------------------------------------------- validation


def _text(data: dict[str, Any], key: str, *, required: bool, limit: int = MAX_BODY_CHARS) -> str:
    value = data.get(key, "")
    if value is None and not required:
        value = ""
    if not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    value = value.strip()
    if required and not value:
        raise invalid(f"{key} must not be empty")
    if len(value) > limit:
        raise invalid(f"{key} has {len(value)} characters, limit {limit}")
    return value


def _require_agent(user: User, what: str) -> None:
    if not user.is_agent:
        raise forbidden(f"only agents can {what}")


# --------------------------------------------------------------------------- actions


def create_ticket(
    connection: sqlite3.Connection,
    user: User,
    data: dict[str, Any],
    links: Links,
    *,
    use_new_ticket_team: bool = True,
) -> Outcome:
    """A new open ticket. With a ``team``, or without one when the admin setting
    ``new_ticket_team`` names a team, the team's next agent in turn gets it and is notified
    (``auto_assigned``); a team without agents leaves it unassigned. ``use_new_ticket_team``
    False keeps a ticket without a team unassigned whatever the setting says: for the demo's
    scripted stories, whose next step is a colleague assigning it."""
    subject = _text(data, "subject", required=True, limit=wire.MAX_SUBJECT_CHARS)
    body = _text(data, "body", required=False)
    team = data.get("team")
    if team is not None and (not isinstance(team, str) or not team.strip()):
        raise invalid("team must be a team name")
    customer_field = data.get("customer")
    outcome = Outcome({})
    with transaction(connection):
        if user.is_agent:
            customer_id = None
            if customer_field is not None:
                if not isinstance(customer_field, str):
                    raise invalid("customer must be the customer's e-mail address")
                customer = user_by_username(connection, customer_field)
                if customer is None or customer.is_agent:
                    raise invalid(f"no customer {customer_field!r}")
                if customer.deactivated:  # they could not sign in to read or answer it
                    raise invalid(f"{customer.username} is deactivated and cannot be sent tickets")
                customer_id = customer.id
        else:
            if customer_field is not None and customer_field != user.username:
                raise forbidden("a customer opens tickets only for themselves")
            customer_id = user.id
        assignee: User | None = None
        if team is not None:
            team_row = connection.execute(
                "SELECT name, last_agent_id FROM teams WHERE name = ?", (team.strip(),)
            ).fetchone()
            if team_row is None:
                raise invalid(f"no team {team!r}")
        elif use_new_ticket_team:
            team_row = _new_ticket_team(connection)
        else:
            team_row = None
        if team_row is not None:
            team = str(team_row[0])
            assignee = _next_in_team(connection, team, team_row[1])
        stamp = clock_stamp(connection)
        cursor = connection.execute(
            "INSERT INTO tickets(subject, body, status, customer_id, assignee_id, team,"
            " created_by, created_at, updated_at) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?)",
            (
                subject,
                body,
                customer_id,
                assignee.id if assignee else None,
                team,
                user.id,
                stamp,
                stamp,
            ),
        )
        ticket_id = int(cursor.lastrowid or 0)
        if assignee is not None:
            outcome.notify(
                connection,
                assignee.id,
                about(
                    wire.Reason.AUTO_ASSIGNED,
                    None,
                    ticket_id,
                    subject,
                    None,
                    _assignment_message(subject, body),
                ),
            )
        outcome.body = ticket_json(
            connection, _load_ticket(connection, user, str(ticket_id)), links
        )
    return outcome


def _new_ticket_team(connection: sqlite3.Connection) -> tuple[Any, ...] | None:
    """The (name, last_agent_id) row of the team the admin setting ``new_ticket_team``
    names, or None: no such setting, or a team no longer there (the ticket then waits
    unassigned, as without the setting)."""
    name = settings.current(connection).new_ticket_team
    if name is None:
        return None
    row = connection.execute(
        "SELECT name, last_agent_id FROM teams WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else tuple(row)


def _next_in_team(connection: sqlite3.Connection, team: str, last_id: int | None) -> User | None:
    """The team's next active agent after ``last_id`` in id order (a deactivated one is
    skipped: someone who left), or None when the team has none."""
    members = [
        int(r[0])
        for r in connection.execute(
            "SELECT id FROM users WHERE team = ? AND kind = 'agent' AND deactivated_at IS NULL"
            " ORDER BY id",
            (team,),
        )
    ]
    if not members:
        return None
    after = [m for m in members if last_id is None or m > last_id]
    chosen = after[0] if after else members[0]
    connection.execute("UPDATE teams SET last_agent_id = ? WHERE name = ?", (chosen, team))
    return user_by_id(connection, chosen)


def _assignment_message(subject: str, body: str) -> str:
    return clip(body or subject, ASSIGNMENT_EXCERPT_CHARS)


def assign(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    _require_agent(user, "assign tickets")
    username, team = data.get("agent"), data.get("team")
    if team is not None and username is None:
        if not isinstance(team, str) or not team.strip():
            raise invalid("team must be a team name")
    elif not isinstance(username, str) or not username:
        raise invalid("agent must be an agent's username")
    outcome = Outcome({})
    with transaction(connection):
        ticket = _load_ticket(connection, user, ticket_id)
        if isinstance(username, str):
            assignee = user_by_username(connection, username)
            if assignee is None or not assignee.is_agent:
                raise invalid(f"no agent {username!r}")
            if assignee.deactivated:
                raise invalid(f"{assignee.username} is deactivated and cannot be assigned tickets")
            team_name = ticket.team
        else:
            team_row = connection.execute(
                "SELECT name, last_agent_id FROM teams WHERE name = ?", (str(team).strip(),)
            ).fetchone()
            if team_row is None:
                raise invalid(f"no team {team!r}")
            team_name = str(team_row[0])
            assignee = _next_in_team(connection, team_name, team_row[1])
            if assignee is None:
                raise invalid(f"the team {team_name!r} has no active agents")
        if ticket.assignee_id != assignee.id or ticket.team != team_name:
            connection.execute(
                "UPDATE tickets SET assignee_id = ?, team = ?, updated_at = ? WHERE id = ?",
                (assignee.id, team_name, clock_stamp(connection), ticket.id),
            )
        if ticket.assignee_id != assignee.id and assignee.id != user.id:
            outcome.notify(
                connection,
                assignee.id,
                about(
                    wire.Reason.ASSIGNED,
                    user,
                    ticket.id,
                    ticket.subject,
                    None,
                    _assignment_message(ticket.subject, ticket.body),
                ),
            )
        outcome.body = ticket_json(connection, _load_ticket(connection, user, ticket_id), links)
    return outcome


def _notify_mentions(
    connection: sqlite3.Connection,
    author: User,
    ticket: Ticket,
    comment_id: int,
    body: str,
    outcome: Outcome,
) -> None:
    for agent in agents_by_usernames(connection, mentions_in(body)):
        if agent.id == author.id:
            continue
        inserted = connection.execute(
            "INSERT OR IGNORE INTO comment_mentions(comment_id, agent_id) VALUES (?, ?)",
            (comment_id, agent.id),
        ).rowcount
        if inserted:
            outcome.notify(
                connection,
                agent.id,
                about(wire.Reason.MENTIONED, author, ticket.id, ticket.subject, comment_id, body),
            )


def comment(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    _require_agent(user, "comment")
    body = _text(data, "body", required=True)
    outcome = Outcome({})
    with transaction(connection):
        ticket = _load_ticket(connection, user, ticket_id)
        comment_id = _insert_comment(connection, ticket.id, user.id, "comment", body)
        _notify_mentions(connection, user, ticket, comment_id, body, outcome)
        outcome.body = comment_json(connection, comment_id, links)
    return outcome


def _insert_comment(
    connection: sqlite3.Connection, ticket_id: int, author_id: int, kind: str, body: str
) -> int:
    stamp = clock_stamp(connection)
    cursor = connection.execute(
        "INSERT INTO comments(ticket_id, author_id, kind, body, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (ticket_id, author_id, kind, body, stamp, stamp),
    )
    connection.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))
    return int(cursor.lastrowid or 0)


def edit_comment(
    connection: sqlite3.Connection,
    user: User,
    comment_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    _require_agent(user, "edit comments")
    body = _text(data, "body", required=True)
    outcome = Outcome({})
    with transaction(connection):
        ticket_key, comment_key = comment_ticket(connection, user, comment_id)
        author = connection.execute(
            "SELECT author_id, kind FROM comments WHERE id = ?", (comment_key,)
        ).fetchone()
        if author[0] != user.id or author[1] != "comment":
            raise forbidden("only the author can edit a comment")
        connection.execute(
            "UPDATE comments SET body = ?, updated_at = ? WHERE id = ?",
            (body, clock_stamp(connection), comment_key),
        )
        ticket = _load_ticket(connection, user, str(ticket_key))
        _notify_mentions(connection, user, ticket, comment_key, body, outcome)
        outcome.body = comment_json(connection, comment_key, links)
    return outcome


def _customer_ticket(connection: sqlite3.Connection, user: User, ticket_id: str) -> Ticket:
    if user.is_agent:
        raise forbidden("only the ticket's customer can do this")
    return _load_ticket(connection, user, ticket_id)


def reply(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    body = _text(data, "body", required=True)
    outcome = Outcome({})
    with transaction(connection):
        ticket = _customer_ticket(connection, user, ticket_id)
        reply_id = _insert_comment(connection, ticket.id, user.id, "reply", body)
        _notify_assignee(
            connection, outcome, ticket, wire.Reason.CUSTOMER_REPLIED, user, reply_id, body
        )
        outcome.body = comment_json(connection, reply_id, links)
    return outcome


def _notify_assignee(
    connection: sqlite3.Connection,
    outcome: Outcome,
    ticket: Ticket,
    reason: wire.Reason,
    customer: User,
    comment_id: int | None,
    message: str,
) -> None:
    """Tell the ticket's assignee (if any) what its customer did."""
    if ticket.assignee_id is not None:
        outcome.notify(
            connection,
            ticket.assignee_id,
            about(reason, customer, ticket.id, ticket.subject, comment_id, message),
        )


def answer_customer(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    """An agent's reply to the customer: a ``reply`` the customer sees (internal comments
    they never see). It notifies no agent; @mentions belong in internal comments."""
    _require_agent(user, "answer the customer")
    body = _text(data, "body", required=True)
    with transaction(connection):
        ticket = _load_ticket(connection, user, ticket_id)
        reply_id = _insert_comment(connection, ticket.id, user.id, "reply", body)
        return Outcome(comment_json(connection, reply_id, links))


def resolve(connection: sqlite3.Connection, user: User, ticket_id: str, links: Links) -> Outcome:
    _require_agent(user, "resolve tickets")
    with transaction(connection):
        ticket = _load_ticket(connection, user, ticket_id)
        if ticket.status != "open":
            raise ActionError(409, "conflict", f"the ticket is {ticket.status}, not open")
        connection.execute(
            "UPDATE tickets SET status = 'resolved', updated_at = ? WHERE id = ?",
            (clock_stamp(connection), ticket.id),
        )
        return Outcome(ticket_json(connection, _load_ticket(connection, user, ticket_id), links))


def reopen(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    """A resolved ticket opens again. Its customer may say why (a reply) and the assignee is
    told; an agent reopens it as they resolve it, without a message and notifying no one
    (what they have to say goes in a comment)."""
    body = _text(data, "body", required=False)
    if user.is_agent and body:
        raise invalid("agents reopen without a message; write a comment instead")
    outcome = Outcome({})
    with transaction(connection):
        ticket = _load_ticket(connection, user, ticket_id)
        if ticket.status != "resolved":
            raise ActionError(409, "conflict", f"the ticket is {ticket.status}, not resolved")
        connection.execute(
            "UPDATE tickets SET status = 'open', updated_at = ? WHERE id = ?",
            (clock_stamp(connection), ticket.id),
        )
        if not user.is_agent:
            reply_id = (
                _insert_comment(connection, ticket.id, user.id, "reply", body) if body else None
            )
            # Clients already say who reopened it ("Priya Nair reopened #6 …"): the message
            # is the customer's words, or that there were none.
            message = body or NO_REOPEN_MESSAGE
            _notify_assignee(
                connection, outcome, ticket, wire.Reason.CUSTOMER_REOPENED, user, reply_id, message
            )
        outcome.body = ticket_json(connection, _load_ticket(connection, user, ticket_id), links)
    return outcome


def react(
    connection: sqlite3.Connection,
    user: User,
    comment_id: str,
    data: dict[str, Any],
    links: Links,
) -> Outcome:
    _require_agent(user, "react to comments")
    emoji = data.get("emoji")
    if emoji not in REACTION_EMOJIS:
        raise invalid(f"emoji must be one of {' '.join(REACTION_EMOJIS)}")
    outcome = Outcome({})
    with transaction(connection):
        ticket_key, comment_key = comment_ticket(connection, user, comment_id)
        removed = connection.execute(
            "DELETE FROM reactions WHERE comment_id = ? AND user_id = ? AND emoji = ?",
            (comment_key, user.id, emoji),
        ).rowcount
        if not removed:
            connection.execute(
                "INSERT INTO reactions(comment_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)",
                (comment_key, user.id, emoji, clock_stamp(connection)),
            )
            _notify_reaction(connection, user, ticket_key, comment_key, outcome)
        outcome.body = {
            "comment_id": str(comment_key),
            "emoji": emoji,
            "active": not removed,
            "reactions": _comment_reactions(connection, comment_key),
        }
    return outcome


def _notify_reaction(
    connection: sqlite3.Connection,
    reactor: User,
    ticket_id: int,
    comment_id: int,
    outcome: Outcome,
) -> None:
    author_id, body = connection.execute(
        "SELECT author_id, body FROM comments WHERE id = ?", (comment_id,)
    ).fetchone()
    author = user_by_id(connection, int(author_id))
    if author is None or not author.is_agent or author.id == reactor.id:
        return
    if not get_preferences(connection, author.id).comment_reactions:
        return
    rows = connection.execute(
        "SELECT users.id, users.name, reactions.emoji FROM reactions"
        " JOIN users ON users.id = reactions.user_id"
        " WHERE reactions.comment_id = ? AND reactions.user_id != ?"
        " ORDER BY reactions.created_at, users.id",
        (comment_id, author.id),
    ).fetchall()
    others = [name for user_id, name, _ in rows if user_id != reactor.id]
    subject = connection.execute(
        "SELECT subject FROM tickets WHERE id = ?", (ticket_id,)
    ).fetchone()[0]
    outcome.notify(
        connection,
        author.id,
        about(
            wire.Reason.COMMENT_REACTION,
            reactor,
            ticket_id,
            subject,
            comment_id,
            reaction_message([emoji for _, _, emoji in rows], others, body),
            fold_key=f"comment_reaction:{comment_id}",
        ),
    )


def reaction_message(emojis: Iterable[str], others: Iterable[str], comment_body: str) -> str:
    """ "👍 ❤️, with Bea Baker and 1 other, on “Fixed it”": every emoji so far, who else
    reacted (the notification is from the newest, whom clients already name: "Dana Evans
    reacted to your comment on"), and which comment."""
    used = set(emojis)
    shown = " ".join(e for e in REACTION_EMOJIS if e in used)
    people = list(dict.fromkeys(others))
    if not people:
        also = ""
    elif len(people) <= 2:
        also = f", with {' and '.join(people)},"
    else:
        more = len(people) - 1
        also = f", with {people[0]} and {more} other{'s' if more > 1 else ''},"
    return f"{shown}{also} on “{text.excerpt(comment_body, REACTION_EXCERPT_CHARS)}”"


def view(
    connection: sqlite3.Connection,
    user: User,
    ticket_id: str,
    links: Links,
    comments: CommentsPage = FIRST_PAGE,
) -> Outcome:
    """The ticket for an agent (one page of comments), marking their notifications about it
    read."""
    _require_agent(user, "view tickets here")
    outcome = Outcome({})
    with transaction(connection):
        ticket = _load_ticket(connection, user, ticket_id)
        marked = mark_ticket_read(connection, user.id, ticket.id)
        if marked:
            outcome.woken.add(user.id)
        outcome.body = ticket_page(connection, user, ticket_id, links, comments)
        outcome.body["marked_read"] = marked
    return outcome


TICKET_LIST_LIMIT: Final = 200
TICKET_SCOPES: Final = ("mine", "team", "open")


def ticket_list(
    connection: sqlite3.Connection, user: User, scope: str, status: str
) -> list[dict[str, Any]]:
    """Tickets for the web home page, newest activity first: a customer's own; for an agent
    ``scope`` "mine" (assigned to them), "team" (their team's) or "open" (everyone's), with
    ``status`` "open", "resolved" or "all"."""
    where: list[str] = []
    args: list[object] = []
    if not user.is_agent:
        where.append("tickets.customer_id = ?")
        args.append(user.id)
    elif scope == "mine":
        where.append("tickets.assignee_id = ?")
        args.append(user.id)
    elif scope == "team":
        where.append("tickets.team = ?")
        args.append(user.team or "")
    if status in ("open", "resolved"):
        where.append("tickets.status = ?")
        args.append(status)
    # Only the fixed conditions above are joined in; every value is a parameter.
    condition = " WHERE " + " AND ".join(where) if where else ""
    rows = connection.execute(
        "SELECT tickets.id, tickets.subject, tickets.status, tickets.team, tickets.updated_at,"  # noqa: S608
        " assignee.name, customer.name FROM tickets"
        " LEFT JOIN users AS assignee ON assignee.id = tickets.assignee_id"
        f" LEFT JOIN users AS customer ON customer.id = tickets.customer_id{condition}"
        " ORDER BY tickets.updated_at DESC, tickets.id DESC LIMIT ?",
        (*args, TICKET_LIST_LIMIT),
    ).fetchall()
    return [
        {
            "id": str(row[0]),
            "subject": row[1],
            "status": row[2],
            "team": row[3],
            "updated_at": row[4],
            "assignee": row[5],
            "customer": row[6],
        }
        for row in rows
    ]


def reactors(
    connection: sqlite3.Connection, comment_ids: Iterable[int]
) -> dict[int, dict[str, list[str]]]:
    """{comment id: {emoji: [names of who reacted]}}: the ticket page shows who reacted."""
    ids = list(comment_ids)
    found: dict[int, dict[str, list[str]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for comment_id, emoji, name in connection.execute(
            "SELECT reactions.comment_id, reactions.emoji, users.name FROM reactions"  # noqa: S608
            f" JOIN users ON users.id = reactions.user_id WHERE reactions.comment_id IN ({marks})"
            " ORDER BY reactions.created_at, users.id",
            chunk,
        ):
            found.setdefault(int(comment_id), {}).setdefault(emoji, []).append(name)
    return found
