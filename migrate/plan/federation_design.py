"""The federation design: provider issuer, audience, attribute mapping and condition, and the
principal sets the service-account bindings grant. Pure: no I/O, no clients.

Why the mapping looks the way it does (docs/federation.md has the long form):

- Trust is keyed on immutable numeric ids (`project_id`, `namespace_id`), never on paths: a path can
  be renamed and re-registered by someone else, an id cannot.
- `google.subject` must fit in 127 bytes for *every* token GitLab can mint (Google refuses the
  exchange at job runtime otherwise). GitLab's default `sub` embeds the project path and the ref,
  both unbounded, so the subject here is built only from bounded values: numeric ids and two
  enumerations (`ref_type` is `branch|tag`; `ref_protected` is `"true"|"false"`).
- A principalSet can test one attribute for one value, so each scope a binding needs gets its own
  attribute whose value combines the dimensions: `project_protected_environment` =
  `"<project_id>:protected:<environment>"` lets one principalSet say "project X, protected refs,
  environment Y".
- The condition admits only tokens whose `namespace_id` is one of the organisation's namespaces.
  Tokens carry the project's own namespace only (not its ancestors), so every namespace id in
  scope is listed; a look-alike group (`acme-evil`) has another id and cannot pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLE = "roles/iam.workloadIdentityUser"
IAM_HOST = "iam.googleapis.com"
CONDITION_MAX = 4096
SUBJECT_MAX_BYTES = 127

# Upper bounds of the claim values the subject is built from. GitLab ids are PostgreSQL bigints
# (at most 19 digits); we allow 20. `ref_type` is "branch" or "tag".
_ID_DIGITS = 20
_SUBJECT_PARTS: tuple[tuple[str, int], ...] = (
    ('"gitlab:"', len("gitlab:")),
    ("assertion.project_id", _ID_DIGITS),
    ('":"', 1),
    ('(assertion.ref_protected == "true" ? "protected" : "unprotected")', len("unprotected")),
    ('":"', 1),
    ("assertion.ref_type", len("branch")),
    ('":job:"', len(":job:")),
    ("assertion.job_id", _ID_DIGITS),
)
SUBJECT_EXPRESSION = " + ".join(expr for expr, _ in _SUBJECT_PARTS)
SUBJECT_BOUND_BYTES = sum(n for _, n in _SUBJECT_PARTS)

_PROTECTED = '(assertion.ref_protected == "true" ? "protected" : "unprotected")'
_ENVIRONMENT = '("environment" in assertion ? assertion.environment : "")'

ATTRIBUTE_MAPPING: dict[str, str] = {
    "google.subject": SUBJECT_EXPRESSION,
    "attribute.project_id": "assertion.project_id",
    "attribute.namespace_id": "assertion.namespace_id",
    "attribute.ref_protected": "assertion.ref_protected",
    "attribute.environment": _ENVIRONMENT,
    "attribute.project_protected": f'assertion.project_id + ":" + {_PROTECTED}',
    "attribute.project_environment": f'assertion.project_id + ":" + {_ENVIRONMENT}',
    "attribute.project_protected_environment":
        f'assertion.project_id + ":" + {_PROTECTED} + ":" + {_ENVIRONMENT}',
}


# Namespace-level attributes, mapped only when a policy needs consolidation (consolidate()).
# Tokens carry the project's own namespace (`namespace_id`), so one principalSet admits exactly
# the projects directly in that namespace.
NAMESPACE_ATTRIBUTES: dict[str, str] = {
    "attribute.namespace_protected": f'assertion.namespace_id + ":" + {_PROTECTED}',
    "attribute.namespace_environment": f'assertion.namespace_id + ":" + {_ENVIRONMENT}',
    "attribute.namespace_protected_environment":
        f'assertion.namespace_id + ":" + {_PROTECTED} + ":" + {_ENVIRONMENT}',
}

# "Total number of principals (including domains and Google groups) in all role bindings and
# audit-logging exemptions within a single policy: 1,500" (cloud.google.com/iam/quotas); past it
# setIamPolicy answers 400 "The number of members in the policy (1,501) is larger than the maximum
# allowed size 1,500."
MAX_POLICY_MEMBERS = 1500


class FederationError(ValueError):
    """The design cannot be made safely (e.g. the condition would exceed Google's limit)."""


def pool_name(project_number: str, pool_id: str) -> str:
    return f"projects/{project_number}/locations/global/workloadIdentityPools/{pool_id}"


def provider_name(project_number: str, pool_id: str, provider_id: str) -> str:
    return f"{pool_name(project_number, pool_id)}/providers/{provider_id}"


def audience(project_number: str, pool_id: str, provider_id: str) -> str:
    """The `aud` GitLab jobs put in their ID token and the provider's allowed audience."""
    return f"https://{IAM_HOST}/{provider_name(project_number, pool_id, provider_id)}"


def sts_audience(project_number: str, pool_id: str, provider_id: str) -> str:
    """The STS `audience` parameter / credential-configuration `audience` (the `//` form)."""
    return f"//{IAM_HOST}/{provider_name(project_number, pool_id, provider_id)}"


def issuer_from_url(gitlab_url: str) -> str:
    """GitLab's `iss`: the external URL with no trailing slash (gitlab.md §1, jwt_v2.rb)."""
    return gitlab_url.rstrip("/")


def base_url(gitlab_url: str) -> str:
    """GitLab's `Settings.gitlab.base_url`: scheme://host[:port] without the relative URL root
    (config/initializers/1_settings.rb `build_base_gitlab_url`). `CI_JOB_JWT_V2` carries it as
    both `iss` and `aud` (lib/gitlab/ci/jwt_v2.rb, 14.7–16.11)."""
    m = re.match(r"^(https?://[^/?#]+)", gitlab_url.strip())
    return (m.group(1) if m else gitlab_url).rstrip("/")


def has_id_tokens(version: tuple[int, int] | None) -> bool:
    """`id_tokens:` exists from GitLab 15.7; older instances only give `CI_JOB_JWT_V2` (from 14.7)."""
    return version is None or version >= (15, 7)


def attribute_condition(namespace_ids: Iterable[int]) -> str:
    ids = sorted({int(n) for n in namespace_ids})
    if not ids:
        raise FederationError("no namespace in scope: the provider's attribute condition would admit nothing")
    quoted = ", ".join(f'"{n}"' for n in ids)
    condition = f"assertion.namespace_id in [{quoted}]"
    if len(condition) > CONDITION_MAX:
        raise FederationError(
            f"the attribute condition listing {len(ids)} namespaces is {len(condition)} characters; "
            f"Google allows {CONDITION_MAX}. Narrow the scope (fewer groups per run) or split the "
            "migration into several providers.")
    return condition


@dataclass(frozen=True)
class ProviderDesign:
    """What the pool and provider must look like."""

    project_number: str
    pool_id: str
    provider_id: str
    issuer: str
    namespace_ids: tuple[int, ...]
    attribute_mapping: dict[str, str] = field(default_factory=lambda: dict(ATTRIBUTE_MAPPING))
    jwks_json: str | None = None
    # Audiences allowed besides the provider's own: on GitLab < 15.7 jobs can only present
    # `CI_JOB_JWT_V2`, whose `aud` is the instance's base URL. Trade-off (docs/federation.md):
    # every job of the instance holds such a token and other relying parties (Vault, …) that
    # accept the instance URL receive it too, so one of them could replay it here; the attribute
    # condition and the bindings still limit it to the projects and refs that held the key.
    extra_audiences: tuple[str, ...] = ()

    @property
    def audience(self) -> str:
        return audience(self.project_number, self.pool_id, self.provider_id)

    @property
    def allowed_audiences(self) -> tuple[str, ...]:
        return (self.audience, *self.extra_audiences)

    @property
    def sts_audience(self) -> str:
        return sts_audience(self.project_number, self.pool_id, self.provider_id)

    @property
    def pool_name(self) -> str:
        return pool_name(self.project_number, self.pool_id)

    @property
    def provider_name(self) -> str:
        return provider_name(self.project_number, self.pool_id, self.provider_id)

    @property
    def attribute_condition(self) -> str:
        return attribute_condition(self.namespace_ids)

    def pool_body(self) -> dict[str, Any]:
        return {"displayName": "GitLab CI", "description": f"GitLab CI/CD of {self.issuer} (wif-migrate)",
                "disabled": False}

    def provider_body(self) -> dict[str, Any]:
        """The REST body of the provider (create/patch), camelCase as in iam.v1.json."""
        oidc: dict[str, Any] = {"issuerUri": self.issuer, "allowedAudiences": list(self.allowed_audiences)}
        if self.jwks_json:
            oidc["jwksJson"] = self.jwks_json
        return {
            "displayName": _display(self.issuer),
            "description": f"GitLab ID tokens of {self.issuer} (wif-migrate)"[:256],
            "disabled": False,
            "attributeMapping": dict(self.attribute_mapping),
            "attributeCondition": self.attribute_condition,
            "oidc": oidc,
        }


def _display(issuer: str) -> str:
    host = re.sub(r"^https?://", "", issuer)
    return host[:32] or "GitLab"


def design_provider(project_number: str, pool_id: str, provider_id: str, issuer: str,
                    namespace_ids: Iterable[int], jwks_json: str | None = None,
                    extra_audiences: Iterable[str] = ()) -> ProviderDesign:
    ids = tuple(sorted({int(n) for n in namespace_ids}))
    design = ProviderDesign(project_number=project_number, pool_id=pool_id, provider_id=provider_id,
                            issuer=issuer_from_url(issuer), namespace_ids=ids, jwks_json=jwks_json,
                            extra_audiences=tuple(dict.fromkeys(a.rstrip("/") for a in extra_audiences)))
    design.attribute_condition  # noqa: B018 - validate now, fail before anything is written
    return design


# ---------------------------------------------------------------------------------------------
# Binding scopes and the principal sets that express them


@dataclass(frozen=True)
class BindingScope:
    """Who may use a service account: one GitLab project, optionally protected refs only and/or
    one environment. `environment=None` means any environment (and jobs with none)."""

    project_id: int
    protected_only: bool = False
    environment: str | None = None

    def attribute(self) -> tuple[str, str]:
        """(attribute name, value) of the principalSet expressing exactly this scope."""
        p = str(self.project_id)
        if self.protected_only and self.environment is not None:
            return "project_protected_environment", f"{p}:protected:{self.environment}"
        if self.protected_only:
            return "project_protected", f"{p}:protected"
        if self.environment is not None:
            return "project_environment", f"{p}:{self.environment}"
        return "project_id", p

    def covers(self, other: BindingScope) -> bool:
        """True when every job `other` admits is admitted by self."""
        return (self.project_id == other.project_id
                and (not self.protected_only or other.protected_only)
                and (self.environment is None or self.environment == other.environment))

    def describe(self) -> str:
        refs = "protected refs" if self.protected_only else "any ref"
        env = "any environment" if self.environment is None else \
            "jobs without an environment" if self.environment == "" else f"environment {self.environment}"
        return f"project {self.project_id}, {refs}, {env}"


def minimal_scopes(scopes: Iterable[BindingScope]) -> tuple[BindingScope, ...]:
    """Drop scopes another scope already covers; sorted for stable output."""
    unique = sorted(set(scopes), key=lambda s: (s.project_id, s.protected_only, s.environment or ""))
    by_project: dict[int, list[BindingScope]] = {}  # `covers` needs the same project: compare within one
    for s in unique:
        by_project.setdefault(s.project_id, []).append(s)
    return tuple(s for s in unique if not any(o != s and o.covers(s) for o in by_project[s.project_id]))


@dataclass(frozen=True)
class NamespaceScope:
    """Every project directly in one GitLab namespace, optionally protected refs only and/or one
    environment: a consolidated binding, used only where each such project could read the key."""

    namespace_id: int
    protected_only: bool = False
    environment: str | None = None

    def attribute(self) -> tuple[str, str]:
        n = str(self.namespace_id)
        if self.protected_only and self.environment is not None:
            return "namespace_protected_environment", f"{n}:protected:{self.environment}"
        if self.protected_only:
            return "namespace_protected", f"{n}:protected"
        if self.environment is not None:
            return "namespace_environment", f"{n}:{self.environment}"
        return "namespace_id", n

    def describe(self) -> str:
        refs = "protected refs" if self.protected_only else "any ref"
        env = "any environment" if self.environment is None else f"environment {self.environment}"
        return f"every project directly in namespace {self.namespace_id}, {refs}, {env}"


@dataclass(frozen=True)
class Consolidation:
    """The members of one service account's binding after fitting the policy limit."""

    members: tuple[str, ...]
    namespaces: tuple[tuple[NamespaceScope, tuple[int, ...]], ...] = ()  # (scope, project ids it replaces)
    over_by: int = 0  # > 0: even consolidated, the policy would exceed the limit by this many

    @property
    def needs_namespace_attributes(self) -> bool:
        return any(ns.attribute()[0] != "namespace_id" for ns, _ in self.namespaces)


def consolidate(pool: str, scopes: Iterable[BindingScope], namespace_of: Mapping[int, int],
                readable: Callable[[NamespaceScope], bool], budget: int) -> Consolidation:
    """Fit the binding into `budget` members (the policy limit minus the policy's other members).

    Project scopes that share (namespace, protected, environment) are replaced, largest group
    first, by one namespace principalSet — only when `readable` says every project directly in
    that namespace could read the key under the same ref and environment restrictions, so the
    binding stays within who could read the key (never broader). What still does not fit is
    reported (`over_by`), never silently cut."""
    minimal = minimal_scopes(scopes)
    plain = [member(pool, s) for s in minimal]
    if len(plain) <= budget:
        return Consolidation(tuple(plain))
    groups: dict[NamespaceScope, list[BindingScope]] = {}
    for s in minimal:
        namespace_id = namespace_of.get(s.project_id)
        if namespace_id is not None:
            groups.setdefault(NamespaceScope(namespace_id, s.protected_only, s.environment), []).append(s)
    candidates = sorted(((k, v) for k, v in groups.items() if len(v) > 1 and readable(k)),
                        key=lambda kv: (-len(kv[1]), kv[0].namespace_id, kv[0].protected_only,
                                        kv[0].environment or ""))
    replaced: set[BindingScope] = set()
    chosen: list[tuple[NamespaceScope, tuple[int, ...]]] = []
    count = len(plain)
    for group, members_of in candidates:
        if count <= budget:
            break
        replaced.update(members_of)
        chosen.append((group, tuple(sorted(s.project_id for s in members_of))))
        count -= len(members_of) - 1
    kept = [member(pool, s) for s in minimal if s not in replaced]
    merged = tuple(kept + [namespace_member(pool, ns) for ns, _ in chosen])
    return Consolidation(merged, tuple(chosen), max(0, len(merged) - budget))


def namespace_member(pool: str, scope: NamespaceScope) -> str:
    name, value = scope.attribute()
    return f"principalSet://{IAM_HOST}/{pool}/attribute.{name}/{value}"


def member(pool: str, scope: BindingScope) -> str:
    name, value = scope.attribute()
    return f"principalSet://{IAM_HOST}/{pool}/attribute.{name}/{value}"


def members(pool: str, scopes: Iterable[BindingScope]) -> tuple[str, ...]:
    return tuple(member(pool, s) for s in minimal_scopes(scopes))


@dataclass(frozen=True)
class Principal:
    """A parsed IAM member from a workload identity pool.

    kind: "attribute" (principalSet …/attribute.NAME/VALUE), "subject" (principal …/subject/S),
    "group" (principalSet …/group/G), "pool" (principalSet …/*), or "other" (not federated)."""

    kind: str
    pool: str = ""
    name: str = ""
    value: str = ""


_PRINCIPAL_RE = re.compile(
    r"^(?P<scheme>principalSet|principal)://iam\.googleapis\.com/"
    r"(?P<pool>projects/[^/]+/locations/global/workloadIdentityPools/[^/]+)/(?P<rest>.*)$")


def parse_member(text: str) -> Principal:
    m = _PRINCIPAL_RE.match(text)
    if not m:
        return Principal("other", value=text)
    scheme, pool, rest = m.group("scheme"), m.group("pool"), m.group("rest")
    if scheme == "principal" and rest.startswith("subject/"):
        return Principal("subject", pool, "subject", rest[len("subject/"):])
    if scheme == "principalSet":
        if rest == "*":
            return Principal("pool", pool)
        if rest.startswith("group/"):
            return Principal("group", pool, "group", rest[len("group/"):])
        am = re.match(r"^attribute\.([a-z0-9_]+)/(.*)$", rest, re.S)
        if am:
            return Principal("attribute", pool, am.group(1), am.group(2))
    return Principal("other", pool, value=rest)


def credential_configuration(design: ProviderDesign, service_account: str, token_file: str,
                             sts_url: str = "https://sts.googleapis.com/v1/token",
                             iamcredentials_url: str = "https://iamcredentials.googleapis.com") -> dict[str, Any]:
    """What `gcloud iam workload-identity-pools create-cred-config … --service-account` writes
    (gcp.md §3): google-auth reads the job's ID token from `token_file`, exchanges it at STS and
    impersonates the service account."""
    return {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": design.sts_audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": sts_url,
        "service_account_impersonation_url":
            f"{iamcredentials_url.rstrip('/')}/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken",
        "credential_source": {"file": token_file, "format": {"type": "text"}},
    }


def under_project(name: str, project: str) -> str:
    """A pool's or provider's (number-based) resource name under the configured project id, so
    calls work whether or not the caller may list by number (plan reads and apply writes alike)."""
    parts = name.split("/")
    if project and len(parts) > 1 and parts[0] == "projects":
        parts[1] = project
    return "/".join(parts)
