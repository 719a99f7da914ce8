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

The oracle (tests/helpers/variable_orgs.py) is a brute-force reading of GitLab's rules
(doc/ci/variables/index.md; see migrate/ci/variables.py for the sources), independent of the code
under test, over concrete environment names. `test_a_wrong_resolver_is_caught` swaps the planner's resolver for one that
lets group variables win over project variables and shows the property fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from helpers.plan_fixtures import NUMBER, config
from helpers.variable_orgs import (
    NAMES,
    TOKEN_ENVS,
    Def,
    Job,
    Org,
    Project,
    ci_text,
    inventory,
    oracle,
    orgs,
    received,
)
from hypothesis import HealthCheck, given, settings

import migrate.ci.variables as variables_mod
import migrate.plan.impersonation as impersonation_mod
import migrate.plan.receipts as receipts_mod
from migrate import ci
from migrate.core.model import CIFinding
from migrate.plan.federation_design import parse_member
from migrate.plan.planner import PlanFacts, PlanRefusedError, build_plan, default_rewriter
from migrate.plan.ports import FileText


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
