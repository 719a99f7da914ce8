"""The oracle only: how main (f4ca580, before one `Status` in the stage records and before the demo
and report envelopes went through the one renderer) turned records into rows and envelopes.

There the records held plain words (`ActionResult.outcome: Literal[...]`, verify's own
`Literal["verified", "failed", "pending"]`), each render module converted them with `Status(word)`,
verify mapped its words to the journal's with a dict of its own, and `demo`/`report` built their
envelopes by hand. tests/cli/test_outcome_oracle.py compares today's output with these, byte for
byte, on generated records. Nothing in `migrate/` may import this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrate.cli.output import dumps, envelope
from migrate.core import outcome_render
from migrate.core.outcome import ItemOutcome, Status

#: verify/runner.py VerifyResult.outcome at f4ca580
VERIFY_JOURNAL_WORD = {"verified": "applied", "failed": "failed", "pending": "skipped"}

#: cli/demo.py _EXPECTED at f4ca580
DEMO_EXPECTED: dict[str, tuple[int, ...]] = {"scan": (0, 1), "verify": (0, 1), "keys retire": (0, 1),
                                             "keys delete": (0, 1)}


def apply_outcome(result: Any) -> ItemOutcome[Any]:  # apply/render.py outcome
    return ItemOutcome(result.action_id, Status(result.outcome), result.detail, result)


def step_outcome(result: Any) -> ItemOutcome[Any]:  # retire/render.py step_outcome
    return ItemOutcome(result.target, Status(result.outcome), result.detail, result)


def verify_outcome(result: Any) -> ItemOutcome[Any]:  # verify/render.py outcome
    return ItemOutcome(result.project, Status(result.status), result.detail, result)


def verify_results_table(results: Sequence[Any], layout: Any) -> str:  # verify/render.py results_table
    counts = {s: sum(r.status == s for r in results) for s in ("verified", "failed", "pending")}
    summary = f"{counts['verified']} verified, {counts['failed']} failed, {counts['pending']} pending"
    return outcome_render.table([verify_outcome(r) for r in results], layout) + "\n\n" + summary + "\n"


def counts(words: Sequence[str]) -> dict[str, int]:  # apply loop.summarize / retire outcome_counts
    out: dict[str, int] = {}
    for w in words:
        out[w] = out.get(w, 0) + 1
    return out


def demo_envelope(steps: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    """cli/demo.py _run's `--format json` envelope at f4ca580."""
    failed = [st for st in steps if st["exit_code"] not in DEMO_EXPECTED.get(st["command"], (0,))]
    return dumps(envelope("demo", 0, summary, steps, [{"subject": st["step"], "reason": f"exit code {st['exit_code']}"}
                                                      for st in failed]))


def report_envelope(summary: dict[str, Any], written: Sequence[Path], error_outcomes: Sequence[ItemOutcome[Any]]) -> str:
    """cli/report.py run's `--format json` envelope at f4ca580."""
    return dumps(envelope("report", 0, summary, [{"format": "json", "path": str(p)} for p in written],
                          outcome_render.errors(error_outcomes)))
