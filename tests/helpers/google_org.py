"""Shared pieces of the sandbox Google tests: an org, a tiny OIDC issuer, real clients.

The issuer stands in for the GitLab emulator's (same routes: `/.well-known/openid-configuration`,
JWKS at `/oauth/discovery/keys`; RS256 key generated at run time; string claims as GitLab sends).
The pytest fixtures built on these live in google_fixtures.py.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import google.oauth2.credentials
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from googleapiclient import discovery

from migrate.sandbox.clock import Clock
from migrate.sandbox.google import GoogleApp
from migrate.sandbox.http import App, Request, Response, SandboxServer
from migrate.sandbox.keys import KeyStore

ADMIN = "sandbox-google-token"
LIMITED = "limited-google-token"
ID_PROJECT, ID_NUMBER = "acme-id", "111111111111"
PROD_PROJECT, PROD_NUMBER = "acme-prod", "222222222222"
DEPLOYER = f"deployer@{PROD_PROJECT}.iam.gserviceaccount.com"
BUILDER = f"builder@{PROD_PROJECT}.iam.gserviceaccount.com"
LOCKED = f"locked@{PROD_PROJECT}.iam.gserviceaccount.com"
POOL, PROVIDER = "gitlab", "gitlab-ci"
POOL_NAME = f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/{POOL}"
PROVIDER_NAME = f"{POOL_NAME}/providers/{PROVIDER}"


class Issuer(App):
    """A minimal GitLab-like OIDC issuer."""

    name = "issuer"

    def __init__(self) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "sandbox-issuer-key"
        self.route("GET", r"/\.well-known/openid-configuration", self._config)
        self.route("GET", r"/oauth/discovery/keys", lambda req: Response.json(self.jwks()))

    def _config(self, req: Request) -> Response:
        return Response.json({"issuer": self.base_url, "jwks_uri": f"{self.base_url}/oauth/discovery/keys",
                              "id_token_signing_alg_values_supported": ["RS256"]})

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(self, *, project_id: str = "1001", namespace_id: str = "100", project_path: str = "acme/api",
             ref: str = "main", sub: str | None = None, aud: str | None = None, now: float | None = None,
             ttl: int = 300, key: Any = None, **extra: str) -> str:
        """A GitLab job ID token (claim values are strings, as GitLab sends them)."""
        t = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.base_url, "aud": aud or f"https://iam.googleapis.com/{PROVIDER_NAME}",
            "sub": sub or f"project_path:{project_path}:ref_type:branch:ref:{ref}",
            "namespace_id": namespace_id, "namespace_path": project_path.rsplit("/", 1)[0],
            "project_id": project_id, "project_path": project_path, "ref": ref, "ref_type": "branch",
            "ref_protected": "true", "user_id": "7", "pipeline_id": "5", "job_id": "9",
            "iat": t, "nbf": t, "exp": t + ttl, **extra}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})


def org_spec(issuer_url: str) -> dict[str, Any]:
    wif_user = "roles/iam.workloadIdentityUser"
    return {
        "organization": {"id": "999", "domain": "acme.example"},
        "admin_token": ADMIN,
        "tokens": [{"token": LIMITED, "denied_permissions": [
            "iam.serviceAccountKeys.disable",
            "policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query"]}],
        "projects": [
            {"project_id": ID_PROJECT, "number": int(ID_NUMBER), "display_name": "Acme identity",
             "labels": {"team": "platform"},
             "workload_identity_pools": [
                 {"id": "old-pool", "state": "DELETED"},
                 {"id": POOL, "display_name": "GitLab", "providers": [
                     {"id": PROVIDER, "attribute_mapping": {
                         "google.subject": "assertion.sub",
                         "attribute.project_id": "assertion.project_id",
                         "attribute.namespace_id": "assertion.namespace_id"},
                      "attribute_condition": "assertion.namespace_id == '100'",
                      "oidc": {"issuer_uri": issuer_url}},
                     {"id": "offline", "attribute_mapping": {"google.subject": "assertion.sub"},
                      "attribute_condition": "assertion.namespace_id == '100'",
                      "oidc": {"issuer_uri": "http://127.0.0.1:9", "allowed_audiences": ["offline-aud"]}},
                 ]}]},
            {"project_id": PROD_PROJECT, "number": int(PROD_NUMBER), "service_accounts": [
                {"email": DEPLOYER, "display_name": "Deployer",
                 "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z"},
                          {"label": "k2", "created": "2025-01-01T00:00:00Z", "expires": "2030-01-01T00:00:00Z",
                           "last_authenticated": "2026-11-20T10:30:00Z"}],
                 "iam_policy": {"bindings": [
                     {"role": "roles/iam.serviceAccountUser", "members": ["user:alice@acme.example"]},
                     {"role": wif_user, "members": [
                         f"principalSet://iam.googleapis.com/{POOL_NAME}/attribute.project_id/1001"]}]}},
                {"name": "builder", "keys": [{"label": "b1"}],
                 "iam_policy": {"bindings": [
                     {"role": wif_user, "members": [
                         f"principalSet://iam.googleapis.com/{POOL_NAME}/attribute.project_id/1003"],
                      "condition": {"title": "expired", "expression":
                                    'request.time < timestamp("2000-01-01T00:00:00Z")'}},
                     {"role": "roles/iam.serviceAccountUser", "members": ["user:bob@acme.example"]}]}},
                {"name": "locked", "disabled": True, "iam_policy": {"bindings": [
                    {"role": wif_user, "members": [f"principalSet://iam.googleapis.com/{POOL_NAME}/*"]}]}},
            ]},
        ],
    }


def serve_google(issuer_url: str = "http://127.0.0.1:9", lro_polls: int = 2,
                 clock: Clock | None = None) -> tuple[GoogleApp, SandboxServer]:
    app = GoogleApp(org_spec(issuer_url), KeyStore(seed=7), clock or Clock(), lro_polls=lro_polls)
    return app, SandboxServer(app).start()


def iam_client(url: str, token: str = ADMIN) -> Any:
    return service("iam", "v1", url, token)


@functools.lru_cache(maxsize=64)
def service(name: str, version: str, url: str, token: str = ADMIN) -> Any:
    """A googleapiclient service (cached: building one parses the whole discovery document)."""
    return discovery.build(name, version, credentials=google.oauth2.credentials.Credentials(token),
                           client_options={"api_endpoint": url}, static_discovery=True, cache_discovery=False)
