"""Secrets never reach a log line, whatever code logged them."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import JsonFormatter, ScrubbingFormatter, register_secret, scrub


@pytest.mark.parametrize(
    "line",
    [
        "calling with xoxb-1234-5678-abcdefABCDEF",
        "socket token xapp-1-A0123-4567-abcdef",
        "GET https://graph.facebook.com/v25.0/me?access_token=EAAGm0PX4ZCpsBAKZCZCabc&fields=id",
        "Authorization: Bearer sk-very-secret-value",
        "page token EAAGm0PX4ZCpsBAKZCZCabcdefghijklmnop leaked",
    ],
)
def test_known_token_shapes_are_scrubbed(line: str) -> None:
    cleaned = scrub(line)
    assert "[secret]" in cleaned
    for secret in ("abcdefABCDEF", "A0123-4567", "EAAGm0PX4ZCps", "sk-very-secret-value"):
        assert secret not in cleaned


def test_registered_secrets_are_scrubbed_from_json_logs() -> None:
    register_secret("smtp-password-horse-battery")
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "login failed for %s", ("smtp-password-horse-battery",), None
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "login failed for [secret]"
    assert "horse" not in ScrubbingFormatter("%(message)s").format(record)


def test_exceptions_in_logs_are_scrubbed_too() -> None:
    register_secret("archive-token-123456")
    try:
        raise RuntimeError("request failed with token archive-token-123456")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert "archive-token-123456" not in JsonFormatter().format(record)
