"""Which CI/CD variable value a job really receives: GitLab's variable resolution, pure.

Scan, plan, the who-can-impersonate simulation, verify and retire all ask this one module "for
this project, job, ref class and environment, which definition of variable NAME does the job get?"
so that shadowing, protection and environment scopes are modelled once. The rules, each with the
GitLab source or documentation it follows (tests/ci/test_variables.py has a literal case per rule):

R1  Precedence (doc/ci/variables/index.md "CI/CD variable precedence"; the order in which
    `Gitlab::Ci::Variables::Builder#scoped_variables` (lib/gitlab/ci/variables/builder.rb) concats
    collections, later entries winning in `Gitlab::Ci::Variables::Collection#to_hash`):
        YAML top-level `variables:` < YAML job `variables:` < instance < group (top-level group
        first, the closest subgroup last, so the closest wins) < project < pipeline variables
        (trigger, schedule, manual, API, downstream).
    So a YAML `variables:` entry never overrides a CI/CD variable of the same name, and a project
    variable shadows every group and instance variable of that name.
R2  Protected variables reach only jobs on protected refs: `variables.unprotected` unless
    `project.protected_for?(ref)` (app/models/project.rb `ci_variables_for` /
    `ci_instance_variables_for`), and `protected_for?` is true for protected branches *and*
    protected tags (`ProtectedBranch.protected?` / `ProtectedTag.protected?`). Merge-request
    pipelines run on `refs/merge-requests/IID/head`, which is no protected ref, so they get no
    protected variable — unless the project setting `protect_merge_request_pipelines` is on and
    both source and target branches are protected and the MR is not from a fork (GitLab MR
    !188008; the ID token's `ref_protected` claim follows the same rule). `RefClass` names the
    cases; only its `protected` flag matters here.
R3  `environment_scope` (app/models/concerns/ci/has_environment_scope.rb `on_environment`): a job
    without an environment gets only `*`-scoped variables (`where(environment_scope: '*')`); a job
    with one gets the variables whose scope is `*`, its exact name, or a glob whose `*` matches
    any characters (`Gitlab::SQL::Glob.to_like`: only `*` is special). The most specific wins,
    ordered `CASE scope WHEN '*' THEN 0 WHEN name THEN 2 ELSE 1`: exact > wildcard pattern > `*`.
    Two different wildcard patterns that both match tie at 1 and SQL leaves their order open, so
    GitLab's choice is not defined: we call that ambiguous. Instance variables have no scope.
R4  Dynamic environment names (`review/$CI_COMMIT_REF_SLUG`) are expanded at run time; a `$NAME`
    may become any text. A scope that matches every expansion ("always") or none ("never") is
    decided; one that matches some expansions ("maybe") makes the outcome ambiguous.
R5  File vs env_var: the job gets the winning definition *including its type* (a `file` variable
    is a path to a temporary file holding the value; an `env_var` is the value itself).
    doc/ci/variables/index.md "Use file type CI/CD variables". The type of a shadowed definition
    at another level does not matter.

The answer is data (`Resolution`): definite (one definition, or none) or ambiguous with the
candidates, so callers can send what cannot be decided to manual review with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol

RefClass = Literal["protected_branch", "protected_tag", "protected_merge_request",
                   "unprotected_branch", "unprotected_tag", "merge_request"]
# Every ref class a job may run in. `protected_merge_request` exists only where the project
# setting `protect_merge_request_pipelines` is on (R2); it behaves like a protected branch.
REF_CLASSES: tuple[RefClass, ...] = ("protected_branch", "protected_tag", "unprotected_branch",
                                     "unprotected_tag", "merge_request")
PROTECTED_CLASSES = frozenset({"protected_branch", "protected_tag", "protected_merge_request"})

Source = Literal["pipeline", "cicd", "yaml", "none"]
Match = Literal["always", "maybe", "never"]


class Definition(Protocol):
    """What the resolver needs of one CI/CD variable (`migrate.core.model.KeyVariable` fits)."""

    @property
    def level(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def owner_id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def protected(self) -> bool: ...
    @property
    def environment_scope(self) -> str: ...
    @property
    def variable_type(self) -> str: ...


@dataclass(frozen=True)
class Place:
    """Where a job runs: its project and the groups above it (top-level group first)."""

    project_id: int
    project_path: str = ""
    ancestor_ids: tuple[int, ...] = ()
    ancestor_paths: tuple[str, ...] = ()  # same order as ancestor_ids, when known


@dataclass(frozen=True)
class RunContext:
    """One way a job can run: ref class and environment name (None: the job has no environment;
    may hold `$VARIABLE`s that are expanded at run time)."""

    ref_class: RefClass = "protected_branch"
    environment: str | None = None

    @property
    def protected(self) -> bool:
        return self.ref_class in PROTECTED_CLASSES


@dataclass(frozen=True)
class Resolution:
    """What a job receives for one variable name.

    definite: `variable` is what it gets (None: no CI/CD variable of that name; `source` says
    whether a pipeline variable, a YAML value or nothing is what it gets instead).
    not definite: GitLab's choice depends on run-time values or is undefined; `candidates` are the
    definitions it may get (`maybe_none`: possibly none of them) and `reason` says why.
    """

    name: str
    definite: bool
    variable: Definition | None = None
    source: Source = "none"
    candidates: tuple[Definition, ...] = ()
    maybe_none: bool = False
    reason: str = ""

    @property
    def variable_type(self) -> str | None:
        """R5: the type of the definition received (None when none is)."""
        return self.variable.variable_type if self.variable is not None else None


@dataclass(frozen=True)
class _Layer:
    label: str
    defs: tuple[Definition, ...] = field(default_factory=tuple)


def resolve(name: str, place: Place, context: RunContext, definitions: Iterable[Definition],
            pipeline_variables: frozenset[str] = frozenset(), yaml_defined: bool = False) -> Resolution:
    """The definition of `name` a job at `place` receives in `context` (rules R1–R5).

    `definitions` may hold variables of any owner and name; those that do not reach `place` are
    ignored. `pipeline_variables` are names set for the pipeline (trigger, schedule, manual run):
    they win over every CI/CD variable (R1). `yaml_defined`: the job's YAML defines `name`, which
    only matters when no CI/CD variable does (R1).
    """
    if name in pipeline_variables:
        return Resolution(name, True, None, "pipeline", reason="set as a pipeline variable, which "
                          "overrides every CI/CD variable")
    candidates: list[Definition] = []
    reasons: list[str] = []
    for layer in reversed(_layers(name, place, definitions)):  # project, closest group, …, instance
        outcome = _layer_outcome(layer, context)
        if outcome is None:
            continue
        if outcome.definite and not candidates:
            return outcome
        if outcome.definite:  # a layer above may or may not give something: this one otherwise
            assert outcome.variable is not None
            candidates.append(outcome.variable)
            return Resolution(name, False, None, "cicd", tuple(dict.fromkeys(candidates)), reason=reasons[0])
        candidates.extend(outcome.candidates)
        reasons.append(outcome.reason)
        if not outcome.maybe_none:
            return Resolution(name, False, None, "cicd", tuple(dict.fromkeys(candidates)), reason=reasons[0])
    if candidates:
        return Resolution(name, False, None, "cicd", tuple(dict.fromkeys(candidates)), maybe_none=True,
                          reason=reasons[0])
    if yaml_defined:
        return Resolution(name, True, None, "yaml", reason="only the CI file's variables: defines it")
    return Resolution(name, True, None, "none", reason="no CI/CD variable of this name reaches the job")


def _layers(name: str, place: Place, definitions: Iterable[Definition]) -> list[_Layer]:
    """R1: the owners whose variables reach `place`, lowest precedence first."""
    instance: list[Definition] = []
    groups: dict[int, list[Definition]] = {i: [] for i in range(len(place.ancestor_ids))}
    project: list[Definition] = []
    by_id = {gid: i for i, gid in enumerate(place.ancestor_ids)}
    by_path = {path: i for i, path in enumerate(place.ancestor_paths)}
    for d in definitions:
        if d.name != name:
            continue
        if d.level == "instance":
            instance.append(d)
        elif d.level == "project":
            if (d.owner_id is not None and d.owner_id == place.project_id) or \
                    (d.owner_id is None and d.owner and d.owner == place.project_path):
                project.append(d)
        elif d.level == "group":
            index = by_id.get(d.owner_id) if d.owner_id is not None else by_path.get(d.owner)
            if index is not None:
                groups.setdefault(index, []).append(d)
    layers = [_Layer("instance", tuple(instance))]
    layers += [_Layer(f"group {place.ancestor_paths[i] if i < len(place.ancestor_paths) else place.ancestor_ids[i]}",
                      tuple(groups[i])) for i in sorted(groups)]
    layers.append(_Layer("project", tuple(project)))
    return [layer for layer in layers if layer.defs]


def _layer_outcome(layer: _Layer, context: RunContext) -> Resolution | None:
    """R2–R4 within one owner: None when no definition of the layer can reach the job."""
    env = context.environment
    scored: list[tuple[Definition, Match, int]] = []
    for d in layer.defs:
        if d.protected and not context.protected:
            continue  # R2
        scope = "*" if d.level == "instance" else (d.environment_scope or "*")
        match = scope_match(scope, env)
        if match != "never":
            scored.append((d, match, _specificity(scope, env)))
    if not scored:
        return None
    name = scored[0][0].name
    always = [(d, s) for d, m, s in scored if m == "always"]
    maybe = [d for d, m, _ in scored if m == "maybe"]
    best = max((s for _, s in always), default=-1)
    winners = [d for d, s in always if s == best]
    if not maybe and len(winners) == 1:
        return Resolution(name, True, winners[0], "cicd")
    if not maybe:
        scopes = ", ".join(sorted(repr(d.environment_scope) for d in winners))
        return Resolution(name, False, None, "cicd", tuple(winners),
                          reason=f"{layer.label} defines {name} with the scopes {scopes}, which all match "
                                 f"environment {env!r} equally; GitLab does not define which one wins")
    # Dynamic environment: a 'maybe' scope that outranks the best 'always' one may take over.
    candidates = tuple(dict.fromkeys([*winners, *maybe]))
    return Resolution(name, False, None, "cicd", candidates, maybe_none=not winners,
                      reason=f"environment {env!r} is named at run time; {layer.label}'s {name} scoped "
                             + ", ".join(sorted(repr(d.environment_scope) for d in maybe))
                             + " may or may not apply")


def _specificity(scope: str, environment: str | None) -> int:
    """R3: `CASE scope WHEN '*' THEN 0 WHEN name THEN 2 ELSE 1`."""
    if scope == "*":
        return 0
    if environment is not None and scope == environment and "$" not in environment:
        return 2
    return 1


def is_dynamic(environment: str | None) -> bool:
    """An environment name GitLab expands at run time (holds a `$VARIABLE`)."""
    return environment is not None and "$" in environment


def scope_match(scope: str, environment: str | None) -> Match:
    """Does `environment_scope` apply to a job with `environment` (R3, R4)?"""
    if scope == "*":
        return "always"
    if environment is None:
        return "never"
    if not is_dynamic(environment):
        return "always" if _glob_match(scope, environment) else "never"
    template = _template_glob(environment)
    if not _globs_intersect(scope, template):
        return "never"
    if _glob_covers(scope, template):
        return "always"
    return "maybe"


def _template_glob(environment: str) -> str:
    """`review/$CI_COMMIT_REF_SLUG` → `review/*` (a literal `*` in a name is rare; kept as `*`)."""
    out: list[str] = []
    i = 0
    while i < len(environment):
        ch = environment[i]
        if ch == "$" and i + 1 < len(environment) and (environment[i + 1] == "{" or
                                                       environment[i + 1].isalnum() or environment[i + 1] == "_"):
            if environment[i + 1] == "{":
                end = environment.find("}", i)
                i = end + 1 if end != -1 else len(environment)
            else:
                i += 1
                while i < len(environment) and (environment[i].isalnum() or environment[i] == "_"):
                    i += 1
            if not out or out[-1] != "*":
                out.append("*")
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def _glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters (also `/`); everything else is literal (SQL LIKE of
    `Gitlab::SQL::Glob.to_like`, which escapes `%` and `_`)."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == text
    if not text.startswith(parts[0]) or not text[len(parts[0]):].endswith(parts[-1]) \
            or len(text) < len(parts[0]) + len(parts[-1]):
        return False
    pos, end = len(parts[0]), len(text) - len(parts[-1])
    for part in parts[1:-1]:
        found = text.find(part, pos, end)
        if found == -1:
            return False
        pos = found + len(part)
    return True


@lru_cache(maxsize=4096)
def _globs_intersect(a: str, b: str) -> bool:
    """Is there a string both star-globs match?"""
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(a) and j == len(b):
            result = True
        elif i < len(a) and a[i] == "*":
            result = go(i + 1, j) or (j < len(b) and go(i, j + 1))
        elif j < len(b) and b[j] == "*":
            result = go(i, j + 1) or (i < len(a) and go(i + 1, j))
        elif i < len(a) and j < len(b) and a[i] == b[j]:
            result = go(i + 1, j + 1)
        else:
            result = False
        memo[key] = result
        return result

    return go(0, 0)


def _glob_covers(scope: str, template: str) -> bool:
    """Does `scope` match every string `template` matches? Decided only in the shapes where it is
    certain (equal globs, `*`, a `prefix*` scope and a template starting with that prefix);
    anything else counts as not covered, which makes the caller conservative."""
    if scope == "*" or scope == template:
        return True
    if "*" not in template:
        return _glob_match(scope, template)
    if scope.count("*") == 1 and scope.endswith("*"):
        literal_prefix = template.split("*", 1)[0]
        return literal_prefix.startswith(scope[:-1])
    return False


def contexts_for(environment: str | None,
                 ref_classes: Sequence[RefClass] = REF_CLASSES) -> tuple[RunContext, ...]:
    """Every context a job with this environment may run in (its rules are not narrowed here)."""
    return tuple(RunContext(r, environment) for r in ref_classes)


class DefinitionIndex:
    """Definitions by (name, owner), so resolving for one place looks only at the owners that
    reach it (an organisation can hold thousands of same-named project variables)."""

    def __init__(self, definitions: Iterable[Definition]) -> None:
        self._by: dict[tuple[str, str, object], list[Definition]] = {}
        for d in definitions:
            owner: object = d.owner_id if d.owner_id is not None else d.owner
            if d.level == "instance":
                owner = None
            self._by.setdefault((d.name, d.level, owner), []).append(d)

    def for_place(self, name: str, place: Place) -> list[Definition]:
        """The definitions of `name` that can reach a job at `place` (any ref, any environment)."""
        out = list(self._by.get((name, "instance", None), ()))
        for i, gid in enumerate(place.ancestor_ids):
            out += self._by.get((name, "group", gid), ())
            if i < len(place.ancestor_paths) and place.ancestor_paths[i]:
                out += self._by.get((name, "group", place.ancestor_paths[i]), ())
        out += self._by.get((name, "project", place.project_id), ())
        if place.project_path:
            out += self._by.get((name, "project", place.project_path), ())
        return out
