"""Pure decisions for the idempotent pool and provider executors: what to do given the plan's params
and the live resource (create, undelete, patch the drift the plan allows, or refuse a stale plan)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from migrate.core.model import EnsureParams
from migrate.plan.planner import field_value


@dataclass(frozen=True)
class EnsureDecision:
    op: Literal["none", "create", "undelete", "patch", "refuse"]
    mask: tuple[str, ...] = ()
    reason: str = ""



def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."



def decide_ensure(params: EnsureParams, live: Mapping[str, Any] | None, fields: Sequence[str],
                  undeleted: bool = False) -> EnsureDecision:
    """What to do with a pool/provider given the plan's params and the live resource.

    Patches only fields the plan lists in `patch`, and only if their live value is still what the
    plan observed; a resource the plan did not expect to exist with a different configuration is
    refused (stale plan). After undeleting, the resource is made to match the plan (the plan
    intended to create it)."""
    desired = params.desired
    if live is None:
        return EnsureDecision("create", reason="does not exist")
    if live.get("state") == "DELETED":
        return EnsureDecision("undelete", reason="soft-deleted; undeleting instead of re-creating")
    diff = [f for f in fields if field_value(live, f) != field_value(desired, f)]
    if not diff:
        return EnsureDecision("none", reason="up to date")
    if undeleted:
        return EnsureDecision("patch", tuple(diff), "undeleted; setting the planned configuration")
    observed = params.observed
    allowed = set(params.patch)
    if observed is None or observed.get("state") == "DELETED":
        seen = "was absent" if params.observed_known else "was not looked at"
        return EnsureDecision("refuse", reason=f"stale plan: it exists now but {seen} when planned, with "
                              + "; ".join(f"{f}={_show(field_value(live, f))} (plan: "
                                          f"{_show(field_value(desired, f))})" for f in diff)
                              + ". Re-run `wif-migrate plan`.")
    for f in diff:
        if field_value(live, f) != observed.get(f):
            return EnsureDecision("refuse", reason=f"stale plan: live {f} is {_show(field_value(live, f))}, "
                                  f"the plan saw {_show(observed.get(f))}. Re-run `wif-migrate plan`.")
        if f not in allowed:
            return EnsureDecision("refuse", reason=f"live {f} differs from the plan and the plan does not "
                                  "patch it. Re-run `wif-migrate plan`.")
    return EnsureDecision("patch", tuple(diff), "drift the plan patches: " + ", ".join(diff))



def patch_body(desired: Mapping[str, Any], mask: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for f in mask:
        head = f.split(".")[0]
        if head in desired:
            body[head] = desired[head]
    return body
