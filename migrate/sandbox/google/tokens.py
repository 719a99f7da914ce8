"""Token endpoints: key sign-in (OAuth2 `/token`), STS token exchange, IAM Credentials
`generateAccessToken`, and `/tokeninfo` (how a pipeline or test checks what a token is).

Key sign-in (google.oauth2.service_account.Credentials): a JWT signed with an issued key, `kid` =
key id, `iss` = the SA, `aud` = the token URI. Disabled/deleted/unknown keys answer invalid_grant
"Invalid JWT Signature."; every success records the key's last authentication (Policy Analyzer).

STS (google.auth.identity_pool.Credentials): verify the subject token against the provider named
by `audience` (issuer, signature via JWKS, expiry, audience), map attributes and check the
condition with CEL, then mint a federated token that remembers its principal. generateAccessToken
accepts it only if the SA policy grants roles/iam.workloadIdentityUser (or
serviceAccountTokenCreator) to a principal/principalSet member it matches, with any binding
condition evaluated over `request.time`.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import jwt

from migrate.sandbox.google import cel
from migrate.sandbox.google.discovery import validate
from migrate.sandbox.google.errors import GoogleApiError, OAuthError, invalid, permission_denied
from migrate.sandbox.google.oidc import unverified_claims, verify_signature
from migrate.sandbox.google.state import BearerToken, FederatedPrincipal, Provider, ServiceAccount, rfc3339
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.google.app import GoogleApp

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token")
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REAL_TOKEN_URIS = ("https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token")
BAD_SIGNATURE = "Invalid JWT Signature."
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
               "timeframe. Check your iat and exp values in the JWT claim.")
BAD_AUDIENCE_PARAM = ('Invalid value for "audience". This value should be the full resource name of the '
                      "Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/"
                      "TopLevel/token for the list of possible formats.")
INVALID_TARGET = ('The target service indicated by the "audience" parameters is invalid. This might either '
                  "be because the pool or provider is disabled or deleted or because it doesn't exist.")
SUBJECT_TOO_LONG = ("The size of mapped attribute google.subject exceeds the 127 bytes limit. Either "
                    "modify your attribute mapping or the incoming assertion to produce a mapped "
                    "attribute that is less than 127 bytes.")
CONDITION_REJECTED = "The given credential is rejected by the attribute condition."
_AUDIENCE = re.compile(r"^//iam\.googleapis\.com/(projects/(\d+)/locations/global/workloadIdentityPools/"
                       r"([^/]+))/providers/([^/]+)$")
_SKEW_S = 300


def register(app: GoogleApp) -> None:
    app.route("POST", r"/token", lambda r: key_sign_in(app, r))
    app.route("POST", r"/v1/token", lambda r: sts_exchange(app, r))
    app.route("GET", r"/tokeninfo", lambda r: tokeninfo(app, r))
    app.route("POST", r"/tokeninfo", lambda r: tokeninfo(app, r))
    app.route("POST", r"/v1/projects/(?P<project>[^/:]+)/serviceAccounts/(?P<sa>[^/:]+):generateAccessToken",
              lambda r: generate_access_token(app, r))


# --- OAuth2 /token: key sign-in ---------------------------------------------------------------------

def key_sign_in(app: GoogleApp, req: Request) -> Response:
    form = req.form()
    if form.get("grant_type") != JWT_BEARER:
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    assertion = form.get("assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", BAD_SIGNATURE) from None
    now = app.clock.time()
    with app.lock:
        key = app.world.keys.get(str(header.get("kid", "")))
        sa = app.world.service_accounts.get(str(claims.get("iss", "")).lower())
        if sa is None:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        if key is None or key.deleted or key.disabled or key.public_pem is None \
                or key.service_account != sa.email \
                or (key.expires is not None and key.expires.timestamp() <= now):
            raise OAuthError("invalid_grant", BAD_SIGNATURE)
        public_pem = key.public_pem
    try:
        jwt.decode(assertion, key=public_pem, algorithms=["RS256"],
                   options={"verify_exp": False, "verify_iat": False, "verify_aud": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", BAD_SIGNATURE) from None
    token_uri = f"{app.base_url}/token"
    if claims.get("aud") not in (token_uri, *REAL_TOKEN_URIS):
        raise OAuthError("invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {token_uri}")
    iat, exp = claims.get("iat"), claims.get("exp")
    # The client (google-auth, gcloud) signs with its host's clock, while the sandbox clock may be
    # pinned or advanced (grace periods): a JWT fresh by either clock is in a reasonable timeframe.
    if not isinstance(iat, int | float) or not isinstance(exp, int | float) or exp - iat > 3600 \
            or not any(iat <= ref + _SKEW_S and exp >= ref - _SKEW_S for ref in (now, time.time())):
        raise OAuthError("invalid_grant", SHORT_LIVED)
    with app.lock:
        if sa.disabled:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        key.last_authenticated = app.clock.now()
    scopes = tuple(str(claims.get("scope", "")).split())
    token = app.mint_token("service_account", service_account=sa.email, scopes=scopes, key_id=key.key_id)
    return Response.json({"access_token": token.token, "expires_in": 3599, "token_type": "Bearer"})


# --- STS /v1/token ---------------------------------------------------------------------------------

def sts_exchange(app: GoogleApp, req: Request) -> Response:
    ctype = req.headers.get("content-type", "")
    data = req.json() if "json" in ctype else req.form()
    get = lambda snake, camel_name: str(data.get(snake) or data.get(camel_name) or "")  # noqa: E731
    if get("grant_type", "grantType") != TOKEN_EXCHANGE:
        raise OAuthError("invalid_request", 'Invalid value for "grant_type".')
    if get("subject_token_type", "subjectTokenType") not in SUBJECT_TYPES:
        raise OAuthError("invalid_request", 'Invalid value for "subject_token_type".')
    requested = get("requested_token_type", "requestedTokenType")
    if requested and requested != ACCESS_TOKEN_TYPE:
        raise OAuthError("invalid_request", 'Invalid value for "requested_token_type".')
    audience = get("audience", "audience")
    m = _AUDIENCE.match(audience)
    if m is None:
        raise OAuthError("invalid_request", BAD_AUDIENCE_PARAM)
    pool_name, number, pool_id, provider_id = m.groups()
    with app.lock:
        app.world.purge(app.clock.now())
        pool = app.world.pools.get((number, pool_id))
        prov = pool.providers.get(provider_id) if pool else None
        if pool is None or prov is None or pool.state != "ACTIVE" or prov.state != "ACTIVE" \
                or pool.fields.get("disabled") or prov.fields.get("disabled") or not prov.fields.get("oidc"):
            raise OAuthError("invalid_target", INVALID_TARGET)
        provider = Provider(prov.pool_name, prov.provider_id, json.loads(json.dumps(prov.fields)))
    claims = _verify_subject_token(app, provider, get("subject_token", "subjectToken").strip())
    principal = _map_attributes(provider, claims)
    scopes = tuple(get("scope", "scope").split())
    token = app.mint_token("federated", principal=principal, scopes=scopes)
    return Response.json({"access_token": token.token, "issued_token_type": ACCESS_TOKEN_TYPE,
                          "token_type": "Bearer", "expires_in": 3599})


def _verify_subject_token(app: GoogleApp, provider: Provider, token: str) -> dict[str, Any]:
    oidc = provider.fields["oidc"]
    header, claims = unverified_claims(token)
    issuer = str(oidc.get("issuerUri", "")).rstrip("/")
    if str(claims.get("iss", "")).rstrip("/") != issuer:
        raise OAuthError("invalid_grant", f"The issuer in ID Token {claims.get('iss')} does not match the "
                                          f"expected ISSUER {oidc.get('issuerUri')}.")
    if "kid" not in header:
        raise OAuthError("invalid_grant", "The ID Token header must contain a kid.")
    jwks = json.loads(oidc["jwksJson"]) if oidc.get("jwksJson") \
        else app.jwks.get(issuer, app.issuer_aliases.get(issuer))
    verify_signature(token, header, jwks)
    now = app.clock.time()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp <= now:
        raise OAuthError("invalid_grant", "The ID Token has expired.")
    if not isinstance(iat, int | float) or iat > now + _SKEW_S or iat < now - 86400:
        raise OAuthError("invalid_grant", "The ID Token iat must be in the past and at most 24 hours old.")
    allowed = list(oidc.get("allowedAudiences") or [])
    if not allowed:
        allowed = ["https://iam.googleapis.com/" + provider.name, "//iam.googleapis.com/" + provider.name]
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in allowed for a in auds):
        raise OAuthError("invalid_grant", f"The audience in ID Token [{', '.join(map(str, auds))}] does not "
                                          f"match the expected audience {allowed[0]}.")
    return claims


def _map_attributes(provider: Provider, claims: dict[str, Any]) -> FederatedPrincipal:
    mapping: dict[str, str] = provider.fields.get("attributeMapping") or {}
    google: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, expr in mapping.items():
        try:
            value = cel.evaluate(expr, {"assertion": claims})
        except cel.CelError:
            continue  # a missing claim leaves the attribute unset
        # Mapped values must be strings (lists of strings for multi-valued ones, e.g. google.groups);
        # STS refuses anything else: "The mapped attribute 'google.subject' must be of type STRING."
        # (unauthorized_client; google-github-actions/auth#378). GitLab's runner_id is an integer.
        if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            raise OAuthError("unauthorized_client", f"The mapped attribute '{key}' must be of type STRING.")
        target = google if key.startswith("google.") else attributes
        target[key.split(".", 1)[1]] = value
    subject = google.get("subject")
    if not isinstance(subject, str) or not subject:
        raise OAuthError("invalid_request", "The mapped attribute google.subject must be a non-empty string.")
    if len(subject.encode("utf-8")) > 127:
        raise OAuthError("invalid_request", SUBJECT_TOO_LONG)
    condition = provider.fields.get("attributeCondition")
    if condition:
        try:
            ok = cel.evaluate(condition, {"assertion": claims, "google": google, "attribute": attributes})
        except cel.CelError:
            ok = False
        if ok is not True:
            raise OAuthError("unauthorized_client", CONDITION_REJECTED)
    groups = google.get("groups") or []
    return FederatedPrincipal(provider.pool_name, provider.provider_id, subject, attributes,
                              [str(g) for g in (groups if isinstance(groups, list) else [groups])])


# --- IAM Credentials generateAccessToken -----------------------------------------------------------

_IMPERSONATION_ROLES = ("roles/iam.workloadIdentityUser", "roles/iam.serviceAccountTokenCreator")


def generate_access_token(app: GoogleApp, req: Request) -> Response:
    permission = "iam.serviceAccounts.getAccessToken"
    caller = app.bearer(req)
    body = validate("iamcredentials", "v1", "GenerateAccessTokenRequest", req.json())
    scopes = body.get("scope") or []
    if not scopes:
        raise invalid("Scope required.", "scope")
    lifetime = _lifetime(str(body.get("lifetime") or "3600s"))
    email = req.params["sa"].lower()
    with app.lock:
        sa = app.world.service_accounts.get(email) or next(
            (s for s in app.world.service_accounts.values() if s.unique_id == email), None)
        if sa is None:
            raise GoogleApiError(404, f"Not found; Gaia id not found for email {email}", "NOT_FOUND")
        if not _may_impersonate(app, caller, sa):
            raise permission_denied(permission)
        if sa.disabled:
            raise GoogleApiError(400, "Precondition check failed.", "FAILED_PRECONDITION")
    token = app.mint_token("service_account", service_account=sa.email, scopes=tuple(scopes),
                           lifetime_s=lifetime)
    expire = app.clock.now() + timedelta(seconds=lifetime)
    return Response.json({"accessToken": token.token, "expireTime": rfc3339(expire)})


def _lifetime(raw: str) -> int:
    m = re.fullmatch(r"(\d+)(?:\.\d+)?s", raw)
    if m is None or not 1 <= int(m.group(1)) <= 3600:
        raise invalid(f"The lifetime {raw} is invalid: it must be between 1s and 3600s.", "lifetime")
    return int(m.group(1))


def _may_impersonate(app: GoogleApp, caller: BearerToken, sa: ServiceAccount) -> bool:
    if caller.kind in ("admin", "limited"):
        return "iam.serviceAccounts.getAccessToken" not in caller.denied_permissions
    if caller.kind == "service_account":
        members = {f"serviceAccount:{caller.service_account}"}
    else:
        principal = caller.principal
        if principal is None:
            return False
        number, pool_id = principal.pool_name.split("/")[1], principal.pool_name.rsplit("/", 1)[-1]
        pool = app.world.pools.get((number, pool_id))
        if pool is None or pool.state != "ACTIVE" or pool.fields.get("disabled"):
            return False  # a disabled or deleted pool stops federated tokens from granting access
        members = principal.members()
    now = app.clock.time()
    for binding in sa.policy.bindings:
        if binding["role"] not in _IMPERSONATION_ROLES:
            continue
        # IAM propagation: a member added less than iam_propagation_s ago does not grant yet
        effective = {m for m in binding["members"]
                     if now - sa.policy.added_at.get((binding["role"], m), float("-inf")) >= app.iam_propagation_s}
        if not members & effective:
            continue
        if _condition_holds(app, binding.get("condition")):
            return True
    return False


def _condition_holds(app: GoogleApp, condition: dict[str, Any] | None) -> bool:
    if not condition or not condition.get("expression"):
        return True
    try:
        return cel.evaluate(condition["expression"], {"request": {"time": cel.timestamp(app.clock.now())}}) is True
    except cel.CelError:
        return False


# --- tokeninfo -------------------------------------------------------------------------------------

def tokeninfo(app: GoogleApp, req: Request) -> Response:
    data = req.data()
    value = str(data.get("access_token") or "")
    with app.lock:
        token = app.world.tokens.get(value)
    now = app.clock.time()
    if token is None or token.expiry is None or token.expiry <= now:
        return Response.json({"error": "invalid_token", "error_description": "Invalid Value"}, 400)
    out: dict[str, Any] = {"scope": " ".join(token.scopes), "exp": str(int(token.expiry)),
                           "expires_in": str(int(token.expiry - now)), "access_type": "online"}
    if token.service_account:
        sa = app.world.service_accounts.get(token.service_account)
        uid = sa.unique_id if sa else ""
        out.update({"azp": uid, "aud": uid, "sub": uid, "email": token.service_account,
                    "email_verified": "true"})
    if token.principal is not None:
        out["sub"] = token.principal.subject
        out["principal"] = token.principal.to_json()
    return Response.json(out)
