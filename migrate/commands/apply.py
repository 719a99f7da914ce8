"""`wif-migrate apply PLAN [--dry-run]`: create the federation and open the merge requests of a plan.

Takes the state directory's run lock for a real run, journals every action (intent, outcome) under
stage "apply", and prints one row per action. Exit 0 when nothing failed or was refused, 1 otherwise.
A dry run sends no mutating request and writes nothing (not even the journal).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from migrate import inventory_io, plan_io
from migrate.apply import ApplyContext, apply_plan, find_inventory, journal_refusals, load_plugins, summarize
from migrate.commands._common import config_from_args, new_parser
from migrate.errors import EXIT_FINDINGS, EXIT_OK
from migrate.model import Inventory, Plan, to_dict
from migrate.state import RunLock, State
from migrate.textsafe import tabulate


def register(sub: Any, help_text: str) -> None:
    p = new_parser(sub, "apply", help_text)
    p.add_argument("plan", metavar="PLAN", help="plan file written by `wif-migrate plan`")
    p.add_argument("--dry-run", action="store_true", help="read live state and say what would change; change nothing")
    p.add_argument("--only", action="append", metavar="KIND", default=None,
                   help="apply only actions of this kind (repeatable), e.g. --only ensure_binding")
    p.add_argument("--inventory", metavar="FILE",
                   help="the scan's inventory the plan was made from, when that scan was not journaled in "
                        "this state directory (a plan made elsewhere is refused unless named so)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    plan = plan_io.read(args.plan)
    inventory: Inventory | None
    if args.inventory:
        inventory = inventory_io.read(args.inventory)
    else:
        journaled = (Path(config.state_dir) / "state.db").exists()  # a dry run creates no state
        inventory = find_inventory(State(config.state_dir).snapshots_bodies("inventory") if journaled else (),
                                   plan.inventory_digest)
    refusals = journal_refusals(plan, inventory, config, str(config.state_dir))
    load_plugins()
    lock = contextlib.nullcontext() if args.dry_run else RunLock(config.state_dir, "apply")
    with lock:
        services: dict[str, Any] = {}
        if not args.dry_run and _writes_gitlab(plan, args.only):
            from migrate.gitlab.client import GitLabClients
            from migrate.gitlab.refusals import require_scope

            # the same clients the merge-request executor will use (one rate limiter)
            services["gitlab_clients"] = GitLabClients.from_config(config)
            require_scope(services["gitlab_clients"], "api", "apply (it opens merge requests)")
        state = None if args.dry_run else State(config.state_dir)
        if state is not None:
            state.warn_unfinished("apply")
            state.save_snapshot("plan", plan_io.to_data(plan))
        ctx = ApplyContext(plan, args.dry_run, config, state, services=services)
        results = apply_plan(plan, ctx, kinds=args.only, extra_refusals=refusals)
    if args.format == "json":
        print(json.dumps([to_dict(r) for r in results], indent=2, sort_keys=True))
    else:
        rows = [[r.action_id, r.outcome, r.detail] for r in results]
        print(tabulate(rows, headers=["action", "outcome", "detail"], tablefmt="simple"))
    counts = summarize(results)
    print(("dry run: " if args.dry_run else "") + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
          file=sys.stderr)
    return EXIT_FINDINGS if counts.get("failed") or counts.get("refused") else EXIT_OK


def _writes_gitlab(plan: Plan, only: list[str] | None) -> bool:
    return any(a.kind == "merge_request" and (not only or a.kind in only) for a in plan.actions)
