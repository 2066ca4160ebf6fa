"""The API token in the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker).

Stored under service ``notifier``, user name = the server URL, so tokens for two helpdesks do
not collide. There is deliberately no plain-text fallback: when only keyring's "fail" backend
or a plain-text one (``keyrings.alt``) is available, every call raises
:class:`~notifier.core.errors.KeyringUnavailable` with what to install or do; the agent can
still use ``NOTIFIER_TOKEN`` knowingly. Tests inject an in-memory backend.
"""

from __future__ import annotations

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

    def get(self, server_url: str) -> str | None:
        backend = self._usable()
        try:
            token: str | None = backend.get_password(SERVICE, server_url)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(f"the keyring could not be read ({error})") from error
        return token

    def set(self, server_url: str, token: str) -> None:
        backend = self._usable()
        try:
            backend.set_password(SERVICE, server_url, token)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(f"the keyring could not store the token ({error})") from error

    def delete(self, server_url: str) -> None:
        """Remove the token; nothing stored is not an error."""
        backend = self._usable()
        try:
            backend.delete_password(SERVICE, server_url)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(f"the keyring could not delete the token ({error})") from error
