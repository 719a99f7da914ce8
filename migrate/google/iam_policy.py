"""Service-account IAM policy: additive read-modify-write that never drops a binding. The adapter
behind `migrate.apply.ports.ServiceAccountPolicies`.

Read with policy version 3 (a *query* parameter for service accounts:
`options.requestedPolicyVersion=3`), add only the members that are missing to the role's
unconditional binding, write back with the etag and `version: 3`. A concurrent writer makes the
write fail with 409 ABORTED ("There were concurrent policy changes…"): re-read and retry, so the
other writer's change is kept. A write that gets no answer is handled the same way (re-read, then
write only what is still missing). Everything else in the policy (other roles, conditional bindings,
auditConfigs) is sent back exactly as read. gcp.md §2, §0.5.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from googleapiclient.errors import HttpError

from migrate.apply.ports import PolicyChange, ServiceAccountMissingError
from migrate.core.errors import GoogleError
from migrate.google.clients import TRANSPORT_ERRORS, GoogleClients, converts_transport_errors
from migrate.google.quota import IAM_POLICY_WRITES, WriteQuotas
from migrate.google.service_account_keys import http_status

log = logging.getLogger(__name__)


MAX_ATTEMPTS = 6



def add_members(policy: dict[str, Any], role: str, members: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """A copy of `policy` with `members` in the role's unconditional binding; the members added.
    Pure: every other binding, member and field is kept as read."""
    new = copy.deepcopy(policy)
    bindings: list[dict[str, Any]] = new.setdefault("bindings", [])
    target = next((b for b in bindings if b.get("role") == role and not b.get("condition")), None)
    present = set(target.get("members", [])) if target else set()
    missing = [m for m in members if m not in present]
    if missing:
        if target is None:
            target = {"role": role, "members": []}
            bindings.append(target)
        target["members"] = list(target.get("members", [])) + missing
    new["version"] = 3
    return new, missing



@converts_transport_errors
class PolicyEditor:
    """get/setIamPolicy on service accounts through googleapiclient."""

    def __init__(self, clients: GoogleClients, sleep: Callable[[float], None] = time.sleep,
                 quotas: WriteQuotas | None = None) -> None:
        self.clients = clients
        self.sleep = sleep
        self.quotas = quotas if quotas is not None else WriteQuotas()  # Google's default quotas

    def _sa(self) -> Any:
        return self.clients.iam().projects().serviceAccounts()

    def read(self, resource: str) -> dict[str, Any]:
        try:
            policy: dict[str, Any] = self._sa().getIamPolicy(
                resource=resource, options_requestedPolicyVersion=3).execute(num_retries=3)
        except HttpError as exc:
            raise self._error("getIamPolicy", resource, exc) from None
        for b in policy.get("bindings", []):
            if "_withcond_" in str(b.get("role", "")):
                # A v1 view of a conditional policy: writing it back would destroy conditions.
                raise GoogleError(f"getIamPolicy on {resource} returned a version-1 view of a conditional "
                                  "policy; refusing to write it back")
        return policy

    def ensure_members(self, resource: str, role: str, members: Sequence[str], dry_run: bool,
                       max_attempts: int = MAX_ATTEMPTS) -> PolicyChange:
        """Add missing members; redo the whole read-modify-write on 409 ABORTED (a concurrent
        change, or our own write retried by httplib2 after a lost answer) and on a broken
        connection. The etag makes redoing safe; members found bound after an unanswered write
        are reported as added by us (`answer_lost`), not as "already bound"."""
        attempts = 0
        unanswered: tuple[str, ...] = ()  # members of a write whose fate is unknown
        while True:
            policy = self.read(resource)
            new, missing = add_members(policy, role, members)
            already = tuple(m for m in members if m not in missing)
            if not missing and unanswered:
                return PolicyChange(resource, role, unanswered, tuple(m for m in already if m not in unanswered),
                                    attempts, str(policy.get("etag", "")), answer_lost=True)
            if not missing or dry_run:
                return PolicyChange(resource, role, tuple(missing), already, attempts, str(policy.get("etag", "")))
            attempts += 1
            try:
                request = self._sa().setIamPolicy(resource=resource, body={"policy": new})
                written = self.quotas.call(IAM_POLICY_WRITES, request.execute, f"setIamPolicy on {resource}")
            except HttpError as exc:
                status, code, _ = http_status(exc)
                if status == 409 and attempts < max_attempts:
                    unanswered = unanswered or tuple(missing)
                    self._pause(attempts, resource, code or "ABORTED")
                    continue
                raise self._error("setIamPolicy", resource, exc) from None
            except TRANSPORT_ERRORS as exc:
                if attempts >= max_attempts:
                    raise GoogleError(f"setIamPolicy on {resource}: no answer after {attempts} attempts "
                                      f"({type(exc).__name__}); re-run apply") from None
                unanswered = unanswered or tuple(missing)
                self._pause(attempts, resource, f"no answer: {type(exc).__name__}")
                continue
            return PolicyChange(resource, role, tuple(missing), already, attempts, str(written.get("etag", "")))

    def _pause(self, attempts: int, resource: str, why: str) -> None:
        delay = min(8.0, 0.2 * 2 ** (attempts - 1)) * (0.5 + random.random() / 2)
        log.info("setIamPolicy on %s: %s; re-reading in %.2fs", resource, why, delay)
        self.sleep(delay)

    def _error(self, verb: str, resource: str, exc: HttpError) -> GoogleError:
        status, code, message = http_status(exc)
        if status in (403, 404):
            return ServiceAccountMissingError(
                f"{verb} on {resource}: {status} {code} {message}. The service account may not exist, or the "
                "operator lacks iam.serviceAccounts.getIamPolicy/setIamPolicy (roles/iam.serviceAccountAdmin)")
        return GoogleError(f"{verb} on {resource}: {status} {code} {message}".strip())
