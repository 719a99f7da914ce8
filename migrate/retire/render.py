"""The keys verbs' rows: one per step (`STEP_ROWS`) and one per orphan key (`ORPHAN_ROWS`), the
one-line summaries. The columns and the JSON object of one item are declared here; the one
renderer (`migrate.core.outcome_render`) draws them and `cli/keys.py` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from migrate.core.outcome import Column, ItemOutcome, Layout, Status
from migrate.core.tables import loud
from migrate.retire.runner import OrphanKey, StepResult


def step_outcome(result: StepResult) -> ItemOutcome[StepResult]:
    return ItemOutcome(result.target, result.outcome, result.detail, result)


def step_outcomes(results: Sequence[StepResult]) -> list[ItemOutcome[StepResult]]:
    return [step_outcome(r) for r in results]


def orphan_outcomes(orphans: Sequence[OrphanKey]) -> list[ItemOutcome[OrphanKey]]:
    """A key no variable holds is FOUND; a service account whose keys could not be listed is an
    ERROR row with its reason."""
    return [ItemOutcome(o.key_id, Status.ERROR if o.error else Status.FOUND, str(o.error or ""), o)
            for o in orphans]


def outcome_counts(results: Sequence[StepResult]) -> dict[str, int]:
    """How many steps ended each way (`applied`, `refused`, …)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return counts


def _step(o: ItemOutcome[StepResult]) -> StepResult:
    assert o.detail is not None  # every step outcome carries its StepResult
    return o.detail


def _orphan(o: ItemOutcome[OrphanKey]) -> OrphanKey:
    assert o.detail is not None  # every orphan outcome carries its OrphanKey
    return o.detail


STEP_ROWS: Layout[StepResult] = Layout(
    columns=(Column("step", lambda o: _step(o).kind),
             Column("target", lambda o: o.item, width=60),
             Column("outcome", lambda o: o.status.value, loud=True),
             Column("detail", lambda o: o.reason, width=80)),
    record=lambda o: asdict(_step(o)))


def _last_authentication(o: OrphanKey) -> str:
    if o.error:
        return o.error
    return o.last_authenticated or (f"unknown: {o.usage_unknown_reason}" if o.usage_unknown_reason else "none")


ORPHAN_ROWS: Layout[OrphanKey] = Layout(
    columns=(Column("service account", lambda o: _orphan(o).service_account),
             Column("key id", lambda o: o.item or loud("ERROR")),
             Column("created", lambda o: _orphan(o).created or ""),
             Column("age (days)", lambda o: "" if _orphan(o).age_days is None else _orphan(o).age_days,
                    count=True),
             Column("disabled", lambda o: "yes" if _orphan(o).disabled else "no"),
             Column("last authentication", lambda o: _last_authentication(_orphan(o)))),
    record=lambda o: asdict(_orphan(o)))


def summary_line(results: Sequence[StepResult]) -> str:
    summary = ", ".join(f"{n} {o}" for o, n in sorted(outcome_counts(results).items())) or "nothing to do"
    return f"keys: {summary}"


def orphans_line(orphans: Sequence[OrphanKey]) -> str:
    return f"{len(orphans)} orphan key(s); they are never touched unless named: keys retire --key KEY_ID"
