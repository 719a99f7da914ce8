"""Read the journal: which merge requests exist for which keys, and what happened to each key.

Other stages write the journal (`migrate.core.state`); this module only reads *outcome* rows. Apply
and verify rows are read typed (`JournalEntry.typed_evidence`); a row of an older build or a hand
edit (`LegacyEvidence`) is read tolerantly from its stored object, as the dict always was. A row it
cannot attribute to a key is ignored for key status (and listed as an ERROR row by the caller only
when it is a key step we cannot place). The exact rows and evidence fields read are documented in
docs/report.md; keep the two in step.

Dry runs (`would_apply`), refusals and failures never change a key's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from migrate.core.evidence import LegacyEvidence, MergedEvidence, MergeRequestEvidence, VerifyEvidence
from migrate.core.key_names import parts_of
from migrate.core.model import (
    Action,
    DisableKeyParams,
    Inventory,
    JournaledKey,
    KeyUsage,
    MergeRequestParams,
    Plan,
    journaled_key,
)
from migrate.core.outcome import Status, journal_word
from migrate.core.state import JournalEntry

KeyEventKind = Literal["disable", "delete", "rollback"]

# journal kind (stage "keys") → what it does to a key
KEY_KINDS: Mapping[str, KeyEventKind] = {
    "disable_key": "disable",
    "delete_key": "delete",
    "rollback_key": "rollback",
    "rollback": "rollback",
    "enable_key": "rollback",
}


@dataclass(frozen=True)
class KeyEvent:
    ts: datetime  # the journal row's ts (aware UTC)
    service_account: str
    key_id: str
    kind: KeyEventKind
    actor: str
    detail: str


@dataclass(frozen=True)
class MergeRequestRecord:
    action_id: str
    project: str
    url: str
    state: str  # opened | merged | verified | failed
    key_ids: frozenset[str]


def _actions(plan: Plan | None) -> dict[str, Action]:
    return {a.id: a for a in plan.actions} if plan else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def key_identity_of(entry: JournalEntry, actions: Mapping[str, Action]) -> tuple[str, str] | None:
    """(service account, key id) a keys-stage row is about, read from fields: the key its evidence
    names (`JournaledKey`: every row `keys` writes), else its plan step's typed params. Rows of the
    earliest builds that named the key only in their target keep their place: the target is the
    key's resource name (`core.key_names.parts_of`), or the action id the key id itself."""
    action = actions.get(entry.action_id)
    named = journaled_key(entry.evidence)
    params = action.params if action else None
    planned = JournaledKey(params.service_account, params.key_id) if isinstance(params, DisableKeyParams) else None
    sa = (named.service_account if named else "") or (planned.service_account if planned else "")
    kid = (named.key_id if named else "") or (planned.key_id if planned else "")
    for name in (entry.target, action.target if action else ""):
        if sa and kid:
            break
        named_sa, named_kid = parts_of(name)
        if named_kid:
            sa, kid = sa or named_sa, kid or named_kid
    if not kid and 16 <= len(entry.action_id) <= 64 and all(c in "0123456789abcdef" for c in entry.action_id):
        kid = entry.action_id
    return (sa, kid) if kid else None


def key_events(journal: Iterable[JournalEntry], plan: Plan | None) -> tuple[list[KeyEvent], list[JournalEntry]]:
    """Applied key steps in journal order, and the key-step rows that name no key (unplaceable)."""
    actions = _actions(plan)
    events: list[KeyEvent] = []
    unplaced: list[JournalEntry] = []
    for e in journal:
        if e.stage != "keys" or e.phase != "outcome" or e.kind not in KEY_KINDS:
            continue
        # `skipped` disable with evidence disabled=true: the key was found already disabled (observed)
        observed = e.outcome == Status.SKIPPED and e.kind == "disable_key" and e.evidence.get("disabled") is True
        if e.outcome != Status.APPLIED and not observed:
            continue
        ident = key_identity_of(e, actions)
        if ident is None:
            unplaced.append(e)
            continue
        events.append(KeyEvent(e.ts, ident[0], ident[1], KEY_KINDS[e.kind], e.actor, e.detail))
    return events, unplaced


def variable_keys(inventory: Inventory) -> dict[str, str]:
    """KeyVariable.ref → key id, for variables whose value we could read."""
    return {v.ref: v.key.key_id for v in inventory.variables if v.key is not None}


def usage_keys(usage: KeyUsage, inventory: Inventory, by_ref: Mapping[str, str] | None = None) -> set[str]:
    """Key ids a usage reads: through its resolved variables, else by variable name."""
    by_ref = variable_keys(inventory) if by_ref is None else by_ref
    found = {by_ref[r] for r in usage.variables if r in by_ref}
    if not found and usage.finding.variable:
        readers = set(usage.consumers) | {usage.file_project}
        for v in inventory.variables:
            if v.key is None or v.name != usage.finding.variable:
                continue
            if v.level == "instance" or any(p == v.owner or p.startswith(v.owner + "/") for p in readers):
                found.add(v.key.key_id)
    return found


@dataclass(frozen=True)
class _Known:
    by_ref: dict[str, str]
    key_ids: frozenset[str]


def _keys_named(items: Iterable[str], inventory: Inventory, known_keys: _Known) -> set[str]:
    """Key ids referred to by plan findings / evidence strings: variable refs, key labels or ids,
    usage locations ("project:file..." prefix)."""
    by_ref, known = known_keys.by_ref, known_keys.key_ids
    found: set[str] = set()
    for item in items:
        if item in by_ref:
            found.add(by_ref[item])
            continue
        found.update(kid for kid in known if kid in item or f"#{kid[:8]}" in item)
        for u in inventory.usages:
            if item.startswith(f"{u.file_project}:{u.file_path}"):
                found.update(usage_keys(u, inventory, by_ref))
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


@dataclass(frozen=True)
class _MergeRequestRow:
    """What an apply `merge_request` outcome says about its MR (`""`/`()` where it says nothing)."""

    web_url: str
    project: str
    state: str  # an older build's `mr_state` / `state` word; this build's rows write none
    key_ids: tuple[str, ...] = ()  # older builds' `key_ids`
    named: tuple[str, ...] = ()  # older builds' `variables` + `findings`


def _merge_request_row(entry: JournalEntry) -> _MergeRequestRow:
    """This build's rows are typed (`MergeRequestEvidence`, `MergedEvidence`; a refusal's or a
    block's name no MR). Apply writes no MR state: a merge reaches the report through verify's
    rows. A row of an older build or a hand edit (`LegacyEvidence`) is read from its stored object
    as the dict always was."""
    ev = entry.typed_evidence
    if isinstance(ev, (MergeRequestEvidence, MergedEvidence)):
        return _MergeRequestRow(ev.web_url or "", ev.project, "")
    if not isinstance(ev, LegacyEvidence):
        return _MergeRequestRow("", "", "")
    raw = ev.raw
    return _MergeRequestRow(_str(raw.get("web_url")), _str(raw.get("project")),
                            _str(raw.get("mr_state")) or _str(raw.get("state")),
                            tuple(_strings(raw.get("key_ids"))),
                            tuple(_strings(raw.get("variables")) + _strings(raw.get("findings"))))


@dataclass(frozen=True)
class _VerifyRow:
    """What a verify outcome says about the MR it verified."""

    merge_request_action: str  # an older build's `merge_request_action`; this build's is the row's action id
    mr_state: str
    web_url: str


def _verify_row(entry: JournalEntry) -> _VerifyRow:
    """`VerifyEvidence` for this build's rows; a `LegacyEvidence` row read as the dict always was."""
    ev = entry.typed_evidence
    if isinstance(ev, VerifyEvidence):
        return _VerifyRow("", ev.mr_state or "", ev.web_url)
    if not isinstance(ev, LegacyEvidence):
        return _VerifyRow("", "", "")
    raw = ev.raw
    return _VerifyRow(_str(raw.get("merge_request_action")), _str(raw.get("mr_state")) or _str(raw.get("state")),
                      _str(raw.get("web_url")))


def _mr_keys(entry: JournalEntry, row: _MergeRequestRow, action: Action | None, inventory: Inventory,
             known: _Known) -> frozenset[str]:
    explicit = set(row.key_ids)
    if action is not None and isinstance(action.params, MergeRequestParams):
        explicit |= {k.key_id for k in action.params.keys}
    if explicit:
        return frozenset(explicit)
    named = list(row.named)
    if action is not None:
        named += list(action.findings)
    keys = _keys_named(named, inventory, known)
    if not keys:  # last resort: the keys used by the project the MR targets
        project = row.project or entry.target
        for u in inventory.usages:
            if u.file_project == project:
                keys |= usage_keys(u, inventory, known.by_ref)
    return frozenset(keys)


def merge_requests(journal: Iterable[JournalEntry], plan: Plan | None,
                   inventory: Inventory) -> list[MergeRequestRecord]:
    """Merge requests opened by apply, with their latest state from apply / verify rows."""
    actions = _actions(plan)
    by_ref = variable_keys(inventory)
    known = _Known(by_ref, frozenset(by_ref.values()) | {f.key.key_id for f in inventory.key_facts})
    records: dict[str, MergeRequestRecord] = {}
    for e in journal:
        if e.phase != "outcome":
            continue
        if e.stage == "apply" and e.kind == "merge_request":
            row = _merge_request_row(e)
            url = row.web_url
            if e.outcome == Status.APPLIED or (e.outcome == Status.SKIPPED and url):
                action = actions.get(e.action_id)
                state = row.state or "opened"
                project = row.project or (action.target if action else e.target)
                records[e.action_id] = MergeRequestRecord(
                    e.action_id, project, url, "merged" if state == "merged" else "opened",
                    _mr_keys(e, row, action, inventory, known))
        elif e.stage == "verify":
            verified = _verify_row(e)
            mr_id = verified.merge_request_action or e.action_id
            old = records.get(mr_id)
            if old is None:
                continue
            state = old.state
            if e.outcome == journal_word(Status.VERIFIED):
                state = "verified"
            elif e.outcome == Status.FAILED:
                state = "failed"
            elif verified.mr_state == "merged" and state == "opened":
                state = "merged"
            url = old.url or verified.web_url
            records[mr_id] = MergeRequestRecord(old.action_id, old.project, url, state, old.key_ids)
    return [records[k] for k in sorted(records)]
