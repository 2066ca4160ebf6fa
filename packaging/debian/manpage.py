"""Man pages made from the argparse parsers, so they say what ``--help`` says.

``render(parser, sections, date)`` gives a page in man(7) markup: NAME and SYNOPSIS from the
parser, DESCRIPTION, the top-level OPTIONS, one COMMANDS entry per subcommand with its own
options, then the extra sections given (ENVIRONMENT, FILES, SEE ALSO).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime

Section = tuple[str, Sequence[tuple[str, str]] | str]  # (title, paragraphs or (term, text) pairs)

APP_SECTIONS: Sequence[Section] = (
    (
        "ENVIRONMENT",
        (
            ("NOTIFIER_SERVER", "overrides the configured helpdesk URL"),
            ("NOTIFIER_TOKEN", "overrides the token in the keyring (scripts, kiosks)"),
            ("NOTIFIER_HOME", "puts config, cache and logs in one folder (portable installs)"),
            (
                "NOTIFIER_SITE_CONFIG",
                "the system-wide settings file to read instead of the one below; empty: none",
            ),
            ("HTTPS_PROXY, NO_PROXY", "honoured unless a proxy is set in Settings"),
        ),
    ),
    (
        "FILES",
        (
            ("~/.config/notifier/settings.json", "the user's settings"),
            (
                "/etc/xdg/notifier/settings.json",
                "system-wide defaults set by the administrator: the same keys as the user's "
                'file, plus "locked", the list of settings users may not change; see '
                "/usr/share/doc/notifier/examples/site-settings.json",
            ),
            ("~/.cache/notifier/notifications.sqlite3", "the notification cache"),
            ("~/.local/state/notifier/log/", "the log files"),
        ),
    ),
    ("SEE ALSO", "notifier-server(1)"),
)

SERVER_SECTIONS: Sequence[Section] = (
    (
        "FILES",
        (
            ("/etc/default/notifier-server", "the service's options (NOTIFIER_SERVER_ARGS)"),
            ("/var/lib/notifier-server/helpdesk.db", "the service's database"),
        ),
    ),
    ("SEE ALSO", "notifier(1), systemctl(1)"),
)


def escape(text: str) -> str:
    """Text safe in man(7): backslashes doubled, hyphens as minus signs, no line starting
    with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines()
    )


def _option_term(action: argparse.Action) -> str:
    names = ", ".join(f"\\fB{escape(name)}\\fR" for name in action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar or action.dest.upper()
    return f"{names} \\fI{escape(str(metavar))}\\fR"


def _positional_term(action: argparse.Action) -> str:
    return f"\\fI{escape(str(action.metavar or action.dest))}\\fR"


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if action.help != argparse.SUPPRESS and not isinstance(action, argparse._SubParsersAction)
    ]


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def _entries(pairs: Sequence[tuple[str, str]]) -> list[str]:
    lines = []
    for term, text in pairs:
        lines += [".TP", term, escape(text)]
    return lines


def render(parser: argparse.ArgumentParser, sections: Sequence[Section], date: datetime) -> str:
    prog = parser.prog
    title = escape(prog.upper())
    lines = [
        f'.TH {title} 1 "{date:%Y-%m-%d}" "{prog}" "User Commands"',
        ".SH NAME",
        f"{escape(prog)} \\- {escape(parser.description or '')}",
        ".SH SYNOPSIS",
        f"\\fB{escape(prog)}\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        escape(parser.description or ""),
        ".SH OPTIONS",
    ]
    for action in _actions(parser):
        lines += [".TP", _option_term(action), escape(action.help or "")]
    lines.append(".SH COMMANDS")
    for name, help_text, sub in _subcommands(parser):
        lines += [".SS " + escape(name), escape(help_text)]
        for action in _actions(sub):
            if action.option_strings and "-h" in action.option_strings:
                continue
            term = _option_term(action) if action.option_strings else _positional_term(action)
            lines += [".TP", term, escape(action.help or "")]
    for title, body in sections:
        lines.append(f".SH {title}")
        lines += [escape(body)] if isinstance(body, str) else _entries(body)
    return "\n".join(lines) + "\n"
