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
