"""The admin page's forms (``/admin``): the system settings and the default preferences as HTML
form fields, and posted fields back into the values :mod:`notifier.server.settings` judges.

The rules live in one place. A posted form becomes the very JSON values the admin API takes
(``PUT /api/v1/admin/settings``), and :func:`settings.validate_value` decides about them: the
integers by their declared bounds, the preferences by the wire model's own parser and the time
zone check. This module adds only what is about the form itself: which field a value came
from, so that a refusal is shown next to that field, and the one thing a form can get wrong
that a JSON document cannot (a quiet-hours row with one time of two). The validators' messages
start with the value's path (``email.digest_time must be HH:MM, got '25:00'``);
:func:`refusal` maps that path back to a field id and words the rest for a person.

Field ids (the ``id`` of each input, and the keys of the error dicts) are ``s-KEY`` for the
integer settings and the team settings (``s-new_ticket_team``, a select of the teams) and
``p-…`` for the preferences: ``p-in_app``, ``p-types``, ``p-email-frequency``,
``p-quiet-3-start``, ``p-timezone``…
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from notifier.core import wire
from notifier.server import settings
from notifier.server.repository import ActionError

DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TYPES: Final = (
    (wire.NotificationType.ASSIGNMENT.value, "Assignments"),
    (wire.NotificationType.MENTION.value, "Mentions"),
    (wire.NotificationType.REACTION.value, "Customer replies and reactions"),
)
FREQUENCIES: Final = (
    (wire.EmailFrequency.INSTANT.value, "A mail for each notification"),
    (wire.EmailFrequency.HOURLY_DIGEST.value, "An hourly digest"),
    (wire.EmailFrequency.DAILY_DIGEST.value, "A daily digest"),
)
BLANK_QUIET_ROWS: Final = 2  # empty rows under the ranges, to add ranges without a script
# The wire allows 70 ranges; a post with more rows than this is not from the page (400).
MAX_QUIET_ROWS: Final = 100
_QUIET_DAY: Final = re.compile(r"^quiet-(\d{1,3})-day$")
_QUIET_PATH: Final = re.compile(r"^quiet_hours\[(\d+)\](?:\.(day|start|end))?$")
_INTEGER: Final = re.compile(r"^-?[0-9]{1,18}$")

# The integer and team settings in an admin's words: (label, help). The keys and the help of
# settings.INT_SETTINGS and TEAM_SETTINGS are the API's and the CLI's, written for whoever
# runs the server.
SETTING_WORDS: Final[dict[str, tuple[str, str]]] = {
    "new_ticket_team": (
        "Tickets opened without a team go to",
        "Such as the tickets customers open on the web. The team's agents take turns: each "
        "ticket goes to the next one, who is notified. An agent's team is given when they are "
        "added (add-agent --team)",
    ),
    "retention_days": (
        "Keep read notifications for (days)",
        "Read notifications older than this are deleted. 0 keeps them forever",
    ),
    "event_log_days": (
        "Keep the catch-up history for (days)",
        "A tray app or browser away for longer than this reloads its whole list instead of "
        "catching up on what it missed. 0 keeps the history forever",
    ),
    "rate_limit_per_ticket": (
        "Most notifications per agent about one ticket",
        "Counted over the time window below; more are folded into the newest one. 0 means no limit",
    ),
    "rate_limit_window_seconds": (
        "Time window of that limit (seconds)",
        "600 seconds is 10 minutes",
    ),
    "rate_limit_per_minute": (
        "Most notifications per agent in a minute",
        "More are folded into the newest one. 0 means no limit",
    ),
    "mail_grace_seconds": (
        "Wait before mailing an agent who is away (seconds)",
        "A notification read within this time is not mailed",
    ),
}
VIA_WORDS: Final = {"web": "on this page", "api": "through the API", "cli": "on the command line"}
# What null means for a team setting, as its select and the audit say it.
NO_TEAM_WORDS: Final = {"new_ticket_team": "Nobody (tickets wait unassigned)"}

LABELS: Final[dict[str, str]] = {
    "p-in_app": "Show notifications in the app",
    "p-types": "Notification types",
    "p-comment_reactions": "Reactions to their comments",
    "p-email-enabled": "Send e-mail notifications",
    "p-email-frequency": "How often",
    "p-email-types": "E-mail about",
    "p-email-digest_time": "Daily digest at",
    "p-email-only_when_disconnected": "Only while not connected",
    "p-quiet": "Quiet hours",
    "p-timezone": "Time zone",
    **{f"s-{key}": label for key, (label, _) in SETTING_WORDS.items()},
}


def label_of(field_id: str) -> str:
    """The label a person sees for a field id (quiet-hours rows by their number)."""
    found = re.match(r"^p-quiet-(\d+)-(day|start|end)$", field_id)
    if found:
        part = {"day": "day", "start": "from", "end": "to"}[found.group(2)]
        return f"Quiet hours, row {int(found.group(1)) + 1}, {part}"
    return LABELS.get(field_id, "The form")


def help_of(key: str) -> str:
    """An integer setting's help text on the admin page."""
    return SETTING_WORDS[key][1]


def audit_label(path: str) -> str:
    """What an audit line changed, as the page labels it ("Keep read notifications for
    (days)", "E-mail: how often"); a path the page has no field for, in words."""
    if path in SETTING_WORDS:
        return SETTING_WORDS[path][0]
    label = LABELS.get(f"p-{path.replace('.', '-')}")
    if label is None:
        return path.replace("_", " ").replace(".", ": ")
    if path.startswith("email.") and "e-mail" not in label.lower():
        return f"E-mail: {label[:1].lower()}{label[1:]}"  # "How often" alone says not of what
    return label


def _for_a_person(path: str, message: str) -> str:
    """A validator's message without its leading path: "Must be HH:MM, got '25:00'"."""
    rest = message[len(path) :].strip() if message.startswith(path) else message
    rest = rest.removeprefix("is ")
    return rest[:1].upper() + rest[1:]


def refusal(message: str, rows: list[int]) -> tuple[str, str]:
    """(field id, what to tell the person) for a validator's message about the preferences;
    ``rows[i]`` is the form row the document's ``quiet_hours[i]`` came from."""
    message = message.removeprefix(f"{settings.PREFERENCES_KEY}: ")
    path = message.split(" ", 1)[0]
    found = _QUIET_PATH.match(path)
    if found:
        index = int(found.group(1))
        field_id = (
            f"p-quiet-{rows[index]}-{found.group(2) or 'start'}" if index < len(rows) else "p-quiet"
        )
    else:
        field_id = "p-" + re.sub(r"\[\d+\]$", "", path).replace(".", "-")
        if field_id not in LABELS:
            return "p-form", message
    return field_id, _for_a_person(path, message)


@dataclass(frozen=True, slots=True)
class QuietRow:
    """One row of the quiet-hours table, as text ("" when empty)."""

    day: str
    start: str
    end: str

    @property
    def blank(self) -> bool:
        return not self.start and not self.end


@dataclass(frozen=True, slots=True)
class PreferencesForm:
    """The default-preferences form's values: from the stored preferences, or as posted."""

    in_app: bool
    types: frozenset[str]
    comment_reactions: bool
    email_enabled: bool
    email_frequency: str
    email_types: frozenset[str]
    digest_time: str
    only_when_disconnected: bool
    timezone: str
    quiet: tuple[QuietRow, ...] = ()

    @classmethod
    def of(cls, preferences: wire.Preferences) -> PreferencesForm:
        email = preferences.email
        return cls(
            in_app=preferences.in_app,
            types=frozenset(t.value for t in preferences.types),
            comment_reactions=preferences.comment_reactions,
            email_enabled=email.enabled,
            email_frequency=email.frequency.value,
            email_types=frozenset(t.value for t in email.types),
            digest_time=email.digest_time,
            only_when_disconnected=email.only_when_disconnected,
            timezone=preferences.timezone,
            quiet=tuple(QuietRow(str(r.day), r.start, r.end) for r in preferences.quiet_hours),
        ).with_blank_rows()

    @classmethod
    def posted(cls, form: Mapping[str, str]) -> PreferencesForm:
        """The values of a posted form (checkboxes: present or not); 400 for more quiet-hours
        rows than the page ever shows."""
        indexes = sorted(int(m.group(1)) for m in map(_QUIET_DAY.match, form) if m)
        if len(indexes) > MAX_QUIET_ROWS:
            raise ActionError(400, "invalid_field", f"at most {MAX_QUIET_ROWS} quiet-hours rows")
        rows = tuple(
            QuietRow(
                form[f"quiet-{i}-day"],
                form.get(f"quiet-{i}-start", "").strip(),
                form.get(f"quiet-{i}-end", "").strip(),
            )
            for i in indexes
        )
        return cls(
            in_app="in_app" in form,
            types=frozenset(value for value, _ in TYPES if f"type-{value}" in form),
            comment_reactions="comment_reactions" in form,
            email_enabled="email-enabled" in form,
            email_frequency=form.get("email-frequency", ""),
            email_types=frozenset(value for value, _ in TYPES if f"email-type-{value}" in form),
            digest_time=form.get("email-digest_time", "").strip(),
            only_when_disconnected="email-only_when_disconnected" in form,
            timezone=form.get("timezone", "").strip(),
            quiet=rows,
        )

    def with_blank_rows(self) -> PreferencesForm:
        """The rows in use, renumbered, and :data:`BLANK_QUIET_ROWS` empty ones to add more."""
        used = tuple(row for row in self.quiet if not row.blank)
        return dataclasses.replace(self, quiet=used + (QuietRow("0", "", ""),) * BLANK_QUIET_ROWS)

    def document(self) -> tuple[dict[str, Any], list[int]]:
        """The preferences document these values say (as the admin API would get it), and
        the form row of each of its quiet-hours ranges. Values are passed as they came (a
        day that is not a digit stays text), so the validator words every refusal."""
        ranges, rows = [], []
        for index, row in enumerate(self.quiet):
            if row.blank:
                continue
            day: object = int(row.day) if row.day.isascii() and row.day.isdigit() else row.day
            ranges.append({"day": day, "start": row.start, "end": row.end})
            rows.append(index)
        document = {
            "in_app": self.in_app,
            "types": sorted(self.types),
            "comment_reactions": self.comment_reactions,
            "email": {
                "enabled": self.email_enabled,
                "frequency": self.email_frequency,
                "types": sorted(self.email_types),
                "digest_time": self.digest_time,
                "only_when_disconnected": self.only_when_disconnected,
            },
            "quiet_hours": ranges,
            "timezone": self.timezone,
        }
        return document, rows


def validate_preferences(form: PreferencesForm) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(the validated ``default_preferences`` value, None on errors; errors by field id)."""
    errors: dict[str, str] = {}
    complete = []
    for index, row in enumerate(form.quiet):
        if row.blank or (row.start and row.end):
            complete.append(row)
            continue
        missing = "start" if not row.start else "end"
        errors[f"p-quiet-{index}-{missing}"] = (
            "Give both times, or leave both empty to remove the row"
        )
        complete.append(QuietRow(row.day, "", ""))  # left out, so the rest is judged too
    document, rows = dataclasses.replace(form, quiet=tuple(complete)).document()
    try:
        value = settings.validate_value(settings.PREFERENCES_KEY, document)
    except ActionError as exc:
        field_id, message = refusal(exc.message, rows)
        errors.setdefault(field_id, message)
    return (None if errors else value), errors


def validate_settings(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The integer settings of a posted form, validated one by one like the API's (so every
    wrong field is named at once): (changes, errors by field id)."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for setting in settings.INT_SETTINGS:
        text = form.get(setting.key, "").strip()
        field_id = f"s-{setting.key}"
        # One sentence for a value that is no number and one out of range, written as the
        # help beside the field writes numbers ("from 0 to 36,500").
        wanted = f"A whole number from {setting.low:,} to {setting.high:,}, please"
        if not (text.isascii() and _INTEGER.match(text)) or not (
            setting.low <= int(text) <= setting.high
        ):
            errors[field_id] = wanted
            continue
        try:
            changes[setting.key] = settings.validate_value(setting.key, int(text))
        except ActionError as exc:
            errors[field_id] = _for_a_person(setting.key, exc.message)
    return changes, errors


def validate_team_settings(
    form: Mapping[str, str], teams: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The team settings of a posted form (a select's value: a team of ``teams``, or "" for
    none): (changes, errors by field id). A value that is no option of the select is not
    from the page, but it is named next to the field all the same."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for setting in settings.TEAM_SETTINGS:
        field_id = f"s-{setting.key}"
        chosen = form.get(setting.key)
        if chosen is None or (chosen and chosen not in teams):
            errors[field_id] = "Choose one of the teams in the list, or nobody"
            continue
        try:
            changes[setting.key] = settings.validate_value(setting.key, chosen or None)
        except ActionError as exc:
            errors[field_id] = _for_a_person(setting.key, exc.message)
    return changes, errors


# The preferences' wire values in the page's words ("daily_digest" → "a daily digest").
_VALUE_WORDS: Final[dict[str, str]] = {
    value: f"{label[:1].lower()}{label[1:]}" for value, label in (*TYPES, *FREQUENCIES)
}


def _shown(value: object) -> str:
    """A setting's value in the audit list, for a person."""
    if isinstance(value, str):
        return _VALUE_WORDS.get(value, value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        if value and all(isinstance(item, dict) and "day" in item for item in value):
            return ", ".join(
                f"{DAYS[item['day']][:3]} {item['start']}–{item['end']}"
                for item in value
                if isinstance(item.get("day"), int) and 0 <= item["day"] < len(DAYS)
            )
        return ", ".join(map(_shown, value)) or "none"
    return str(value)


def _leaves(value: object, path: str) -> dict[str, object]:
    if isinstance(value, dict):
        found: dict[str, object] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{path}.{key}" if path else str(key)))
        return found
    return {path: value}


def audit_changes(key: str, old: object, new: object) -> list[tuple[str, str, str]]:
    """What an audit entry changed, as (what, old, new) lines: a whole preferences document
    becomes the fields that differ ("email.frequency", "instant", "daily_digest")."""
    before, after = _leaves(old, key), _leaves(new, key)
    changed = [path for path in after if before.get(path) != after[path]]
    changed += [path for path in before if path not in after]

    def shown(path: str, value: object) -> str:
        if path in NO_TEAM_WORDS:  # a team setting, as its select says it
            words = NO_TEAM_WORDS[path] if value is None else f"Team {value}"
            return f"{words[:1].lower()}{words[1:]}"
        return _shown(value)

    return [
        (
            path.removeprefix(f"{settings.PREFERENCES_KEY}."),
            shown(path, before.get(path, "")),
            shown(path, after.get(path, "")),
        )
        for path in changed
    ]
