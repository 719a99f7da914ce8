"""Pieces the end-to-end sandbox organisations share: a free port for the sandbox GitLab (which is
also the OIDC issuer) and the identity project with the GitLab pool and provider."""

from __future__ import annotations

import socket
from typing import Any

SUBJECT_PROJECT_REF = "assertion.project_id + '::' + assertion.ref"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the sandbox binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def identity_project(number: int | str, issuer_port: int, subject: str = SUBJECT_PROJECT_REF) -> dict[str, Any]:
    """The identity project `acme-id`: pool `gitlab` with provider `gitlab` trusting the sandbox
    GitLab on `issuer_port`, admitting only namespace 100."""
    return {"project_id": "acme-id", "number": int(number), "workload_identity_pools": [
        {"id": "gitlab", "providers": [{
            "id": "gitlab",
            "attribute_mapping": {"google.subject": subject, "attribute.project_id": "assertion.project_id"},
            "attribute_condition": "assertion.namespace_id == '100'",
            "oidc": {"issuer_uri": f"http://127.0.0.1:{issuer_port}"}}]}]}


ONE_KEY_ACCOUNT = "deployer@acme-prod.iam.gserviceaccount.com"


def one_key_org(projects: list[dict[str, Any]], seed: int, *, key: dict[str, Any] | None = None,
                **gitlab: Any) -> dict[str, Any]:
    """An organisation document with one key: group `acme` (id 100) holding `projects` and the
    file variable GCP_SA_KEY with key `k1` of `ONE_KEY_ACCOUNT` (`key` adds fields to that key,
    e.g. `last_authenticated`), an ACTIVE empty pool `gitlab` in `acme-identity`, and GitLab
    17.5.0 with an admin `migrator` (token `t-migrator`); `gitlab` adds instance fields
    (e.g. `ci_templates`). Pass it to `migrate.sandbox.org.parse_org`."""
    return {
        "seed": seed,
        "gitlab": {
            "version": "17.5.0",
            **gitlab,
            "users": [{"username": "migrator", "token": "t-migrator", "admin": True}],
            "groups": [{"path": "acme", "id": 100, "projects": projects, "variables": [
                {"key": "GCP_SA_KEY", "variable_type": "file",
                 "sa_key": {"service_account": ONE_KEY_ACCOUNT, "key": "k1"}}]}],
        },
        "google": {"admin_token": "g-admin", "projects": [
            {"project_id": "acme-identity", "number": 499999999999,
             "workload_identity_pools": [{"id": "gitlab", "state": "ACTIVE", "providers": []}]},
            {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
                {"email": ONE_KEY_ACCOUNT, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z",
                                                     **(key or {})}]}]}]},
    }
