"""TokenStore: the keyring, never a plain-text fallback."""

from __future__ import annotations

import pytest
from engine_keyring import MemoryKeyring
from keyring.backends.fail import Keyring as FailKeyring

from notifier.core.errors import KeyringUnavailable
from notifier.store.secrets import SERVICE, TokenStore


def test_tokens_are_stored_per_server_url() -> None:
    backend = MemoryKeyring()
    store = TokenStore(backend)
    store.set("https://a.example", "token-a")
    store.set("https://b.example", "token-b")
    assert store.get("https://a.example") == "token-a"
    assert backend.entries[(SERVICE, "https://b.example")] == "token-b"
    store.delete("https://a.example")
    assert store.get("https://a.example") is None
    store.delete("https://a.example")  # nothing stored: not an error
    assert "MemoryKeyring" in store.backend_name()


def test_the_fail_backend_is_refused_with_advice() -> None:
    store = TokenStore(FailKeyring())
    for call in (lambda: store.get("u"), lambda: store.set("u", "t"), lambda: store.delete("u")):
        with pytest.raises(KeyringUnavailable, match="NOTIFIER_TOKEN"):
            call()


def test_the_default_backend_in_tests_is_the_fail_one_and_is_refused() -> None:
    # conftest sets PYTHON_KEYRING_BACKEND to the fail keyring: no silent fallback.
    with pytest.raises(KeyringUnavailable):
        TokenStore().get("https://helpdesk.example")


def test_a_plain_text_backend_is_refused() -> None:
    PlainText = type("Keyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})
    with pytest.raises(KeyringUnavailable, match=r"keyrings\.alt"):
        TokenStore(PlainText()).set("u", "t")
