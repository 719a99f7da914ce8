"""The one renderer of per-item outcomes escapes whatever GitLab or Google hands it.

Hostile values (a newline that would forge a row, an escape sequence that would repaint the
operator's terminal, bidi controls that reorder what is read, a number-looking string) go into the
identity, the reason and a detail cell of every kind; the table shows each on one visual row with
the controls made visible, and the JSON envelope carries them back exactly (json.dumps escapes).
A renderer that skipped the escaping is caught by the same property (`_forges_rows`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate as raw_tabulate

from migrate.cli.output import dumps, envelope
from migrate.core import outcome_render
from migrate.core.outcome import ERROR_STATUSES, Column, ItemOutcome, Layout, Status
from migrate.core.tables import UNLIMITED
from migrate.core.textsafe import escape

_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE = st.text(alphabet=st.sampled_from(list("ab -|:!#\\\n\r\t\x1b[31m\x00\x7f\x85\u2028\u202e\u2066é1e5")),
                  max_size=30)


@dataclass(frozen=True)
class Detail:
    note: str
    lines: tuple[str, ...]


ROWS: Layout[Detail] = Layout(
    columns=(Column("item", lambda o: o.item), Column("status", lambda o: o.status.value, loud=True),
             Column("reason", lambda o: o.reason, width=20), Column("note", lambda o: o.detail.note if o.detail else ""),
             Column("lines", lambda o: list(o.detail.lines) if o.detail else [])),
    record=lambda o: {"item": o.item, "status": o.status.value, "reason": o.reason,
                      "note": o.detail.note if o.detail else None})

#: the same columns without a fixed width: nothing wraps, so every extra line would be a forged one
UNWRAPPED: Layout[Detail] = Layout(columns=tuple(Column(c.header, c.cell, None, c.loud) for c in ROWS.columns),
                                   record=ROWS.record)

OUTCOMES = st.lists(st.builds(ItemOutcome, HOSTILE, st.sampled_from(list(Status)), HOSTILE,
                              st.builds(Detail, HOSTILE, st.lists(HOSTILE, max_size=3).map(tuple))),
                    max_size=5)


def _forges_rows(text: str, outcomes: list[ItemOutcome[Detail]]) -> bool:
    """True when the table has a raw control character or more lines than its rows allow (a
    header, the rule, and per row the longest list cell)."""
    allowed = 2 + sum(max(1, len(o.detail.lines) if o.detail else 1) for o in outcomes)
    return bool(_RAW_CONTROL.search(text)) or len(text.split("\n")) > allowed


@settings(max_examples=150, deadline=None)
@given(OUTCOMES)
def test_the_table_escapes_hostile_values(outcomes: list[ItemOutcome[Detail]]) -> None:
    text = outcome_render.table(outcomes, UNWRAPPED, width=UNLIMITED)
    assert not _forges_rows(text, outcomes)
    for o in outcomes:  # each value is shown, escaped
        assert escape(o.item).strip() in text and escape(o.reason).strip() in text
        if o.detail:
            assert escape(o.detail.note).strip() in text


@settings(max_examples=150, deadline=None)
@given(OUTCOMES, st.integers(min_value=40, max_value=120))
def test_a_narrow_terminal_wraps_but_never_lets_a_control_through(outcomes: list[ItemOutcome[Detail]],
                                                                 width: int) -> None:
    text = outcome_render.table(outcomes, ROWS, width=width)
    assert not _RAW_CONTROL.search(text)


@settings(max_examples=150, deadline=None)
@given(OUTCOMES)
def test_the_envelope_carries_hostile_values_back_exactly(outcomes: list[ItemOutcome[Detail]]) -> None:
    text = dumps(envelope("apply", 1, {}, outcome_render.results(outcomes, ROWS), outcome_render.errors(outcomes)))
    assert not _RAW_CONTROL.search(text) and "\x1b" not in text
    doc = json.loads(text)
    assert [r["item"] for r in doc["results"]] == [o.item for o in outcomes]
    assert [r["note"] for r in doc["results"]] == [o.detail.note if o.detail else None for o in outcomes]
    assert doc["errors"] == [{"subject": o.item, "reason": o.reason} for o in outcomes if o.status in ERROR_STATUSES]


def test_a_renderer_without_escaping_is_caught() -> None:
    """The property fails on a table drawn with plain tabulate: a newline in a value forges a row."""
    outcomes = [ItemOutcome("acme/api\nFORGED   applied", Status.REFUSED, "x\x1b[2J", Detail("n", ()))]
    unsafe = raw_tabulate([[o.item, o.status.value, o.reason, "n", ""] for o in outcomes],
                          headers=[c.header for c in ROWS.columns])
    assert _forges_rows(unsafe, outcomes)
    assert not _forges_rows(outcome_render.table(outcomes, UNWRAPPED, width=UNLIMITED), outcomes)


def test_numbers_are_shown_as_given() -> None:
    """tabulate would read `1e5` as 100000 and `0x10` as 16; the renderer shows what the value is."""
    text = outcome_render.table([ItemOutcome("1e5", Status.FOUND, "0010", Detail("1_000", ()))], ROWS)
    assert "1e5" in text and "0010" in text and "1_000" in text and "100000" not in text


def test_an_empty_layout_line_replaces_an_empty_table() -> None:
    empty: Layout[Detail] = Layout(columns=ROWS.columns, record=ROWS.record, empty="nothing here")
    assert outcome_render.table([], empty) == "nothing here"
    assert outcome_render.table([], ROWS).split("\n")[0].split() == ["item", "status", "reason", "note", "lines"]


def test_a_cell_of_blank_lines_does_not_crash_a_wrapped_table() -> None:
    """tabulate raises ValueError on a wrapped cell that is only a line break (found by the
    narrow-terminal property above); both table functions show it as empty."""
    from migrate.core.tables import render_table

    wide = "x" * 80
    assert render_table([[wide, ["", ""]]], ["a", "b"], width=40).count("x") == 80
    outcome = ItemOutcome(wide, Status.FOUND, "", Detail("", ("", "")))
    assert outcome_render.table([outcome], ROWS, width=40).count("x") == 80
    with pytest.raises(ValueError):  # the library's behaviour the guard is for
        raw_tabulate([["a", "\n"]], headers=["x", "y"], disable_numparse=True, maxcolwidths=[6, 6])


def test_every_problem_severity_word_converts_to_one_status() -> None:
    """A `Problem`'s severity keeps its words (part of the inventory's and plan's format); each one
    converts to the one `Status` (a new word without one would be an internal error at render time,
    not a row). Every stage record carries `Status` itself (tests/core/test_one_status.py)."""
    from typing import get_args, get_type_hints

    from migrate.core.model import Problem
    from migrate.core.outcome import PROBLEM_STATUS

    assert set(PROBLEM_STATUS) == set(get_args(get_type_hints(Problem)["severity"]))
