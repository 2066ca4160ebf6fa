"""``notifier-server demo``: a throw-away helpdesk with people, history and simulated activity.

The demo agent is ``alice`` / ``alice``. Seeding and the simulator use the same action
functions as the REST API (:mod:`notifier.server.actions`), so every notification the tray
shows in the demo was produced by the real rules. The simulator is one asyncio task in the
server process; each step is one realistic helpdesk event, chosen at random (``--seed`` makes
the sequence repeatable), mostly ones that concern alice: a ticket assigned to her (by a
colleague or the support team's round-robin), an @alice mention, a customer reply on her
ticket, a customer reopening her resolved ticket, colleagues reacting to her comment.

Mail: a local mail catcher (:mod:`notifier.server.mailcatcher`) runs in a process of its own
and the server mails it; every mail lands as an ``.eml`` file in a folder the demo names in
its output. Alice gets instant mail for what she has not read within the grace period (30 s
in the demo), connected or not, so the mail shows up while the tray runs; Bea gets an hourly
digest.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from notifier.core import wire
from notifier.server import actions, repository
from notifier.server.actions import Links, Outcome
from notifier.server.cli import CliError, mail_config, run_server, write_atomically
from notifier.server.db import connect
from notifier.server.repository import User
from notifier.server.smtp import SmtpSettings

if TYPE_CHECKING:  # keeps starlette out of this module's imports until a server starts
    from notifier.server.app import HelpdeskApp

log = logging.getLogger(__name__)

DEMO_USERNAME: Final = "alice"
DEMO_PASSWORD: Final = "alice"  # noqa: S105 (the demo's published password)

AGENTS: Final = (
    ("alice", "Alice Archer", "support"),
    ("bea", "Bea Baker", "support"),
    ("carl", "Carl Diaz", "support"),
    ("dana", "Dana Evans", "billing"),
)
CUSTOMERS: Final = (
    ("maria@example.com", "Maria Lopez"),
    ("tom@example.com", "Tom Becker"),
    ("yuki@example.com", "Yuki Tanaka"),
    ("sam@example.org", "Sam Okafor"),
)
PROBLEMS: Final = (
    (
        "Cannot log in after password reset",
        "I reset my password but the login page says it is wrong. I tried twice. Can you help?",
    ),
    (
        "Invoice shows the wrong VAT number",
        "Our March invoice lists an old VAT number. We need "
        "a corrected invoice for our accountant.",
    ),
    (
        "Export to CSV is empty",
        "When I export last month's orders to CSV the file only has the header row.",
    ),
    (
        "Two-factor codes arrive late",
        "The SMS codes take several minutes and expire before they arrive.",
    ),
    ("Please add a second admin", "Our team lead is leaving; please make Jo an administrator."),
    (
        "App crashes when attaching a photo",
        "On my phone the app closes as soon as I attach a photo from the gallery.",
    ),
    ("Charged twice this month", "My card was charged twice on the 3rd. Please refund one."),
    (
        "Webhook deliveries failing",
        "Since yesterday our endpoint gets no webhooks; the log says 'timeout'.",
    ),
)
REPLIES: Final = (
    "Thanks, that worked!",
    "It still happens, I attached a screenshot.",
    "Any news on this? It is blocking our team.",
    "I tried again this morning, same result.",
    "Great, thank you for the quick help.",
)
COMMENTS_FOR_ALICE: Final = (
    "@alice could you take a look? You fixed something similar last week.",
    "@alice the customer asked for you by name.",
    "Looping in @alice: is this the known sync bug?",
    "@alice can you confirm the refund went through?",
)
ALICE_NOTES: Final = (
    "Checked the logs: the request times out at the proxy. Workaround sent.",
    "Refund issued; it shows up in 3-5 business days.",
    "Reproduced on Android 14, filed a bug with the app team.",
)


DEMO_EMAIL: Final = {
    "alice": wire.EmailPreferences(enabled=True, only_when_disconnected=False),
    "bea": wire.EmailPreferences(enabled=True, frequency=wire.EmailFrequency.HOURLY_DIGEST),
}


@dataclass
class DemoWorld:
    """Who is who in the demo database (looked up once after seeding)."""

    agents: dict[str, User]
    customers: list[User]

    @property
    def alice(self) -> User:
        return self.agents[DEMO_USERNAME]

    @property
    def colleagues(self) -> list[User]:
        return [a for a in self.agents.values() if a.username != DEMO_USERNAME]


def seed(connection: sqlite3.Connection, links: Links) -> None:
    """People and a short history; does nothing when the database already has people."""
    if connection.execute("SELECT 1 FROM users LIMIT 1").fetchone():
        return
    agents: dict[str, User] = {}
    for username, name, team in AGENTS:
        password = DEMO_PASSWORD if username == DEMO_USERNAME else username
        agents[username], _ = repository.add_user(
            connection,
            kind="agent",
            username=username,
            name=name,
            password=password,
            team=team,
            email=f"{username}@example.com",
        )
        if username in DEMO_EMAIL:
            repository.put_preferences(
                connection, agents[username].id, wire.Preferences(email=DEMO_EMAIL[username])
            )
    customers = [
        repository.add_user(connection, kind="customer", username=email, name=name)[0]
        for email, name in CUSTOMERS
    ]
    alice, bea, carl = agents["alice"], agents["bea"], agents["carl"]

    def ticket(customer: User, index: int, team: str | None = None) -> str:
        subject, body = PROBLEMS[index]
        data: dict[str, Any] = {"subject": subject, "body": body}
        if team:
            data["team"] = team
        return str(actions.create_ticket(connection, customer, data, links).body["id"])

    first = ticket(customers[0], 0, "support")  # round-robin: alice
    second = ticket(customers[1], 1, "support")  # bea
    third = ticket(customers[2], 2)
    actions.comment(connection, bea, second, {"body": "@alice can you check the VAT field?"}, links)
    actions.assign(connection, bea, third, {"agent": "alice"}, links)
    actions.reply(connection, customers[0], first, {"body": REPLIES[3]}, links)
    note = actions.comment(connection, alice, first, {"body": ALICE_NOTES[0]}, links).body
    actions.react(connection, bea, note["id"], {"emoji": "👍"}, links)
    actions.react(connection, carl, note["id"], {"emoji": "❤️"}, links)
    fourth = ticket(customers[3], 6)
    actions.assign(connection, carl, fourth, {"agent": "alice"}, links)
    actions.resolve(connection, alice, fourth, links)
    # Alice has seen the oldest one already.
    page = repository.list_notifications(connection, alice.id, 0, 1, links.base_url)
    if page.notifications:
        repository.set_read(connection, alice.id, page.notifications[0].id, True)


def load_world(connection: sqlite3.Connection) -> DemoWorld:
    agents: dict[str, User] = {}
    customers: list[User] = []
    for (user_id,) in connection.execute("SELECT id FROM users ORDER BY id").fetchall():
        user = repository.user_by_id(connection, int(user_id))
        if user is None:
            continue
        if user.is_agent:
            agents[user.username] = user
        else:
            customers.append(user)
    return DemoWorld(agents, customers)


class Simulator:
    """Plays one helpdesk event every ``60 / rate`` seconds against the live server."""

    def __init__(
        self, helpdesk: HelpdeskApp, world: DemoWorld, rate: float, rng: random.Random
    ) -> None:
        self.helpdesk = helpdesk
        self.world = world
        self.interval = 60.0 / rate
        self.rng = rng

    async def run(self) -> None:
        steps: list[tuple[Callable[[sqlite3.Connection], Outcome | None], int]] = [
            (self.new_ticket, 3),
            (self.assign_to_alice, 2),
            (self.mention_alice, 3),
            (self.customer_reply, 3),
            (self.reopen, 1),
            (self.react_to_alice, 2),
        ]
        functions = [s for s, _ in steps]
        weights = [w for _, w in steps]
        while True:
            await asyncio.sleep(self.interval)
            step = self.rng.choices(functions, weights)[0]
            try:
                outcome = await self.helpdesk.database.run(_call, step)
            except repository.ActionError as exc:
                log.info("demo step %s skipped: %s", step.__name__, exc.message)
                continue
            if outcome is not None:
                self.helpdesk.hub.wake(outcome.woken)

    # Each step runs on the database thread with the server's connection.

    @property
    def links(self) -> Links:
        return self.helpdesk.links

    def _tickets(self, connection: sqlite3.Connection, where: str, *args: object) -> list[str]:
        return [
            str(r[0])
            for r in connection.execute(
                f"SELECT id FROM tickets WHERE {where} ORDER BY id DESC LIMIT 20",  # noqa: S608
                args,
            )
        ]

    def new_ticket(self, connection: sqlite3.Connection) -> Outcome:
        customer = self.rng.choice(self.world.customers)
        subject, body = self.rng.choice(PROBLEMS)
        team = self.rng.choice(["support", "support", "billing"])
        return actions.create_ticket(
            connection, customer, {"subject": subject, "body": body, "team": team}, self.links
        )

    def assign_to_alice(self, connection: sqlite3.Connection) -> Outcome | None:
        candidates = self._tickets(
            connection,
            "status = 'open' AND (assignee_id IS NULL OR assignee_id != ?)",
            self.world.alice.id,
        )
        if not candidates:
            return self.new_ticket(connection)
        by = self.rng.choice(self.world.colleagues)
        return actions.assign(
            connection, by, self.rng.choice(candidates), {"agent": DEMO_USERNAME}, self.links
        )

    def mention_alice(self, connection: sqlite3.Connection) -> Outcome | None:
        candidates = self._tickets(connection, "status = 'open'")
        if not candidates:
            return self.new_ticket(connection)
        by = self.rng.choice(self.world.colleagues)
        body = self.rng.choice(COMMENTS_FOR_ALICE)
        return actions.comment(
            connection, by, self.rng.choice(candidates), {"body": body}, self.links
        )

    def customer_reply(self, connection: sqlite3.Connection) -> Outcome | None:
        rows = connection.execute(
            "SELECT id, customer_id FROM tickets WHERE assignee_id = ? AND status = 'open'"
            " AND customer_id IS NOT NULL ORDER BY id DESC LIMIT 20",
            (self.world.alice.id,),
        ).fetchall()
        if not rows:
            return self.assign_to_alice(connection)
        ticket_id, customer_id = self.rng.choice(rows)
        customer = repository.user_by_id(connection, int(customer_id))
        assert customer is not None
        return actions.reply(
            connection, customer, str(ticket_id), {"body": self.rng.choice(REPLIES)}, self.links
        )

    def reopen(self, connection: sqlite3.Connection) -> Outcome | None:
        rows = connection.execute(
            "SELECT id, customer_id FROM tickets WHERE assignee_id = ? AND status = 'resolved'"
            " AND customer_id IS NOT NULL ORDER BY id DESC LIMIT 20",
            (self.world.alice.id,),
        ).fetchall()
        if rows:
            ticket_id, customer_id = self.rng.choice(rows)
            customer = repository.user_by_id(connection, int(customer_id))
            assert customer is not None
            body = self.rng.choice(["", "It broke again after the update."])
            return actions.reopen(connection, customer, str(ticket_id), {"body": body}, self.links)
        # Nothing to reopen yet: alice resolves one of hers (on the web), to reopen later.
        open_ones = self._tickets(
            connection, "assignee_id = ? AND status = 'open'", self.world.alice.id
        )
        if open_ones:
            actions.resolve(connection, self.world.alice, self.rng.choice(open_ones), self.links)
        return self.customer_reply(connection)

    def react_to_alice(self, connection: sqlite3.Connection) -> Outcome | None:
        comments = [
            str(r[0])
            for r in connection.execute(
                "SELECT id FROM comments WHERE author_id = ? AND kind = 'comment'"
                " ORDER BY id DESC LIMIT 5",
                (self.world.alice.id,),
            )
        ]
        if not comments or self.rng.random() < 0.3:
            tickets = self._tickets(connection, "assignee_id = ?", self.world.alice.id)
            if not tickets:
                return self.assign_to_alice(connection)
            note = actions.comment(
                connection,
                self.world.alice,
                self.rng.choice(tickets),
                {"body": self.rng.choice(ALICE_NOTES)},
                self.links,
            )
            comments = [note.body["id"]]
        by = self.rng.choice(self.world.colleagues)
        emoji = self.rng.choice(actions.REACTION_EMOJIS)
        outcome = actions.react(connection, by, comments[0], {"emoji": emoji}, self.links)
        if not outcome.body["active"]:  # it was a toggle-off: react again with another emoji
            other = self.rng.choice([e for e in actions.REACTION_EMOJIS if e != emoji])
            outcome = actions.react(connection, by, comments[0], {"emoji": other}, self.links)
        return outcome


def _call(
    connection: sqlite3.Connection, step: Callable[[sqlite3.Connection], Outcome | None]
) -> Outcome | None:
    return step(connection)


def run_demo(args: argparse.Namespace) -> int:
    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    if args.db is None:
        temp_dir = tempfile.TemporaryDirectory(prefix="notifier-demo-")
        db_path = Path(temp_dir.name) / "helpdesk.db"
    else:
        db_path = Path(args.db)
    try:
        return _run_demo(args, db_path)
    finally:
        if temp_dir is not None:
            temp_dir.cleanup()


def start_mail_catcher(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The mail catcher process and its port (see notifier.server.mailcatcher)."""
    command = [sys.executable, "-m", "notifier.server.mailcatcher", "--dir", str(folder)]
    process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
        [*command, "--port", "0", "--exit-with-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode(errors="replace").strip()
    prefix = "listening on smtp://"
    if not line.startswith(prefix):
        stop_process(process)
        raise CliError(f"the demo's mail catcher did not start: {line or 'no output'}")
    return process, int(line.rsplit(":", 1)[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def _run_demo(args: argparse.Namespace, db_path: Path) -> int:
    mail_dir = Path(args.mail_dir) if args.mail_dir else db_path.with_name(f"{db_path.stem}-mail")
    catcher, smtp_port = start_mail_catcher(mail_dir)
    try:
        return _run_demo_mailing(args, db_path, mail_dir, smtp_port)
    finally:
        stop_process(catcher)


def _run_demo_mailing(
    args: argparse.Namespace, db_path: Path, mail_dir: Path, smtp_port: int
) -> int:
    mail = dataclasses.replace(
        mail_config(args, None),
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, implicit_tls=False),
        mail_from="helpdesk@example.com",
        mail_from_name="Demo helpdesk",
    )
    # Seed with the final public URL unknown: links are rendered when sent, never stored.
    connection = connect(db_path)
    try:
        seed(connection, Links("http://127.0.0.1"))
        world = load_world(connection)
        token = repository.create_token(connection, world.alice.id)
    finally:
        connection.close()
    rng = random.Random(args.seed)
    background: set[asyncio.Task[None]] = set()

    async def on_started(helpdesk: HelpdeskApp) -> None:
        credentials = {
            "server": helpdesk.public_url,
            "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD,
            "token": token,
        }
        if args.credentials_file is not None:
            write_atomically(Path(args.credentials_file), json.dumps(credentials, indent=2) + "\n")
        print(
            f"demo helpdesk at {helpdesk.public_url}: sign in as {DEMO_USERNAME} / "
            f"{DEMO_PASSWORD}"
            + (f" (credentials in {args.credentials_file})" if args.credentials_file else ""),
            flush=True,
        )
        print(f"demo mail (one .eml file per mail): {mail_dir}", flush=True)
        if args.rate > 0:
            task = asyncio.create_task(Simulator(helpdesk, world, args.rate, rng).run())
            background.add(task)
            task.add_done_callback(background.discard)

    run_server(
        db_path=db_path,
        host=args.host,
        port=args.port,
        public_url=None,
        ping_interval=args.ping_interval,
        log_level=args.log_level,
        on_started=on_started,
        mail=mail,
    )
    return 0
