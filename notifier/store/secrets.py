"""The API token in the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker).

Stored under service ``notifier``, user name = the server URL, so tokens for two helpdesks do
not collide. There is deliberately no plain-text fallback: when only keyring's "fail" backend
or a plain-text one (``keyrings.alt``) is available, every call raises
:class:`~notifier.core.errors.KeyringUnavailable` with what to install or do; the agent can
still use ``NOTIFIER_TOKEN`` knowingly. Tests inject an in-memory backend.

Reading the token may start an interactive prompt: a locked Secret Service collection asks
for its password, and a Secret Service without a default collection asks to create one.
:meth:`TokenStore.prompt_risk` tells that beforehand without asking anything (it reads the
service's bus name, its ``default`` alias and the collection's ``Locked`` property over
D-Bus), so ``notifier doctor`` can report it instead of popping a dialog up. Other backends
are not probed: the Windows Credential Locker never prompts, the macOS login keychain is
unlocked at login (a keychain locked by hand would still prompt, and there is no prompt-free
way to ask), and KWallet's own backend opens the wallet when read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import keyring
import keyring.backend
import keyring.errors

from notifier.core.errors import KeyringUnavailable

SERVICE = "notifier"

KEYRING_HELP = (
    "no usable system keyring was found to store the sign-in token safely. "
    "On Linux, install and unlock a Secret Service provider (GNOME Keyring: "
    "`apt install gnome-keyring`, or KWallet) in your desktop session; on a server without "
    "a desktop, set the NOTIFIER_TOKEN environment variable instead"
)


KEYRING_BUS_NAME = "org.freedesktop.secrets"


@dataclass(frozen=True, slots=True)
class PromptRisk:
    """Why reading the token now would open a dialog, and what the agent can do first."""

    reason: str
    advice: str


def _reason(error: BaseException) -> str:
    """An error's text to quote inside a sentence (keyring's own end with a period, some
    with two: "Failed to create the collection: Prompt dismissed..")."""
    return str(error).rstrip(". ") or type(error).__name__


def _uses_secret_service(backend: keyring.backend.KeyringBackend) -> bool:
    module = type(backend).__module__
    if module in ("keyring.backends.SecretService", "keyring.backends.libsecret"):
        return True
    if module.startswith("keyring.backends.chainer"):
        return any(_uses_secret_service(b) for b in getattr(backend, "backends", []))
    return False


def _bus_call(connection: Any, address: Any, method: str, signature: str, *args: Any) -> Any:
    from jeepney import new_method_call  # type: ignore[import-untyped]
    from jeepney.wrappers import unwrap_msg  # type: ignore[import-untyped]

    reply = connection.send_and_get_reply(
        new_method_call(address, method, signature, args), timeout=2
    )
    return unwrap_msg(reply)[0]


def secret_service_prompt_risk() -> PromptRisk | None:
    """What reading from the session bus's Secret Service would prompt for (None: nothing).

    Only bus-level questions are asked: none of them starts the service (a name's owner, not
    a method call on it, while it is not running), creates a collection or unlocks one.
    """
    from jeepney import DBusAddress
    from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

    with contextlib.closing(open_dbus_connection(bus="SESSION")) as connection:
        bus = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )
        if not _bus_call(connection, bus, "NameHasOwner", "s", KEYRING_BUS_NAME):
            return PromptRisk(
                "the keyring service (Secret Service) is not running: reading the token would"
                " start it, and it may ask for the keyring's password",
                "log in to a desktop session that starts and unlocks the keyring (GNOME"
                " Keyring, KWallet), then run notifier doctor again",
            )
        service = DBusAddress(
            "/org/freedesktop/secrets",
            bus_name=KEYRING_BUS_NAME,
            interface="org.freedesktop.Secret.Service",
        )
        collection = _bus_call(connection, service, "ReadAlias", "s", "default")
        if collection == "/":
            return PromptRisk(
                "the keyring has no default collection yet: signing in would ask you to create"
                " one and choose its password",
                "create the default (login) keyring in your desktop's password manager (GNOME:"
                " Passwords and Keys), or run notifier login in the desktop session and answer"
                " its prompt",
            )
        properties = DBusAddress(
            collection, bus_name=KEYRING_BUS_NAME, interface="org.freedesktop.DBus.Properties"
        )
        _signature, locked = _bus_call(
            connection, properties, "Get", "ss", "org.freedesktop.Secret.Collection", "Locked"
        )
    if locked:
        return PromptRisk(
            "the keyring is locked: reading the token would ask for the keyring's password",
            "unlock it in your desktop's password manager (GNOME: Passwords and Keys), or log"
            " in with the password that unlocks it; the tray app asks for it otherwise",
        )
    return None


# What to do when the keyring is there but fails: said at the end of each such error.
KEYRING_FIX = (
    "check that your desktop's keyring is unlocked (GNOME: Passwords and Keys; KDE: KWallet),"
    " or set the NOTIFIER_TOKEN environment variable instead"
)


def _is_plain_text(backend: keyring.backend.KeyringBackend) -> bool:
    module = type(backend).__module__
    if module.startswith("keyrings.alt") or module.startswith("keyring.backends.fail"):
        return True
    if module.startswith("keyring.backends.chainer"):
        inner = getattr(backend, "backends", [])
        return not inner or all(_is_plain_text(b) for b in inner)
    return False


class TokenStore:
    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    def _usable(self) -> keyring.backend.KeyringBackend:
        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if _is_plain_text(backend):
            raise KeyringUnavailable(f"{KEYRING_HELP} (found: {self._name(backend)})")
        return backend

    @staticmethod
    def _name(backend: keyring.backend.KeyringBackend) -> str:
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def backend_name(self) -> str:
        backend = self._backend if self._backend is not None else keyring.get_keyring()
        return self._name(backend)

    def prompt_risk(self) -> PromptRisk | None:
        """Why reading the token would open a dialog now (None: it would not, or this
        backend cannot tell without asking: see the module's docstring). Asks nothing."""
        backend = self._usable()
        if not _uses_secret_service(backend):
            return None
        try:
            return secret_service_prompt_risk()
        except Exception as error:  # any D-Bus trouble: the keyring is not usable as it is
            raise KeyringUnavailable(
                f"the keyring service cannot be asked ({type(error).__name__}: {_reason(error)}):"
                f" {KEYRING_FIX}"
            ) from error

    def get(self, server_url: str) -> str | None:
        backend = self._usable()
        try:
            token: str | None = backend.get_password(SERVICE, server_url)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(
                f"the keyring could not be read ({_reason(error)}): {KEYRING_FIX}"
            ) from error
        return token

    def set(self, server_url: str, token: str) -> None:
        backend = self._usable()
        try:
            backend.set_password(SERVICE, server_url, token)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(
                f"the keyring could not store the token ({_reason(error)}): {KEYRING_FIX}"
            ) from error

    def delete(self, server_url: str) -> None:
        """Remove the token; nothing stored is not an error."""
        backend = self._usable()
        try:
            backend.delete_password(SERVICE, server_url)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(
                f"the keyring could not delete the token ({_reason(error)}): {KEYRING_FIX}"
            ) from error
