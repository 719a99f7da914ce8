"""apply's human view: one row per action (outcome, the executor's sentence, and the members a
binding adds) and the counts line. Renderers return strings; `cli/apply.py` prints them (and
builds the JSON envelope)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from migrate.core.model import ActionResult
from migrate.core.tables import loud, render_table


def detail(result: ActionResult) -> str | list[str]:
    """The executor's sentence, plus the members a binding adds (named, as a reviewer needs them)."""
    added = [m for m in result.evidence.get("added") or () if isinstance(m, str)]
    if not added or result.outcome not in ("applied", "would_apply"):
        return result.detail
    return [result.detail, *(f"+ {m}" for m in added)]


def results_table(results: Sequence[ActionResult]) -> str:
    return render_table([[r.action_id, loud(r.outcome), detail(r)] for r in results], ["action", "outcome", "detail"])


def summary_line(counts: Mapping[str, int], dry_run: bool) -> str:
    return ("dry run: " if dry_run else "") + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
