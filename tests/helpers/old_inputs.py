"""main's plan inputs before they were typed (at 4e5e7d7): the dict `make_inputs` built and the
digest `inputs_digest` took of it, kept as the oracle the typed `PlanInputs` must reproduce byte for
byte (tests/plan/test_plan_inputs_typed.py): plans on disk carry that digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from migrate.core.config import Config
from migrate.core.model import Inventory, KeyUsage, to_dict

FACT_FIELDS = ("service_account_exists", "service_account_disabled", "key_exists", "disabled", "key_type",
               "key_matches", "unknown_reason", "disable_reason")


def _key_inputs(inventory: Inventory) -> list[dict[str, Any]]:
    rows = [{"service_account": f.key.service_account, "key_id": f.key.key_id,
             "public_key_sha256": f.key.public_key_sha256, **{n: getattr(f, n) for n in FACT_FIELDS}}
            for f in inventory.key_facts]
    return sorted(rows, key=lambda r: (r["service_account"], r["key_id"], r["public_key_sha256"]))


def _usage_key(u: KeyUsage) -> tuple[str, str, int, str]:
    return (u.file_project, u.file_path, u.finding.line, u.finding.variable or "")


def main_inputs(inventory: Inventory, config: Config, project_number: str, issuer: str | None,
                jwks_json: str | None, policy_members_other: Mapping[str, int]) -> dict[str, Any]:
    """main's `_with_policy_sizes(make_inputs(inventory, config, facts), facts)`."""
    projects = [p for p in inventory.projects if p.status != "error" or p.namespace_id]
    namespace_ids = sorted({g.id for g in inventory.groups} | {p.namespace_id for p in projects if p.namespace_id})
    inputs: dict[str, Any] = {
        "gitlab_url": config.gitlab.url,
        "gitlab_version": inventory.gitlab_version,
        "issuer": (issuer or config.gitlab.url).rstrip("/"),
        "identity_project": config.google.identity_project,
        "project_number": project_number,
        "pool_id": config.google.pool_id,
        "provider_id": config.google.provider_id,
        "jwks_json": jwks_json,
        "namespace_ids": namespace_ids,
        "service_accounts": dict(sorted(config.google.service_accounts.items())),
        "projects": [{"id": p.id, "path": p.path, "namespace_id": p.namespace_id,
                      "namespace_path": p.namespace_path, "ancestor_ids": list(p.ancestor_ids),
                      "default_branch": p.default_branch} for p in sorted(projects, key=lambda p: p.path)],
        "variables": [to_dict(v) for v in sorted(inventory.variables, key=lambda v: v.ref)],
        "keys": _key_inputs(inventory),
        "other_variables": [to_dict(v) for v in sorted(inventory.other_variables, key=lambda v: v.ref)],
        "groups": [{"id": g.id, "path": g.path} for g in sorted(inventory.groups, key=lambda g: g.id)],
        "usages": [{"file_project": u.file_project, "file_path": u.file_path, "ref": u.ref,
                    "variable": u.finding.variable, "variables": list(u.variables),
                    "consumers": list(u.consumers), "line": u.finding.line,
                    "runs": [to_dict(r) for r in u.runs]}
                   for u in sorted(inventory.usages, key=_usage_key)],
        "outside_readers": [to_dict(r) for r in inventory.outside_readers],
    }
    others = {sa: int(n) for sa, n in sorted(policy_members_other.items()) if n}
    if others:
        inputs["policy_members_other"] = others
    return inputs


def main_digest(inputs: Mapping[str, Any]) -> str:
    canon = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()
