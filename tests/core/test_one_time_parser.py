"""Time strings are parsed in one place, the codec (`decode_time`): files, GitLab's and Google's
answers and the command line all reach the tool's logic as aware UTC datetimes read the same way.
Before, six modules had their own `fromisoformat` with different rules (one kept naive times, so
an answer without an offset and one with could not be compared)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.codec import decode_time, decode_time_or_none, encode_time, format_time

ROOT = Path(__file__).resolve().parents[2] / "migrate"
PARSERS = {"fromisoformat", "strptime"}
# migrate/sandbox is the rehearsal feature and imports nothing from the tool (its own clock parser)
ALLOWED = {ROOT / "core" / "codec.py"}


def parsers_in(source: str) -> list[int]:
    """Lines that call `….fromisoformat(…)` or `….strptime(…)`."""
    return [n.lineno for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in PARSERS]


def test_no_time_string_is_parsed_outside_the_codec() -> None:
    found = {str(p.relative_to(ROOT)): lines for p in sorted(ROOT.rglob("*.py"))
             if p not in ALLOWED and ROOT / "sandbox" not in p.parents
             and (lines := parsers_in(p.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_check_catches_a_planted_parser() -> None:
    planted = "from datetime import datetime\n\ndef when(s):\n    return datetime.fromisoformat(s)\n"
    assert parsers_in(planted) == [4]
    assert parsers_in("import time\nt = time.strptime('2026', '%Y')\n") == [2]
    assert parsers_in((ROOT / "core" / "codec.py").read_text(encoding="utf-8"))  # the one parser is seen


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T09:00:00Z", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    ("2026-03-01T10:00:00+01:00", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    ("2026-03-01T09:00:00", datetime(2026, 3, 1, 9, tzinfo=UTC)),  # no offset: UTC
    ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
    ("2026-03-01T09:00:00.123456789Z", datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)),  # Google's 9 digits
    (" 2026-03-01T09:00:00z ", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    # a fraction before an offset (GitLab's `….081+01:00`): the offset's digits are not the fraction's
    ("2026-03-01T10:00:00.500+01:00", datetime(2026, 3, 1, 9, 0, 0, 500000, tzinfo=UTC)),
    ("2026-03-01T01:00:00.000-08:00", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    ("2026-03-01T09:00:00.123456789+00:00", datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)),
])
def test_decode_time_reads_what_gitlab_google_and_people_write(text: str, expected: datetime) -> None:
    got = decode_time(text)
    assert got == expected and got.tzinfo is UTC


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01T00:00:00Z"])
def test_decode_time_refuses_what_is_not_a_time(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_time(bad)
    assert decode_time_or_none(bad) is None


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))])))
def test_times_round_trip_through_the_codec(moment: datetime) -> None:
    assert decode_time(encode_time(moment)) == moment
    assert decode_time(format_time(moment)) == moment.replace(microsecond=0)


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8)), timezone(timedelta(hours=1))])))
def test_any_offset_and_fraction_spelling_reads_the_instant(moment: datetime) -> None:
    """`isoformat()` writes the offset after the fraction (`….123456+05:30`), as GitLab does."""
    assert decode_time(moment.isoformat()) == moment
    assert decode_time(moment.isoformat(timespec="milliseconds")) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000)
