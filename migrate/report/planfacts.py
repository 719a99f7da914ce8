"""What the plan (intent) and the apply journal (observed) say about the provider and the bindings.

The plan's params are typed (`EnsureParams.desired`, `BindingParams`); the journal's rows are read
typed (`JournalEntry.typed_evidence`), and a row of an older build or a hand edit
(`LegacyEvidence`) tolerantly from its stored object, by the names docs/report.md lists. A journal
outcome of apply that carries the live value wins over the plan's intended value for the same action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from migrate.core.evidence import BindingEvidence, LegacyEvidence
from migrate.core.key_names import parts_of
from migrate.core.model import BindingParams, EnsureParams, Plan, params_as
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry


@dataclass(frozen=True)
class ProviderFact:
    name: str
    condition: str | None  # None: neither plan nor journal said
    source: str  # plan | journal


@dataclass(frozen=True)
class BindingFact:
    action_id: str
    service_account: str
    members: tuple[str, ...]
    source: str


def _condition(data: Mapping[str, Any]) -> str | None:
    for key in ("attribute_condition", "attributeCondition"):
        if isinstance(data.get(key), str):
            return str(data[key])
    for nested in ("desired", "provider"):  # plan params `desired` is the provider's REST body
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
    # apply's ensure_binding evidence: members it added and those already present
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


def journal_condition(entry: JournalEntry) -> str | None:
    """The attribute condition an `ensure_provider` outcome names: this build's rows
    (`EnsureEvidence`: op, steps, mask, …) name none; only rows of older builds did
    (`LegacyEvidence`, read from the stored object as the dict always was)."""
    ev = entry.typed_evidence
    return _condition(ev.raw) if isinstance(ev, LegacyEvidence) else None


def journal_binding(entry: JournalEntry) -> tuple[tuple[str, ...], str]:
    """(members, service account) an `ensure_binding` outcome names: this build's rows
    (`BindingEvidence`) the members it added and those already bound, the account from the row's
    target; a refusal's or a block's none; an older build's row (`LegacyEvidence`) read from the
    stored object as the dict always was (`members`, `principals`, …, `service_account`)."""
    ev = entry.typed_evidence
    if isinstance(ev, BindingEvidence):
        return tuple(sorted(set(ev.added) | set(ev.already))), service_account_of(entry.target, {})
    if isinstance(ev, LegacyEvidence):
        return _members(ev.raw), service_account_of(entry.target, ev.raw)
    return (), service_account_of(entry.target, {})


def _applied(journal: Iterable[JournalEntry], kind: str) -> dict[str, JournalEntry]:
    latest: dict[str, JournalEntry] = {}
    for e in journal:
        if e.stage == "apply" and e.kind == kind and e.phase == "outcome" and e.outcome in (Status.APPLIED, Status.SKIPPED):
            latest[e.action_id] = e
    return latest


def providers(plan: Plan | None, journal: Iterable[JournalEntry]) -> list[ProviderFact]:
    facts: dict[str, ProviderFact] = {}
    for a in plan.actions if plan else ():
        if a.kind == "ensure_provider":
            p = params_as(a, EnsureParams)
            facts[a.id] = ProviderFact(p.name, _condition(p.desired), "plan")
    for action_id, e in _applied(journal, "ensure_provider").items():
        cond = journal_condition(e)
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
        members, named = journal_binding(e)
        if members or action_id not in facts:
            sa = named or (facts[action_id].service_account if action_id in facts else "")
            facts[action_id] = BindingFact(action_id, sa, members, "journal")
    return sorted(facts.values(), key=lambda f: (f.service_account, f.action_id))
