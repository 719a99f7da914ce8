"""The instance's issuer and JWKS as the planner reads them, for `google.upload_jwks`."""

from __future__ import annotations

import json

import jwt

from migrate.gitlab import oidc
from migrate.plan.federation_design import design_provider
from migrate.sandbox.launch import Sandbox


def test_uploaded_jwks_verifies_the_instances_tokens(demo_sandbox: Sandbox) -> None:
    url = demo_sandbox.gitlab_url
    assert oidc.issuer(url) == demo_sandbox.gitlab.issuer
    jwks = oidc.jwks_json(url)
    keys = json.loads(jwks)["keys"]
    assert keys and all(set(k) <= {"kty", "alg", "use", "kid", "n", "e"} for k in keys)
    token = demo_sandbox.gitlab.mint_id_token("acme/apps/storefront", ref="main", audience="aud-x")
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [jwt.PyJWK(k) for k in keys if k["kid"] == kid]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="aud-x")
    assert claims["project_path"] == "acme/apps/storefront"
    body = design_provider("123", "gitlab", "gitlab", url, [1], jwks_json=jwks).provider_body()
    assert body["oidc"]["jwksJson"] == jwks
    assert "jwksJson" not in design_provider("123", "gitlab", "gitlab", url, [1]).provider_body()["oidc"]
