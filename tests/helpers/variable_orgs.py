"""Generated organisations of same-named CI/CD variables and the brute-force oracle of what each
job receives: groups and subgroups (`GROUPS`), projects whose jobs (some with environments, some
named at run time) read a key variable, same-named variables at several levels with environment
scopes, wildcards and protected flags (`Def`, `Job`, `Project`, `Org`; the hypothesis strategy
`orgs()`). `oracle`/`received` are an independent reading of GitLab's rules
(doc/ci/variables/index.md; see migrate/ci/variables.py for the sources) over concrete environment
names; `ci_text` and `inventory` are each organisation's CI files and scan inventory. Used by the
effective-properties and context-accounts tests."""

import fnmatch
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from helpers.plan_fixtures import confirmed, ident
from migrate import ci
from migrate.core.codec import decode_time
from migrate.core.model import GroupRecord, Inventory, KeyUsage, KeyVariable, ProjectRecord
from migrate.scan.link import job_table, usage_runs

NAMES = ("K1", "K2")
SCOPES = ("*", "production", "staging", "review/*")
ENVS = (None, "production", "staging", "review/app", "review/$CI_COMMIT_REF_SLUG")
EXPANSIONS = ("main", "feature-x")  # what $CI_COMMIT_REF_SLUG may become
TOKEN_ENVS = (None, "production", "staging", "review/app", "review/main", "review/feature-x", "other")
GROUPS = {100: ("acme", None), 101: ("acme/a", 100), 102: ("acme/a/b", 101), 103: ("acme/c", 100)}


@dataclass(frozen=True)
class Def:
    level: str
    owner_id: int | None
    name: str
    scope: str
    protected: bool
    sa: str | None  # the key's service account; None: a variable holding no key


@dataclass(frozen=True)
class Job:
    name: str
    env: str | None
    var: str


@dataclass(frozen=True)
class Project:
    id: int
    group: int
    jobs: tuple[Job, ...]

    @property
    def path(self) -> str:
        return f"{GROUPS[self.group][0]}/p{self.id}"

    @property
    def ancestors(self) -> tuple[int, ...]:
        chain, gid = [], self.group
        while gid is not None:
            chain.append(gid)
            gid = GROUPS[gid][1]
        return tuple(reversed(chain))


@dataclass(frozen=True)
class Org:
    projects: tuple[Project, ...]
    defs: tuple[Def, ...]


# --- generation ----------------------------------------------------------------------------------

def _jobs() -> st.SearchStrategy[tuple[Job, ...]]:
    job = st.tuples(st.sampled_from(ENVS), st.sampled_from(NAMES))
    return st.lists(job, min_size=1, max_size=3).map(
        lambda js: tuple(Job(f"job{i}", env, var) for i, (env, var) in enumerate(js)))


@st.composite
def orgs(draw: Any) -> Org:
    n = draw(st.integers(1, 4))
    projects = tuple(Project(1001 + i, draw(st.sampled_from(sorted(GROUPS))), draw(_jobs())) for i in range(n))
    owners: list[tuple[str, int | None]] = [("instance", None)] + [("group", g) for g in GROUPS] + \
        [("project", p.id) for p in projects]
    raw = draw(st.lists(st.tuples(st.sampled_from(owners), st.sampled_from(NAMES), st.sampled_from(SCOPES),
                                  st.booleans(), st.integers(0, 4)), min_size=1, max_size=9))
    defs: dict[tuple[str, int | None, str, str], Def] = {}
    for (level, owner), name, scope, protected, key in raw:
        scope = "*" if level == "instance" else scope  # instance variables have no scope
        sa = None if key == 0 else f"sa{len(defs)}@acme-prod.iam.gserviceaccount.com"
        defs.setdefault((level, owner, name, scope), Def(level, owner, name, scope, protected, sa))
    return Org(projects, tuple(defs.values()))


# --- the oracle (independent of migrate.ci.variables) --------------------------------------------

def oracle(org: Org, project: Project, name: str, protected: bool, env: str | None) -> Def | None:
    """GitLab's rules for one concrete context: project > closest group > … > instance; protected
    variables on protected refs only; `*` for jobs without environment; exact > pattern > `*`."""
    levels: list[tuple[str, int | None]] = [("project", project.id)] + \
        [("group", g) for g in reversed(project.ancestors)] + [("instance", None)]
    for level, owner in levels:
        found = [d for d in org.defs if d.level == level and d.owner_id == owner and d.name == name
                 and (protected or not d.protected) and _matches(d.scope, env)]
        if found:
            return max(found, key=lambda d: 0 if d.scope == "*" else 2 if d.scope == env else 1)
    return None


def _matches(scope: str, env: str | None) -> bool:
    if scope == "*":
        return True
    # Only `*` is special (Gitlab::SQL::Glob.to_like); fnmatch's `?`/`[` never occur in SCOPES.
    return env is not None and fnmatch.fnmatchcase(env, scope)


def concrete(env: str | None) -> list[str | None]:
    if env is None or "$" not in env:
        return [env]
    return [env.replace("$CI_COMMIT_REF_SLUG", s) for s in EXPANSIONS]


def received(org: Org, project: Project, job: Job) -> set[tuple[bool, str | None, str]]:
    """(protected, concrete environment, service account) of every key the job may receive."""
    out = set()
    for protected in (True, False):
        for env in concrete(job.env):
            d = oracle(org, project, job.var, protected, env)
            if d is not None and d.sa is not None:
                out.add((protected, env, d.sa))
    return out


# --- the plan under test ---------------------------------------------------------------------------

def ci_text(project: Project) -> str:
    out = []
    for job in project.jobs:
        out.append(f"{job.name}:\n")
        if job.env is not None:
            out.append(f"  environment: {job.env}\n")
        out.append(f"  script:\n    - gcloud auth activate-service-account --key-file \"${job.var}\"\n"
                   "    - gcloud storage ls\n")
    return "".join(out)


def inventory(org: Org) -> Inventory:
    projects, usages = [], []
    for p in org.projects:
        projects.append(ProjectRecord(p.id, p.path, p.group, GROUPS[p.group][0], p.ancestors, "main"))
        analysis = ci.analyze(ci_text(p), ".gitlab-ci.yml", frozenset(NAMES))
        table = job_table([[(j.name, j.extends, j.environment) for j in analysis.jobs]])
        for f in analysis.findings:
            if f.variable:
                usages.append(KeyUsage(p.path, ".gitlab-ci.yml", "main", f, (p.path,),
                                       runs=tuple(usage_runs(p.path, f.jobs, table))))
    keyed, others = [], []
    for i, d in enumerate(org.defs):
        owner = "" if d.level == "instance" else GROUPS[d.owner_id][0] if d.level == "group" else \
            next(p.path for p in org.projects if p.id == d.owner_id)
        var = KeyVariable(d.level, owner, d.owner_id, d.name, "file", protected=d.protected,  # type: ignore[arg-type]
                          environment_scope=d.scope, key=ident(d.sa, f"{i:02d}" * 20) if d.sa else None)
        (keyed if d.sa else others).append(var)
    return Inventory("https://gitlab.acme.example", "17.5.0", decode_time("2026-01-01T00:00:00Z"), tuple(projects),
                     tuple(keyed), tuple(usages), tuple(confirmed(v.key) for v in keyed if v.key),
                     groups=tuple(GroupRecord(g, path, parent) for g, (path, parent) in GROUPS.items()),
                     other_variables=tuple(others))
