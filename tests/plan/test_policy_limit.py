"""Google's 1,500 principals per IAM allow policy ("Total number of principals … in all role
bindings … within a single policy: 1,500", cloud.google.com/iam/quotas; setIamPolicy answers 400
"The number of members in the policy (1,501) is larger than the maximum allowed size 1,500.").

A key shared through a group variable by more projects than that would make `setIamPolicy` fail.
The plan counts the members per policy and, past the limit, consolidates project scopes into the
narrowest namespace principal sets whose every project could read the key (never broader), or
reports the binding for manual review with the reason. Tests run the rule at a small limit
(monkeypatched) with the same code; the emulator test uses Google's real 1,500.
"""

from __future__ import annotations

from typing import Any

import google.oauth2.credentials
import pytest
from googleapiclient import discovery
from googleapiclient.errors import HttpError
from helpers.plan_fixtures import CI, K_CI, NUMBER, config, confirmed, facts, ident, line_rewriter

from migrate.core.codec import decode_time
from migrate.core.model import CIFinding, GroupRecord, Inventory, KeyUsage, KeyVariable, ProjectRecord
from migrate.plan import planner as plan_mod
from migrate.plan.federation_design import MAX_POLICY_MEMBERS
from migrate.plan.planner import PlanRefusedError, build_plan
from migrate.plan.ports import FileText

POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab"


def _org(per_namespace: dict[int, int], protected: bool = False, shadow: int | None = None,
         project_key: bool = False, without: tuple[int, ...] = ()) -> Inventory:
    """acme (100) with subgroups 200+i holding `n` projects each, every project using GROUP_KEY
    through one template; `shadow`: a project (id) that defines its own GROUP_KEY."""
    groups = [GroupRecord(100, "acme")] + [GroupRecord(ns, f"acme/g{ns}", 100) for ns in per_namespace]
    projects = [ProjectRecord(id=1, path="acme/templates", namespace_id=100, namespace_path="acme",
                              ancestor_ids=(100,), default_branch="main")]
    pid = 1000
    for ns, n in per_namespace.items():
        for _ in range(n):
            pid += 1
            projects.append(ProjectRecord(id=pid, path=f"acme/g{ns}/p{pid}", namespace_id=ns,
                                          namespace_path=f"acme/g{ns}", ancestor_ids=(100, ns),
                                          default_branch="main"))
    key = ident(CI, K_CI)
    if project_key:  # one project variable per project: no namespace could stand in for them
        variables = tuple(KeyVariable("project", p.path, p.id, "GROUP_KEY", "env_var", protected=protected,
                                      key=key) for p in projects[1:] if p.id not in without)
    else:
        variables = (KeyVariable("group", "acme", 100, "GROUP_KEY", "env_var", protected=protected, key=key),)
    if shadow is not None:
        owner = next(p for p in projects if p.id == shadow)
        other = ident("other@acme-prod.iam.gserviceaccount.com", "e1" * 20)
        variables += (KeyVariable("project", owner.path, owner.id, "GROUP_KEY", "env_var", key=other),)
    consumers = tuple(p.path for p in projects[1:] if p.id != shadow)
    refs = tuple(v.ref for v in variables if v.key == key)
    usage = KeyUsage("acme/templates", "gcp.yml", "main",
                     CIFinding(3, 3, "activate-service-account", "GROUP_KEY", ("deploy",), "gcloud key file"),
                     consumers, refs)
    return Inventory(gitlab_url="https://gitlab.acme.example", gitlab_version="17.5.0",
                     generated_at=decode_time("2026-01-01T00:00:00Z"), projects=tuple(projects), groups=tuple(groups),
                     variables=variables, usages=(usage,),
                     key_facts=tuple(confirmed(v.key) for v in variables if v.key is not None))


def _plan(inv: Inventory, **kw: Any) -> Any:
    text = "deploy:\n  script:\n    - gcloud auth activate-service-account --key-file \"${GROUP_KEY}\"\n"
    f = facts(files={("acme/templates", "gcp.yml", "main"): FileText(text, "b", "c")}, **kw)
    return build_plan(inv, config(), f, line_rewriter)


def _binding(result: Any, sa: str = CI) -> Any:
    return next(a for a in result.plan.actions if a.kind == "ensure_binding" and a.params.service_account == sa)


@pytest.fixture()
def limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(plan_mod, "MAX_POLICY_MEMBERS", 10)
    return 10


def test_under_the_limit_nothing_changes(limit: int) -> None:
    b = _binding(_plan(_org({200: 4, 201: 4})))
    assert len(b.params.members) == 8 and not b.params.consolidated


def test_past_the_limit_projects_are_consolidated_into_their_namespaces(limit: int) -> None:
    result = _plan(_org({200: 9, 201: 6, 202: 1}))
    b = _binding(result)
    members = b.params.members
    assert len(members) <= limit
    assert f"principalSet://iam.googleapis.com/{POOL}/attribute.namespace_id/200" in members
    assert "principals per policy" in b.summary and "never broader" in b.summary
    assert [c.namespace_id for c in b.params.consolidated] == [200]  # largest first, only what is needed
    assert len(b.params.scopes) == 16  # evidence stays per project
    # the who-can-impersonate simulation agrees: not broader than the key, every user still admitted
    imp = next(i for i in result.impersonation if i.service_account == CI)
    assert imp.ok and all(f"acme/g200/p{pid}" in " ".join(imp.after) for pid in range(1001, 1010))


def test_protected_key_consolidates_into_protected_namespace_sets(limit: int) -> None:
    result = _plan(_org({200: 9, 201: 6}, protected=True))
    b = _binding(result)
    assert f"principalSet://iam.googleapis.com/{POOL}/attribute.namespace_protected/200:protected" in \
        b.params.members
    mapping = next(a for a in result.plan.actions if a.kind == "ensure_provider").params.desired[
        "attributeMapping"]
    assert "attribute.namespace_protected" in mapping
    imp = next(i for i in result.impersonation if i.service_account == CI)
    assert imp.ok


def test_a_shadowing_project_keeps_its_namespace_out(limit: int) -> None:
    # p1001 defines its own GROUP_KEY (another key): its jobs never received this key, so
    # namespace 200 cannot be used; 201 can; 200's projects stay one by one → over the limit
    result = _plan(_org({200: 9, 201: 6}, shadow=1001))
    b = _binding(result)
    ns = [c.namespace_id for c in b.params.consolidated]
    assert ns == [201] and len(b.params.members) == 9  # 8 projects of 200 one by one + namespace 201


def test_no_namespace_can_stand_in_for_project_variables(limit: int) -> None:
    result = _plan(_org({200: 9, 201: 6}, project_key=True))
    problem = next(p for p in result.plan.manual if p.subject == f"binding:{CI}")
    assert "Google allows 10 per policy" in problem.reason and problem.severity == "manual"
    assert not _binding(result).params.consolidated


def test_other_members_of_the_policy_count(limit: int) -> None:
    b = _binding(_plan(_org({200: 4, 201: 4}), policy_members_other={CI: 5}))
    assert len(b.params.members) <= 5 and b.params.consolidated


def test_consolidation_never_widens_a_broken_variant_is_caught(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """If consolidation ignored who could read the key (here: project variables, and one project of
    namespace 200 without one), the simulation flags the plan as broader: the guard can fail."""
    from migrate.plan import federation_design as federation

    original = federation.consolidate

    def careless(pool: str, scopes: Any, namespace_of: Any, readable: Any, budget: int) -> Any:
        return original(pool, scopes, namespace_of, lambda ns: True, budget)

    monkeypatch.setattr(plan_mod, "consolidate", careless)
    inv = _org({200: 9, 201: 6}, project_key=True, without=(1001,))
    with pytest.raises(PlanRefusedError, match="acme/g200/p1001"):
        _plan(inv)


# --- the emulator: Google's limit and error ---------------------------------------------------

def test_emulator_refuses_a_policy_past_1500_principals(google_app: Any) -> None:
    sa, url = google_app
    iam = discovery.build("iam", "v1", credentials=google.oauth2.credentials.Credentials("sandbox-google-token"),
                          client_options={"api_endpoint": url}, static_discovery=True)
    resource = f"projects/acme-prod/serviceAccounts/{sa}"
    members = [f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/{i}" for i in range(1490)]
    policy = {"bindings": [{"role": "roles/iam.workloadIdentityUser", "members": members},
                           {"role": "roles/iam.serviceAccountUser", "members": [f"user:u{i}@x.example"
                                                                              for i in range(10)]}]}
    iam.projects().serviceAccounts().setIamPolicy(resource=resource, body={"policy": policy}).execute()
    policy = iam.projects().serviceAccounts().getIamPolicy(resource=resource).execute()
    policy["bindings"][1]["members"].append("user:one-too-many@x.example")
    with pytest.raises(HttpError) as err:
        iam.projects().serviceAccounts().setIamPolicy(resource=resource, body={"policy": policy}).execute()
    assert err.value.status_code == 400
    assert "The number of members in the policy (1,501) is larger than the maximum allowed size 1,500." in str(
        err.value)
    assert MAX_POLICY_MEMBERS == 1500


@pytest.fixture()
def google_app() -> Any:
    from migrate.sandbox.launch import Sandbox
    from migrate.sandbox.org import parse_org

    sa = "ci@acme-prod.iam.gserviceaccount.com"
    org = parse_org({"gitlab": {"users": [{"username": "m", "token": "t", "admin": True}]},
                     "google": {"admin_token": "sandbox-google-token", "projects": [
                         {"project_id": "acme-prod", "number": 222222222222,
                          "service_accounts": [{"email": sa}]}]}})
    with Sandbox(org) as sb:
        yield sa, sb.google_url
