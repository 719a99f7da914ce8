"""Helpers shared by the verb modules: parsers with the global options, config loading, and the
one loader of "the plan / inventory given, else the latest one in the state"."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from migrate.cli.verbs import new_parser as new_parser  # re-exported: defined with the global options it adds
from migrate.core.config import Config, load_config
from migrate.core.errors import UsageError
from migrate.core.model import Inventory, Plan
from migrate.core.state import State

DEFAULT_CONFIG = "wif-migrate.yaml"


def config_from_args(args: argparse.Namespace) -> Config:
    """Load --config, or ./wif-migrate.yaml; a clear usage error when there is none."""
    path = getattr(args, "config", None)
    if path is None:
        if not Path(DEFAULT_CONFIG).exists():
            raise UsageError(f"no configuration: pass --config FILE or create {DEFAULT_CONFIG} "
                             "(`wif-migrate init` writes a commented starter)")
        path = DEFAULT_CONFIG
    return load_config(path)


def existing_state(config: Config) -> State | None:
    """The state database when one exists; None otherwise (a read never creates a state folder)."""
    if not (Path(config.state_dir) / "state.db").exists():
        return None
    return State(config.state_dir)


# --- the latest plan / inventory: the file given, else the newest snapshot in the state --------

NO_PLAN = "no plan: pass --plan FILE (written by `wif-migrate plan`)"
PLAN_SNAPSHOT = "plan snapshot in the state database"


def load_plan(path: str | None, state: State | None, missing: str | None = NO_PLAN,
              source: str = PLAN_SNAPSHOT) -> Plan | None:
    """`--plan FILE`, else the latest plan snapshot of `state`. Without either: a usage error saying
    `missing`, or None when `missing` is None (verbs for which the plan is optional)."""
    from migrate.plan import plan_io

    if path:
        return plan_io.read(path)
    body = state.latest_snapshot("plan") if state is not None else None
    if body is None:
        if missing is not None:
            raise UsageError(missing)
        return None
    return plan_io.from_data(_with_kind(body, plan_io.KIND), source)


def load_inventory(path: str | None, state: State | None, missing: str, source: str) -> Inventory:
    """`--inventory FILE`, else the latest inventory snapshot of `state`; a usage error saying
    `missing` when there is neither."""
    from migrate.scan import inventory_io

    if path:
        return inventory_io.read(path)
    body = state.latest_snapshot("inventory") if state is not None else None
    if body is None:
        raise UsageError(missing)
    return inventory_io.from_data(_with_kind(body, inventory_io.KIND), source)


def _with_kind(body: Any, kind: str) -> Any:
    """Snapshots hold `to_dict(...)` without the file's `kind`: add it (a body that is not a
    mapping is left for the reader to refuse)."""
    return {"kind": kind, **body} if isinstance(body, dict) and "kind" not in body else body
