"""verify's human view: one row per merge request of the plan and the verified/failed/pending
counts. Renderers return strings; `cli/verify.py` prints them (and builds the JSON envelope)."""

from __future__ import annotations

from collections.abc import Sequence

from migrate.core.tables import loud
from migrate.core.textsafe import tabulate
from migrate.verify.runner import VerifyResult

STATUSES = ("verified", "failed", "pending")


def status_counts(results: Sequence[VerifyResult]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in STATUSES}


def results_table(results: Sequence[VerifyResult]) -> str:
    rows = [(r.project, f"!{r.mr_iid}" if r.mr_iid else "-", r.mr_state or "-",
             ", ".join(str(c.pipeline_id) for c in r.checks if c.pipeline_id) or "-",
             loud(r.status.upper()), r.detail) for r in results]
    counts = status_counts(results)
    table = tabulate(rows, headers=("project", "MR", "state", "pipeline", "result", "detail"),
                     tablefmt="simple", maxcolwidths=[None, None, None, None, None, 80])
    summary = f"{counts['verified']} verified, {counts['failed']} failed, {counts['pending']} pending"
    return (table + "\n\n" if rows else "no merge request actions in the plan\n\n") + summary + "\n"
