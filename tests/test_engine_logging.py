"""The log file: rotating, in the log folder, and never a token in it."""

from __future__ import annotations

import logging
from pathlib import Path

from notifier.compose import RedactingFilter, redact, redact_also, setup_logging
from notifier.store.paths import AppPaths


def test_redact_hides_tokens_in_every_usual_shape() -> None:
    token = "tok_9f8e7d6c5b4a"
    lines = [
        f"Authorization: Bearer {token}",
        f"headers={{'authorization': 'Bearer {token}'}}",
        f'{{"token": "{token}"}}',
        f"GET /x?token={token}&a=1",
        f"password={token}",
    ]
    for line in lines:
        assert token not in redact(line), line
    assert redact("the token was rejected") == "the token was rejected"
    assert redact(f"odd place {token}", (token,)) == "odd place [redacted]"


def test_the_log_file_never_holds_the_token(tmp_path: Path) -> None:
    paths = AppPaths(tmp_path / "c", tmp_path / "k", tmp_path / "logs")
    token = "secret-token-123456"
    handler = setup_logging(paths, "DEBUG", secrets=(token,))
    try:
        log = logging.getLogger("notifier.test")
        log.info("connecting with %s", token)
        log.warning("headers: %r", {"Authorization": f"Bearer {token}"})
        try:
            raise RuntimeError(f"failed with {token}")
        except RuntimeError:
            log.exception("boom")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    text = paths.log_file.read_text()
    assert "connecting with [redacted]" in text
    assert "boom" in text and "RuntimeError" in text
    assert token not in text


def test_a_token_read_after_logging_started_is_redacted_too(tmp_path: Path) -> None:
    # notifier tail starts its log before it reads the token (what reading it logs goes there).
    paths = AppPaths(tmp_path / "c", tmp_path / "k", tmp_path / "logs")
    token = "plain-token-without-a-known-shape"
    handler = setup_logging(paths, "DEBUG")
    try:
        log = logging.getLogger("notifier.test")
        log.info("before: %s", token)
        redact_also(handler, token)
        log.info("after: %s", token)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    text = paths.log_file.read_text()
    assert f"before: {token}" in text  # no pattern knows it: only the known secret hides it
    assert "after: [redacted]" in text and f"after: {token}" not in text


def test_the_filter_keeps_records_without_secrets_intact() -> None:
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "count %d", (3,), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "count 3"
