"""What an executor gets besides its action: the run's context and the typed backends.

`ApplyServices` replaces the string-keyed service dict: each field is a port (a Protocol in
`migrate.apply.ports`) the CLI fills with an adapter. An executor never builds a client itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrate.apply.ports import MergeRequestBackend, ServiceAccountPolicies, WorkloadIdentityAdmin
from migrate.core.config import Config
from migrate.core.model import Action, ActionResult, Plan
from migrate.core.state import State


@dataclass(frozen=True)
class ApplyServices:
    """The backends of one run, built by the CLI (`migrate.cli.apply.build_services`). A field is
    None when the run has no action that needs it."""

    workload_identity: WorkloadIdentityAdmin | None = None
    policies: ServiceAccountPolicies | None = None
    merge_requests: MergeRequestBackend | None = None
    ci_rewriter: Any = None  # `migrate.plan.planner.Rewriter`; None: the default rewriter


@dataclass
class ApplyContext:
    """What an executor gets besides its action. `results` holds the outcomes so far."""

    plan: Plan
    dry_run: bool
    config: Config | None = None
    state: State | None = None
    results: dict[str, ActionResult] = field(default_factory=dict)
    services: ApplyServices = field(default_factory=ApplyServices)


class ActionExecutor(Protocol):
    """Executes one kind of plan action.

    Contract: read live state first; if it already matches, return `skipped` with detail "up to
    date" (a re-run makes no mutating request); if `ctx.dry_run`, make no mutating request and
    return `would_apply` (or `skipped`); if live state contradicts what the plan was computed from,
    return `refused` with the reason; return `failed` for errors of this item. Never log or return
    secret material. Raising is allowed (the loop records `failed` with the message)."""

    def execute(self, action: Action, ctx: ApplyContext) -> ActionResult: ...



ExecutorFactory = Callable[[ApplyContext], ActionExecutor]
