"""The plan's who-can-impersonate table is typed (`core.model.ImpersonationRow`, issue 20 item 4).

It was a tuple of dicts: a hand-edited plan could carry any keys there, and the report guessed
(`broader` missing → after − before; lists missing → MANUAL). Now the one strict codec reads it: a
mistyped or unknown field is refused with its path; a row of an earlier build without `broader` or
`adversarial` keeps loading and is written back without them (byte-identical plans), and the report's
verdict on every row equals the old dict logic (kept below as the oracle).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.codec import CodecError, decode, encode
from migrate.core.model import ImpersonationRow
from migrate.report.controls import _impersonation

CASES = st.lists(st.sampled_from(["a", "b", "fork MR of a", "acme/docs (protected ref)", "x y"]), unique=True,
                 max_size=4)
ADVERSARIAL = st.fixed_dictionaries({"case": st.text(max_size=5), "kind": st.sampled_from(["fork", "look-alike"]),
                                     "after": st.booleans(), "why_after": st.text(max_size=5)})


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"service_account": draw(st.sampled_from(["ci@p.iam.gserviceaccount.com", "d@p.iam"])),
                           "before": draw(CASES), "after": draw(CASES)}
    if draw(st.booleans()):
        row["broader"] = sorted(set(row["after"]) - set(row["before"])) if draw(st.booleans()) else draw(CASES)
    if draw(st.booleans()):
        row["adversarial"] = draw(st.lists(ADVERSARIAL, max_size=2))
    return row


def old_verdict(entry: dict[str, Any]) -> tuple[str, list[str]]:
    """main's report logic on a dict row (f4ca580 migrate/report/controls.py `_impersonation`)."""
    before, after = entry.get("before"), entry.get("after")
    broader = entry.get("broader")
    if not isinstance(broader, list):
        broader = sorted(set(map(str, after)) - set(map(str, before))) \
            if isinstance(before, list) and isinstance(after, list) else None
    assert broader is not None
    return ("FAIL" if broader else "PASS"), list(broader)


@settings(max_examples=200, deadline=None)
@given(rows())
def test_rows_round_trip_and_the_report_judges_them_as_before(row: dict[str, Any]) -> None:
    typed = decode(ImpersonationRow, row)
    assert encode(typed) == row  # absent stays absent: old plans write back byte-identical
    word, broader = old_verdict(row)
    [result] = list(_impersonation(typed))
    assert (result.status.value, list(typed.widened)) == ({"FAIL": "failed", "PASS": "passed"}[word], broader)


@pytest.mark.parametrize(("row", "path"), [
    ({"service_account": "s", "before": ["a"], "after": "a"}, "after"),
    ({"service_account": "s", "before": ["a"]}, "after"),
    ({"service_account": "s", "before": ["a"], "after": [], "broader": [], "widened": []}, "widened"),
    ({"service_account": "s", "before": [], "after": [], "adversarial": [{"case": "c", "kind": "k", "after": "no",
                                                                          "why_after": ""}]}, "adversarial[0].after"),
])
def test_a_hand_edited_row_is_refused_with_its_field(row: dict[str, Any], path: str) -> None:
    with pytest.raises(CodecError) as err:
        decode(ImpersonationRow, row)
    assert path in str(err.value)


def test_writing_absent_fields_back_is_caught() -> None:
    """A broken variant: the same row type without OMIT_DEFAULT adds `broader`/`adversarial` to an
    earlier build's row, which the round trip above catches."""
    legacy = {"service_account": "s", "before": ["a"], "after": ["a"]}

    @dataclasses.dataclass(frozen=True)
    class NoOmit:
        service_account: str
        before: tuple[str, ...]
        after: tuple[str, ...]
        broader: tuple[str, ...] | None = None
        adversarial: tuple[dict[str, Any], ...] | None = None

    assert encode(decode(NoOmit, legacy)) != legacy
    assert encode(decode(ImpersonationRow, legacy)) == legacy
