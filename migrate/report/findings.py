"""The canonical findings document: every report format is rendered from this one value.

`build_findings(inventory, plan, journal, now, ...)` is pure: the same inputs give the same document,
and every renderer is a pure function of the document. So the sample report in `reports/sample/` is
reproducible, and a test can pin each format literally. Lists are sorted here, once, so renderers
never need to sort (or look at the clock).

What goes in (see docs/report.md for the exact journal rows read):
- the inventory (where keys are stored and used, Google's facts about them, what could not be read);
- the plan, if any (merge requests, the provider and its attribute condition, the bindings);
- the journal (merge requests opened, verification, keys disabled / deleted / rolled back);
- inventory snapshots (for the burn-down of live keys over time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from migrate import __version__
from migrate.core.model import Inventory, KeyIdentity, OutsideReader, Plan
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry

#: A check's word in the report files (Markdown, HTML, CSV, JSON: an external format, unchanged).
CheckWord = Literal["PASS", "FAIL", "MANUAL", "ERROR"]
#: The one mapping between a check's `Status` and its word in the files (and back).
CHECK_WORD: Mapping[Status, CheckWord] = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.MANUAL: "MANUAL",
                                          Status.ERROR: "ERROR"}
CHECK_STATUS: Mapping[str, Status] = {w: s for s, w in CHECK_WORD.items()}
KeyStatus = Literal["found", "mr_opened", "migrated", "disabled", "deleted"]
KEY_STATUS_ORDER: tuple[KeyStatus, ...] = ("found", "mr_opened", "migrated", "disabled", "deleted")
ProjectState = Literal["keyless", "key", "error", "skipped"]
ExposureKind = Literal["variable", "usage"]
DOCUMENT_VERSION = 1


@dataclass(frozen=True)
class MergeRequestRef:
    """A merge request opened for a key's migration. `state`: opened | merged | verified | failed."""

    action_id: str
    project: str
    url: str
    state: str


@dataclass(frozen=True)
class KeyFinding:
    """One service-account key and where it stands in the migration."""

    service_account: str
    key_id: str
    gcp_project: str
    status: KeyStatus
    status_reason: str  # one sentence: why this status (which journal row or Google fact)
    google_state: str  # enabled | disabled | deleted | unknown (as last observed or journaled)
    created: str | None
    age_days: int | None
    last_used: str | None
    last_used_note: str  # why last use is unknown, or ''
    stored_in: tuple[str, ...]  # KeyVariable.ref
    used_in: tuple[str, ...]  # "project:file:lines"
    used_by: tuple[str, ...]  # projects whose pipelines use it
    merge_requests: tuple[MergeRequestRef, ...]
    bindings: tuple[str, ...]  # principals granted roles/iam.workloadIdentityUser on the SA
    # projects that can read a variable holding the key but whose CI the scan did not check
    outside_readers: tuple[OutsideReader, ...] = ()
    outside_readers_accepted_by: str = ""  # who accepted them when `keys retire` disabled the key

    @property
    def label(self) -> str:
        return KeyIdentity(self.service_account, self.key_id).label


@dataclass(frozen=True)
class KeyExposure:
    """One place a key is held (a CI/CD variable) or used (a CI file location).

    The unit of a GitLab vulnerability and of an offender row in `check`. Never holds key material:
    only the variable name, the key's identity and the file location.
    """

    kind: ExposureKind
    subject: str  # KeyVariable.ref, or "project:path:start-end"
    project: str  # the variable's owner, or the file's project
    variable: str  # variable name ('' when a usage names none)
    service_account: str  # '' when unknown (hidden variable)
    key_id: str
    key_status: KeyStatus | None
    file: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    ref: str | None = None
    jobs: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ProjectFinding:
    path: str
    id: int
    state: ProjectState
    auth: str
    holds: tuple[str, ...]  # key variables owned by the project
    can_read: tuple[str, ...]  # key variables inherited from groups / the instance
    uses: tuple[str, ...]  # usage locations its pipelines run
    keys: tuple[str, ...]  # key labels
    merge_requests: tuple[str, ...]  # urls
    error: str = ""


@dataclass(frozen=True)
class FrameworkRef:
    """A control's id in a framework; `version` is the benchmark version ('' when not versioned)."""

    framework: str
    version: str
    id: str


@dataclass(frozen=True)
class CheckResult:
    """One resource's result of one control's check: passed, failed, error or manual (the one `Status`)."""

    status: Status
    resource: str
    message: str  # one specific sentence naming the resource

    @property
    def word(self) -> CheckWord:
        """PASS | FAIL | ERROR | MANUAL: how the report files write it (`CHECK_WORD`)."""
        return CHECK_WORD[self.status]


@dataclass(frozen=True)
class ControlFinding:
    id: str
    title: str
    severity: str
    description: str
    remediation: str
    frameworks: tuple[FrameworkRef, ...]
    results: tuple[CheckResult, ...]

    @property
    def status(self) -> Status:
        """FAIL beats ERROR beats MANUAL beats PASS: a control passes only if every row passes."""
        statuses = {r.status for r in self.results}
        for status in (Status.FAILED, Status.ERROR, Status.MANUAL):
            if status in statuses:
                return status
        return Status.PASSED

    @property
    def word(self) -> CheckWord:
        """The aggregate as the report files write it (`CHECK_WORD`)."""
        return CHECK_WORD[self.status]


@dataclass(frozen=True)
class ReviewItem:
    """A manual-review item or an ERROR row: what, why, and where it came from."""

    subject: str
    reason: str
    severity: str  # error | manual | warning
    source: str  # inventory | plan | journal | history


@dataclass(frozen=True)
class BurnDownPoint:
    ts: datetime  # aware UTC, to the second; written by the renderers (format_time, encode_time)
    live: int
    event: str


@dataclass(frozen=True)
class Summary:
    keys_found: int
    keys_mr_opened: int  # cumulative: keys at or beyond this stage
    keys_migrated: int
    keys_disabled: int
    keys_deleted: int
    keys_live: int  # not disabled, not deleted
    projects_total: int
    projects_keyless: int
    projects_with_keys: int
    projects_error: int
    percent_done: int  # keys retired (disabled or deleted) / keys found, floor; 100 when none


@dataclass(frozen=True)
class FindingsDocument:
    # aware UTC: the report's time to the second (`--now`), the inventory's and the plan's as their
    # files have them; the formats write them with the codec (JSON via to_dict, the rest as text)
    generated_at: datetime
    tool_version: str
    gitlab_url: str
    gitlab_version: str
    inventory_generated_at: datetime
    plan_generated_at: datetime | None
    identity_project: str
    summary: Summary
    keys: tuple[KeyFinding, ...]
    projects: tuple[ProjectFinding, ...]
    exposures: tuple[KeyExposure, ...]
    controls: tuple[ControlFinding, ...]
    manual: tuple[ReviewItem, ...]
    errors: tuple[ReviewItem, ...]
    burndown: tuple[BurnDownPoint, ...]
    version: int = DOCUMENT_VERSION


def build_findings(inventory: Inventory, plan: Plan | None, journal: Sequence[JournalEntry], now: datetime,
                   snapshots: Iterable[tuple[datetime, object]] = (), tool_version: str = __version__,
                   ) -> FindingsDocument:
    """Assemble the document. `snapshots` are (ts, inventory dict) pairs from the state database."""
    from migrate.report import assemble

    return assemble.assemble(inventory, plan, list(journal), now, list(snapshots), tool_version)
