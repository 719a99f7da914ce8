"""Plan: a pure function of the inventory, the configuration and a few facts → ordered actions.

    ensure_pool → ensure_provider → ensure_binding (one per service account)
      → merge_request (one per CI file to change; a shared template once, in its own project)
        → disable_key (after every MR of every project holding/using the key)
          → delete_key (after disable + grace)

Facts are what the plan command read on its way (read-only): the identity project's number, the
issuer, the instance's JWKS when uploading it, the CI files' text, and what Google shows of the pool
and provider now (so apply can tell a stale plan). Nothing here does I/O.

The plan carries its *inputs* (projects, variables, usages, namespace ids, ids of the federation):
`derive(inputs)` recomputes the federation design and the bindings from them, which is how apply
refuses a plan whose bindings were widened by hand. See docs/plan.md for the file format.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from migrate.core.codec import EPOCH
from migrate.core.config import Config
from migrate.core.model import (
    COMPONENT_FILES,
    GITLAB_TEMPLATES,
    REMOTE_FILES,
    Action,
    BindingParams,
    BindingRefs,
    ConsolidatedScope,
    ConsumerCheckInputs,
    ConsumerTokens,
    DeleteKeyParams,
    DisableKeyParams,
    EnsureParams,
    InputGroup,
    InputProject,
    InputUsage,
    Inventory,
    KeyIdentity,
    KeyUsage,
    KeyVariable,
    MergeRequestParams,
    MRFile,
    MRRewriteOptions,
    OutsideReader,
    Plan,
    PlanInputs,
    Problem,
    RetiredKey,
    RetiredVariable,
    ScopeRow,
    encode,
)
from migrate.core.outcome import RewriteStatus, Status
from migrate.plan.federation_design import (
    MAX_POLICY_MEMBERS,
    NAMESPACE_ATTRIBUTES,
    ROLE,
    BindingScope,
    Consolidation,
    NamespaceScope,
    ProviderDesign,
    base_url,
    consolidate,
    credential_configuration,
    design_provider,
    has_id_tokens,
    members,
    minimal_scopes,
)
from migrate.plan.impersonation import (
    Exposure,
    Impersonation,
    ProjectFacts,
    simulate,
    token_cases,
)
from migrate.plan.key_identity import FactIndex, key_inputs, refusal
from migrate.plan.ports import FileText
from migrate.plan.receipts import Receipt, binding_scope, job_groups, receipts

log = logging.getLogger(__name__)

# Fields compared with live state. Display name and description are set on create only: a team's
# own wording on an existing pool is not drift worth a change.
POOL_FIELDS = ("disabled",)
PROVIDER_FIELDS = ("disabled", "attributeMapping", "attributeCondition", "oidc.issuerUri",
                   "oidc.allowedAudiences", "oidc.jwksJson")


class PlanRefusedError(Exception):
    """The plan would widen who can impersonate a service account; it is not written."""

    def __init__(self, message: str, result: PlanResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class RewriteOutcome:
    """What the CI rewriter said about one file (adapter over `migrate.ci.rewrite`)."""

    status: RewriteStatus
    text: str = ""
    reasons: tuple[str, ...] = ()
    diff: str = ""
    jobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class RewriteRequest:
    path: str
    text: str
    audience: str  # https://iam.googleapis.com/projects/N/…/providers/P
    service_accounts: Mapping[str, str]  # key variable name → service account e-mail
    key_variables: tuple[str, ...]
    gitlab_version: str
    instance_url: str = ""  # GitLab < 15.7: the `aud` of CI_JOB_JWT_V2 (federation.base_url)
    # job → key variable → e-mail, where jobs of the file received different keys (see receipts)
    job_service_accounts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # job of the file → key variable → context → e-mail: the account of the key each job receives in
    # each context (receipts: ref class, environment), for the rewriter's self-check (issue 15 §2)
    context_accounts: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    # the texts of the files this one includes (nested, in GitLab's merge order), so its own
    # self-check resolves jobs that extend or reference templates from them (RewriteOptions.included)
    included: tuple[str, ...] = ()
    # (project, path, ref) of each of `included`, and this file's project: the rewriter matches each
    # `include:` entry to its file, for `rules:` and `inputs:` (RewriteOptions.included_ids)
    included_ids: tuple[tuple[str, str, str], ...] = ()
    project: str = ""


class Rewriter(Protocol):
    def __call__(self, request: RewriteRequest) -> RewriteOutcome: ...


@dataclass(frozen=True)
class LiveFederation:
    """Pool and provider as Google showed them at plan time. `known=False`: not looked at
    (then apply creates what is absent and refuses to change anything that exists differently)."""

    known: bool = False
    pool: Mapping[str, Any] | None = None
    provider: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PlanFacts:
    project_number: str
    issuer: str | None = None  # None: the configured GitLab URL
    jwks_json: str | None = None
    files: Mapping[tuple[str, str, str], FileText | str] = field(default_factory=dict)  # str = error
    live: LiveFederation = LiveFederation()
    live_bindings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # SA → members of ROLE now
    # SA → principals already in its IAM policy that are not ours (count against the 1,500 limit)
    policy_members_other: Mapping[str, int] = field(default_factory=dict)
    generated_at: datetime = EPOCH  # the plan's time; callers that write no plan leave the epoch


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    design: ProviderDesign
    impersonation: tuple[Impersonation, ...]


# ---------------------------------------------------------------------------------------------
# Derivation from inputs (shared by plan and apply's integrity check)


@dataclass(frozen=True)
class Derived:
    design: ProviderDesign
    scopes: Mapping[str, tuple[BindingScope, ...]]  # service account → minimal scopes
    exposures: Mapping[str, tuple[Exposure, ...]]
    problems: tuple[Problem, ...]
    key_vars: tuple[tuple[KeyVariable, KeyIdentity], ...]
    # What each effective job receives (migrate.plan.receipts), and per CI file the reasons a job of it
    # received a key that earned no binding (then the file is not rewritten).
    receipts: tuple[Receipt, ...] = ()
    unbound: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    definitions: tuple[KeyVariable, ...] = ()

    consolidations: Mapping[str, Consolidation] = field(default_factory=dict)  # only SAs past the limit

    # The members of each binding, computed once (plan, dry run and the integrity check ask often).
    member_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # what the consolidations were fitted from (`refit`); not part of the answer
    unfitted: Unfitted | None = field(default=None, compare=False, repr=False)

    def receipts_of(self, file_project: str, file_path: str) -> list[Receipt]:
        """The receipts of one CI file, in order (indexed once: plans have thousands of files)."""
        index: dict[tuple[str, str], list[Receipt]] | None = self.__dict__.get("_receipts_by_file")
        if index is None:
            index = {}
            for r in self.receipts:
                index.setdefault((r.file_project, r.file_path), []).append(r)
            object.__setattr__(self, "_receipts_by_file", index)  # a cache, not state: frozen otherwise
        return index.get((file_project, file_path), [])

    def keyed_definition_refs(self) -> frozenset[str]:
        """Refs of the definitions that hold (or may hold) a key, computed once."""
        refs: frozenset[str] | None = self.__dict__.get("_keyed_refs")
        if refs is None:
            refs = frozenset(d.ref for d in self.definitions if d.key is not None or d.suspected_reason)
            object.__setattr__(self, "_keyed_refs", refs)
        return refs

    def members(self, sa: str) -> tuple[str, ...]:
        if sa in self.consolidations:
            return self.consolidations[sa].members
        if sa in self.member_lists:
            return self.member_lists[sa]
        return members(self.design.pool_name, self.scopes.get(sa, ()))


def make_inputs(inventory: Inventory, config: Config, facts: PlanFacts) -> PlanInputs:
    """The part of inventory, config and facts the federation and bindings depend on (without the
    policy sizes, which `plan_inputs` adds: they are live facts, not the scan's)."""
    projects = [p for p in inventory.projects if p.status != Status.ERROR or p.namespace_id]
    namespace_ids = sorted({g.id for g in inventory.groups} | {p.namespace_id for p in projects if p.namespace_id})
    return PlanInputs(
        gitlab_url=config.gitlab.url,
        gitlab_version=inventory.gitlab_version,
        issuer=(facts.issuer or config.gitlab.url).rstrip("/"),
        identity_project=config.google.identity_project,
        project_number=facts.project_number,
        pool_id=config.google.pool_id,
        provider_id=config.google.provider_id,
        jwks_json=facts.jwks_json,
        namespace_ids=tuple(namespace_ids),
        service_accounts=dict(sorted(config.google.service_accounts.items())),
        projects=tuple(InputProject(p.id, p.path, p.namespace_id, p.namespace_path, tuple(p.ancestor_ids),
                                    p.default_branch) for p in sorted(projects, key=lambda p: p.path)),
        variables=tuple(sorted(inventory.variables, key=lambda v: v.ref)),
        keys=key_inputs(inventory.key_facts),
        other_variables=tuple(sorted(inventory.other_variables, key=lambda v: v.ref)),
        groups=tuple(InputGroup(g.id, g.path) for g in sorted(inventory.groups, key=lambda g: g.id)),
        usages=tuple(InputUsage(u.file_project, u.file_path, u.ref, u.finding.variable, tuple(u.variables),
                                tuple(u.consumers), u.finding.line, tuple(u.runs))
                     for u in sorted(inventory.usages, key=_usage_key)),
        outside_readers=tuple(inventory.outside_readers),
    )


#: The inputs `make_inputs` computes from the journaled scan and the configuration; the others are
#: live facts `plan` read (`apply` compares these with what it computes now: loop.journal_refusals).
SCAN_INPUTS = tuple(f.name for f in dataclasses.fields(PlanInputs) if f.name != "policy_members_other")


def outside_by_variable(inputs: PlanInputs) -> dict[str, list[OutsideReader]]:
    """KeyVariable.ref → the readers outside the scope recorded for it (plan inputs)."""
    out: dict[str, list[OutsideReader]] = {}
    for reader in inputs.outside_readers:
        out.setdefault(reader.variable, []).append(reader)
    return out


def with_policy_sizes(inputs: PlanInputs, facts: PlanFacts) -> PlanInputs:
    """`inputs` (made by `make_inputs`) with the policy sizes of `facts`: `plan_inputs` for facts
    that differ from the ones `inputs` was made from only in what `plan` read live (files, live
    federation, bindings, policy sizes), which `make_inputs` does not read (issue 18: `plan` reads
    the policies after deriving which to read, and need not rebuild the inputs from the inventory)."""
    others = {sa: int(n) for sa, n in sorted(facts.policy_members_other.items()) if n}
    if others:  # only when known and non-zero, so other plans' inputs (and digests) are unchanged
        return dataclasses.replace(inputs, policy_members_other=others)
    return inputs


def policy_members_other(policy: Mapping[str, Any], pool_name: str) -> int:
    """Principals of an IAM policy that count against the 1,500 limit and are not this tool's
    (every occurrence counts, as Google counts them; members from our pool are ours to recompute)."""
    ours = f"principalSet://iam.googleapis.com/{pool_name}/"
    count = sum(1 for b in policy.get("bindings") or [] for m in b.get("members") or []
                if not (b.get("role") == ROLE and str(m).startswith(ours)))
    count += sum(len(c.get("exemptedMembers") or []) for a in policy.get("auditConfigs") or []
                 for c in a.get("auditLogConfigs") or [])
    return count


def inputs_digest(inputs: PlanInputs) -> str:
    """sha256 of the inputs' JSON object with sorted keys and no spaces: the text every build since
    inputs exist has hashed, so plans on disk keep their digest. Computed once per inputs (a cache
    on the frozen object: `derive` keys its memo by it)."""
    digest: str | None = inputs.__dict__.get("_digest")
    if digest is None:
        canon = json.dumps(encode(inputs), sort_keys=True, separators=(",", ":"))
        digest = "sha256:" + hashlib.sha256(canon.encode()).hexdigest()
        object.__setattr__(inputs, "_digest", digest)
    return digest


def _usage_key(u: KeyUsage) -> tuple[str, str, int, str]:
    return (u.file_project, u.file_path, u.finding.line, u.finding.variable or "")


def key_identity(var: KeyVariable, sa_map: Mapping[str, str]) -> KeyIdentity | None:
    """The key a variable holds: read from the value at scan time, or (hidden variables) the
    service account the configuration names for that variable, with an unknown key id."""
    if var.key is not None:
        return var.key
    sa = sa_map.get(var.name)
    return KeyIdentity(service_account=sa, key_id="") if sa else None


def _renamed(var: KeyVariable, key: KeyIdentity, sa_map: Mapping[str, str]) -> str | None:
    """`google.service_accounts` names the account of a *hidden* variable; for a readable key it
    must agree with the key (a job always signs in as the account of the key it received)."""
    named = sa_map.get(var.name)
    if named and named.lower() != key.service_account.lower():
        return (f"google.service_accounts names {named} for {var.name}, but the key it holds belongs to "
                f"{key.service_account}; the tool never moves a job to another account (remove the entry)")
    return None


def readers(var: KeyVariable, projects: Sequence[ProjectFacts]) -> list[ProjectFacts]:
    """Projects (of those known) whose jobs can read the variable, ignoring ref and environment."""
    return ProjectIndex(projects).readers(var)


class ProjectIndex:
    """Projects by id, path, ancestor id and group path, built once per derivation: the readers of
    every variable without a pass over every project per variable (issue 18). `readers` answers
    exactly what the definition says, in the projects' order:
    instance → all; project → id (or path when the id is unknown); group → the group's id among
    the ancestors, or the path below the group's path."""

    def __init__(self, projects: Sequence[ProjectFacts]) -> None:
        self.projects = list(projects)
        self.by_id: dict[int, list[int]] = {}
        self.by_path: dict[str, list[int]] = {}
        self.by_ancestor: dict[int, list[int]] = {}
        self.by_group_path: dict[str, list[int]] = {}
        for i, p in enumerate(self.projects):
            self.by_id.setdefault(p.id, []).append(i)
            self.by_path.setdefault(p.path, []).append(i)
            for a in set(p.ancestor_ids):
                self.by_ancestor.setdefault(a, []).append(i)
            for k, ch in enumerate(p.path):
                if ch == "/":
                    self.by_group_path.setdefault(p.path[:k], []).append(i)

    def readers(self, v: KeyVariable) -> list[ProjectFacts]:
        if v.level == "instance":
            return list(self.projects)
        if v.level == "project":
            hits = set(self.by_id.get(v.owner_id, ()) if v.owner_id is not None else ())
            if v.owner_id is None:
                hits.update(self.by_path.get(v.owner, ()))
        else:
            hits = set(self.by_ancestor.get(v.owner_id, ()) if v.owner_id is not None else ())
            hits.update(self.by_group_path.get(v.owner, ()))
        return [self.projects[i] for i in sorted(hits)]


class UsageIndex:
    """Usages by consumer project path, so `uses` reads only the usages of one project."""

    def __init__(self, usages: Sequence[InputUsage]) -> None:
        self.by_consumer: dict[str, list[InputUsage]] = {}
        for u in usages:
            for c in dict.fromkeys(u.consumers):
                self.by_consumer.setdefault(c, []).append(u)

    def uses(self, var: KeyVariable, project: ProjectFacts) -> bool:
        return _uses(self.by_consumer.get(project.path, ()), var, project)


def _uses(usages: Sequence[InputUsage], var: KeyVariable, project: ProjectFacts) -> bool:
    for u in usages:
        if project.path not in u.consumers:
            continue
        if u.variables:
            if var.ref in u.variables:
                return True
        elif u.variable == var.name:
            return True
    return False


def project_facts(inputs: PlanInputs) -> list[ProjectFacts]:
    return [ProjectFacts(id=p.id, path=p.path, namespace_id=p.namespace_id or 0,
                         namespace_path=p.namespace_path,
                         ancestor_ids=p.ancestor_ids or (p.namespace_id or 0,),
                         default_branch=p.default_branch or "main")
            for p in inputs.projects]


def legacy_audiences(gitlab_version: str, gitlab_url: str) -> tuple[str, ...]:
    """GitLab < 15.7 has no `id_tokens`: migrated jobs present `CI_JOB_JWT_V2`, whose `aud` is the
    instance's base URL, so the provider must allow that audience too (federation.base_url)."""
    if has_id_tokens(_major_minor(gitlab_version or "")):
        return ()
    return (base_url(gitlab_url or ""),)


_DERIVED: dict[str, Derived] | None = None  # inputs digest → derivation, inside `derivation_memo()`


@contextlib.contextmanager
def derivation_memo() -> Iterator[None]:
    """Within this block `derive` keeps its answers by the inputs' digest. `plan` derives once to
    read the live policies and again to build the plan from the same inputs: the second call then
    costs a hash (~0.1 s at 10,000 projects) instead of a derivation (issue 18). A block, not a
    global cache, so a caller that changes the model between two derivations is never answered
    from the first."""
    global _DERIVED
    outer = _DERIVED
    _DERIVED = {} if outer is None else outer
    try:
        yield
    finally:
        _DERIVED = outer


def derive(inputs: PlanInputs) -> Derived:
    """Design + per-SA binding scopes + exposures, from the plan's inputs alone (pure; see
    `derivation_memo`)."""
    if _DERIVED is None:
        return _derive(inputs)
    key = inputs_digest(inputs)
    hit = _DERIVED.get(key)
    if hit is None:
        hit = _DERIVED[key] = _derive(inputs)
    return hit


def _derive(inputs: PlanInputs) -> Derived:
    return _fit(_unfitted(inputs), inputs)


@dataclass(frozen=True)
class Unfitted:
    """A derivation before it is fitted to Google's principals-per-policy limit: everything but
    the consolidations, which alone depend on `inputs.policy_members_other` (the sizes of the
    policies as `plan` read them, after deriving which policies to read)."""

    design: ProviderDesign
    scopes: Mapping[str, tuple[BindingScope, ...]]
    exposures: Mapping[str, tuple[Exposure, ...]]
    problems: tuple[Problem, ...]
    key_vars: tuple[tuple[KeyVariable, KeyIdentity], ...]
    receipts: tuple[Receipt, ...]
    unbound: Mapping[tuple[str, str], tuple[str, ...]]
    definitions: tuple[KeyVariable, ...]
    projects: tuple[ProjectFacts, ...]


def refit(derived: Derived, inputs: PlanInputs) -> Derived:
    """`derive(inputs)` for inputs that differ from the ones `derived` came from only in
    `policy_members_other`: the policy fitting again, not the whole derivation (issue 18: `plan`
    derives once to learn which policies to read, then fits the bindings to what they hold)."""
    if derived.unfitted is None:
        return _derive(inputs)
    return _fit(derived.unfitted, inputs)


def _unfitted(inputs: PlanInputs) -> Unfitted:
    design = design_provider(inputs.project_number, inputs.pool_id, inputs.provider_id,
                             inputs.issuer, inputs.namespace_ids, inputs.jwks_json,
                             legacy_audiences(inputs.gitlab_version, inputs.gitlab_url))
    projects = project_facts(inputs)
    usages = [u for u in inputs.usages if not u.runs]  # legacy: linked variables only
    index = ProjectIndex(projects)
    usage_index = UsageIndex(usages)
    scopes: dict[str, list[BindingScope]] = {}
    exposures: dict[str, list[Exposure]] = {}
    problems: list[Problem] = []
    key_vars: list[tuple[KeyVariable, KeyIdentity]] = []
    parsed = list(inputs.variables)
    facts = FactIndex(inputs.keys)
    for var in parsed:
        key = key_identity(var, inputs.service_accounts)
        if key is None:
            if var.suspected_reason:
                problems.append(Problem(f"variable:{var.ref}", "suspected key variable whose service "
                                        "account is unknown (hidden value); name it under "
                                        "google.service_accounts to migrate it", "manual"))
            continue
        if var.key is not None:  # a readable key earns a binding only on Google's word (keygate)
            why = refusal(var.key, facts.get(var.key))
            if why is None:
                why = _renamed(var, key, inputs.service_accounts)
            if why is not None:
                problems.append(Problem(f"variable:{var.ref}", f"{why}; no binding", "error"))
                continue
        elif var.suspected_reason:
            problems.append(Problem(f"variable:{var.ref}", f"hidden value: the key cannot be checked "
                                    f"against Google's certificate; the binding on {key.service_account} "
                                    "rests on google.service_accounts", "warning"))
        key_vars.append((var, key))
        sa = key.service_account
        exposures.setdefault(sa, []).append(Exposure(var.ref, var.level, var.owner_id, var.protected,
                                                     var.environment_scope, var.name))
        env = None if var.environment_scope == "*" else var.environment_scope
        for project in (index.readers(var) if usages else ()):
            if not usage_index.uses(var, project):
                continue
            if env is not None and "*" in env:
                problems.append(Problem(
                    f"variable:{var.ref}", f"environment scope {env!r} is a wildcard: no principalSet "
                    f"can express it exactly, so {project.path} gets no binding for {sa}; migrate "
                    "it by hand or scope the variable to exact environments", "manual"))
                continue
            scopes.setdefault(sa, []).append(BindingScope(project.id, var.protected, env))
    defs = parsed + list(inputs.other_variables)
    rs = receipts(inputs, defs)
    unbound = _receipt_scopes(rs, key_vars, defs, scopes)
    final = {sa: minimal_scopes(s) for sa, s in scopes.items()}
    return Unfitted(design, final, {sa: tuple(e) for sa, e in exposures.items()}, tuple(problems),
                    tuple(key_vars), tuple(rs), unbound, tuple(defs), tuple(projects))


def _fit(base: Unfitted, inputs: PlanInputs) -> Derived:
    design, final, problems = base.design, base.scopes, list(base.problems)
    consolidations = _fit_policies(inputs, design, final, base.exposures, base.projects, base.definitions)
    for sa, c in consolidations.items():
        if c.over_by:
            problems.append(Problem(
                f"binding:{sa}", f"the IAM policy of {sa} would hold {MAX_POLICY_MEMBERS + c.over_by} "
                f"principals; Google allows {MAX_POLICY_MEMBERS} per policy and no namespace principal "
                "set can replace enough projects without admitting projects that could not read the key. "
                "Split the key's users over several service accounts, or remove unused members", "manual"))
    if any(c.needs_namespace_attributes for c in consolidations.values()):
        design = dataclasses.replace(design, attribute_mapping={**design.attribute_mapping,
                                                                **NAMESPACE_ATTRIBUTES})
    return Derived(design, final, base.exposures, tuple(problems), base.key_vars, base.receipts, base.unbound,
                   base.definitions, consolidations,
                   member_lists={sa: members(design.pool_name, sc) for sa, sc in final.items()}, unfitted=base)


def _receipt_scopes(rs: Sequence[Receipt], key_vars: Sequence[tuple[KeyVariable, KeyIdentity]],
                    defs: Sequence[KeyVariable], scopes: dict[str, list[BindingScope]],
                    ) -> dict[tuple[str, str], tuple[str, ...]]:
    """Bindings from what each effective job receives (receipts.binding_scope); returns, per CI
    file, why some job of it gets a key without a binding (the file is then not rewritten and
    goes to manual review with that reason)."""
    refs_by_sa: dict[str, set[str]] = {}
    for var, key in key_vars:
        refs_by_sa.setdefault(key.service_account, set()).add(var.ref)
    sa_of = {ref: sa for sa, refs in refs_by_sa.items() for ref in refs}
    keyed = {d.ref for d in defs if d.key is not None or d.suspected_reason}
    keyed_unbound = keyed - set(sa_of)  # once, not once per job group (issue 18)
    unbound: dict[tuple[str, str], list[str]] = {}
    for (fproject, fpath, _consumer, _job, _line), group in sorted(job_groups(rs).items()):
        got = {r.variable for r in group if r.resolution.definite and r.variable}
        for ref in sorted(got & keyed_unbound):
            unbound.setdefault((fproject, fpath), []).append(
                f"{group[0].job_label} gets {ref}, which earns no binding (see its own entry)")
        for sa in sorted({sa_of[ref] for ref in got if ref in sa_of}):
            outcome = binding_scope(group, frozenset(refs_by_sa[sa]))
            if outcome.scope is not None:
                scopes.setdefault(sa, []).append(outcome.scope)
                continue
            unbound.setdefault((fproject, fpath), []).append(f"no binding on {sa} for it: {outcome.reason}")
    return {k: tuple(dict.fromkeys(v)) for k, v in unbound.items()}


def _fit_policies(inputs: PlanInputs, design: ProviderDesign,
                  scopes: Mapping[str, tuple[BindingScope, ...]], exposures: Mapping[str, Sequence[Exposure]],
                  projects: Sequence[ProjectFacts], defs: Sequence[KeyVariable] = ()) -> dict[str, Consolidation]:
    """Per service account whose binding would not fit Google's 1,500 principals per policy (with
    the policy's other members, `inputs.policy_members_other`): namespace principal sets that
    stay within who could read the key (federation.consolidate)."""
    others = inputs.policy_members_other
    namespace_of = {p.id: p.namespace_id for p in projects}
    ancestors: dict[int, set[int]] = {}
    in_namespace: dict[int, list[ProjectFacts]] = {}
    for p in projects:
        ancestors.setdefault(p.namespace_id, set()).update(p.ancestor_ids or (p.namespace_id,))
        in_namespace.setdefault(p.namespace_id, []).append(p)
    project_vars: dict[int, set[str]] = {}
    names: dict[str, str] = {}
    every = list(inputs.variables) + list(defs)
    for var in every:  # key variables, and every definition that may shadow one (receipts)
        names[var.ref] = var.name
        if var.level == "project" and var.owner_id is not None:
            project_vars.setdefault(int(var.owner_id), set()).add(var.name)
    out: dict[str, Consolidation] = {}
    for sa, sa_scopes in scopes.items():
        budget = MAX_POLICY_MEMBERS - int(others.get(sa, 0))
        if len(sa_scopes) <= budget:
            continue

        def readable(ns: NamespaceScope, sa: str = sa) -> bool:
            for e in exposures.get(sa, ()):
                reaches = e.level == "instance" or (e.level == "group" and e.owner_id in ancestors.get(
                    ns.namespace_id, set()))
                restricted = (ns.protected_only or not e.protected) and (
                    e.environment_scope == "*" or e.environment_scope == ns.environment)
                # a project variable of the same name shadows the key in that project (GitLab's
                # precedence): such a project never received this key
                shadowed = any(names.get(e.variable) in project_vars.get(p.id, set())
                               for p in in_namespace.get(ns.namespace_id, ()))
                if reaches and restricted and not shadowed:
                    return True
            return False

        out[sa] = consolidate(design.pool_name, sa_scopes, namespace_of, readable, budget)
    return out


def impersonation_report(inputs: PlanInputs, derived: Derived,
                         bindings: Mapping[str, Sequence[str]] | None = None) -> tuple[Impersonation, ...]:
    """Who could impersonate each service account before (key) and after (federation)."""
    projects = project_facts(inputs)
    envs = {e.environment_scope.replace("*", "x") for es in derived.exposures.values() for e in es
            if e.environment_scope != "*"}
    envs |= {s.environment for ss in derived.scopes.values() for s in ss if s.environment}
    bound = {s.project_id for ss in derived.scopes.values() for s in ss}
    base = next((p for p in projects if p.id in bound), projects[0] if projects else None)
    cases = token_cases(derived.design.issuer, derived.design.audience, projects, envs, base)
    for extra in derived.design.extra_audiences:
        # Old GitLab: every job holds CI_JOB_JWT_V2 (aud = instance URL), whether or not it was
        # migrated, and relying parties that accept that audience receive it too.
        cases += tuple(dataclasses.replace(c, label=f"{c.label} [CI_JOB_JWT_V2, aud {extra}]",
                                           claims={**c.claims, "aud": extra})
                       for c in token_cases(derived.design.issuer, extra, projects, envs, base))
    if bindings is None:
        bindings = {sa: derived.members(sa) for sa in derived.scopes}
    return simulate(derived.design, bindings, derived.exposures, cases, derived.definitions)


# ---------------------------------------------------------------------------------------------
# The plan


def build_plan(inventory: Inventory, config: Config, facts: PlanFacts, rewriter: Rewriter | None) -> PlanResult:
    """Compute the plan. Raises `PlanRefusedError` when federation would widen access."""
    inputs = plan_inputs(inventory, config, facts)
    return assemble_plan(inventory, config, facts, rewriter, inputs, derive(inputs))


def plan_inputs(inventory: Inventory, config: Config, facts: PlanFacts) -> PlanInputs:
    """The plan's inputs: `make_inputs` with the policy sizes `plan` read (when any)."""
    return with_policy_sizes(make_inputs(inventory, config, facts), facts)


def assemble_plan(inventory: Inventory, config: Config, facts: PlanFacts, rewriter: Rewriter | None,
                  inputs: PlanInputs, derived: Derived) -> PlanResult:
    """`build_plan` from inputs and their derivation already computed (`migrate.plan.runner`
    derives once per run): `inputs` must be `plan_inputs(inventory, config, facts)` and `derived`
    `derive(inputs)` (the equivalence tests compare it with `build_plan`)."""
    design = derived.design
    manual: list[Problem] = list(derived.problems)
    actions: list[Action] = []

    pool_id = f"ensure_pool:{design.pool_id}"
    provider_id = f"ensure_provider:{design.pool_id}/{design.provider_id}"
    live = facts.live
    actions.append(Action(
        pool_id, "ensure_pool", design.pool_name, f"workload identity pool {design.pool_id} in "
        f"{config.google.identity_project}", findings=("federation",),
        params=_ensure_params(config.google.identity_project, design.pool_name, design.pool_body(),
                              live.known, live.pool, POOL_FIELDS)))
    actions.append(Action(
        provider_id, "ensure_provider", design.provider_name,
        f"OIDC provider {design.provider_id} for {design.issuer}" + _audience_note(design, inputs),
        depends_on=(pool_id,),
        findings=("federation",),
        params=_ensure_params(config.google.identity_project, design.provider_name, design.provider_body(),
                              live.known, live.provider, PROVIDER_FIELDS)))

    binding_ids: dict[str, str] = {}
    paths: dict[int, str] = {}
    for p in inputs.projects:
        paths.setdefault(p.id, p.path)
    for sa in sorted(derived.scopes):
        scopes = derived.scopes[sa]
        aid = f"ensure_binding:{sa}"
        binding_ids[sa] = aid
        findings = tuple(sorted({v.ref for v, k in derived.key_vars if k.service_account == sa}))
        consolidation = derived.consolidations.get(sa)
        note = ""
        if consolidation is not None and consolidation.namespaces:
            note = (f"; {sum(len(p) for _, p in consolidation.namespaces)} project scopes consolidated into "
                    f"{len(consolidation.namespaces)} namespace principal set(s) to fit Google's "
                    f"{MAX_POLICY_MEMBERS} principals per policy: each admits every project directly in the "
                    "namespace, all of which could read the key (never broader than the key)")
        actions.append(Action(
            aid, "ensure_binding", sa_resource(sa, derived),
            f"{ROLE} on {sa} for {len(scopes)} scope(s)" + note,
            depends_on=(provider_id,), findings=findings,
            params=BindingParams(
                service_account=sa, resource=sa_resource(sa, derived), role=ROLE,
                members=tuple(derived.members(sa)),
                already_present=tuple(sorted(set(derived.members(sa)) & set(facts.live_bindings.get(sa, ())))),
                scopes=tuple(_scope_row(s, paths) for s in scopes),
                consolidated=tuple(ConsolidatedScope(ns.namespace_id, ns.protected_only, ns.environment,
                                                     ns.attribute()[0], ns.attribute()[1], ns.describe(), tuple(ids))
                                   for ns, ids in (consolidation.namespaces if consolidation is not None else ())),
                credential_configuration=credential_configuration(
                    design, sa, TOKEN_FILE, _endpoint(config, "sts", "https://sts.googleapis.com") + "/v1/token",
                    _endpoint(config, "iamcredentials", "https://iamcredentials.googleapis.com")))))

    # The simulation first: it needs only the inputs and their derivation, and its token cases
    # (tens of thousands of claim sets at 10,000 projects) are freed before the merge requests'
    # texts are built, so the two never weigh on memory at once (issue 18: ≤ 300 MB).
    impersonation = impersonation_report(inputs, derived)
    mr_actions, file_manual, mr_by_var, manual_by_var = _merge_requests(
        inventory, inputs, derived, facts, rewriter, binding_ids)
    actions.extend(mr_actions)
    manual.extend(file_manual)
    held: dict[tuple[str, str], list[str]] = {}  # keys in pipeline schedule variables (scan)
    for record in inventory.projects:
        for sk in record.schedule_keys:
            held.setdefault((sk.key.service_account, sk.key.key_id), []).append(sk.subject)
    actions.extend(_key_actions(derived, mr_by_var, manual_by_var, binding_ids, config,
                                outside_by_variable(inputs), inventory, held))

    plan = Plan(
        gitlab_url=config.gitlab.url, identity_project=config.google.identity_project,
        project_number=facts.project_number, pool_id=design.pool_id, provider_id=design.provider_id,
        generated_at=facts.generated_at, inventory_digest=inventory_digest(inventory),
        actions=tuple(actions), manual=tuple(manual) + tuple(p for p in inventory.problems),
        impersonation=tuple(i.to_row() for i in impersonation), inputs=inputs,
        inputs_digest=inputs_digest(inputs))
    result = PlanResult(plan, design, impersonation)
    broader = [i for i in impersonation if not i.ok]
    if broader:
        lines = [f"{i.service_account}: after federation also {', '.join(i.broader)}" for i in broader]
        raise PlanRefusedError("refusing the plan: federation would let more jobs impersonate than the "
                               "keys did:\n  " + "\n  ".join(lines), result)
    return result


def _audience_note(design: ProviderDesign, inputs: PlanInputs) -> str:
    """The trade-off of old GitLab, said where the reviewer reads the provider action."""
    if not design.extra_audiences:
        return ""
    return (f"; also allows audience {', '.join(design.extra_audiences)} because GitLab "
            f"{inputs.gitlab_version} has no id_tokens (jobs present CI_JOB_JWT_V2). Trade-off: every "
            "job of the instance holds that token and other relying parties that accept the instance URL "
            "receive it too, so they could replay it here; the condition and bindings still limit it to "
            "the projects and refs that held the key. Upgrade to GitLab 15.7+ and re-plan to drop it")


TOKEN_FILE = "${CI_BUILDS_DIR}/.wif-migrate/gcp_id_token"  # where the rewritten job writes its ID token


def _endpoint(config: Config, api: str, default: str) -> str:
    return str(config.google.endpoints.get(api) or default).rstrip("/")


def inventory_digest(inventory: Inventory) -> str:
    body = encode(inventory)
    body.pop("generated_at", None)
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def sa_project(sa: str, derived: Derived | None = None) -> str:
    """The project of a service account: from `NAME@PROJECT.iam.gserviceaccount.com`, else the key
    file's project_id, else `-` (which turns a missing SA into 403 instead of 404; gcp.md §2)."""
    local, _, domain = sa.partition("@")
    if domain.endswith(".iam.gserviceaccount.com"):
        return domain[: -len(".iam.gserviceaccount.com")]
    if derived is not None:
        for _v, k in derived.key_vars:
            if k.service_account == sa and k.project_id:
                return k.project_id
    return "-"


def sa_resource(sa: str, derived: Derived | None = None) -> str:
    return f"projects/{sa_project(sa, derived)}/serviceAccounts/{sa}"


def _scope_row(scope: BindingScope, paths: Mapping[int, str]) -> ScopeRow:
    name, value = scope.attribute()
    return ScopeRow(scope.project_id, paths.get(scope.project_id, ""), scope.protected_only, scope.environment,
                    name, value)


def _ensure_params(project: str, name: str, desired: dict[str, Any], known: bool,
                   observed: Mapping[str, Any] | None, fields: Sequence[str]) -> EnsureParams:
    """`observed` is what Google showed at plan time; `patch` the fields apply may change."""
    patch: list[str] = []
    if known and observed is not None:
        deleted = observed.get("state") == "DELETED"
        patch = [f for f in fields if deleted or field_value(observed, f) != field_value(desired, f)]
    return EnsureParams(project=project, name=name, desired=desired, observed_known=known,
                        observed=_observed_view(observed, fields) if observed is not None else None,
                        patch=tuple(patch))


def _observed_view(observed: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    view: dict[str, Any] = {"state": observed.get("state", "ACTIVE")}
    for f in fields:
        view[f] = field_value(observed, f)
    return view


def field_value(body: Mapping[str, Any], path: str) -> Any:
    """A field by dotted update-mask path, normalised (proto3 JSON omits defaults)."""
    value: Any = body
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if path.endswith("disabled"):
        return bool(value)
    if path == "oidc.allowedAudiences":
        return list(value or [])
    if path == "attributeMapping":
        return dict(value or {})
    return value if value is not None else ("" if path != "oidc.jwksJson" else None)


# ---------------------------------------------------------------------------------------------
# Merge requests


def _merge_requests(inventory: Inventory, inputs: PlanInputs, derived: Derived, facts: PlanFacts,
                    rewriter: Rewriter | None, binding_ids: Mapping[str, str],
                    ) -> tuple[list[Action], list[Problem], dict[str, list[str]], dict[str, list[str]]]:
    """One action per CI file that uses a key variable. Returns actions, manual entries, and for
    each variable ref the MR action ids that stop its use and the manual files that still use it."""
    var_key = {v.ref: k for v, k in derived.key_vars}
    by_name: dict[str, KeyIdentity] = {}
    for v, k in derived.key_vars:
        by_name.setdefault(v.name, k)
    projects = {p.path: p for p in inventory.projects}
    files: dict[tuple[str, str, str], list[KeyUsage]] = {}
    for u in inventory.usages:
        files.setdefault((u.file_project, u.file_path, u.ref), []).append(u)
    actions: list[Action] = []
    manual: list[Problem] = []
    mr_by_var: dict[str, list[str]] = {}
    manual_by_var: dict[str, list[str]] = {}
    # files with key use of their own (a consumer change must not touch them), and consumer files an
    # earlier template's consumer change edits already
    own_files = {(p, f): "has key use of its own (migrated in its own merge request or by hand)"
                 for p, f, _ref in files}
    claimed: dict[tuple[str, str], str] = {}
    works = [w for (fproject, fpath, ref), usages in sorted(files.items())
             if (w := _file_work(fproject, fpath, ref, usages, inventory, derived, facts, rewriter, var_key, by_name,
                                 projects)) is not None]
    # every rewrite at once: a batch rewriter spreads them over the cores (default_rewriter)
    requests = [w.request for w in works if w.request is not None]
    outcomes = iter(rewrite_many(rewriter, requests) if rewriter is not None and requests else ())
    for work in works:
        changes: list[Any] = []
        fproject, fpath, ref, usages = work.fproject, work.fpath, work.ref, work.usages
        keys, var_refs, sa_map, names, consumers = work.keys, work.var_refs, work.sa_map, work.names, work.consumers
        text, problem, included_ids = work.text, work.problem, work.included_ids
        job_map, context_map, effective_jobs = work.job_map, work.context_map, work.effective_jobs
        subject = f"file:{fproject}:{fpath}"
        checked: ConsumerCheckInputs | None = None
        outcome = RewriteOutcome(Status.MANUAL)
        if work.request is not None and isinstance(text, FileText):
            # The rewriter answers bad input with a manual outcome; an exception is a bug (exit 3).
            outcome = next(outcomes)
            if outcome.status == Status.UNCHANGED:
                continue
            if outcome.status != Status.REWRITTEN:
                problem = "needs manual review: " + (
                    "; ".join(outcome.reasons) or "the rewriter could not change it safely")
            else:
                problem, checked = _consumer_problem(fproject, fpath, ref, outcome.text, consumers, names,
                                                     projects, facts, derived, var_key, inventory.gitlab_version)
                if problem is not None and checked.pipelines:
                    # consumers that copy the template's authentication: give their jobs the token
                    # first, in merge requests of their own (migrate.plan.consumer_changes)
                    changes, why = _consumer_changes(fproject, fpath, ref, text.content, outcome.text, names,
                                                     checked, facts, derived, inventory.gitlab_version,
                                                     {**own_files, **claimed})
                    if changes:
                        problem = None
                    elif why:
                        problem += ("; the consumers' jobs cannot be given the ID token automatically: "
                                    + "; ".join(dict.fromkeys(why)))
        if problem is not None or not isinstance(text, FileText):
            manual.append(Problem(subject, problem or "unreadable", "manual"))
            for r in var_refs:
                manual_by_var.setdefault(r, []).append(subject)
            continue
        aid = f"merge_request:{fproject}:{fpath}"
        sas = sorted({k.service_account for k in keys})
        consumer_ids: list[str] = []
        for change in changes:
            consumer_action = _consumer_action(change, aid, f"{fproject}:{fpath}", projects, facts, derived,
                                               inventory.gitlab_version)
            consumer_ids.append(consumer_action.id)
            actions.append(consumer_action)
        if changes:
            from migrate.plan.consumer_changes import claimed as claimed_by

            claimed.update(claimed_by(changes, f"{fproject}:{fpath}"))
        for r in var_refs:
            mr_by_var.setdefault(r, []).extend([*consumer_ids, aid])
        project = projects.get(fproject)
        jobs = tuple(sorted({j for u in usages for j in u.finding.jobs})) or outcome.jobs
        actions.append(Action(
            aid, "merge_request", f"{fproject}:{fpath}@{ref}",
            f"rewrite {fpath} in {fproject} to use federation ({', '.join(sas)})",
            depends_on=tuple(binding_ids[sa] for sa in sas if sa in binding_ids) + tuple(consumer_ids),
            findings=tuple(f"{u.file_project}:{u.file_path}:{u.finding.line}" for u in usages) + tuple(var_refs),
            params=MergeRequestParams(
                project=fproject, project_id=project.id if project else None, ref=ref,
                file_path=fpath, base_blob_id=text.blob_id, base_commit_id=text.commit_id,
                new_content=outcome.text, diff=outcome.diff, status="rewritten",
                reasons=tuple(outcome.reasons), jobs=tuple(jobs), consumers=tuple(consumers),
                # plus the consumer jobs that copy the sign-in with !reference (the scan's runs see
                # only `extends`): verify must see each of them sign in through federation
                effective_jobs=_with_copies(effective_jobs, changes),
                # the pipelines of the projects that read this file, and what each of their jobs
                # receives: apply re-reads those files and recomputes the consumer check live
                consumer_check=checked,
                provider=derived.design.provider_name, audience=derived.design.audience,
                service_accounts=dict(sa_map),
                keys=tuple(RetiredKey(k.service_account, k.key_id, tuple(r for r in var_refs if var_key.get(r) == k))
                           for k in sorted(keys, key=lambda k: (k.service_account, k.key_id))),
                binding=BindingRefs(tuple(binding_ids[sa] for sa in sas if sa in binding_ids)),
                rewrite_options=MRRewriteOptions(
                    audience=derived.design.audience, gitlab_version=inventory.gitlab_version,
                    service_accounts=dict(sa_map), job_service_accounts=job_map, context_accounts=context_map,
                    included=tuple(included_ids), key_variables=tuple(names)),
                # the consumer merge requests that must be *merged* before this one is opened (apply
                # waits for them): they give the jobs that copy this file's authentication the token
                after_merged=tuple(consumer_ids),
            )))
    return actions, manual, mr_by_var, manual_by_var


@dataclass(frozen=True)
class _FileWork:
    """One CI file that uses a key, up to its rewrite: what the merge request or the manual entry
    is built from, and the rewrite to run (`request`, None when the file is already manual)."""

    fproject: str
    fpath: str
    ref: str
    usages: Sequence[KeyUsage]
    keys: set[KeyIdentity]
    var_refs: list[str]
    sa_map: dict[str, str]
    names: list[str]
    consumers: list[str]
    text: FileText | str | None
    problem: str | None
    job_map: dict[str, dict[str, str]]
    context_map: dict[str, dict[str, dict[str, str]]]
    effective_jobs: dict[str, list[str]]
    included_ids: tuple[tuple[str, str, str], ...] = ()
    request: RewriteRequest | None = None


def _file_work(fproject: str, fpath: str, ref: str, usages: Sequence[KeyUsage], inventory: Inventory,
               derived: Derived, facts: PlanFacts, rewriter: Rewriter | None, var_key: Mapping[str, KeyIdentity],
               by_name: Mapping[str, KeyIdentity], projects: Mapping[str, Any]) -> _FileWork | None:
    """None when no job of the file receives a key (nothing to change)."""
    refs = sorted({r for u in usages for r in (u.variables or ()) if r in var_key})
    names = sorted({u.finding.variable for u in usages if u.finding.variable}
                   | {r.split(":")[-1].split("[")[0] for r in refs})
    job_map: dict[str, dict[str, str]] = {}
    context_map: dict[str, dict[str, dict[str, str]]] = {}
    effective_jobs: dict[str, list[str]] = {}
    received: list[str] = []
    if any(u.runs for u in usages):  # what each effective job receives decides (receipts)
        accounts = file_accounts(fproject, fpath, usages, derived, var_key)
        keys, var_refs, sa_map, job_map, received = (set(accounts.keys), accounts.var_refs, accounts.sa_map,
                                                      accounts.job_map, accounts.reasons)
        effective_jobs, context_map = accounts.effective_jobs, accounts.context_map
        if not keys and not received:
            return None
    else:  # an inventory without effective jobs: the variables scan linked
        keys = {var_key[r] for r in refs} | {by_name[n] for n in names if n in by_name and not refs}
        if not keys:
            return None
        var_refs = refs or sorted(v.ref for v, k in derived.key_vars if v.name in names)
        sa_map = {n: by_name[n].service_account for n in names if n in by_name}
    consumers = sorted({c for u in usages for c in u.consumers})
    text = facts.files.get((fproject, fpath, ref))
    problem: str | None = None
    included_ids: tuple[tuple[str, str, str], ...] = ()
    request: RewriteRequest | None = None
    overridden = _schedule_overrides(consumers, names, projects)
    if fproject == GITLAB_TEMPLATES:
        problem = (f"needs manual review: {fpath} is one of GitLab's own CI templates (include: template:), "
                   "which no merge request can change; override its jobs in the including file")
    elif fproject == REMOTE_FILES:
        problem = (f"needs manual review: {fpath} is a remote include (include: remote:), which no merge request "
                   "can change; change it where it is published, or override its jobs in the including file")
    elif fproject == COMPONENT_FILES:
        problem = (f"needs manual review: {fpath} is a CI/CD component (include: component:), which this tool "
                   "does not change; change it in the component's project and release it, or override its "
                   "jobs in the including file")
    elif overridden:
        problem = "needs manual review: " + "; ".join(overridden)
    elif received:
        problem = "needs manual review: " + "; ".join(received)
    elif text is None or isinstance(text, str):
        problem = f"could not read the file at {ref}: {text or 'not fetched'}"
    elif rewriter is None:
        problem = "no CI rewriter available in this build"
    else:
        included_ids, included = _included(fproject, fpath, ref, consumers, projects, facts)
        request = RewriteRequest(fpath, text.content, derived.design.audience, sa_map, tuple(names),
                                 inventory.gitlab_version, next(iter(derived.design.extra_audiences), ""),
                                 job_map, context_map, included, included_ids, fproject)
    return _FileWork(fproject, fpath, ref, usages, keys, var_refs, sa_map, names, consumers, text, problem,
                     job_map, context_map, effective_jobs, included_ids, request)


def rewrite_many(rewriter: Rewriter, requests: Sequence[RewriteRequest]) -> list[RewriteOutcome]:
    """The outcomes of `requests`, in order: through the rewriter's `many` when it has one (the
    default rewriter spreads a large batch over the cores), else one call each."""
    many = getattr(rewriter, "many", None)
    if many is not None:
        return list(many(requests))
    return [rewriter(r) for r in requests]


@dataclass(frozen=True)
class FileAccounts:
    """For one CI file, from the receipts of its effective jobs: the keys they receive, the
    variables it stops using, the service account per variable (uniform) or per job, and the
    reasons it cannot be rewritten automatically (empty when it can)."""

    keys: frozenset[KeyIdentity]
    var_refs: list[str]
    sa_map: dict[str, str]
    job_map: dict[str, dict[str, str]]
    reasons: list[str]
    effective_jobs: dict[str, list[str]] = field(default_factory=dict)  # consumer → jobs receiving a key
    # job of the file → variable → context → account (see RewriteRequest.context_accounts)
    context_map: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


def file_accounts(fproject: str, fpath: str, usages: Sequence[KeyUsage], derived: Derived,
                  var_key: Mapping[str, KeyIdentity]) -> FileAccounts:
    """Every rewritten job must sign in as the account of the key it received before: per job,
    per line (a line shared by jobs, e.g. a hidden job or a template, can name one account only),
    and only where the contexts it received the key in are bound."""
    rs = derived.receipts_of(fproject, fpath)
    keyed_defs = derived.keyed_definition_refs()  # with var_key: the keyed refs (no union per file)
    reasons = list(derived.unbound.get((fproject, fpath), ()))
    per_job: dict[tuple[str, str], dict[str, set[str]]] = {}
    per_line: dict[tuple[int, str], dict[str, set[str]]] = {}
    line_receipts: dict[tuple[int, str], list[Receipt]] = {}
    var_refs: set[str] = set()
    for r in rs:
        res = r.resolution
        if not res.definite:
            risky = sorted(c.ref for c in res.candidates if isinstance(c, KeyVariable)
                           and (c.ref in var_key or c.ref in keyed_defs))
            if risky:
                var_refs.update(x for x in risky if x in var_key)
                reasons.append(f"{r.job_label} ({_ctx_label(r)}): which ${r.name} it gets is not decided: "
                               f"{res.reason}")
            continue
        ref = r.variable
        if ref is None or ref not in var_key:
            continue
        key = var_key[ref]
        var_refs.add(ref)
        per_job.setdefault((r.consumer, r.job), {}).setdefault(
            f"{key.label} ({key.service_account}) from {ref}", set()).add(r.context.ref_class)
        per_line.setdefault((r.line, r.name), {}).setdefault(key.service_account, set()).add(r.job_label)
        line_receipts.setdefault((r.line, r.name), []).append(r)
    for (consumer, job), got in sorted(per_job.items()):
        if len({k.split(" (")[1] for k in got}) > 1:
            parts = [f"{k} on {', '.join(sorted(c.replace('_', ' ') for c in classes))}"
                     for k, classes in sorted(got.items())]
            reasons.append(f"{consumer}: job {job} gets different keys by ref: {'; '.join(parts)}; one job "
                           "cannot sign in as both accounts (split the job per ref, or migrate by hand)")
    line_sa: dict[tuple[int, str], str] = {}
    env_choice: dict[tuple[int, str], dict[str, str]] = {}
    for (line, name), sas in sorted(per_line.items()):
        choice = environment_choice(line_receipts[(line, name)], fproject, var_key) if len(sas) > 1 else None
        if choice is not None:
            env_choice[(line, name)] = choice
        elif len(sas) > 1:
            who = "; ".join(f"{', '.join(sorted(jobs))} as {sa}" for sa, jobs in sorted(sas.items()))
            reasons.append(f"line {line} (${name}) runs in {who}: one command cannot sign in as two "
                           "service accounts (a shared hidden job or template whose users received different "
                           "keys); give each its own authentication step, or migrate by hand")
        else:
            line_sa[(line, name)] = next(iter(sas))
    by_var: dict[str, set[str]] = {}
    for (_line, name), sa in line_sa.items():
        by_var.setdefault(name, set()).add(sa)
    sa_map = {name: next(iter(sas)) for name, sas in by_var.items() if len(sas) == 1}
    job_map: dict[str, dict[str, str]] = {}
    for u in usages:
        line_account = line_sa.get((u.finding.line, u.finding.variable or ""))
        if line_account is not None and u.finding.variable and u.finding.variable not in sa_map:
            for job in u.finding.jobs:
                job_map.setdefault(job, {})[u.finding.variable] = line_account
    for (_line, name), choice in sorted(env_choice.items()):
        for job, account in choice.items():
            job_map.setdefault(job, {})[name] = account
    keys = frozenset(var_key[r.variable] for r in rs if r.resolution.definite and r.variable and r.variable in var_key)
    effective: dict[str, set[str]] = {}
    for r in rs:
        if r.known and r.resolution.definite and r.variable in var_key:
            effective.setdefault(r.consumer, set()).add(r.job)
    return FileAccounts(keys, sorted(var_refs), sa_map, job_map, list(dict.fromkeys(reasons)),
                        {c: sorted(j) for c, j in sorted(effective.items())},
                        context_accounts(rs, usages, var_key, fproject))


_STATIC_ENVIRONMENT = re.compile(r"^[A-Za-z0-9_./-]+$")


def environment_choice(rs: Sequence[Receipt], fproject: str,
                       var_key: Mapping[str, KeyIdentity]) -> dict[str, str] | None:
    """A line whose jobs received keys of several accounts can still be rewritten when the account
    is a function of the environment alone (Terraform per environment, an environment-scoped key):
    every job that received a key there is a job of the file's own project (the rewriter sees it)
    with a literal environment (what `$CI_ENVIRONMENT_NAME` will be), and no environment received
    the keys of two accounts (in any ref class). The rewriter then emits one `case` on
    `$CI_ENVIRONMENT_NAME` whose every other arm stops the job, and its self-check evaluates the
    choice per context (`context_accounts`). Job → account, or None (one command, two accounts)."""
    by_environment: dict[str, set[str]] = {}
    by_job: dict[str, str] = {}
    for r in rs:
        env = r.environment or ""
        if not r.known or not r.job or r.consumer != fproject or not _STATIC_ENVIRONMENT.match(env):
            return None
        account = var_key[str(r.variable)].service_account
        by_environment.setdefault(env, set()).add(account)
        if by_job.setdefault(r.job, account) != account:
            return None
    if any(len(accounts) > 1 for accounts in by_environment.values()):
        return None
    return by_job


def context_accounts(rs: Sequence[Receipt], usages: Sequence[KeyUsage], var_key: Mapping[str, KeyIdentity],
                     fproject: str) -> dict[str, dict[str, dict[str, str]]]:
    """For the rewriter's self-check: per job of the file and key variable, the account of the key
    the job receives in each context the resolver decided (`migrate.plan.receipts`). A receipt of a
    consumer's job counts for the file's job of the same name in the file's own project, and for
    every hidden job of the file that holds the line (a template job runs wherever it is used)."""
    jobs_at: dict[tuple[int, str], set[str]] = {}
    for u in usages:
        jobs_at.setdefault((u.finding.line, u.finding.variable or ""), set()).update(u.finding.jobs)
    out: dict[str, dict[str, dict[str, str]]] = {}
    for r in rs:
        if not r.resolution.definite or r.variable not in var_key:
            continue
        env = "environment unknown" if not r.known else (f"environment {r.environment}" if r.environment
                                                        else "no environment")
        where = f"{r.consumer} job {r.job or '(unknown)'} ({r.context.ref_class.replace('_', ' ')}, {env})"
        jobs = jobs_at.get((r.line, r.name), set())
        targets = {j for j in jobs if j.startswith(".")}
        if r.consumer == fproject and r.job in jobs:
            targets.add(r.job)
        for job in targets:
            out.setdefault(job, {}).setdefault(r.name, {})[where] = var_key[str(r.variable)].service_account
    return out


def _ctx_label(r: Receipt) -> str:
    env = "environment unknown" if not r.known else (f"environment {r.environment}" if r.environment
                                                    else "no environment")
    return f"{r.context.ref_class.replace('_', ' ')}, {env}"


def _schedule_overrides(consumers: Sequence[str], names: Sequence[str], projects: Mapping[str, Any]) -> list[str]:
    """Pipeline schedule variables that override a key variable the file's jobs use, in any
    consumer project (scan: ProjectRecord.schedule_overrides). The scheduled pipelines receive
    another value than the one the binding was derived from, so no automatic rewrite."""
    out: list[str] = []
    for consumer in consumers:
        record = projects.get(consumer)
        for o in getattr(record, "schedule_overrides", ()) or ():
            reason = o.reason if len(consumers) == 1 else f"{consumer}: {o.reason}"
            if (o.variable == "*" or o.variable in names) and reason not in out:
                out.append(reason)
    return out


def _included(fproject: str, fpath: str, ref: str, consumers: Sequence[str], projects: Mapping[str, Any],
              facts: PlanFacts) -> tuple[tuple[tuple[str, str, str], ...], tuple[str, ...]]:
    """The files a CI file includes (ids and texts, in GitLab's merge order), from the scan's
    record of a pipeline that reads it; nothing when any of them is unknown or unread (the
    self-check then cannot prove jobs that use them, and says so)."""
    from migrate.plan import consumer_check

    target = (fproject, fpath, ref)
    pipelines = [consumer_check.pipeline_of(projects[c], target) for c in consumers if c in projects]
    ids = consumer_check.included_by(pipelines, target)
    if not ids:
        return (), ()
    texts = [facts.files.get(i) for i in ids]
    if not all(isinstance(t, FileText) for t in texts):
        return (), ()
    return ids, tuple(t.content for t in texts if isinstance(t, FileText))


def consumer_check_inputs(fproject: str, fpath: str, ref: str, consumers: Sequence[str], names: Sequence[str],
                          projects: Mapping[str, Any], derived: Derived, var_key: Mapping[str, KeyIdentity],
                          gitlab_version: str | None) -> ConsumerCheckInputs:
    """What the consumer check of one rewritten file runs on (the MR action's
    `params.consumer_check`): the pipelines that read it (from the scan's records), the key
    variables, the token mode and, per consumer, what each job receives in each context. Apply
    recomputes it from the journaled inventory and refuses an action whose params differ."""
    from migrate.plan import consumer_check

    target = (fproject, fpath, ref)
    pipelines = [consumer_check.pipeline_of(projects[c], target) for c in consumers if c in projects]
    pipelines = [p for p in pipelines if p.holds(target) and not p.alone(target)]
    accounts = consumer_check.consumer_accounts(derived.receipts_of(fproject, fpath), var_key)
    return ConsumerCheckInputs(
        pipelines=tuple(p.to_checked() for p in pipelines), key_variables=tuple(names),
        token_mode=consumer_check.token_mode(gitlab_version),
        accounts={p.consumer: accounts.get(p.consumer, {}) for p in pipelines})


def _consumer_problem(fproject: str, fpath: str, ref: str, new_text: str, consumers: Sequence[str],
                      names: Sequence[str], projects: Mapping[str, Any], facts: PlanFacts, derived: Derived,
                      var_key: Mapping[str, KeyIdentity], gitlab_version: str | None
                      ) -> tuple[str | None, ConsumerCheckInputs]:
    """Every job of every pipeline that reads this file (in any of its files, through `extends`,
    `!reference` or nested includes) must still get the ID token and sign in right after the
    rewrite (`migrate.plan.consumer_check`); else manual, naming the consumer, file and job.
    Returns the reason (None: fine) and what apply needs to recompute the same check live."""
    from migrate.plan import consumer_check

    target = (fproject, fpath, ref)
    checked = consumer_check_inputs(fproject, fpath, ref, consumers, names, projects, derived, var_key,
                                    gitlab_version)
    pipelines = [consumer_check.ConsumerPipeline.from_checked(p) for p in checked.pipelines]
    mode = checked.token_mode
    accounts = checked.accounts
    if not pipelines:
        return None, checked
    texts, errors = _pipeline_texts(pipelines, facts)
    reasons = consumer_check.failures(
        pipelines, texts, errors, target, new_text,
        lambda c: consumer_check.expectation(names, derived.design.audience, mode, accounts.get(c, {})))
    if reasons:
        return "needs manual review: " + "; ".join(dict.fromkeys(reasons)), checked
    return None, checked


def _pipeline_texts(pipelines: Sequence[Any], facts: PlanFacts
                    ) -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str, str], str]]:
    """The text of every file of these consumer pipelines as the plan read it, and why the others
    could not be read ("not fetched" when the plan never asked)."""
    texts: dict[tuple[str, str, str], str] = {}
    errors: dict[tuple[str, str, str], str] = {}
    for pipeline in pipelines:
        for file in pipeline.files:
            found = facts.files.get(file.id)
            if isinstance(found, FileText):
                texts[file.id] = found.content
            else:
                errors[file.id] = found or "not fetched"
    return texts, errors


def _consumer_changes(fproject: str, fpath: str, ref: str, old_text: str, new_text: str, names: Sequence[str],
                      checked: ConsumerCheckInputs, facts: PlanFacts, derived: Derived, gitlab_version: str | None,
                      off_limits: Mapping[tuple[str, str], str]) -> tuple[list[Any], list[str]]:
    """The consumer merge requests that make a template's rewrite safe (see
    migrate.plan.consumer_changes), or the reasons there are none."""
    from migrate.plan import consumer_changes, consumer_check

    if consumer_check.token_mode(gitlab_version) != "id_tokens":
        return [], []
    pipelines = [consumer_check.ConsumerPipeline.from_checked(p) for p in checked.pipelines]
    texts, errors = _pipeline_texts(pipelines, facts)
    accounts = checked.accounts
    provider = derived.design.audience.removeprefix("https://iam.googleapis.com/")
    return consumer_changes.plan_changes(
        pipelines, texts, errors, (fproject, fpath, ref), old_text, new_text, provider,
        lambda c: consumer_check.expectation(names, derived.design.audience, "id_tokens", accounts.get(c, {})),
        _major_minor(gitlab_version or ""), off_limits)


def _with_copies(effective_jobs: Mapping[str, Sequence[str]], changes: Sequence[Any]) -> dict[str, tuple[str, ...]]:
    """consumer → jobs verify must see, with each consumer change's copying jobs added."""
    out = {c: tuple(jobs) for c, jobs in effective_jobs.items()}
    for change in changes:
        out[change.consumer] = tuple(sorted(set(out.get(change.consumer, ())) | set(change.jobs)))
    return dict(sorted(out.items()))


def _consumer_action(change: Any, template_aid: str, template: str, projects: Mapping[str, Any], facts: PlanFacts,
                     derived: Derived, gitlab_version: str | None) -> Action:
    """One consumer project's merge request: the provider ID token for the jobs that copy the
    template's authentication (harmless before the template's own merge request is merged)."""
    record = projects.get(change.consumer)
    ref = next((f.id[2] for f in change.files if f.id[2]), "") or getattr(record, "default_branch", "") or "main"
    files = []
    for f in change.files:
        base = facts.files.get(f.id)
        files.append(MRFile(f.id[1], f.new_text, f.diff, tuple(f.jobs),
                            base.blob_id if isinstance(base, FileText) else None,
                            base.commit_id if isinstance(base, FileText) else None))
    aid = f"merge_request:{change.consumer}:id_tokens_for:{template}"
    paths = ", ".join(f.id[1] for f in change.files)
    # one file: at the top level like every other MR action; several: `files`, shown joined
    one = files[0] if len(files) == 1 else None
    return Action(
        aid, "merge_request", f"{change.consumer}:{paths}@{ref}",
        f"give {', '.join(change.jobs)} in {change.consumer} the ID token {change.token_var} before {template} "
        "is switched to federation",
        findings=(template_aid,),
        params=MergeRequestParams(
            project=change.consumer, project_id=getattr(record, "id", None), ref=ref,
            file_path=paths, diff="".join(f.diff for f in files),
            new_content=one.new_content if one else None,
            base_blob_id=one.base_blob_id if one else None, base_commit_id=one.base_commit_id if one else None,
            files=() if one else tuple(files),
            status="rewritten", jobs=tuple(change.jobs), consumers=(), effective_jobs={},
            reasons=(f"{change.consumer} copies the authentication of {template} with !reference; GitLab "
                     "gives a copied script no ID token, so the job must declare it itself",),
            provider=derived.design.provider_name, audience=derived.design.audience,
            keys=(), binding=BindingRefs(()),
            # what apply recomputes on the live files (migrate.ci.consumer_tokens.add_tokens)
            consumer_tokens=ConsumerTokens(
                template_action=template_aid, token_var=change.token_var,
                jobs={f.id[1]: tuple(f.jobs) for f in change.files},
                included={f.id[1]: tuple((i[0], i[1], i[2]) for i in f.included) for f in change.files}),
            rewrite_options=MRRewriteOptions(audience=derived.design.audience, gitlab_version=gitlab_version),
        ))


# ---------------------------------------------------------------------------------------------
# Key retirement


def _key_actions(derived: Derived, mr_by_var: Mapping[str, Sequence[str]],
                 manual_by_var: Mapping[str, Sequence[str]], binding_ids: Mapping[str, str],
                 config: Config, outside: Mapping[str, Sequence[OutsideReader]],
                 inventory: Inventory | None = None,
                 held: Mapping[tuple[str, str], Sequence[str]] | None = None) -> list[Action]:
    keys: dict[tuple[str, str], list[KeyVariable]] = {}
    for var, key in derived.key_vars:
        if key.key_id:
            keys.setdefault((key.service_account, key.key_id), []).append(var)
    out: list[Action] = []
    windows = _ScheduleIndex(inventory)
    for (sa, kid), variables in sorted(keys.items()):
        deps = sorted({a for v in variables for a in mr_by_var.get(v.ref, ())})
        window_days, why = windows.window({v.ref for v in variables})
        params = DisableKeyParams(
            service_account=sa, key_id=kid, key_project=sa_project(sa, derived),
            variables=tuple(RetiredVariable(v.level, v.owner, v.owner_id, v.name, v.environment_scope, v.ref)
                            for v in variables),
            # files that still use the key, and pipeline schedule variables that hold it
            blocked_by=tuple(sorted({f for v in variables for f in manual_by_var.get(v.ref, ())}
                                    | set((held or {}).get((sa, kid), ())))),
            # readers whose CI was not checked: retire refuses unless --accept-outside-readers KEY_ID
            outside_readers=tuple(r for v in variables for r in outside.get(v.ref, ())),
            no_use_window_days=window_days, no_use_window_reason=why)
        grace = max(config.keys.grace_days, window_days)
        grace_why = why if window_days > config.keys.grace_days else f"keys.grace_days is {config.keys.grace_days}"
        label = KeyIdentity(sa, kid).label
        disable = f"disable_key:{sa}#{kid}"
        findings = tuple(v.ref for v in variables)
        window_text = f" once unused for {window_days} days ({why})" if window_days else ""
        out.append(Action(disable, "disable_key", f"{sa}/keys/{kid}", f"disable key {label}{window_text}",
                          depends_on=tuple(deps) or ((binding_ids[sa],) if sa in binding_ids else ()),
                          findings=findings, params=params))
        out.append(Action(f"delete_key:{sa}#{kid}", "delete_key", f"{sa}/keys/{kid}",
                          f"delete key {label} and its variables after {grace} days ({grace_why})",
                          depends_on=(disable,), findings=findings,
                          params=DeleteKeyParams(**vars(params), grace_days=grace, grace_reason=grace_why)))
    return out


class _ScheduleIndex:
    """The inventory's projects by path and its usages' consumers by variable ref, built once per
    plan: the schedule window of every key without a pass over every usage per key (issue 18)."""

    def __init__(self, inventory: Inventory | None) -> None:
        self.inventory = inventory
        self.records = {r.path: r for r in inventory.projects} if inventory is not None else {}
        self.users_of: dict[str, set[str]] = {}
        for u in inventory.usages if inventory is not None else ():
            for ref in u.variables:
                self.users_of.setdefault(ref, set()).update(u.consumers)

    def window(self, refs: set[str]) -> tuple[int, str]:
        if self.inventory is None:
            return 0, "no pipeline schedules recorded"
        users = sorted({c for ref in refs for c in self.users_of.get(ref, ())})
        return _window(users, self.records)


def _schedule_window(inventory: Inventory | None, refs: set[str]) -> tuple[int, str]:
    """(days, why): the longest interval of any active pipeline schedule of a project whose
    pipeline used the key (recorded by scan), rounded up to whole days — a job run only from a
    monthly schedule looks unused for a month (issue 16 §5). `keys retire` re-reads the schedules
    live and the longer of the two wins."""
    return _ScheduleIndex(inventory).window(refs)


def _window(users: Sequence[str], records: Mapping[str, Any]) -> tuple[int, str]:
    best, why, unknown = 0, "", []
    for path in users:
        record = records.get(path)
        if record is None or record.schedule_interval_s is None:
            unknown.append(path)
            continue
        if record.schedule_interval_s > best:
            best, why = record.schedule_interval_s, record.schedule_reason
    days = math.ceil(best / 86400) if best else 0
    if not why:
        why = ("no active pipeline schedule in " + ", ".join(users)) if users else "no project used the key"
    if unknown:
        why += ("; pipeline schedules not known for " + ", ".join(unknown)
                + " (see the ERROR rows; keys retire re-reads them live)")
    return days, why


# ---------------------------------------------------------------------------------------------
# The CI rewriter, when this build has one


def default_rewriter() -> CIRewriter:
    """The plan's view of `migrate.ci.rewrite` (see `CIRewriter`)."""
    return CIRewriter()


class CIRewriter:
    """The plan's view of `migrate.ci.rewrite`: audience URL → provider resource, version string →
    (major, minor).

    `migrate.ci.rewrite` is a pure function of the text and the options, and organisations hold
    many identical CI files (copied pipelines, generated repositories): each distinct request is
    rewritten once per plan and its outcome reused (issue 18), keyed by every field of the request.

    `many` rewrites a batch: a plan of 10,000 projects rewrites and self-checks ~3,000 files, CPU
    bound and independent of each other, so a large batch is spread over worker processes (one per
    usable core, `spawn`ed: nothing of the parent's state is shared) — the same pure function, the
    same outcomes in the same order, in about 1/cores of the time (issue 18)."""

    def __init__(self, workers: int | None = None) -> None:
        self.memo: dict[tuple[Any, ...], RewriteOutcome] = {}
        self.workers = workers if workers is not None else usable_cores()

    def __call__(self, request: RewriteRequest) -> RewriteOutcome:
        key = _request_key(request)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = rewrite_once(request)
        return hit

    def many(self, requests: Sequence[RewriteRequest]) -> list[RewriteOutcome]:
        keys = [_request_key(r) for r in requests]
        todo: dict[tuple[Any, ...], RewriteRequest] = {}
        for key, request in zip(keys, requests, strict=True):
            if key not in self.memo:
                todo.setdefault(key, request)
        if len(todo) >= PARALLEL_MIN and self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            pending = list(todo.values())
            chunk = max(1, len(pending) // (self.workers * 8))
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for key, outcome in zip(todo, pool.map(rewrite_once, pending, chunksize=chunk), strict=True):
                    self.memo[key] = outcome
        else:
            for key, request in todo.items():
                self.memo[key] = rewrite_once(request)
        return [self.memo[key] for key in keys]


PARALLEL_MIN = 64  # below this, starting the workers (~0.5 s each) costs more than it saves


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under `taskset`), at most 8."""
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not on Linux
        return max(1, min(8, os.cpu_count() or 1))


def _request_key(request: RewriteRequest) -> tuple[Any, ...]:
    """Every field of the request (also ones added later), mappings as sorted items."""
    return tuple((f.name, _frozen(getattr(request, f.name))) for f in dataclasses.fields(request))


def rewrite_once(request: RewriteRequest) -> RewriteOutcome:
    """One rewrite through `migrate.ci.rewrite` (module level: worker processes call it)."""
    from migrate import ci

    sas = dict(request.service_accounts)
    every = set(sas.values()) | {e for m in request.job_service_accounts.values() for e in m.values()}
    single = next(iter(every)) if len(every) == 1 else ""
    options = ci.RewriteOptions(
        provider=request.audience.removeprefix("https://iam.googleapis.com/"),
        service_account=single, service_accounts=sas,
        job_service_accounts={job: dict(m) for job, m in request.job_service_accounts.items()},
        context_accounts={job: {var: dict(c) for var, c in m.items()}
                          for job, m in request.context_accounts.items()},
        included=tuple(request.included), included_ids=tuple(request.included_ids), project=request.project,
        gitlab_version=_major_minor(request.gitlab_version), path=request.path,
        key_variables=frozenset(request.key_variables), instance_url=request.instance_url or None,
        verify_marker=True)
    result = ci.rewrite(request.text, options)
    return RewriteOutcome(status=result.status, text=result.text or "", reasons=tuple(result.reasons),
                          diff=result.diff)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_frozen(v) for v in value]
        return tuple(sorted(items, key=repr)) if isinstance(value, (set, frozenset)) else tuple(items)
    return value


def _major_minor(version: str) -> tuple[int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)", version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None
