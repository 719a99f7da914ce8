"""The instance's OIDC issuer: signing key, discovery document, JWKS, and job ID tokens.

GitLab signs CI job ID tokens with RS256 using the instance's CI JWT signing key and publishes
the public half at `/oauth/discovery/keys`; `kid` is the key's RFC 7638 thumbprint. Claim
values are strings except `iat`, `nbf`, `exp` and `runner_id` (gitlab.md §1, `jwt_v2.rb`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SCOPES = ["api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy",
          "self_rotate", "read_repository", "write_repository", "read_registry", "write_registry",
          "read_virtual_registry", "write_virtual_registry", "read_observability",
          "write_observability", "ai_features", "sudo", "admin_mode", "read_service_ping",
          "openid", "profile", "email", "ai_workflows", "user:*"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class Issuer:
    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self._n, self._e = _int_b64(numbers.n), _int_b64(numbers.e)
        thumb = json.dumps({"e": self._e, "kty": "RSA", "n": self._n}, separators=(",", ":"),
                           sort_keys=True)
        self.kid = _b64(hashlib.sha256(thumb.encode()).digest())

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{"kty": "RSA", "kid": self.kid, "e": self._e, "n": self._n,
                          "use": "sig", "alg": "RS256"}]}

    def public_pem(self) -> str:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})


def discovery(issuer: str) -> dict[str, Any]:
    """`/.well-known/openid-configuration` as GitLab (Doorkeeper OpenID Connect) serves it."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/discovery/keys",
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "password", "client_credentials",
                                  "device_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claim_types_supported": ["normal"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "sub_legacy", "name", "nickname",
                             "preferred_username", "email", "email_verified", "website", "profile",
                             "picture", "groups", "groups_direct", "https://gitlab.org/claims/groups/owner",
                             "https://gitlab.org/claims/groups/maintainer",
                             "https://gitlab.org/claims/groups/developer"],
        "code_challenge_methods_supported": ["plain", "S256"],
    }


def deployment_tier(environment: str) -> str:
    """GitLab's guess from the environment name (doc/ci/environments: deployment tier)."""
    name = environment.lower()
    for tier, words in (("production", ("prod", "live")), ("staging", ("stag", "model", "pre")),
                        ("testing", ("test", "qa")), ("development", ("dev", "review", "trunk"))):
        if any(name.startswith(w) or f"/{w}" in name for w in words):
            return tier
    return "other"
