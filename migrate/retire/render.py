"""The keys verbs' human views: the step table, the one-line summary and the orphan table.
Renderers return strings; `cli/keys.py` prints them (and builds the JSON envelope)."""

from __future__ import annotations

from collections.abc import Sequence

from migrate.core.tables import loud
from migrate.core.textsafe import tabulate
from migrate.retire.runner import OrphanKey, StepResult


def outcome_counts(results: Sequence[StepResult]) -> dict[str, int]:
    """How many steps ended each way (`applied`, `refused`, …)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return counts


def results_table(results: Sequence[StepResult]) -> str:
    rows = [[r.kind, r.target, loud(r.outcome), r.detail] for r in results]
    return tabulate(rows, headers=["step", "target", "outcome", "detail"], maxcolwidths=[None, 60, None, 80])


def summary_line(results: Sequence[StepResult]) -> str:
    summary = ", ".join(f"{n} {o}" for o, n in sorted(outcome_counts(results).items())) or "nothing to do"
    return f"keys: {summary}"


def orphans_table(orphans: Sequence[OrphanKey]) -> str:
    rows = []
    for o in orphans:
        last = o.last_authenticated or (f"unknown: {o.usage_unknown_reason}" if o.usage_unknown_reason else "none")
        rows.append([o.service_account, o.key_id or loud("ERROR"), o.created or "",
                     "" if o.age_days is None else o.age_days, "yes" if o.disabled else "no", o.error or last])
    return tabulate(rows, headers=["service account", "key id", "created", "age (days)", "disabled",
                                   "last authentication"])


def orphans_line(orphans: Sequence[OrphanKey]) -> str:
    return f"{len(orphans)} orphan key(s); they are never touched unless named: keys retire --key KEY_ID"
