"""`plan` as one stage: read what the planner needs (read-only, through the ports), derive the
federation and bindings once, and build the plan.

    issuer (discovery / setting / ID token) ─┐
    identity project number ─────────────────┼─► inputs ─► derive (once) ─► pool, provider,
    JWKS (when uploaded) ────────────────────┘                │            policies of its SAs
                                                               ▼
                    CI files of every keyed file and of every pipeline that reads one
                                                               ▼
                                 assemble_plan (rewrites, consumer checks, simulation)

The adapters come in as `PlanGitLab` / `PlanGoogle` (migrate.plan.ports); `None` for both is
`plan --offline`. The derivation that names the policies to read is the one the plan is built
from: when those policies hold other principals (they count against Google's 1,500 limit), only
the fitting to that limit runs again (`planner.refit`), never the whole derivation (issue 18).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from migrate.core.config import Config
from migrate.core.errors import UsageError, WifMigrateError
from migrate.core.model import PSEUDO_PROJECTS, Inventory, PlanInputs
from migrate.core.progress import Progress, SilentProgress
from migrate.core.state import utcnow
from migrate.plan.federation_design import ROLE, under_project
from migrate.plan.issuer import choose_issuer
from migrate.plan.planner import (
    Derived,
    LiveFederation,
    PlanFacts,
    PlanResult,
    Rewriter,
    assemble_plan,
    derive,
    plan_inputs,
    policy_members_other,
    refit,
    sa_resource,
    with_policy_sizes,
)
from migrate.plan.ports import FileId, FileText, PlanGitLab, PlanGoogle, PlanTexts
from migrate.plan.scanned_files import scanned_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked: `number` skips Resource Manager, `token_iss` is the `iss` of
    `plan --id-token FILE` (the CLI reads the file), `offline` reads neither side."""

    offline: bool = False
    number: str | None = None
    token_iss: str | None = None
    generated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Gathered:
    """The facts the plan is built from, its inputs and their one derivation."""

    facts: PlanFacts
    inputs: PlanInputs
    derived: Derived


def run_plan(inventory: Inventory, config: Config, request: PlanRequest, gitlab: PlanGitLab | None,
             google: PlanGoogle | None, rewriter: Rewriter | None, progress: Progress | None = None,
             texts: PlanTexts | None = None) -> PlanResult:
    """The plan of `inventory` (raises `planner.PlanRefusedError` when federation would widen access);
    `texts`: the CI texts the scan kept (`migrate.plan.scanned_files`), None to read every file."""
    progress = progress or SilentProgress()
    got = gather(inventory, config, request, gitlab, google, progress, texts)
    # one step the planner does not count (CI rewrites, self-checks, simulation): a spinner with
    # the elapsed time, so a long plan is never a blank screen
    progress.start(f"Computing the plan ({len(inventory.usages)} CI usages, "
                   f"{len(inventory.variables)} key variables)", None)
    try:
        return assemble_plan(inventory, config, got.facts, rewriter, got.inputs, got.derived)
    finally:
        progress.finish()


def gather(inventory: Inventory, config: Config, request: PlanRequest, gitlab: PlanGitLab | None,
           google: PlanGoogle | None, progress: Progress | None = None, texts: PlanTexts | None = None) -> Gathered:
    """Everything the planner needs from the outside world, read-only; `progress` counts the reads."""
    progress = progress or SilentProgress()
    online = not request.offline
    discovered: str | None = None
    if online and gitlab is not None:
        try:
            discovered = gitlab.discovered_issuer()
        except WifMigrateError as exc:
            log.warning("%s; cannot check the issuer against discovery", exc)
    choice = choose_issuer(config.gitlab.url, inventory.gitlab_version, discovered, config.gitlab.issuer,
                           request.token_iss)
    for warning in choice.warnings:
        log.warning("issuer: %s", warning)
    jwks = gitlab.jwks_json() if online and gitlab is not None and config.google.upload_jwks else None
    number = request.number
    if number is None:
        if not online or google is None:
            raise UsageError("--offline needs --project-number")
        number = google.project_number(config.google.identity_project)
    facts = PlanFacts(project_number=number, issuer=choice.issuer, jwks_json=jwks,
                      generated_at=request.generated_at)
    inputs = plan_inputs(inventory, config, facts)
    derived = derive(inputs)
    if not online or gitlab is None or google is None:
        return Gathered(facts, inputs, derived)
    live, bindings, others = _live(config, derived, google, progress)
    wanted = wanted_files(inventory)
    # the files the scan read and kept, unchanged; only the others are read from GitLab
    scanned: dict[FileId, FileText] = {}
    if texts is not None and wanted:
        progress.start("Reading the scanned CI files from the state", None)
        try:
            scanned = scanned_files(inventory, wanted, texts)
        finally:
            progress.finish()
    rest = wanted - scanned.keys()
    files: dict[FileId, FileText | str] = {**scanned, **(gitlab.ci_files(rest, progress) if rest else {})}
    facts = replace(facts, files=files, live=live, live_bindings=bindings, policy_members_other=others)
    # `plan_inputs(inventory, config, facts)`: the facts differ only in what was read live, which
    # the inputs from the scan do not depend on — the policy sizes added, not the inputs made again
    sized = with_policy_sizes(inputs, facts)
    if sized.policy_members_other:  # the policies hold other principals: fit the bindings again
        derived = refit(derived, sized)
    return Gathered(facts, sized, derived)


def wanted_files(inventory: Inventory) -> set[FileId]:
    """Every keyed CI file, and every file of every pipeline that reads one: the planner checks
    that each job of those pipelines still gets the ID token after the rewrite
    (migrate.plan.consumer_check)."""
    wanted = {(u.file_project, u.file_path, u.ref) for u in inventory.usages}
    projects = {p.path: p for p in inventory.projects}
    for c in sorted({c for u in inventory.usages for c in u.consumers}):
        p = projects.get(c)
        if p is None:
            continue
        # a GitLab CI template or a remote URL has no ref (core.model.PSEUDO_PROJECTS)
        wanted.update((f.project, f.path, f.ref) for f in p.ci_files if f.ref or f.project in PSEUDO_PROJECTS)
        if not p.ci_files and p.default_branch and "@" not in p.ci_config_path:
            wanted.add((c, p.ci_config_path or ".gitlab-ci.yml", p.default_branch))
    return wanted


def _live(config: Config, derived: Derived, google: PlanGoogle, progress: Progress
          ) -> tuple[LiveFederation, dict[str, tuple[str, ...]], dict[str, int]]:
    """The pool, provider and the service accounts' policies as they are now (so apply can tell a
    stale plan, and the bindings fit what the policies already hold)."""
    project = config.google.identity_project
    pool = google.federation_resource(under_project(derived.design.pool_name, project))
    provider = google.federation_resource(under_project(derived.design.provider_name, project))
    bindings: dict[str, tuple[str, ...]] = {}
    others: dict[str, int] = {}
    progress.start("Reading service-account IAM policies", len(derived.scopes))
    try:
        for sa in derived.scopes:
            progress.advance()
            try:
                policy = google.iam_policy(sa_resource(sa, derived))
            except WifMigrateError as exc:
                log.warning("cannot read the IAM policy of %s: %s", sa, exc)
                continue
            bindings[sa] = _our_members(policy)
            others[sa] = policy_members_other(policy, derived.design.pool_name)
    finally:
        progress.finish()
    return LiveFederation(True, pool, provider), bindings, others


def _our_members(policy: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(m for b in policy.get("bindings", []) if b.get("role") == ROLE and not b.get("condition")
                 for m in b.get("members", []))

