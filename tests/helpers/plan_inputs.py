"""A `PlanInputs` with only the fields a test is about: every other field empty (what a plan of an
organisation with nothing else in it records), so unit tests of retire and apply rules can pin one
fact without building an inventory and running the planner."""

from __future__ import annotations

from typing import Any

from migrate.core.model import PlanInputs


def plan_inputs(**fields: Any) -> PlanInputs:
    """`PlanInputs(**fields)` with the others empty; sequences given as lists become tuples."""
    base: dict[str, Any] = {
        "gitlab_url": "https://gitlab.example.com", "gitlab_version": "17.5.0",
        "issuer": "https://gitlab.example.com", "identity_project": "acme-id", "project_number": "1",
        "pool_id": "gitlab", "provider_id": "gitlab", "jwks_json": None, "namespace_ids": (),
        "service_accounts": {}, "projects": (), "variables": (), "keys": (), "other_variables": (),
        "groups": (), "usages": (), "outside_readers": ()}
    base.update({k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    return PlanInputs(**base)
