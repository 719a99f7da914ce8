"""Control characters in any value are escaped in every table (issue 16: forged rows)."""

from __future__ import annotations

import re

import tabulate as raw
from hypothesis import given
from hypothesis import strategies as st

from migrate.core.textsafe import escape, tabulate

CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _lines(render: object, rows: list[list[str]]) -> list[str]:
    return str(render(rows, headers=["a", "b"], tablefmt="simple")).split("\n")  # type: ignore[operator]


@given(st.lists(st.lists(st.text(max_size=12), min_size=2, max_size=2), min_size=1, max_size=5))
def test_a_table_has_one_line_per_row_and_no_control_characters(rows: list[list[str]]) -> None:
    lines = _lines(tabulate, rows)
    assert len(lines) == len(rows) + 2
    assert not any(CONTROL.search(line) for line in lines)


def test_the_check_catches_raw_tabulate() -> None:
    """The same check flags the unescaped renderer: a newline in a cell forges a row."""
    rows = [["acme/api", "deployer@x\nacme/evil   OK"]]
    assert len(_lines(raw.tabulate, rows)) == 4  # the forged row is there
    assert len(_lines(tabulate, rows)) == 3


def test_escape_is_visible_and_one_line() -> None:
    assert escape("a\nb\x1b[2J\u2028") == "a\\nb\\x1b[2J\\u2028"
    assert escape(42) == "42"
