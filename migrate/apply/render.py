"""apply's rows: one per action (outcome, the executor's sentence, and the members a binding
adds) and the counts line. The columns and the JSON object of one action are declared here
(`ROWS`); the one renderer (`migrate.core.outcome_render`) draws them and `cli/apply.py` prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from migrate.core.evidence import added_members
from migrate.core.model import ActionResult, to_dict
from migrate.core.outcome import Column, ItemOutcome, Layout, Status


def outcome(result: ActionResult) -> ItemOutcome[ActionResult]:
    return ItemOutcome(result.action_id, result.outcome, result.detail, result)


def outcomes(results: Sequence[ActionResult]) -> list[ItemOutcome[ActionResult]]:
    return [outcome(r) for r in results]


def detail(result: ActionResult) -> str | list[str]:
    """The executor's sentence, plus the members a binding adds (named, as a reviewer needs them)."""
    added = added_members(result.evidence)
    if not added or result.outcome not in (Status.APPLIED, Status.WOULD_APPLY):
        return result.detail
    return [result.detail, *(f"+ {m}" for m in added)]


def _result(o: ItemOutcome[ActionResult]) -> ActionResult:
    assert o.detail is not None  # every apply outcome carries its ActionResult
    return o.detail


ROWS: Layout[ActionResult] = Layout(
    columns=(Column("action", lambda o: o.item),
             Column("outcome", lambda o: o.status.value, loud=True),
             Column("detail", lambda o: detail(_result(o)))),
    record=lambda o: to_dict(_result(o)))


def summary_line(counts: Mapping[str, int], dry_run: bool) -> str:
    return ("dry run: " if dry_run else "") + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
