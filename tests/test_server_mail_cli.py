"""Mail from the command line: ``serve --smtp`` over STARTTLS and TLS with credentials from the
environment, refused options, ``add-agent --email``, and the demo's mail catcher.

The server is a subprocess (tests/helpdesk.py) on the real clock with ``--mail-grace 0``; the
SMTP server is aiosmtpd on loopback in a thread of the test process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP as SmtpServerSession
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from helpdesk import Helpdesk, start_demo, stop_demo
from mail_support import Inbox, ThreadedSmtpServer, text_of

from notifier.core import wire
from notifier.server.mailcatcher import EmlFolder, bound_port, start_smtp_server

USER, PASSWORD = "mailer", "s3cret-mail-password"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier.server.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def check_login(
    server: SmtpServerSession, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, auth_data=data)


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_serve_mails_over_tls_with_credentials_from_the_environment(
    tmp_path: Path, certificates: Path, scheme: str
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    tls = {"implicit_tls": context} if scheme == "smtps" else {"tls_context": context}
    inbox = Inbox()
    with ThreadedSmtpServer(
        inbox,
        # aiosmtpd counts only STARTTLS as TLS (with smtps the whole connection is), and warns
        # when it must require a login without it: the smtps server offers AUTH unrequired.
        require_starttls=scheme == "smtp",
        auth_required=scheme == "smtp",
        auth_require_tls=scheme == "smtp",
        authenticator=check_login,
        **tls,
    ) as smtp:
        environment = {
            **os.environ,
            "SSL_CERT_FILE": str(certificates / "ca.pem"),  # the server trusts the test CA
            "NOTIFIER_SMTP_USER": USER,
            "NOTIFIER_SMTP_PASSWORD": PASSWORD,
        }
        server = Helpdesk(
            tmp_path / "helpdesk",
            env=environment,
            extra_args=(
                f"--smtp={scheme}://127.0.0.1:{smtp.port}",
                "--mail-from=Support <support@desk.example>",
                "--mail-grace=0",
            ),
        )
        server.start()
        try:
            ann = server.actions(server.add_agent("ann", email="ann@desk.example"))
            ann.request(
                "PUT",
                "/api/v1/me/preferences",
                json=wire.Preferences(email=wire.EmailPreferences(enabled=True)).to_json(),
            ).raise_for_status()
            _, bob = server.new_agent("bob")
            ticket = bob.create_ticket("Over TLS", "first")
            bob.comment(ticket["id"], "@ann through the mail server")
            [mail] = smtp.wait_for_mails(1)
        finally:
            server.stop()
        log = server.log_text()
    assert mail["From"] == "Support <support@desk.example>"
    assert mail["To"] == "ann <ann@desk.example>"
    assert "through the mail server" in text_of(mail)
    assert inbox.sessions == [(True, LoginPassword(USER.encode(), PASSWORD.encode()))]
    assert PASSWORD not in log and "Traceback" not in log


def test_mail_options_are_checked_before_anything_starts(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    for options, complaint in (
        (["--smtp", "smtp://user:pw@mail.example:587"], "NOTIFIER_SMTP_PASSWORD"),
        (["--smtp", "http://mail.example"], "--smtp must look like"),
        (["--smtp", "smtp://mail.example:99999"], "invalid port"),
        (["--mail-from", "not an address"], "--mail-from"),
        (["--mail-grace", "-1"], "--mail-grace"),
        (["--mail-grace", "nan"], "--mail-grace"),
    ):
        result = cli("serve", "--port", "0", "--db", db, *options)
        assert result.returncode == 1, options
        assert complaint in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not Path(db).exists()  # refused before the database was touched
    bad_email = cli("add-agent", "ann", "--email", "nowhere", "--db", db)
    assert bad_email.returncode == 1 and "not an e-mail address" in bad_email.stderr


@pytest.mark.asyncio
async def test_the_demo_mails_a_local_catcher_that_writes_eml_files(tmp_path: Path) -> None:
    mail_dir = tmp_path / "demo mail"
    process = await start_demo(
        "--db",
        str(tmp_path / "demo.db"),
        "--port",
        "0",
        "--rate",
        "0",
        "--mail-grace",
        "0",
        "--mail-dir",
        str(mail_dir),
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            lines = [(await process.stdout.readline()).decode() for _ in range(3)]
        assert lines[2].strip() == f"demo mail (one .eml file per mail): {mail_dir}"
        # Alice's seeded notifications that she has not read are mailed at once.
        deadline = time.monotonic() + 20
        while len(list(mail_dir.glob("*-alice@example.com.eml"))) < 2:
            assert time.monotonic() < deadline, "no demo mail within 20 s"
            await asyncio.sleep(0.1)
    finally:
        _, err = await stop_demo(process)
    assert process.returncode == 0 and "Traceback" not in err
    alices = sorted(mail_dir.glob("*-alice@example.com.eml"))
    mail = message_from_bytes(alices[0].read_bytes(), policy=policy.default)
    assert mail["To"] == "Alice Archer <alice@example.com>"
    assert mail["Subject"].startswith("[#")
    # Bea takes an hourly digest: the seeded morning is hours old, so hers may be due at
    # once too; nobody else mails.
    for other in set(mail_dir.glob("*.eml")) - set(alices):
        assert other.name.endswith("-bea@example.com.eml")
        digest = message_from_bytes(other.read_bytes(), policy=policy.default)
        assert digest["Subject"].startswith("Hourly digest: ")
    # The catcher ended with the demo.
    still_running = await asyncio.to_thread(
        subprocess.run,
        ["pgrep", "-f", f"mailcatcher --dir {mail_dir}"],
        capture_output=True,
        check=False,
    )
    assert still_running.stdout == b""


@pytest.mark.asyncio
async def test_the_catcher_refuses_for_now_when_its_folder_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A catcher whose folder was removed under it (a demo shutting down) answers 451, which
    the sender keeps and retries, and logs one line, not aiosmtpd's traceback."""
    folder = tmp_path / "mail"
    server = await start_smtp_server(EmlFolder(folder))
    try:
        folder.rmdir()
        with caplog.at_level(logging.WARNING):
            async with asyncio.timeout(10):
                refused = await asyncio.to_thread(_send_one, bound_port(server))
        assert refused[0] == 451, refused
        assert not any(r.exc_info for r in caplog.records)
        assert any("could not store a mail" in r.getMessage() for r in caplog.records)
        folder.mkdir()
        async with asyncio.timeout(10):
            accepted = await asyncio.to_thread(_send_one, bound_port(server))
        assert accepted[0] == 250 and len(list(folder.glob("*.eml"))) == 1
    finally:
        server.close()
        await server.wait_closed()


def _send_one(port: int) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo()
        client.mail("helpdesk@example.com")
        client.rcpt("alice@example.com")
        return client.data(b"Subject: hello\r\n\r\nHi\r\n")
