"""Who can impersonate each service account, before (through the key) and after (through
federation). Pure: CEL is evaluated in-process with cel-python.

*Before*: a job can use a key when the CI/CD variable holding it is what GitLab gives the job for
that name — decided by `migrate.ci.variables.resolve`, the same resolver the bindings come from:
a project variable → that project; a group variable → every project below the group; an instance
variable → every project of the instance; unless a variable of the same name closer to the
project (or with a more specific environment scope) shadows it there. A protected variable
reaches protected refs only; an environment-scoped variable reaches jobs of a matching
environment only.

*After*: a job can impersonate when its ID token passes the provider's attribute condition, the
attribute mapping evaluates (with `google.subject` ≤ 127 bytes), and some member of the service
account's `roles/iam.workloadIdentityUser` binding admits the mapped attributes.

Both are evaluated for the same concrete tokens: every project in scope on protected and
unprotected refs, with no environment, each environment a variable is scoped to, and another one;
plus adversarial tokens (look-alike namespace, fork merge-request pipeline, over-long ref). A plan
whose *after* admits a token *before* did not is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import celpy

from migrate.ci.variables import (
    Definition,
    DefinitionIndex,
    Place,
    Resolution,
    RunContext,
    resolve,
    scope_match,
)
from migrate.core.model import AdversarialToken, ImpersonationRow
from migrate.plan.federation_design import SUBJECT_MAX_BYTES, ProviderDesign, parse_member
from migrate.plan.token_classes import MARK, BindingsIndex, ClassProgram, substitute

log = logging.getLogger(__name__)

OTHER_ENVIRONMENT = "wif-migrate-other-environment"


@dataclass(frozen=True)
class TokenCase:
    """One ID token a job could present. `ancestor_ids` are the namespaces above the project
    (top-level group first, the project's own namespace last): group variables reach them."""

    label: str
    project: str
    claims: Mapping[str, str]
    ancestor_ids: tuple[int, ...] = ()
    adversarial: str | None = None  # why this token exists: "look-alike namespace", ...


@dataclass(frozen=True)
class Exposure:
    """One variable holding a key of a service account: who could read it."""

    variable: str  # KeyVariable.ref
    level: str  # instance | group | project
    owner_id: int | None
    protected: bool = False
    environment_scope: str = "*"
    name: str = ""  # the variable's name: with the definitions, shadowing is resolved


def environment_matches(scope: str, environment: str | None) -> bool:
    """GitLab's environment-scope match for a concrete token (migrate.ci.variables, rule R3)."""
    return scope_match(scope, environment) == "always"


def exposure_admits(exposure: Exposure, case: TokenCase, definitions: Sequence[Definition] = ()) -> bool:
    """Could a job presenting `case` read the key through this variable? With `definitions`
    (every CI/CD variable known, key or not) the resolver decides, so a variable shadowed for
    that project, ref or environment does not count; candidates of an undecided resolution do."""
    if definitions and exposure.name:
        resolution = _resolution(exposure.name, case, definitions)
        if resolution.definite:
            return getattr(resolution.variable, "ref", None) == exposure.variable
        return any(getattr(c, "ref", None) == exposure.variable for c in resolution.candidates)
    claims = case.claims
    if exposure.level == "project":
        if str(exposure.owner_id) != claims.get("project_id"):
            return False
    elif exposure.level == "group" and exposure.owner_id not in case.ancestor_ids:
        return False
    if exposure.protected and claims.get("ref_protected") != "true":
        return False
    return environment_matches(exposure.environment_scope, claims.get("environment"))


def _resolution(name: str, case: TokenCase, definitions: Sequence[Definition]) -> Resolution:
    claims = case.claims
    place = Place(int(claims.get("project_id") or 0), case.project, case.ancestor_ids)
    protected = claims.get("ref_protected") == "true"
    context = RunContext("protected_branch" if protected else "unprotected_branch", claims.get("environment"))
    return resolve(name, place, context, definitions)


# ---------------------------------------------------------------------------------------------
# After: CEL mapping + condition + bindings


@dataclass(frozen=True)
class Mapped:
    accepted: bool
    reason: str
    subject: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


class ProviderEvaluator:
    """Compiled attribute mapping and condition of one provider design. Each program is compiled
    once and evaluated once per class of equivalent tokens (`migrate.plan.token_classes`): the same
    answers as evaluating every token, without the cost."""

    def __init__(self, mapping: Mapping[str, str], condition: str) -> None:
        self._env = celpy.Environment()
        self._mapping = {k: ClassProgram(self._env, v) for k, v in mapping.items()}
        self._condition = ClassProgram(self._env, condition, value_root=False)
        programs = [*self._mapping.values(), self._condition]
        # One class key for the whole token: the values every program inspects, and which read
        # claims are present. Claims only copied (by every program) are substituted afterwards.
        self._whole = not any(p.exact or p.reads.other_idents for p in programs)
        read = sorted({c for p in programs for c in p.reads.claims})
        inspected = {c for p in programs for c in p.reads.inspected}
        self._key_claims = tuple(read)
        self._key_inspected = tuple(c in inspected for c in read)
        self._copied = frozenset(c for c in read if c not in inspected)
        self._templates: dict[tuple[Any, ...], Any] = {}

    def evaluate(self, claims: Mapping[str, Any]) -> Mapped:
        """Map and check one token: from its class's template when the class is known."""
        if self._whole and all(isinstance(claims[c], str) for c in self._copied if c in claims):
            key = tuple(claims.get(c) if insp else (c in claims)
                        for c, insp in zip(self._key_claims, self._key_inspected, strict=True))
            try:
                template = self._templates.get(key)
            except TypeError:  # an unhashable inspected value
                return self._evaluate(claims)
            if template is None:
                marked = {k: (f"{MARK}{k}\x00" if k in self._copied else v) for k, v in claims.items()
                          if k in self._copied or k in self._key_claims}
                try:
                    template = self._evaluate(marked, check_length=False)
                except Exception:  # noqa: BLE001 - no template for this class: each token is evaluated
                    # exactly below, where a bug raises again and propagates
                    template = _NO_TEMPLATE
                if template is not _NO_TEMPLATE and MARK in template.reason:
                    template = _NO_TEMPLATE
                self._templates[key] = template
            if template is not _NO_TEMPLATE:
                return self._instantiate(template, claims)
        return self._evaluate(claims)

    def _instantiate(self, template: Mapped, claims: Mapping[str, Any]) -> Mapped:
        subject = substitute(template.subject, claims) if template.subject is not None else None
        attributes = {k: substitute(v, claims) for k, v in template.attributes.items()}
        if subject is not None and len(subject.encode("utf-8")) > SUBJECT_MAX_BYTES:
            return Mapped(False, f"google.subject is {len(subject.encode())} bytes (limit {SUBJECT_MAX_BYTES})",
                          subject, attributes)
        return Mapped(template.accepted, template.reason, subject, attributes)

    def _evaluate(self, claims: Mapping[str, Any], check_length: bool = True) -> Mapped:
        """Map and check one token, program by program (each cached by its own classes).
        `check_length=False`: a template (markers stand for copied values), checked when filled."""
        attributes: dict[str, Any] = {}
        subject: str | None = None
        for key, program in self._mapping.items():
            try:
                value = program.evaluate(claims)
            except celpy.CELEvalError as exc:  # STS refuses the token; anything else is a bug (exit 3)
                return Mapped(False, f"mapping {key} does not evaluate: {_short(exc)}")
            if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
                # STS: "The mapped attribute 'KEY' must be of type STRING." (unauthorized_client)
                return Mapped(False, f"mapped attribute {key} is a {type(value).__name__}, not a string: "
                                     "STS refuses the token")
            if key == "google.subject":
                subject = str(value)
            elif key.startswith("attribute."):
                attributes[key[len("attribute."):]] = value
        if subject is None:
            return Mapped(False, "the mapping has no google.subject")
        if check_length and len(subject.encode("utf-8")) > SUBJECT_MAX_BYTES:
            return Mapped(False, f"google.subject is {len(subject.encode())} bytes (limit {SUBJECT_MAX_BYTES})",
                          subject, attributes)
        extra = None
        if self._condition.reads.other_idents:
            extra = {"attribute": celpy.json_to_cel(attributes), "google": celpy.json_to_cel({"subject": subject})}
        try:
            ok = bool(self._condition.evaluate(claims, extra))
        except celpy.CELEvalError as exc:  # as above: only CEL's own evaluation failure is a refusal
            return Mapped(False, f"condition does not evaluate: {_short(exc)}", subject, attributes)
        if not ok:
            return Mapped(False, "rejected by the attribute condition", subject, attributes)
        return Mapped(True, "accepted", subject, attributes)


_NO_TEMPLATE: Any = object()


def _short(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text[:120]


def members_admit(pool: str, members: Iterable[str], mapped: Mapped) -> str | None:
    """The first member that admits the mapped token, or None (parses every member: for one
    token; the simulation uses `token_classes.BindingsIndex`, which gives the same answer)."""
    if not mapped.accepted:
        return None
    for text in members:
        p = parse_member(text)
        if p.kind == "other" or p.pool != pool:
            continue
        if p.kind == "pool":
            return text
        if p.kind == "subject" and mapped.subject == p.value:
            return text
        if p.kind == "attribute":
            value = mapped.attributes.get(p.name)
            values = value if isinstance(value, list) else [value]
            if p.value in [str(v) for v in values if v is not None]:
                return text
    return None


# ---------------------------------------------------------------------------------------------
# Token cases


@dataclass(frozen=True)
class ProjectFacts:
    """What a token of a project carries: ids, paths, ancestry."""

    id: int
    path: str
    namespace_id: int
    namespace_path: str
    ancestor_ids: tuple[int, ...] = ()
    default_branch: str = "main"


def claims_for(issuer: str, aud: str, project: ProjectFacts, ref: str, protected: bool,
               environment: str | None, ref_type: str = "branch", job_id: int = 1,
               pipeline_source: str = "push") -> dict[str, str]:
    """The claims GitLab puts in a job's ID token (gitlab.md §1), all strings."""
    claims = {
        "iss": issuer, "aud": aud,
        "sub": f"project_path:{project.path}:ref_type:{ref_type}:ref:{ref}",
        "project_id": str(project.id), "project_path": project.path,
        "namespace_id": str(project.namespace_id), "namespace_path": project.namespace_path,
        "user_id": "1", "user_login": "someone", "user_email": "someone@example.com",
        "pipeline_id": str(1000 + job_id), "pipeline_source": pipeline_source, "job_id": str(job_id),
        "ref": ref, "ref_type": ref_type, "ref_path": f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref}",
        "ref_protected": "true" if protected else "false",
        "runner_environment": "self-hosted",
    }
    if environment is not None:
        claims["environment"] = environment
        claims["environment_protected"] = "false"
    return claims


def token_cases(issuer: str, aud: str, projects: Sequence[ProjectFacts],
                environments: Iterable[str], adversarial_base: ProjectFacts | None = None,
                outside_namespace_id: int = 999_999_901) -> tuple[TokenCase, ...]:
    """Every project × {protected, unprotected ref} × {no environment, each scoped environment,
    another environment}, plus adversarial tokens modelled on `adversarial_base`."""
    envs: list[str | None] = [None, *sorted(set(environments)), OTHER_ENVIRONMENT]
    cases: list[TokenCase] = []
    job = 0
    for p in projects:
        for protected in (True, False):
            ref = p.default_branch if protected else "feature/unprotected"
            for env in envs:
                job += 1
                label = (f"{p.path} ({'protected' if protected else 'unprotected'} ref"
                         f"{'' if env is None else ', environment ' + env})")
                cases.append(TokenCase(label, p.path, claims_for(issuer, aud, p, ref, protected, env,
                                                                 job_id=job),
                                       p.ancestor_ids))
    if adversarial_base is not None:
        cases.extend(_adversarial(issuer, aud, adversarial_base, outside_namespace_id))
    return tuple(cases)


def _adversarial(issuer: str, aud: str, base: ProjectFacts, outside_ns: int) -> list[TokenCase]:
    top = base.namespace_path.split("/")[0]
    evil_ns = ProjectFacts(id=990_000_001, path=f"{top}-evil/{base.path.split('/')[-1]}",
                           namespace_id=outside_ns, namespace_path=f"{top}-evil",
                           ancestor_ids=(outside_ns,))
    fork = ProjectFacts(id=990_000_002, path=f"mallory/{base.path.split('/')[-1]}",
                        namespace_id=outside_ns + 1, namespace_path="mallory",
                        ancestor_ids=(outside_ns + 1,))
    deep_path = "/".join([top] + [f"subgroup-{i:02d}-with-a-long-name" for i in range(20)] + ["project"])
    deep = ProjectFacts(id=base.id, path=deep_path, namespace_id=base.namespace_id,
                        namespace_path=deep_path.rsplit("/", 1)[0], ancestor_ids=base.ancestor_ids)
    long_ref = ("release/" + "x" * 255)[:255]
    out = [
        TokenCase(f"look-alike namespace {evil_ns.path} (protected ref)", evil_ns.path,
                  claims_for(issuer, aud, evil_ns, "main", True, None), evil_ns.ancestor_ids,
                  "look-alike namespace"),
        TokenCase(f"fork merge-request pipeline from {fork.path} (unprotected ref)", fork.path,
                  claims_for(issuer, aud, fork, "patch-1", False, None, pipeline_source="merge_request_event"),
                  fork.ancestor_ids, "fork merge-request pipeline"),
    ]
    for protected in (True, False):
        out.append(TokenCase(
            f"{base.path} with a {len(long_ref)}-character ref and a {len(deep_path)}-character path "
            f"({'protected' if protected else 'unprotected'})", base.path,
            claims_for(issuer, aud, deep, long_ref, protected, None), base.ancestor_ids, "over-long ref"))
    return out


# ---------------------------------------------------------------------------------------------
# The simulation


@dataclass(frozen=True, slots=True)  # slots: one per (service account, token) — hundreds of thousands
class Verdict:
    case: str
    before: bool
    after: bool
    why_before: str = ""
    why_after: str = ""
    adversarial: str | None = None


class CaseTable:
    """What every service account's verdicts share about the token cases: labels, adversarial
    kinds and the refusal each token gets when no binding admits it — one copy per simulation,
    not one per (service account, token)."""

    __slots__ = ("labels", "kinds", "refusals")

    def __init__(self, labels: Sequence[str], kinds: Sequence[str | None], refusals: Sequence[str]) -> None:
        self.labels, self.kinds, self.refusals = tuple(labels), tuple(kinds), tuple(refusals)


class VerdictTable(Sequence[Verdict]):
    """One service account's verdicts, stored per token as two references (the variable the
    token reads the key through, the member admitting it) over a shared `CaseTable`: an
    organisation of 10,000 projects has 20 accounts × 40,000 tokens, and 800,000 `Verdict`
    objects with their own strings cost hundreds of megabytes (issue 18). A `Verdict` is made
    when one is asked for, equal to what the per-token simulation makes."""

    __slots__ = ("table", "reads", "admitted")

    def __init__(self, table: CaseTable, reads: Sequence[Exposure | None], admitted: Sequence[str | None]) -> None:
        self.table, self.reads, self.admitted = table, reads, admitted

    def __len__(self) -> int:
        return len(self.table.labels)

    def _verdict(self, i: int) -> Verdict:
        read, member = self.reads[i], self.admitted[i]
        return Verdict(self.table.labels[i], read is not None, member is not None,
                       f"reads {read.variable}" if read is not None else "",
                       f"admitted by {member}" if member else self.table.refusals[i],
                       self.table.kinds[i])

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self._verdict(k) for k in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._verdict(i)

    def __iter__(self) -> Iterator[Verdict]:
        return (self._verdict(i) for i in range(len(self)))

    def cases(self, before: bool | None = None, after: bool | None = None) -> tuple[str, ...]:
        """Labels of the tokens with these before/after answers (None: either), without Verdicts."""
        labels, reads, admitted = self.table.labels, self.reads, self.admitted
        return tuple(labels[i] for i in range(len(labels))
                     if (before is None or (reads[i] is not None) == before)
                     and (after is None or (admitted[i] is not None) == after))

    def adversarial(self) -> list[Verdict]:
        return [self._verdict(i) for i, kind in enumerate(self.table.kinds) if kind]


@dataclass(frozen=True, eq=False)
class Impersonation:
    """Per service account: the tokens admitted before and after, and any widening.
    `verdicts`: a tuple of `Verdict`, or the simulation's compact `VerdictTable`; two
    Impersonations are equal when their accounts and verdicts are."""

    service_account: str
    verdicts: Sequence[Verdict]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Impersonation):
            return NotImplemented
        return (self.service_account == other.service_account and len(self.verdicts) == len(other.verdicts)
                and all(a == b for a, b in zip(self.verdicts, other.verdicts, strict=True)))

    def __hash__(self) -> int:
        return hash((self.service_account, len(self.verdicts)))

    def _select(self, before: bool | None, after: bool | None) -> tuple[str, ...]:
        if isinstance(self.verdicts, VerdictTable):
            return self.verdicts.cases(before, after)
        return tuple(v.case for v in self.verdicts
                     if (before is None or v.before == before) and (after is None or v.after == after))

    @property
    def before(self) -> tuple[str, ...]:
        return self._select(True, None)

    @property
    def after(self) -> tuple[str, ...]:
        return self._select(None, True)

    @property
    def broader(self) -> tuple[str, ...]:
        """Tokens admitted after but not before: any entry makes the plan unsafe."""
        return self._select(False, True)

    @property
    def ok(self) -> bool:
        return not self.broader

    def to_row(self) -> ImpersonationRow:
        """The plan's row for this account (`Plan.impersonation`; docs/plan.md)."""
        adversarial = (self.verdicts.adversarial() if isinstance(self.verdicts, VerdictTable)
                       else [v for v in self.verdicts if v.adversarial])
        return ImpersonationRow(self.service_account, self.before, self.after, self.broader,
                                tuple(AdversarialToken(v.case, v.adversarial or "", v.after, v.why_after)
                                      for v in adversarial))


class CaseIndex:
    """Token cases by project id and by ancestor namespace: the cases a project or group variable
    can reach at all, so each exposure is tested only against those (`exposure_admits` still
    decides each one). Instance (and unknown) levels are tested against every case."""

    def __init__(self, cases: Sequence[TokenCase]) -> None:
        self.cases = cases
        self.by_project: dict[str, list[int]] = {}
        self.by_ancestor: dict[int, list[int]] = {}
        for i, c in enumerate(cases):
            self.by_project.setdefault(str(c.claims.get("project_id")), []).append(i)
            for a in dict.fromkeys(c.ancestor_ids):
                self.by_ancestor.setdefault(a, []).append(i)

    def candidates(self, exposure: Exposure) -> Iterable[int]:
        """A superset of the cases the exposure can admit (a variable known only by path: all)."""
        if exposure.owner_id is not None and exposure.level == "project":
            return self.by_project.get(str(exposure.owner_id), ())
        if exposure.owner_id is not None and exposure.level == "group":
            return self.by_ancestor.get(exposure.owner_id, ())
        return range(len(self.cases))

    def first_exposures(self, exposures: Sequence[Exposure],
                        admits: Callable[[Exposure, TokenCase], bool] = exposure_admits) -> list[Exposure | None]:
        """Per case, the first exposure (in order) that `admits` it — as trying each in turn."""
        first: list[Exposure | None] = [None] * len(self.cases)
        for e in exposures:
            for i in self.candidates(e):
                if first[i] is None and admits(e, self.cases[i]):
                    first[i] = e
        return first


@lru_cache(maxsize=8)
def _evaluator(mapping: tuple[tuple[str, str], ...], condition: str) -> ProviderEvaluator:
    return ProviderEvaluator(dict(mapping), condition)


def evaluator_for(design: ProviderDesign) -> ProviderEvaluator:
    return _evaluator(tuple(sorted(design.attribute_mapping.items())), design.attribute_condition)


def _audience_ok(claims: Mapping[str, Any], allowed: set[str]) -> bool:
    """STS accepts a token only if one of its `aud` values is an allowed audience (gcp.md §1)."""
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    return any(isinstance(a, str) and a.rstrip("/") in allowed for a in values)


def simulate(design: ProviderDesign, bindings: Mapping[str, Sequence[str]],
             exposures: Mapping[str, Sequence[Exposure]], cases: Sequence[TokenCase],
             definitions: Sequence[Definition] = ()) -> tuple[Impersonation, ...]:
    """Before/after for every service account that has exposures or bindings. `definitions`:
    every CI/CD variable known (keys and the variables that shadow them), for the resolver."""
    evaluator = evaluator_for(design)
    allowed = set(design.allowed_audiences)
    index = BindingsIndex(design.pool_name, bindings)
    # One pass over the tokens: map, then keep only which accounts admit it and the refusal — not
    # every token's mapped attributes at once (tens of megabytes at 10,000 projects, issue 18).
    admitting: list[dict[str, str] | None] = []
    refusals: list[str] = []
    for c in cases:
        m = (evaluator.evaluate(c.claims) if _audience_ok(c.claims, allowed)
             else Mapped(False, f"audience {c.claims.get('aud')!r} is not allowed by the provider"))
        admitting.append((index.admitting(m.subject, m.attributes) or None) if m.accepted else None)
        refusals.append(m.reason if not m.accepted else "no binding admits it")
    definition_index = DefinitionIndex(definitions)

    def admits(e: Exposure, case: TokenCase) -> bool:
        return exposure_admits(e, case, definition_index.for_place(e.name, Place(
            int(case.claims.get("project_id") or 0), case.project, case.ancestor_ids)) if definitions else ())

    case_index = CaseIndex(cases)
    # Per case, what does not depend on the service account (built once, not once per account).
    table = CaseTable([c.label for c in cases], [c.adversarial for c in cases], refusals)
    out = []
    for sa in sorted(set(bindings) | set(exposures)):
        firsts = case_index.first_exposures(exposures.get(sa, ()), admits)
        admitted = [by_sa.get(sa) if by_sa else None for by_sa in admitting]
        out.append(Impersonation(sa, VerdictTable(table, firsts, admitted)))
    return tuple(out)
