"""System settings of the reference helpdesk: one versioned document, validated and audited.

Admins read and change them over ``/api/v1/admin/settings`` (:mod:`notifier.server.admin`) or
with ``notifier-server settings show|set`` (:mod:`notifier.server.cli`); both go through
:func:`update`.

Design:

* Every setting is declared once, as data: :data:`INT_SETTINGS` (key, default, bounds, help),
  :data:`TEAM_SETTINGS` (key, help: a team's name or null, null by default) plus
  ``default_preferences``, a whole :class:`notifier.core.wire.Preferences` document that
  is validated by the wire model's own parser (so fields added to the preferences are
  validated here too, without a second list of them).
* A team setting must name a team that exists (a row of ``teams``). Only :func:`update` can
  tell, on the database, so it checks and normalizes the name there ("Support " becomes the
  team's own "support"); :func:`validate_value` judges the shape alone (a stored document is
  parsed without a database, and a team named in it is looked up where it is used).
* Stored as ONE JSON document in table ``system_settings`` (a single row) with a version that
  grows by one with every change. A writer names the version it read; a stale one is refused
  with 409 ``conflict``, so two admins editing at once cannot silently overwrite each other.
  A database without the row has version 0 and the defaults.
* Every change writes one ``settings_audit`` row per key whose value changed: the new version,
  when, who (an agent's username, or the operating-system user of the CLI), through what
  (``api``, ``cli`` or ``web``: the admin page), the old and the new value.
* Hot readers (the rate limiter runs on every notification) call :func:`current`: one small
  SELECT, the parse cached by the document's text.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from notifier.core import wire
from notifier.server.db import transaction
from notifier.server.repository import (
    ActionError,
    clock_stamp,
    invalid,
    validate_preferences,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntSetting:
    """An integer setting: its key, default, inclusive bounds and what it does."""

    key: str
    default: int
    low: int
    high: int
    help: str


PREFERENCES_KEY: Final = "default_preferences"
INT_SETTINGS: Final = (
    IntSetting(
        "retention_days",
        90,
        0,
        36_500,
        "read notifications older than this many days are deleted by the retention job "
        "(0 keeps them)",
    ),
    IntSetting(
        "event_log_days",
        30,
        0,
        36_500,
        "stream events older than this many days are pruned; a client resuming from before "
        "them gets `reset` and reloads (0 keeps the whole log)",
    ),
    IntSetting(
        "rate_limit_per_ticket",
        0,
        0,
        100_000,
        "at most this many notifications per agent and ticket within the window; more fold "
        "into the newest one (0 turns the limit off)",
    ),
    IntSetting("rate_limit_window_seconds", 600, 1, 86_400, "the window of rate_limit_per_ticket"),
    IntSetting(
        "rate_limit_per_minute",
        0,
        0,
        100_000,
        "at most this many notifications per agent in any minute; more fold (0 turns the "
        "limit off)",
    ),
    IntSetting(
        "mail_grace_seconds",
        120,
        0,
        86_400,
        "how long instant mail for a disconnected agent waits, dropped if read meanwhile",
    ),
)
_INT_BY_KEY: Final = {setting.key: setting for setting in INT_SETTINGS}


@dataclass(frozen=True, slots=True)
class TeamSetting:
    """A setting naming a team (a row of ``teams``), or null for none (its default)."""

    key: str
    help: str


MAX_TEAM_CHARS: Final = 200  # longer is no team name; keeps the 422's message one line
TEAMS_NAMED: Final = 20  # a refusal names at most this many of the teams there are
TEAM_SETTINGS: Final = (
    TeamSetting(
        "new_ticket_team",
        "a ticket created without a team goes to this team's next agent in turn (round-robin, "
        "as with an explicit team), who is notified; null leaves such tickets unassigned",
    ),
)
_TEAM_BY_KEY: Final = {setting.key: setting for setting in TEAM_SETTINGS}
KEYS: Final = (PREFERENCES_KEY, *_INT_BY_KEY, *_TEAM_BY_KEY)


@dataclass(frozen=True, slots=True)
class SystemSettings:
    """The typed settings; field names are the keys of :data:`KEYS`."""

    default_preferences: wire.Preferences = field(default_factory=wire.Preferences)
    retention_days: int = _INT_BY_KEY["retention_days"].default
    event_log_days: int = _INT_BY_KEY["event_log_days"].default
    rate_limit_per_ticket: int = _INT_BY_KEY["rate_limit_per_ticket"].default
    rate_limit_window_seconds: int = _INT_BY_KEY["rate_limit_window_seconds"].default
    rate_limit_per_minute: int = _INT_BY_KEY["rate_limit_per_minute"].default
    mail_grace_seconds: int = _INT_BY_KEY["mail_grace_seconds"].default
    new_ticket_team: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {PREFERENCES_KEY: self.default_preferences.to_json()}
        document.update((key, getattr(self, key)) for key in (*_INT_BY_KEY, *_TEAM_BY_KEY))
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SystemSettings:
        """From a document of already validated values (missing keys take the defaults)."""
        values: dict[str, Any] = {
            k: v for k, v in document.items() if k in _INT_BY_KEY or k in _TEAM_BY_KEY
        }
        if PREFERENCES_KEY in document:
            values[PREFERENCES_KEY] = wire.Preferences.parse(document[PREFERENCES_KEY])
        return cls(**values)


assert tuple(f.name for f in fields(SystemSettings)) == KEYS  # one declaration, one dataclass


def validate_value(key: str, value: object) -> Any:
    """The stored (normalized JSON) form of one setting's value; :class:`ActionError` 422."""
    if key == PREFERENCES_KEY:
        try:
            return validate_preferences(value).to_json()
        except ActionError as exc:
            raise invalid(f"{PREFERENCES_KEY}: {exc.message}") from None
    if key in _TEAM_BY_KEY:
        return _team_name(key, value)
    setting = _INT_BY_KEY.get(key)
    if setting is None:
        raise invalid(f"unknown setting {key!r}; the settings are: {', '.join(KEYS)}")
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not setting.low <= value <= setting.high
    ):
        raise invalid(f"{key} must be an integer from {setting.low} to {setting.high}")
    return value


def _team_name(key: str, value: object) -> str | None:
    """A team setting's value stripped, or None; whether the team exists is :func:`update`'s
    to check."""
    if value is None:
        return None
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_TEAM_CHARS:
        raise invalid(f"{key} must be a team's name (a string) or null")
    return name


def _existing_teams(connection: sqlite3.Connection, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` with each team setting's name as the ``teams`` table spells it; 422 naming
    the teams there are when one does not exist."""
    checked = dict(changes)
    for key in _TEAM_BY_KEY.keys() & changes.keys():
        name = changes[key]
        if name is None:
            continue
        row = connection.execute("SELECT name FROM teams WHERE name = ?", (name,)).fetchone()
        if row is None:
            teams = [
                str(r[0])
                for r in connection.execute(
                    "SELECT name FROM teams ORDER BY name LIMIT ?", (TEAMS_NAMED + 1,)
                )
            ]
            listed = ", ".join(teams[:TEAMS_NAMED]) + (", …" if len(teams) > TEAMS_NAMED else "")
            known = f"the teams are: {listed}" if teams else "there are no teams yet"
            raise invalid(f"{key}: there is no team {name!r} ({known}; or null for no team)")
        checked[key] = str(row[0])
    return checked


def validate_changes(data: object) -> dict[str, Any]:
    """A ``{key: value}`` object of settings to change, each validated and normalized."""
    if not isinstance(data, dict):
        raise invalid("settings must be an object of setting names and values")
    return {key: validate_value(key, value) for key, value in data.items()}


@dataclass(frozen=True, slots=True)
class StoredSettings:
    """The settings with their version and last change (``GET /api/v1/admin/settings``)."""

    version: int
    settings: SystemSettings
    updated_at: str | None
    updated_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "settings": self.settings.to_json(),
        }


@functools.lru_cache(maxsize=16)
def _parse_document(text: str) -> SystemSettings:
    document = json.loads(text)
    values: dict[str, Any] = {}
    for key, value in document.items():
        try:
            values[key] = validate_value(key, value)
        except ActionError as exc:
            # Written by a newer or older server: keep the default, say so once per document.
            log.warning("ignoring stored setting %r: %s", key, exc.message)
    return SystemSettings.from_json(values)


def load(connection: sqlite3.Connection) -> StoredSettings:
    row = connection.execute(
        "SELECT version, document, updated_at, updated_by FROM system_settings WHERE id = 1"
    ).fetchone()
    if row is None:
        return StoredSettings(0, SystemSettings(), None, None)
    return StoredSettings(int(row[0]), _parse_document(row[1]), row[2], row[3])


def current(connection: sqlite3.Connection) -> SystemSettings:
    """The settings in force (defaults when none were ever stored)."""
    row = connection.execute("SELECT document FROM system_settings WHERE id = 1").fetchone()
    return SystemSettings() if row is None else _parse_document(row[0])


def update(
    connection: sqlite3.Connection,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None,
    actor: str,
    via: str,
) -> StoredSettings:
    """Apply validated ``changes`` (from :func:`validate_changes`) as one new version, audited.

    ``expected_version`` is the version the caller read (None: whatever is current, for the
    CLI, which reads and writes in this one transaction). Changing nothing writes nothing.
    """
    with transaction(connection):
        stored = load(connection)
        if expected_version is not None and expected_version != stored.version:
            raise ActionError(
                409,
                "conflict",
                f"the settings changed since version {expected_version} (now version "
                f"{stored.version}); reload them and apply your change again",
            )
        old = stored.settings.to_json()
        changes = _existing_teams(connection, changes)
        changed = {key: value for key, value in changes.items() if old[key] != value}
        if not changed:
            return stored
        version = stored.version + 1
        stamp = clock_stamp(connection)
        document = wire.encode_json({**old, **changed})
        connection.execute(
            "INSERT OR REPLACE INTO system_settings(id, version, document, updated_at,"
            " updated_by) VALUES (1, ?, ?, ?, ?)",
            (version, document, stamp, actor),
        )
        connection.executemany(
            "INSERT INTO settings_audit(version, changed_at, actor, via, key, old_value,"
            " new_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    version,
                    stamp,
                    actor,
                    via,
                    key,
                    wire.encode_json(old[key]),
                    wire.encode_json(value),
                )
                for key, value in changed.items()
            ],
        )
        return load(connection)


def audit_page(connection: sqlite3.Connection, limit: int, before_id: int) -> dict[str, Any]:
    """Audit entries with ``id < before_id``, newest first (``GET /api/v1/admin/audit``)."""
    rows = connection.execute(
        "SELECT id, version, changed_at, actor, via, key, old_value, new_value"
        " FROM settings_audit WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before_id, limit + 1),
    ).fetchall()
    entries = [
        {
            "id": int(row[0]),
            "version": int(row[1]),
            "changed_at": row[2],
            "actor": row[3],
            "via": row[4],
            "key": row[5],
            "old": json.loads(row[6]),
            "new": json.loads(row[7]),
        }
        for row in rows[:limit]
    ]
    return {"entries": entries, "has_more": len(rows) > limit}
