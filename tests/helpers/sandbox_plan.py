"""Scan and plan a sandbox organisation through the CLI, as the end-to-end include tests do (one
place for the config file, the exact exit codes and reading back what was written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from migrate.cli.verbs import main
from migrate.core.model import Plan
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox


def scan_and_plan(sb: Sandbox, tmp: Path, **config: Any) -> tuple[Plan, dict[str, Any]]:
    """`scan` (exit 1: key variables found) then `plan` (exit 0) with the sandbox's config (state in
    `tmp/state`; `config` passed to `Sandbox.config_dict`); the plan and the inventory written."""
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state"), **config), sort_keys=False),
                    encoding="utf-8")
    inv, plan = tmp / "inventory.json", tmp / "plan.json"
    assert main(["scan", "-o", str(inv), "--progress", "never", "--config", str(path)]) == 1  # key variables found
    assert main(["plan", "--inventory", str(inv), "-o", str(plan), "--no-diff", "--config", str(path)]) == 0
    return plan_io.read(plan), json.loads(inv.read_text(encoding="utf-8"))


def root_mr(plan: Plan, project: str) -> Any:
    """The merge request of `project`'s root CI file, or None."""
    return next((a for a in plan.actions if a.id == f"merge_request:{project}:.gitlab-ci.yml"), None)


def root_manual(plan: Plan, project: str) -> str:
    """The manual-review reasons of `project`'s root CI file, joined."""
    return " | ".join(m.reason for m in plan.manual if m.subject == f"file:{project}:.gitlab-ci.yml")
