"""Merge requests end to end on a sandbox org: apply opens them, a maintainer merges them with
python-gitlab, the sandbox runs the pipelines (authentication for real), `verify` judges them.

The plan is built by hand (scan/plan are exercised in their own tests): one MR per CI file, the
shared template once. Federation (pool, provider, bindings) is pre-seeded in the Google sandbox, as
`apply`'s Google actions would leave it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import google.oauth2.credentials
import pytest
from googleapiclient import discovery
from helpers.plan_fixtures import bind_params, mr_params, retired, scope_row
from helpers.sandbox_org import free_port, identity_project

from migrate.apply.merge_request_content import branch_name, parse_marker
from migrate.apply.merge_request_executor import MergeRequestExecutor, action_marker_line
from migrate.ci.emit import marker_after_login
from migrate.cli.verbs import main
from migrate.core.config import GitLabConfig, MergeRequestConfig
from migrate.core.model import (
    Action,
    ActionResult,
    BindingRefs,
    MergeRequestParams,
    MRRewriteOptions,
    Plan,
    params_as,
)
from migrate.core.state import State
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.gitlab.pipelines import GitLabPipelines
from migrate.plan import plan_io
from migrate.sandbox.gitlab.repo import blob_id
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org
from migrate.verify.runner import exit_code, verify_plan

NUMBER = "111111111111"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab"
PROVIDER = f"{POOL}/providers/gitlab"
AUD = f"https://iam.googleapis.com/{PROVIDER}"
DEPLOYER = "deployer@acme-prod.iam.gserviceaccount.com"
API_SA = "api@acme-prod.iam.gserviceaccount.com"
JOBS_SA = "jobs@acme-prod.iam.gserviceaccount.com"
TOKEN = "t-migrator"
SETTINGS = MergeRequestConfig(labels=("wif-migrate", "security"), branch_prefix="wif-migrate/")


def member(project_id: int) -> str:
    return f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/{project_id}"


def federated_steps(sa: str, indent: str = "    ") -> str:
    lines = ['echo "$GCP_ID_TOKEN" > "$CI_BUILDS_DIR/.gcp_oidc_token"',
             f'gcloud iam workload-identity-pools create-cred-config {PROVIDER} --service-account="{sa}" '
             '--credential-source-file="$CI_BUILDS_DIR/.gcp_oidc_token" --output-file="$CI_BUILDS_DIR/.gcp_cred.json"',
             'gcloud auth login --cred-file="$CI_BUILDS_DIR/.gcp_cred.json"',
             # the marker the rewriter adds (verify_marker), single-quoted for YAML
             "'" + marker_after_login("gcloud") + "'"]
    return "".join(f"{indent}- {ln}\n" for ln in lines)


ID_TOKENS = f"  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUD}\n"

TEMPLATE_OLD = """.gcp-auth:
  before_script:
    - echo "$GCP_SA_KEY" | base64 -d > /tmp/key.json
    - gcloud auth activate-service-account --key-file /tmp/key.json
"""
TEMPLATE_NEW = ".gcp-auth:\n" + ID_TOKENS + "  before_script:\n" + federated_steps(DEPLOYER)
CONSUMER = """include:
  - project: acme/templates
    file: templates/auth.yml
deploy:
  extends: .gcp-auth
  script: [gcloud run deploy {name} --region europe-west1]
  only: [main]
"""
API_OLD = """deploy:
  environment: production
  script:
    - gcloud auth activate-service-account --key-file "$API_KEY_FILE"
    - gcloud app deploy
test:
  script: [pytest]
"""
API_NEW = "deploy:\n  environment: production\n" + ID_TOKENS + "  script:\n" + federated_steps(API_SA) \
    + "    - gcloud app deploy\ntest:\n  script: [pytest]\n"
JOBS_OLD = """migrate:
  script:
    - echo "$JOBS_KEY" > /tmp/sa.json
    - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/sa.json
    - python manage.py migrate
"""
JOBS_NEW = "migrate:\n" + ID_TOKENS + "  script:\n" + federated_steps(JOBS_SA) + \
    '    - export GOOGLE_APPLICATION_CREDENTIALS="$CI_BUILDS_DIR/.gcp_cred.json"\n' \
    "    - python manage.py migrate\n"


def sa_spec(email: str, *members: str) -> dict[str, Any]:
    return {"email": email, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z"}],
            "iam_policy": {"bindings": [{"role": "roles/iam.workloadIdentityUser", "members": list(members)}]}}


def org(port: int) -> Any:
    key = {"encoding": "base64", "key": "k1"}
    return parse_org({
        "seed": 5,
        "gitlab": {
            "users": [{"username": "migrator", "token": TOKEN, "admin": True, "email": "migrator@acme.example"},
                      {"username": "alice", "token": "t-alice", "email": "alice@acme.example"}],
            "groups": [{"path": "acme", "id": 100, "members": {"alice": "maintainer"},
                        "variables": [{"key": "GCP_SA_KEY", "protected": True,
                                       "sa_key": {**key, "service_account": DEPLOYER}}],
                        "projects": [
                {"path": "templates", "id": 2001, "protected_branches": ["main"],
                 "files": {"templates/auth.yml": TEMPLATE_OLD, ".gitlab-ci.yml": "lint:\n  script: [yamllint .]\n"}},
                {"path": "shop", "id": 2002, "protected_branches": ["main"],
                 "files": {".gitlab-ci.yml": CONSUMER.format(name="shop")}},
                {"path": "billing", "id": 2003, "protected_branches": ["main"],
                 "files": {".gitlab-ci.yml": CONSUMER.format(name="billing")}},
                {"path": "api", "id": 2004, "protected_branches": ["main"],
                 "variables": [{"key": "API_KEY_FILE", "variable_type": "file",
                                "sa_key": {"service_account": API_SA, "key": "k1", "encoding": "json"}}],
                 "files": {".gitlab-ci.yml": API_OLD}},
                {"path": "jobs", "id": 2005, "protected_branches": ["main"],
                 "variables": [{"key": "JOBS_KEY", "sa_key": {"service_account": JOBS_SA, "key": "k1",
                                                              "encoding": "json"}}],
                 "files": {".gitlab-ci.yml": JOBS_OLD}},
            ]}],
        },
        "google": {
            "admin_token": "g-admin",
            "projects": [
                identity_project(NUMBER, port),
                {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                    sa_spec(DEPLOYER, member(2002), member(2003)), sa_spec(API_SA, member(2004)),
                    sa_spec(JOBS_SA, member(2005))]},
            ]},
    }, "e2e org")



@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    port = free_port()
    with Sandbox(org(port), gitlab_port=port) as sandbox:
        yield sandbox


def mr_action(project: str, path: str, old: str, new: str, sa: str, variable: str, jobs: list[str],
              consumers: list[str] | None = None) -> Action:
    aid = f"merge_request:{project}:{path}"
    return Action(aid, "merge_request", f"{project}:{path}@main", f"rewrite {path} in {project}",
                  depends_on=(f"ensure_binding:{sa}",),
                  params=mr_params(project, path, base_blob_id=blob_id(old.encode()), new_content=new,
                                   diff=f"--- a/{path}\n+++ b/{path}\n", jobs=tuple(jobs),
                                   consumers=tuple(consumers or [project]), provider=PROVIDER, audience=AUD,
                                   keys=(retired(sa, "k" * 40, variable),),
                                   binding=BindingRefs((f"ensure_binding:{sa}",))))


def binding(sa: str, *members: str) -> Action:
    return Action(f"ensure_binding:{sa}", "ensure_binding", f"projects/acme-prod/serviceAccounts/{sa}",
                  "binding", params=bind_params(sa, *members, resource=f"projects/acme-prod/serviceAccounts/{sa}",
                                                scopes=(scope_row("acme/api", protected_only=True),)))


def the_plan() -> Plan:
    actions = (
        binding(DEPLOYER, member(2002), member(2003)), binding(API_SA, member(2004)), binding(JOBS_SA, member(2005)),
        mr_action("acme/templates", "templates/auth.yml", TEMPLATE_OLD, TEMPLATE_NEW, DEPLOYER,
                  "group:acme:GCP_SA_KEY", ["deploy"], ["acme/shop", "acme/billing"]),
        mr_action("acme/api", ".gitlab-ci.yml", API_OLD, API_NEW, API_SA, "project:acme/api:API_KEY_FILE",
                  ["deploy"]),
        mr_action("acme/jobs", ".gitlab-ci.yml", JOBS_OLD, JOBS_NEW, JOBS_SA, "project:acme/jobs:JOBS_KEY",
                  ["migrate"]),
    )
    return Plan(gitlab_url="", identity_project="acme-id", project_number=NUMBER, pool_id="gitlab",
                provider_id="gitlab", generated_at="2026-11-25T00:00:00Z", inventory_digest="sha256:x",
                actions=actions)


def clients(sb: Sandbox) -> GitLabClients:
    return GitLabClients(GitLabConfig(url=sb.gitlab_url), rate_limit_rpm=None, token=TOKEN)


def apply(sb: Sandbox, plan: Plan, dry_run: bool = False, rewriter: Any = None) -> dict[str, ActionResult]:
    ex = MergeRequestExecutor(GitLabMergeRequests(clients(sb)), SETTINGS, plan, dry_run=dry_run,
                              rewriter=rewriter, concurrency=4)
    return {a.id: ex.execute(a) for a in plan.actions if a.kind == "merge_request"}


def mutations(sb: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sb.gitlab.mutating_requests() if r["path"].startswith("/api/")]


def test_apply_merge_pipelines_verify(sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan()
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=TOKEN)

    # Dry run: reads only.
    sb.gitlab.log.clear()
    dry = apply(sb, plan, dry_run=True)
    assert {r.outcome for r in dry.values()} == {"would_apply"}
    assert mutations(sb) == []

    # Apply: one branch + one commit + one MR per action; the shared template exactly once.
    results = apply(sb, plan)
    assert {r.outcome for r in results.values()} == {"applied"}, results
    for aid, r in results.items():
        assert r.evidence["branch"] == branch_name("wif-migrate/", aid)
        assert r.evidence["mr_iid"] and r.evidence["web_url"] and r.evidence["commit_sha"]
    assert len(gl.projects.get("acme/templates").mergerequests.list(get_all=True)) == 1
    assert gl.projects.get("acme/shop").mergerequests.list(get_all=True) == []
    mr = gl.projects.get("acme/api").mergerequests.list(get_all=True)[0]
    assert parse_marker(mr.description) is not None and parse_marker(mr.description)[0] == \
        "merge_request:acme/api:.gitlab-ci.yml"
    assert API_SA in mr.description and "k" * 40 in mr.description and "How to roll back" in mr.description
    assert "PRIVATE KEY" not in mr.description and set(mr.labels) == {"wif-migrate", "security"}

    # Again: nothing to do, no mutating request.
    sb.gitlab.log.clear()
    again = apply(sb, plan)
    assert {r.outcome for r in again.values()} == {"skipped"}
    assert all("up to date" in r.detail for r in again.values())
    assert mutations(sb) == []

    # Break the binding of acme/jobs before its merge: its pipeline must fail, verify must say why.
    iam = discovery.build("iam", "v1", credentials=google.oauth2.credentials.Credentials("g-admin"),
                          client_options={"api_endpoint": sb.google_url}, static_discovery=True,
                          cache_discovery=False)
    resource = f"projects/acme-prod/serviceAccounts/{JOBS_SA}"
    policy = iam.projects().serviceAccounts().getIamPolicy(resource=resource).execute()
    policy["bindings"] = []
    iam.projects().serviceAccounts().setIamPolicy(resource=resource, body={"policy": policy}).execute()

    state = State(tmp_path / "state")
    reader = GitLabPipelines(clients(sb))
    before = verify_plan(reader, plan, "wif-migrate/", state)
    assert {r.status for r in before} == {"pending"} and exit_code(before) == 1

    # A maintainer merges every MR through the API; the target's push pipeline runs.
    for project in ("acme/templates", "acme/api", "acme/jobs"):
        p = gl.projects.get(project)
        for m in p.mergerequests.list(state="opened", get_all=True):
            m.merge()
    # Consumers of the template pick it up on their next pipeline.
    for project in ("acme/shop", "acme/billing"):
        gl.projects.get(project).pipelines.create({"ref": "main"})

    results_v = {r.action_id: r for r in verify_plan(reader, plan, "wif-migrate/", state)}
    api = results_v["merge_request:acme/api:.gitlab-ci.yml"]
    tpl = results_v["merge_request:acme/templates:templates/auth.yml"]
    jobs = results_v["merge_request:acme/jobs:.gitlab-ci.yml"]
    assert api.status == "verified", api
    assert tpl.status == "verified" and {c.project for c in tpl.checks} == {"acme/shop", "acme/billing"}, tpl
    assert jobs.status == "failed", jobs
    assert "job migrate" in jobs.detail and "Unable to acquire impersonated credentials" in jobs.detail
    assert "getAccessToken" in jobs.detail
    assert api.merge_commit_sha and api.checks[0].pipeline_id
    journal = {e.action_id: e for e in state.entries(stage="verify") if e.phase == "outcome"}
    assert journal[api.action_id].outcome == "applied" and journal[jobs.action_id].outcome == "failed"
    assert journal[api.action_id].evidence["merge_commit_sha"] == api.merge_commit_sha
    assert journal[api.action_id].evidence["pipeline_id"] == api.checks[0].pipeline_id

    # The CLI: same results from the journal's point of view, JSON on stdout, exit 1 (one failed).
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    cfg = sb.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state"))
    plan_file = plan_io.write(plan, tmp_path / "plan.json")
    capsys.readouterr()
    assert main(["verify", "--config", str(cfg), "--plan", str(plan_file), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["summary"] == {"verified": 2, "failed": 1, "pending": 0}

    # Merged MRs stay merged on a re-apply: skipped, no mutating request.
    sb.gitlab.log.clear()
    after = apply(sb, plan)
    assert {r.outcome for r in after.values()} == {"skipped"}
    assert mutations(sb) == []


def test_human_push_is_left_alone(sb: Sandbox) -> None:
    plan = the_plan()
    apply(sb, plan)
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    branch = branch_name("wif-migrate/", aid)
    human = sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_NEW + "# tweak\n", branch=branch,
                               username="alice", message="tweak the pipeline")
    sb.gitlab.log.clear()
    results = apply(sb, plan)
    assert results[aid].outcome == "skipped" and "not made by wif-migrate" in results[aid].detail
    assert sb.gitlab.project("acme/api").repo.branches[branch] == human.id
    assert mutations(sb) == []


def test_a_human_branch_created_between_read_and_write_is_left_alone(sb: Sandbox) -> None:
    """GitLab answers "branch already exists" to our commit: we re-read, see a human's branch, stop."""
    plan = the_plan()
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    branch = branch_name("wif-migrate/", aid)
    ex = MergeRequestExecutor(GitLabMergeRequests(clients(sb)), SETTINGS, plan, dry_run=False, concurrency=4)
    ex.prefetch(plan.actions)  # our reads: no branch yet
    human = sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_NEW + "# by hand\n", branch=branch,
                               username="alice", message="do it by hand")
    sb.gitlab.log.clear()
    result = ex.execute(next(a for a in plan.actions if a.id == aid))
    assert result.outcome == "skipped", result
    assert "already exists" in result.detail and "not made by wif-migrate" in result.detail
    assert sb.gitlab.project("acme/api").repo.branches[branch] == human.id  # not overwritten
    assert sb.gitlab.merge_requests("acme/api") == []  # and no MR opened from it
    # exactly one refused write (the commit), then reads only
    assert [(r["method"], r["status"]) for r in mutations(sb)] == [("POST", 400)]


def test_a_lost_answer_to_a_follow_up_commit_is_taken_over(sb: Sandbox) -> None:
    """Our branch holds an older version of our change; the commit bringing it up to date is
    applied but its answer lost; the client's retry meets "changed since you started editing"."""
    plan = the_plan()
    apply(sb, plan)
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    branch = branch_name("wif-migrate/", aid)
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_NEW + "# an older rewrite\n", branch=branch,
                       username="migrator", message=f"older rewrite\n{action_marker_line(aid)}")
    sb.gitlab.add_fault(Fault("POST", r"/projects/[^/]+/repository/commits$", count=1, mode="drop_after"))
    sb.gitlab.log.clear()
    r = apply(sb, plan)[aid]
    assert r.outcome == "applied" and "an answer was lost" in r.detail, r
    assert sb.gitlab.file("acme/api", ".gitlab-ci.yml", branch) == API_NEW
    commits = [e["status"] for e in sb.gitlab.requests_log() if e["path"].endswith("/repository/commits")
               and e["method"] == "POST"]
    assert commits == [0, 400], commits  # applied once (answer lost), the retry refused; nothing doubled
    assert len([m for m in sb.gitlab.merge_requests("acme/api") if m.state == "opened"]) == 1


def test_target_changed_since_planning_is_refused_without_rewriter(sb: Sandbox) -> None:
    plan = the_plan()
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_OLD + "# someone edited main\n")
    results = apply(sb, plan)
    r = results["merge_request:acme/api:.gitlab-ci.yml"]
    assert r.outcome == "refused" and "changed on main since planning" in r.detail
    assert sb.gitlab.merge_requests("acme/api") == []


def test_target_changed_since_planning_is_rewritten_again(sb: Sandbox) -> None:
    """main moved on after planning: the file is rewritten again from the live text (the human's
    new line survives), not overwritten with the stale planned content."""
    from migrate.plan.planner import default_rewriter

    aid = "merge_request:acme/api:.gitlab-ci.yml"
    actions = tuple(
        dataclasses.replace(a, params=dataclasses.replace(params_as(a, MergeRequestParams), rewrite_options=MRRewriteOptions(
            audience=AUD, gitlab_version=None, service_accounts={"API_KEY_FILE": API_SA}))) if a.id == aid else a
        for a in the_plan().actions)
    plan = dataclasses.replace(the_plan(), actions=actions)
    edited = API_OLD.replace("    - gcloud app deploy\n", "    - gcloud app deploy --quiet  # edited on main\n")
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", edited)
    results = apply(sb, plan, rewriter=default_rewriter())
    assert results[aid].outcome == "applied", results[aid].detail
    branch = branch_name("wif-migrate/", aid)
    content = sb.gitlab.file("acme/api", ".gitlab-ci.yml", branch)
    assert content is not None
    assert "gcloud app deploy --quiet  # edited on main" in content
    assert "activate-service-account" not in content and "id_tokens:" in content and AUD in content
    assert [mr.source_branch for mr in sb.gitlab.merge_requests("acme/api")] == [branch]
