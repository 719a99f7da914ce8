"""Journal evidence: what a step records beside its outcome, one frozen dataclass per shape.

Each stage's evidence used to be a `dict[str, Any]` built key by key; a misspelt key or a value of
the wrong type reached the journal unnoticed and the readers (report, retire, terraform) guessed.
These types are the same JSON objects the journal has always held (issue 20): `encode` writes
exactly the keys the dicts had — a key written only in some outcomes is `OMIT_DEFAULT` (absent
when it has its default), and a key that was present *with* a value that can be its default
(`mask: []`, `answer_lost: false`) defaults to None instead, so "absent" and "present" stay apart.

The types live in core, not in the stages that write them, because the journal reader
(`migrate.core.state`) decodes a row by its (stage, kind) and core imports no stage.

`journal_object(evidence)` is how a step's evidence becomes the journal's object: encoded, then
decoded again strictly with its own type, so a mistyped field (`attempts="2"`) is refused at write
(a `TypeError`: a bug of this build, exit 3) instead of being stored.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from migrate.core.codec import OMIT_DEFAULT, CodecError, decode, encode
from migrate.core.outcome import Status

# ---------------------------------------------------------------------------------------------
# apply (stage "apply"): `ActionResult.evidence`; the loop journals each with `dry_run: false`
# (`dry_run` is None — absent — in memory and in `apply --json`, as it was).


@dataclass(frozen=True)
class NoEvidence:
    """An outcome with nothing to record (a refusal, a failure): the empty object."""

    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class Blocked:
    """Skipped because the action cannot run yet (not selected, a dependency that did not run,
    keys left to `wif-migrate keys`): later actions depending on it are skipped too."""

    blocked: Literal[True]
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class BindingEvidence:
    """`ensure_binding`: the members added and those already bound, and how many writes it took.
    `up_to_date` only when nothing was added; `answer_lost` (true or false) only when applied."""

    added: tuple[str, ...]
    already: tuple[str, ...]
    attempts: int
    up_to_date: bool = field(default=False, metadata=OMIT_DEFAULT)
    answer_lost: bool | None = field(default=None, metadata=OMIT_DEFAULT)
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


EnsureOp = Literal["undelete", "create", "patch"]


@dataclass(frozen=True)
class EnsureEvidence:
    """`ensure_pool` / `ensure_provider`: a dry run's `op` (and `mask`), a run's `steps` (and the
    `mask` patched, possibly empty), `up_to_date`, `taken_over` when a lost answer was found done."""

    op: EnsureOp | None = field(default=None, metadata=OMIT_DEFAULT)
    steps: tuple[str, ...] | None = field(default=None, metadata=OMIT_DEFAULT)
    mask: tuple[str, ...] | None = field(default=None, metadata=OMIT_DEFAULT)
    up_to_date: bool = field(default=False, metadata=OMIT_DEFAULT)
    taken_over: bool = field(default=False, metadata=OMIT_DEFAULT)
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class MergeRequestEvidence:
    """`merge_request`, not merged: where the change goes (project, branch, target, files — never
    their content) and what is there (`mr_iid`/`web_url` of an open or closed MR, the branch head
    `commit_sha`), `blocked` with `waiting_for` the consumer MRs a template's change waits for,
    `taken_over` after GitLab answered "already exists"."""

    project: str
    branch: str
    target_branch: str
    files: tuple[str, ...]
    mr_iid: int | None = field(default=None, metadata=OMIT_DEFAULT)
    web_url: str | None = field(default=None, metadata=OMIT_DEFAULT)
    commit_sha: str | None = field(default=None, metadata=OMIT_DEFAULT)
    blocked: bool = field(default=False, metadata=OMIT_DEFAULT)
    waiting_for: tuple[str, ...] | None = field(default=None, metadata=OMIT_DEFAULT)
    taken_over: bool = field(default=False, metadata=OMIT_DEFAULT)
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class MergedEvidence:
    """`merge_request`, already merged: the MR and its merge commit (`merge_commit_sha` null for a
    fast-forward merge, `merged_at` as GitLab said it; both always written)."""

    project: str
    branch: str
    target_branch: str
    files: tuple[str, ...]
    mr_iid: int
    web_url: str
    merge_commit_sha: str | None
    merged_at: str | None
    taken_over: bool = field(default=False, metadata=OMIT_DEFAULT)
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


ApplyEvidence = NoEvidence | Blocked | BindingEvidence | EnsureEvidence | MergeRequestEvidence | MergedEvidence


# The shapes an apply row of each action kind may hold, tried in this order (the first that fits
# is the row's type: `{}` is NoEvidence, never an EnsureEvidence with nothing set).
_APPLY_COMMON: tuple[type, ...] = (NoEvidence, Blocked)
APPLY_EVIDENCE: dict[str, tuple[type, ...]] = {
    "ensure_binding": (*_APPLY_COMMON, BindingEvidence),
    "ensure_pool": (*_APPLY_COMMON, EnsureEvidence),
    "ensure_provider": (*_APPLY_COMMON, EnsureEvidence),
    "merge_request": (*_APPLY_COMMON, MergedEvidence, MergeRequestEvidence),
}


def read_apply(kind: str, data: Any) -> ApplyEvidence:
    """An apply row's evidence as its type (`APPLY_EVIDENCE`; a kind apply has no executor for —
    keys are `wif-migrate keys`'s — holds only the common shapes); `CodecError` naming the most
    specific shape's problem when none fits."""
    return typing.cast(ApplyEvidence, first_fit(APPLY_EVIDENCE.get(kind, _APPLY_COMMON), data))


def first_fit(types: tuple[type, ...], data: Any) -> Any:
    """`data` decoded as the first of `types` it fits; else the last type's refusal."""
    for cls in types[:-1]:
        try:
            return decode(cls, data)
        except CodecError:
            continue
    return decode(types[-1], data)


def blocks(evidence: ApplyEvidence) -> bool:
    """Whether the actions depending on this one must wait (`blocked` recorded)."""
    return isinstance(evidence, Blocked) or (isinstance(evidence, MergeRequestEvidence) and evidence.blocked)


def added_members(evidence: ApplyEvidence) -> tuple[str, ...]:
    """The members a binding adds (none for any other evidence)."""
    return evidence.added if isinstance(evidence, BindingEvidence) else ()


# ---------------------------------------------------------------------------------------------
# verify (stage "verify", kind "verify"): `VerifyResult.evidence()`, every key always written.


@dataclass(frozen=True)
class JobRow:
    """One job of a post-merge pipeline that verify judged (GitLab's job status word)."""

    project: str
    pipeline_id: int
    job: str
    job_id: int
    status: str
    web_url: str


@dataclass(frozen=True)
class UnverifiedJob:
    """A job that keeps its project pending although the pipeline ran; an operator may accept it
    by name at retire time (`keys retire --accept-job PROJECT:JOB`)."""

    project: str
    job: str
    reason: str


@dataclass(frozen=True)
class PipelineEvidence:
    """One project's check: its pipeline after the merge (None when there is none yet)."""

    project: str
    pipeline_id: int | None
    status: Status
    detail: str
    jobs: tuple[JobRow, ...]


@dataclass(frozen=True)
class VerifyEvidence:
    """A merge request's verification: the MR (`mr_state` merged when it is), the pipelines judged,
    their jobs, the jobs that keep it pending, and whether only such named jobs do (`acceptable`).
    `pipeline_id` is the one pipeline's when exactly one project was checked."""

    project: str
    mr_iid: int | None
    mr_state: str | None
    web_url: str
    merge_commit_sha: str | None
    merged_at: str | None
    status: Status
    pipeline_id: int | None
    pipelines: tuple[PipelineEvidence, ...]
    jobs: tuple[JobRow, ...]
    unverified_jobs: tuple[UnverifiedJob, ...]
    acceptable: bool


# ---------------------------------------------------------------------------------------------
# Reading the journal: a row's evidence as its type


@dataclass(frozen=True)
class LegacyEvidence:
    """A row's evidence that no type of this build fits, kept whole: `raw` is the object as stored,
    `reason` says why it is not typed. Rows of older builds (a key this build no longer writes, such
    as a provider's `attribute_condition`), a hand-edited row, and the rows of stages whose evidence
    has no type yet (`keys`, intents) read this way: never refused, never lost, and the readers that
    knew those rows read `raw` as they read the dict before."""

    raw: Mapping[str, Any]
    reason: str


JournalEvidence = ApplyEvidence | VerifyEvidence | LegacyEvidence


def read_journal(stage: str, kind: str, phase: str, data: Mapping[str, Any]) -> JournalEvidence:
    """A journal row's evidence decoded by its (stage, kind): strictly into the type this build
    writes for it (apply: `read_apply`; verify's outcomes: `VerifyEvidence`), else `LegacyEvidence`
    with the codec's refusal as the reason (see there)."""
    try:
        if stage == "apply":
            return read_apply(kind, data)
        if stage == "verify" and phase == "outcome":
            return decode(VerifyEvidence, data)
    except CodecError as exc:
        return LegacyEvidence(data, f"not {stage} {kind} evidence of this build: {exc}")
    return LegacyEvidence(data, f"{stage} {phase} evidence has no type in this build")


# ---------------------------------------------------------------------------------------------
# Writing


def journal_object(evidence: Any) -> dict[str, Any]:
    """The journal's JSON object for a step's typed evidence, refused when a field does not fit
    its type (encode, then decode strictly with the same type)."""
    data = encode(evidence)
    if not isinstance(data, dict):
        raise TypeError(f"journal evidence must be a dataclass, got {type(evidence).__name__}")
    try:
        decode(type(evidence), data)
    except CodecError as exc:
        raise TypeError(f"journal evidence {type(evidence).__name__} does not fit its type: {exc}") from None
    return data
