"""``notifier-server demo``: a throw-away helpdesk with people, history and simulated activity.

The demo agent is ``alice`` / ``alice``; her colleagues are in three teams (support, billing,
engineering). What happens is written as stories (:mod:`notifier.server.demo_stories`): one
ticket each, with a thread that fits it (a customer's question, the agent's answer, internal
comments that @mention colleagues, emoji reactions, the customer's follow-up, a resolution,
sometimes a reopening). Seeding plays the history in full; the simulator, one asyncio task in
the server process, plays the live stories one event every ``60 / rate`` seconds, a few
tickets at a time (``--seed`` makes the order repeatable), mostly about alice. Both use the
same action functions as the REST API (:mod:`notifier.server.actions`), so every
notification the tray shows in the demo was produced by the real rules. When every live
story has played (70 events, about 12 minutes at the default rate), they start again from the first.
The admin setting ``new_ticket_team`` is ``support``: a ticket a demo customer opens on the web
goes to alice or bea in turn, who are notified.

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
import shlex
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from notifier.core import wire
from notifier.server import actions, repository, settings
from notifier.server.actions import Links, Outcome
from notifier.server.cli import CliError, mail_config, run_server, write_atomically
from notifier.server.db import clock_now, clock_replaced, connect
from notifier.server.demo_stories import (
    ASSIGNEE,
    HISTORY,
    LIVE,
    Answer,
    CustomerReply,
    Note,
    React,
    Reopen,
    Resolve,
    Step,
    Story,
)
from notifier.server.repository import User
from notifier.server.smtp import SmtpSettings

if TYPE_CHECKING:  # keeps starlette out of this module's imports until a server starts
    from notifier.server.app import HelpdeskApp

log = logging.getLogger(__name__)

DEMO_USERNAME: Final = "alice"
DEMO_PASSWORD: Final = "alice"  # noqa: S105 (the demo's published password)

CUSTOMER_PASSWORD: Final = "customer"  # noqa: S105 (the demo customers' published password)
AGENTS: Final = (
    ("alice", "Alice Archer", "support"),
    ("bea", "Bea Baker", "support"),
    ("carl", "Carl Diaz", "engineering"),
    ("dana", "Dana Evans", "billing"),
    ("erin", "Erin Fischer", "engineering"),
)
CUSTOMERS: Final = (
    ("maria@example.com", "Maria Lopez"),
    ("tom@example.com", "Tom Becker"),
    ("yuki@example.com", "Yuki Tanaka"),
    ("sam@example.org", "Sam Okafor"),
    ("priya@example.net", "Priya Nair"),
    ("lars@example.com", "Lars Holm"),
)
NEW_TICKET_TEAM: Final = "support"  # the new_ticket_team setting of the demo (alice, bea)
# The seeded history: its steps 2–9 minutes apart (about four hours in all), the last one
# a few minutes before the demo starts.
HISTORY_GAP_MINUTES: Final = (2.0, 9.0)
HISTORY_ENDS_BEFORE: Final = timedelta(minutes=4)
HISTORY_SEED: Final = 2026
ACTIVE_STORIES: Final = 3  # live tickets in play at once, so threads interleave as in a day


DEMO_EMAIL: Final = {
    "alice": wire.EmailPreferences(enabled=True, only_when_disconnected=False),
    "bea": wire.EmailPreferences(enabled=True, frequency=wire.EmailFrequency.HOURLY_DIGEST),
}


@dataclass
class DemoWorld:
    """Who is who in the demo database (looked up once after seeding)."""

    agents: dict[str, User]
    customers: dict[str, User]  # by e-mail address (their username)

    @property
    def alice(self) -> User:
        return self.agents[DEMO_USERNAME]

    def person(self, username: str) -> User:
        return self.agents.get(username) or self.customers[username]


@dataclass
class Playing:
    """A story on its way: its ticket and the next step to play."""

    story: Story
    ticket_id: str
    assignee: User
    customer: User
    next_step: int = 0
    latest_note: str | None = None  # the comment a React step reacts to

    @property
    def done(self) -> bool:
        return self.next_step >= len(self.story.steps)


def _woken_together(outcomes: Sequence[Outcome]) -> Outcome:
    """One outcome waking everyone the ``outcomes`` woke (a story's ticket and assignment)."""
    merged = Outcome(outcomes[-1].body)
    for outcome in outcomes:
        merged.woken |= outcome.woken
    return merged


class StoryPlayer:
    """Plays stories with the helpdesk's actions, on the caller's database connection."""

    def __init__(self, world: DemoWorld, links: Callable[[], Links]) -> None:
        self.world = world
        self._links = links

    def open_ticket(self, connection: sqlite3.Connection, story: Story) -> tuple[Playing, Outcome]:
        """The customer's question, and its assignment (by a colleague or the round-robin)."""
        customer = self.world.customers[story.customer]
        data: dict[str, object] = {"subject": story.subject, "body": story.question}
        if story.assigned_by is None:
            data["team"] = story.team
        # A story a colleague assigns is not the new-ticket team's first: that team's agent
        # would be told of a ticket taken from them in the very next step.
        created = actions.create_ticket(
            connection,
            customer,
            data,
            self._links(),
            use_new_ticket_team=story.assigned_by is None,
        )
        ticket_id = str(created.body["id"])
        outcomes = [created]
        if story.assigned_by is not None:
            by = self.world.agents[story.assigned_by]
            assignment = {"agent": story.assignee}
            outcomes.append(actions.assign(connection, by, ticket_id, assignment, self._links()))
        assignee_id = connection.execute(
            "SELECT assignee_id FROM tickets WHERE id = ?", (int(ticket_id),)
        ).fetchone()[0]
        assignee = repository.user_by_id(connection, int(assignee_id))
        assert assignee is not None, f"nobody was given {story.subject!r}"
        return Playing(story, ticket_id, assignee, customer), _woken_together(outcomes)

    def _agent(self, playing: Playing, username: str) -> User:
        return playing.assignee if username == ASSIGNEE else self.world.agents[username]

    def play_step(self, connection: sqlite3.Connection, playing: Playing) -> Outcome:
        """The story's next step."""
        step: Step = playing.story.steps[playing.next_step]
        playing.next_step += 1
        links, ticket = self._links(), playing.ticket_id
        if isinstance(step, Answer):
            body = {"body": step.text}
            return actions.answer_customer(connection, playing.assignee, ticket, body, links)
        if isinstance(step, CustomerReply):
            return actions.reply(connection, playing.customer, ticket, {"body": step.text}, links)
        if isinstance(step, Note):
            author = self._agent(playing, step.author)
            note = actions.comment(connection, author, ticket, {"body": step.text}, links)
            playing.latest_note = str(note.body["id"])
            return note
        if isinstance(step, React):
            assert playing.latest_note is not None, f"nothing to react to in {ticket}"
            who = self._agent(playing, step.who)
            emoji = {"emoji": step.emoji}
            return actions.react(connection, who, playing.latest_note, emoji, links)
        if isinstance(step, Resolve):
            return actions.resolve(connection, playing.assignee, ticket, links)
        assert isinstance(step, Reopen)
        return actions.reopen(connection, playing.customer, ticket, {"body": step.text}, links)


@dataclass
class DemoDay:
    """The live stories as a stream of events: each :meth:`next_event` opens the next
    story's ticket (while fewer than ``ACTIVE_STORIES`` are in play) or plays the next step
    of one in play, chosen by ``rng``. After the last story, the first starts again."""

    player: StoryPlayer
    rng: random.Random
    stories: Sequence[Story] = LIVE
    playing: list[Playing] = field(default_factory=list)
    started: int = 0  # stories opened so far

    def next_event(self, connection: sqlite3.Connection) -> Outcome:
        if len(self.playing) < ACTIVE_STORIES and (
            self.started < len(self.stories) or not self.playing
        ):
            story = self.stories[self.started % len(self.stories)]
            self.started += 1
            playing, outcome = self.player.open_ticket(connection, story)
            self.playing.append(playing)
            return outcome
        playing = self.rng.choice(self.playing)
        outcome = self.player.play_step(connection, playing)
        if playing.done:
            self.playing.remove(playing)
        return outcome

    @property
    def played_once(self) -> bool:
        """Every story has been opened and played to its end."""
        return self.started >= len(self.stories) and not self.playing


def seed(connection: sqlite3.Connection, links: Links) -> None:
    """People and the day's history; does nothing when the database already has people."""
    if connection.execute("SELECT 1 FROM users LIMIT 1").fetchone():
        return
    for username, name, team in AGENTS:
        password = DEMO_PASSWORD if username == DEMO_USERNAME else username
        agent, _ = repository.add_user(
            connection,
            kind="agent",
            username=username,
            name=name,
            password=password,
            team=team,
            email=f"{username}@example.com",
            # Someone must be able to open /admin for the demo to be driven from a browser.
            is_admin=username == DEMO_USERNAME,
        )
        if username in DEMO_EMAIL:
            repository.put_preferences(
                connection, agent.id, wire.Preferences(email=DEMO_EMAIL[username])
            )
    for email, name in CUSTOMERS:
        repository.add_user(
            connection, kind="customer", username=email, name=name, password=CUSTOMER_PASSWORD
        )
    # A ticket a customer opens on the web has no team: it goes to support's next agent.
    settings.update(
        connection,
        {"new_ticket_team": NEW_TICKET_TEAM},
        expected_version=None,
        actor="notifier-server demo",
        via="cli",
    )
    player = StoryPlayer(load_world(connection), lambda: links)
    # The history happened this morning, minutes apart, not all at the second of seeding:
    # the popup's "3 h ago" and the web pages' times read as a day's work.
    history = HistoryClock.ending_at(clock_now(connection) - HISTORY_ENDS_BEFORE, HISTORY)
    with clock_replaced(connection, history):
        for story in HISTORY:
            playing, _ = player.open_ticket(connection, story)
            while not playing.done:
                history.tick()
                player.play_step(connection, playing)
            history.tick()
    # Alice has seen the oldest one already.
    alice = load_world(connection).alice
    page = repository.list_notifications(connection, alice.id, 0, 1, links.base_url)
    if page.notifications:
        repository.set_read(connection, alice.id, page.notifications[0].id, True)


class HistoryClock:
    """The seeded history's clock: each :meth:`tick` moves it on by the next of ``gaps``."""

    def __init__(self, start: datetime, gaps: Sequence[timedelta]) -> None:
        self._now = start
        self._gaps = iter(gaps)

    @classmethod
    def ending_at(cls, end: datetime, stories: Sequence[Story]) -> HistoryClock:
        """A clock whose last tick of ``stories`` lands on ``end``, minutes apart (the same
        minutes every time: the seed is fixed, so screenshots repeat)."""
        rng = random.Random(HISTORY_SEED)
        ticks = sum(len(story.steps) + 1 for story in stories)
        gaps = [timedelta(minutes=rng.uniform(*HISTORY_GAP_MINUTES)) for _ in range(ticks)]
        return cls(end - sum(gaps, timedelta()), gaps)

    def __call__(self) -> datetime:
        return self._now

    def tick(self) -> None:
        self._now += next(self._gaps, timedelta(0))


def load_world(connection: sqlite3.Connection) -> DemoWorld:
    agents: dict[str, User] = {}
    customers: dict[str, User] = {}
    for (user_id,) in connection.execute("SELECT id FROM users ORDER BY id").fetchall():
        user = repository.user_by_id(connection, int(user_id))
        if user is None:
            continue
        (agents if user.is_agent else customers)[user.username] = user
    return DemoWorld(agents, customers)


class Simulator:
    """Plays one event of the :class:`DemoDay` every ``60 / rate`` seconds against the live
    server."""

    def __init__(
        self, helpdesk: HelpdeskApp, world: DemoWorld, rate: float, rng: random.Random
    ) -> None:
        self.helpdesk = helpdesk
        self.day = DemoDay(StoryPlayer(world, lambda: helpdesk.links), rng)
        self.interval = 60.0 / rate

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                outcome = await self.helpdesk.database.run(self.day.next_event)
            except repository.ActionError as exc:
                # An agent on the web changed the ticket under the story (resolved it, say).
                log.info("demo event skipped: %s", exc.message)
                continue
            self.helpdesk.hub.wake(outcome.woken)


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


def demo_accounts(url: str) -> str:
    """The lines telling a new user how to drive the demo from a browser."""
    agents = ", ".join(f"{u} / {DEMO_PASSWORD if u == DEMO_USERNAME else u}" for u, _, _ in AGENTS)
    customers = ", ".join(email for email, _ in CUSTOMERS)
    return (
        f"in a browser: {url}/  (notifications: {url}/notifications, demo mail: {url}/mail)\n"
        f"  agents: {agents}  ({DEMO_USERNAME} is the admin: {url}/admin)\n"
        f"  customers (password {CUSTOMER_PASSWORD}): {customers}"
    )


def headless_commands(url: str, token: str, home: Path) -> str:
    """The lines telling how to run ``notifier tail`` and ``notifier doctor`` as alice
    against this demo: her token in NOTIFIER_TOKEN (a throw-away demo token) and the demo's
    own NOTIFIER_HOME, so the agent's real settings, cache and keyring stay out of it."""
    beside = Path(sys.executable).with_name("notifier")  # the demo's own install of the app
    program = shlex.quote(str(beside)) if beside.exists() else "notifier"
    env = (
        f"NOTIFIER_HOME={shlex.quote(str(home))} NOTIFIER_SERVER={shlex.quote(url)}"
        f" NOTIFIER_TOKEN={shlex.quote(token)}"
    )
    return (
        f"in a terminal, as {DEMO_USERNAME} (your own settings and keyring are left alone):\n"
        f"  {env} {program} tail\n"
        f"  {env} {program} doctor"
    )


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
        print(demo_accounts(helpdesk.public_url), flush=True)
        print(headless_commands(helpdesk.public_url, token, db_path.parent / "home"), flush=True)
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
        mail_dir=mail_dir,
    )
    return 0
