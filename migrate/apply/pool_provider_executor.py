"""The executors for `ensure_pool` / `ensure_provider`: get before create; undelete, never re-create.

Idempotence comes from reading first (gcp.md §0.1): GET returns soft-deleted resources too (state
DELETED), which are undeleted — creating them again would fail 409 ALREADY_EXISTS for 30 days. The
calls and the polling of long-running operations are the adapter's
(`migrate.google.workload_identity.WifAdmin`, behind `WorkloadIdentityAdmin`); the decisions are here.

A create whose answer was lost (the connection dropped after the server accepted it) comes back
on the transport's retry as 409 ALREADY_EXISTS, or as a broken connection when the retry breaks
too. Either way the executor reads the resource again and
decides afresh: the same configuration is our own create and is reported `applied`; drift the plan
allows is patched; anything else (another configuration, deleted meanwhile) is refused or failed
with the reason, as on any run. The first run tells the truth instead of a spurious `failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from migrate.apply.context import ApplyContext
from migrate.apply.ensure import decide_ensure, patch_body
from migrate.apply.ports import WorkloadIdentityAdmin
from migrate.core.errors import GoogleAlreadyExists, GoogleError, GoogleNoAnswer
from migrate.core.evidence import EnsureEvidence
from migrate.core.model import Action, ActionResult, EnsureParams, params_as
from migrate.core.outcome import Status
from migrate.plan.federation_design import under_project
from migrate.plan.planner import POOL_FIELDS, PROVIDER_FIELDS

log = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 3  # create/patch tries when answers are lost (each after a fresh read)
LOST_ANSWER: tuple[type[BaseException], ...] = (GoogleAlreadyExists, GoogleNoAnswer)


# ---------------------------------------------------------------------------------------------
# Executors for `ensure_pool` / `ensure_provider` (listed in migrate.apply.executors)


class EnsureExecutor:
    """Get before create; undelete a soft-deleted one; patch only the drift the plan names."""

    def __init__(self, admin: WorkloadIdentityAdmin, fields: Sequence[str]) -> None:
        self.admin = admin
        self.fields = fields

    def execute(self, action: Action, ctx: ApplyContext) -> ActionResult:
        params = params_as(action, EnsureParams)
        name = request_name(params)
        live = self.admin.get(name)
        decision = decide_ensure(params, live, self.fields)
        steps: list[str] = []
        if decision.op == "undelete":
            if ctx.dry_run:
                after = decide_ensure(params, {**(live or {}), "state": "ACTIVE"}, self.fields, undeleted=True)
                extra = f", then patch {', '.join(after.mask)}" if after.op == "patch" else ""
                return ActionResult(action.id, Status.WOULD_APPLY, f"would undelete {name}{extra}", EnsureEvidence(op="undelete"))
            live = self.admin.undelete(name)
            steps.append("undeleted")
            decision = decide_ensure(params, live, self.fields, undeleted=True)
        if decision.op == "none":
            if steps:
                return ActionResult(action.id, Status.APPLIED, f"{name}: undeleted; configuration as planned",
                                    EnsureEvidence(steps=tuple(steps)))
            return ActionResult(action.id, Status.SKIPPED, f"{name}: up to date", EnsureEvidence(up_to_date=True))
        if decision.op == "refuse":
            return ActionResult(action.id, Status.REFUSED, f"{name}: {decision.reason}")
        if ctx.dry_run:
            what = f"create {name}" if decision.op == "create" else f"patch {', '.join(decision.mask)} of {name}"
            return ActionResult(action.id, Status.WOULD_APPLY, f"would {what}",
                                EnsureEvidence(op="create" if decision.op == "create" else "patch",
                                               mask=tuple(decision.mask)))
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                if decision.op == "create":
                    self.admin.create(name, params.desired)
                    steps.append("created")
                else:
                    self.admin.patch(name, patch_body(params.desired, decision.mask), decision.mask)
                    steps.append("patched " + ",".join(decision.mask))
                break
            except LOST_ANSWER as exc:
                # Usually our own write whose answer was lost: read it back and decide again.
                why = "ALREADY_EXISTS" if isinstance(exc, GoogleAlreadyExists) else f"no answer ({getattr(exc, 'transport', '')})"
                log.warning("%s: %s %s; reading it back", name, decision.op, why)
                live = self.admin.get(name)
                after = decide_ensure(params, live, self.fields)
                if after.op == "none":
                    steps.append(f"{'created' if decision.op == 'create' else 'patched'} (answer lost; found on re-read)")
                    return ActionResult(action.id, Status.APPLIED, f"{name}: {'; '.join(steps)}",
                                        EnsureEvidence(steps=tuple(steps), mask=tuple(decision.mask),
                                                       taken_over=True))
                if after.op == "refuse":
                    return ActionResult(action.id, Status.REFUSED, f"{name}: {after.reason}")
                if after.op not in ("create", "patch") or attempt == MAX_WRITE_ATTEMPTS:
                    return ActionResult(action.id, Status.FAILED, f"{name}: {decision.op} got {why}; live state still "
                                        f"needs {after.op}; re-run apply")
                decision = after
        return ActionResult(action.id, Status.APPLIED, f"{name}: {'; '.join(steps)}",
                            EnsureEvidence(steps=tuple(steps), mask=tuple(decision.mask)))


def request_name(params: EnsureParams) -> str:
    """The resource name to call with: the plan's (number-based) name under the configured project
    id, so calls work whether or not the caller may list by number (`plan` reads them the same way)."""
    return under_project(params.name, params.project)


def workload_identity(ctx: ApplyContext) -> WorkloadIdentityAdmin:
    """The run's pool/provider backend (the CLI builds it; `migrate.cli.apply.build_services`)."""
    admin = ctx.services.workload_identity
    if admin is None:
        raise GoogleError("applying federation needs a configuration (google.*)")
    return admin


def ensure_pool(ctx: ApplyContext) -> EnsureExecutor:
    return EnsureExecutor(workload_identity(ctx), POOL_FIELDS)


def ensure_provider(ctx: ApplyContext) -> EnsureExecutor:
    return EnsureExecutor(workload_identity(ctx), PROVIDER_FIELDS)
