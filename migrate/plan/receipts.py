"""Who receives which key: every (project, job, ref class, environment) that runs a key usage,
and what `migrate.ci.variables.resolve` says it gets for the variable the usage reads.

This is the one model of effective configuration the plan's bindings, the service account of
each rewritten job, the merge-request gating and the who-can-impersonate simulation share. Pure:
it works on the plan's *inputs* (projects, variables incl. non-key shadows, usages with the jobs
that run them), so apply can recompute it and refuse a plan that was edited by hand.

From receipts to bindings (`binding_scopes`): for a job that receives key K, the principal set is
the job's project, restricted to protected refs when K reaches it only there, and to the job's
environment unless K reaches the project in every environment. What no principal set can express
exactly (K only on unprotected refs; an environment named at run time while K is scoped) gets no
binding, with the reason — and then the job's file is not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from migrate.ci.variables import (
    REF_CLASSES,
    DefinitionIndex,
    Place,
    Resolution,
    RunContext,
    is_dynamic,
    resolve,
)
from migrate.core.model import InputProject, KeyVariable, PlanInputs
from migrate.plan.federation_design import BindingScope

PROTECTED = frozenset(c for c in REF_CLASSES if RunContext(c).protected)
UNPROTECTED = frozenset(REF_CLASSES) - PROTECTED


@dataclass(frozen=True)
class Receipt:
    """What one effective job gets for the variable of one usage, in one context."""

    file_project: str
    file_path: str
    line: int
    name: str  # the variable the usage reads
    consumer: str
    consumer_id: int
    job: str
    environment: str | None
    known: bool  # False: the job (and so its environment) could not be determined
    context: RunContext
    resolution: Resolution
    reaching: tuple[KeyVariable, ...] = ()  # every definition of the name that reaches the project

    @property
    def variable(self) -> str | None:
        """KeyVariable.ref of the definition received (definite resolutions only)."""
        v = self.resolution.variable
        return v.ref if isinstance(v, KeyVariable) else None

    @property
    def job_label(self) -> str:
        return f"{self.consumer}: job {self.job or '(unknown)'}"


def place_of(project: InputProject, groups: Mapping[int, str]) -> Place:
    ancestors = project.ancestor_ids or (project.namespace_id or 0,)
    return Place(project.id, project.path, ancestors, tuple(groups.get(a, "") for a in ancestors))


def definitions(inputs: PlanInputs) -> list[KeyVariable]:
    """Every CI/CD variable the plan knows of: the key variables and the ones that shadow them."""
    return [*inputs.variables, *inputs.other_variables]


def receipts(inputs: PlanInputs, defs: Sequence[KeyVariable] | None = None) -> list[Receipt]:
    """Every (usage, consumer job, ref class) with its resolution. Usages recorded before scan
    noted the jobs that run them fall back to the variables scan linked (legacy inventories)."""
    defs = list(defs) if defs is not None else definitions(inputs)
    index = DefinitionIndex(defs)
    groups = {g.id: g.path for g in inputs.groups}
    projects = {p.path: p for p in inputs.projects}
    out: list[Receipt] = []
    for u in inputs.usages:
        name = u.variable
        if not name or not u.runs:
            continue
        for run in u.runs:
            project = projects.get(run.consumer)
            if project is None:
                continue
            place = place_of(project, groups)
            reaching = index.for_place(name, place)
            keyvars = tuple(d for d in reaching if isinstance(d, KeyVariable))
            env = run.environment
            known = run.known
            if not known:
                env = "$WIF_MIGRATE_UNKNOWN_ENVIRONMENT"  # any environment may apply (R4)
            for ref_class in REF_CLASSES:
                ctx = RunContext(ref_class, env)
                out.append(Receipt(u.file_project, u.file_path, u.line, name,
                                   run.consumer, place.project_id, run.job, env, known, ctx,
                                   resolve(name, place, ctx, reaching), keyvars))
    return out


@dataclass(frozen=True)
class ScopeOutcome:
    """The binding scope a (job, key) earns, or why it earns none."""

    scope: BindingScope | None
    reason: str = ""


def binding_scope(group: Sequence[Receipt], key_refs: frozenset[str]) -> ScopeOutcome:
    """`group`: the receipts of one (consumer, job, usage variable); `key_refs`: the variables
    holding one key. The exact principal set for the contexts in which the job gets that key."""
    hit = [r for r in group if r.resolution.definite and r.variable in key_refs]
    if not hit:
        return ScopeOutcome(None, "does not receive the key")
    classes = {r.context.ref_class for r in hit}
    first = hit[0]
    if classes >= set(REF_CLASSES):
        protected_only = False
    elif classes <= PROTECTED and classes:
        protected_only = True
    else:
        return ScopeOutcome(None, f"{first.job_label} gets {first.variable} only on unprotected refs (a "
                                  "protected variable shadows it on protected refs); a binding would also admit "
                                  "protected refs, which never received it")
    winners = {r.resolution.variable for r in hit}
    scoped = any(v is not None and v.environment_scope != "*" for v in winners)
    shadowable = scoped or any(d.environment_scope != "*" and d.ref not in key_refs for d in first.reaching)
    if not shadowable:
        return ScopeOutcome(BindingScope(first.consumer_id, protected_only, None))
    if not first.known or is_dynamic(first.environment):
        what = "could not be determined" if not first.known else f"{first.environment!r} is named at run time"
        return ScopeOutcome(None, f"{first.job_label}: its environment {what}, and the variable it gets is "
                                  "environment-scoped (or shadowed in some environments); no principal set can "
                                  "name the environments exactly")
    return ScopeOutcome(BindingScope(first.consumer_id, protected_only, first.environment or ""))


def job_groups(rs: Iterable[Receipt]) -> dict[tuple[str, str, str, str, int], list[Receipt]]:
    """Receipts by (file project, file path, consumer, job, line)."""
    out: dict[tuple[str, str, str, str, int], list[Receipt]] = {}
    for r in rs:
        out.setdefault((r.file_project, r.file_path, r.consumer, r.job, r.line), []).append(r)
    return out
