"""Pure linking: which key variable does a CI usage read, and which hidden variables are keys.

Which variable a job reads is decided by the one resolver, `migrate.ci.variables.resolve`
(GitLab's precedence, protected refs, environment scopes, run-time environment names; its
docstring cites the sources). A usage links to every key variable its jobs may read on a protected
or an unprotected ref: the planner later resolves each (job, ref class) itself from the inventory
(`KeyUsage.runs`, `Inventory.other_variables`), so these links are for the inventory and report.

A usage whose variable is not visible, or resolves to a variable that holds no key, is reported
(a warning), not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from migrate.ci.variables import Place, RunContext, scope_match
from migrate.ci.variables import resolve as resolve_variable
from migrate.core.model import CIFinding, KeyVariable, Problem, ProjectRecord, UsageRun, VariableLevel

# Names people give key variables (used only for hidden variables, whose value we cannot read).
_KEY_NAME_RE = re.compile(
    r"GCP|GCLOUD|GOOGLE|GKE|GCS|BIGQUERY|FIREBASE|SERVICE_?ACCOUNT|(^|_)SA(_|$)|CREDENTIAL|KEY_?FILE|"
    r"JSON_?KEY|KEY_?JSON|(^|_)KEY$"
)

OwnerKey = tuple[VariableLevel, int | None]


@dataclass(frozen=True)
class VarEntry:
    """One variable as linking needs it. `key_ref` is the KeyVariable.ref when it holds a key."""

    name: str
    scope: str
    key_ref: str | None = None
    protected: bool = False


@dataclass(frozen=True)
class _Definition:
    """A VarEntry as `migrate.ci.variables.resolve` reads it."""

    level: str
    owner_id: int | None
    entry: VarEntry
    owner: str = ""
    variable_type: str = "env_var"

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def protected(self) -> bool:
        return self.entry.protected

    @property
    def environment_scope(self) -> str:
        return self.entry.scope


def looks_like_key_name(name: str) -> bool:
    return _KEY_NAME_RE.search(name.upper()) is not None


UNKNOWN_ENVIRONMENT = "$unknown"  # any scope may apply (dynamic names, template jobs)


def scope_matches(scope: str, environment: str | None) -> bool:
    """Can an `environment_scope` apply to a job with this environment (None: no environment)?
    A run-time name (`review/$SLUG`) may match any scope its fixed parts allow."""
    return scope_match(scope, environment) != "never"


def levels_for(project: ProjectRecord) -> list[OwnerKey]:
    """Variable owners in precedence order: project, closest group … top group, instance."""
    owners: list[OwnerKey] = [("project", project.id)]
    owners += [("group", gid) for gid in reversed(project.ancestor_ids)]
    owners.append(("instance", None))
    return owners


def resolve(name: str, environment: str | None, project: ProjectRecord,
            index: Mapping[OwnerKey, list[VarEntry]]) -> list[VarEntry]:
    """The variable(s) named `name` a job of `project` with `environment` may read, on a protected
    or an unprotected ref — decided by the one resolver (`migrate.ci.variables.resolve`); where
    GitLab's choice is undecided (run-time environment names), every candidate."""
    defs = [_Definition(level, owner_id, e) for level, owner_id in levels_for(project)
            for e in index.get((level, owner_id), ()) if e.name == name]
    place = Place(project.id, project.path, tuple(project.ancestor_ids))
    found: dict[int, VarEntry] = {}
    for ref_class in ("protected_branch", "unprotected_branch"):
        r = resolve_variable(name, place, RunContext(ref_class, environment), defs)
        for d in ([r.variable] if r.definite and r.variable is not None else list(r.candidates)):
            if isinstance(d, _Definition):
                found.setdefault(id(d.entry), d.entry)
    return list(found.values())


def link(finding: CIFinding, environments: Mapping[str, str | None], consumer: ProjectRecord,
         index: Mapping[OwnerKey, list[VarEntry]], subject: str) -> tuple[list[str], list[Problem]]:
    """KeyVariable refs a usage reads when run in `consumer`'s pipeline, and what did not link."""
    if not finding.variable:
        return [], []
    refs: set[str] = set()
    problems: list[Problem] = []
    # Hidden jobs (`.name`) never run; the jobs that extend them are listed too. When only hidden
    # jobs are known (a template whose consumers extend it), the environment is unknown.
    running = tuple(j for j in finding.jobs if not j.startswith("."))
    jobs = running or (("",) if not finding.jobs else finding.jobs)
    for job in jobs:
        env = environments.get(job) if job else None
        if job.startswith("."):
            env = UNKNOWN_ENVIRONMENT
        found = resolve(finding.variable, env, consumer, index)
        keys = [v.key_ref for v in found if v.key_ref]
        refs.update(keys)
        shown_env = env if env and env != UNKNOWN_ENVIRONMENT else None
        where = f"in {consumer.path}" + (f" (job {job}" + (f", environment {shown_env})" if shown_env else ")")
                                         if job else "")
        if not found:
            problems.append(Problem(subject, f"${finding.variable} {where}: no such variable visible to the "
                                    "project (defined in CI, at a level we could not read, or missing)",
                                    "warning"))
        elif not keys:
            problems.append(Problem(subject, f"${finding.variable} {where}: the variable it reads holds no "
                                    "service-account key", "warning"))
    return sorted(refs), problems


def visible_to(var: KeyVariable, project: ProjectRecord) -> bool:
    if var.level == "instance":
        return True
    if var.level == "group":
        return var.owner_id in project.ancestor_ids
    return var.owner_id == project.id


def suspect_hidden(hidden: Iterable[KeyVariable], projects: Iterable[ProjectRecord],
                   key_names: Mapping[int, frozenset[str]]) -> list[KeyVariable]:
    """Hidden variables that look like keys by name AND that CI below them uses as a key.

    `key_names` maps project id → variable names its pipeline uses like a key file.
    """
    projects = list(projects)
    out = []
    for var in hidden:
        if not looks_like_key_name(var.name):
            continue
        users = sorted(p.path for p in projects if var.name in key_names.get(p.id, frozenset())
                       and visible_to(var, p))
        if not users:
            continue
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        reason = (f"hidden variable (GitLab does not return its value); its name looks like a key and CI "
                  f"uses it as a key in {shown}")
        out.append(replace(var, suspected_reason=reason))
    return out


# --- effective jobs ---------------------------------------------------------------------------

JobRow = tuple[str, tuple[str, ...], str | None]  # (job, extends, its own environment)
JobTable = dict[str, tuple[tuple[str, ...], str | None]]


def job_table(files: Iterable[Iterable[JobRow]]) -> JobTable:
    """The jobs of one project's merged configuration, from its files in discovery order (own
    file first, then includes). GitLab deep-merges the included files in order and the project's
    own file over them (doc/ci/yaml/includes.md "Merge method for include"), so a job key set in
    the own file wins, then the last include that sets it."""
    rows = [list(f) for f in files]
    ordered = rows[:1] + list(reversed(rows[1:]))
    table: JobTable = {}
    for file_rows in ordered:
        for name, extends, env in file_rows:
            old_ext, old_env = table.get(name, ((), None))
            table[name] = (old_ext or tuple(extends), old_env if old_env is not None else env)
    return table


def _environment_of(name: str, table: JobTable, depth: int = 0) -> str | None:
    """A job's environment: its own, else inherited through `extends` (a later parent wins;
    GitLab allows 11 levels of extends, lib/gitlab/ci/config/extendable/entry.rb MAX_NESTING_LEVELS)."""
    extends, env = table.get(name, ((), None))
    if env is not None or depth > 11:
        return env
    for parent in reversed(extends):
        found = _environment_of(parent, table, depth + 1)
        if found is not None:
            return found
    return None


def _ancestors(name: str, table: JobTable) -> set[str]:
    seen: set[str] = set()
    stack = list(table.get(name, ((), None))[0])
    while stack and len(seen) < 64:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack.extend(table.get(parent, ((), None))[0])
    return seen


def usage_runs(consumer: str, finding_jobs: Iterable[str], table: JobTable) -> list[UsageRun]:
    """The running jobs of `consumer` that run a usage found in `finding_jobs` (jobs of the file
    it is written in, hidden ones included), with their environments. A finding job no running job
    of the consumer is or extends is returned with `known=False` (e.g. copied with `!reference`)."""
    wanted = set(finding_jobs)
    runs = []
    covered: set[str] = set()
    for name in sorted(table):
        if name.startswith("."):
            continue
        hit = ({name} | _ancestors(name, table)) & wanted
        if hit:
            covered |= hit
            runs.append(UsageRun(consumer, name, _environment_of(name, table)))
    for job in sorted(wanted - covered):
        if not any(r.job == job for r in runs):
            runs.append(UsageRun(consumer, job, None, known=False))
    if not wanted:
        runs.append(UsageRun(consumer, "", None, known=False))
    return runs
