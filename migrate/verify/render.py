"""verify's rows: one per merge request of the plan, and the verified/failed/pending counts. The
columns and the JSON object of one merge request are declared here (`ROWS`); the one renderer
(`migrate.core.outcome_render`) draws them and `cli/verify.py` prints."""

from __future__ import annotations

from collections.abc import Sequence

from migrate.core import outcome_render
from migrate.core.outcome import Column, ItemOutcome, Layout, Status
from migrate.verify.runner import VerifyResult

STATUSES = (Status.VERIFIED, Status.FAILED, Status.PENDING)


def outcome(result: VerifyResult) -> ItemOutcome[VerifyResult]:
    return ItemOutcome(result.project, result.status, result.detail, result)


def outcomes(results: Sequence[VerifyResult]) -> list[ItemOutcome[VerifyResult]]:
    return [outcome(r) for r in results]


def status_counts(results: Sequence[VerifyResult]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in STATUSES}


def _result(o: ItemOutcome[VerifyResult]) -> VerifyResult:
    assert o.detail is not None  # every verify outcome carries its VerifyResult
    return o.detail


ROWS: Layout[VerifyResult] = Layout(
    columns=(Column("project", lambda o: o.item),
             Column("MR", lambda o: f"!{_result(o).mr_iid}" if _result(o).mr_iid else "-"),
             Column("state", lambda o: _result(o).mr_state or "-"),
             Column("pipeline", lambda o: ", ".join(str(c.pipeline_id) for c in _result(o).checks
                                                    if c.pipeline_id) or "-"),
             Column("result", lambda o: o.status.value.upper(), loud=True),
             Column("detail", lambda o: o.reason, width=80)),
    record=lambda o: _result(o).to_dict(),
    empty="no merge request actions in the plan")


def results_table(results: Sequence[VerifyResult]) -> str:
    """The table and, after a blank line, the counts."""
    counts = status_counts(results)
    summary = f"{counts['verified']} verified, {counts['failed']} failed, {counts['pending']} pending"
    return outcome_render.table(outcomes(results), ROWS) + "\n\n" + summary + "\n"
