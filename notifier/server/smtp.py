"""Handing mail to an SMTP server with ``aiosmtplib``: the URL, credentials, and failure kinds.

``--smtp smtp://host:port`` connects in plain text and upgrades with STARTTLS when the server
offers it; ``smtps://host:port`` speaks TLS from the first byte (port 465 by default).
Certificates are verified against the system's trust store (``SSL_CERT_FILE`` adds a CA).
The user and password come from ``NOTIFIER_SMTP_USER`` / ``NOTIFIER_SMTP_PASSWORD``, never from
the command line, where every local user could read them in the process list; a URL with
credentials in it is refused.

Failures come in two kinds, and the mailer treats them differently:

* :class:`MailServerUnavailable`: the server cannot take mail now (refused or dropped
  connection, timeout, a 4xx greeting, a failed STARTTLS or login). Every queued mail waits
  and is retried with backoff.
* :class:`MailRejected`: the server answered *this* mail with an error code. ``permanent``
  (5xx) gives up on it, with the server's answer kept for the admin; 4xx retries it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiosmtplib

log = logging.getLogger(__name__)

USER_VARIABLE: Final = "NOTIFIER_SMTP_USER"
PASSWORD_VARIABLE: Final = "NOTIFIER_SMTP_PASSWORD"  # noqa: S105 (a variable name)
TIMEOUT_S: Final = 30.0


class MailServerUnavailable(Exception):
    """The SMTP server cannot take mail now; ``str()`` says why."""


class MailRejected(Exception):
    """The SMTP server refused one mail with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code >= 500


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool  # smtps://
    username: str | None = None
    password: str | None = None

    def describe(self) -> str:
        """The URL without credentials, for logs."""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


def parse_smtp_url(url: str, environ: Mapping[str, str] | None = None) -> SmtpSettings:
    """``smtp://host[:port]`` or ``smtps://host[:port]``; ValueError with a sentence if not."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(
            f"--smtp must look like smtp://host:port or smtps://host:port, not {url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"put the SMTP user and password in {USER_VARIABLE} and {PASSWORD_VARIABLE}, "
            "not in --smtp (the command line is visible to every local user)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"--smtp takes only a scheme, host and port, not {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"--smtp has an invalid port: {url!r}") from None
    implicit_tls = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        username=env.get(USER_VARIABLE) or None,
        password=env.get(PASSWORD_VARIABLE) or None,
    )


class SmtpSession:
    """One open SMTP connection; :meth:`send` one mail at a time."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self._client = client

    async def send(self, envelope_from: str, recipient: str, content: bytes) -> None:
        """Returns once the server has taken responsibility for the mail (its answer to the
        end of DATA); raises :class:`MailRejected` or :class:`MailServerUnavailable`."""
        try:
            await self._client.sendmail(envelope_from, [recipient], content)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise MailRejected(first.code, first.message) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise MailServerUnavailable(f"the connection was lost: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailRejected(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailServerUnavailable(str(exc) or type(exc).__name__) from None


class SmtpTransport:
    """Opens sessions to the configured server."""

    def __init__(
        self, settings: SmtpSettings, local_hostname: str, timeout: float = TIMEOUT_S
    ) -> None:
        self.settings = settings
        self.local_hostname = local_hostname  # EHLO name; spares a DNS lookup per connection
        self.timeout = timeout

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        settings = self.settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.implicit_tls,
            start_tls=None if not settings.implicit_tls else False,  # None: when offered
            username=settings.username,
            password=settings.password,
            local_hostname=self.local_hostname,
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise MailServerUnavailable(f"login refused: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailServerUnavailable(f"{exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailServerUnavailable(
                f"cannot connect to {settings.describe()}: {exc or type(exc).__name__}"
            ) from None
        try:
            yield SmtpSession(client)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
            client.close()
