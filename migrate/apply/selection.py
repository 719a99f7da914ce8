"""Which action kinds an `apply --only KIND` run applies: the selected kinds and every kind their
actions depend on (pure; the CLI parses `--only`)."""

from __future__ import annotations

from migrate.apply.executors import KEY_KINDS
from migrate.core.model import Plan
from migrate.plan.plan_io import KNOWN_KINDS


def with_dependencies(plan: Plan, only: list[str] | None) -> list[str] | None:
    """The selected kinds plus every kind their actions depend on, transitively. Key kinds never pull
    in anything (apply does not retire keys; `wif-migrate keys` does)."""
    if not only:
        return None
    by_id = {a.id: a for a in plan.actions}
    kinds = set(only)
    todo = [a for a in plan.actions if a.kind in kinds and a.kind not in KEY_KINDS]
    seen: set[str] = set()
    while todo:
        action = todo.pop()
        for dep in action.depends_on:
            if dep in by_id and dep not in seen:
                seen.add(dep)
                kinds.add(by_id[dep].kind)
                todo.append(by_id[dep])
    return [k for k in KNOWN_KINDS if k in kinds] + sorted(kinds - set(KNOWN_KINDS))
