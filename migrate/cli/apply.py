"""`wif-migrate apply PLAN [--dry-run]`: create the federation and open the merge requests of a plan.

Takes the state directory's run lock for a real run, journals every action (intent, outcome) under
stage "apply", and prints one row per action. Exit 0 when nothing failed or was refused, 1 otherwise.
A dry run sends no mutating request and writes nothing (not even the journal).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from migrate.apply import render
from migrate.apply.context import ActionExecutor, ApplyContext, ApplyServices, ExecutorFactory
from migrate.apply.executors import EXECUTORS, KEY_KINDS
from migrate.apply.loop import GOOGLE_KINDS, apply_plan, find_inventory, journal_refusals, summarize
from migrate.apply.selection import with_dependencies
from migrate.cli.common import config_from_args, new_parser
from migrate.cli.output import print_outcomes
from migrate.core import outcome_render
from migrate.core.config import Config
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK
from migrate.core.model import Action, ActionResult, Inventory, Plan
from migrate.core.progress import Progress, add_progress_option, progress_from_args
from migrate.core.state import RunLock, State
from migrate.plan import impersonation_journal, plan_io, rewrite_journal
from migrate.scan import inventory_io


def register(sub: Any, help_text: str) -> None:
    p = new_parser(sub, "apply", help_text)
    p.add_argument("plan", metavar="PLAN", help="plan file written by `wif-migrate plan`")
    p.add_argument("--dry-run", action="store_true", help="read live state and say what would change; change nothing")
    p.add_argument("--only", action="append", metavar="KIND", default=None,
                   help="apply only actions of this kind and those they depend on (repeatable), "
                   "e.g. --only ensure_binding (also ensures the pool and provider)")
    p.add_argument("--inventory", metavar="FILE",
                   help="the scan's inventory the plan was made from, when that scan was not journaled in "
                        "this state directory (a plan made elsewhere is refused unless named so)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_progress_option(p)
    p.set_defaults(func=run)


def _preflight(config: Config, kinds: set[str]) -> None:
    """Seconds, not a table of per-action failures, when a backend the run needs is unusable: GitLab
    for merge requests and the live variable re-reads of bindings, Google for the federation."""
    from migrate.cli.preflight import check_gitlab, check_google

    if kinds & {"merge_request", "ensure_binding"}:
        check_gitlab(config)
    if kinds & {"ensure_pool", "ensure_provider", "ensure_binding"}:
        check_google(config)


def run(args: argparse.Namespace) -> int:
    # the integrity check (the plan against itself) and the journal check (its inputs against the
    # journaled scan) derive the federation from the same inputs: once per run (issue 18)
    from migrate.plan.planner import derivation_memo

    with derivation_memo():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    plan = plan_io.read(args.plan)
    journaled = (Path(config.state_dir) / "state.db").exists()  # a dry run creates no state
    # the rewrites `plan` journaled with the digests of their inputs (migrate.plan.rewrite_journal)
    rewrites = rewrite_journal.from_state(State(config.state_dir)) if journaled else rewrite_journal.RewriteJournal()
    # and the who-can-impersonate simulation it ran (migrate.plan.impersonation_journal)
    simulated: dict[str, Any] = {}
    if journaled and plan.inputs_digest:
        key = impersonation_journal.journal_key(plan.inputs_digest)
        record = State(config.state_dir).computation(impersonation_journal.KIND, key)
        simulated = {key: record} if record is not None else {}
    refusals = _journal_refusals(args, config, plan, journaled)
    kinds = with_dependencies(plan, args.only)
    _preflight(config, {a.kind for a in plan.actions if a.kind not in KEY_KINDS and a.id not in refusals
                        and (kinds is None or a.kind in kinds)})
    # One set of GitLab clients (one rate limiter) for the live checks and the executors, and the
    # files the checks read handed on to the merge-request executor (read once per run).
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.files import SharedReads

    gitlab_clients, reads = GitLabClients.from_config(config), SharedReads()
    if any(a.kind == "ensure_binding" and a.id not in refusals and (kinds is None or a.kind in kinds)
           for a in plan.actions):
        refusals = {**_live_refusals(plan, config, gitlab_clients, reads), **refusals}
    if args.only and kinds is not None and set(kinds) != set(args.only):
        print(f"--only {', '.join(args.only)}: also running {', '.join(sorted(set(kinds) - set(args.only)))} "
              "(its dependencies; each is idempotent)", file=sys.stderr)
    lock = contextlib.nullcontext() if args.dry_run else RunLock(config.state_dir, "apply")
    with lock:
        if not args.dry_run and _writes_gitlab(plan, kinds):
            from migrate.gitlab.refusals import require_scope

            require_scope(gitlab_clients, "api", "apply (it opens merge requests)")
        state = None if args.dry_run else State(config.state_dir)
        if state is not None:
            state.warn_unfinished("apply")
            state.save_snapshot("plan", plan_io.to_data(plan))
        ctx = ApplyContext(plan, args.dry_run, config, state,
                           services=build_services(config, plan, kinds, gitlab_clients=gitlab_clients,
                                                  gitlab_reads=reads, rewrites=rewrites))
        progress = progress_from_args(args)
        todo = [a for a in plan.actions if a.kind not in KEY_KINDS and (kinds is None or a.kind in kinds)]
        progress.start("apply (dry run)" if args.dry_run else "apply", total=len(todo))
        try:
            results = apply_plan(plan, ctx, kinds=kinds, extra_refusals=refusals,
                                 registry=announcing(progress), journaled=simulated)
        finally:
            progress.finish()
    counts = summarize(results)
    code = EXIT_FINDINGS if counts.get("failed") or counts.get("refused") else EXIT_OK
    if args.format == "json":
        print_outcomes("apply", code, {**counts, "dry_run": bool(args.dry_run)}, render.outcomes(results),
                       render.ROWS)
    else:
        print(outcome_render.table(render.outcomes(results), render.ROWS))
    print(render.summary_line(counts, bool(args.dry_run)), file=sys.stderr)
    return code


def _journal_refusals(args: argparse.Namespace, config: Config, plan: Plan, journaled: bool) -> dict[str, str]:
    """The plan checked against the scan it was made from (`journal_refusals`). The inventory is
    needed for nothing else: read here, it is let go before the live checks and the executors run
    (~15 MB at 10,000 projects off the dry run's peak, issue 18)."""
    inventory: Inventory | None
    if args.inventory:
        inventory = inventory_io.read(args.inventory)
    else:
        inventory = find_inventory(State(config.state_dir).snapshot_bodies_newest_first("inventory")
                                   if journaled else (), plan.inventory_digest)
    # an inventory found by `find_inventory` has the plan's inventory digest: not hashed again
    return journal_refusals(plan, inventory, config, str(config.state_dir),
                            digest=plan.inventory_digest if inventory is not None and not args.inventory else None)


def build_services(config: Config, plan: Plan, kinds: list[str] | None = None, gitlab_clients: Any = None,
                   poll_interval: float | None = None, gitlab_reads: Any = None,
                   rewrites: rewrite_journal.RewriteJournal | None = None) -> ApplyServices:
    """The adapters the selected actions need, built once per run: one set of Google clients and
    one write-quota pacer shared by the pool, provider and binding executors; the GitLab clients
    (with their rate limiter) the scope check used, for the merge requests; the CI rewriter, which
    confirms a planned rewrite from `rewrites` (journaled by `plan`) instead of redoing it when its
    live inputs are exactly the journaled ones. Nothing here talks to a backend (clients connect on
    first use)."""
    wanted = {a.kind for a in plan.actions if kinds is None or a.kind in kinds}
    workload_identity = policies = merge_requests = rewriter = None
    if wanted & set(GOOGLE_KINDS):
        from migrate.google.clients import GoogleClients
        from migrate.google.iam_policy import PolicyEditor
        from migrate.google.quota import quotas_from
        from migrate.google.workload_identity import WifAdmin

        clients = GoogleClients(config.google)
        quotas = quotas_from(config.google)
        interval = config.google.operation_poll_interval if poll_interval is None else poll_interval
        workload_identity = WifAdmin(clients, poll_interval=float(interval), quotas=quotas)
        policies = PolicyEditor(clients, quotas=quotas)
    if "merge_request" in wanted:
        from migrate.gitlab.client import GitLabClients
        from migrate.gitlab.merge_requests import GitLabMergeRequests

        # `gitlab_reads`: the files the live checks read, each served to the executor once
        merge_requests = GitLabMergeRequests(gitlab_clients or GitLabClients.from_config(config), gitlab_reads)
        from migrate.plan.planner import default_rewriter

        rewriter = rewrite_journal.JournaledRewriter(default_rewriter(), rewrites)
    return ApplyServices(workload_identity, policies, merge_requests, rewriter)


class _Announced:
    """An executor that advances the progress bar when its action is done."""

    def __init__(self, inner: ActionExecutor, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def execute(self, action: Action, ctx: ApplyContext) -> ActionResult:
        try:
            return self.inner.execute(action, ctx)
        finally:
            self.progress.advance()


def announcing(progress: Progress) -> dict[str, ExecutorFactory]:
    """The executors, each wrapped to advance `progress` (the core loop never prints)."""
    def wrap(factory: ExecutorFactory) -> ExecutorFactory:
        return lambda ctx: _Announced(factory(ctx), progress)
    return {kind: wrap(factory) for kind, factory in EXECUTORS.items()}


def _live_refusals(plan: Plan, config: Any, clients: Any = None, reads: Any = None) -> dict[str, str]:
    """Re-read the GitLab facts every binding rests on (migrate.apply.live_checks), with
    `config.concurrency` worker threads; a GitLab that cannot be reached refuses the bindings,
    naming why. `reads`: where the files read are left for the merge-request executor."""
    from migrate.apply.live_checks import binding_refusals
    from migrate.core.errors import WifMigrateError
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.live_facts import GitLabLiveFacts

    try:
        clients = clients if clients is not None else GitLabClients.from_config(config)
        clients.gl()  # the token and URL: fail here for every binding, with why
        live = GitLabLiveFacts(clients=clients, reads=reads)
    except WifMigrateError as exc:
        return {a.id: f"cannot re-read the GitLab facts the binding rests on: {exc}"
                for a in plan.actions if a.kind == "ensure_binding"}
    return binding_refusals(plan, live, concurrency=config.concurrency)


def _writes_gitlab(plan: Plan, only: list[str] | None) -> bool:
    return any(a.kind == "merge_request" and (not only or a.kind in only) for a in plan.actions)
