"""Reading comments from JSONL or CSV files (triage input and labelled eval files)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.domain import Category, Comment, Flag
from bot.errors import InputError

OPTIONAL_TEXT_FIELDS = ("post_text", "platform", "author_name")


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based position in the input
    comment: Comment
    label: Category | None = None
    flags: frozenset[Flag] | None = None


def open_input(path: str | None) -> tuple[str, TextIO]:
    """The display name and a text stream for FILE, or standard input for None or '-'."""
    import sys

    if path in (None, "-"):
        return "<stdin>", sys.stdin
    file = Path(path)
    try:
        return str(file), io.StringIO(file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{file}: is a directory, not a file") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{file}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise InputError(f"{file}: cannot read ({error.strerror})") from None


def read_raw_records(name: str, stream: TextIO) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """(record number, raw object or the error for that record), JSONL or CSV by content."""
    text = stream.read()
    if not text.strip():
        raise InputError(f"{name}: the input is empty; give one JSON object per line or a CSV file")
    first = text.lstrip()[0]
    if name.lower().endswith(".csv") or first not in "{[":
        yield from _csv_records(name, text)
        return
    number = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        number += 1
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, InputError(f"invalid JSON ({error.msg} at column {error.colno})", number)
            continue
        if not isinstance(value, dict):
            yield number, InputError(f"expected a JSON object, got {type(value).__name__}", number)
            continue
        yield number, value


def _csv_records(name: str, text: str) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise InputError(f"{name}: not a readable CSV header row ({error})") from None
    if not header or "text" not in header:
        raise InputError(f"{name}: CSV input needs a header row with a 'text' column")
    number = 0
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield number, InputError(f"not valid CSV ({error})", number)
            return  # the reader cannot resynchronise after a broken record
        if None in row:
            yield number, InputError("more fields than the header row has", number)
            continue
        values: dict[str, Any] = {key: value for key, value in row.items() if value not in (None, "")}
        values.setdefault("text", row.get("text") or "")
        if isinstance(values.get("flags"), str):
            values["flags"] = [flag.strip() for flag in values["flags"].replace(";", ",").split(",") if flag]
        yield number, values


def to_record(number: int, raw: dict[str, Any], *, labelled: bool = False) -> Record:
    """Validate one raw object into a Record; InputError names the field and what is wrong."""
    if "text" not in raw:
        raise InputError("missing the required field 'text'", number)
    text = raw["text"]
    if not isinstance(text, str):
        raise InputError(f"'text' must be a string, got {type(text).__name__}", number)
    record_id = raw.get("id", str(number))
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        raise InputError(f"'id' must be a string or a number, got {type(record_id).__name__}", number)
    fields: dict[str, Any] = {}
    for name in OPTIONAL_TEXT_FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"'{name}' must be a string, got {type(value).__name__}", number)
        if value is not None:
            fields[name] = value
    created = raw.get("created_time")
    if created is not None:
        fields["created_time"] = _parse_time(created, number)
    comment = Comment(text=text, id=str(record_id), **fields)
    if not labelled:
        return Record(number, comment)
    return Record(number, comment, _parse_label(raw, number), _parse_flags(raw, number))


def _parse_time(value: Any, number: int) -> datetime:
    if not isinstance(value, str):
        raise InputError(f"'created_time' must be an ISO 8601 string, got {type(value).__name__}", number)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"'created_time' {value!r} is not ISO 8601 (e.g. 2026-03-01T12:00:00+01:00)", number
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_label(raw: dict[str, Any], number: int) -> Category:
    label = raw.get("label")
    try:
        return Category(label)
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise InputError(f"'label' must be one of {allowed}, got {label!r}", number) from None


def _parse_flags(raw: dict[str, Any], number: int) -> frozenset[Flag]:
    flags = raw.get("flags", [])
    if not isinstance(flags, list):
        raise InputError(f"'flags' must be a list, got {type(flags).__name__}", number)
    try:
        return frozenset(Flag(flag) for flag in flags)
    except ValueError:
        allowed = ", ".join(f.value for f in Flag)
        raise InputError(f"'flags' may only hold {allowed}, got {flags!r}", number) from None


def read_records(
    path: str | None, *, labelled: bool = False, skip_invalid: bool = False
) -> tuple[list[Record], list[InputError]]:
    """All valid records, and the errors of the skipped ones (raises on the first error unless skipping)."""
    name, stream = open_input(path)
    records: list[Record] = []
    errors: list[InputError] = []
    for number, raw in read_raw_records(name, stream):
        try:
            if isinstance(raw, InputError):
                raise raw
            records.append(to_record(number, raw, labelled=labelled))
        except InputError as error:
            if not skip_invalid:
                raise InputError(f"{name}: {error}") from None
            errors.append(InputError(f"{name}: {error}"))
    if not records and not errors:
        raise InputError(f"{name}: no records found")
    return records, errors
