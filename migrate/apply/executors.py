"""The executor of every plan action kind: one explicit table, checked complete at import.

A kind the planner can emit (`migrate.plan.plan_io.KNOWN_KINDS`) without an executor here is a bug
of this build, raised at import as an `InternalError` — never an action "skipped" with exit 0.
Key kinds are not applied by `apply` (`wif-migrate keys` retires keys after verification), so they
have no executor on purpose.

To add an action kind: emit it in the planner, add it to `KNOWN_KINDS`, write its executor (a
factory `(ApplyContext) -> ActionExecutor`; its backends come from `ApplyServices`) and list it here.
"""

from __future__ import annotations

from migrate.apply import binding_executor, merge_request_executor, pool_provider_executor
from migrate.apply.context import ExecutorFactory
from migrate.core.errors import InternalError
from migrate.plan.plan_io import KNOWN_KINDS

KEY_KINDS = ("disable_key", "delete_key")  # retired by `wif-migrate keys`, never by `apply`

EXECUTORS: dict[str, ExecutorFactory] = {
    "ensure_pool": pool_provider_executor.ensure_pool,
    "ensure_provider": pool_provider_executor.ensure_provider,
    "ensure_binding": binding_executor.ensure_binding,
    "merge_request": merge_request_executor.executor_from_context,
}


def check_complete(executors: dict[str, ExecutorFactory], kinds: tuple[str, ...] = KNOWN_KINDS) -> None:
    """Every kind has an executor (or is a key kind); no executor is listed for an unknown kind."""
    missing = [k for k in kinds if k not in executors and k not in KEY_KINDS]
    unknown = [k for k in executors if k not in kinds]
    if missing or unknown:
        raise InternalError(f"apply executor table incomplete: no executor for {missing}, unknown kinds {unknown}")


check_complete(EXECUTORS)
