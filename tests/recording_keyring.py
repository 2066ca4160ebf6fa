"""A keyring backend that refuses every use and writes each attempt to a file, for
subprocesses: ``PYTHON_KEYRING_BACKEND=recording_keyring.RecordingKeyring`` (with this folder
on PYTHONPATH) and ``RECORDING_KEYRING_FILE=path``. keyring builds the backend named by the
variable when the process first asks for a keyring, so even that is on record.

The OS keyring is a true edge: this stands in for it only where the test's point is that the
keyring is not touched (``notifier doctor`` with NOTIFIER_TOKEN set)."""

from __future__ import annotations

import os

import keyring.backend
import keyring.errors

RECORD_VARIABLE = "RECORDING_KEYRING_FILE"


def _record(what: str) -> None:
    with open(os.environ[RECORD_VARIABLE], "a", encoding="utf-8") as record:
        record.write(what + "\n")


class RecordingKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        _record("opened")

    def get_password(self, service: str, username: str) -> str | None:
        _record(f"get_password {service} {username}")
        raise keyring.errors.KeyringLocked("this test forbids reading the keyring")

    def set_password(self, service: str, username: str, password: str) -> None:
        _record(f"set_password {service} {username}")
        raise keyring.errors.PasswordSetError("this test forbids writing the keyring")

    def delete_password(self, service: str, username: str) -> None:
        _record(f"delete_password {service} {username}")
        raise keyring.errors.PasswordDeleteError("this test forbids deleting from the keyring")
