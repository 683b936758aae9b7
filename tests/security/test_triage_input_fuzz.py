"""Hostile triage input: whatever the bytes, a record-numbered InputError or valid records, never a crash."""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import InputError
from bot.importer import read_raw_records, to_record

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
records = st.dictionaries(
    st.sampled_from(
        ["text", "id", "post_text", "platform", "author_name", "created_time", "label", "flags", "x"]
    ),
    json_values,
    max_size=7,
)


def triage_lines(text: str, *, labelled: bool = False) -> tuple[int, int]:
    """(valid records, InputErrors) for a whole input; any other exception fails the test."""
    valid = errors = 0
    try:
        for number, raw in read_raw_records("input.jsonl", io.StringIO(text)):
            if isinstance(raw, InputError):
                assert raw.record == number
                errors += 1
                continue
            try:
                record = to_record(number, raw, labelled=labelled)
                assert record.number == number and isinstance(record.comment.text, str)
                valid += 1
            except InputError as error:
                assert f"record {number}:" in str(error)
                errors += 1
    except InputError:
        errors += 1  # the whole input is unusable (empty, no CSV header)
    return valid, errors


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=5), st.booleans())
def test_any_json_objects_are_accepted_or_reported(objects: list[dict], labelled: bool) -> None:
    text = "\n".join(json.dumps(obj) for obj in objects)
    valid, errors = triage_lines(text, labelled=labelled)
    assert valid + errors == len(objects)


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(text: str) -> None:
    triage_lines(text)


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decoded_leniently_never_crash(data: bytes) -> None:
    triage_lines(data.decode("utf-8", errors="replace"))


def test_a_huge_comment_is_read_whole() -> None:
    text = json.dumps({"text": "å" * 1_000_000})
    assert triage_lines(text) == (1, 0)
