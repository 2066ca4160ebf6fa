"""``notifier doctor``'s report as an agent reads it: every warning says what to do, no
doubled period, "All checks passed." only when nothing failed or warned, and nothing
interactive started. With NOTIFIER_TOKEN set the keyring is not needed, so doctor must not
open it at all: run as a subprocess (keyring choosing its backend as it does for an agent)
with a backend that records every use, against the real reference server.

The real Secret Service cases (a locked keyring, one without a default collection: no
unlock or create prompt) are in test_desktop_doctor_keyring.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import keyring.errors
import pytest
from cli_support import run, run_process
from engine_keyring import MemoryKeyring
from helpdesk import Helpdesk
from recording_keyring import RECORD_VARIABLE

from notifier.headless import Check, Outcome, summary
from notifier.store.paths import app_paths
from notifier.store.secrets import SERVICE, TokenStore

TESTS = Path(__file__).parent
NO_DESKTOP = ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
TRAY_WARNING = (
    "! system tray: no desktop session here (no DISPLAY / WAYLAND_DISPLAY), and the tray app"
    " needs one: start the tray app from a desktop session; here, `notifier tail` prints the"
    " notifications instead"
)
NOTIFICATIONS_WARNING = (
    "! notification service: no D-Bus session bus (no desktop session), and pop-up"
    " notifications need one: run the tray app in a desktop session, where it shows them;"
    " here, use `notifier tail`"
)


def test_doctor_with_notifier_token_leaves_the_keyring_alone(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("dora", "Dora Doctor")
    record = tmp_path / "keyring-record"
    env = {k: v for k, v in os.environ.items() if k not in NO_DESKTOP}
    env.update(
        NOTIFIER_SERVER=helpdesk.url,
        NOTIFIER_TOKEN=token,
        PYTHON_KEYRING_BACKEND="recording_keyring.RecordingKeyring",
        PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
        **{RECORD_VARIABLE: str(record)},
    )
    doctor = run_process(["doctor"], env)
    cache_file = app_paths(env).cache_file
    assert doctor.stdout.splitlines() == [
        "– keyring: not used: the token comes from NOTIFIER_TOKEN, so doctor did not open the"
        " keyring",
        f"✓ server: {helpdesk.url} answers",
        "✓ sign-in: signed in as Dora Doctor (dora)",
        "✓ live connection: the WebSocket connects (through any proxy)",
        f"✓ cache: {cache_file} readable (0 notifications)",
        TRAY_WARNING,
        NOTIFICATIONS_WARNING,
        "No check failed, but 2 warnings: see what to do above.",
    ], doctor.stderr
    assert doctor.returncode == 0
    assert not record.exists(), record.read_text()  # not even built, let alone read
    assert token not in doctor.stdout + doctor.stderr


class DismissedKeyring(MemoryKeyring):
    """keyring's Secret Service backend when its prompt to create a collection is dismissed
    (keyring 25.7 adds a period to secretstorage's "Prompt dismissed.")."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.InitError("Failed to create the collection: Prompt dismissed..")


def test_a_keyring_error_is_one_sentence_with_advice(helpdesk: Helpdesk) -> None:
    code, out, _ = run(["--server", helpdesk.url, "doctor"], store=TokenStore(DismissedKeyring()))
    assert code == 1
    assert ".." not in out
    lines = out.splitlines()
    assert lines[0] == (
        "✗ keyring: the keyring could not be read (Failed to create the collection: Prompt"
        " dismissed): check that your desktop's keyring is unlocked (GNOME: Passwords and Keys;"
        " KDE: KWallet), or set the NOTIFIER_TOKEN environment variable instead"
    )
    assert lines[2] == (
        "✗ sign-in: no token stored for this server: run `notifier login` (after fixing the"
        " keyring) or set NOTIFIER_TOKEN"
    )
    assert lines[-1] == "2 checks failed and 2 warnings; fix them in the order above."


def test_a_readable_keyring_gives_doctor_the_token(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("kim", "Kim Keyring")
    keyring = MemoryKeyring()
    keyring.entries[(SERVICE, helpdesk.url)] = token
    code, out, _ = run(["--server", helpdesk.url, "doctor"], store=TokenStore(keyring))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("✓ keyring: usable (")
    assert "✓ sign-in: signed in as Kim Keyring (kim)" in lines


def test_only_a_clean_report_says_all_checks_passed() -> None:
    ok = Check("cache", Outcome.OK, "readable")
    warned = Check("system tray", Outcome.WARN, "no desktop session", "start one")
    failed = Check("server", Outcome.FAIL, "cannot be reached.", "check the URL")
    skipped = Check("keyring", Outcome.SKIPPED, "not used")
    assert summary([ok, skipped]) == "All checks passed."
    assert summary([ok, warned]) == "No check failed, but 1 warning: see what to do above."
    assert summary([failed, warned]) == (
        "1 check failed and 1 warning; fix them in the order above."
    )
    assert summary([failed]) == "1 check failed; fix them in the order above."
    assert summary([failed, failed]) == "2 checks failed; fix them in the order above."
    assert failed.line() == "✗ server: cannot be reached: check the URL"
    with pytest.raises(ValueError, match="says nothing about what to do"):
        Check("cache", Outcome.WARN, "rebuilt")


def test_an_unusable_site_settings_file_is_a_failed_check_not_a_stray_line(
    tmp_path: Path,
) -> None:
    # IT's file sets the helpdesk address; broken, it is ignored. doctor printed the log line
    # above its report, counted nothing, and then told the agent to sign in somewhere.
    site_file = tmp_path / "site.json"
    site_file.write_text('{"server_url": "https://helpdesk.example", ')  # cut short
    env = {key: value for key, value in os.environ.items() if key != "NOTIFIER_TOKEN"}
    env.pop("NOTIFIER_SERVER", None)
    result = run_process(["doctor"], {**env, "NOTIFIER_SITE_CONFIG": str(site_file)})
    assert result.returncode == 1
    assert result.stderr == ""  # said once, in the report
    lines = result.stdout.splitlines()
    [site] = [line for line in lines if line.startswith("✗ site settings:")]
    assert str(site_file) in site and "ask your IT department to fix the file" in site
    # The check's name said the file's kind, and its words said it again.
    assert site.startswith(f"✗ site settings: {site_file} is unusable (")
    [server] = [line for line in lines if line.startswith("✗ server:")]
    assert "the site settings file, which may set it, is unusable" in server
    failed = sum(line.startswith("✗") for line in lines)  # the keyring fails here too
    assert failed >= 2 and lines[-1].startswith(f"{failed} checks failed")


def test_other_commands_still_say_an_unusable_site_file_is_ignored(tmp_path: Path) -> None:
    site_file = tmp_path / "site.json"
    site_file.write_text("[]")
    env = {key: value for key, value in os.environ.items() if key != "NOTIFIER_TOKEN"}
    result = run_process(["logout"], {**env, "NOTIFIER_SITE_CONFIG": str(site_file)})
    assert f"site settings {site_file} is unusable" in result.stderr
    assert "ignoring the whole file" in result.stderr


def site_doctor(
    tmp_path: Path, site: dict[str, object], **environ: str
) -> subprocess.CompletedProcess[str]:
    """``notifier doctor`` as an agent runs it, with IT's site settings file ``site``."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(site), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in NO_DESKTOP}
    env.update(NOTIFIER_SITE_CONFIG=str(site_file), **environ)
    return run_process(["doctor"], env)


def test_misspelt_names_in_the_site_file_are_a_warning_with_a_guess(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    # A typo ("sever_url") was ignored with a bare log line on standard error, above a
    # report that then counted nothing and said nothing about it.
    token = helpdesk.add_agent("tess", "Tess Typo")
    result = site_doctor(
        tmp_path,
        {"server_url": helpdesk.url, "sever_url": "https://x.example", "locked": ["proxxy"]},
        NOTIFIER_TOKEN=token,
    )
    site_file = tmp_path / "site.json"
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == (
        f"! site settings: {site_file} has names this version does not know, so they are"
        " ignored: sever_url (did you mean server_url?), proxxy (did you mean proxy?):"
        " correct their spelling in the file, or remove them"
    )
    assert f"✓ server: {helpdesk.url} answers" in result.stdout  # the rest of it applies
    assert result.stdout.splitlines()[-1] == (
        "No check failed, but 3 warnings: see what to do above."
    )
    assert result.returncode == 0


@pytest.mark.parametrize("bundle", ["missing.pem", "not-pem.pem"])
def test_a_ca_bundle_from_the_site_file_that_cannot_be_used_names_the_file(
    helpdesk: Helpdesk, tmp_path: Path, bundle: str
) -> None:
    # It was said twice (a log line on standard error, then the check), with Python's and
    # OpenSSL's words ("[Errno 2] ...", "[X509: NO_CERTIFICATE_OR_CRL_FOUND] ... (_ssl.c:...)"),
    # and sent the admin to "the settings" when IT's file had set it.
    (tmp_path / "not-pem.pem").write_text("not a certificate\n", encoding="utf-8")
    token = helpdesk.add_agent("cara", "Cara Cert")
    path = tmp_path / bundle
    result = site_doctor(
        tmp_path, {"server_url": helpdesk.url, "ca_bundle": str(path)}, NOTIFIER_TOKEN=token
    )
    reason = (
        "No such file or directory"
        if bundle == "missing.pem"
        else ("no certificate in it could be read")
    )
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == (
        f"✗ TLS settings: the CA bundle {path} cannot be used ({reason}): correct or clear"
        f" ca_bundle in the site settings file {tmp_path / 'site.json'} (a PEM file)"
    )
    assert result.returncode == 1


def test_a_dead_proxy_from_the_site_file_sends_the_admin_to_that_file(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    # "correct or clear it in Settings → General": greyed out there when IT locks it.
    token = helpdesk.add_agent("pia", "Pia Proxy")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    site = {
        "server_url": helpdesk.url,
        "proxy": f"http://127.0.0.1:{dead_port}",
        "locked": ["proxy"],
    }
    result = site_doctor(tmp_path, site, NOTIFIER_TOKEN=token)
    assert (
        f"✗ proxy: the proxy at 127.0.0.1:{dead_port} (from the proxy setting) refused the"
        " connection: start the proxy, or correct or clear proxy in the site settings file"
        f" {tmp_path / 'site.json'}"
    ) in result.stdout.splitlines(), result.stdout
    assert result.returncode == 1
    # The agent's own proxy (not locked, not the site's) is still theirs to fix in Settings.
    del site["locked"]
    settings_file = app_paths(dict(os.environ)).settings_file
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(
        json.dumps({"version": 2, "proxy": f"http://127.0.0.1:{dead_port}/"}), encoding="utf-8"
    )
    own = site_doctor(tmp_path, {**site, "proxy": "http://127.0.0.1:1"}, NOTIFIER_TOKEN=token)
    assert "correct or clear it in Settings → General" in own.stdout, own.stdout
