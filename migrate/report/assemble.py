"""Put the findings document together (the body of `findings.build_findings`).

Key status, in order of progress: found → mr_opened (a merge request was opened for a project that
uses it) → migrated (every merge request for it merged and verified) → disabled → deleted (Google's
state, from the later of the inventory's facts and the journal's key steps; see burndown.py).
A rollback (re-enable) takes a key back to its merge-request status; its time, who and reason are
in the key's status reason. A key Google disabled itself (disableReason EXPOSED or
COMPROMISE_DETECTED) is an *incident*: an ERROR row and the key's status reason say so; it is never
counted as a retirement step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from migrate.core.codec import decode_time_or_none, encode_time, format_time
from migrate.core.model import Inventory, KeyFacts, KeyUsage, KeyVariable, OutsideReader, Plan
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry, unfinished_entries
from migrate.report import burndown, controls, history, planfacts
from migrate.report.findings import (
    FindingsDocument,
    KeyExposure,
    KeyFinding,
    KeyStatus,
    MergeRequestRef,
    ProjectFinding,
    ProjectState,
    ReviewItem,
    Summary,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Index:
    """Lookups built once, so the document is linear-ish in the size of the organisation."""

    usage_keys: dict[int, frozenset[str]]  # position in inventory.usages → key ids
    usages_by_key: dict[str, list[KeyUsage]]
    variables_by_key: dict[str, list[KeyVariable]]
    service_account: dict[str, str]  # key id → e-mail

    @classmethod
    def of(cls, inv: Inventory) -> _Index:
        by_ref = history.variable_keys(inv)
        ukeys = {i: frozenset(history.usage_keys(u, inv, by_ref)) for i, u in enumerate(inv.usages)}
        usages: dict[str, list[KeyUsage]] = {}
        for i, u in enumerate(inv.usages):
            for kid in ukeys[i]:
                usages.setdefault(kid, []).append(u)
        variables: dict[str, list[KeyVariable]] = {}
        for v in inv.variables:
            if v.key:
                variables.setdefault(v.key.key_id, []).append(v)
        sa = {kid: vs[0].key.service_account for kid, vs in variables.items() if vs[0].key}
        return cls(ukeys, usages, variables, sa)


def usage_subject(u: KeyUsage) -> str:
    lines = f"{u.finding.line}" if u.finding.end_line == u.finding.line else f"{u.finding.line}-{u.finding.end_line}"
    return f"{u.file_project}:{u.file_path}:{lines}"


def _load_snapshots(snapshots: list[tuple[datetime, Any]], current: Inventory,
                    errors: list[ReviewItem]) -> list[tuple[datetime, dict[str, str]]]:
    out: list[tuple[datetime, dict[str, str]]] = []
    current_at = encode_time(current.generated_at)  # the text the snapshot's JSON holds
    seen = False  # the current inventory is one of the snapshots (its generated_at text is)
    for ts, body in snapshots:
        try:
            out.append(burndown.observed_from_data(body))
        except (ValueError, AttributeError, TypeError) as exc:  # an unreadable snapshot is an ERROR row
            errors.append(ReviewItem(f"history:inventory@{format_time(ts)}", f"inventory snapshot could not be "
                                     f"read ({exc}); the burn-down skips it", "error", "history"))
            continue
        seen = seen or body["generated_at"] == current_at
    if not seen:
        out.append((current.generated_at, burndown.observed_states(current)))
    return out


def retire_blockers(plan: Plan | None, journal: list[JournalEntry] | None = None) -> dict[str, tuple[str, ...]]:
    """Key id → what makes `keys retire` refuse it from the plan and the journal alone: the very
    gate `keys retire` applies (`migrate.retire.runner.disable_blockers` → `keys.evidence_blockers`)."""
    if plan is None:
        return {}
    from migrate.retire.runner import disable_blockers

    return {kid: why for kid, why in disable_blockers(plan, journal or []).items() if why}


def _mr_status(mrs: list[history.MergeRequestRecord]) -> KeyStatus:
    if not mrs:
        return "found"
    return "migrated" if all(m.state == "verified" for m in mrs) else "mr_opened"


def _status(mrs: list[history.MergeRequestRecord], google: str) -> tuple[KeyStatus, str]:
    if google == "deleted":
        return "deleted", "Google no longer has the key (deleted)."
    if google == "disabled":
        return "disabled", "The key is disabled in Google."
    status = _mr_status(mrs)
    reasons = {
        "found": "No merge request has been opened for it yet.",
        "mr_opened": f"{sum(m.state == 'verified' for m in mrs)} of {len(mrs)} merge request(s) merged and verified.",
        "migrated": f"All {len(mrs)} merge request(s) merged and verified; the key can be disabled.",
    }
    return status, reasons[status]


def _days(now: datetime, then: datetime | None) -> int | None:
    return (now - then).days if then is not None else None


def _outside_accepted(journal: list[JournalEntry]) -> dict[str, str]:
    """Key id → who accepted its readers outside the scope, from applied disable steps."""
    out: dict[str, str] = {}
    for e in journal:
        ev = e.evidence or {}
        if e.stage == "keys" and e.kind == "disable_key" and e.phase == "outcome" and e.outcome == Status.APPLIED \
                and ev.get("accepted_outside_readers") and ev.get("key_id"):
            out[str(ev["key_id"])] = str(ev.get("accepted_outside_readers_by") or e.actor)
    return out


def _windows(journal: list[JournalEntry]) -> dict[str, str]:
    """Key id → the schedule-aware no-use window of its latest disable decision (`keys retire`)."""
    out: dict[str, str] = {}
    for e in journal:
        ev = e.evidence or {}
        if e.stage == "keys" and e.kind == "disable_key" and e.phase == "outcome" and ev.get("key_id") \
                and ev.get("no_use_window_days"):
            out[str(ev["key_id"])] = (f"No-use window {ev['no_use_window_days']} day(s): "
                                      f"{ev.get('no_use_window_reason') or 'pipeline schedules'}.")
    return out


def _jobs_accepted(journal: list[JournalEntry]) -> dict[str, str]:
    """Key id → the sentence naming jobs the operator accepted without federation evidence
    (`keys retire --accept-job`), from applied disable steps."""
    out: dict[str, str] = {}
    for e in journal:
        ev = e.evidence or {}
        if e.stage == "keys" and e.kind == "disable_key" and e.phase == "outcome" and e.outcome == Status.APPLIED \
                and ev.get("accepted_jobs") and ev.get("key_id"):
            out[str(ev["key_id"])] = (f"Disabled with job(s) accepted without federation evidence by "
                                      f"{ev.get('accepted_jobs_by') or e.actor}: "
                                      + ", ".join(str(j) for j in ev["accepted_jobs"]) + ".")
    return out


INCIDENT_REASONS = ("EXPOSED", "COMPROMISE_DETECTED")


def incident(facts: KeyFacts | None) -> str | None:
    """The incident text for a key Google disabled itself (exposure response), else None."""
    if facts is None or facts.disable_reason not in INCIDENT_REASONS:
        return None
    what = ("its private key was found exposed (for example in a public repository)"
            if facts.disable_reason == "EXPOSED" else "it was used in an attack")
    return (f"INCIDENT: Google disabled key {facts.key.label} itself ({facts.disable_reason}: {what}); "
            "this is not a migration step: treat the key as leaked, review its use and delete it")


def _key_finding(sa: str, kid: str, project: str, facts: KeyFacts | None, idx: _Index, now: datetime,
                 mrs: list[history.MergeRequestRecord], google: str, members: tuple[str, ...],
                 outside: tuple[OutsideReader, ...] = (), accepted_by: str = "",
                 rollback: history.KeyEvent | None = None, jobs_accepted: str = "",
                 blockers: tuple[str, ...] = ()) -> KeyFinding:
    usages = idx.usages_by_key.get(kid, [])
    status, reason = _status(mrs, google)
    if status == "migrated" and blockers:
        # The gate `keys retire` applies (keys.evidence_blockers): never "can be disabled" while a
        # file needing manual migration still uses the key, or a reader outside the scope can read it.
        reason = (f"All {len(mrs)} merge request(s) merged and verified, but `keys retire` refuses it: "
                  f"{'; '.join(blockers)}.")
    if jobs_accepted:
        reason = f"{reason} {jobs_accepted}"
    if incident(facts):
        reason = str(incident(facts))
    elif rollback is not None:
        reason = (f"Rolled back at {format_time(rollback.ts)} by {rollback.actor} ({rollback.detail}); it stays enabled "
                  f"until the next plan. {reason}")
    note = ""
    if facts is None:
        note = "Google facts were not collected for this key."
    elif facts.last_authenticated is None:
        note = facts.last_auth_unknown_reason or "no key-usage signal"
    return KeyFinding(
        service_account=sa, key_id=kid, gcp_project=project, status=status, status_reason=reason,
        google_state=google, created=facts.created if facts else None,
        # Google's createTime text, kept as it came in the inventory; read as a time where it is used
        age_days=_days(now, decode_time_or_none(facts.created) if facts else None),
        last_used=facts.last_authenticated if facts else None, last_used_note=note,
        stored_in=tuple(sorted(v.ref for v in idx.variables_by_key.get(kid, []))),
        used_in=tuple(sorted(usage_subject(u) for u in usages)),
        used_by=tuple(sorted({c for u in usages for c in (u.consumers or (u.file_project,))})),
        merge_requests=tuple(MergeRequestRef(m.action_id, m.project, m.url, m.state) for m in mrs),
        bindings=members, outside_readers=outside, outside_readers_accepted_by=accepted_by,
    )


def _keys(inv: Inventory, idx: _Index, events: list[history.KeyEvent], mrs: list[history.MergeRequestRecord],
          states: dict[str, str], bindings: list[planfacts.BindingFact], now: datetime,
          accepted: dict[str, str] | None = None, jobs_accepted: dict[str, str] | None = None,
          blockers: dict[str, tuple[str, ...]] | None = None) -> tuple[KeyFinding, ...]:
    ident: dict[str, tuple[str, str]] = {}
    for e in events:
        ident.setdefault(e.key_id, (e.service_account, ""))
    for v in inv.variables:
        if v.key:
            ident[v.key.key_id] = (v.key.service_account, v.key.project_id)
    facts = {f.key.key_id: f for f in inv.key_facts}
    for f in inv.key_facts:
        ident[f.key.key_id] = (f.key.service_account, f.key.project_id or ident.get(f.key.key_id, ("", ""))[1])
    mrs_by_key: dict[str, list[history.MergeRequestRecord]] = {}
    for m in mrs:
        for k in m.key_ids:
            mrs_by_key.setdefault(k, []).append(m)
    members_by_sa: dict[str, set[str]] = {}
    for b in bindings:
        members_by_sa.setdefault(b.service_account, set()).update(b.members)
    readers: dict[str, list[OutsideReader]] = {}
    for r in inv.outside_readers:
        readers.setdefault(r.variable, []).append(r)
    out = []
    for kid, (sa, project) in ident.items():
        key_mrs = mrs_by_key.get(kid, [])
        members = tuple(sorted(members_by_sa.get(sa, ())))
        outside = tuple(sorted({r for v in idx.variables_by_key.get(kid, []) for r in readers.get(v.ref, ())},
                               key=lambda r: (r.variable, r.project, r.reason)))
        latest = [e for e in events if e.key_id == kid]
        rolled = latest[-1] if latest and latest[-1].kind == "rollback" else None
        out.append(_key_finding(sa, kid, project, facts.get(kid), idx, now, key_mrs,
                                states.get(kid, "unknown"), members, outside, (accepted or {}).get(kid, ""),
                                rolled, (jobs_accepted or {}).get(kid, ""), (blockers or {}).get(kid, ())))
    return tuple(sorted(out, key=lambda k: (k.service_account, k.key_id)))


def _exposures(inv: Inventory, idx: _Index, status: dict[str, KeyStatus]) -> tuple[KeyExposure, ...]:
    out = []
    for v in inv.variables:
        kid = v.key.key_id if v.key else ""
        detail = f"{v.level} variable, {v.variable_type}, encoding {v.encoding}"
        if v.key is None:
            detail += f"; suspected: {v.suspected_reason or 'value unreadable'}"
        out.append(KeyExposure("variable", v.ref, v.owner, v.name, v.key.service_account if v.key else "", kid,
                            status.get(kid), detail=detail))
    for i, u in enumerate(inv.usages):
        for kid in sorted(idx.usage_keys[i]) or [""]:
            sa = idx.service_account.get(kid, "")
            out.append(KeyExposure("usage", usage_subject(u), u.file_project, u.finding.variable or "", sa, kid,
                                status.get(kid), file=u.file_path, start_line=u.finding.line,
                                end_line=u.finding.end_line, ref=u.ref, jobs=u.finding.jobs,
                                detail=f"{u.finding.kind}: {u.finding.detail}"))
    return tuple(sorted(out, key=lambda e: (e.kind, e.subject, e.key_id)))


def _projects(inv: Inventory, idx: _Index, keys: tuple[KeyFinding, ...],
              mrs: list[history.MergeRequestRecord]) -> tuple[ProjectFinding, ...]:
    labels = {k.key_id: k.label for k in keys}
    own: dict[str, list[KeyVariable]] = {}
    inherited = [v for v in inv.variables if v.level != "project"]
    for v in inv.variables:
        if v.level == "project":
            own.setdefault(v.owner, []).append(v)
    uses_by_project: dict[str, list[int]] = {}
    for i, u in enumerate(inv.usages):
        for c in set(u.consumers or (u.file_project,)):
            uses_by_project.setdefault(c, []).append(i)
    mr_urls: dict[str, list[str]] = {}
    for m in mrs:
        if m.url:
            mr_urls.setdefault(m.project, []).append(m.url)
    out = []
    for p in inv.projects:
        holds = own.get(p.path, [])
        readable = [v for v in inherited if v.level == "instance" or p.path.startswith(v.owner + "/")]
        use_ids = uses_by_project.get(p.path, [])
        uses = [inv.usages[i] for i in use_ids]
        kids = {v.key.key_id for v in holds if v.key} | {k for i in use_ids for k in idx.usage_keys[i]}
        state: ProjectState = "error" if p.status == Status.ERROR else "skipped" if p.status == Status.SKIPPED else (
            "key" if holds or uses else "keyless")
        out.append(ProjectFinding(
            path=p.path, id=p.id, state=state, auth=p.auth, holds=tuple(sorted(v.ref for v in holds)),
            can_read=tuple(sorted(v.ref for v in readable)), uses=tuple(sorted(usage_subject(u) for u in uses)),
            keys=tuple(sorted(labels.get(k, k) for k in kids)),
            merge_requests=tuple(sorted(mr_urls.get(p.path, []))),
            error=p.error or ""))
    return tuple(sorted(out, key=lambda p: p.path))


def _summary(keys: tuple[KeyFinding, ...], projects: tuple[ProjectFinding, ...]) -> Summary:
    order = ("found", "mr_opened", "migrated", "disabled", "deleted")

    def at_least(stage: str) -> int:
        return sum(order.index(k.status) >= order.index(stage) for k in keys)

    retired = at_least("disabled")
    return Summary(
        keys_found=len(keys), keys_mr_opened=at_least("mr_opened"), keys_migrated=at_least("migrated"),
        keys_disabled=retired, keys_deleted=at_least("deleted"),
        keys_live=sum(k.google_state not in ("disabled", "deleted") for k in keys),
        projects_total=len(projects), projects_keyless=sum(p.state == "keyless" for p in projects),
        projects_with_keys=sum(p.state == "key" for p in projects),
        projects_error=sum(p.state == "error" for p in projects),
        percent_done=(100 * retired // len(keys)) if keys else 100,
    )


def _merged(items: list[ReviewItem]) -> tuple[ReviewItem, ...]:
    """One row per (subject, reason); the sources that reported it are joined ("inventory, plan")."""
    by_key: dict[tuple[str, str], list[ReviewItem]] = {}
    for item in items:
        by_key.setdefault((item.subject, item.reason), []).append(item)
    out = [ReviewItem(subject, reason, same[0].severity, ", ".join(sorted({i.source for i in same})))
           for (subject, reason), same in by_key.items()]
    return tuple(sorted(out, key=lambda r: (r.subject, r.reason)))


def _reviews(inv: Inventory, plan: Plan | None, unplaced: list[JournalEntry], errors: list[ReviewItem],
             unfinished: list[JournalEntry]) -> tuple[tuple[ReviewItem, ...], tuple[ReviewItem, ...]]:
    """Manual review (severity manual / warning) and ERROR rows, from inventory, plan and journal
    (steps a killed run left without an outcome are ERROR rows: the report must not hide them).
    The plan repeats the inventory's problems (its `manual` has unreadable items as errors too)."""
    found = [ReviewItem(p.subject, p.reason, p.severity, "inventory") for p in inv.problems]
    found += [ReviewItem(p.subject, p.reason, p.severity, "plan") for p in (plan.manual if plan else ())]
    manual = [i for i in found if i.severity != "error"]
    errs = [i for i in found if i.severity == "error"] + errors
    subjects = {i.subject for i in errs}
    errs += [ReviewItem(f"project:{p.path}", p.error or "could not be read", "error", "inventory")
             for p in inv.projects if p.status == Status.ERROR and f"project:{p.path}" not in subjects]
    errs += [ReviewItem(f"key:{f.key.label}", str(incident(f)), "error", "google")
             for f in inv.key_facts if incident(f)]
    errs += [ReviewItem(f"journal:{e.seq}", f"{e.kind} step on {e.target or e.action_id} names no key; "
                        "it is not counted", "error", "journal") for e in unplaced]
    errs += [ReviewItem(f"{e.stage}:{e.action_id}", f"interrupted: started {e.ts_text} by {e.actor} and never "
                        f"finished (no outcome); whether it took effect is unknown until `wif-migrate "
                        f"{_RESUME.get(e.stage, e.stage)}` runs again (it reads live state first)", "error", "journal")
             for e in unfinished]
    return _merged(manual), _merged(errs)


_RESUME = {"apply": "apply PLAN", "keys": "keys retire/delete", "verify": "verify"}


def assemble(inv: Inventory, plan: Plan | None, journal: list[JournalEntry], now: datetime,
             snapshots: list[tuple[datetime, Any]], tool_version: str) -> FindingsDocument:
    errors: list[ReviewItem] = []
    history_invs = _load_snapshots(snapshots, inv, errors)
    events, unplaced = history.key_events(journal, plan)
    states, points = burndown.replay(history_invs, events, now)
    mrs = history.merge_requests(journal, plan, inv)
    binding_facts = planfacts.bindings(plan, journal)
    idx = _Index.of(inv)
    accepted_jobs = _jobs_accepted(journal)
    for kid, text in _windows(journal).items():
        accepted_jobs[kid] = f"{accepted_jobs[kid]} {text}" if kid in accepted_jobs else text
    keys = _keys(inv, idx, events, mrs, states, binding_facts, now, _outside_accepted(journal),
                 accepted_jobs, retire_blockers(plan, journal))
    projects = _projects(inv, idx, keys, mrs)
    status = {k.key_id: k.status for k in keys}
    ctx = controls.CheckContext(inv, plan, tuple(journal), keys)
    manual, errs = _reviews(inv, plan, unplaced, errors, unfinished_entries(journal))
    return FindingsDocument(
        generated_at=now.replace(microsecond=0), tool_version=tool_version, gitlab_url=inv.gitlab_url,
        gitlab_version=inv.gitlab_version, inventory_generated_at=inv.generated_at,
        plan_generated_at=plan.generated_at if plan else None,
        identity_project=plan.identity_project if plan else "",
        summary=_summary(keys, projects), keys=keys, projects=projects, exposures=_exposures(inv, idx, status),
        controls=controls.evaluate(ctx, controls.load_controls()), manual=manual, errors=errs,
        burndown=points,
    )
