"""One per-item outcome for every stage, and the layout a stage gives its rows.

Every command that reports per item (an action of `apply`, a merge request of `verify`, a step of
`keys retire|delete|rollback`, an orphan key, a project of `scan`, an action or manual/ERROR entry
of `plan`, an offender of `check`) turns its stage's own record into an `ItemOutcome`: which item
(`item`), how it ended (`status`, one `Status` for all stages), why (`reason`) and the stage's
typed record (`detail`: `ActionResult`, `VerifyResult`, `StepResult`, …). The stage's own record
stays what its runner returns and its journal stores, and its status is this same `Status` (a
`StrEnum`: the journal's text and the JSON are the words themselves; tests/core/test_one_status.py
fails on a stage record with a vocabulary of its own); the outcome is what people and scripts see.

A stage says *which* columns its rows have and *which* JSON object stands for one item (its
`Layout`: data and small accessors); *how* rows are escaped, coloured, wrapped and put in the JSON
envelope is `migrate.core.outcome_render`, the one renderer (tests/core/test_one_outcome_renderer.py
fails on a second one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

D = TypeVar("D")
D_co = TypeVar("D_co", covariant=True)


class Status(StrEnum):
    """How one item ended, in the words each command has always printed (the value is the word)."""

    APPLIED = "applied"  # apply, keys: done; demo: a step ended as the story expects; report: a file written
    WOULD_APPLY = "would_apply"  # apply --dry-run, keys --dry-run; plan: a change to make
    SKIPPED = "skipped"  # nothing to do (already so), or not this run's business
    REFUSED = "refused"  # a gate or integrity check said no: nothing was sent
    FAILED = "failed"  # tried and failed (apply, keys), a job failed (verify), a control's check failed (report)
    VERIFIED = "verified"  # verify: every job that used the key signed in through federation
    PENDING = "pending"  # verify: not yet provable (MR open, pipeline not run, job not played)
    SCANNED = "scanned"  # scan: the project was read
    ERROR = "error"  # could not be read: an ERROR row with its reason (also a report check's)
    MANUAL = "manual"  # plan: left for a person, with the reason; report: a check a person must judge
    PASSED = "passed"  # report: a control's check found the resource compliant
    FOUND = "found"  # check: a key variable or use; keys orphans: a key no variable holds
    WARNING = "warning"  # scan, plan: noted, nothing failed
    REWRITTEN = "rewritten"  # ci rewrite: the file was rewritten and passed the acceptance checks
    UNCHANGED = "unchanged"  # ci rewrite: nothing in the file reads a key


#: The statuses a scanned project ends with (`core.model.ProjectRecord.status`): read, could not be
#: read (an ERROR row), or out of scope. A `Literal` of `Status` members, so a record holds the one
#: `Status` and an inventory whose project says another word is refused as before.
ProjectStatus = Literal[Status.SCANNED, Status.ERROR, Status.SKIPPED]

#: What the CI rewriter says about one file (`ci.rewrite.RewriteResult`, `plan.planner.RewriteOutcome`).
RewriteStatus = Literal[Status.REWRITTEN, Status.MANUAL, Status.UNCHANGED]


#: The journal's `outcome` column has always held the apply/keys words; a verify row stores its
#: status in them (verified → applied, pending → skipped), as every build has written it, so older
#: journals keep meaning what they meant. The one place the two are mapped: verify writes
#: `journal_word(status)`, and readers of verify rows compare with `journal_word(Status.VERIFIED)`.
JOURNAL_WORD: Mapping[Status, Status] = {Status.VERIFIED: Status.APPLIED, Status.PENDING: Status.SKIPPED}


def journal_word(status: Status) -> Status:
    """The word the journal's outcome column holds for a stage record's `status`."""
    return JOURNAL_WORD.get(status, status)


PROBLEM_STATUS = {"error": Status.ERROR, "manual": Status.MANUAL, "warning": Status.WARNING}


#: An item with one of these statuses is also listed in the envelope's `errors`.
ERROR_STATUSES = frozenset({Status.FAILED, Status.REFUSED, Status.ERROR})


@dataclass(frozen=True)
class ItemOutcome(Generic[D_co]):
    """One item's outcome: identity, status, reason, and the stage's typed record (covariant: an
    outcome of a `KeyExposure` is an outcome of `KeyExposure | ReviewItem`)."""

    item: str
    status: Status
    reason: str = ""
    detail: D_co | None = None


Cell = Any  # str, int, None, or a list of lines (one cell, one line per element)


@dataclass(frozen=True)
class Column(Generic[D]):
    """One table column: its header, the cell of an outcome, an optional fixed wrap width,
    whether the cell is a status word that stands out (`loud`), and whether it holds counts
    (`count`: right-aligned when every non-empty cell is an int, as tabulate aligns a column of
    numbers; the renderer never reads a string as a number, so the stage says it)."""

    header: str
    cell: Callable[[ItemOutcome[D]], Cell]
    width: int | None = None
    loud: bool = False
    count: bool = False


@dataclass(frozen=True)
class Layout(Generic[D]):
    """A stage's rows: the table columns (people) and the JSON object of one item (machines; the
    shape docs/output.md promises for that verb). `style`: "simple" (aligned columns) or "github"
    (pipes, pasteable in a merge request); `empty`: the line shown instead of a table with no rows."""

    columns: tuple[Column[D], ...]
    record: Callable[[ItemOutcome[D]], Mapping[str, Any]]
    style: Literal["simple", "github"] = "simple"
    empty: str = ""
