"""Issue 15 §2, per context: the rewrite self-check verifies that each rewritten job signs in, in
*every* context (ref class, environment) the variable resolver (`migrate.ci.variables`, via the
receipts) decides, as the service account of the key it received there.

The plan derives the per-context facts (`migrate.plan.planner.context_accounts`) and hands them to the
rewriter (`RewriteOptions.context_accounts`); the self-check (`acceptance.Expectation.accounts_in`)
refuses a rewrite that names one account when some context received another. The attacking tests
give the rewriter a deliberately wrong account for one context (the protected-branch account while
an environment-scoped key reaches the job on unprotected branches) and show it is refused; the
property runs the same broken rewrite over generated variable sets and compares with the brute-force
oracle of `tests/helpers/variable_orgs.py` (shared with `tests/plan/test_effective_properties.py`);
the broken check (no per-context facts) is shown to let the wrong account through.
"""

from __future__ import annotations

from typing import Any

from helpers.plan_fixtures import NUMBER, config
from helpers.variable_orgs import ENVS, Def, Job, Org, Project, ci_text, inventory, orgs, received
from hypothesis import HealthCheck, given, settings

from migrate import ci
from migrate.plan.planner import PlanFacts, context_accounts, make_inputs
from migrate.plan.receipts import receipts

PROVIDER = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab/providers/gitlab"
PROTECTED_SA = "prod@acme-prod.iam.gserviceaccount.com"
ENV_SA = "env@acme-prod.iam.gserviceaccount.com"

# p1001's job0 (environment production) reads K1: the project's protected K1 holds the prod key; the
# group's K1 scoped to `production` holds another key, which the job receives on unprotected refs.
SPLIT = Org((Project(1001, 100, (Job("job0", "production", "K1"),)),),
            (Def("project", 1001, "K1", "*", True, PROTECTED_SA),
             Def("group", 100, "K1", "production", False, ENV_SA)))


def facts_of(org: Org, project: Project) -> dict[str, dict[str, dict[str, str]]]:
    """The plan's per-context facts for one project's CI file, from the resolver (receipts)."""
    inv = inventory(org)
    inputs = make_inputs(inv, config(), PlanFacts(NUMBER))
    var_key = {v.ref: v.key for v in inv.variables if v.key is not None}
    rs = [r for r in receipts(inputs) if r.file_project == project.path]
    usages = [u for u in inv.usages if u.file_project == project.path]
    return context_accounts(rs, usages, var_key, project.path)


def rewrite(project: Project, accounts: dict[str, str], contexts: Any) -> ci.RewriteResult:
    """A rewrite in which each job signs in as `accounts[job]` (the rewriter does what it is told)."""
    per_job = {job.name: {job.var: accounts[job.name]} for job in project.jobs if job.name in accounts}
    return ci.rewrite(ci_text(project), ci.RewriteOptions(
        provider=PROVIDER, job_service_accounts=per_job, key_variables=frozenset({"K1", "K2"}),
        context_accounts=contexts or {}))


def test_the_plan_gives_the_check_each_context_and_its_account() -> None:
    project = SPLIT.projects[0]
    contexts = facts_of(SPLIT, project)["job0"]["K1"]
    assert set(contexts.values()) == {PROTECTED_SA, ENV_SA}
    assert contexts["acme/p1001 job job0 (protected branch, environment production)"] == PROTECTED_SA
    assert contexts["acme/p1001 job job0 (unprotected branch, environment production)"] == ENV_SA


def test_signing_in_as_the_protected_account_in_every_context_is_refused() -> None:
    """The attacking case: the rewrite names the protected-branch account for a job that, on
    unprotected branches, received the environment-scoped key of another account."""
    project = SPLIT.projects[0]
    result = rewrite(project, {"job0": PROTECTED_SA}, facts_of(SPLIT, project))
    assert result.status == "manual", result.reasons
    assert any(f"signs in as {PROTECTED_SA} but in acme/p1001 job job0 (" in r
               and f"received the key of {ENV_SA}" in r for r in result.reasons), result.reasons
    # the same with the environment-scoped account: refused for the protected contexts
    result = rewrite(project, {"job0": ENV_SA}, facts_of(SPLIT, project))
    assert result.status == "manual"
    assert any(f"received the key of {PROTECTED_SA}" in r and "protected branch" in r for r in result.reasons)


def test_without_the_per_context_facts_the_wrong_account_passes() -> None:
    """The broken variant (the check before this change: one account per job, no contexts) accepts
    the wrong rewrite — so the test above is what catches it."""
    project = SPLIT.projects[0]
    assert rewrite(project, {"job0": PROTECTED_SA}, None).status == "rewritten"


def test_one_account_in_every_context_is_accepted() -> None:
    org = Org(SPLIT.projects, (Def("project", 1001, "K1", "*", True, PROTECTED_SA),
                               Def("group", 100, "K1", "production", False, PROTECTED_SA)))
    project = org.projects[0]
    result = rewrite(project, {"job0": PROTECTED_SA}, facts_of(org, project))
    assert result.status == "rewritten", result.reasons


def _broken_choice(org: Org, project: Project) -> dict[str, str]:
    """A deliberately broken rewriter: each job signs in as the account it gets on a protected
    branch (else any account it gets), whatever the other contexts receive."""
    out = {}
    for job in project.jobs:
        got = sorted(received(org, project, job), key=lambda g: (not g[0], str(g[1]), g[2]))
        if got:
            out[job.name] = got[0][2]
    return out


def _wrong_somewhere(org: Org, project: Project, accounts: dict[str, str]) -> list[str]:
    """Oracle: jobs (with a fixed environment) that receive, in some context, another account."""
    return [job.name for job in project.jobs if job.name in accounts and "$" not in (job.env or "")
            and {sa for _, _, sa in received(org, project, job)} != {accounts[job.name]}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orgs())
def test_generated_variable_sets_never_accept_a_wrong_account(org: Org) -> None:
    """Over generated variable sets: the broken rewrite is refused whenever the oracle says some
    context of a job received another account, and accepted ones sign in right everywhere."""
    assert ENVS  # the generator's environments include run-time names (left to the plan's own gate)
    # only jobs that receive a key (a job that receives none has no account to sign in as)
    org = Org(tuple(Project(p.id, p.group, tuple(j for j in p.jobs if received(org, p, j))) for p in org.projects),
              org.defs)
    for project in org.projects:
        accounts = _broken_choice(org, project)
        if not accounts:
            continue
        result = rewrite(project, accounts, facts_of(org, project))
        wrong = _wrong_somewhere(org, project, accounts)
        if wrong:
            assert result.status == "manual", (project, accounts, wrong)
            assert any("but in " in r and "received the key of" in r for r in result.reasons), result.reasons
        if result.status == "rewritten":
            assert not wrong


def test_the_property_catches_the_broken_check() -> None:
    """Run the property's body with the per-context facts withheld (the broken check): it fails."""
    project = SPLIT.projects[0]
    accounts = _broken_choice(SPLIT, project)
    assert _wrong_somewhere(SPLIT, project, accounts) == ["job0"]
    assert rewrite(project, accounts, None).status == "rewritten"  # broken: accepted although wrong
    assert rewrite(project, accounts, facts_of(SPLIT, project)).status == "manual"
