"""Key retirement runs: gather evidence, ask the gates (`migrate.retire.gates`), act, journal every step.

`retire` disables keys, `delete` deletes them (and the GitLab variables that held them) after the
grace period, `rollback` re-enables one, `orphans` lists keys no variable holds. The backends are
passed in (`KeyAdmin`, `VariableAdmin` protocols; the real ones live in `migrate.google` and
`migrate.gitlab`), so this module does no I/O of its own besides the `State` journal.

Journal (stage "keys", see docs/keys.md): an *intent* row before each mutating call and an
*outcome* row after (applied | failed); refusals, skips and dry-run results are outcome rows only
(nothing was attempted). Evidence always carries who, when and the gate evidence.

Times are aware UTC `datetime`s here (`RunOptions`, `Migration`, `Rollback`, the disable
history; `JournalEntry.ts` is one already); verify's `merged_at` evidence string is decoded where it
is read, with `codec.decode_time`, and times are written back with `codec.format_time`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from migrate.core.codec import decode_time, encode_time
from migrate.core.codec import format_time as iso
from migrate.core.errors import BackendError, UsageError
from migrate.core.evidence import LegacyEvidence, VerifyEvidence
from migrate.core.model import (
    Action,
    BindingParams,
    DeleteKeyParams,
    DisableKeyParams,
    JournaledKey,
    KeyVariable,
    MergeRequestParams,
    Plan,
    PlanInputs,
    params_as,
    to_dict,
)
from migrate.core.outcome import Status, journal_word
from migrate.core.state import JournalEntry, State
from migrate.retire import gates as gates
from migrate.retire.gates import Decision, Migration, delete_decision, disable_decision
from migrate.retire.ports import (
    KeyAdmin,
    LiveKey,
    ScheduleReader,
    UsageSignal,
    VariableAdmin,
)

log = logging.getLogger(__name__)

STAGE = "keys"
#: a verify row's outcome word for "verified" (the journal's words: core.outcome.journal_word)
_VERIFIED = journal_word(Status.VERIFIED)


# --- backends -----------------------------------------------------------------------------------


# --- items and results --------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyItem:
    """One key to retire, with what its retirement waits for (from the plan, or an orphan)."""

    service_account: str
    key_id: str
    action_id: str  # the plan's disable_key action id (the key id for an orphan)
    delete_action_id: str
    mr_actions: tuple[tuple[str, str], ...] = ()  # (merge_request action id, its target)
    variables: tuple[KeyVariable, ...] = ()
    orphan: bool = False
    manual: tuple[str, ...] = ()  # plan `blocked_by`: files needing manual migration that use the key
    key_project: str | None = None  # the service account's project when the e-mail does not say
    projects: tuple[str, ...] = ()  # projects whose pipelines used the key (MR consumers)
    # projects that can read one of its variables but whose CI the scan did not check (plan
    # `outside_readers` and the plan's recorded inputs); each blocks unless accepted for this key
    outside: tuple[dict[str, Any], ...] = ()
    # the plan's no-use window (days) and why, from the schedules scan recorded; retire re-reads
    # the schedules live and the longer window wins
    planned_window_days: int = 0
    planned_window_reason: str = ""

    @property
    def resource(self) -> str:
        from migrate.core.key_names import key_name  # pure string helper

        return key_name(self.service_account, self.key_id, self.key_project)

    @property
    def label(self) -> str:
        return f"{self.service_account}#{self.key_id[:8]}"


@dataclass(frozen=True)
class StepResult:
    """One journaled step: what, on what, and how it ended (with the gate evidence)."""

    kind: str  # disable_key | delete_key | delete_variable | rollback_key
    action_id: str
    target: str
    outcome: Status  # applied | skipped | refused | would_apply | failed (as an apply action's)
    detail: str
    blocking: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOptions:
    now: datetime
    dry_run: bool = False
    accept_unknown: str | None = None
    grace_days: int = 14
    only_keys: tuple[str, ...] = ()  # --key: restrict to these; an orphan must be named here
    accept_outside: tuple[str, ...] = ()  # --accept-outside-readers: key ids whose outside readers are accepted
    plan_time: datetime | None = None  # cut-over for keys held but used by no project (plan generated_at)
    include_rolled_back: bool = False  # --include-rolled-back: a rolled-back key may be disabled again
    accept_jobs: tuple[str, ...] = ()  # --accept-job PROJECT:JOB: accepted without job-level evidence


def exit_code(results: Sequence[StepResult]) -> int:
    """1 when anything was refused or failed, else 0 (all done, or nothing to do)."""
    return 1 if any(r.outcome in (Status.REFUSED, Status.FAILED) for r in results) else 0


# --- plan → items -------------------------------------------------------------------------------

def items_from_plan(plan: Plan) -> list[KeyItem]:
    """One item per `disable_key` action, with its merge-request dependencies and variables."""
    by_id = {a.id: a for a in plan.actions}
    deletes = {a.params.key_id: a for a in plan.actions if isinstance(a.params, DeleteKeyParams)}
    items = []
    for action in plan.actions:
        if action.kind != "disable_key":
            continue
        p = params_as(action, DisableKeyParams)
        mrs = tuple((d, by_id[d].target) for d in action.depends_on
                    if d in by_id and by_id[d].kind == "merge_request")
        retired = list(p.variables)
        delete = deletes.get(p.key_id)
        if delete is not None:
            retired += [v for v in params_as(delete, DeleteKeyParams).variables if v not in retired]
        manual = p.blocked_by + tuple(uncovered_users(plan, p.key_id, {d for d, _ in mrs}, p.blocked_by))
        users = sorted({c for d, _ in mrs for c in _users(params_as(by_id[d], MergeRequestParams)) if c})
        items.append(KeyItem(service_account=p.service_account, key_id=p.key_id,
                             action_id=action.id, delete_action_id=delete.id if delete else action.id,
                             mr_actions=mrs, variables=tuple(v.as_key_variable() for v in retired),
                             manual=manual,
                             key_project=p.key_project or None,
                             outside=outside_readers_of(plan, p.key_id, [to_dict(r) for r in p.outside_readers]),
                             projects=tuple(users),
                             planned_window_days=max(0, p.no_use_window_days),
                             planned_window_reason=p.no_use_window_reason))
    return items


def _users(params: MergeRequestParams) -> tuple[str, ...]:
    """The projects whose pipelines a merge request changes."""
    return params.consumers or (params.project,)


def outside_readers_of(plan: Plan, key_id: str, listed: Any) -> tuple[dict[str, Any], ...]:
    """The readers outside the scope of a key: the disable step's list, plus every one the plan's
    recorded inputs hold for a variable holding the key (so a list cut out of the step by hand still
    blocks; inputs edited by hand are caught by `uncovered_users`' digest check)."""
    rows = [dict(r) for r in listed or () if isinstance(r, dict)]
    if plan.inputs is not None:
        holders = _holders(plan.inputs, key_id)
        rows += [to_dict(r) for r in plan.inputs.outside_readers if r.variable in holders]
    unique = {(str(r.get("variable")), str(r.get("project")), str(r.get("reason"))): r for r in rows}
    return tuple(unique[k] for k in sorted(unique))


def _holders(inputs: PlanInputs, key_id: str) -> set[str]:
    """Refs of the plan's key variables that hold the key `key_id`."""
    return {v.ref for v in inputs.variables if v.key is not None and v.key.key_id == key_id}


def uncovered_users(plan: Plan, key_id: str, mr_ids: set[str], blocked: Sequence[str]) -> list[str]:
    """Files that use the key (by the plan's own recorded inputs) but that the disable step neither
    waits for nor lists as blocking: a plan edited by hand to disable a key before its users are
    migrated. Each becomes a blocker with the reason, so the gate refuses and names it."""
    from migrate.plan.planner import inputs_digest

    if plan.inputs is None:
        return []  # an old-format plan: the dependencies are all we have
    if inputs_digest(plan.inputs) != plan.inputs_digest:
        return ["the plan's inputs were edited (digest mismatch); re-run `wif-migrate plan`"]
    holders = _holders(plan.inputs, key_id)
    missing: list[str] = []
    for u in plan.inputs.usages:
        if not holders & set(u.variables):
            continue
        file_ref = f"file:{u.file_project}:{u.file_path}"
        mr_id = f"merge_request:{u.file_project}:{u.file_path}"
        if mr_id not in mr_ids and file_ref not in blocked and not any(file_ref in b for b in missing):
            missing.append(f"{file_ref}: uses the key but the plan's disable step does not wait for its "
                           "migration (plan edited by hand?)")
    # a template whose consumers copy its authentication: their merge requests (the ID token the
    # copies read) are part of the migration, so their verification is evidence the key needs too
    for action in plan.actions:
        if action.id not in mr_ids or not isinstance(action.params, MergeRequestParams):
            continue
        for consumer_mr in action.params.after_merged:
            if consumer_mr not in mr_ids and not any(consumer_mr in b for b in missing):
                missing.append(f"{consumer_mr}: a consumer merge request of {action.id}, which the plan's "
                               "disable step does not wait for (plan edited by hand?)")
    return missing


def service_accounts_in_scope(plan: Plan, extra: Iterable[str] = ()) -> list[str]:
    found = {sa.lower() for a in plan.actions if (sa := _account_of(a))}
    found.update(e.lower() for e in extra)
    return sorted(found)


def _account_of(action: Action) -> str:
    if isinstance(action.params, (DisableKeyParams, BindingParams)):
        return action.params.service_account
    return ""


# --- journal reads ------------------------------------------------------------------------------

class OutcomeJournal(Protocol):
    """What the gates read from the journal: an action's latest outcome row (`State` has it)."""

    def last_outcome(self, action_id: str, stage: str | None = None) -> JournalEntry | None: ...


class EntriesJournal:
    """`OutcomeJournal` over journal rows already read (the report has them as a list)."""

    def __init__(self, entries: Iterable[JournalEntry]) -> None:
        self._last: dict[tuple[str, str], JournalEntry] = {}
        for e in entries:
            if e.phase == "outcome":
                self._last[(e.stage, e.action_id)] = e

    def last_outcome(self, action_id: str, stage: str | None = None) -> JournalEntry | None:
        if stage is not None:
            return self._last.get((stage, action_id))
        rows = [e for (_, aid), e in self._last.items() if aid == action_id]
        return max(rows, key=lambda e: e.seq) if rows else None


def disable_blockers(plan: Plan, entries: Iterable[JournalEntry]) -> dict[str, tuple[str, ...]]:
    """Key id → what makes `keys retire` refuse it from the plan and the journal alone (empty when
    nothing does): `keys.evidence_blockers`, the gate `disable_decision` applies first, on the same
    items (`items_from_plan`) and verify outcomes (`migrations_from_journal`). The report derives
    "can be disabled" from this, never from its own reading of the history."""
    journal = EntriesJournal(entries)
    return {item.key_id: tuple(gates.evidence_blockers(item.key_id, migrations_from_journal(journal, item.mr_actions),
                                                       item.manual, item.outside))
            for item in items_from_plan(plan)}


def migrations_from_journal(state: OutcomeJournal, mr_actions: Sequence[tuple[str, str]],
                            accept_jobs: Iterable[str] = ()) -> list[Migration]:
    """Each MR action's verify status: verified iff the latest verify outcome is `applied` — or it
    is pending only on named jobs that did not show federation evidence (did not run, manual, no
    marker; verify's `acceptable`) and the operator accepted every one of them by PROJECT:JOB."""
    accepted = {a.strip() for a in accept_jobs}
    out = []
    for action_id, target in mr_actions:
        entry = state.last_outcome(action_id, stage="verify")
        if entry is None:
            out.append(Migration(action_id, target, False, detail="no verify outcome recorded"))
            continue
        merged_text, jobs, acceptable = _verify_row(entry)
        # verify's merged_at evidence string becomes a time here; the evidence rows keep their
        # spelling (`recorded`: the merged_at text and the row's ts column text)
        merged_at = decode_time(merged_text) if merged_text else None
        verified_at = entry.ts
        recorded = (merged_text, entry.ts_text)
        if entry.outcome != _VERIFIED and acceptable and jobs and set(jobs) <= accepted:
            out.append(Migration(action_id, target, True, merged_at, verified_at,
                                 recorded=recorded, detail=f"jobs accepted by the operator: {', '.join(jobs)}",
                                 accepted_jobs=tuple(jobs)))
            continue
        detail = "" if entry.outcome == _VERIFIED else f"verify {entry.outcome}: {entry.detail}"
        if jobs and entry.outcome != _VERIFIED and acceptable:
            detail += f" (to accept without that evidence: --accept-job {' --accept-job '.join(jobs)})"
        out.append(Migration(action_id, target, entry.outcome == _VERIFIED, merged_at, verified_at, detail,
                             recorded=recorded))
    return out


def _verify_row(entry: JournalEntry) -> tuple[str | None, list[str], bool]:
    """What the gates read of a verify outcome: (merged_at text, the PROJECT:JOB names that keep it
    pending, whether only such jobs do). This build's rows are `VerifyEvidence`; a row of an older
    build or a hand edit (`LegacyEvidence`) is read from its stored object as the dict always was —
    `merged_at`, else `merge_time`, else a nested `merge_request.merged_at`."""
    ev = entry.typed_evidence
    if isinstance(ev, VerifyEvidence):
        return ev.merged_at or None, [f"{u.project}:{u.job}" for u in ev.unverified_jobs], ev.acceptable
    if not isinstance(ev, LegacyEvidence):  # an apply row's shape: not a verify outcome, nothing to read
        return None, [], False
    raw = ev.raw or {}
    merged = raw.get("merged_at") or raw.get("merge_time") or (raw.get("merge_request") or {}).get("merged_at")
    jobs = [f"{u.get('project')}:{u.get('job')}" for u in raw.get("unverified_jobs") or () if isinstance(u, dict)]
    return (str(merged) if merged else None), jobs, bool(raw.get("acceptable"))


def disable_history(state: State, resource: str) -> tuple[datetime | None, datetime | None]:
    """(disabled since, last rollback) for a key, from the keys-stage journal.

    "Disabled since" is the first disable outcome (applied, or skipped because already disabled)
    after the latest rollback; when the latest event is a rollback it is the last disable before it.
    """
    disables: list[datetime] = []
    rollback: datetime | None = None
    for e in state.entries(stage=STAGE):
        if e.target != resource or e.phase != "outcome":
            continue
        if e.kind == "disable_key" and e.outcome in (Status.APPLIED, Status.SKIPPED) and e.evidence.get("disabled", True):
            disables.append(e.ts)
        elif e.kind == "rollback_key" and e.outcome == Status.APPLIED:
            rollback = e.ts
    if not disables:
        return None, rollback
    if rollback is None:
        return disables[0], None
    after = [d for d in disables if d > rollback]
    return (after[0], None) if after else (disables[-1], rollback)


@dataclass(frozen=True)
class Rollback:
    """The operator's latest re-enable of a key (journaled by `keys rollback`)."""

    ts: datetime
    who: str
    reason: str


def standing_rollback(state: State, resource: str) -> Rollback | None:
    """The latest applied rollback of the key that no later disable superseded, else None."""
    latest: Rollback | None = None
    for e in state.entries(stage=STAGE):
        if e.target != resource or e.phase != "outcome" or e.outcome != Status.APPLIED:
            continue
        if e.kind == "rollback_key":
            latest = Rollback(e.ts, str(e.evidence.get("who") or e.actor),
                              str(e.evidence.get("reason") or e.detail))
        elif e.kind == "disable_key" and latest is not None and e.ts >= latest.ts:
            latest = None
    return latest


def resolve_key_id(given: str, known: Iterable[str], what: str = "key") -> str:
    """A full key id from a unique prefix of the known ones (the 8-character ids shown in tables
    are accepted wherever a key id is). An ambiguous prefix is an error listing the matches; a
    prefix matching nothing is returned unchanged (the caller may know more keys, or refuse)."""
    text = given.strip().lower()
    if not text:
        raise UsageError(f"{what}: empty key id")
    ids = sorted({k.lower() for k in known if k})
    if text in ids:
        return text
    if len(text) < 4:
        raise UsageError(f"{what} {given!r}: give at least 4 characters of the key id")
    matches = [k for k in ids if k.startswith(text)]
    if len(matches) > 1:
        raise UsageError(f"{what} {given!r} is ambiguous; it matches: " + ", ".join(matches))
    return matches[0] if matches else text


def _days(gap: timedelta) -> str:
    days = gap.total_seconds() / 86400
    return f"{days:.0f} day(s)" if days >= 1 else f"{gap.total_seconds() / 3600:.1f} hour(s)"


# --- the runs -----------------------------------------------------------------------------------

class Retirement:
    """Runs the key steps for one command invocation."""

    def __init__(self, state: State, keys: KeyAdmin, variables: VariableAdmin | None, options: RunOptions,
                 schedules: ScheduleReader | None = None) -> None:
        self.state = state
        self.keys = keys
        self.variables = variables
        self.options = options
        self.results: list[StepResult] = []
        self.schedules = schedules

    def schedule_window(self, item: KeyItem) -> tuple[timedelta, str, str | None]:
        """(window, why, error): the longest interval of any active pipeline schedule of the
        projects that used the key — a job run only from a monthly schedule looks unused for a
        month. Zero when there is none; an unreadable schedule list or cron is an error."""
        from migrate.core.cron import max_interval

        planned = timedelta(days=item.planned_window_days)
        if self.schedules is None or not item.projects:
            if planned:
                return planned, f"{item.planned_window_reason} (as scanned)", None
            return timedelta(0), "no pipeline schedules looked at", None
        best, why = planned, (f"{item.planned_window_reason} (as scanned)" if planned
                              else "no active pipeline schedule in " + ", ".join(item.projects))
        for project in item.projects:
            try:
                rows = self.schedules.schedules(project)
            except BackendError as exc:
                return timedelta(0), "", f"cannot read the pipeline schedules of {project}: {exc}"
            for row in rows:
                try:
                    gap = max_interval(str(row.get("cron") or ""))
                except ValueError as exc:
                    return timedelta(0), "", f"pipeline schedule {row.get('id')} of {project}: {exc}"
                if gap > best:
                    best = gap
                    why = (f"pipeline schedule {row.get('id')} of {project} ({row.get('description') or 'no description'}"
                           f", cron {row.get('cron')!r}) runs as rarely as every {_days(gap)}")
        return best, why, None

    # journal + result in one place, so nothing is reported that was not journaled
    def _finish(self, kind: str, action_id: str, target: str, outcome: Status, detail: str,
                decision: Decision | None = None, extra: dict[str, Any] | None = None, *,
                key: KeyItem) -> StepResult:
        evidence: dict[str, Any] = {"who": self.state.actor, "when": self.state.now_text(), "dry_run": self.options.dry_run,
                                    **to_dict(JournaledKey(key.service_account, key.key_id))}
        blocking: tuple[str, ...] = ()
        if decision is not None:
            evidence.update(decision.evidence)
            blocking = decision.blocking
            if blocking:
                evidence["blocking"] = list(blocking)
        if evidence.get("accepted_unknown_usage"):
            evidence["accepted_unknown_usage_by"] = self.state.actor
        if evidence.get("accepted_outside_readers"):
            evidence["accepted_outside_readers_by"] = self.state.actor
        evidence.update(extra or {})
        self.state.outcome(STAGE, action_id, kind, target, outcome, detail, evidence)
        result = StepResult(kind, action_id, target, outcome, detail, blocking, evidence)
        self.results.append(result)
        log.info("%s %s: %s (%s)", kind, target, outcome, detail)
        return result

    def _key_read(self, kind: str, item: KeyItem) -> LiveKey | None:
        try:
            return self.keys.get_key(item.service_account, item.key_id)
        except BackendError as exc:
            self._finish(kind, item.action_id if kind == "disable_key" else item.delete_action_id,
                         item.resource, Status.FAILED, f"cannot read the key: {exc}", key=item)
            return None

    def retire(self, items: Sequence[KeyItem]) -> list[StepResult]:
        for item in items:
            self._retire_one(item)
        return self.results

    def _retire_one(self, item: KeyItem) -> None:
        rolled = standing_rollback(self.state, item.resource)
        plan_time = self.options.plan_time
        if rolled is not None and not self.options.include_rolled_back and (
                plan_time is None or plan_time <= rolled.ts):
            # Google's usage signal lags a day: right after a rollback the gates would pass again.
            # A rolled-back key stays enabled until the operator re-plans or says so.
            self._finish("disable_key", item.action_id, item.resource, Status.REFUSED,
                         f"rolled back at {iso(rolled.ts)} by {rolled.who} ({rolled.reason}); it stays enabled "
                         "until you re-run `wif-migrate plan` or pass --include-rolled-back",
                         extra={"service_account": item.service_account, "key_id": item.key_id,
                                "rolled_back_at": iso(rolled.ts), "rolled_back_by": rolled.who,
                                "rollback_reason": rolled.reason}, key=item)
            return
        live = self._key_read("disable_key", item)
        if live is None:
            return
        if live.disabled and live.disable_reason in ("EXPOSED", "COMPROMISE_DETECTED"):
            # Google's exposure response, not ours: an incident for the report, never a step.
            self._finish("disable_key", item.action_id, item.resource, Status.SKIPPED,
                         f"disabled by Google itself ({live.disable_reason}): an incident, not a retirement "
                         "step; see the report", extra={"service_account": item.service_account,
                                                        "key_id": item.key_id, "disabled": False,
                                                        "incident": live.disable_reason}, key=item)
            return
        signal = UsageSignal()
        if live.exists and not live.disabled:
            signal = self.keys.last_authentication(item.service_account, item.key_id)
        migrations = migrations_from_journal(self.state, item.mr_actions, self.options.accept_jobs)
        decision = disable_decision(live, migrations, signal, self.options.now, self.options.accept_unknown,
                                    cutover_if_unused=self.options.plan_time, manual=item.manual,
                                    orphan=item.orphan, outside=item.outside,
                                    accept_outside=item.key_id in self.options.accept_outside)
        meta: dict[str, Any] = {"service_account": item.service_account, "key_id": item.key_id,
                                "orphan": item.orphan}
        accepted = [j for m in migrations for j in m.accepted_jobs]
        if accepted:
            meta.update(accepted_jobs=accepted, accepted_jobs_by=self.state.actor)
        if decision.verdict == "skip":
            self._finish("disable_key", item.action_id, item.resource, Status.SKIPPED, decision.reason, decision,
                         {**meta, "disabled": live.exists}, key=item)
            return
        if decision.verdict == "proceed" and not item.orphan:
            decision = self._schedule_gate(item, decision, meta)
        if decision.verdict == "refuse":
            self._finish("disable_key", item.action_id, item.resource, Status.REFUSED, decision.reason, decision, meta, key=item)
            return
        if self.options.dry_run:
            self._finish("disable_key", item.action_id, item.resource, Status.WOULD_APPLY, decision.reason, decision,
                         {**meta, "disabled": False}, key=item)
            return
        self.state.intent(STAGE, item.action_id, "disable_key", item.resource, decision.reason, meta)
        try:
            self.keys.disable_key(item.service_account, item.key_id)
        except BackendError as exc:
            self._finish("disable_key", item.action_id, item.resource, Status.FAILED, str(exc), decision,
                         {**meta, "disabled": False}, key=item)
            return
        self._finish("disable_key", item.action_id, item.resource, Status.APPLIED, decision.reason, decision, meta, key=item)

    def _schedule_gate(self, item: KeyItem, decision: Decision, meta: dict[str, Any]) -> Decision:
        """Schedule-aware no-use window: the cut-over must lie at least the longest schedule
        interval of the key's projects in the past (else a scheduled job may still need the key)."""
        window, why, error = self.schedule_window(item)
        meta.update(no_use_window_days=round(window.total_seconds() / 86400, 2), no_use_window_reason=why or error)
        if error:
            return Decision("refuse", f"{error}; the no-use window cannot be known", (error,), decision.evidence)
        cutover = decision.cutover
        if window and cutover is not None and self.options.now - cutover < window:
            until = iso(cutover + window)
            reason = (f"{why}: the key must show no use for that long after the cut-over {iso(cutover)}; "
                      f"not before {until}")
            return Decision("refuse", reason, (reason,), decision.evidence)
        if window:
            return Decision(decision.verdict, f"{decision.reason}; no-use window {_days(window)} ({why}) passed",
                            decision.blocking, decision.evidence)
        return decision

    def delete(self, items: Sequence[KeyItem]) -> list[StepResult]:
        for item in items:
            self._delete_one(item)
        return self.results

    def _delete_one(self, item: KeyItem) -> None:
        live = self._key_read("delete_key", item)
        if live is None:
            return
        disabled_at, rolled_back_at = disable_history(self.state, item.resource)
        signal = UsageSignal()
        if live.exists and live.disabled and disabled_at:
            signal = self.keys.last_authentication(item.service_account, item.key_id)
        window, why, error = self.schedule_window(item)
        grace = max(self.options.grace_days, math.ceil(window.total_seconds() / 86400))
        if error:
            self._finish("delete_key", item.delete_action_id, item.resource, Status.REFUSED,
                         f"{error}; the grace period cannot be known",
                         extra={"service_account": item.service_account, "key_id": item.key_id}, key=item)
            return
        decision = delete_decision(live, disabled_at, rolled_back_at, signal, self.options.now,
                                   grace, self.options.accept_unknown)
        if grace > self.options.grace_days:
            decision = Decision(decision.verdict, f"{decision.reason} (grace {grace} days: {why})",
                                decision.blocking, {**decision.evidence, "grace_days": grace, "grace_reason": why})
        meta = {"service_account": item.service_account, "key_id": item.key_id}
        aid = item.delete_action_id
        if decision.verdict == "refuse":
            self._finish("delete_key", aid, item.resource, Status.REFUSED, decision.reason, decision, meta, key=item)
            return
        if decision.verdict == "done":
            self._finish("delete_key", aid, item.resource, Status.APPLIED, "already deleted", decision,
                         {**meta, "already_done": True}, key=item)
        elif self.options.dry_run:
            self._finish("delete_key", aid, item.resource, Status.WOULD_APPLY, decision.reason, decision, meta, key=item)
        else:
            self.state.intent(STAGE, aid, "delete_key", item.resource, decision.reason, meta)
            try:
                deleted = self.keys.delete_key(item.service_account, item.key_id)
            except BackendError as exc:
                self._finish("delete_key", aid, item.resource, Status.FAILED, str(exc), decision, meta, key=item)
                return
            detail = decision.reason if deleted else "already deleted (404)"
            self._finish("delete_key", aid, item.resource, Status.APPLIED, detail, decision,
                         {**meta, "already_done": not deleted}, key=item)
        for var in item.variables:
            self._delete_variable(item, var)

    def _delete_variable(self, item: KeyItem, var: KeyVariable) -> None:
        aid = item.delete_action_id
        meta: dict[str, Any] = {"key_id": item.key_id, "service_account": item.service_account, "level": var.level,
                "owner": var.owner, "name": var.name, "environment_scope": var.environment_scope}
        if self.variables is None:
            self._finish("delete_variable", aid, var.ref, Status.FAILED, "no GitLab connection configured", extra=meta, key=item)
            return
        try:
            held = self.variables.holding(var)
        except BackendError as exc:
            self._finish("delete_variable", aid, var.ref, Status.FAILED, str(exc), extra=meta, key=item)
            return
        if not held.exists:
            self._finish("delete_variable", aid, var.ref, Status.APPLIED, "already deleted",
                         extra={**meta, "already_done": True}, key=item)
            return
        if held.readable and held.key_id != item.key_id:
            what = f"key {held.key_id[:8]}…" if held.key_id else "something that is not a key file"
            self._finish("delete_variable", aid, var.ref, Status.REFUSED,
                         f"the variable now holds {what}, not the retired key; left in place", extra=meta, key=item)
            return
        meta["value_readable"] = held.readable
        if self.options.dry_run:
            self._finish("delete_variable", aid, var.ref, Status.WOULD_APPLY, "holds the retired key", extra=meta, key=item)
            return
        self.state.intent(STAGE, aid, "delete_variable", var.ref, "holds the retired key", meta)
        try:
            deleted = self.variables.delete(var)
        except BackendError as exc:
            self._finish("delete_variable", aid, var.ref, Status.FAILED, str(exc), extra=meta, key=item)
            return
        self._finish("delete_variable", aid, var.ref, Status.APPLIED,
                     "deleted" if deleted else "already deleted (404)", extra={**meta, "already_done": not deleted}, key=item)

    def rollback(self, item: KeyItem, reason: str) -> list[StepResult]:
        live = self._key_read("rollback_key", item)
        if live is None:
            return self.results
        meta = {"service_account": item.service_account, "key_id": item.key_id, "reason": reason}
        aid = item.action_id
        if not live.exists:
            self._finish("rollback_key", aid, item.resource, Status.FAILED,
                         "the key was deleted; a deleted key cannot be re-enabled", extra=meta, key=item)
        elif not live.disabled:
            self._finish("rollback_key", aid, item.resource, Status.SKIPPED, "not disabled", extra=meta, key=item)
        elif self.options.dry_run:
            self._finish("rollback_key", aid, item.resource, Status.WOULD_APPLY, reason, extra=meta, key=item)
        else:
            self.state.intent(STAGE, aid, "rollback_key", item.resource, reason, meta)
            try:
                self.keys.enable_key(item.service_account, item.key_id)
            except BackendError as exc:
                self._finish("rollback_key", aid, item.resource, Status.FAILED, str(exc), extra=meta, key=item)
                return self.results
            self._finish("rollback_key", aid, item.resource, Status.APPLIED, f"re-enabled: {reason}", extra=meta, key=item)
        return self.results


# --- orphans ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrphanKey:
    """One row of `keys orphans`, its times as printed (Google's spelling, `encode_time`)."""

    service_account: str
    key_id: str
    created: str | None
    expires: str | None
    disabled: bool
    age_days: int | None
    last_authenticated: str | None
    usage_unknown_reason: str | None
    error: str | None = None  # the service account's keys could not be listed (an ERROR row)


def find_orphans(keys: KeyAdmin, service_accounts: Iterable[str], held: set[str], now: datetime) -> list[OrphanKey]:
    """User-managed keys of these service accounts that no GitLab variable holds. Read-only."""
    out = []
    for sa in service_accounts:
        try:
            listed = keys.list_user_keys(sa)
        except BackendError as exc:
            out.append(OrphanKey(sa, "", None, None, False, None, None, None, error=str(exc)))
            continue
        for key in listed:
            if key.key_id in held or (key.key_type and key.key_type != "USER_MANAGED"):
                continue
            signal = keys.last_authentication(sa, key.key_id)
            age = (now - key.created).days if key.created is not None else None
            out.append(OrphanKey(sa, key.key_id, _printed(key.created), _printed(key.expires), key.disabled, age,
                                 _printed(signal.last_authenticated), signal.unknown_reason))
    return out


def _printed(moment: datetime | None) -> str | None:
    return None if moment is None else encode_time(moment)
