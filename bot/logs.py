"""Structured JSON logs that never carry secrets."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime

# Tokens that must never reach a log line, whatever code logged them.
_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(access_token=)[^&\s\"']+"),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"EAA[A-Za-z0-9]{20,}"),
]
_registered_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret value so that it is scrubbed from every log line."""
    if value and len(value) >= 6:
        _registered_secrets.add(value)


def scrub(text: str) -> str:
    for secret in _registered_secrets:
        text = text.replace(secret, "[secret]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[secret]", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure_logging(level: str = "WARNING") -> None:
    """JSON lines when KOMMENTARVAKT_LOG_FORMAT=json (the default inside `run`), readable text otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("KOMMENTARVAKT_LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ScrubbingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
