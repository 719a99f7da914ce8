"""Federation end to end: a GitLab-style ID token → STS → generateAccessToken, driven by google-auth's
own external_account credentials (what `gcloud iam workload-identity-pools create-cred-config`
writes), against the sandbox over HTTP."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import identity_pool
from helpers.google_org import (
    BUILDER,
    DEPLOYER,
    LOCKED,
    POOL_NAME,
    PROVIDER_NAME,
    Issuer,
)

from migrate.sandbox.google import GoogleApp

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]

pytest_plugins = ["helpers.google_fixtures"]
pytestmark = pytest.mark.usefixtures("isolated")


def cred_config(app: GoogleApp, token_file: Path, sa: str | None = DEPLOYER,
                provider: str = PROVIDER_NAME) -> dict[str, Any]:
    config: dict[str, Any] = {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{provider}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{app.base_url}/v1/token",
        "credential_source": {"file": str(token_file), "format": {"type": "text"}},
    }
    if sa:
        config["service_account_impersonation_url"] = (
            f"{app.base_url}/v1/projects/-/serviceAccounts/{sa}:generateAccessToken")
        config["service_account_impersonation"] = {"token_lifetime_seconds": 3600}
    return config


def exchange(app: GoogleApp, tmp_path: Path, token: str, **kwargs: Any) -> identity_pool.Credentials:
    path = tmp_path / "id_token"
    path.write_text(token + "\n")  # as `echo $TOKEN > file` writes it
    creds = identity_pool.Credentials.from_info(cred_config(app, path, **kwargs), scopes=SCOPES)
    creds.refresh(google.auth.transport.requests.Request())
    return creds


def tokeninfo(app: GoogleApp, token: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{app.base_url}/tokeninfo?access_token={token}") as resp:
        return dict(json.loads(resp.read()))


def refused(app: GoogleApp, tmp_path: Path, token: str, **kwargs: Any) -> str:
    with pytest.raises(google.auth.exceptions.GoogleAuthError) as err:
        exchange(app, tmp_path, token, **kwargs)
    return str(err.value)


def test_bound_project_gets_an_access_token_for_the_service_account(
        google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    creds = exchange(google_app, tmp_path, issuer.mint(project_id="1001"))
    assert creds.token and creds.expiry is not None  # google-auth parsed expireTime
    info = tokeninfo(google_app, creds.token)
    assert info["email"] == DEPLOYER and info["scope"] == SCOPES[0]


def test_federated_token_alone_records_its_principal(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    creds = exchange(google_app, tmp_path, issuer.mint(project_id="1001", ref="feature"), sa=None)
    principal = tokeninfo(google_app, creds.token)["principal"]
    assert principal == {"pool": POOL_NAME, "provider": "gitlab-ci",
                         "subject": "project_path:acme/api:ref_type:branch:ref:feature",
                         "attributes": {"project_id": "1001", "namespace_id": "100"}, "groups": []}


def test_project_the_binding_does_not_cover_is_refused(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    message = refused(google_app, tmp_path, issuer.mint(project_id="1002"))
    assert "Unable to acquire impersonated credentials" in message  # google-auth's wording
    assert "iam.serviceAccounts.getAccessToken" in message
    assert "denied on resource (or it may not exist)." in message and "PERMISSION_DENIED" in message


def test_look_alike_namespace_is_rejected_by_the_condition(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    evil = issuer.mint(project_id="1001", namespace_id="101", project_path="acme-evil/api")
    message = refused(google_app, tmp_path, evil)
    assert "unauthorized_client" in message
    assert "The given credential is rejected by the attribute condition." in message


def test_over_long_subject_is_refused(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    deep = "acme/" + "/".join(["very-deep-subgroup-name"] * 5) + "/api"
    message = refused(google_app, tmp_path, issuer.mint(project_path=deep, ref="feature/" + "x" * 20))
    assert "invalid_request" in message
    assert "The size of mapped attribute google.subject exceeds the 127 bytes limit." in message


@pytest.mark.parametrize("case, needle", [
    ("audience", "does not match the expected audience"),
    ("expired", "expired"),
    ("signature", "signature"),
    ("issuer", "does not match the expected ISSUER"),
])
def test_bad_tokens_are_invalid_grant(google_app: GoogleApp, issuer: Issuer, tmp_path: Path,
                                      case: str, needle: str) -> None:
    if case == "audience":
        token = issuer.mint(aud="https://gitlab.example/other")
    elif case == "expired":
        token = issuer.mint(now=time.time() - 7200, ttl=300)
    elif case == "signature":
        token = issuer.mint(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    else:
        import jwt
        claims = jwt.decode(issuer.mint(), options={"verify_signature": False})
        token = jwt.encode({**claims, "iss": "https://gitlab.com"}, issuer.key, algorithm="RS256",
                           headers={"kid": issuer.kid})
    message = refused(google_app, tmp_path, token)
    assert "invalid_grant" in message and needle in message


def test_wrong_audience_parameter_and_unknown_provider(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    message = refused(google_app, tmp_path, issuer.mint(), provider=PROVIDER_NAME.replace("111111111111", "acme-id"))
    assert 'Invalid value for "audience"' in message
    message = refused(google_app, tmp_path, issuer.mint(), provider=PROVIDER_NAME + "-nope")
    assert "invalid_target" in message


def test_uploaded_jwks_verifies_without_reaching_the_issuer(google_app: GoogleApp, issuer: Issuer,
                                                            tmp_path: Path) -> None:
    offline = f"{POOL_NAME}/providers/offline"
    token = issuer.mint(aud="offline-aud")
    jwt_claims = {"iss": "http://127.0.0.1:9"}
    import jwt
    claims = {**jwt.decode(token, options={"verify_signature": False}), **jwt_claims}
    token = jwt.encode(claims, issuer.key, algorithm="RS256", headers={"kid": issuer.kid})
    # issuer unreachable and no JWKS uploaded: Google cannot fetch the keys
    assert "Error connecting to the given credential's issuer." in refused(
        google_app, tmp_path, token, sa=None, provider=offline)
    with google_app.lock:
        prov = google_app.world.pools[("111111111111", "gitlab")].providers["offline"]
        prov.fields["oidc"]["jwksJson"] = json.dumps(issuer.jwks())
    try:
        assert exchange(google_app, tmp_path, token, sa=None, provider=offline).token
    finally:
        with google_app.lock:
            prov.fields["oidc"].pop("jwksJson")


def test_disabled_service_account_refuses(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    message = refused(google_app, tmp_path, issuer.mint(), sa=LOCKED)
    assert "FAILED_PRECONDITION" in message


def test_binding_condition_on_request_time_is_evaluated(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    message = refused(google_app, tmp_path, issuer.mint(project_id="1003"), sa=BUILDER)
    assert "iam.serviceAccounts.getAccessToken" in message


def test_disabled_provider_is_an_invalid_target(google_app: GoogleApp, issuer: Issuer, tmp_path: Path) -> None:
    with google_app.lock:
        prov = google_app.world.pools[("111111111111", "gitlab")].providers["gitlab-ci"]
        prov.fields["disabled"] = True
    try:
        assert "invalid_target" in refused(google_app, tmp_path, issuer.mint())
    finally:
        with google_app.lock:
            prov.fields.pop("disabled")


def test_real_gitlab_emulator_tokens_federate_end_to_end(tmp_path: Path) -> None:
    """The GitLab emulator's own issuer: a provider created through the IAM API trusts it, STS
    fetches its JWKS over HTTP, and a job token of the bound project impersonates the SA."""
    from helpers.google_org import iam_client, serve_google

    from migrate.sandbox.gitlab import GitLabApp
    from migrate.sandbox.http import SandboxServer

    google_app, google_server = serve_google(lro_polls=0)
    gitlab = GitLabApp({"users": [{"username": "migrator", "token": "glpat-sandbox", "admin": True}],
                        "groups": [{"path": "acme", "id": 100, "projects": [{"path": "api", "id": 1001}]}]},
                       google_app.keys, google_app.clock)
    gitlab_server = SandboxServer(gitlab).start()
    try:
        providers = iam_client(google_app.base_url).projects().locations().workloadIdentityPools().providers()
        op = providers.create(
            parent="projects/acme-id/locations/global/workloadIdentityPools/gitlab",
            workloadIdentityPoolProviderId="gitlab-real",
            body={"attributeMapping": {"google.subject": "assertion.sub",
                                       "attribute.project_id": "assertion.project_id"},
                  "attributeCondition": "assertion.namespace_id == '100'",
                  "oidc": {"issuerUri": gitlab.issuer}}).execute()
        assert op["done"] is True and "error" not in op
        provider = f"{POOL_NAME}/providers/gitlab-real"
        token = gitlab.mint_id_token("acme/api", ref="main", audience=f"https://iam.googleapis.com/{provider}")
        creds = exchange(google_app, tmp_path, token, provider=provider)
        assert tokeninfo(google_app, creds.token)["email"] == DEPLOYER
        assert google_app.jwks.fetches == 1
    finally:
        gitlab_server.stop()
        google_server.stop()
