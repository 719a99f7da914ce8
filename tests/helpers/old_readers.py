"""Main's journal readers as they read the raw evidence dict (main at 27cbc7f, before issue 20
moved them to `JournalEntry.typed_evidence`): the oracle the typed readers are compared with.

Copied as they were, `.get(...)` chains and all: `migrations_from_journal` (migrate/retire/runner.py),
`merge_requests` / `_mr_keys` (migrate/report/history.py), `providers` / `bindings` /
`_condition` / `_members` / `service_account_of` (migrate/report/planfacts.py). Only the names
they import from the package are imported here; nothing of the typed readers is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from migrate.core.codec import decode_time
from migrate.core.key_names import parts_of
from migrate.core.model import (
    Action,
    BindingParams,
    EnsureParams,
    Inventory,
    MergeRequestParams,
    Plan,
    params_as,
)
from migrate.core.outcome import Status, journal_word
from migrate.core.state import JournalEntry
from migrate.report.history import (
    MergeRequestRecord,
    _actions,
    _keys_named,
    _Known,
    usage_keys,
    variable_keys,
)
from migrate.report.planfacts import BindingFact, ProviderFact, _applied
from migrate.retire.gates import Migration
from migrate.retire.runner import OutcomeJournal

_VERIFIED = journal_word(Status.VERIFIED)


# --- migrate/retire/runner.py ---------------------------------------------------------------------

def migrations_from_journal(state: OutcomeJournal, mr_actions: Sequence[tuple[str, str]],
                            accept_jobs: Iterable[str] = ()) -> list[Migration]:
    accepted = {a.strip() for a in accept_jobs}
    out = []
    for action_id, target in mr_actions:
        entry = state.last_outcome(action_id, stage="verify")
        if entry is None:
            out.append(Migration(action_id, target, False, detail="no verify outcome recorded"))
            continue
        ev = entry.evidence or {}
        merged = ev.get("merged_at") or ev.get("merge_time") or (ev.get("merge_request") or {}).get("merged_at")
        merged_text = str(merged) if merged else None
        merged_at = decode_time(merged_text) if merged_text else None
        verified_at = entry.ts
        recorded = (merged_text, entry.ts_text)
        jobs = [f"{u.get('project')}:{u.get('job')}" for u in ev.get("unverified_jobs") or () if isinstance(u, dict)]
        if entry.outcome != _VERIFIED and ev.get("acceptable") and jobs and set(jobs) <= accepted:
            out.append(Migration(action_id, target, True, merged_at, verified_at,
                                 recorded=recorded, detail=f"jobs accepted by the operator: {', '.join(jobs)}",
                                 accepted_jobs=tuple(jobs)))
            continue
        detail = "" if entry.outcome == _VERIFIED else f"verify {entry.outcome}: {entry.detail}"
        if jobs and entry.outcome != _VERIFIED and ev.get("acceptable"):
            detail += f" (to accept without that evidence: --accept-job {' --accept-job '.join(jobs)})"
        out.append(Migration(action_id, target, entry.outcome == _VERIFIED, merged_at, verified_at, detail,
                             recorded=recorded))
    return out


# --- migrate/report/history.py --------------------------------------------------------------------

def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _mr_keys(entry: JournalEntry, action: Action | None, inventory: Inventory, known: _Known) -> frozenset[str]:
    ev = entry.evidence
    explicit = set(_strings(ev.get("key_ids")))
    if action is not None and isinstance(action.params, MergeRequestParams):
        explicit |= {k.key_id for k in action.params.keys}
    if explicit:
        return frozenset(explicit)
    named = _strings(ev.get("variables")) + _strings(ev.get("findings"))
    if action is not None:
        named += list(action.findings)
    keys = _keys_named(named, inventory, known)
    if not keys:  # last resort: the keys used by the project the MR targets
        project = _str(ev.get("project")) or entry.target
        for u in inventory.usages:
            if u.file_project == project:
                keys |= usage_keys(u, inventory, known.by_ref)
    return frozenset(keys)


def merge_requests(journal: Iterable[JournalEntry], plan: Plan | None,
                   inventory: Inventory) -> list[MergeRequestRecord]:
    actions = _actions(plan)
    by_ref = variable_keys(inventory)
    known = _Known(by_ref, frozenset(by_ref.values()) | {f.key.key_id for f in inventory.key_facts})
    records: dict[str, MergeRequestRecord] = {}
    for e in journal:
        if e.phase != "outcome":
            continue
        ev = e.evidence
        if e.stage == "apply" and e.kind == "merge_request":
            url = _str(ev.get("web_url"))
            if e.outcome == Status.APPLIED or (e.outcome == Status.SKIPPED and url):
                action = actions.get(e.action_id)
                state = _str(ev.get("mr_state")) or _str(ev.get("state")) or "opened"
                project = _str(ev.get("project")) or (action.target if action else e.target)
                records[e.action_id] = MergeRequestRecord(
                    e.action_id, project, url, "merged" if state == "merged" else "opened",
                    _mr_keys(e, action, inventory, known))
        elif e.stage == "verify":
            mr_id = _str(ev.get("merge_request_action")) or e.action_id
            old = records.get(mr_id)
            if old is None:
                continue
            state = old.state
            if e.outcome == journal_word(Status.VERIFIED):
                state = "verified"
            elif e.outcome == Status.FAILED:
                state = "failed"
            elif (_str(ev.get("mr_state")) or _str(ev.get("state"))) == "merged" and state == "opened":
                state = "merged"
            url = old.url or _str(ev.get("web_url"))
            records[mr_id] = MergeRequestRecord(old.action_id, old.project, url, state, old.key_ids)
    return [records[k] for k in sorted(records)]


# --- migrate/report/planfacts.py ------------------------------------------------------------------

def _condition(data: Mapping[str, Any]) -> str | None:
    for key in ("attribute_condition", "attributeCondition"):
        if isinstance(data.get(key), str):
            return str(data[key])
    for nested in ("desired", "provider"):
        if isinstance(data.get(nested), dict):
            found = _condition(data[nested])
            if found is not None:
                return found
    return None


def _members(data: Mapping[str, Any]) -> tuple[str, ...]:
    for key in ("members", "principals", "member", "principal"):
        value = data.get(key)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, (list, tuple)):
            return tuple(v for v in value if isinstance(v, str))
    applied = [m for key in ("added", "already") for m in (data.get(key) or ()) if isinstance(m, str)]
    if applied:
        return tuple(sorted(set(applied)))
    binding = data.get("binding")
    return _members(binding) if isinstance(binding, dict) else ()


def service_account_of(target: str, params: Mapping[str, Any]) -> str:
    sa = params.get("service_account")
    if isinstance(sa, str) and sa:
        return sa
    named, _ = parts_of(target)
    if "@" in named:
        return named
    return target if "@" in target else ""


def providers(plan: Plan | None, journal: Iterable[JournalEntry]) -> list[ProviderFact]:
    facts: dict[str, ProviderFact] = {}
    for a in plan.actions if plan else ():
        if a.kind == "ensure_provider":
            p = params_as(a, EnsureParams)
            facts[a.id] = ProviderFact(p.name, _condition(p.desired), "plan")
    for action_id, e in _applied(journal, "ensure_provider").items():
        cond = _condition(e.evidence)
        if cond is not None or action_id not in facts:
            name = facts[action_id].name if action_id in facts else e.target
            facts[action_id] = ProviderFact(name, cond, "journal")
    return sorted(facts.values(), key=lambda f: f.name)


def bindings(plan: Plan | None, journal: Iterable[JournalEntry]) -> list[BindingFact]:
    facts: dict[str, BindingFact] = {}
    for a in plan.actions if plan else ():
        if a.kind == "ensure_binding":
            b = params_as(a, BindingParams)
            facts[a.id] = BindingFact(a.id, b.service_account, b.members, "plan")
    for action_id, e in _applied(journal, "ensure_binding").items():
        members = _members(e.evidence)
        if members or action_id not in facts:
            sa = service_account_of(e.target, e.evidence) or (facts[action_id].service_account
                                                               if action_id in facts else "")
            facts[action_id] = BindingFact(action_id, sa, members, "journal")
    return sorted(facts.values(), key=lambda f: (f.service_account, f.action_id))
