"""The merge-request end-to-end organisation and its hand-built plan: a shared template consumed by
two projects, an API project with a file variable and a jobs project, each CI file before (`*_OLD`)
and after the rewrite (`*_NEW`); `org(port)` the sandbox document, `the_plan()` the plan with one
merge request per CI file, `apply(sb, plan)` runs the merge-request executor against the sandbox.
Federation is pre-seeded in the Google sandbox, as `apply`'s Google actions would leave it. Used by
the merge-request end-to-end and commit-author tests."""

from __future__ import annotations

from typing import Any

from helpers.plan_fixtures import bind_params, mr_params, retired, scope_row
from helpers.sandbox_org import identity_project
from migrate.apply.merge_request_executor import MergeRequestExecutor
from migrate.ci.emit import marker_after_login
from migrate.core.codec import decode_time
from migrate.core.config import GitLabConfig, MergeRequestConfig
from migrate.core.model import Action, ActionResult, BindingRefs, Plan
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.sandbox.gitlab.repo import blob_id
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

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
                provider_id="gitlab", generated_at=decode_time("2026-11-25T00:00:00Z"), inventory_digest="sha256:x",
                actions=actions)


def clients(sb: Sandbox) -> GitLabClients:
    return GitLabClients(GitLabConfig(url=sb.gitlab_url), rate_limit_rpm=None, token=TOKEN)


def apply(sb: Sandbox, plan: Plan, dry_run: bool = False, rewriter: Any = None) -> dict[str, ActionResult]:
    ex = MergeRequestExecutor(GitLabMergeRequests(clients(sb)), SETTINGS, plan, dry_run=dry_run,
                              rewriter=rewriter, concurrency=4)
    return {a.id: ex.execute(a) for a in plan.actions if a.kind == "merge_request"}
