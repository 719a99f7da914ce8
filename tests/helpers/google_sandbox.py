"""A Google sandbox (real HTTP server, real google clients) seeded with the plan fixtures' org.

A uniquely named module (not conftest) so `import` cannot pick another directory's conftest."""

from __future__ import annotations

from typing import Any

from helpers.plan_fixtures import CI, DEPLOYER, NUMBER, TF
from migrate.sandbox.clock import Clock
from migrate.sandbox.google.app import GoogleApp
from migrate.sandbox.http import SandboxServer
from migrate.sandbox.keys import KeyStore

ADMIN_TOKEN = "sandbox-google-token"
ALICE = {"role": "roles/iam.serviceAccountUser", "members": ["user:alice@acme.example"]}


def google_spec(pools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "organization": {"id": "123456789012", "domain": "acme.example"},
        "admin_token": ADMIN_TOKEN,
        "projects": [
            {"project_id": "acme-identity", "number": int(NUMBER), "workload_identity_pools": pools or []},
            {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                {"email": DEPLOYER, "keys": [{"label": "k1"}], "iam_policy": {"bindings": [ALICE]}},
                {"email": CI, "keys": [{"label": "k2"}]},
                {"email": TF, "keys": [{"label": "k3"}]},
            ]},
        ],
    }


class GoogleSandbox:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.app = GoogleApp(spec, KeyStore(7), Clock(), lro_polls=1)
        self.server = SandboxServer(self.app).start()
        self.url = self.server.url

    def endpoints(self) -> dict[str, str]:
        return {k: self.url for k in ("iam", "iamcredentials", "sts", "cloudresourcemanager", "policyanalyzer",
                                       "oauth2")}

    def writes(self) -> list[dict[str, Any]]:
        """Requests that change state: not GET, not getIamPolicy (a read sent as POST)."""
        return [e for e in self.app.mutating_requests() if not e["path"].endswith(":getIamPolicy")]

    def clear_log(self) -> None:
        with self.app._log_lock:
            self.app.log.clear()
