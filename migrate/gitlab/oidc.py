"""The instance's OIDC issuer and signing keys, for the provider design.

`iss` in GitLab's job tokens is the instance URL without a trailing slash, unless the instance
overrides it (`ci_id_tokens_issuer_url`); the discovery document says which. The JWKS is uploaded
to the provider (`oidc.jwksJson`) when Google cannot reach the instance; Google rejects `x5c`/`x5t`
members, so they are dropped (gcp.md §1). Public keys only; nothing secret here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from migrate.core.errors import GitLabError

log = logging.getLogger(__name__)
TIMEOUT_S = 30
_KEEP = ("kty", "alg", "use", "kid", "n", "e", "x", "y", "crv")


def discovery(url: str, verify: bool = True) -> dict[str, Any]:
    where = f"{url.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = requests.get(where, timeout=TIMEOUT_S, verify=verify)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise GitLabError(f"cannot read the OIDC discovery document {where}: {type(exc).__name__}") from None
    return data


def issuer(url: str, verify: bool = True) -> str:
    """The issuer the instance's tokens carry (from discovery), without a trailing slash."""
    return str(discovery(url, verify).get("issuer") or url).rstrip("/")


def jwks_json(url: str, verify: bool = True) -> str:
    """The instance's JWKS as the provider's `oidc.jwksJson` string (RSA/EC members only)."""
    jwks_uri = discovery(url, verify).get("jwks_uri") or f"{url.rstrip('/')}/oauth/discovery/keys"
    try:
        response = requests.get(str(jwks_uri), timeout=TIMEOUT_S, verify=verify)
        response.raise_for_status()
        keys = response.json().get("keys") or []
    except (requests.RequestException, ValueError, AttributeError) as exc:
        raise GitLabError(f"cannot read the JWKS at {jwks_uri}: {type(exc).__name__}") from None
    cleaned = [{k: v for k, v in key.items() if k in _KEEP} for key in keys if key.get("kty") in ("RSA", "EC")]
    if not cleaned:
        raise GitLabError(f"the JWKS at {jwks_uri} has no RSA or EC key")
    return json.dumps({"keys": cleaned}, sort_keys=True, separators=(",", ":"))
