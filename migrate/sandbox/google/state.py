"""The Google emulator's world: projects, service accounts, keys, policies, pools, providers, tokens.

Built once from the org file's `google:` mapping (see docs/sandbox.md, "Google emulator") and then
mutated by the API handlers under `App.lock`. Every time comes from the shared `Clock`. Private key
material never lives here: a key knows only its public half (from the `KeyStore`).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from migrate.sandbox.clock import Clock
from migrate.sandbox.errors import OrgFileError
from migrate.sandbox.google.discovery import camel
from migrate.sandbox.keys import KeyStore

SOFT_DELETE = timedelta(days=30)
NO_EXPIRY = "9999-12-31T23:59:59Z"
# Issuers Google treats as multi-tenant: a provider for them must carry an attribute condition.
MULTI_TENANT_ISSUERS = frozenset({
    "https://gitlab.com", "https://token.actions.githubusercontent.com", "https://app.terraform.io",
    "https://accounts.google.com",
})


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise OrgFileError(f"google: {where}: not an RFC 3339 time: {value!r}") from None


def unique_id(email: str) -> str:
    """Same derivation as the key file's `client_id` (migrate.sandbox.keys): the SA's uniqueId."""
    return str(int(hashlib.sha256(email.lower().encode()).hexdigest()[:15], 16))


@dataclass
class GoogleProject:
    project_id: str
    number: str
    display_name: str
    parent: str
    labels: dict[str, str]
    create_time: datetime

    def to_json(self, enum_int: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": f"projects/{self.number}", "parent": self.parent, "projectId": self.project_id,
            "state": 1 if enum_int else "ACTIVE", "displayName": self.display_name,
            "createTime": rfc3339(self.create_time), "updateTime": rfc3339(self.create_time),
            "etag": 'W/"' + hashlib.sha1(self.project_id.encode()).hexdigest()[:16] + '"',
        }
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass
class Policy:
    """An IAM policy; `revision` drives the etag so every write changes it."""

    bindings: list[dict[str, Any]] = field(default_factory=list)
    audit_configs: list[dict[str, Any]] = field(default_factory=list)
    revision: int = 0
    # (role, member) → clock time it was added by setIamPolicy (seeded bindings: always effective)
    added_at: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        if not self.bindings and self.revision == 0:
            return "ACAB"  # what Google answers for a never-written policy
        return base64.b64encode(b"\x07" + struct.pack(">Q", self.revision)[1:]).decode()

    @property
    def version(self) -> int:
        return 3 if any(b.get("condition") for b in self.bindings) else 1


@dataclass
class ServiceAccount:
    email: str
    project_id: str
    display_name: str = ""
    description: str = ""
    disabled: bool = False
    policy: Policy = field(default_factory=Policy)

    @property
    def unique_id(self) -> str:
        return unique_id(self.email)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": f"projects/{self.project_id}/serviceAccounts/{self.email}",
            "projectId": self.project_id, "uniqueId": self.unique_id, "email": self.email,
            "oauth2ClientId": self.unique_id,
            "etag": base64.b64encode(hashlib.sha1(self.email.encode()).digest()[:8]).decode(),
        }
        if self.display_name:
            out["displayName"] = self.display_name
        if self.description:
            out["description"] = self.description
        if self.disabled:
            out["disabled"] = True
        return out


@dataclass
class ServiceAccountKey:
    key_id: str
    service_account: str
    project_id: str
    created: datetime
    expires: datetime | None = None
    key_type: str = "USER_MANAGED"
    origin: str = "GOOGLE_PROVIDED"
    disabled: bool = False
    deleted: bool = False
    label: str = ""
    public_pem: str | None = None  # None for system-managed keys (no sign-in possible)
    certificate_pem: str | None = None  # served for publicKeyType=TYPE_X509_PEM_FILE
    # Google's own disables (exposure response): EXPOSED or COMPROMISE_DETECTED, with the
    # permanent extendedStatus entry and its value (where the key was found).
    disable_reason: str = "USER_INITIATED"
    extended_status: str = ""  # EXPOSED / COMPROMISE_DETECTED: permanent for the key's lifetime
    exposure: str = ""
    last_authenticated: datetime | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{self.service_account}/keys/{self.key_id}"

    @property
    def full_resource_name(self) -> str:
        return "//iam.googleapis.com/" + self.name

    def to_json(self, public_key_type: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "validAfterTime": rfc3339(self.created),
            "validBeforeTime": rfc3339(self.expires) if self.expires else NO_EXPIRY,
            "keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": self.origin, "keyType": self.key_type,
        }
        if self.disabled:
            out["disabled"] = True
            out["disableReason"] = f"SERVICE_ACCOUNT_KEY_DISABLE_REASON_{self.disable_reason}"
        if self.extended_status:
            out["extendedStatus"] = [{"key": f"SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_{self.extended_status}",
                                      "value": self.exposure or "detected by Google"}]
        # publicKeyType (keys.get): TYPE_X509_PEM_FILE is the X.509 certificate in PEM,
        # TYPE_RAW_PUBLIC_KEY the unencoded public key; either base64 as publicKeyData.
        if public_key_type == "TYPE_X509_PEM_FILE" and self.certificate_pem:
            out["publicKeyData"] = base64.b64encode(self.certificate_pem.encode()).decode()
        elif public_key_type == "TYPE_RAW_PUBLIC_KEY" and self.public_pem:
            out["publicKeyData"] = base64.b64encode(self.public_pem.encode()).decode()
        return out

    def summary(self) -> dict[str, Any]:
        state = "DELETED" if self.deleted else "DISABLED" if self.disabled else "ENABLED"
        return {"key_id": self.key_id, "service_account": self.service_account, "label": self.label,
                "key_type": self.key_type, "state": state, "created": rfc3339(self.created),
                "expires": rfc3339(self.expires) if self.expires else None,
                "last_authenticated": rfc3339(self.last_authenticated) if self.last_authenticated else None}


@dataclass
class Provider:
    pool_name: str  # projects/NUMBER/locations/global/workloadIdentityPools/POOL
    provider_id: str
    fields: dict[str, Any]  # displayName, description, disabled, attributeMapping, attributeCondition, oidc
    state: str = "ACTIVE"
    delete_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.pool_name}/providers/{self.provider_id}"

    def to_json(self) -> dict[str, Any]:
        return _resource_json(self.name, self.fields, self.state, self.delete_time)


@dataclass
class Pool:
    project_number: str
    pool_id: str
    fields: dict[str, Any]  # displayName, description, disabled, mode
    state: str = "ACTIVE"
    delete_time: datetime | None = None
    providers: dict[str, Provider] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"projects/{self.project_number}/locations/global/workloadIdentityPools/{self.pool_id}"

    def to_json(self) -> dict[str, Any]:
        return _resource_json(self.name, self.fields, self.state, self.delete_time)


def _resource_json(name: str, fields: dict[str, Any], state: str,
                   delete_time: datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    out.update({k: v for k, v in fields.items() if v not in (None, False, "", [], {})})
    out["state"] = state
    if state == "DELETED" and delete_time is not None:
        out["expireTime"] = rfc3339(delete_time + SOFT_DELETE)
    return out


@dataclass
class Operation:
    name: str
    polls_left: int
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.polls_left > 0:
            out["done"] = False
            return out
        out["done"] = True
        if self.error is not None:
            out["error"] = self.error
        elif self.response is not None:
            out["response"] = self.response
        return out


@dataclass
class FederatedPrincipal:
    """Who an STS token stands for: what `principal://` / `principalSet://` members match."""

    pool_name: str  # projects/NUMBER/locations/global/workloadIdentityPools/POOL
    provider: str
    subject: str
    attributes: dict[str, Any]
    groups: list[str]

    def members(self) -> set[str]:
        base = f"//iam.googleapis.com/{self.pool_name}"
        out = {f"principal:{base}/subject/{self.subject}", f"principalSet:{base}/*"}
        out.update(f"principalSet:{base}/group/{g}" for g in self.groups)
        for name, value in self.attributes.items():
            for v in value if isinstance(value, list) else [value]:
                out.add(f"principalSet:{base}/attribute.{name}/{v}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"pool": self.pool_name, "provider": self.provider, "subject": self.subject,
                "attributes": self.attributes, "groups": self.groups}


@dataclass
class BearerToken:
    """A bearer token the emulator accepts.

    kind: `admin` (org file's admin_token: every permission), `limited` (google.tokens entry),
    `service_account` (minted by key sign-in or generateAccessToken), `federated` (STS).
    """

    token: str
    kind: str
    denied_permissions: frozenset[str] = frozenset()
    service_account: str | None = None
    principal: FederatedPrincipal | None = None
    expiry: float | None = None
    scopes: tuple[str, ...] = ()
    key_id: str | None = None  # for key sign-in

    def to_json(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "token_prefix": self.token[:12] + "…",
                               "service_account": self.service_account, "key_id": self.key_id,
                               "scopes": list(self.scopes),
                               "expires_in": None if self.expiry is None else int(self.expiry - now)}
        if self.principal:
            out["principal"] = self.principal.to_json()
        if self.denied_permissions:
            out["denied_permissions"] = sorted(self.denied_permissions)
        return out


@dataclass
class GoogleWorld:
    organization_id: str = "123456789012"
    domain: str = "example.com"
    projects: dict[str, GoogleProject] = field(default_factory=dict)  # by project id
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)  # by email
    keys: dict[str, ServiceAccountKey] = field(default_factory=dict)  # by key id
    pools: dict[tuple[str, str], Pool] = field(default_factory=dict)  # (project number, pool id)
    operations: dict[str, Operation] = field(default_factory=dict)
    tokens: dict[str, BearerToken] = field(default_factory=dict)
    multi_tenant_issuers: set[str] = field(default_factory=lambda: set(MULTI_TENANT_ISSUERS))

    def project(self, ref: str) -> GoogleProject | None:
        """By project id or number."""
        if ref in self.projects:
            return self.projects[ref]
        return next((p for p in self.projects.values() if p.number == ref), None)

    def purge(self, now: datetime) -> None:
        """Forget pools/providers soft-deleted more than 30 days ago."""
        for key, pool in list(self.pools.items()):
            if pool.state == "DELETED" and pool.delete_time and now >= pool.delete_time + SOFT_DELETE:
                del self.pools[key]
                continue
            for pid, prov in list(pool.providers.items()):
                if prov.state == "DELETED" and prov.delete_time and now >= prov.delete_time + SOFT_DELETE:
                    del pool.providers[pid]


# --- loading from the org file --------------------------------------------------------------------

#: the admin token when the org file names none: the one `Sandbox` hands the tool (launch.py), so a
#: tool configured by the sandbox is never refused by the sandbox's own Google
DEFAULT_ADMIN_TOKEN = "sandbox-google-token"


def load_world(spec: dict[str, Any], keys: KeyStore, clock: Clock) -> GoogleWorld:
    org = spec.get("organization") or {}
    world = GoogleWorld(organization_id=str(org.get("id", "123456789012")),
                        domain=str(org.get("domain", "example.com")))
    world.multi_tenant_issuers |= {str(i).rstrip("/") for i in spec.get("multi_tenant_issuers") or []}
    admin = spec.get("admin_token") or DEFAULT_ADMIN_TOKEN
    world.tokens[str(admin)] = BearerToken(str(admin), "admin")
    for i, entry in enumerate(spec.get("tokens") or []):
        if not isinstance(entry, dict) or "token" not in entry:
            raise OrgFileError(f"google: tokens[{i}]: needs token:")
        world.tokens[str(entry["token"])] = BearerToken(
            str(entry["token"]), "limited", frozenset(entry.get("denied_permissions") or []),
            service_account=entry.get("service_account"))
    now = clock.now()
    for i, p in enumerate(spec.get("projects") or []):
        _load_project(world, p, f"projects[{i}]", keys, now)
    return world


def _load_project(world: GoogleWorld, p: dict[str, Any], where: str, keys: KeyStore, now: datetime) -> None:
    if "project_id" not in p or "number" not in p:
        raise OrgFileError(f"google: {where}: needs project_id: and number:")
    pid, number = str(p["project_id"]), str(p["number"])
    world.projects[pid] = GoogleProject(
        pid, number, str(p.get("display_name", pid)),
        str(p.get("parent", f"organizations/{world.organization_id}")),
        {str(k): str(v) for k, v in (p.get("labels") or {}).items()},
        parse_time(p["created"], f"{where}.created") if p.get("created") else now - timedelta(days=400))
    for j, sa_spec in enumerate(p.get("service_accounts") or []):
        _load_service_account(world, pid, sa_spec, f"{where}.service_accounts[{j}]", keys, now)
    for j, pool_spec in enumerate(p.get("workload_identity_pools") or []):
        _load_pool(world, number, pool_spec, f"{where}.workload_identity_pools[{j}]", now)


def _load_service_account(world: GoogleWorld, pid: str, s: dict[str, Any], where: str, keys: KeyStore,
                          now: datetime) -> None:
    email = s.get("email") or (f"{s['name']}@{pid}.iam.gserviceaccount.com" if s.get("name") else None)
    if not email:
        raise OrgFileError(f"google: {where}: needs email: or name:")
    email = str(email).lower()
    policy_spec = s.get("iam_policy") or {}
    sa = ServiceAccount(email, pid, str(s.get("display_name", "")), str(s.get("description", "")),
                        bool(s.get("disabled", False)),
                        Policy([dict(b) for b in policy_spec.get("bindings") or []],
                               revision=1 if policy_spec.get("bindings") else 0))
    world.service_accounts[email] = sa
    for k, key_spec in enumerate(s.get("keys") or []):
        kw = f"{where}.keys[{k}]"
        if "label" not in key_spec:
            raise OrgFileError(f"google: {kw}: needs label:")
        issued = keys.issue(email, str(key_spec["label"]), pid)
        last = key_spec.get("last_authenticated")
        world.keys[issued.key_id] = ServiceAccountKey(
            issued.key_id, email, pid,
            parse_time(key_spec["created"], kw + ".created") if key_spec.get("created")
            else now - timedelta(days=180),
            parse_time(key_spec["expires"], kw + ".expires") if key_spec.get("expires") else None,
            origin=str(key_spec.get("key_origin", "GOOGLE_PROVIDED")),
            disabled=bool(key_spec.get("disabled", False)) or bool(key_spec.get("disable_reason")),
            deleted=bool(key_spec.get("deleted", False)),
            label=str(key_spec["label"]), public_pem=issued.public_pem,
            certificate_pem=issued.certificate_pem,
            disable_reason=_disable_reason(key_spec.get("disable_reason"), kw),
            extended_status="" if _disable_reason(key_spec.get("disable_reason"), kw) == "USER_INITIATED"
            else _disable_reason(key_spec.get("disable_reason"), kw),
            exposure=str(key_spec.get("exposure", "")),
            last_authenticated=parse_time(last, kw + ".last_authenticated") if last else None)
    for n in range(int(s.get("system_managed_keys", 1))):
        key_id = hashlib.sha1(f"system:{n}:{email}".encode()).hexdigest()
        world.keys[key_id] = ServiceAccountKey(
            key_id, email, pid, now - timedelta(days=3 + n), now + timedelta(days=11),
            key_type="SYSTEM_MANAGED", label=f"system-{n}")


def _disable_reason(value: Any, where: str) -> str:
    """`disable_reason: EXPOSED | COMPROMISE_DETECTED` seeds a key Google disabled itself."""
    if value is None:
        return "USER_INITIATED"
    text = str(value).upper()
    if text not in ("USER_INITIATED", "EXPOSED", "COMPROMISE_DETECTED"):
        raise OrgFileError(f"google: {where}.disable_reason: USER_INITIATED, EXPOSED or COMPROMISE_DETECTED, "
                         f"not {value!r}")
    return text


def _load_pool(world: GoogleWorld, number: str, s: dict[str, Any], where: str, now: datetime) -> None:
    if "id" not in s:
        raise OrgFileError(f"google: {where}: needs id:")
    fields = {camel(k): v for k, v in s.items() if k not in ("id", "state", "deleted", "providers")}
    state, delete_time = _soft_state(s, where, now)
    pool = Pool(number, str(s["id"]), fields, state, delete_time)
    for j, ps in enumerate(s.get("providers") or []):
        pw = f"{where}.providers[{j}]"
        if "id" not in ps:
            raise OrgFileError(f"google: {pw}: needs id:")
        pf = {camel(k): v for k, v in ps.items() if k not in ("id", "state", "deleted")}
        if isinstance(pf.get("oidc"), dict):
            pf["oidc"] = {camel(k): v for k, v in pf["oidc"].items()}
        pstate, pdel = _soft_state(ps, pw, now)
        pool.providers[str(ps["id"])] = Provider(pool.name, str(ps["id"]), pf, pstate, pdel)
    world.pools[(number, pool.pool_id)] = pool


def _soft_state(s: dict[str, Any], where: str, now: datetime) -> tuple[str, datetime | None]:
    state = str(s.get("state", "ACTIVE"))
    if state not in ("ACTIVE", "DELETED"):
        raise OrgFileError(f"google: {where}.state: ACTIVE or DELETED, not {state!r}")
    if state == "ACTIVE":
        return state, None
    deleted = s.get("deleted")
    return state, parse_time(deleted, where + ".deleted") if deleted else now - timedelta(days=1)
