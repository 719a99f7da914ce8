"""Which keys a `keys` verb acts on: the selection rules, pure (plan, journal and inventory in,
key items out).

The CLI parses `--key`, `--accept-outside-readers` and `KEY_ID`, reads the plan, the keys-stage
journal and the latest inventory snapshot, and asks these rules. The one outside read a rule may
need — the user-managed keys of the in-scope service accounts, to find a key named on the command
line that the plan does not hold — is passed in as a function and called only then, so a run
that names no orphan lists nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from migrate.core.errors import UsageError
from migrate.core.model import DisableKeyParams, Plan
from migrate.core.state import JournalEntry
from migrate.retire.gates import held_key_ids
from migrate.retire.runner import KeyItem, items_from_plan, resolve_key_id, service_accounts_in_scope

# (service account, key id) of every user-managed key of the in-scope service accounts
ListedKeys = Callable[[], Sequence[tuple[str, str]]]


def journal_key_ids(entries: Iterable[JournalEntry]) -> list[str]:
    """Key ids the keys-stage journal has acted on (orphans disabled earlier, rollbacks)."""
    return [str(e.evidence["key_id"]) for e in entries if e.evidence.get("key_id")]


def key_projects(plan: Plan | None) -> dict[str, str]:
    """Service account → its project, where the plan says (`key_project`: the e-mail does not)."""
    projects: dict[str, str] = {}
    for a in plan.actions if plan else ():
        if isinstance(a.params, DisableKeyParams) and a.params.key_project:
            projects[a.params.service_account] = a.params.key_project
    return projects


def held_keys(plan: Plan | None, inventory: Any) -> set[str]:
    """Key ids some GitLab variable holds (plan actions, plan inputs, latest inventory)."""
    held = {i.key_id for i in items_from_plan(plan)} if plan else set()
    if plan:
        held |= {v.key.key_id for v in (plan.inputs.variables if plan.inputs else ()) if v.key and v.key.key_id}
    if isinstance(inventory, dict):
        held |= held_key_ids(v for v in inventory.get("variables") or [] if isinstance(v, dict))
    return held


def service_accounts(plan: Plan | None, configured: Iterable[str], inventory: Any) -> list[str]:
    """The in-scope service accounts: the plan's, the configured ones and the inventory's key facts."""
    extra = list(configured)
    if isinstance(inventory, dict):
        for f in inventory.get("key_facts") or []:
            sa = ((f or {}).get("key") or {}).get("service_account")
            if sa:
                extra.append(str(sa))
    if plan is None:
        return sorted({e.lower() for e in extra})
    return service_accounts_in_scope(plan, extra)


def select_for_retire(plan: Plan, given: Sequence[str], entries: Sequence[JournalEntry],
                      listed: ListedKeys) -> list[KeyItem]:
    """The plan's keys (restricted to `--key`); a named key not in the plan must be a user-managed
    key of an in-scope service account (an orphan: touched only when named)."""
    items = items_from_plan(plan)
    known = [i.key_id for i in items] + journal_key_ids(entries)
    named = [resolve_key_id(k, known, "--key") for k in given]
    if not named:
        return items
    chosen = [i for i in items if i.key_id in named]
    missing = [k for k in named if k not in {i.key_id for i in chosen}]
    if missing:
        keys = list(listed())
        missing = [resolve_key_id(k, [key_id for _, key_id in keys], "--key") for k in missing]
        for sa, key_id in keys:
            if key_id in missing:
                chosen.append(KeyItem(sa, key_id, action_id=key_id, delete_action_id=key_id, orphan=True))
                missing.remove(key_id)
    if missing:
        raise UsageError(f"--key {missing[0]}: not a key of the plan nor a user-managed key of an in-scope "
                         "service account")
    return chosen


def accepted_outside(plan: Plan | None, given: Sequence[str]) -> tuple[str, ...]:
    """`--accept-outside-readers KEY_ID`s, each a key of the plan."""
    planned = {i.key_id for i in items_from_plan(plan)} if plan else set()
    accepted = tuple(resolve_key_id(k, planned, "--accept-outside-readers") for k in given)
    unknown = [k for k in accepted if k not in planned]
    if unknown:
        raise UsageError(f"--accept-outside-readers {unknown[0]}: not a key id of the plan")
    return accepted


def orphans_from_journal(entries: Iterable[JournalEntry], named: Sequence[str]) -> list[KeyItem]:
    """Orphans disabled earlier by `retire --key`: `delete --key` finds them in the journal."""
    out: list[KeyItem] = []
    for e in entries:
        kid = e.evidence.get("key_id")
        if e.kind == "disable_key" and e.evidence.get("orphan") and kid in named \
                and kid not in {i.key_id for i in out}:
            out.append(KeyItem(str(e.evidence["service_account"]), str(kid), action_id=str(kid),
                               delete_action_id=str(kid), orphan=True))
    return out


def select_for_delete(plan: Plan, given: Sequence[str], entries: Sequence[JournalEntry]) -> list[KeyItem]:
    """The plan's keys (restricted to `--key`) and the named orphans `keys retire` disabled."""
    planned = items_from_plan(plan)
    named = [resolve_key_id(k, [i.key_id for i in planned] + journal_key_ids(entries), "--key") for k in given]
    items = [i for i in planned if not named or i.key_id in named]
    items += [o for o in orphans_from_journal(entries, named) if o.key_id not in {i.key_id for i in items}]
    missing = [k for k in named if k not in {i.key_id for i in items}]
    if missing:
        raise UsageError(f"--key {missing[0]}: not a key of the plan nor an orphan disabled by `keys retire`")
    return items


def rollback_target(plan: Plan | None, given: str, entries: Sequence[JournalEntry], service_account: str | None,
                    listed: Callable[[str], Sequence[str]]) -> KeyItem:
    """The key `keys rollback KEY_ID` re-enables: the plan's item, else one the journal (or
    `--service-account`) names the account of; a short id neither knows is resolved on that
    account's key list (`listed(service_account)`)."""
    known = ([i.key_id for i in items_from_plan(plan)] if plan else []) + journal_key_ids(entries)
    kid = resolve_key_id(given, known, "KEY_ID")
    item = next((i for i in items_from_plan(plan) if i.key_id == kid), None) if plan else None
    if item is not None:
        return item
    sa = service_account
    if sa is None:
        sa = next((e.evidence.get("service_account") for e in reversed(entries)
                   if e.evidence.get("key_id") == kid and e.evidence.get("service_account")), None)
    if sa is None:
        raise UsageError(f"key {kid}: unknown service account; pass --service-account EMAIL")
    if len(kid) < 40:  # a short id the plan and journal do not know: resolve it on Google's list
        kid = resolve_key_id(kid, listed(str(sa)), "KEY_ID")
    return KeyItem(str(sa), kid, action_id=kid, delete_action_id=kid)


