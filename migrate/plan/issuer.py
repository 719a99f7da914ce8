"""Which `iss` the instance's job ID tokens really carry: the provider's `issuerUri` must equal it
exactly, or every exchange fails at job runtime ("The issuer in ID Token … does not match").

The discovery document is not enough. It always says `Gitlab.config.gitlab.url`, while tokens carry
- the `ci_id_tokens_issuer_url` setting when an instance sets it (the documented setup for
  instances Google cannot reach: discovery and JWKS are published elsewhere,
  doc/ci/cloud_services/google_cloud/index.md);
- up to 18.0, `Settings.gitlab.base_url` — scheme, host and port without a relative URL root
  (`lib/gitlab/ci/jwt_v2.rb` of those versions: `iss: Settings.gitlab.base_url`);
- from then on, `Gitlab.config.gitlab.url`.

So the authority, in order: an explicit `gitlab.issuer` setting, the `iss` of a real ID token from
the instance (`plan --id-token FILE`), then discovery (with the base-URL rule for old versions);
each is checked against discovery, and a mismatch is a warning that says which one is used.
Pure: the caller reads the token file and the discovery document.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from migrate.core.errors import UsageError
from migrate.plan.federation_design import base_url

_BASE_URL_UNTIL = (18, 0)  # last version whose tokens carry Settings.gitlab.base_url


@dataclass(frozen=True)
class IssuerChoice:
    issuer: str
    source: str  # "gitlab.issuer" | "ID token" | "discovery" | "configured URL"
    warnings: tuple[str, ...] = ()


def token_issuer(token: str) -> str:
    """The `iss` of a JWT, read without verifying it (only the issuer is learnt; the token is
    neither kept nor logged). Raises UsageError for anything that is not a JWT with an `iss`."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise UsageError("--id-token: not a JWT (expected three dot-separated parts)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise UsageError("--id-token: the JWT payload is not base64url JSON") from None
    iss = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(iss, str) or not re.match(r"^https?://[^\s]+$", iss):
        raise UsageError("--id-token: the token has no http(s) `iss` claim")
    return iss.rstrip("/")


def _version(text: str | None) -> tuple[int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def choose_issuer(gitlab_url: str, version: str | None, discovery_issuer: str | None,
                  configured: str | None = None, token_iss: str | None = None) -> IssuerChoice:
    """The issuer for the provider, and the warnings a reviewer must see."""
    disc = discovery_issuer.rstrip("/") if discovery_issuer else None
    warnings: list[str] = []
    if configured:
        chosen, source = configured.rstrip("/"), "gitlab.issuer"
        if token_iss and token_iss.rstrip("/") != chosen:
            warnings.append(f"gitlab.issuer {chosen} differs from the ID token's iss {token_iss}; "
                            "using gitlab.issuer — exchanges fail unless tokens carry it")
    elif token_iss:
        chosen, source = token_iss.rstrip("/"), "ID token"
    elif disc:
        chosen, source = disc, "discovery"
        v = _version(version)
        if v is not None and v <= _BASE_URL_UNTIL and base_url(disc) != disc:
            chosen = base_url(disc)
            warnings.append(f"GitLab {version} signs ID tokens with iss = {chosen} (Settings.gitlab.base_url, "
                            f"without the relative URL root), not the discovery document's {disc}; using "
                            f"{chosen}. Confirm with `plan --id-token FILE` or set gitlab.issuer")
    else:
        chosen, source = gitlab_url.rstrip("/"), "configured URL"
    if disc and chosen != disc and source != "discovery":
        warnings.append(f"the issuer from {source} ({chosen}) differs from the discovery document's "
                        f"issuer ({disc}); using {chosen}. This is expected when the instance sets "
                        "ci_id_tokens_issuer_url; otherwise check the setting")
    return IssuerChoice(chosen, source, tuple(warnings))
