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

from migrate.cli.common import config_from_args, existing_state, new_parser
from migrate.cli.output import STDOUT, print_envelope, write_output
from migrate.core.config import Config
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK, UsageError, WifMigrateError
from migrate.core.model import Inventory, Plan
from migrate.core.progress import Progress, SilentProgress, add_progress_option, progress_from_args
from migrate.core.state import State, utcnow
from migrate.plan import plan_io, terraform
from migrate.plan.planner import (
    LiveFederation,
    PlanFacts,
    PlanRefusedError,
    build_plan,
    default_rewriter,
    derivation_memo,
    derive,
    make_inputs,
)
from migrate.plan.render import render_explain, render_plan
from migrate.plan.summary import changes, counts, pending, summary_line
from migrate.scan import inventory_io

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
    if args.inventory:
        return inventory_io.read(args.inventory)
    state = existing_state(config)
    snap = state.latest_snapshot("inventory") if state is not None else None
    if snap is None:
        raise UsageError(f"no inventory in the state at {config.state_dir} (state_dir of {config.source}): "
                         "run `wif-migrate scan` first or pass --inventory FILE")
    return inventory_io.from_data({"kind": inventory_io.KIND, **snap} if "kind" not in snap else snap,
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


def gather_facts(config: Config, inventory: Inventory, offline: bool, number: str | None,
                 id_token: str | None = None, progress: Progress | None = None) -> PlanFacts:
    """Everything the planner needs from the outside world, read-only; `progress` counts the reads."""
    progress = progress or SilentProgress()
    from migrate.plan.issuer import choose_issuer

    jwks = None
    discovered: str | None = None
    token_iss = _token_iss(id_token)
    if not offline:
        from migrate.cli.preflight import check_gitlab, check_google
        from migrate.gitlab import oidc

        check_gitlab(config)  # seconds, not minutes of retries, when the URL or token is wrong
        if number is None:
            check_google(config)
        try:
            discovered = oidc.issuer(config.gitlab.url, config.gitlab.ssl_verify)
        except WifMigrateError as exc:
            log.warning("%s; cannot check the issuer against discovery", exc)
    choice = choose_issuer(config.gitlab.url, inventory.gitlab_version, discovered, config.gitlab.issuer,
                           token_iss)
    issuer = choice.issuer
    for warning in choice.warnings:
        log.warning("issuer: %s", warning)
    if not offline and config.google.upload_jwks:
        from migrate.gitlab import oidc

        jwks = oidc.jwks_json(config.gitlab.url, config.gitlab.ssl_verify)
    if number is None:
        if offline:
            raise UsageError("--offline needs --project-number")
        from migrate.google.clients import GoogleClients
        from migrate.google.projects import project_number

        number = project_number(GoogleClients(config.google), config.google.identity_project)
    facts = PlanFacts(project_number=number, issuer=issuer, jwks_json=jwks, generated_at=utcnow())
    if offline:
        return facts
    live, bindings, others = _live(config, inventory, facts, progress)
    return PlanFacts(project_number=number, issuer=issuer, jwks_json=jwks, generated_at=facts.generated_at,
                     files=_files(config, inventory, progress), live=live, live_bindings=bindings,
                     policy_members_other=others)


def _files(config: Config, inventory: Inventory, progress: Progress) -> dict[tuple[str, str, str], Any]:
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.files import read_files

    wanted = {(u.file_project, u.file_path, u.ref) for u in inventory.usages}
    # Every file of every pipeline that reads a keyed file: the planner checks that each job of
    # those pipelines still gets the ID token after the rewrite (migrate.plan.consumer_check).
    projects = {p.path: p for p in inventory.projects}
    for c in sorted({c for u in inventory.usages for c in u.consumers}):
        p = projects.get(c)
        if p is None:
            continue
        wanted.update((f.project, f.path, f.ref) for f in p.ci_files if f.ref)
        if not p.ci_files and p.default_branch and "@" not in p.ci_config_path:
            wanted.add((c, p.ci_config_path or ".gitlab-ci.yml", p.default_branch))
    if not wanted:
        return {}
    progress.start("Reading CI files from GitLab", len(wanted))
    try:
        return read_files(GitLabClients.from_config(config), wanted, config.concurrency, progress)
    finally:
        progress.finish()


def _live(config: Config, inventory: Inventory, facts: PlanFacts, progress: Progress
          ) -> tuple[LiveFederation, dict[str, tuple[str, ...]], dict[str, int]]:
    from migrate.apply.pool_provider_executor import request_name
    from migrate.google.clients import GoogleClients
    from migrate.google.iam_policy import PolicyEditor
    from migrate.google.workload_identity import WifAdmin
    from migrate.plan.federation_design import ROLE
    from migrate.plan.planner import policy_members_other, sa_resource

    clients = GoogleClients(config.google)
    derived = derive(make_inputs(inventory, config, facts))
    admin = WifAdmin(clients)
    project = config.google.identity_project
    pool = admin.get(request_name({"name": derived.design.pool_name, "project": project}))
    provider = admin.get(request_name({"name": derived.design.provider_name, "project": project}))
    bindings: dict[str, tuple[str, ...]] = {}
    others: dict[str, int] = {}
    editor = PolicyEditor(clients)
    progress.start("Reading service-account IAM policies", len(derived.scopes))
    try:
        for sa in derived.scopes:
            progress.advance()
            try:
                policy = editor.read(sa_resource(sa, derived))
            except WifMigrateError as exc:
                log.warning("cannot read the IAM policy of %s: %s", sa, exc)
                continue
            bindings[sa] = tuple(m for b in policy.get("bindings", []) if b.get("role") == ROLE
                                 and not b.get("condition") for m in b.get("members", []))
            others[sa] = policy_members_other(policy, derived.design.pool_name)
    finally:
        progress.finish()
    return LiveFederation(True, pool, provider), bindings, others


def run(args: argparse.Namespace) -> int:
    if args.format == "json" and args.output == STDOUT:
        raise UsageError("--format json and -o - both want stdout: write the plan to a file with -o FILE")
    config = config_from_args(args)
    inventory = _inventory(args, config)
    progress = progress_from_args(args)
    # _live (the policies to read) and build_plan derive from the same inputs: once (issue 18)
    with derivation_memo():
        facts = gather_facts(config, inventory, args.offline, args.project_number, getattr(args, "id_token", None),
                             progress)
        rewriter = default_rewriter()
        human = sys.stderr if args.output == STDOUT else sys.stdout
        try:
            # one step the planner does not count (CI rewrites, self-checks, simulation): a spinner
            # with the elapsed time, so a long plan is never a blank screen
            progress.start(f"Computing the plan ({len(inventory.usages)} CI usages, "
                           f"{len(inventory.variables)} key variables)", None)
            try:
                result = build_plan(inventory, config, facts, rewriter)
            finally:
                progress.finish()
        except PlanRefusedError as exc:
            if args.format == "json":
                return print_envelope("plan", EXIT_FINDINGS, _summary(exc.result.plan, refused=True),
                                      _items(exc.result.plan), [{"subject": "plan", "reason": str(exc)}])
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
    State(config.state_dir).save_snapshot("plan", plan_io.to_data(plan))
    print(f"plan written to {where} ({len(plan.actions)} actions, {len(plan.manual)} manual/error entries)",
          file=sys.stderr)
    if args.emit:
        _emit(args.emit, plan, config)
    code = EXIT_OK
    if args.detailed_exitcode and pending(changes(plan)):
        code = EXIT_PENDING
    if args.format == "json":
        return print_envelope("plan", code, _summary(plan), _items(plan),
                              [{"subject": m.subject, "reason": m.reason} for m in plan.manual
                               if m.severity == "error"])
    return code


EXIT_PENDING = 2  # `--detailed-exitcode`: changes pending (as `terraform plan -detailed-exitcode`)


def _summary(plan: Plan, refused: bool = False) -> dict[str, Any]:
    rows = changes(plan)
    return {**counts(rows), "pending": pending(rows), "refused": refused, "line": summary_line(plan),
            "manual": sum(1 for m in plan.manual if m.severity == "manual"),
            "could_not_read": sum(1 for m in plan.manual if m.severity == "error")}


def _items(plan: Plan) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"id": c.action_id, "kind": c.kind, "change": c.verb, "description": c.words, "members": list(c.members)}
        for c in changes(plan)]
    out += [{"id": m.subject, "kind": m.severity, "change": "manual" if m.severity == "manual" else "error",
             "description": m.reason, "members": []} for m in plan.manual]
    return out


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
