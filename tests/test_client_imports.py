"""Import hygiene of the client layer: what the tray app keeps in memory all day."""

from __future__ import annotations

from pathlib import Path

import pytest
from fresh_interpreter import fresh_output

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig


def test_importing_the_client_leaves_httpx_cli_extras_out() -> None:
    # A fresh interpreter: this test session may have imported httpx (and click) already.
    probe = (
        "import sys, notifier.client.reference, httpx;"
        "print(sorted(m for m in ('click', 'pygments', 'httpx._main')"
        " if sys.modules.get(m) is not None))"
    )
    assert fresh_output(probe).strip() == "[]"


def test_the_backend_loads_httpx_only_for_its_first_rest_call() -> None:
    # Resuming the stream needs no REST call: an idle tray app never imports httpx.
    probe = (
        "import sys\n"
        "from notifier.client.reference import ReferenceBackend\n"
        "backend = ReferenceBackend('http://127.0.0.1:9', 'token')\n"
        "print('httpx' in sys.modules)\n"
        "backend._rest\n"  # what me(), list_notifications() and the actions go through
        "print('httpx' in sys.modules)\n"
    )
    assert fresh_output(probe).split() == ["False", "True"]


def test_a_bad_ca_bundle_is_still_refused_when_the_backend_is_made(tmp_path: Path) -> None:
    missing = TransportConfig(ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="CA bundle"):
        ReferenceBackend("https://helpdesk.test", "token", missing)


def test_a_token_from_the_environment_leaves_keyring_unimported() -> None:
    probe = (
        "import sys\n"
        "from notifier.compose import resolve_credentials\n"
        "from notifier.core.settings import Settings\n"
        "credentials = resolve_credentials(\n"
        "    Settings(server_url='https://helpdesk.test'), {'NOTIFIER_TOKEN': 'secret'}\n"
        ")\n"
        "print(credentials.token_source, 'keyring' in sys.modules)\n"
    )
    assert fresh_output(probe).split() == ["environment", "False"]
