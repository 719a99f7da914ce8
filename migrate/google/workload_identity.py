"""Workload identity pools and providers on IAM v1: get, create, undelete, patch; operations polled to
the end. The adapter behind `migrate.apply.ports.WorkloadIdentityAdmin` (the decisions — create or
undelete, which drift to patch, what a lost answer means — are the executor's, in
`migrate.apply.pool_provider_executor`).

GET returns soft-deleted resources too (state DELETED; gcp.md §0.1). create/patch/undelete answer a
long-running Operation; it is polled through the operations collection that matches its name (pool
operations and provider operations are different methods, and googleapiclient refuses a name that
does not fit the method's pattern), then the resource is read again rather than trusting the
operation's `response` (it may be empty). A create or patch whose answer was lost (the connection
broke after httplib2's own retry) is raised as `GoogleNoAnswer`, 409 on create as
`GoogleAlreadyExists`: the caller re-reads and decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from googleapiclient.errors import HttpError

from migrate.core.errors import GoogleAlreadyExists, GoogleError
from migrate.google.clients import GoogleClients, converts_transport_errors
from migrate.google.quota import WIF_WRITES, WriteQuotas
from migrate.google.service_account_keys import http_status


class OperationError(GoogleError):
    """A long-running operation finished with an error, or did not finish in time."""



@converts_transport_errors
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
        """Create and wait; `GoogleAlreadyExists` on 409, `GoogleNoAnswer` when the answer was lost."""
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
        """Patch `mask` and wait; `GoogleNoAnswer` when the answer was lost."""
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

