"""Workload identity pools and providers: get, create, undelete, patch; operations polled to the end.

Idempotence comes from reading first (gcp.md §0.1): GET returns soft-deleted resources too (state
DELETED), which are undeleted — creating them again would fail 409 ALREADY_EXISTS for 30 days.
create/patch/undelete answer a long-running Operation; it is polled through the operations
collection that matches its name (pool operations and provider operations are different methods,
and googleapiclient refuses a name that does not fit the method's pattern), then the resource is
read again rather than trusting the operation's `response` (it may be empty).

A create whose answer was lost (the connection dropped after the server accepted it) comes back
on the transport's retry as 409 ALREADY_EXISTS, or as a broken connection when the retry breaks
too. Either way the executor reads the resource again and
decides afresh: the same configuration is our own create and is reported `applied`; drift the plan
allows is patched; anything else (another configuration, deleted meanwhile) is refused or failed
with the reason, as on any run. The first run tells the truth instead of a spurious `failed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from googleapiclient.errors import HttpError

from migrate.apply.loop import ApplyContext, decide_ensure, patch_body, register_executor
from migrate.core.errors import GoogleAlreadyExists, GoogleError
from migrate.core.model import Action, ActionResult
from migrate.google.clients import TRANSPORT_ERRORS, GoogleClients
from migrate.google.quota import WIF_WRITES, WriteQuotas, run_quotas
from migrate.google.service_account_keys import http_status
from migrate.plan.planner import POOL_FIELDS, PROVIDER_FIELDS

log = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 3  # create/patch tries when answers are lost (each after a fresh read)
LOST_ANSWER: tuple[type[BaseException], ...] = (GoogleAlreadyExists, *TRANSPORT_ERRORS)


class OperationError(GoogleError):
    """A long-running operation finished with an error, or did not finish in time."""


class WifAdmin:
    """The IAM v1 calls the federation needs. Resource names may use the project id or number."""

    def __init__(self, clients: GoogleClients, poll_interval: float = 1.0, timeout: float = 600.0,
                 sleep: Callable[[float], None] = time.sleep, quotas: WriteQuotas | None = None) -> None:
        self.clients = clients
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.sleep = sleep
        self.quotas = quotas if quotas is not None else WriteQuotas()  # Google's default quotas

    def _pools(self) -> Any:
        return self.clients.iam().projects().locations().workloadIdentityPools()

    def _providers(self) -> Any:
        return self._pools().providers()

    @staticmethod
    def _is_provider(name: str) -> bool:
        return "/providers/" in name

    def _collection(self, name: str) -> Any:
        return self._providers() if self._is_provider(name) else self._pools()

    # --- reads -------------------------------------------------------------------------------
    def get(self, name: str) -> dict[str, Any] | None:
        """The pool or provider (also when DELETED), or None when it does not exist."""
        try:
            found: dict[str, Any] = self._collection(name).get(name=name).execute(num_retries=3)
        except HttpError as exc:
            status, _code, message = http_status(exc)
            if status == 404:
                return None
            raise GoogleError(f"get {name}: {status} {message}") from None
        return found

    # --- writes ------------------------------------------------------------------------------
    def create(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        parent, _, rid = name.rpartition("/")
        parent = parent.rsplit("/", 1)[0]  # strip the collection segment
        if self._is_provider(name):
            request = self._providers().create(parent=parent, workloadIdentityPoolProviderId=rid, body=dict(body))
        else:
            request = self._pools().create(parent=parent, workloadIdentityPoolId=rid, body=dict(body))
        return self._run("create", name, request)

    def undelete(self, name: str) -> dict[str, Any]:
        return self._run("undelete", name, self._collection(name).undelete(name=name, body={}))

    def patch(self, name: str, body: Mapping[str, Any], mask: Sequence[str]) -> dict[str, Any]:
        request = self._collection(name).patch(name=name, updateMask=",".join(mask), body=dict(body))
        return self._run("patch", name, request)

    def _run(self, verb: str, name: str, request: Any) -> dict[str, Any]:
        try:
            operation: dict[str, Any] = self.quotas.call(WIF_WRITES, request.execute, f"{verb} {name}")
        except HttpError as exc:
            status, code, message = http_status(exc)
            error = GoogleAlreadyExists if verb == "create" and status == 409 else GoogleError
            raise error(f"{verb} {name}: {status} {code} {message}".strip()) from None
        self.wait(operation, f"{verb} {name}")
        found = self.get(name)
        if found is None:
            raise GoogleError(f"{verb} {name}: the operation finished but the resource is not there")
        return found

    def wait(self, operation: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        """Poll the operation through the collection matching its name until `done`."""
        deadline = time.monotonic() + self.timeout
        delay = self.poll_interval
        op = operation
        while not op.get("done"):
            if time.monotonic() > deadline:
                raise OperationError(f"{what}: operation {op.get('name')} not done after {self.timeout:.0f}s")
            self.sleep(delay)
            delay = min(delay * 1.5, 10.0)
            op_name = str(op.get("name", ""))
            try:
                op = self._collection(op_name).operations().get(name=op_name).execute(num_retries=3)
            except HttpError as exc:
                status, _code, message = http_status(exc)
                raise OperationError(f"{what}: polling {op_name}: {status} {message}") from None
        error = op.get("error")
        if error:
            raise OperationError(f"{what}: operation failed: {error.get('code')} {error.get('message')}")
        return op


# ---------------------------------------------------------------------------------------------
# Executors for `ensure_pool` / `ensure_provider` (registered with migrate.apply.loop on import)


class EnsureExecutor:
    """Get before create; undelete a soft-deleted one; patch only the drift the plan names."""

    def __init__(self, admin: WifAdmin, fields: Sequence[str]) -> None:
        self.admin = admin
        self.fields = fields

    def execute(self, action: Action, ctx: ApplyContext) -> ActionResult:
        params = action.params
        name = request_name(params)
        live = self.admin.get(name)
        decision = decide_ensure(params, live, self.fields)
        steps: list[str] = []
        if decision.op == "undelete":
            if ctx.dry_run:
                after = decide_ensure(params, {**(live or {}), "state": "ACTIVE"}, self.fields, undeleted=True)
                extra = f", then patch {', '.join(after.mask)}" if after.op == "patch" else ""
                return ActionResult(action.id, "would_apply", f"would undelete {name}{extra}", {"op": "undelete"})
            live = self.admin.undelete(name)
            steps.append("undeleted")
            decision = decide_ensure(params, live, self.fields, undeleted=True)
        if decision.op == "none":
            if steps:
                return ActionResult(action.id, "applied", f"{name}: undeleted; configuration as planned",
                                    {"steps": steps})
            return ActionResult(action.id, "skipped", f"{name}: up to date", {"up_to_date": True})
        if decision.op == "refuse":
            return ActionResult(action.id, "refused", f"{name}: {decision.reason}")
        if ctx.dry_run:
            what = f"create {name}" if decision.op == "create" else f"patch {', '.join(decision.mask)} of {name}"
            return ActionResult(action.id, "would_apply", f"would {what}", {"op": decision.op,
                                                                           "mask": list(decision.mask)})
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                if decision.op == "create":
                    self.admin.create(name, params["desired"])
                    steps.append("created")
                else:
                    self.admin.patch(name, patch_body(params["desired"], decision.mask), decision.mask)
                    steps.append("patched " + ",".join(decision.mask))
                break
            except LOST_ANSWER as exc:
                # Usually our own write whose answer was lost: read it back and decide again.
                why = "ALREADY_EXISTS" if isinstance(exc, GoogleAlreadyExists) else f"no answer ({type(exc).__name__})"
                log.warning("%s: %s %s; reading it back", name, decision.op, why)
                live = self.admin.get(name)
                after = decide_ensure(params, live, self.fields)
                if after.op == "none":
                    steps.append(f"{'created' if decision.op == 'create' else 'patched'} (answer lost; found on re-read)")
                    return ActionResult(action.id, "applied", f"{name}: {'; '.join(steps)}",
                                        {"steps": steps, "mask": list(decision.mask), "taken_over": True})
                if after.op == "refuse":
                    return ActionResult(action.id, "refused", f"{name}: {after.reason}")
                if after.op not in ("create", "patch") or attempt == MAX_WRITE_ATTEMPTS:
                    return ActionResult(action.id, "failed", f"{name}: {decision.op} got {why}; live state still "
                                        f"needs {after.op}; re-run apply")
                decision = after
        return ActionResult(action.id, "applied", f"{name}: {'; '.join(steps)}",
                            {"steps": steps, "mask": list(decision.mask)})


def request_name(params: Mapping[str, Any]) -> str:
    """The resource name to call with: the plan's (number-based) name under the configured project
    id, so calls work whether or not the caller may list by number."""
    name = str(params["name"])
    project = str(params.get("project") or "")
    parts = name.split("/")
    if project and len(parts) > 1 and parts[0] == "projects":
        parts[1] = project
    return "/".join(parts)


def _admin(ctx: ApplyContext) -> WifAdmin:
    def build() -> WifAdmin:
        if ctx.config is None:
            raise GoogleError("applying federation needs a configuration (google.*)")
        interval = ctx.services.get("poll_interval", ctx.config.google.operation_poll_interval)
        return WifAdmin(ctx.service("google", lambda: GoogleClients(ctx.config.google)),  # type: ignore[union-attr]
                        poll_interval=float(interval), quotas=run_quotas(ctx))
    admin: WifAdmin = ctx.service("wif_admin", build)
    return admin


register_executor("ensure_pool", lambda ctx: EnsureExecutor(_admin(ctx), POOL_FIELDS))
register_executor("ensure_provider", lambda ctx: EnsureExecutor(_admin(ctx), PROVIDER_FIELDS))
