"""IAM v1 workload identity pools and providers, with long-running operations and soft delete.

Fidelity points (reference/gcp.md §1): ids are 4-32 of `[a-z0-9-]` and `gcp-` is reserved; names
come back with the project NUMBER; create/patch/delete/undelete answer an Operation that is done
after `lro_polls` GETs of the matching operations collection; a deleted pool/provider stays (state
DELETED, `expireTime`) for 30 days, blocks its id (409 ALREADY_EXISTS) and can be undeleted; an
OIDC provider needs `google.subject` in its mapping, valid CEL, and for a multi-tenant issuer
(gitlab.com, GitHub, …) an attribute condition that references the claims.

The change is applied when the request is accepted (a GET right after create sees the resource);
an injected operation fault (`GoogleApp.fail_next_operations`) makes the operation finish with
`error` and applies nothing.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from migrate.sandbox.google import cel
from migrate.sandbox.google.discovery import camel, validate
from migrate.sandbox.google.errors import (
    GoogleApiError,
    already_exists,
    failed_precondition,
    invalid,
    not_found,
    permission_denied,
)
from migrate.sandbox.google.state import Operation, Pool, Provider
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.google.app import GoogleApp

P = r"(?P<project>[^/:]+)"
POOLS = f"/v1/projects/{P}/locations/(?P<location>[^/:]+)/workloadIdentityPools"
POOL = POOLS + r"/(?P<pool>[^/:]+)"
PROVIDERS = POOL + "/providers"
PROVIDER = PROVIDERS + r"/(?P<provider>[^/:]+)"
_ID = re.compile(r"^[a-z0-9-]{4,32}$")
_ATTR_KEY = re.compile(r"^attribute\.[a-z0-9_]{1,100}$")
CONDITION_REQUIRED = ("The attribute condition must reference one of the provider's claims. For more "
                      "information, see https://cloud.google.com/iam/docs/"
                      "workload-identity-federation-with-deployment-pipelines#conditions")
POOL_MASK = {"display_name", "description", "disabled"}
PROVIDER_MASK = POOL_MASK | {"attribute_mapping", "attribute_condition", "oidc", "oidc.issuer_uri",
                             "oidc.allowed_audiences", "oidc.jwks_json"}
ANY_TYPE = "type.googleapis.com/google.iam.admin.v1."


def register(app: GoogleApp) -> None:
    app.route("POST", POOLS, lambda r: create_pool(app, r))
    app.route("GET", POOLS, lambda r: list_pools(app, r))
    app.route("GET", POOL, lambda r: get_pool(app, r))
    app.route("PATCH", POOL, lambda r: patch(app, r, provider=False))
    app.route("DELETE", POOL, lambda r: delete(app, r, provider=False))
    app.route("POST", POOL + ":undelete", lambda r: undelete(app, r, provider=False))
    app.route("GET", POOL + r"/operations/(?P<op>[^/:]+)", lambda r: get_operation(app, r))
    app.route("POST", PROVIDERS, lambda r: create_provider(app, r))
    app.route("GET", PROVIDERS, lambda r: list_providers(app, r))
    app.route("GET", PROVIDER, lambda r: get_provider(app, r))
    app.route("PATCH", PROVIDER, lambda r: patch(app, r, provider=True))
    app.route("DELETE", PROVIDER, lambda r: delete(app, r, provider=True))
    app.route("POST", PROVIDER + ":undelete", lambda r: undelete(app, r, provider=True))
    app.route("GET", PROVIDER + r"/operations/(?P<op>[^/:]+)", lambda r: get_operation(app, r))


# --- lookups ---------------------------------------------------------------------------------------

def _parent(app: GoogleApp, req: Request, permission: str) -> str:
    """Authorize and resolve the project (id or number) to its number; only `global` exists."""
    project, location = req.params["project"], req.params["location"]
    resource = f"projects/{project}/locations/{location}"
    app.authorize(req, permission, resource)
    proj = app.world.project(project)
    if proj is None:
        raise permission_denied(permission, resource)
    if location != "global":
        raise invalid(f"Location {location} is not supported; the only supported location is global.",
                      "parent")
    app.world.purge(app.clock.now())
    return proj.number


def _pool(app: GoogleApp, req: Request, permission: str) -> Pool:
    number = _parent(app, req, permission)
    pool = app.world.pools.get((number, req.params["pool"]))
    if pool is None:
        raise not_found("Requested entity was not found.")
    return pool


def _provider(app: GoogleApp, req: Request, permission: str) -> Provider:
    pool = _pool(app, req, permission)
    prov = pool.providers.get(req.params["provider"])
    if prov is None:
        raise not_found("Requested entity was not found.")
    return prov


def check_id(value: str | None, param: str) -> str:
    if not value:
        raise invalid(f"The required parameter {param} is missing.", param)
    if value.startswith("gcp-"):
        raise invalid(f"The prefix 'gcp-' is reserved for use by Google and may not be specified in "
                      f"{param}.", param)
    if not _ID.match(value):
        raise invalid(f"Invalid {param} '{value}': the value should be 4-32 characters, and may contain "
                      "the characters [a-z0-9-].", param)
    return value


# --- operations ------------------------------------------------------------------------------------

def _operation(app: GoogleApp, resource_name: str, resource: dict[str, Any] | None, kind: str,
               apply: Any) -> Response:
    """Start an operation on `resource_name`; `apply()` performs the change unless a fault is queued."""
    op = Operation(f"{resource_name}/operations/{secrets.token_hex(8)}", app.lro_polls)
    if app.operation_faults:
        fault = app.operation_faults.pop(0)
        op.error = {"code": fault["code"], "message": fault["message"]}
    else:
        result = apply()
        op.response = {"@type": ANY_TYPE + kind, **(result or resource or {})}
    app.world.operations[op.name] = op
    return Response.json(op.to_json())


def get_operation(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        number = _parent(app, req, "iam.workloadIdentityPools.get")
        base = f"projects/{number}/locations/global/workloadIdentityPools/{req.params['pool']}"
        if "provider" in req.params:
            base += f"/providers/{req.params['provider']}"
        op = app.world.operations.get(f"{base}/operations/{req.params['op']}")
        if op is None:
            raise not_found("Requested entity was not found.")
        if op.polls_left > 0:
            op.polls_left -= 1
        return Response.json(op.to_json())


# --- pools -----------------------------------------------------------------------------------------

def _check_pool_fields(fields: dict[str, Any]) -> None:
    if len(str(fields.get("displayName", ""))) > 32:
        raise invalid("The display name must be less than or equal to 32 characters.",
                      "workload_identity_pool.display_name")
    if len(str(fields.get("description", ""))) > 256:
        raise invalid("The description must be less than or equal to 256 characters.",
                      "workload_identity_pool.description")


def _user_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("name", "state", "expireTime")}


def create_pool(app: GoogleApp, req: Request) -> Response:
    body = validate("iam", "v1", "WorkloadIdentityPool", req.json(), "workload_identity_pool")
    with app.lock:
        number = _parent(app, req, "iam.workloadIdentityPools.create")
        pool_id = check_id(req.arg("workloadIdentityPoolId"), "workload_identity_pool_id")
        fields = _user_fields(body)
        _check_pool_fields(fields)
        if (number, pool_id) in app.world.pools:
            raise already_exists()
        pool = Pool(number, pool_id, fields)

        def apply() -> dict[str, Any]:
            app.world.pools[(number, pool_id)] = pool
            return pool.to_json()
        return _operation(app, pool.name, None, "WorkloadIdentityPool", apply)


def get_pool(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        return Response.json(_pool(app, req, "iam.workloadIdentityPools.get").to_json())


def _page(req: Request, items: list[dict[str, Any]], key: str, default: int, limit: int) -> Response:
    size = min(int(req.arg("pageSize") or default), limit) or default
    start = int(req.arg("pageToken") or 0)
    out: dict[str, Any] = {}
    if items[start:start + size]:
        out[key] = items[start:start + size]
    if start + size < len(items):
        out["nextPageToken"] = str(start + size)
    return Response.json(out)


def _show_deleted(req: Request) -> bool:
    return (req.arg("showDeleted") or "false").lower() == "true"


def list_pools(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        number = _parent(app, req, "iam.workloadIdentityPools.list")
        items = [p.to_json() for (n, _), p in sorted(app.world.pools.items())
                 if n == number and (p.state == "ACTIVE" or _show_deleted(req))]
    return _page(req, items, "workloadIdentityPools", 50, 1000)


# --- providers -------------------------------------------------------------------------------------

def check_provider(app: GoogleApp, fields: dict[str, Any]) -> None:
    """The create/patch rules of an OIDC provider, with the real API's messages where known."""
    at = "workload_identity_pool_provider"
    _check_pool_fields(fields)
    kinds = [k for k in ("oidc", "aws", "saml", "x509") if fields.get(k)]
    if len(kinds) != 1:
        raise invalid("Exactly one of oidc, aws, saml or x509 must be set.", at)
    mapping: dict[str, str] = fields.get("attributeMapping") or {}
    oidc = fields.get("oidc") or {}
    if kinds == ["oidc"]:
        _check_oidc(oidc, at)
        if "google.subject" not in mapping:
            raise invalid("The attribute mapping must contain a mapping for google.subject.",
                          f"{at}.attribute_mapping")
    customs = [k for k in mapping if not k.startswith("google.")]
    if len(customs) > 50:
        raise invalid("At most 50 custom attributes can be mapped.", f"{at}.attribute_mapping")
    for key, expr in mapping.items():
        if key not in ("google.subject", "google.groups", "google.display_name", "google.profile_photo") \
                and not _ATTR_KEY.match(key):
            raise invalid(f"Invalid mapped attribute key: {key}. Custom mapped attributes must be in "
                          "format 'attribute.{custom_attribute}'", f"{at}.attribute_mapping")
        if len(expr) > 2048:
            raise invalid(f"The attribute mapping for {key} exceeds 2048 characters.", f"{at}.attribute_mapping")
        try:
            cel.compile_expr(expr)
        except cel.CelError as exc:
            raise invalid(f"Invalid CEL expression for {key}: {exc}", f"{at}.attribute_mapping") from None
    condition = fields.get("attributeCondition")
    issuer = str(oidc.get("issuerUri", "")).rstrip("/")
    multi_tenant = issuer in app.world.multi_tenant_issuers or "*" in app.world.multi_tenant_issuers
    if condition:
        if len(condition) > 4096:
            raise invalid("The attribute condition exceeds 4096 characters.", f"{at}.attribute_condition")
        try:
            cel.compile_expr(condition)
        except cel.CelError as exc:
            raise invalid(f"Invalid attribute condition: {exc}", f"{at}.attribute_condition") from None
        if not cel.references_claims(condition):
            raise invalid(CONDITION_REQUIRED, f"{at}.attribute_condition")
    elif multi_tenant and kinds == ["oidc"]:
        raise invalid(CONDITION_REQUIRED, f"{at}.attribute_condition")


def _check_oidc(oidc: dict[str, Any], at: str) -> None:
    issuer = str(oidc.get("issuerUri") or "")
    if not issuer:
        raise invalid("The issuer URI is required.", f"{at}.oidc.issuer_uri")
    parts = urlsplit(issuer)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not loopback:  # loopback http: a sandbox-only concession
        raise invalid(f"The issuer URI '{issuer}' must use the https scheme.", f"{at}.oidc.issuer_uri")
    audiences = oidc.get("allowedAudiences") or []
    if len(audiences) > 10 or any(len(a) > 256 for a in audiences):
        raise invalid("At most 10 allowed audiences of at most 256 characters each.",
                      f"{at}.oidc.allowed_audiences")
    if oidc.get("jwksJson"):
        try:
            keys = json.loads(oidc["jwksJson"])["keys"]
            ok = isinstance(keys, list) and keys and all(
                isinstance(k, dict) and k.get("kty") in ("RSA", "EC") and "x5c" not in k and "x5t" not in k
                for k in keys)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise invalid("Invalid JWKS: expected {\"keys\": [...]} with RSA or EC keys and no x5c/x5t "
                          "fields.", f"{at}.oidc.jwks_json")


def create_provider(app: GoogleApp, req: Request) -> Response:
    body = validate("iam", "v1", "WorkloadIdentityPoolProvider", req.json(), "workload_identity_pool_provider")
    with app.lock:
        pool = _pool(app, req, "iam.workloadIdentityPoolProviders.create")
        provider_id = check_id(req.arg("workloadIdentityPoolProviderId"), "workload_identity_pool_provider_id")
        if pool.state != "ACTIVE":
            raise failed_precondition("The workload identity pool is deleted.")
        fields = _user_fields(body)
        check_provider(app, fields)
        if provider_id in pool.providers:
            raise already_exists()
        prov = Provider(pool.name, provider_id, fields)

        def apply() -> dict[str, Any]:
            pool.providers[provider_id] = prov
            return prov.to_json()
        return _operation(app, prov.name, None, "WorkloadIdentityPoolProvider", apply)


def get_provider(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        return Response.json(_provider(app, req, "iam.workloadIdentityPoolProviders.get").to_json())


def list_providers(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        pool = _pool(app, req, "iam.workloadIdentityPoolProviders.list")
        items = [p.to_json() for _, p in sorted(pool.providers.items())
                 if p.state == "ACTIVE" or _show_deleted(req)]
    return _page(req, items, "workloadIdentityPoolProviders", 50, 100)


# --- patch / delete / undelete (pools and providers) ------------------------------------------------

def _target(app: GoogleApp, req: Request, provider: bool, verb: str) -> Pool | Provider:
    if provider:
        return _provider(app, req, f"iam.workloadIdentityPoolProviders.{verb}")
    return _pool(app, req, f"iam.workloadIdentityPools.{verb}")


def _kind(provider: bool) -> str:
    return "WorkloadIdentityPoolProvider" if provider else "WorkloadIdentityPool"


def patch(app: GoogleApp, req: Request, provider: bool) -> Response:
    at = "workload_identity_pool_provider" if provider else "workload_identity_pool"
    body = validate("iam", "v1", _kind(provider), req.json(), at)
    mask = [m.strip() for m in (req.arg("updateMask") or "").split(",") if m.strip()]
    if not mask:
        raise invalid("The update_mask is required.", "update_mask")
    allowed = PROVIDER_MASK if provider else POOL_MASK
    paths = [".".join(_snake_path(p) for p in m.split(".")) for m in mask]
    for m, path in zip(mask, paths, strict=True):
        if path not in allowed:
            raise invalid(f"Invalid update mask path: {m}", "update_mask")
    with app.lock:
        target = _target(app, req, provider, "update")
        if target.state != "ACTIVE":
            raise failed_precondition("Cannot update a deleted resource; undelete it first.")
        fields = json.loads(json.dumps(target.fields))
        for path in paths:
            head, _, sub = path.partition(".")
            key = camel(head)
            if sub:
                oidc = dict(fields.get("oidc") or {})
                value = (body.get("oidc") or {}).get(camel(sub))
                if value is None:
                    oidc.pop(camel(sub), None)
                else:
                    oidc[camel(sub)] = value
                fields["oidc"] = oidc
            elif key in body:
                fields[key] = body[key]
            else:
                fields.pop(key, None)
        if provider:
            check_provider(app, fields)
        else:
            _check_pool_fields(fields)

        def apply() -> dict[str, Any]:
            target.fields = fields
            return target.to_json()
        return _operation(app, target.name, None, _kind(provider), apply)


def _snake_path(part: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", part).lower()


def delete(app: GoogleApp, req: Request, provider: bool) -> Response:
    with app.lock:
        target = _target(app, req, provider, "delete")
        if target.state == "DELETED":
            raise not_found("Requested entity was not found.")

        def apply() -> dict[str, Any]:
            target.state = "DELETED"
            target.delete_time = app.clock.now()
            return target.to_json()
        return _operation(app, target.name, None, _kind(provider), apply)


def undelete(app: GoogleApp, req: Request, provider: bool) -> Response:
    at = "UndeleteWorkloadIdentityPoolProviderRequest" if provider else "UndeleteWorkloadIdentityPoolRequest"
    validate("iam", "v1", at, req.json())
    with app.lock:
        target = _target(app, req, provider, "undelete")
        if target.state != "DELETED":
            raise GoogleApiError(400, "The resource is not deleted.", "FAILED_PRECONDITION")

        def apply() -> dict[str, Any]:
            target.state = "ACTIVE"
            target.delete_time = None
            return target.to_json()
        return _operation(app, target.name, None, _kind(provider), apply)
