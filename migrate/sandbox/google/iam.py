"""IAM v1: service accounts, their keys and their IAM policies.

Fidelity points (reference/gcp.md §2, §4): keys.list returns SYSTEM_MANAGED keys too unless
`keyTypes=USER_MANAGED`; `disabled` is absent when false; keys without expiry say
`validBeforeTime: 9999-12-31T23:59:59Z`; getIamPolicy takes `options.requestedPolicyVersion` as a
query parameter and a version < 3 read of a conditional policy answers `roles/X_withcond_<hash>`
with the condition stripped; setIamPolicy with a stale etag is 409 ABORTED; a never-written
policy reads as `{"etag": "ACAB"}`.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from migrate.sandbox.google.discovery import validate
from migrate.sandbox.google.errors import (
    GoogleApiError,
    aborted_concurrent,
    invalid,
    not_found,
    permission_denied,
)
from migrate.sandbox.google.state import ServiceAccount, ServiceAccountKey
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.google.app import GoogleApp

P = r"(?P<project>[^/:]+)"
SA = r"(?P<sa>[^/:]+)"
KEY = r"(?P<key>[^/:]+)"
BASE = f"/v1/projects/{P}/serviceAccounts"

_MEMBER = re.compile(
    r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|deleted:user|deleted:serviceAccount"
    r"|deleted:group|projectOwner|projectEditor|projectViewer):.+"
    r"|principal://iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/[a-z0-9-]+/subject/.+"
    r"|principalSet://iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/[a-z0-9-]+"
    r"/(\*|group/.+|attribute\.[a-z0-9_]+/.+)"
    r"|principal(Set)?://.+)$")
_WIF_MEMBER = re.compile(r"^principal(Set)?://iam\.googleapis\.com/projects/[^/]+/locations/global/workloadIdentityPools/")


def register(app: GoogleApp) -> None:
    app.route("GET", BASE, lambda r: list_accounts(app, r))
    app.route("GET", f"{BASE}/{SA}", lambda r: get_account(app, r))
    app.route("POST", f"{BASE}/{SA}:getIamPolicy", lambda r: get_policy(app, r))
    app.route("POST", f"{BASE}/{SA}:setIamPolicy", lambda r: set_policy(app, r))
    app.route("POST", f"{BASE}/{SA}:disable", lambda r: set_account_disabled(app, r, True))
    app.route("POST", f"{BASE}/{SA}:enable", lambda r: set_account_disabled(app, r, False))
    app.route("GET", f"{BASE}/{SA}/keys", lambda r: list_keys(app, r))
    app.route("GET", f"{BASE}/{SA}/keys/{KEY}", lambda r: get_key(app, r))
    app.route("DELETE", f"{BASE}/{SA}/keys/{KEY}", lambda r: delete_key(app, r))
    app.route("POST", f"{BASE}/{SA}/keys/{KEY}:disable", lambda r: set_key_disabled(app, r, True))
    app.route("POST", f"{BASE}/{SA}/keys/{KEY}:enable", lambda r: set_key_disabled(app, r, False))


# --- lookups ---------------------------------------------------------------------------------------

def find_account(app: GoogleApp, req: Request, permission: str) -> ServiceAccount:
    """The SA named by the path (email or uniqueId), after the permission check.

    With the `projects/-` wildcard a missing SA is a 403 (the real API cannot tell you it is
    missing), with an explicit project it is a 404.
    """
    project, ref = req.params["project"], req.params["sa"].lower()
    resource = f"projects/{project}/serviceAccounts/{ref}"
    app.authorize(req, permission, resource)
    w = app.world
    sa = w.service_accounts.get(ref) or next(
        (s for s in w.service_accounts.values() if s.unique_id == ref), None)
    if project != "-":
        proj = w.project(project)
        if sa is not None and (proj is None or proj.project_id != sa.project_id):
            sa = None
    if sa is None:
        if project == "-":
            raise permission_denied(permission, resource)
        raise not_found(f"Service account {resource} does not exist.")
    return sa


def find_key(app: GoogleApp, req: Request, permission: str) -> ServiceAccountKey:
    sa = find_account(app, req, permission)
    key = app.world.keys.get(req.params["key"])
    if key is None or key.deleted or key.service_account != sa.email:
        raise not_found(f"Service account key projects/{req.params['project']}/serviceAccounts/"
                        f"{req.params['sa']}/keys/{req.params['key']} does not exist.")
    return key


# --- service accounts ------------------------------------------------------------------------------

def list_accounts(app: GoogleApp, req: Request) -> Response:
    project = req.params["project"]
    app.authorize(req, "iam.serviceAccounts.list", f"projects/{project}")
    with app.lock:
        proj = app.world.project(project)
        if proj is None:
            raise permission_denied("iam.serviceAccounts.list", f"projects/{project}")
        accounts = [sa.to_json() for sa in app.world.service_accounts.values()
                    if sa.project_id == proj.project_id]
    page_size = min(int(req.arg("pageSize") or 20), 100)
    start = int(req.arg("pageToken") or 0)
    out: dict[str, Any] = {"accounts": accounts[start:start + page_size]}
    if start + page_size < len(accounts):
        out["nextPageToken"] = str(start + page_size)
    return Response.json(out)


def get_account(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        return Response.json(find_account(app, req, "iam.serviceAccounts.get").to_json())


def set_account_disabled(app: GoogleApp, req: Request, disabled: bool) -> Response:
    verb = "disable" if disabled else "enable"
    with app.lock:
        sa = find_account(app, req, f"iam.serviceAccounts.{verb}")
        validate("iam", "v1", f"{verb.capitalize()}ServiceAccountRequest", req.json())
        sa.disabled = disabled
    return Response.json({})


# --- policies --------------------------------------------------------------------------------------

def _withcond(binding: dict[str, Any]) -> str:
    digest = hashlib.sha1(repr(sorted(binding["condition"].items())).encode()).hexdigest()[:16]
    return f"{binding['role']}_withcond_{digest}"


def render_policy(sa: ServiceAccount, requested_version: int) -> dict[str, Any]:
    policy = sa.policy
    if not policy.bindings and not policy.audit_configs:
        return {"etag": policy.etag} if policy.revision == 0 else {"version": 1, "etag": policy.etag}
    bindings = []
    for b in policy.bindings:
        if b.get("condition") and requested_version < 3:
            bindings.append({"role": _withcond(b), "members": list(b["members"])})
        else:
            bindings.append({k: v for k, v in b.items() if k in ("role", "members", "condition")})
    version = policy.version if requested_version >= 3 else 1
    out: dict[str, Any] = {"version": version, "etag": policy.etag, "bindings": bindings}
    if policy.audit_configs:
        out["auditConfigs"] = policy.audit_configs
    return out


def get_policy(app: GoogleApp, req: Request) -> Response:
    raw = req.arg("options.requestedPolicyVersion") or "0"
    if raw not in ("0", "1", "3"):
        raise invalid(f"Invalid requested policy version {raw}; valid values are 0, 1 and 3.",
                      "options.requested_policy_version")
    with app.lock:
        sa = find_account(app, req, "iam.serviceAccounts.getIamPolicy")
        return Response.json(render_policy(sa, int(raw)))


def set_policy(app: GoogleApp, req: Request) -> Response:
    body = validate("iam", "v1", "SetIamPolicyRequest", req.json())
    policy = body.get("policy")
    if policy is None:
        raise invalid("Request contains an invalid argument.", "policy")
    with app.lock:
        sa = find_account(app, req, "iam.serviceAccounts.setIamPolicy")
        _apply_races(app, sa)
        if policy.get("etag") and policy["etag"] != sa.policy.etag:
            raise aborted_concurrent()
        bindings = _check_bindings(policy.get("bindings") or [], int(policy.get("version") or 0))
        _check_size(bindings, list(policy.get("auditConfigs") or []))
        before = {(b["role"], m) for b in sa.policy.bindings for m in b.get("members") or []}
        now = app.clock.time()
        for b in bindings:
            for m in b.get("members") or []:
                if (b["role"], m) not in before:
                    sa.policy.added_at[(b["role"], m)] = now
        sa.policy.bindings = bindings
        sa.policy.audit_configs = list(policy.get("auditConfigs") or [])
        sa.policy.revision += 1
        return Response.json(render_policy(sa, 3))


MAX_POLICY_MEMBERS = 1500


def _check_size(bindings: list[dict[str, Any]], audit_configs: list[dict[str, Any]]) -> None:
    """"Total number of principals (including domains and Google groups) in all role bindings and
    audit-logging exemptions within a single policy: 1,500" (cloud.google.com/iam/quotas). Each
    occurrence counts. Google's answer, as gcloud and Terraform users report it:
    400 INVALID_ARGUMENT "The number of members in the policy (1,501) is larger than the maximum
    allowed size 1,500." """
    count = sum(len(b.get("members") or []) for b in bindings)
    count += sum(len(c.get("exemptedMembers") or []) for a in audit_configs
                 for c in a.get("auditLogConfigs") or [])
    if count > MAX_POLICY_MEMBERS:
        raise invalid(f"The number of members in the policy ({count:,}) is larger than the maximum allowed "
                      f"size {MAX_POLICY_MEMBERS:,}.", "policy.bindings")


def _check_bindings(bindings: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
    if any(b.get("condition") for b in bindings) and version != 3:
        raise invalid("Invalid policy: conditional role bindings require policy version 3.",
                      "policy.version")
    if version not in (0, 1, 3):
        raise invalid(f"Invalid policy version {version}; valid values are 0, 1 and 3.", "policy.version")
    out: list[dict[str, Any]] = []
    for i, b in enumerate(bindings):
        role = str(b.get("role", ""))
        if not role.startswith(("roles/", "projects/", "organizations/")) or "_withcond_" in role:
            raise invalid(f"Role {role} is not supported for this resource.", f"policy.bindings[{i}].role")
        members = [str(m) for m in b.get("members") or []]
        for m in members:
            if not _MEMBER.match(m) or (m.startswith("principal") and not _WIF_MEMBER.match(m)):
                raise invalid(f"Invalid principal identifier: {m}", f"policy.bindings[{i}].members")
            if m.startswith("principal") and not re.match(
                    r"^principal(Set)?://iam\.googleapis\.com/projects/\d+/", m):
                raise invalid(f"Invalid principal identifier: {m}. Use the project number, not the "
                              "project ID.", f"policy.bindings[{i}].members")
        if not members:
            continue  # Google drops bindings without members
        entry: dict[str, Any] = {"role": role, "members": sorted(set(members), key=members.index)}
        if b.get("condition"):
            entry["condition"] = dict(b["condition"])
        out.append(entry)
    return out


def _apply_races(app: GoogleApp, sa: ServiceAccount) -> None:
    """'Another writer' changes the policy between the tool's read and its write."""
    for member, role in app.races.pop(sa.email, []):
        for b in sa.policy.bindings:
            if b["role"] == role and not b.get("condition"):
                if member not in b["members"]:
                    b["members"].append(member)
                break
        else:
            sa.policy.bindings.append({"role": role, "members": [member]})
        sa.policy.revision += 1


# --- keys ------------------------------------------------------------------------------------------

def list_keys(app: GoogleApp, req: Request) -> Response:
    types = set(req.args("keyTypes"))
    bad = types - {"USER_MANAGED", "SYSTEM_MANAGED", "KEY_TYPE_UNSPECIFIED"}
    if bad:
        raise invalid(f"Invalid value at 'key_types' (type.googleapis.com/google.iam.admin.v1."
                      f"ListServiceAccountKeysRequest.KeyType), \"{sorted(bad)[0]}\"", "key_types")
    types.discard("KEY_TYPE_UNSPECIFIED")
    with app.lock:
        sa = find_account(app, req, "iam.serviceAccountKeys.list")
        keys = [k.to_json() for k in app.world.keys.values()
                if k.service_account == sa.email and not k.deleted and (not types or k.key_type in types)]
    return Response.json({"keys": keys})


def get_key(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        key = find_key(app, req, "iam.serviceAccountKeys.get")
        return Response.json(key.to_json(req.arg("publicKeyType") or "TYPE_NONE"))


def set_key_disabled(app: GoogleApp, req: Request, disabled: bool) -> Response:
    verb = "disable" if disabled else "enable"
    body = req.json()
    with app.lock:
        key = find_key(app, req, f"iam.serviceAccountKeys.{verb}")
        validate("iam", "v1", f"{verb.capitalize()}ServiceAccountKeyRequest", body)
        if key.key_type == "SYSTEM_MANAGED":
            raise GoogleApiError(400, "System-managed keys cannot be disabled or enabled.", "FAILED_PRECONDITION")
        key.disabled = disabled
        key.disable_reason = "USER_INITIATED"  # the extended status (exposure) stays
    return Response.json({})


def delete_key(app: GoogleApp, req: Request) -> Response:
    with app.lock:
        key = find_key(app, req, "iam.serviceAccountKeys.delete")
        if key.key_type == "SYSTEM_MANAGED":
            raise GoogleApiError(400, "System-managed keys cannot be deleted.", "FAILED_PRECONDITION")
        key.deleted = True
    return Response.json({})
