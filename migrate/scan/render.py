"""The human summary of an inventory (pure: returns a string; the CLI prints it on stdout), and
scan's per-item rows.

Parts: totals; one row per project that holds or uses a key, plus every ERROR row with its
reason (a project we could not read is never left out); one row per key with Google's facts; one
row per project outside the scope (or unreadable) that can read a key variable. The project rows
and the ERROR rows are per-item outcomes (`PROJECT_ROWS`, `PROBLEM_ROWS`: also the JSON envelope's
`results` and `errors`), drawn by the one renderer (`migrate.core.outcome_render`); the key and
outside-reader tables are facts about keys, drawn here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from migrate.core import outcome_render
from migrate.core.codec import encode_time
from migrate.core.model import Inventory, KeyFacts, Problem, ProjectRecord, to_dict
from migrate.core.outcome import PROBLEM_STATUS, Column, ItemOutcome, Layout, Status
from migrate.core.textsafe import tabulate


@dataclass(frozen=True)
class ProjectRow:
    """One project of the inventory with what the table shows about it: its key variables (`?`:
    suspected) and how many key usages its pipelines run."""

    project: ProjectRecord
    key_variables: tuple[str, ...]
    key_usages: int


def _row(o: ItemOutcome[ProjectRow]) -> ProjectRow:
    assert o.detail is not None  # every scan outcome carries its ProjectRow
    return o.detail


PROJECT_ROWS: Layout[ProjectRow] = Layout(
    columns=(Column("project", lambda o: o.item),
             Column("status", lambda o: o.status.value.upper() if o.status is Status.ERROR else o.status.value,
                    loud=True),
             Column("auth", lambda o: _row(o).project.auth),
             Column("key variables", lambda o: ", ".join(_row(o).key_variables) or "-"),
             Column("key usages", lambda o: _row(o).key_usages, count=True),
             Column("note", lambda o: o.reason)),
    record=lambda o: to_dict(_row(o).project))

PROBLEM_ROWS: Layout[Problem] = Layout(
    columns=(Column("ERROR", lambda o: o.item), Column("reason", lambda o: o.reason)),
    record=lambda o: to_dict(o.detail))


def project_outcomes(inventory: Inventory) -> list[ItemOutcome[ProjectRow]]:
    """Every project of the inventory (the JSON `results`), in order."""
    by_owner: dict[int | None, list[str]] = defaultdict(list)
    for v in inventory.variables:
        if v.level == "project":
            by_owner[v.owner_id].append(v.name + ("?" if v.key is None else ""))
    used: dict[str, int] = defaultdict(int)
    for u in inventory.usages:
        for c in u.consumers:
            used[c] += 1
    return [ItemOutcome(p.path, Status(p.status), p.error or "",
                        ProjectRow(p, tuple(sorted(by_owner.get(p.id, []))), used.get(p.path, 0)))
            for p in inventory.projects]


def problem_outcomes(problems: Sequence[Problem]) -> list[ItemOutcome[Problem]]:
    return [ItemOutcome(p.subject, PROBLEM_STATUS[p.severity], p.reason, p) for p in problems]


def keys_found(inventory: Inventory) -> bool:
    """True when any key (or suspected key) is stored or used: `scan` exits 1 then."""
    return bool(inventory.variables) or bool(inventory.usages)


def render_summary(inventory: Inventory) -> str:
    projects = inventory.projects
    counts: dict[str, int] = defaultdict(int)
    for p in projects:
        counts[p.status] += 1
    suspected = sum(1 for v in inventory.variables if v.key is None)
    federated = sum(1 for p in projects if p.auth == "federated")
    lines = [
        f"GitLab {inventory.gitlab_url} ({inventory.gitlab_version}), scanned {encode_time(inventory.generated_at)}",
        f"projects: {len(projects)} ({counts['scanned']} scanned, {counts['error']} ERROR, "
        f"{counts['skipped']} skipped); already federated: {federated}",
        f"key variables: {len(inventory.variables) - suspected} (+{suspected} suspected hidden); "
        f"key usages in CI: {len(inventory.usages)}; distinct keys: {len(inventory.key_facts)}",
        "",
    ]
    rows = [o for o in project_outcomes(inventory)
            if o.status is Status.ERROR or _row(o).key_variables or _row(o).key_usages]
    if rows:
        lines.append(outcome_render.table(rows, PROJECT_ROWS))
        lines.append("")
    if inventory.key_facts:
        lines.append(_key_table(inventory))
        lines.append("")
    if inventory.outside_readers:
        lines.append(_outside_table(inventory))
        lines.append("")
    error_rows = {f"project:{p.path}" for p in inventory.projects if p.status == Status.ERROR}
    errors = [p for p in inventory.problems if p.severity == "error" and p.subject not in error_rows]
    if errors:
        lines.append(outcome_render.table(problem_outcomes(errors), PROBLEM_ROWS))
        lines.append("")
    return "\n".join(lines)


def _key_table(inventory: Inventory) -> str:
    """One row per key with Google's facts (facts about keys, not a per-item outcome)."""
    return tabulate([_key_row(inventory, f) for f in inventory.key_facts],
                    headers=["key", "stored in", "used by", "SA", "key state", "last auth"])


def _outside_table(inventory: Inventory) -> str:
    """Who outside the scope can read a key variable (facts, not a per-item outcome)."""
    return tabulate([[r.variable, r.project or "unknown", r.reason] for r in inventory.outside_readers],
                    headers=["key variable", "also readable by (not checked)", "why"])


def _key_row(inventory: Inventory, facts: KeyFacts) -> list[object]:
    key = facts.key
    stored = [v.ref for v in inventory.variables if v.key == key]
    refs = set(stored)
    users = sorted({c for u in inventory.usages if refs & set(u.variables) for c in u.consumers})
    sa = "?" if facts.service_account_exists is None else (
        "missing" if not facts.service_account_exists else "disabled" if facts.service_account_disabled else "ok")
    if facts.key_exists is None:
        state = "?"
    elif not facts.key_exists:
        state = "deleted"
    else:
        state = "disabled" if facts.disabled else "enabled"
    if facts.last_auth_unknown_reason:
        last = f"unknown ({facts.last_auth_unknown_reason})"
    else:
        last = facts.last_authenticated or "none in window"
    shown = ", ".join(users[:3]) + (f" +{len(users) - 3}" if len(users) > 3 else "")
    return [key.label, "\n".join(stored) or "-", shown or "-", sa, state, last]
