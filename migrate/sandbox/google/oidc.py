"""Verifying third-party ID tokens (GitLab job tokens) the way STS does.

Keys come from the provider's uploaded `oidc.jwksJson`, or are fetched over HTTP from the issuer
(`<issuer>/.well-known/openid-configuration` → `jwks_uri`), cached per issuer, as Google does
from the public internet. Times are checked against the sandbox clock, not the wall clock, so a
test that advances the clock sees tokens expire.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any

import jwt

from migrate.sandbox.google.errors import OAuthError

log = logging.getLogger(__name__)

CONNECT_ERROR = "Error connecting to the given credential's issuer."


class JwksCache:
    """Issuer → JWKS, fetched once per issuer (clear() to force a refetch, e.g. after key rotation)."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.timeout_s = timeout_s
        self.fetches = 0

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def get(self, issuer: str, fetch_from: str | None = None) -> dict[str, Any]:
        """The issuer's JWKS; `fetch_from` is where its discovery document really lives (an alias
        for a sandbox issuer whose tokens carry another URL, e.g. `https://gitlab.com`)."""
        with self._lock:
            cached = self._cache.get(issuer)
        if cached is not None:
            return cached
        jwks = self._fetch(fetch_from or issuer)
        with self._lock:
            self._cache[issuer] = jwks
            self.fetches += 1
        return jwks

    def _fetch(self, issuer: str) -> dict[str, Any]:
        try:
            config = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            jwks = self._get_json(str(config["jwks_uri"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("OIDC discovery for %s failed: %s", issuer, type(exc).__name__)
            raise OAuthError("invalid_grant", CONNECT_ERROR) from None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise OAuthError("invalid_grant", CONNECT_ERROR)
        return jwks

    def _get_json(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:  # noqa: S310 (sandbox URLs)
            return json.loads(resp.read().decode("utf-8"))


def unverified_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) without checking anything; invalid_grant if it is not a JWT at all."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "Unable to parse the ID Token.") from None
    if not isinstance(claims, dict):
        raise OAuthError("invalid_grant", "Unable to parse the ID Token.")
    return header, claims


def verify_signature(token: str, header: dict[str, Any], jwks: dict[str, Any]) -> None:
    """Check the RS256/ES256 signature with the JWKS key named by `kid`."""
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ("RS256", "ES256"):
        raise OAuthError("invalid_grant", f"The ID Token algorithm {alg} is not supported.")
    candidates = [k for k in jwks.get("keys", []) if kid is None or k.get("kid") == kid]
    for key in candidates:
        try:
            jwt.decode(token, key=jwt.PyJWK(key).key, algorithms=[alg],
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                "verify_aud": False, "verify_iss": False})
            return
        except (jwt.PyJWTError, ValueError, KeyError):
            continue
    raise OAuthError("invalid_grant", "Invalid ID Token signature.")
