"""Issue 14's cases at plan level, fast: inventories built from real CI text with the real detector
and the scan's effective-job linking (`usage_runs`), planned with the real rewriter. The same cases
run end to end, pipelines included, in tests/plan/test_effective_e2e.py (slow)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.plan_fixtures import NUMBER, config, confirmed, ident

from migrate import ci
from migrate.core.codec import decode_time
from migrate.core.model import GroupRecord, Inventory, KeyUsage, KeyVariable, ProjectRecord, to_dict
from migrate.plan.planner import PlanFacts, PlanResult, build_plan, default_rewriter
from migrate.plan.ports import FileText
from migrate.plan.receipts import receipts
from migrate.scan.link import job_table, usage_runs

GROUP = GroupRecord(100, "acme")


def sa(name: str) -> str:
    return f"{name}@acme-prod.iam.gserviceaccount.com"


def project(pid: int, name: str) -> ProjectRecord:
    return ProjectRecord(pid, f"acme/{name}", 100, "acme", (100,), "main")


def key_var(level: str, owner: str, owner_id: int, name: str, account: str, scope: str = "*",
            protected: bool = False) -> KeyVariable:
    return KeyVariable(level, owner, owner_id, name, "file", protected=protected,  # type: ignore[arg-type]
                       environment_scope=scope, key=ident(sa(account), (account[:2] * 20)[:40].ljust(40, "0")))


def plan(projects: list[ProjectRecord], texts: dict[str, str], variables: list[KeyVariable],
         includes: dict[str, list[str]] | None = None) -> PlanResult:
    """`texts`: file key `PROJECT:PATH` → CI text; `includes`: consumer → files its pipeline reads
    after its own `.gitlab-ci.yml` (shared templates)."""
    includes = includes or {}
    names = frozenset(v.name for v in variables)
    analyses = {k: ci.analyze(t, k.split(":", 1)[1], names) for k, t in texts.items()}
    usages = []
    for fkey, analysis in analyses.items():
        fproject, fpath = fkey.split(":", 1)
        consumers = [p.path for p in projects if f"{p.path}:.gitlab-ci.yml" == fkey or fkey in includes.get(p.path, ())]
        for f in analysis.findings:
            runs = []
            for c in consumers:
                files = [f"{c}:.gitlab-ci.yml", *includes.get(c, ())]
                table = job_table([[(j.name, j.extends, j.environment) for j in analyses[k].jobs]
                                   for k in files if k in analyses])
                runs += usage_runs(c, f.jobs, table)
            usages.append(KeyUsage(fproject, fpath, "main", f, tuple(consumers), runs=tuple(runs)))
    inv = Inventory("https://gitlab.acme.example", "17.5.0", decode_time("2026-01-01T00:00:00Z"), tuple(projects),
                    tuple(variables), tuple(usages), tuple(confirmed(v.key) for v in variables if v.key),
                    groups=(GROUP,))
    files = {tuple(k.split(":", 1)) + ("main",): FileText(t, "b", "c") for k, t in texts.items()}
    return build_plan(inv, config(), PlanFacts(NUMBER, files=files), default_rewriter())  # type: ignore[arg-type]


def actions(result: PlanResult, kind: str) -> dict[str, Any]:
    return {a.id: to_dict(a.params) for a in result.plan.actions if a.kind == kind}  # the file's view


def manual(result: PlanResult, subject: str) -> str:
    return " | ".join(m.reason for m in result.plan.manual if m.subject == subject)


SIMPLE = """deploy:
  script:
    - gcloud auth activate-service-account --key-file "$DEPLOY_KEY"
    - gcloud storage ls
"""


def test_two_projects_same_variable_name_different_keys() -> None:
    r = plan([project(1, "a"), project(2, "b")],
             {"acme/a:.gitlab-ci.yml": SIMPLE, "acme/b:.gitlab-ci.yml": SIMPLE},
             [key_var("project", "acme/a", 1, "DEPLOY_KEY", "alpha"),
              key_var("project", "acme/b", 2, "DEPLOY_KEY", "beta")])
    mrs = actions(r, "merge_request")
    assert mrs["merge_request:acme/a:.gitlab-ci.yml"]["service_accounts"] == {"DEPLOY_KEY": sa("alpha")}
    assert mrs["merge_request:acme/b:.gitlab-ci.yml"]["service_accounts"] == {"DEPLOY_KEY": sa("beta")}
    assert sa("beta") not in mrs["merge_request:acme/a:.gitlab-ci.yml"]["new_content"]


HIDDEN = """.auth:
  before_script:
    - gcloud auth activate-service-account --key-file "$ENV_KEY"
deploy_staging:
  extends: .auth
  environment: staging
  script: [gcloud storage ls]
deploy_production:
  extends: .auth
  environment: production
  script: [gcloud storage ls]
"""


def test_shared_hidden_job_with_staging_and_production_keys() -> None:
    """One line, two environments, two accounts: one `case "$CI_ENVIRONMENT_NAME"` choice (issue 21;
    tests/plan/test_environment_template_plan.py runs it per environment), each binding only for
    the environment that received its key."""
    r = plan([project(3, "envs")], {"acme/envs:.gitlab-ci.yml": HIDDEN},
             [key_var("project", "acme/envs", 3, "ENV_KEY", "stg", "staging"),
              key_var("project", "acme/envs", 3, "ENV_KEY", "prd", "production", protected=True)])
    mr = actions(r, "merge_request")["merge_request:acme/envs:.gitlab-ci.yml"]
    assert manual(r, "file:acme/envs:.gitlab-ci.yml") == ""
    assert mr["rewrite_options"]["job_service_accounts"] == {
        "deploy_staging": {"ENV_KEY": sa("stg")}, "deploy_production": {"ENV_KEY": sa("prd")}}
    assert f'"production") GCP_WIF_SERVICE_ACCOUNT={sa("prd")};;' in mr["new_content"]
    assert f'"staging") GCP_WIF_SERVICE_ACCOUNT={sa("stg")};;' in mr["new_content"]
    bindings = actions(r, "ensure_binding")
    assert [s["environment"] for s in bindings[f"ensure_binding:{sa('stg')}"]["scopes"]] == ["staging"]
    assert bindings[f"ensure_binding:{sa('prd')}"]["scopes"][0]["protected_only"] is True


def test_separate_sign_ins_get_one_account_per_job() -> None:
    text = HIDDEN.replace(".auth:\n  before_script:\n    - gcloud auth activate-service-account --key-file \"$ENV_KEY\"\n",
                          "").replace("  extends: .auth\n", "  before_script:\n    - gcloud auth "
                                      "activate-service-account --key-file \"$ENV_KEY\"\n")
    r = plan([project(4, "split")], {"acme/split:.gitlab-ci.yml": text},
             [key_var("project", "acme/split", 4, "ENV_KEY", "stg", "staging"),
              key_var("project", "acme/split", 4, "ENV_KEY", "prd", "production", protected=True)])
    mr = actions(r, "merge_request")["merge_request:acme/split:.gitlab-ci.yml"]
    assert mr["rewrite_options"]["job_service_accounts"] == {
        "deploy_staging": {"ENV_KEY": sa("stg")}, "deploy_production": {"ENV_KEY": sa("prd")}}
    staging, production = mr["new_content"].split("deploy_production:")
    assert sa("stg") in staging and sa("prd") in production and sa("prd") not in staging


def test_protected_project_variable_over_unprotected_group_variable() -> None:
    text = SIMPLE.replace("DEPLOY_KEY", "GCP_SA_KEY").replace("deploy:\n", "deploy:\n  environment: production\n")
    r = plan([project(5, "prot")], {"acme/prot:.gitlab-ci.yml": text},
             [key_var("group", "acme", 100, "GCP_SA_KEY", "shared"),
              key_var("project", "acme/prot", 5, "GCP_SA_KEY", "prot", protected=True)])
    assert not actions(r, "merge_request")
    reason = manual(r, "file:acme/prot:.gitlab-ci.yml")
    assert "gets different keys by ref" in reason and "only on unprotected refs" in reason
    bindings = actions(r, "ensure_binding")
    assert f"ensure_binding:{sa('shared')}" not in bindings
    assert bindings[f"ensure_binding:{sa('prot')}"]["scopes"][0]["protected_only"] is True


TEMPLATE = """.gcp-auth:
  before_script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
"""
CONSUMER = """include:
  - project: acme/templates
    file: auth.yml
deploy:
  extends: .gcp-auth
  script: [gcloud storage ls]
"""


def test_template_consumer_shadowing_the_group_variable() -> None:
    projects = [project(6, "templates"), project(7, "web"), project(8, "shadow")]
    texts = {"acme/templates:auth.yml": TEMPLATE, "acme/web:.gitlab-ci.yml": CONSUMER,
             "acme/shadow:.gitlab-ci.yml": CONSUMER}
    includes = {"acme/web": ["acme/templates:auth.yml"], "acme/shadow": ["acme/templates:auth.yml"]}
    variables = [key_var("group", "acme", 100, "GCP_SA_KEY", "shared"),
                 key_var("project", "acme/shadow", 8, "GCP_SA_KEY", "own")]
    r = plan(projects, texts, variables, includes)
    assert not actions(r, "merge_request")
    reason = manual(r, "file:acme/templates:auth.yml")
    assert f"acme/shadow: job deploy as {sa('own')}" in reason and f"acme/web: job deploy as {sa('shared')}" in reason
    bindings = actions(r, "ensure_binding")
    assert [s["project_id"] for s in bindings[f"ensure_binding:{sa('shared')}"]["scopes"]] == [7]
    assert [s["project_id"] for s in bindings[f"ensure_binding:{sa('own')}"]["scopes"]] == [8]
    shared = next(i for i in r.impersonation if i.service_account == sa("shared"))
    assert shared.ok and not any(c.startswith("acme/shadow ") for c in shared.before)
    # When the consumer does not shadow, the template is changed once for both.
    r = plan(projects, texts, variables[:1], includes)
    mr = actions(r, "merge_request")["merge_request:acme/templates:auth.yml"]
    assert mr["service_accounts"] == {"GCP_SA_KEY": sa("shared")}
    assert mr["effective_jobs"] == {"acme/shadow": ["deploy"], "acme/web": ["deploy"]}


@pytest.mark.parametrize("environment, bound", [("review/$CI_COMMIT_REF_SLUG", False), ("review/app", True)])
def test_review_wildcard_scope(environment: str, bound: bool) -> None:
    text = SIMPLE.replace("deploy:\n", f"deploy:\n  environment: {environment}\n")
    r = plan([project(9, "review")], {"acme/review:.gitlab-ci.yml": text},
             [key_var("project", "acme/review", 9, "DEPLOY_KEY", "review", "review/*")])
    bindings = actions(r, "ensure_binding")
    mrs = actions(r, "merge_request")
    if bound:  # a literal environment under the wildcard: bound to exactly that environment
        assert [s["environment"] for s in bindings[f"ensure_binding:{sa('review')}"]["scopes"]] == ["review/app"]
        assert "merge_request:acme/review:.gitlab-ci.yml" in mrs
    else:
        assert not bindings and not mrs
        assert "named at run time" in manual(r, "file:acme/review:.gitlab-ci.yml")


def test_receipts_cover_every_ref_class_of_every_effective_job() -> None:
    r = plan([project(3, "envs")], {"acme/envs:.gitlab-ci.yml": HIDDEN},
             [key_var("project", "acme/envs", 3, "ENV_KEY", "stg", "staging")])
    rs = receipts(r.plan.inputs)
    assert {(x.job, x.context.ref_class) for x in rs} == {
        (job, rc) for job in ("deploy_staging", "deploy_production")
        for rc in ("protected_branch", "protected_tag", "unprotected_branch", "unprotected_tag", "merge_request")}
    assert {x.job for x in rs if x.variable} == {"deploy_staging"}


def test_job_without_environment_is_bound_to_no_environment_when_the_name_is_shadowed_elsewhere() -> None:
    """K (`*`) reaches `build` (no environment); `deploy` (production) gets K2 instead: K's binding
    must not admit production tokens of the project (they never received K)."""
    text = SIMPLE.replace("deploy:\n", "build:\n") + SIMPLE.replace("deploy:\n", "deploy:\n  environment: production\n")
    r = plan([project(10, "mixed")], {"acme/mixed:.gitlab-ci.yml": text},
             [key_var("group", "acme", 100, "DEPLOY_KEY", "general"),
              key_var("project", "acme/mixed", 10, "DEPLOY_KEY", "prodonly", "production")])
    bindings = actions(r, "ensure_binding")
    general = bindings[f"ensure_binding:{sa('general')}"]
    assert [(s["environment"], s["attribute"]) for s in general["scopes"]] == [("", "project_environment")]
    assert general["members"][0].endswith("/attribute.project_environment/10:")
    assert [s["environment"] for s in bindings[f"ensure_binding:{sa('prodonly')}"]["scopes"]] == ["production"]
    mr = actions(r, "merge_request")["merge_request:acme/mixed:.gitlab-ci.yml"]
    assert mr["rewrite_options"]["job_service_accounts"] == {"build": {"DEPLOY_KEY": sa("general")},
                                                              "deploy": {"DEPLOY_KEY": sa("prodonly")}}
    assert all(i.ok for i in r.impersonation)
    general_sim = next(i for i in r.impersonation if i.service_account == sa("general"))
    assert not any("environment production" in c for c in general_sim.after)
