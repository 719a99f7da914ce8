"""The human summary of an inventory (pure: returns a string; the CLI prints it on stdout).

Parts: totals; one row per project that holds or uses a key, plus every ERROR row with its
reason (a project we could not read is never left out); one row per key with Google's facts; one
row per project outside the scope (or unreadable) that can read a key variable.
"""

from __future__ import annotations

from collections import defaultdict

from migrate.core.model import Inventory, KeyFacts
from migrate.core.tables import loud
from migrate.core.textsafe import tabulate


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
        f"GitLab {inventory.gitlab_url} ({inventory.gitlab_version}), scanned {inventory.generated_at}",
        f"projects: {len(projects)} ({counts['scanned']} scanned, {counts['error']} ERROR, "
        f"{counts['skipped']} skipped); already federated: {federated}",
        f"key variables: {len(inventory.variables) - suspected} (+{suspected} suspected hidden); "
        f"key usages in CI: {len(inventory.usages)}; distinct keys: {len(inventory.key_facts)}",
        "",
    ]
    rows = _project_rows(inventory)
    if rows:
        lines.append(tabulate(rows, headers=["project", "status", "auth", "key variables", "key usages", "note"]))
        lines.append("")
    if inventory.key_facts:
        lines.append(tabulate([_key_row(inventory, f) for f in inventory.key_facts],
                              headers=["key", "stored in", "used by", "SA", "key state", "last auth"]))
        lines.append("")
    if inventory.outside_readers:
        lines.append(tabulate([[r.variable, r.project or "unknown", r.reason] for r in inventory.outside_readers],
                              headers=["key variable", "also readable by (not checked)", "why"]))
        lines.append("")
    error_rows = {f"project:{p.path}" for p in inventory.projects if p.status == "error"}
    errors = [p for p in inventory.problems if p.severity == "error" and p.subject not in error_rows]
    if errors:
        lines.append(tabulate([[p.subject, p.reason] for p in errors], headers=["ERROR", "reason"]))
        lines.append("")
    return "\n".join(lines)


def _project_rows(inventory: Inventory) -> list[list[object]]:
    by_owner: dict[int | None, list[str]] = defaultdict(list)
    for v in inventory.variables:
        if v.level == "project":
            by_owner[v.owner_id].append(v.name + ("?" if v.key is None else ""))
    used: dict[str, int] = defaultdict(int)
    for u in inventory.usages:
        for c in u.consumers:
            used[c] += 1
    rows: list[list[object]] = []
    for p in inventory.projects:
        names = by_owner.get(p.id, [])
        if p.status == "error" or names or used.get(p.path):
            note = p.error or ""
            rows.append([p.path, loud(p.status.upper()) if p.status == "error" else p.status, p.auth,
                         ", ".join(sorted(names)) or "-", used.get(p.path, 0), note])
    return rows


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
