"""`wif-migrate plan`: compute the federation, bindings, CI changes and key retirement.

Reads (never writes) GitLab and Google: the CI files' text and ids, the issuer (and JWKS when
`google.upload_jwks`), the identity project's number, and the pool/provider/bindings as they are
now (so apply can tell a stale plan). Then the pure planner; the plan is refused (exit 1, nothing
written) when federation would let more jobs impersonate a service account than its key did.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrate.cli.common import config_from_args, existing_state, load_inventory, new_parser
from migrate.cli.output import STDOUT, print_outcomes, write_output
from migrate.core.config import Config
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from migrate.core.model import Inventory, Plan
from migrate.core.outcome import ItemOutcome, Status
from migrate.core.progress import add_progress_option, progress_from_args
from migrate.core.state import State
from migrate.plan import impersonation_journal, plan_io, terraform
from migrate.plan.planner import PlanRefusedError, default_rewriter
from migrate.plan.ports import PlanGitLab, PlanGoogle
from migrate.plan.render import ITEMS, item_outcomes, render_explain, render_plan
from migrate.plan.rewrite_journal import KIND as REWRITE_KIND
from migrate.plan.rewrite_journal import JournaledRewriter
from migrate.plan.runner import PlanRequest, run_plan
from migrate.plan.summary import changes, counts, pending, summary_line

log = logging.getLogger(__name__)


def register(sub: Any, help_text: str) -> None:
    p = new_parser(sub, "plan", help_text)
    p.add_argument("--inventory", metavar="FILE", help="inventory from `scan` (default: the latest in the state)")
    p.add_argument("--output", "-o", metavar="FILE", default="plan.json",
                   help="plan file to write (default plan.json; `-` = stdout, the tables then go to stderr)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or json: the output envelope with one item per action on stdout")
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="exit 0 when there is nothing to do, 2 when changes are pending, 1 on error or refusal")
    p.add_argument("--explain", metavar="SA", help="show every token considered for this service account")
    p.add_argument("--emit", nargs=2, metavar=("FORMAT", "DIR"), help="also write the federation as FORMAT "
                   "(terraform) into DIR")
    p.add_argument("--offline", action="store_true", help="do not read Google or GitLab (needs --project-number)")
    p.add_argument("--project-number", metavar="N", help="the identity project's number (skip Resource Manager)")
    p.add_argument("--no-diff", action="store_true", help="do not print the CI diffs")
    p.add_argument("--id-token", metavar="FILE", help="a job ID token from the instance (e.g. `echo "
                   "\"$ID_TOKEN\" > t.jwt` in a throwaway job): its `iss` becomes the provider's issuer")
    add_progress_option(p)
    p.set_defaults(func=run)


def _inventory(args: argparse.Namespace, config: Config) -> Inventory:
    return load_inventory(args.inventory, None if args.inventory else existing_state(config),
                          f"no inventory in the state at {config.state_dir} (state_dir of {config.source}): "
                          "run `wif-migrate scan` first or pass --inventory FILE",
                          "inventory snapshot in the state database")


def _token_iss(path: str | None) -> str | None:
    if not path:
        return None
    from migrate.plan.issuer import token_issuer

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--id-token: cannot read {path}: {type(exc).__name__}") from None
    return token_issuer(text)


def plan_sources(config: Config, offline: bool, number: str | None) -> tuple[PlanGitLab | None, PlanGoogle | None]:
    """The read-only adapters `plan` reads through (none offline), after the preflight checks:
    seconds, not minutes of retries, when a URL or a credential is wrong."""
    if offline:
        return None, None
    from migrate.cli.preflight import check_gitlab, check_google
    from migrate.gitlab.plan_reads import GitLabPlanReads
    from migrate.google.clients import GoogleClients
    from migrate.google.plan_reads import GooglePlanReads

    check_gitlab(config)
    if number is None:
        check_google(config)
    return GitLabPlanReads(config), GooglePlanReads(GoogleClients(config.google))


def run(args: argparse.Namespace) -> int:
    if args.format == "json" and args.output == STDOUT:
        raise UsageError("--format json and -o - both want stdout: write the plan to a file with -o FILE")
    config = config_from_args(args)
    inventory = _inventory(args, config)
    progress = progress_from_args(args)
    request = PlanRequest(offline=args.offline, number=args.project_number,
                          token_iss=_token_iss(getattr(args, "id_token", None)))
    gitlab, google = plan_sources(config, args.offline, args.project_number)
    human = sys.stderr if args.output == STDOUT else sys.stdout
    # each rewrite journaled with the digest of its inputs: apply confirms instead of redoing it
    rewriter = JournaledRewriter(default_rewriter())
    try:
        # the CI texts the scan kept (used only where unchanged; migrate.plan.scanned_files)
        result = run_plan(inventory, config, request, gitlab, google, rewriter, progress, existing_state(config))
    except PlanRefusedError as exc:
        if args.format == "json":
            return print_outcomes("plan", EXIT_FINDINGS, _summary(exc.result.plan, refused=True),
                                  item_outcomes(exc.result.plan), ITEMS,
                                  errors=[ItemOutcome("plan", Status.REFUSED, str(exc))])
        print(render_plan(exc.result.plan, diffs=False), file=human)
        print(f"wif-migrate: {exc}", file=sys.stderr)
        return EXIT_FINDINGS
    plan = result.plan
    if args.format == "json":
        pass
    elif args.explain:
        print(render_explain(result.impersonation, args.explain), file=human)
    else:
        print(render_plan(plan, diffs=not args.no_diff), file=human)
    where = write_output(args.output, plan_io.pieces(plan), "plan")  # streamed: never one string
    state = State(config.state_dir)
    state.record_computations(REWRITE_KIND, rewriter.journal.new)
    state.record_computations(impersonation_journal.KIND, {
        impersonation_journal.journal_key(plan.inputs_digest): impersonation_journal.journal_record(
            result.impersonation)} if plan.inputs_digest else {})
    if args.output == STDOUT:
        state.save_snapshot("plan", plan_io.to_data(plan))
    else:  # the file just written, copied in chunks: not encoded twice (issue 18)
        state.save_snapshot_file("plan", where)
    print(f"plan written to {where} ({len(plan.actions)} actions, {len(plan.manual)} manual/error entries)",
          file=sys.stderr)
    if args.emit:
        _emit(args.emit, plan, config)
    code = EXIT_OK
    if args.detailed_exitcode and pending(changes(plan)):
        code = EXIT_PENDING
    if args.format == "json":
        return print_outcomes("plan", code, _summary(plan), item_outcomes(plan), ITEMS)
    return code


EXIT_PENDING = 2  # `--detailed-exitcode`: changes pending (as `terraform plan -detailed-exitcode`)


def _summary(plan: Plan, refused: bool = False) -> dict[str, Any]:
    rows = changes(plan)
    return {**counts(rows), "pending": pending(rows), "refused": refused, "line": summary_line(plan),
            "manual": sum(1 for m in plan.manual if m.severity == "manual"),
            "could_not_read": sum(1 for m in plan.manual if m.severity == "error")}


def _emit(emit: Sequence[str], plan: Plan, config: Config) -> None:
    fmt, directory = emit
    if fmt != "terraform":
        raise UsageError(f"--emit {fmt}: unknown format (terraform)")
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    state = existing_state(config)
    applied = terraform.applied_bindings(state.entries("apply")) if state is not None else {}
    for name, text in terraform.render(plan, applied).items():
        (target / name).write_text(text, encoding="utf-8")
    print(f"terraform written to {target}", file=sys.stderr)
