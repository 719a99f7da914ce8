"""`wif-migrate keys retire|delete|rollback|orphans`: key retirement behind evidence gates.

Thin: parse, load the config and the plan, build the real backends, run `migrate.retire.runner`, render a
table (or JSON with `--format json`), return 1 when anything was refused or failed, else 0.
Mutating runs (not `--dry-run`, not `orphans`) hold the state directory's `RunLock`.
See docs/keys.md for the gate rules and the journal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from typing import Any

from migrate.cli.common import NO_PLAN, config_from_args, load_plan, new_parser
from migrate.cli.output import print_envelope
from migrate.core.config import Config
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from migrate.core.progress import Progress, add_progress_option, progress_from_args
from migrate.core.state import RunLock, State
from migrate.core.tables import loud
from migrate.core.textsafe import tabulate
from migrate.core.times import iso, parse_time
from migrate.retire.gates import held_key_ids
from migrate.retire.ports import KeyAdmin, VariableAdmin
from migrate.retire.runner import (
    KeyItem,
    OrphanKey,
    Retirement,
    RunOptions,
    StepResult,
    exit_code,
    find_orphans,
    items_from_plan,
    resolve_key_id,
    service_accounts_in_scope,
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
    """What every key action needs: config, state, plan, backends, the time."""

    def __init__(self, args: argparse.Namespace, need_plan: bool = True) -> None:
        self.config: Config = config_from_args(args)
        now = getattr(args, "now", None)
        if now:
            try:
                now = iso(parse_time(now))
            except ValueError:
                raise UsageError(f"--now: not an ISO 8601 time: {now!r}") from None
        fixed = now
        self.state = State(self.config.state_dir, clock=(lambda: fixed) if fixed else None)
        self.now: str = fixed or self.state.now()
        self.plan = load_plan(getattr(args, "plan", None), self.state, missing=NO_PLAN if need_plan else None)
        self._keys: KeyAdmin | None = None
        self._variables: VariableAdmin | None = None
        self._gitlab: Any = None  # GitLabClients, built on first use

    def keys(self) -> KeyAdmin:
        if self._keys is None:
            from migrate.google.clients import GoogleClients
            from migrate.google.service_account_keys import GoogleKeyAdmin

            projects = {}
            for a in self.plan.actions if self.plan else ():
                if a.params.get("service_account") and a.params.get("key_project"):
                    projects[str(a.params["service_account"])] = str(a.params["key_project"])
            self._keys = GoogleKeyAdmin(GoogleClients(self.config.google), projects)
        return self._keys

    def gitlab(self) -> Any:
        """The run's one set of GitLab clients (rate limiter shared by every call)."""
        if self._gitlab is None:
            from migrate.gitlab.client import GitLabClients

            self._gitlab = GitLabClients.from_config(self.config)
        return self._gitlab

    def schedules(self) -> Any:
        """Pipeline schedules of the key's projects, read live (the no-use window and grace); the
        GitLab clients are built on the first read, and a configuration without GitLab access is
        a per-key refusal naming it, not a crash."""
        ctx = self

        class Lazy:
            def schedules(self, project: str) -> list[dict[str, Any]]:
                from migrate.core.errors import BackendError, WifMigrateError
                from migrate.gitlab.pipelines import GitLabPipelines

                try:
                    return GitLabPipelines(ctx.gitlab()).schedules(project)
                except BackendError:
                    raise
                except WifMigrateError as exc:
                    raise BackendError(str(exc)) from None

        return Lazy()

    def variables(self) -> VariableAdmin:
        if self._variables is None:
            from migrate.gitlab.variables_admin import GitLabVariableAdmin

            self._variables = GitLabVariableAdmin(self.gitlab().gl())
        return self._variables

    @contextmanager
    def lock(self, command: str, dry_run: bool) -> Iterator[None]:
        """The run lock for real runs; either way, first say what an earlier run left unfinished."""
        with nullcontext() if dry_run else RunLock(self.config.state_dir, command):
            self.state.warn_unfinished("keys")
            yield

    def held(self) -> set[str]:
        """Key ids some GitLab variable holds (plan actions, plan inputs, latest inventory)."""
        held = {i.key_id for i in items_from_plan(self.plan)} if self.plan else set()
        if self.plan:
            inputs_vars = self.plan.inputs.get("variables") if isinstance(self.plan.inputs, dict) else None
            if isinstance(inputs_vars, list):
                held |= held_key_ids(v for v in inputs_vars if isinstance(v, dict))
        inventory = self.state.latest_snapshot("inventory")
        if isinstance(inventory, dict):
            held |= held_key_ids(v for v in inventory.get("variables") or [] if isinstance(v, dict))
        return held

    def journal_key_ids(self) -> list[str]:
        """Key ids the keys-stage journal has acted on (orphans disabled earlier, rollbacks)."""
        return [str(e.evidence["key_id"]) for e in self.state.entries(stage="keys") if e.evidence.get("key_id")]

    def service_accounts(self) -> list[str]:
        extra = list(self.config.google.service_accounts.values())
        inventory = self.state.latest_snapshot("inventory")
        if isinstance(inventory, dict):
            for f in inventory.get("key_facts") or []:
                sa = ((f or {}).get("key") or {}).get("service_account")
                if sa:
                    extra.append(str(sa))
        if self.plan is None:
            return sorted({e.lower() for e in extra})
        return service_accounts_in_scope(self.plan, extra)


def _select(ctx: KeysContext, args: argparse.Namespace, allow_orphans: bool) -> list[KeyItem]:
    """Plan items (restricted to --key); a named key not in the plan must be an in-scope orphan."""
    assert ctx.plan is not None
    items = items_from_plan(ctx.plan)
    known = [i.key_id for i in items] + ctx.journal_key_ids()
    named = [resolve_key_id(k, known, "--key") for k in args.key]
    if not named:
        return items
    chosen = [i for i in items if i.key_id in named]
    missing = [k for k in named if k not in {i.key_id for i in chosen}]
    if missing and allow_orphans:
        listed = [(sa, key) for sa in ctx.service_accounts() for key in ctx.keys().list_user_keys(sa)]
        missing = [resolve_key_id(k, [key.key_id for _, key in listed], "--key") for k in missing]
        for sa, key in listed:
            if key.key_id in missing:
                chosen.append(KeyItem(sa, key.key_id, action_id=key.key_id, delete_action_id=key.key_id,
                                      orphan=True))
                missing.remove(key.key_id)
    if missing:
        raise UsageError(f"--key {missing[0]}: not a key of the plan nor a user-managed key of an in-scope "
                         "service account")
    return chosen


def _orphans_from_journal(ctx: KeysContext, named: list[str]) -> list[KeyItem]:
    """Orphans disabled earlier by `retire --key`: `delete --key` finds them in the journal."""
    out: list[KeyItem] = []
    for e in ctx.state.entries(stage="keys"):
        kid = e.evidence.get("key_id")
        if e.kind == "disable_key" and e.evidence.get("orphan") and kid in named \
                and kid not in {i.key_id for i in out}:
            out.append(KeyItem(str(e.evidence["service_account"]), str(kid), action_id=str(kid),
                               delete_action_id=str(kid), orphan=True))
    return out


def run_retire(args: argparse.Namespace) -> int:
    ctx = KeysContext(args)
    items = _select(ctx, args, allow_orphans=True)
    planned = {i.key_id for i in items_from_plan(ctx.plan)} if ctx.plan else set()
    accepted = tuple(resolve_key_id(k, planned, "--accept-outside-readers") for k in args.accept_outside_readers)
    unknown = [k for k in accepted if k not in planned]
    if unknown:
        raise UsageError(f"--accept-outside-readers {unknown[0]}: not a key id of the plan")
    options = RunOptions(now=ctx.now, dry_run=args.dry_run, accept_unknown=args.accept_unknown_usage,
                         grace_days=ctx.config.keys.grace_days, accept_outside=accepted,
                         plan_time=ctx.plan.generated_at if ctx.plan else None,
                         include_rolled_back=args.include_rolled_back,
                         accept_jobs=tuple(args.accept_job))
    with ctx.lock("keys retire", args.dry_run):
        run = Retirement(ctx.state, ctx.keys(), None, options, ctx.schedules())
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
    named = [resolve_key_id(k, [i.key_id for i in items_from_plan(ctx.plan)] + ctx.journal_key_ids(), "--key")
             for k in args.key]
    items = [i for i in items_from_plan(ctx.plan) if not named or i.key_id in named]
    items += [o for o in _orphans_from_journal(ctx, named) if o.key_id not in {i.key_id for i in items}]
    missing = [k for k in named if k not in {i.key_id for i in items}]
    if missing:
        raise UsageError(f"--key {missing[0]}: not a key of the plan nor an orphan disabled by `keys retire`")
    options = RunOptions(now=ctx.now, dry_run=args.dry_run, accept_unknown=args.accept_unknown_usage,
                         grace_days=ctx.config.keys.grace_days)
    needs_gitlab = any(i.variables for i in items)
    with ctx.lock("keys delete", args.dry_run):
        if needs_gitlab and not args.dry_run:
            from migrate.gitlab.refusals import require_scope

            require_scope(ctx.gitlab(), "api", "keys delete (it deletes the keys' CI/CD variables)")
        run = Retirement(ctx.state, ctx.keys(), ctx.variables() if needs_gitlab else None, options,
                         ctx.schedules())
        results = _each(items, run.delete, progress_from_args(args), "keys delete" + _dry(args))
    return _render(results, args.format, "keys delete")


def run_rollback(args: argparse.Namespace) -> int:
    ctx = KeysContext(args, need_plan=False)
    if not args.reason.strip():
        raise UsageError("--reason: say why the key is re-enabled")
    known = ([i.key_id for i in items_from_plan(ctx.plan)] if ctx.plan else []) + ctx.journal_key_ids()
    kid = resolve_key_id(args.key_id, known, "KEY_ID")
    item = next((i for i in items_from_plan(ctx.plan) if i.key_id == kid), None) if ctx.plan else None
    if item is None:
        sa = args.service_account
        if sa is None:
            sa = next((e.evidence.get("service_account") for e in reversed(ctx.state.entries(stage="keys"))
                       if e.evidence.get("key_id") == kid and e.evidence.get("service_account")), None)
        if sa is None:
            raise UsageError(f"key {kid}: unknown service account; pass --service-account EMAIL")
        if len(kid) < 40:  # a short id the plan and journal do not know: resolve it on Google's list
            kid = resolve_key_id(kid, [k.key_id for k in ctx.keys().list_user_keys(str(sa))], "KEY_ID")
        item = KeyItem(str(sa), kid, action_id=kid, delete_action_id=kid)
    options = RunOptions(now=ctx.now, dry_run=args.dry_run)
    with ctx.lock("keys rollback", args.dry_run):
        results = Retirement(ctx.state, ctx.keys(), None, options).rollback(item, args.reason.strip())
    return _render(results, args.format, "keys rollback")


def run_orphans(args: argparse.Namespace) -> int:
    ctx = KeysContext(args, need_plan=False)
    progress = progress_from_args(args)
    accounts, held = ctx.service_accounts(), ctx.held()
    progress.start("Listing keys of in-scope service accounts", len(accounts))
    orphans: list[OrphanKey] = []
    try:
        for sa in accounts:
            orphans += find_orphans(ctx.keys(), [sa], held, ctx.now)
            progress.advance()
    finally:
        progress.finish()
    if args.format == "json":
        code = EXIT_FINDINGS if any(o.error for o in orphans) else EXIT_OK
        return print_envelope("keys orphans", code, {"orphans": len(orphans)}, [asdict(o) for o in orphans],
                              [{"subject": o.key_id, "reason": str(o.error)} for o in orphans if o.error])
    else:
        print(_orphan_table(orphans))
    print(f"{len(orphans)} orphan key(s); they are never touched unless named: keys retire --key KEY_ID",
          file=sys.stderr)
    return EXIT_FINDINGS if any(o.error for o in orphans) else EXIT_OK


# --- rendering ------------------------------------------------------------------------------------

def _orphan_table(orphans: list[OrphanKey]) -> str:
    rows = []
    for o in orphans:
        last = o.last_authenticated or (f"unknown: {o.usage_unknown_reason}" if o.usage_unknown_reason else "none")
        rows.append([o.service_account, o.key_id or loud("ERROR"), o.created or "", "" if o.age_days is None else o.age_days,
                     "yes" if o.disabled else "no", o.error or last])
    return tabulate(rows, headers=["service account", "key id", "created", "age (days)", "disabled",
                                   "last authentication"])


def _render(results: list[StepResult], fmt: str, command: str = "keys") -> int:
    code = exit_code(results)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    if fmt == "json":
        print_envelope(command, code, counts, [asdict(r) for r in results],
                       [{"subject": r.target, "reason": r.detail} for r in results
                        if r.outcome in ("failed", "refused")])
    else:
        rows = [[r.kind, r.target, loud(r.outcome), r.detail] for r in results]
        print(tabulate(rows, headers=["step", "target", "outcome", "detail"], maxcolwidths=[None, 60, None, 80]))
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "nothing to do"
    print(f"keys: {summary}", file=sys.stderr)
    return code
