"""The executor for `ensure_binding`: add the plan's members to `roles/iam.workloadIdentityUser` on a
service account, never removing anything (the read-modify-write with the etag is the adapter's,
`migrate.google.iam_policy.PolicyEditor`, behind `ServiceAccountPolicies`)."""

from __future__ import annotations

from dataclasses import replace

from migrate.apply.context import ApplyContext
from migrate.apply.ports import ServiceAccountMissingError, ServiceAccountPolicies
from migrate.core.errors import GoogleError
from migrate.core.evidence import BindingEvidence
from migrate.core.model import Action, ActionResult, BindingParams, params_as
from migrate.core.outcome import Status

# ---------------------------------------------------------------------------------------------
# Executor for `ensure_binding` (listed in migrate.apply.executors)


class EnsureBindingExecutor:
    def __init__(self, editor: ServiceAccountPolicies) -> None:
        self.editor = editor

    def execute(self, action: Action, ctx: ApplyContext) -> ActionResult:
        p = params_as(action, BindingParams)
        resource, role, members = p.resource, p.role, list(p.members)
        try:
            change = self.editor.ensure_members(resource, role, members, ctx.dry_run)
        except ServiceAccountMissingError as exc:
            return ActionResult(action.id, Status.FAILED, str(exc))
        evidence = BindingEvidence(tuple(change.added), tuple(change.already), change.attempts)
        if not change.added:
            return ActionResult(action.id, Status.SKIPPED, f"{resource}: every member already bound",
                                replace(evidence, up_to_date=True))
        if ctx.dry_run:
            return ActionResult(action.id, Status.WOULD_APPLY, f"would add {len(change.added)} member(s) to {role} "
                                f"on {resource}", evidence)
        lost = "; an answer was lost, the re-read shows them bound" if change.answer_lost else ""
        return ActionResult(action.id, Status.APPLIED, f"added {len(change.added)} member(s) to {role} on {resource}"
                            f" ({change.attempts} write(s){lost})", replace(evidence, answer_lost=change.answer_lost))


def policies(ctx: ApplyContext) -> ServiceAccountPolicies:
    """The run's IAM policy backend (the CLI builds it; `migrate.cli.apply.build_services`)."""
    editor = ctx.services.policies
    if editor is None:
        raise GoogleError("applying bindings needs a configuration (google.*)")
    return editor


def ensure_binding(ctx: ApplyContext) -> EnsureBindingExecutor:
    return EnsureBindingExecutor(policies(ctx))
