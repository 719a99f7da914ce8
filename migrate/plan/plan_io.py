"""Versioned plan JSON: the file `plan` writes and `apply`, `verify`, `keys`, `report` read.

The format follows `migrate.core.model.Plan` (documented in docs/plan.md): deterministic (sorted keys,
fixed indent) so two plans of the same inventory diff cleanly in review. A reader refuses a newer
version it does not understand and anything that is not a plan, with a message saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrate.core.codec import CodecError, decode
from migrate.core.errors import UsageError
from migrate.core.files import check_version, parse_json, read_text, write_atomic
from migrate.core.model import PLAN_VERSION, Action, Plan, to_dict

KIND = "wif-migrate/plan"
KNOWN_KINDS = ("ensure_pool", "ensure_provider", "ensure_binding", "merge_request", "disable_key",
               "delete_key")


def to_data(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data, tagged with its kind (what files and state snapshots hold)."""
    return {"kind": KIND, **to_dict(plan)}


def dumps(plan: Plan) -> str:
    return json.dumps(to_data(plan), indent=2, sort_keys=True) + "\n"


def pieces(plan: Plan) -> Iterator[str]:
    """`dumps(plan)` piece by piece, the same text. `json.dumps` with an indent joins a list of
    every piece first — millions of small strings for a plan of 10,000 projects, about 200 MB
    at once (issue 18); writing the pieces as they come holds only the plan's data."""
    yield from json.JSONEncoder(indent=2, sort_keys=True).iterencode(to_data(plan))
    yield "\n"


def loads(text: str, source: str = "plan") -> Plan:
    return from_data(parse_json(text, source), source)


def from_data(data: Any, source: str = "plan") -> Plan:
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("actions"), list):
        raise UsageError(f"{source}: not a wif-migrate plan (run `wif-migrate plan` to make one)")
    check_version(data, source, "plan", PLAN_VERSION, "plan")
    for raw in data["actions"]:
        if isinstance(raw, dict) and raw.get("kind") not in KNOWN_KINDS:
            raise UsageError(f"{source}: action {raw.get('id')}: unknown kind {raw.get('kind')!r}")
    # a plan without inputs was written with `"inputs": {}` before the inputs were typed: absent
    body = {k: v for k, v in data.items() if k != "kind" and not (k == "inputs" and v == {})}
    try:
        plan = decode(Plan, body)
    except CodecError as exc:
        raise UsageError(f"{source}: malformed plan: {_named(exc, data)}: {exc.problem}") from None
    _check_actions(plan.actions, source)
    return plan


def _named(exc: CodecError, data: dict[str, Any]) -> str:
    """The field's path, with the action's id after `actions[N]` so the operator finds it."""
    match = re.match(r"actions\[(\d+)\]", exc.path)
    if match is None:
        return exc.path
    action = data["actions"][int(match.group(1))]
    aid = action.get("id") if isinstance(action, dict) else None
    return exc.path if not isinstance(aid, str) else exc.path.replace(match.group(0), f"{match.group(0)} ({aid})", 1)


def _check_actions(actions: tuple[Action, ...], source: str) -> None:
    ids: set[str] = set()
    for i, a in enumerate(actions):
        if not isinstance(a.id, str) or not a.id:
            raise UsageError(f"{source}: actions[{i}] has no id")
        if a.id in ids:
            raise UsageError(f"{source}: action id {a.id!r} appears twice")
        if a.kind not in KNOWN_KINDS:
            raise UsageError(f"{source}: action {a.id}: unknown kind {a.kind!r}")
        for dep in a.depends_on:
            if dep not in ids:
                raise UsageError(f"{source}: action {a.id} depends on {dep!r}, which is not an earlier action")
        ids.add(a.id)


def write(plan: Plan, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a plan."""
    return write_atomic(path, pieces(plan), "plan")


def read(path: str | Path) -> Plan:
    return loads(read_text(path, "plan"), str(path))
