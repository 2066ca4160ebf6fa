"""Entry points that must work without a display."""

from __future__ import annotations

import os
import subprocess
import sys

from helpdesk import Helpdesk

from notifier import __version__


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def test_version_without_a_display() -> None:
    result = run("-m", "notifier", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"notifier {__version__}"


def test_tray_without_a_display_says_so_clearly() -> None:
    result = run("-m", "notifier")
    assert result.returncode == 2
    assert "no display" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_does_not_import_qt() -> None:
    code = (
        "import sys; from notifier.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'\n"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stderr


def test_each_command_says_what_it_does_in_its_help() -> None:
    # `notifier tail --help` printed only the usage line and the options: nothing said
    # what the command does.
    expected = {
        "run": "Start the tray app (the default).",
        "login": "Sign in and store the token in the keyring.",
        "logout": "Sign out and delete the stored token.",
        "tail": "Print notifications as they arrive, without a UI.",
        "doctor": "Check the setup and say what to fix.",
    }
    for command, sentence in expected.items():
        result = run("-m", "notifier", command, "--help", COLUMNS="100")
        assert result.returncode == 0, result.stderr
        paragraphs = result.stdout.split("\n\n")
        assert paragraphs[1].strip() == sentence, (command, result.stdout)


def test_server_is_taken_before_or_after_the_command() -> None:
    # README.md writes `notifier login --server URL`; only `notifier --server URL login` parsed.
    from notifier.main import build_parser

    def server(*argv: str) -> object:
        return build_parser().parse_args(list(argv)).server

    for command in ("run", "login", "logout", "tail", "doctor"):
        assert server(command, "--server", "https://after.example.com") == (
            "https://after.example.com"
        )
        assert server("--server", "https://before.example.com", command) == (
            "https://before.example.com"
        )
        assert server(command) is None


def test_a_helpdesk_url_without_scheme_is_one_line_naming_where_it_came_from() -> None:
    # The tray app took NOTIFIER_SERVER / --server as given and, after its first paint,
    # died with a traceback ending in "server_url: must start with https://".
    offscreen = {"QT_QPA_PLATFORM": "offscreen", "NOTIFIER_EXIT_AFTER_PAINT": "1"}
    from_env = run("-m", "notifier", NOTIFIER_SERVER="helpdesk.example.com", **offscreen)
    assert from_env.returncode == 2, from_env.stderr
    assert from_env.stderr == (
        "notifier: NOTIFIER_SERVER: must start with https:// (or http:// for a local one)\n"
    )
    from_option = run("-m", "notifier", "--server", "ftp://helpdesk.example.com", **offscreen)
    assert from_option.returncode == 2, from_option.stderr
    assert from_option.stderr == (
        "notifier: --server: must start with https:// (or http:// for a local one)\n"
    )
    # The headless commands name it the same way (they said "server_url", a settings key).
    login = run("-m", "notifier", "login", "--server", "helpdesk.example.com")
    assert login.returncode == 2
    assert login.stderr == (
        "notifier login: --server: must start with https:// (or http:// for a local one)\n"
    )
    doctor = run("-m", "notifier", "doctor", NOTIFIER_SERVER="helpdesk.example.com")
    assert doctor.returncode == 2
    assert doctor.stderr.startswith("notifier doctor: NOTIFIER_SERVER: must start with https://")


def test_a_password_piped_to_login_is_read_without_getpass_noise(helpdesk: Helpdesk) -> None:
    # getpass, with no terminal, fell back to standard input after printing a Python file
    # name and line and "GetPassWarning: Can not control echo on the terminal." above the
    # prompt. A new session: no controlling terminal, as under a roll-out script.
    helpdesk.add_agent("pat", "Pat Piped", password="right horse")
    environment = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "login", "--server", helpdesk.url, "-u", "pat"],
        input="wrong horse\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
        start_new_session=True,
    )
    assert result.returncode == 1
    assert result.stderr == "notifier login: wrong username or password\n"
