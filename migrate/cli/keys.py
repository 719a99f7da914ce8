"""`wif-migrate keys retire|delete|rollback|orphans`: key retirement behind evidence gates.

Thin: parse, load the config and the plan, build the backends into `RetireServices`, ask
`migrate.retire.selection` which keys, run `migrate.retire.runner`, render (`migrate.retire.render`,
or JSON with `--format json`), return 1 when anything was refused or failed, else 0.
Mutating runs (not `--dry-run`, not `orphans`) hold the state directory's `RunLock`.
See docs/keys.md for the gate rules and the journal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from migrate.cli.common import NO_PLAN, config_from_args, load_plan, new_parser
from migrate.cli.output import print_outcomes
from migrate.core import outcome_render
from migrate.core.codec import decode_time as parse_time
from migrate.core.config import Config
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK, BackendError, UsageError, WifMigrateError
from migrate.core.progress import Progress, add_progress_option, progress_from_args
from migrate.core.state import JournalEntry, RunLock, State
from migrate.retire import render, selection
from migrate.retire.ports import RetireServices
from migrate.retire.runner import (
    KeyItem,
    OrphanKey,
    Retirement,
    RunOptions,
    StepResult,
    exit_code,
    find_orphans,
)


def register(sub: Any, help_text: str) -> None:
    parser = new_parser(sub, "keys", help_text)
    keys_sub = parser.add_subparsers(dest="keys_verb", metavar="ACTION")

    retire = new_parser(keys_sub, "retire", "disable each planned key whose gates all pass")
    _common(retire)
    retire.add_argument("--accept-unknown-usage", metavar="REASON",
                        help="proceed when the key-usage signal is unavailable; the reason is journaled")
    retire.add_argument("--accept-outside-readers", metavar="KEY_ID", action="append", default=[],
                        help="disable KEY_ID although projects the scan did not check (outside the scope, "
                             "or unreadable) can read its variable; repeatable; journaled with who accepted")
    retire.add_argument("--accept-job", action="append", default=[], metavar="PROJECT:JOB",
                        help="count this job as migrated although verify has no federation evidence for it "
                             "(it did not run after the merge, is manual, or printed no marker); repeatable; "
                             "journaled with who accepted, shown in the report")
    retire.add_argument("--include-rolled-back", action="store_true",
                        help="also disable keys rolled back since the plan was made (they are left "
                             "enabled otherwise, until the next plan)")
    retire.set_defaults(func=run_retire)

    delete = new_parser(keys_sub, "delete", "delete disabled keys and their GitLab variables after the grace period")
    _common(delete)
    delete.add_argument("--accept-unknown-usage", metavar="REASON",
                        help="proceed when the key-usage signal is unavailable; the reason is journaled")
    delete.set_defaults(func=run_delete)

    rollback = new_parser(keys_sub, "rollback", "re-enable a disabled key and record why")
    rollback.add_argument("key_id", metavar="KEY_ID")
    rollback.add_argument("--reason", required=True, help="why the key is re-enabled (journaled)")
    rollback.add_argument("--service-account", metavar="EMAIL",
                          help="the key's service account, when neither the plan nor the journal knows it")
    _common(rollback, keys=False)
    rollback.set_defaults(func=run_rollback)

    orphans = new_parser(keys_sub, "orphans", "list user-managed keys of in-scope service accounts no variable holds")
    orphans.add_argument("--plan", metavar="FILE", help="plan file (default: the latest plan in the state)")
    orphans.add_argument("--now", metavar="ISO", help="override the current time (tests, demos)")
    orphans.add_argument("--format", choices=("table", "json"), default="table")
    add_progress_option(orphans)
    orphans.set_defaults(func=run_orphans)

    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _common(p: argparse.ArgumentParser, keys: bool = True) -> None:
    p.add_argument("--plan", metavar="FILE", help="plan file (default: the latest plan in the state)")
    p.add_argument("--dry-run", action="store_true", help="decide and report; change nothing")
    p.add_argument("--now", metavar="ISO", help="override the current time for the gates (tests, demos)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_progress_option(p)
    if keys:
        p.add_argument("--key", action="append", default=[], metavar="KEY_ID",
                       help="only this key (repeatable); an orphan key is touched only when named here")


# --- wiring ---------------------------------------------------------------------------------------

class KeysContext:
    """What every key action reads: config, state (with the fixed `--now`), plan, the keys-stage
    journal and the latest inventory snapshot."""

    def __init__(self, args: argparse.Namespace, need_plan: bool = True) -> None:
        self.config: Config = config_from_args(args)
        given = getattr(args, "now", None)
        fixed: datetime | None = None
        if given:
            try:
                fixed = parse_time(given)  # State reads it to the second
            except ValueError:
                raise UsageError(f"--now: not an ISO 8601 time: {given!r}") from None
        self.state = State(self.config.state_dir, clock=(lambda: fixed) if fixed else None)
        # the retire stage's time; its text is the journal's (State.now_text)
        self.at: datetime = self.state.now()
        self.now: str = self.state.now_text()
        self.plan = load_plan(getattr(args, "plan", None), self.state, missing=NO_PLAN if need_plan else None)

    def journal(self) -> list[JournalEntry]:
        return self.state.entries(stage="keys")

    def service_accounts(self) -> list[str]:
        return selection.service_accounts(self.plan, self.config.google.service_accounts.values(),
                                          self.state.latest_snapshot("inventory"))

    @contextmanager
    def lock(self, command: str, dry_run: bool) -> Iterator[None]:
        """The run lock for real runs; either way, first say what an earlier run left unfinished."""
        with nullcontext() if dry_run else RunLock(self.config.state_dir, command):
            self.state.warn_unfinished("keys")
            yield


def gitlab_clients(ctx: KeysContext) -> Any:
    """The run's one set of GitLab clients (rate limiter shared by every call); building them reads
    nothing — the token is read on first use, so a run that needs no GitLab works without it."""
    from migrate.gitlab.client import GitLabClients

    return GitLabClients.from_config(ctx.config)


def build_services(ctx: KeysContext, gitlab: Any, variables: bool = False) -> RetireServices:
    """The real backends; the variable admin only when `variables` (it reads the token now)."""
    from migrate.google.clients import GoogleClients
    from migrate.google.service_account_keys import GoogleKeyAdmin

    admin = None
    if variables:
        from migrate.gitlab.variables_admin import GitLabVariableAdmin

        admin = GitLabVariableAdmin(gitlab.gl())
    return RetireServices(GoogleKeyAdmin(GoogleClients(ctx.config.google), selection.key_projects(ctx.plan)),
                          _LiveSchedules(gitlab), admin)


class _LiveSchedules:
    """Pipeline schedules of the key's projects, read live (the no-use window and grace); a
    configuration without GitLab access is a per-key refusal naming it, not a crash."""

    def __init__(self, gitlab: Any) -> None:
        self.gitlab = gitlab

    def schedules(self, project: str) -> list[dict[str, Any]]:
        from migrate.gitlab.pipelines import GitLabPipelines

        try:
            return GitLabPipelines(self.gitlab).schedules(project)
        except BackendError:
            raise
        except WifMigrateError as exc:
            raise BackendError(str(exc)) from None


def _listed_keys(services: RetireServices, accounts: list[str]) -> list[tuple[str, str]]:
    return [(sa, key.key_id) for sa in accounts for key in services.keys.list_user_keys(sa)]


# --- the verbs ------------------------------------------------------------------------------------

def run_retire(args: argparse.Namespace) -> int:
    ctx = KeysContext(args)
    assert ctx.plan is not None
    services = build_services(ctx, gitlab_clients(ctx))
    items = selection.select_for_retire(ctx.plan, args.key, ctx.journal(),
                                        lambda: _listed_keys(services, ctx.service_accounts()))
    options = RunOptions(now=ctx.at, dry_run=args.dry_run, accept_unknown=args.accept_unknown_usage,
                         grace_days=ctx.config.keys.grace_days,
                         accept_outside=selection.accepted_outside(ctx.plan, args.accept_outside_readers),
                         plan_time=ctx.plan.generated_at,
                         include_rolled_back=args.include_rolled_back,
                         accept_jobs=tuple(args.accept_job))
    with ctx.lock("keys retire", args.dry_run):
        run = Retirement(ctx.state, services.keys, None, options, services.schedules)
        results = _each(items, run.retire, progress_from_args(args), "keys retire" + _dry(args))
    return _render(results, args.format, "keys retire")


def _dry(args: argparse.Namespace) -> str:
    return " (dry run)" if getattr(args, "dry_run", False) else ""


def _each(items: list[KeyItem], step: Callable[[Sequence[KeyItem]], list[StepResult]], progress: Progress,
          what: str) -> list[StepResult]:
    """Run `step` key by key so the bar on stderr counts keys (each key: live reads, gates, journal)."""
    results: list[StepResult] = []
    progress.start(what, len(items))
    try:
        for item in items:
            results = step([item])  # the run accumulates its results
            progress.advance()
    finally:
        progress.finish()
    return results


def run_delete(args: argparse.Namespace) -> int:
    ctx = KeysContext(args)
    assert ctx.plan is not None
    items = selection.select_for_delete(ctx.plan, args.key, ctx.journal())
    options = RunOptions(now=ctx.at, dry_run=args.dry_run, accept_unknown=args.accept_unknown_usage,
                         grace_days=ctx.config.keys.grace_days)
    needs_gitlab = any(i.variables for i in items)
    gitlab = gitlab_clients(ctx)
    with ctx.lock("keys delete", args.dry_run):
        if needs_gitlab and not args.dry_run:
            from migrate.gitlab.refusals import require_scope

            require_scope(gitlab, "api", "keys delete (it deletes the keys' CI/CD variables)")
        services = build_services(ctx, gitlab, variables=needs_gitlab)
        run = Retirement(ctx.state, services.keys, services.variables, options, services.schedules)
        results = _each(items, run.delete, progress_from_args(args), "keys delete" + _dry(args))
    return _render(results, args.format, "keys delete")


def run_rollback(args: argparse.Namespace) -> int:
    ctx = KeysContext(args, need_plan=False)
    if not args.reason.strip():
        raise UsageError("--reason: say why the key is re-enabled")
    services = build_services(ctx, gitlab_clients(ctx))
    item = selection.rollback_target(ctx.plan, args.key_id, ctx.journal(), args.service_account,
                                     lambda sa: [k.key_id for k in services.keys.list_user_keys(sa)])
    options = RunOptions(now=ctx.at, dry_run=args.dry_run)
    with ctx.lock("keys rollback", args.dry_run):
        results = Retirement(ctx.state, services.keys, None, options).rollback(item, args.reason.strip())
    return _render(results, args.format, "keys rollback")


def run_orphans(args: argparse.Namespace) -> int:
    ctx = KeysContext(args, need_plan=False)
    services = build_services(ctx, gitlab_clients(ctx))
    progress = progress_from_args(args)
    accounts = ctx.service_accounts()
    held = selection.held_keys(ctx.plan, ctx.state.latest_snapshot("inventory"))
    progress.start("Listing keys of in-scope service accounts", len(accounts))
    orphans: list[OrphanKey] = []
    try:
        for sa in accounts:
            orphans += find_orphans(services.keys, [sa], held, ctx.at)
            progress.advance()
    finally:
        progress.finish()
    code = EXIT_FINDINGS if any(o.error for o in orphans) else EXIT_OK
    if args.format == "json":
        return print_outcomes("keys orphans", code, {"orphans": len(orphans)}, render.orphan_outcomes(orphans),
                              render.ORPHAN_ROWS)
    print(outcome_render.table(render.orphan_outcomes(orphans), render.ORPHAN_ROWS))
    print(render.orphans_line(orphans), file=sys.stderr)
    return code


def _render(results: list[StepResult], fmt: str, command: str = "keys") -> int:
    code = exit_code(results)
    if fmt == "json":
        print_outcomes(command, code, render.outcome_counts(results), render.step_outcomes(results),
                       render.STEP_ROWS)
    else:
        print(outcome_render.table(render.step_outcomes(results), render.STEP_ROWS))
    print(render.summary_line(results), file=sys.stderr)
    return code
