"""The key-retirement end-to-end organisation: acme/api deploys with a File variable API_KEY_FILE
scoped to `production` (key k1 of api@) and a same-name variable scoped to `staging` holding another
key (k2); acme/jobs signs in with JOBS_KEY (key k1 of jobs@); api@ also has an orphan key k3 that no
variable holds. Federation is pre-seeded in Google as `apply` would leave it. `new_sandbox()` serves
it on the sandbox clock `START`, `the_plan(sb)` is the hand-built plan (bindings, one merge request
per project, the disable and delete steps), `migrate_api_only` opens both merge requests, merges
acme/api's and runs the real verify, `Cli` runs `wif-migrate keys …` against it. Used by the keys
end-to-end tests and the GOOGLE_APPLICATION_CREDENTIALS file-variable end-to-end test."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gitlab
import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import pytest
from google.oauth2 import service_account
from googleapiclient import discovery

from helpers.plan_fixtures import bind_params, delete_params, disable_params, mr_params, retired, scope_row
from helpers.sandbox_org import free_port, identity_project
from migrate.apply.merge_request_executor import MergeRequestExecutor
from migrate.ci.emit import marker_after_login
from migrate.cli.verbs import main
from migrate.core.codec import decode_time
from migrate.core.config import GitLabConfig, MergeRequestConfig
from migrate.core.model import Action, BindingRefs, Plan, RetiredVariable
from migrate.core.state import State
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.gitlab.pipelines import GitLabPipelines
from migrate.plan import plan_io
from migrate.sandbox.gitlab.repo import blob_id
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org
from migrate.verify.runner import verify_plan

NUMBER = "111111111111"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab"
PROVIDER = f"{POOL}/providers/gitlab"
AUD = f"https://iam.googleapis.com/{PROVIDER}"
API_SA = "api@acme-prod.iam.gserviceaccount.com"
JOBS_SA = "jobs@acme-prod.iam.gserviceaccount.com"
TOKEN = "t-migrator"
START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = MergeRequestConfig(labels=("wif-migrate",), branch_prefix="wif-migrate/")


def federated(sa: str) -> str:
    return ("    - echo \"$GCP_ID_TOKEN\" > \"$CI_BUILDS_DIR/.gcp_oidc_token\"\n"
            f"    - gcloud iam workload-identity-pools create-cred-config {PROVIDER} --service-account=\"{sa}\" "
            "--credential-source-file=\"$CI_BUILDS_DIR/.gcp_oidc_token\" --output-file=\"$CI_BUILDS_DIR/.gcp_cred.json\"\n"
            "    - gcloud auth login --cred-file=\"$CI_BUILDS_DIR/.gcp_cred.json\"\n"
            f"    - '{marker_after_login('gcloud')}'\n")


ID_TOKENS = f"  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUD}\n"
API_OLD = """deploy:
  environment: production
  script:
    - gcloud auth activate-service-account --key-file "$API_KEY_FILE"
    - gcloud app deploy
"""
API_NEW = "deploy:\n  environment: production\n" + ID_TOKENS + "  script:\n" + federated(API_SA) \
    + "    - gcloud app deploy\n"
JOBS_OLD = """migrate:
  script:
    - echo "$JOBS_KEY" > /tmp/sa.json
    - gcloud auth activate-service-account --key-file /tmp/sa.json
    - python manage.py migrate
"""
JOBS_NEW = "migrate:\n" + ID_TOKENS + "  script:\n" + federated(JOBS_SA) + "    - python manage.py migrate\n"


def member(project_id: int) -> str:
    return f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/{project_id}"


def org(port: int, schedules: list[dict[str, Any]] | None = None) -> Any:
    def sa(email: str, pid: int, keys: list[dict[str, Any]]) -> dict[str, Any]:
        return {"email": email, "keys": keys, "iam_policy": {"bindings": [
            {"role": "roles/iam.workloadIdentityUser", "members": [member(pid)]}]}}

    return parse_org({
        "seed": 11,
        "gitlab": {
            "users": [{"username": "migrator", "token": TOKEN, "admin": True, "email": "migrator@acme.example"}],
            "groups": [{"path": "acme", "id": 100, "projects": [
                {"path": "api", "id": 2004, "protected_branches": ["main"], "files": {".gitlab-ci.yml": API_OLD},
                 "pipeline_schedules": schedules or [],
                 "variables": [
                     {"key": "API_KEY_FILE", "variable_type": "file", "environment_scope": "production",
                      "sa_key": {"service_account": API_SA, "key": "k1", "encoding": "json"}},
                     {"key": "API_KEY_FILE", "variable_type": "file", "environment_scope": "staging",
                      "sa_key": {"service_account": API_SA, "key": "k2", "encoding": "json"}}]},
                {"path": "jobs", "id": 2005, "protected_branches": ["main"], "files": {".gitlab-ci.yml": JOBS_OLD},
                 "variables": [{"key": "JOBS_KEY", "masked": False,
                                "sa_key": {"service_account": JOBS_SA, "key": "k1", "encoding": "json"}}]},
            ]}],
        },
        "google": {
            "admin_token": "g-admin",
            "tokens": [{"token": "g-no-analyzer",
                        "denied_permissions": ["policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query"]}],
            "projects": [
                identity_project(NUMBER, port),
                {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                    sa(API_SA, 2004, [{"label": "k1", "created": "2024-03-01T10:00:00Z",
                                       "last_authenticated": "2026-11-10T10:00:00Z"},
                                      {"label": "k2", "created": "2024-03-01T10:00:00Z"},
                                      {"label": "k3", "created": "2025-01-01T10:00:00Z",
                                       "last_authenticated": "2025-06-01T10:00:00Z"}]),
                    sa(JOBS_SA, 2005, [{"label": "k1", "created": "2024-03-01T10:00:00Z",
                                        "last_authenticated": "2026-11-19T10:00:00Z"}])]},
            ]},
    }, "keys org")



def new_sandbox(schedules: list[dict[str, Any]] | None = None) -> Sandbox:
    port = free_port()
    return Sandbox(org(port, schedules), gitlab_port=port, now=START)


def kid(sb: Sandbox, sa: str, label: str) -> str:
    return sb.keys.issue(sa, label).key_id


def mr_action(project: str, old: str, new: str, sa: str, key_id: str, variable: str, job: str) -> Action:
    aid = f"merge_request:{project}:.gitlab-ci.yml"
    return Action(aid, "merge_request", f"{project}:.gitlab-ci.yml@main", f"rewrite CI of {project}",
                  depends_on=(f"ensure_binding:{sa}",),
                  params=mr_params(project, base_blob_id=blob_id(old.encode()), new_content=new,
                                   diff="--- a\n+++ b\n", jobs=(job,), provider=PROVIDER, audience=AUD,
                                   keys=(retired(sa, key_id, variable),),
                                   binding=BindingRefs((f"ensure_binding:{sa}",))))


def key_actions(sa: str, key_id: str, mr: str, variables: list[dict[str, Any]]) -> list[Action]:
    params = disable_params(sa, key_id, key_project="acme-prod",
                            variables=tuple(RetiredVariable(**v) for v in variables))
    disable = f"disable_key:{sa}#{key_id}"
    return [Action(disable, "disable_key", f"{sa}/keys/{key_id}", "disable", depends_on=(mr,), params=params),
            Action(f"delete_key:{sa}#{key_id}", "delete_key", f"{sa}/keys/{key_id}", "delete",
                   depends_on=(disable,), params=delete_params(params))]


def the_plan(sb: Sandbox) -> Plan:
    api_k1, jobs_k1 = kid(sb, API_SA, "k1"), kid(sb, JOBS_SA, "k1")
    binds = [Action(f"ensure_binding:{sa}", "ensure_binding", f"projects/acme-prod/serviceAccounts/{sa}", "bind",
                    params=bind_params(sa, member(p), scopes=(scope_row(proj),),
                                       resource=f"projects/acme-prod/serviceAccounts/{sa}"))
             for sa, p, proj in ((API_SA, 2004, "acme/api"), (JOBS_SA, 2005, "acme/jobs"))]
    api_mr = mr_action("acme/api", API_OLD, API_NEW, API_SA, api_k1, "project:acme/api:API_KEY_FILE[production]",
                       "deploy")
    jobs_mr = mr_action("acme/jobs", JOBS_OLD, JOBS_NEW, JOBS_SA, jobs_k1, "project:acme/jobs:JOBS_KEY", "migrate")
    api_var = {"level": "project", "owner": "acme/api", "owner_id": 2004, "name": "API_KEY_FILE",
               "environment_scope": "production", "ref": "project:acme/api:API_KEY_FILE[production]"}
    jobs_var = {"level": "project", "owner": "acme/jobs", "owner_id": 2005, "name": "JOBS_KEY",
                "environment_scope": "*", "ref": "project:acme/jobs:JOBS_KEY"}
    actions = (*binds, api_mr, jobs_mr, *key_actions(API_SA, api_k1, api_mr.id, [api_var]),
               *key_actions(JOBS_SA, jobs_k1, jobs_mr.id, [jobs_var]))
    return Plan(gitlab_url=sb.gitlab_url, identity_project="acme-id", project_number=NUMBER, pool_id="gitlab",
                provider_id="gitlab", generated_at=decode_time("2026-11-19T00:00:00Z"), inventory_digest="sha256:x",
                actions=actions)


def clients(sb: Sandbox) -> GitLabClients:
    return GitLabClients(GitLabConfig(url=sb.gitlab_url), rate_limit_rpm=None, token=TOKEN)


def migrate_api_only(sb: Sandbox, plan: Plan, state: State) -> None:
    """Open both MRs, merge acme/api's (its federated pipeline runs), run the real verify."""
    ex = MergeRequestExecutor(GitLabMergeRequests(clients(sb)), SETTINGS, plan, dry_run=False, concurrency=2)
    results = [ex.execute(a) for a in plan.actions if a.kind == "merge_request"]
    assert {r.outcome for r in results} == {"applied"}, results
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=TOKEN)
    for m in gl.projects.get("acme/api").mergerequests.list(state="opened", get_all=True):
        m.merge()
    verified = {r.action_id: r.status for r in verify_plan(GitLabPipelines(clients(sb)), plan, "wif-migrate/", state)}
    assert verified == {"merge_request:acme/api:.gitlab-ci.yml": "verified",
                        "merge_request:acme/jobs:.gitlab-ci.yml": "pending"}, verified


class Cli:
    """Runs `wif-migrate keys …` against the sandbox with `--now` = the sandbox clock."""

    def __init__(self, sb: Sandbox, tmp: Path, plan: Plan, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        self.sb, self.capsys, self.monkeypatch = sb, capsys, monkeypatch
        self.config = str(sb.write_config(tmp / "c.yaml", state_dir=str(tmp / "state")))
        self.plan = str(plan_io.write(plan, tmp / "plan.json"))

    def __call__(self, *args: str, plan: bool = True) -> tuple[int, dict[str, Any]]:
        self.capsys.readouterr()
        argv = ["keys", *args, "--config", self.config, "--now", self.sb.clock.iso(), "--format", "json"]
        if plan:
            argv += ["--plan", self.plan]
        code = main(argv)
        out = self.capsys.readouterr().out
        return code, json.loads(out)


def by_target(out: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {r["evidence"].get("key_id") if kind != "delete_variable" else r["target"]: r
            for r in out["results"] if r["kind"] == kind}


def key_state(sb: Sandbox, key_id: str) -> str:
    return str(sb.google.key_state(key_id)["state"])  # type: ignore[union-attr]


def pipeline(sb: Sandbox, project: str, ref: str = "main") -> str:
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=TOKEN)
    p = gl.projects.get(project).pipelines.create({"ref": ref})
    return str(gl.projects.get(project).pipelines.get(p.id).status)


def key_sign_in(sb: Sandbox, sa: str, label: str) -> None:
    """A key-signed sign-in with google-auth (what `gcloud auth activate-service-account` does)."""
    info = sb.keys.issue(sa, label).key_file(token_uri=f"{sb.google_url}/token")
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(google.auth.transport.requests.Request())


def iam(sb: Sandbox) -> Any:
    return discovery.build("iam", "v1", credentials=google.oauth2.credentials.Credentials("g-admin"),
                           client_options={"api_endpoint": sb.google_url}, static_discovery=True,
                           cache_discovery=False)
