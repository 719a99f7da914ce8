"""Apply a plan: run each action through the executor registered for its kind, in order.

The loop is generic; what an action does lives in its executor (`ActionExecutor`): the Google
federation (`ensure_pool`, `ensure_provider`, `ensure_binding`, in migrate.google), merge requests
(`merge_request`, plugged in by the MR module), and key steps (left to `wif-migrate keys`, which
applies them only after verification). An executor reads live state first, decides, and in a dry
run never sends a mutating request; per-item problems are returned as outcomes, not raised.

Around every action the loop
- refuses it when the plan was edited by hand in a way that widens access: the federation design
  and bindings are recomputed from the plan's own inputs and the who-can-impersonate simulation is
  re-run on the bindings the file asks for;
- skips it when a dependency did not succeed;
- writes an *intent* row to the state journal before calling the executor and an *outcome* row
  after (stage "apply"), so an interrupted run leaves evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from migrate.apply.context import ActionExecutor, ApplyContext, ExecutorFactory
from migrate.apply.ensure import _show
from migrate.apply.executors import EXECUTORS, KEY_KINDS
from migrate.core.config import Config
from migrate.core.errors import InternalError, WifMigrateError
from migrate.core.evidence import Blocked, blocks, journal_object
from migrate.core.model import (
    Action,
    ActionResult,
    BindingParams,
    EnsureParams,
    Inventory,
    MergeRequestParams,
    Plan,
    PlanInputs,
    params_as,
)
from migrate.core.outcome import Status
from migrate.plan.federation_design import ROLE
from migrate.plan.planner import PROVIDER_FIELDS, derive, field_value, impersonation_report, inputs_digest

log = logging.getLogger(__name__)

STAGE = "apply"
# The failures an executor may raise for one item: the adapters' typed errors (GitLabError,
# GoogleError, … converted at their boundary) and a malformed merge-request action. Anything else
# is a bug and propagates to the CLI (exit 3).
ITEM_ERRORS: tuple[type[Exception], ...] = (WifMigrateError,)
GOOGLE_KINDS = ("ensure_pool", "ensure_provider", "ensure_binding")


# ---------------------------------------------------------------------------------------------
# Integrity: the plan against itself and against the journaled scan


def journal_refusals(plan: Plan, inventory: Inventory | None, config: Config | None, where: str,
                     digest: str | None = None) -> dict[str, str]:
    """Action id → why it is refused, checking the plan against the scan that produced it.

    `integrity_refusals` checks a plan against itself, which a consistent forgery passes (inputs
    edited, digest recomputed with our own function, members from our own `derive`). Here the
    plan's `inputs` must equal what `make_inputs` computes *now* from the inventory snapshot the
    scan journaled in this state directory (found by the plan's `inventory_digest`, or named
    explicitly with `apply --inventory`) and the current configuration; the facts the plan read
    on its own (project number, issuer, JWKS) are taken from the plan and checked live by the
    executors. Every federation and merge-request action is refused on a mismatch."""
    from migrate.plan.planner import SCAN_INPUTS, PlanFacts, inventory_digest, make_inputs

    guarded = [a for a in plan.actions if a.kind in (*GOOGLE_KINDS, "merge_request")]
    if inventory is None:
        why = (f"the plan was not made from a scan journaled in this state directory ({where}): run "
               "`wif-migrate scan` and `plan` here, or name the scan's inventory with `apply --inventory FILE`")
        return {a.id: why for a in guarded}
    # `digest`: the inventory's digest when the caller computed it already (`find_inventory`)
    if (digest or inventory_digest(inventory)) != plan.inventory_digest:
        why = "the named inventory is not the one the plan was made from (inventory_digest differs)"
        return {a.id: why for a in guarded}
    if config is None:
        return {}
    inputs = plan.inputs
    facts = PlanFacts(project_number=(inputs.project_number if inputs else "") or plan.project_number,
                      issuer=inputs.issuer if inputs else None, jwks_json=inputs.jwks_json if inputs else None)
    expected = make_inputs(inventory, config, facts)
    # Inputs the planner adds from what it read live (e.g. the policy's other principals) are not
    # recomputable from the scan; the executors re-read those live.
    differing = sorted(k for k in SCAN_INPUTS if inputs is None or getattr(expected, k) != getattr(inputs, k))
    if not differing and inputs is not None:
        # the plan's own inputs, equal to `expected` in every scan field: the consumer check reads
        # only the receipts and key variables, which the live policy sizes do not change, and their
        # derivation is the one the integrity check made already (same object: digest and memo hit)
        return _consumer_check_refusals(plan, inventory, inputs)
    why = ("the plan's inputs differ from the journaled scan and the configuration "
           f"({', '.join(differing)}): it was edited or the configuration changed; re-run `wif-migrate plan`")
    return {a.id: why for a in guarded}


def _consumer_check_refusals(plan: Plan, inventory: Inventory, inputs: PlanInputs) -> dict[str, str]:
    """Merge-request actions whose consumer check (the pipelines that read the file and what their
    jobs receive, `params.consumer_check`) is not what the planner computes now from the journaled
    inventory: apply reruns that check live, so dropping a pipeline from it would skip it."""

    from migrate.plan.planner import consumer_check_inputs, derive

    derived = derive(inputs)
    var_key = {v.ref: k for v, k in derived.key_vars}
    projects = {p.path: p for p in inventory.projects}
    consumers_of: dict[tuple[str, str, str], set[str]] = {}
    for u in inventory.usages:
        consumers_of.setdefault((u.file_project, u.file_path, u.ref), set()).update(u.consumers)
    out: dict[str, str] = {}
    for a in plan.actions:
        if not isinstance(a.params, MergeRequestParams) or a.params.consumer_check is None:
            continue
        p = a.params
        target = (p.project, p.file_path, p.ref)
        consumers = sorted(consumers_of.get(target, ()))
        names = list(p.rewrite_options.key_variables or ())
        expected = consumer_check_inputs(*target, consumers, names, projects, derived, var_key, inventory.gitlab_version)
        if expected != p.consumer_check:
            out[a.id] = ("the merge request's consumer check (the pipelines that read the file and what their jobs "
                         "receive) differs from what the journaled scan gives now: the plan was edited; re-run "
                         "`wif-migrate plan`")
    return out


def find_inventory(newest_first: Iterable[Any], digest: str) -> Inventory | None:
    """The journaled inventory snapshot whose digest is `digest`, the newest such, else None.
    `newest_first`: the snapshot bodies, newest first (read lazily: `State.snapshot_bodies_newest_first`).

    A body is first hashed as it is (`body_digest`): when that gives `digest`, the body *is* the
    encoding the plan's inventory was hashed from (its canonical JSON text has that sha256), so it
    decodes to that inventory, and neither the decode of every other snapshot nor the re-encoding
    of this one to hash it again is needed (~1 s at 10,000 projects, issue 18). A body whose raw
    digest differs — another scan, or one written by an older build that encoding now completes
    with defaults — is decoded and hashed as before, so the answer is the one the decode-and-hash
    of every snapshot gives."""
    from migrate.core.errors import UsageError
    from migrate.plan.planner import inventory_digest
    from migrate.scan import inventory_io

    for body in newest_first:
        raw_match = isinstance(body, dict) and body_digest(body) == digest
        try:
            inventory = inventory_io.from_data({"kind": inventory_io.KIND, **body} if isinstance(body, dict)
                                               and "kind" not in body else body, "snapshot")
        except UsageError:
            continue
        if raw_match or inventory_digest(inventory) == digest:
            return inventory
    return None


def body_digest(body: Mapping[str, Any]) -> str:
    """`planner.inventory_digest` of the inventory a snapshot body encodes, computed from the body
    as it is: the sha256 of its JSON text without `generated_at` (and the file's `kind` tag), keys
    sorted, json's default separators — equal to the inventory's digest exactly when the body is
    the inventory's encoding."""
    from migrate.core.codec import canonical_sha256

    return "sha256:" + canonical_sha256(body, skip=("generated_at", "kind"), separators=(", ", ": "), encoded=False)


def integrity_refusals(plan: Plan, journaled: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """Action id → why it is refused, for plans edited by hand (see module docstring).
    `journaled`: the simulations `plan` journaled (kind "impersonation"), used only for exactly
    the bindings derived from the plan's (digest-checked) inputs (migrate.plan.impersonation_journal)."""
    google = [a for a in plan.actions if a.kind in GOOGLE_KINDS]
    if plan.inputs is None:
        return {a.id: "the plan has no inputs to check its federation against; re-run `wif-migrate plan`"
                for a in google}
    if inputs_digest(plan.inputs) != plan.inputs_digest:
        return {a.id: "the plan's inputs were edited (digest mismatch); re-run `wif-migrate plan`" for a in google}
    try:
        derived = derive(plan.inputs)
    except ValueError as exc:
        return {a.id: f"the plan's inputs do not give a valid federation: {exc}" for a in google}
    design = derived.design
    out: dict[str, str] = {}
    bindings: dict[str, list[str]] = {}
    for a in google:
        if a.kind == "ensure_pool" and params_as(a, EnsureParams).desired != design.pool_body():
            out[a.id] = "the pool does not match the design recomputed from the plan's inputs"
        elif a.kind == "ensure_provider":
            desired = params_as(a, EnsureParams).desired
            for f in PROVIDER_FIELDS:
                if field_value(desired, f) != field_value(design.provider_body(), f):
                    out[a.id] = (f"the provider's {f} does not match the design recomputed from the plan's "
                                 f"inputs ({_show(field_value(design.provider_body(), f))})")
                    break
        elif a.kind == "ensure_binding":
            b = params_as(a, BindingParams)
            sa = b.service_account
            members = list(b.members)
            bindings[sa] = members
            expected = set(derived.members(sa))
            if b.role != ROLE:
                out[a.id] = f"binding role {b.role!r} is not {ROLE}"
            elif not b.resource.endswith(f"/serviceAccounts/{sa}"):
                out[a.id] = "binding resource does not name its service account"
            elif set(members) - expected:
                out[a.id] = ("members not in the design recomputed from the plan's inputs: "
                             + ", ".join(sorted(set(members) - expected)))
    rows = _journaled_rows(plan, derived, bindings, journaled)
    if rows is None:
        rows = [(r.service_account, list(r.broader)) for r in impersonation_report(plan.inputs, derived, bindings)]
    for sa, broader in rows:
        if broader:
            aid = f"ensure_binding:{sa}"
            out.setdefault(aid, "would let more jobs impersonate than the key did: " + ", ".join(broader[:5]))
    return out


def _journaled_rows(plan: Plan, derived: Any, bindings: Mapping[str, Sequence[str]],
                    journaled: Mapping[str, Mapping[str, Any]] | None) -> list[tuple[str, list[str]]] | None:
    """The simulation `plan` journaled, when the plan's bindings are exactly the derived ones."""
    from migrate.plan.impersonation_journal import journaled_broader

    if not journaled or not plan.inputs_digest:
        return None
    derived_bindings = {sa: tuple(derived.members(sa)) for sa in derived.scopes}
    if {sa: tuple(m) for sa, m in bindings.items()} != derived_bindings:
        return None
    return journaled_broader(journaled, plan.inputs_digest)


# ---------------------------------------------------------------------------------------------
# The loop

_OK = (Status.APPLIED, Status.WOULD_APPLY, Status.SKIPPED)


def _blocked(result: ActionResult | None) -> bool:
    return result is None or result.outcome not in _OK or blocks(result.evidence)


def apply_plan(plan: Plan, ctx: ApplyContext, kinds: Iterable[str] | None = None,
               registry: Mapping[str, ExecutorFactory] | None = None,
               extra_refusals: Mapping[str, str] | None = None,
               journaled: Mapping[str, Mapping[str, Any]] | None = None) -> list[ActionResult]:
    """Run the plan's actions in order; every outcome is returned (and journaled unless dry run).
    `extra_refusals` (the CLI's `journal_refusals`) refuse actions before anything else;
    `journaled`: see `integrity_refusals`."""
    reg = dict(EXECUTORS if registry is None else registry)
    wanted = set(kinds) if kinds is not None else None
    refusals = {**integrity_refusals(plan, journaled), **(extra_refusals or {})}
    executors: dict[str, ActionExecutor] = {}
    results: list[ActionResult] = []
    for action in plan.actions:
        result = _one(action, ctx, reg, executors, wanted, refusals)
        ctx.results[action.id] = result
        results.append(result)
        if ctx.state is not None and not ctx.dry_run:  # a dry run changes nothing, not even the journal
            ctx.state.outcome(STAGE, action.id, action.kind, action.target, result.outcome, result.detail,
                              journal_object(replace(result.evidence, dry_run=ctx.dry_run)))
    return results


def _one(action: Action, ctx: ApplyContext, reg: Mapping[str, ExecutorFactory],
         executors: dict[str, ActionExecutor], wanted: set[str] | None, refusals: Mapping[str, str]) -> ActionResult:
    if wanted is not None and action.kind not in wanted:
        return ActionResult(action.id, Status.SKIPPED, f"{action.kind} not selected in this run", Blocked(True))
    if action.id in refusals:
        return ActionResult(action.id, Status.REFUSED, refusals[action.id])
    if action.kind in KEY_KINDS and action.kind not in reg:
        return ActionResult(action.id, Status.SKIPPED, "keys are retired by `wif-migrate keys` after the merge "
                            "requests are merged and verified", Blocked(True))
    for dep in action.depends_on:
        r = ctx.results.get(dep)
        if _blocked(r):
            why = "did not run" if r is None else f"{r.outcome}: {r.detail}"
            return ActionResult(action.id, Status.SKIPPED, f"dependency {dep} {why}", Blocked(True))
    factory = reg.get(action.kind)
    if factory is None:  # `migrate.apply.executors` is checked complete at import: this is a bug
        raise InternalError(f"apply: no executor for action kind {action.kind!r} ({action.id})")
    if action.kind not in executors:
        executors[action.kind] = factory(ctx)
    if ctx.state is not None and not ctx.dry_run:
        ctx.state.intent(STAGE, action.id, action.kind, action.target, action.summary)
    try:
        return executors[action.kind].execute(action, ctx)
    except ITEM_ERRORS as exc:  # one item's expected failure is data; the run goes on
        log.debug("action %s failed", action.id, exc_info=True)
        return ActionResult(action.id, Status.FAILED, f"{type(exc).__name__}: {exc}")
    except Exception:  # a bug: stop the run (exit 3), naming the action; never a per-item row
        log.error("internal error while applying %s (%s)", action.id, action.kind)
        raise


def summarize(results: Sequence[ActionResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return counts
