"""The OIDC issuer: discovery, JWKS, and ID tokens that verify with the served keys."""

from __future__ import annotations

from collections.abc import Callable

import gitlab
import jwt
import requests

from migrate.sandbox.launch import Sandbox

AUD = "https://iam.googleapis.com/projects/499999999999/locations/global/workloadIdentityPools/gitlab/providers/gitlab"


def test_discovery_document(demo_sandbox: Sandbox) -> None:
    doc = requests.get(f"{demo_sandbox.gitlab_url}/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == demo_sandbox.gitlab_url and not doc["issuer"].endswith("/")
    assert doc["jwks_uri"] == f"{demo_sandbox.gitlab_url}/oauth/discovery/keys"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_minted_token_verifies_against_served_jwks(demo_sandbox: Sandbox,
                                                   demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    app = demo_sandbox.gitlab
    token = app.mint_id_token("acme/platform/infra-terraform", ref="main", audience=AUD,
                              environment="production", environment_protected=True)
    jwks = jwt.PyJWKClient(f"{demo_sandbox.gitlab_url}/oauth/discovery/keys")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUD, issuer=demo_sandbox.gitlab_url)
    head = demo_gl().projects.get(1003).branches.get("main").commit["id"]
    assert claims["sub"] == "project_path:acme/platform/infra-terraform:ref_type:branch:ref:main"
    expected = {
        "namespace_id": "110", "namespace_path": "acme/platform", "project_id": "1003",
        "project_path": "acme/platform/infra-terraform", "user_login": "migrator",
        "user_email": "migrator@sandbox.example", "user_access_level": "owner", "pipeline_source": "push",
        "ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main", "ref_protected": "true",
        "environment": "production", "environment_protected": "true", "deployment_tier": "production",
        "runner_environment": "self-hosted", "sha": head, "ci_config_sha": head,
        "ci_config_ref_uri": demo_sandbox.gitlab_url.split("://")[1]
        + "/acme/platform/infra-terraform//.gitlab-ci.yml@refs/heads/main",
        "project_visibility": "private",
    }
    assert {k: claims[k] for k in expected} == expected
    for name in ("user_id", "pipeline_id", "job_id", "jti"):
        assert isinstance(claims[name], str) and claims[name]
    assert isinstance(claims["runner_id"], int)  # the one non-string custom claim (gitlab.md §1)
    assert claims["nbf"] == claims["iat"] - 5 and claims["exp"] == claims["iat"] + 300
    assert jwt.get_unverified_header(token)["kid"] == key.key_id


def test_token_on_unprotected_branch_and_sub_components(demo_sandbox: Sandbox) -> None:
    app = demo_sandbox.gitlab
    token = app.mint_id_token("acme/apps/docs-site", ref="feature/x", audience=[AUD, "other"],
                              pipeline_source="merge_request_event", user_login="alice")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["ref_protected"] == "false" and claims["aud"] == [AUD, "other"]
    assert "environment" not in claims and claims["user_login"] == "alice"
    project = app.project("acme/apps/docs-site")
    project.ci_id_token_sub_claim_components = ["project_id", "ref_type", "ref"]
    try:
        claims = jwt.decode(app.mint_id_token(project, ref="main", audience=AUD),
                            options={"verify_signature": False})
    finally:
        project.ci_id_token_sub_claim_components = ["project_path", "ref_type", "ref"]
    assert claims["sub"] == "project_id:1016:ref_type:branch:ref:main"
