"""`GoogleApp`: one HTTP app serving every Google API the tool uses, on one port.

All the APIs' discovery documents have an empty servicePath and paths starting `v1/` or `v3/`, so
with `client_options={"api_endpoint": URL}` every client lands on the same host without clashes:
IAM (`/v1/projects/P/serviceAccounts…`, `/v1/projects/P/locations/global/workloadIdentityPools…`),
IAM Credentials (`/v1/projects/-/serviceAccounts/E:generateAccessToken`), STS (`/v1/token`),
OAuth2 (`/token`, `/tokeninfo`), Resource Manager (`/v3/projects…`), Policy Analyzer
(`/v1/projects/P/locations/global/activityTypes/T/activities:query`).

Auth: every admin call needs `Authorization: Bearer T` where T is the org's `admin_token`, a
`google.tokens` entry (with `denied_permissions`), or a token this sandbox minted (key sign-in,
STS, generateAccessToken). Sandbox-only routes under `/_sandbox/` need no token.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from migrate.sandbox.clock import Clock
from migrate.sandbox.google import activity, iam, resourcemanager, tokens, wif
from migrate.sandbox.google.errors import GoogleApiError, OAuthError, permission_denied, unauthenticated
from migrate.sandbox.google.oidc import JwksCache
from migrate.sandbox.google.quota import GOOGLE_DEFAULTS, Quotas
from migrate.sandbox.google.state import BearerToken, FederatedPrincipal, GoogleWorld, load_world
from migrate.sandbox.http import App, Request, Response
from migrate.sandbox.keys import KeyStore

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 3600


class GoogleApp(App):
    """The Google emulator. `spec` is the org file's `google:` mapping."""

    name = "google"

    def __init__(self, spec: dict[str, Any], keys: KeyStore, clock: Clock, lro_polls: int = 1) -> None:
        super().__init__()
        self.spec = spec
        self.keys = keys
        self.clock = clock
        self.lro_polls = lro_polls
        # "Policy changes typically take effect within 2 minutes, but can take 7 minutes or more"
        # (cloud.google.com/iam/docs/access-change-propagation): a member added by setIamPolicy
        # grants impersonation only `iam_propagation_s` of sandbox clock later (default 0).
        self.iam_propagation_s = float(spec.get("iam_propagation_s") or 0)
        self.world: GoogleWorld = load_world(spec, keys, clock)
        self.jwks = JwksCache()
        # issuer URL as tokens carry it → base URL that really serves its discovery document
        self.issuer_aliases: dict[str, str] = {
            str(k).rstrip("/"): str(v).rstrip("/") for k, v in (spec.get("issuer_aliases") or {}).items()}
        self.races: dict[str, list[tuple[str, str]]] = {}  # SA email → pending (member, role)
        self.operation_faults: list[dict[str, Any]] = []  # next operations finish with these errors
        self.quotas: Quotas | None = None  # Google's write quotas, when `set_quotas` turned them on
        self.route("GET", r"/_sandbox/state", lambda req: Response.json(self.state()))
        self.route("POST", r"/_sandbox/race", self._race_route)
        self.route("POST", r"/_sandbox/operation_faults", self._operation_fault_route)
        self.route("POST", r"/_sandbox/clock", self._clock_route)
        for module in (iam, wif, tokens, resourcemanager, activity):
            module.register(self)

    @property
    def token_uri(self) -> str:
        """The OAuth2 token endpoint key files should name (`token_uri`) to sign in here."""
        return f"{self.base_url}/token"

    # --- rendering ---------------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        try:
            if self.quotas is not None:
                self.quotas.charge(req.method, req.path)
            return super().dispatch(req)
        except (GoogleApiError, OAuthError) as exc:
            return exc.response()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return GoogleApiError(400, f"Invalid JSON payload received. {type(exc).__name__}: {exc.msg if isinstance(exc, json.JSONDecodeError) else 'not UTF-8'}",
                               "INVALID_ARGUMENT").response()

    def error(self, status: int, message: str) -> Response:
        return GoogleApiError(status, message).response()

    # --- auth --------------------------------------------------------------------------------------
    def bearer(self, req: Request) -> BearerToken:
        """The token behind `Authorization: Bearer …`, or 401 as Google answers."""
        header = req.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise unauthenticated("CREDENTIALS_MISSING")
        value = header[7:].strip()
        with self.lock:
            token = self.world.tokens.get(value)
        if token is None:
            raise unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED")
        if token.expiry is not None and token.expiry <= self.clock.time():
            raise unauthenticated("ACCESS_TOKEN_EXPIRED")
        return token

    def authorize(self, req: Request, permission: str, resource: str | None = None,
                  domain: str = "iam.googleapis.com") -> BearerToken:
        """Check the caller holds `permission`; 403 PERMISSION_DENIED naming it otherwise."""
        token = self.bearer(req)
        if token.kind == "federated" or permission in token.denied_permissions:
            raise permission_denied(permission, resource, domain)
        return token

    def mint_token(self, kind: str, *, service_account: str | None = None,
                   principal: FederatedPrincipal | None = None, scopes: tuple[str, ...] = (),
                   key_id: str | None = None, lifetime_s: int = TOKEN_LIFETIME_S) -> BearerToken:
        token = BearerToken("ya29.sandbox-" + secrets.token_urlsafe(24), kind, service_account=service_account,
                      principal=principal, expiry=self.clock.time() + lifetime_s, scopes=scopes,
                      key_id=key_id)
        with self.lock:
            self.world.tokens[token.token] = token
        return token

    # --- test helpers ------------------------------------------------------------------------------
    def set_quotas(self, limits: dict[str, int] | None = None, window_s: float = 60.0) -> Quotas:
        """Enforce per-project write quotas (Google's when `limits` is None); see quota.py."""
        self.quotas = Quotas(dict(GOOGLE_DEFAULTS if limits is None else limits), window_s)
        return self.quotas

    def race(self, service_account: str, member: str, role: str) -> None:
        """Make 'another writer' add `member` to `role` on the SA's policy just before the next
        setIamPolicy on it, so a write carrying the etag read before this call gets 409 ABORTED."""
        email = service_account.rsplit("/", 1)[-1].lower()
        with self.lock:
            if email not in self.world.service_accounts:
                raise KeyError(f"no service account {email}")
            self.races.setdefault(email, []).append((member, role))

    def fail_next_operations(self, count: int = 1, code: int = 13,
                             message: str = "Internal error encountered.") -> None:
        """The next `count` pool/provider operations finish with `error` and change nothing."""
        with self.lock:
            self.operation_faults.extend({"code": code, "message": message} for _ in range(count))

    def access_token_for(self, service_account: str) -> str:
        """A token for `service_account`, as if it had signed in (for tests of SA-token callers)."""
        return self.mint_token("service_account", service_account=service_account.lower()).token

    def key_by_label(self, service_account: str, label: str) -> dict[str, Any]:
        with self.lock:
            for key in self.world.keys.values():
                if key.service_account == service_account.lower() and key.label == label:
                    return key.summary()
        raise KeyError(f"no key {label!r} for {service_account}")

    def key_state(self, key_id: str) -> dict[str, Any]:
        with self.lock:
            return self.world.keys[key_id].summary()

    def policy(self, service_account: str) -> dict[str, Any]:
        with self.lock:
            sa = self.world.service_accounts[service_account.lower()]
            return {"etag": sa.policy.etag, "version": sa.policy.version,
                    "bindings": [dict(b) for b in sa.policy.bindings]}

    def state(self) -> dict[str, Any]:
        """Everything inspectable, without private key material (keys by id, SA, state, last auth)."""
        now = self.clock.time()
        with self.lock:
            self.world.purge(self.clock.now())
            w = self.world
            return {
                "organization": {"id": w.organization_id, "domain": w.domain},
                "now": self.clock.iso(),
                "projects": [p.to_json(enum_int=False) for p in w.projects.values()],
                "service_accounts": [
                    {**sa.to_json(), "policy": {"etag": sa.policy.etag, "version": sa.policy.version,
                                                "bindings": sa.policy.bindings}}
                    for sa in w.service_accounts.values()],
                "keys": [k.summary() for k in w.keys.values()],
                "workload_identity_pools": [
                    {**pool.to_json(), "providers": [p.to_json() for p in pool.providers.values()]}
                    for pool in w.pools.values()],
                "operations": [op.to_json() for op in w.operations.values()],
                "tokens": [t.to_json(now) for t in w.tokens.values()
                           if t.kind in ("service_account", "federated")],
                "pending_races": {k: [list(x) for x in v] for k, v in self.races.items() if v},
                "pending_operation_faults": len(self.operation_faults),
            }

    # --- /_sandbox routes --------------------------------------------------------------------------
    def _race_route(self, req: Request) -> Response:
        data = req.json()
        try:
            self.race(str(data["resource"]), str(data["member"]), str(data["role"]))
        except KeyError as exc:
            return Response.json({"error": str(exc)}, 404)
        return Response.json({"ok": True}, 201)

    def _operation_fault_route(self, req: Request) -> Response:
        data = req.json()
        self.fail_next_operations(int(data.get("count", 1)), int(data.get("code", 13)),
                                  str(data.get("message", "Internal error encountered.")))
        return Response.json({"ok": True}, 201)

    def _clock_route(self, req: Request) -> Response:
        data = req.json()
        self.clock.advance(timedelta(seconds=float(data.get("advance_seconds", 0))))
        return Response.json({"now": self.clock.iso()})
