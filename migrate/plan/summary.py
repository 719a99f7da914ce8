"""What a plan would change, counted and said in words (the "Plan: 3 to add, 1 to change" line).

Pure: plan in, `Change` rows and sentences out. Used by the plan renderer, `plan --format json`
and `plan --detailed-exitcode` (0 nothing to do, 2 changes pending), so all three agree.

Per action:
- pool / provider: `add` (Google showed none, or a soft-deleted one to undelete), `change` (fields
  differ: named), `none` (equal), `unknown` (not read: `--offline`);
- binding: `add` with the members not bound yet, `none` when all are;
- merge request: `add` (one MR to open);
- disable_key / delete_key: `later` (done by `wif-migrate keys` once the gates pass; `destroy` in
  the summary's sense only for delete_key).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from migrate.core.model import Action, BindingParams, EnsureParams, MergeRequestParams, Plan

KIND_WORDS = {"ensure_pool": "pool", "ensure_provider": "provider", "ensure_binding": "binding",
              "merge_request": "merge request", "disable_key": "key to disable", "delete_key": "key to delete"}


@dataclass(frozen=True)
class Change:
    action_id: str
    kind: str
    verb: str  # add | change | none | unknown | later
    words: str  # what happens, for a reviewer
    members: tuple[str, ...] = ()  # bindings: the members that would be added


def change_of(action: Action) -> Change:
    p = action.params
    if isinstance(p, EnsureParams):
        what = KIND_WORDS[action.kind]
        if not p.observed_known:
            return Change(action.id, action.kind, "unknown", f"{what}: not read (offline); apply creates it "
                          "if missing")
        if p.observed is None:
            return Change(action.id, action.kind, "add", f"create the {what}")
        if p.observed.get("state") == "DELETED":
            return Change(action.id, action.kind, "add", f"undelete the soft-deleted {what} and set "
                          + ", ".join(p.patch))
        if p.patch:
            return Change(action.id, action.kind, "change", f"update the {what}'s " + ", ".join(p.patch))
        return Change(action.id, action.kind, "none", f"the {what} exists as designed")
    if isinstance(p, BindingParams):
        present = set(p.already_present)
        new = tuple(m for m in p.members if m not in present)
        if not new:
            return Change(action.id, action.kind, "none", f"every member already bound on {p.service_account}")
        return Change(action.id, action.kind, "add", f"bind {len(new)} member(s) on {p.service_account}", new)
    if isinstance(p, MergeRequestParams):
        return Change(action.id, action.kind, "add", f"open a merge request for {p.file_path} in {p.project}")
    return Change(action.id, action.kind, "later", action.summary)


def changes(plan: Plan) -> list[Change]:
    return [change_of(a) for a in plan.actions]


def counts(rows: Iterable[Change]) -> dict[str, int]:
    out = {"add": 0, "change": 0, "destroy": 0, "unknown": 0, "disable_later": 0, "delete_later": 0}
    for c in rows:
        if c.kind == "ensure_binding" and c.verb == "add":
            out["add"] += len(c.members)
        elif c.verb in ("add", "change", "unknown"):
            out[c.verb] += 1
        elif c.kind == "disable_key":
            out["disable_later"] += 1
        elif c.kind == "delete_key":
            out["delete_later"] += 1
    return out


def pending(rows: Sequence[Change]) -> bool:
    """Anything left to do: something apply would create or change, or keys still to retire."""
    return any(c.verb in ("add", "change", "unknown", "later") for c in rows)


def summary_line(plan: Plan) -> str:
    """`Plan: 5 to add (1 pool, 1 provider, 3 binding members), 0 to change, 0 to destroy. …`"""
    rows = changes(plan)
    n = counts(rows)
    per: dict[str, int] = {}
    for c in rows:
        if c.verb == "add":
            label = "binding member" if c.kind == "ensure_binding" else KIND_WORDS[c.kind]
            per[label] = per.get(label, 0) + (len(c.members) if c.kind == "ensure_binding" else 1)
    detail = ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in per.items())
    changed = [c.kind for c in rows if c.verb == "change"]
    cdetail = ", ".join(KIND_WORDS[k] for k in changed)
    text = (f"Plan: {n['add']} to add{f' ({detail})' if detail else ''}, {n['change']} to change"
            f"{f' ({cdetail})' if cdetail else ''}, 0 to destroy.")
    if n["unknown"]:
        text += f" {n['unknown']} not read (offline)."
    if n["disable_later"] or n["delete_later"]:
        text += (f" Later, by `wif-migrate keys` once merged and verified: {n['disable_later']} key(s) to "
                 f"disable, {n['delete_later']} to delete after the grace period.")
    manual = sum(1 for m in plan.manual if m.severity == "manual")
    errors = sum(1 for m in plan.manual if m.severity == "error")
    if manual or errors:
        text += f" {manual} file(s) need manual review, {errors} could not be read."
    if not pending(rows):
        text = "No changes. The federation matches the plan and nothing is left to retire." + (
            f" {manual} file(s) need manual review." if manual else "")
    return text
