"""Property: over generated organisations (groups, subgroups, projects, same-named variables at
several levels, environment scopes with wildcards, protected flags, jobs with environments, some
named at run time), the plan built with the real CI rewriter

  (a) binds a service account only for (project, ref protection, environment) tokens whose jobs
      receive a key of that account under a name the project's CI uses as a key — and the project
      does use it;
  (b) rewrites a job only to sign in as the account of the key it received before, in every
      context in which it received one;
  (c) rewrites a job only when a binding admits it in every context in which it received a key;
  (d) is never refused by the who-can-impersonate check (bindings come from the same model).

The oracle is this file's own brute-force reading of GitLab's rules (doc/ci/variables/index.md;
see migrate/ci/variables.py for the sources), independent of the code under test, over concrete
environment names. `test_a_wrong_resolver_is_caught` swaps the planner's resolver for one that
lets group variables win over project variables and shows the property fails.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from helpers.plan_fixtures import NUMBER, config, confirmed, ident
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migrate.ci.variables as variables_mod
import migrate.plan.impersonation as impersonation_mod
import migrate.plan.receipts as receipts_mod
from migrate import ci
from migrate.core.model import CIFinding, GroupRecord, Inventory, KeyUsage, KeyVariable, ProjectRecord
from migrate.plan.federation_design import parse_member
from migrate.plan.planner import PlanFacts, PlanRefusedError, build_plan, default_rewriter
from migrate.plan.ports import FileText
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
    return Inventory("https://gitlab.acme.example", "17.5.0", "2026-01-01T00:00:00Z", tuple(projects),
                     tuple(keyed), tuple(usages), tuple(confirmed(v.key) for v in keyed if v.key),
                     groups=tuple(GroupRecord(g, path, parent) for g, (path, parent) in GROUPS.items()),
                     other_variables=tuple(others))


def plan_for(org: Org) -> dict[str, Any]:
    inv = inventory(org)
    files = {(p.path, ".gitlab-ci.yml", "main"): FileText(ci_text(p), f"b{p.id}", f"c{p.id}") for p in org.projects}
    result = build_plan(inv, config(), PlanFacts(NUMBER, files=files), default_rewriter())
    return {"actions": [a for a in result.plan.actions], "impersonation": result.plan.impersonation}


def admits(member: str, project: Project, protected: bool, env: str | None) -> bool:
    p = parse_member(member)
    prot = "protected" if protected else "unprotected"
    values = {"project_id": str(project.id), "project_protected": f"{project.id}:{prot}",
              "project_environment": f"{project.id}:{env or ''}",
              "project_protected_environment": f"{project.id}:{prot}:{env or ''}"}
    return p.kind == "attribute" and values.get(p.name) == p.value


def check(org: Org) -> None:
    """Properties (a)–(d) for one organisation; AssertionError names the violation."""
    try:
        plan = plan_for(org)
    except PlanRefusedError as exc:
        raise AssertionError(f"(d) plan refused: {exc}") from None
    bindings = {a.params.service_account: list(a.params.members) for a in plan["actions"]
                if a.kind == "ensure_binding"}
    by_path = {p.path: p for p in org.projects}
    for sa, members in bindings.items():  # (a)
        for p in org.projects:
            uses = any(sa in {s for _, _, s in received(org, p, j)} for j in p.jobs)
            for protected in (True, False):
                for env in TOKEN_ENVS:
                    if not any(admits(m, p, protected, env) for m in members):
                        continue
                    gets = {d.sa for name in {j.var for j in p.jobs}
                            if (d := oracle(org, p, name, protected, env)) is not None}
                    assert uses and sa in gets, (f"(a) {sa} admits {p.path} protected={protected} env={env} "
                                                 f"which receives {gets} (uses: {uses})")
    for a in plan["actions"]:
        if a.kind != "merge_request":
            continue
        p = by_path[a.params.project]
        doc = yaml.safe_load(a.params.new_content)
        for job in p.jobs:
            script = " ".join(str(s) for s in doc[job.name].get("before_script", []) + doc[job.name]["script"])
            m = re.search(r"--service-account=(\S+)", script) or re.search(r"serviceAccounts/([^:]+):generate", script)
            got = received(org, p, job)
            if not got:
                continue
            assert m, f"(b) {p.path} {job.name} was rewritten without a service account: {script}"
            account = m.group(1).strip("'\"")
            for protected, env, sa in got:  # (b) and (c)
                assert account == sa, (f"(b) {p.path} {job.name} signs in as {account} but received {sa} "
                                       f"(protected={protected}, env={env})")
                assert any(admits(mm, p, protected, env) for mm in bindings.get(sa, ())), (
                    f"(c) {p.path} {job.name} was rewritten but no binding on {sa} admits it "
                    f"(protected={protected}, env={env})")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orgs())
def test_bindings_and_rewrites_follow_what_each_job_receives(org: Org) -> None:
    check(org)


# --- the property can fail -----------------------------------------------------------------------

# Two projects of one group: p1001 has its own K1 (key sa-own), the group's K1 holds sa-group.
SHADOWED = Org(
    (Project(1001, 100, (Job("job0", None, "K1"),)), Project(1002, 100, (Job("job0", None, "K1"),))),
    (Def("group", 100, "K1", "*", False, "group@acme-prod.iam.gserviceaccount.com"),
     Def("project", 1001, "K1", "*", False, "own@acme-prod.iam.gserviceaccount.com")))


def _group_wins(real: Callable[..., Any]) -> Callable[..., Any]:
    """A deliberately wrong resolver: group variables win over project variables."""
    def wrong(name: str, place: Any, context: Any, definitions: Any, **kw: Any) -> Any:
        defs = list(definitions)
        groups = [d for d in defs if d.level == "group"]
        return real(name, place, context, groups or defs, **kw)
    return wrong


def test_a_wrong_resolver_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    check(SHADOWED)  # the real resolver passes
    # Wrong in the planner only: the who-can-impersonate check (same model, real resolver) refuses.
    monkeypatch.setattr(receipts_mod, "resolve", _group_wins(variables_mod.resolve))
    with pytest.raises(AssertionError, match=r"\(d\) plan refused"):
        check(SHADOWED)
    # Wrong everywhere (planner and simulation agree): the oracle still catches the wrong account.
    monkeypatch.setattr(impersonation_mod, "resolve", _group_wins(variables_mod.resolve))
    with pytest.raises(AssertionError, match=r"\((a|b)\)"):
        check(SHADOWED)


def test_generated_organisations_catch_the_wrong_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the hand-made case: among generated organisations the property finds a violation."""
    monkeypatch.setattr(receipts_mod, "resolve", _group_wins(variables_mod.resolve))
    monkeypatch.setattr(impersonation_mod, "resolve", _group_wins(variables_mod.resolve))
    failures: list[str] = []

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(orgs())
    def search(org: Org) -> None:
        if failures:
            return
        try:
            check(org)
        except AssertionError as exc:
            failures.append(str(exc))

    search()
    assert failures, "no generated organisation exposed a resolver that lets group variables win"


def test_finding_jobs_are_the_jobs_that_run_them() -> None:
    """Sanity of the generator: every generated job is a finding of its file (so (b) is checked)."""
    p = Project(1001, 100, (Job("job0", "production", "K1"), Job("job1", None, "K2")))
    analysis = ci.analyze(ci_text(p), ".gitlab-ci.yml", frozenset(NAMES))
    assert {j for f in analysis.findings if isinstance(f, CIFinding) for j in f.jobs} == {"job0", "job1"}
