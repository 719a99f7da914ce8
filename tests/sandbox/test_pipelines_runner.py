"""The sandbox pipeline runner on small literal CI files, against both emulators over HTTP.

Pipelines are started the way GitLab starts them (python-gitlab `pipelines.create`, pushes);
Google state is changed through the real IAM client (disable a key, drop a binding)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gitlab
import google.oauth2.credentials
import pytest
from googleapiclient import discovery
from helpers.sandbox_org import free_port, identity_project

from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

ID_NUMBER = "111111111111"
SA = "deployer@acme-prod.iam.gserviceaccount.com"
POOL = f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/gitlab"
AUD = f"https://iam.googleapis.com/{POOL}/providers/gitlab"
MEMBER = f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1002"

KEY_CI = """
stages: [auth, other]
deploy:
  stage: auth
  script:
    - echo "$GCP_SA_KEY" | base64 -d > /tmp/sa.json
    - gcloud auth activate-service-account --key-file=/tmp/sa.json
    - gcloud run deploy api --region europe-west1
lint:
  stage: other
  script: [npm test]
only-tags:
  stage: other
  script: [echo tag]
  only: [tags]
main-only:
  stage: other
  script: [echo main]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
    - when: never
"""

FED_CI = f"""
deploy:
  image: google/cloud-sdk:slim
  environment: production
  id_tokens:
    GCP_ID_TOKEN:
      aud: {AUD}
  script:
    - echo "$GCP_ID_TOKEN" > "$CI_BUILDS_DIR/.gcp_oidc_token"
    - gcloud iam workload-identity-pools create-cred-config {POOL}/providers/gitlab
        --service-account="{SA}" --credential-source-file="$CI_BUILDS_DIR/.gcp_oidc_token"
        --output-file="$CI_BUILDS_DIR/.gcp_cred.json"
    - gcloud auth login --cred-file="$CI_BUILDS_DIR/.gcp_cred.json"
    - export GOOGLE_APPLICATION_CREDENTIALS="$CI_BUILDS_DIR/.gcp_cred.json"
    - terraform apply
"""



def org(gitlab_port: int) -> Any:
    return parse_org({
        "seed": 3,
        "gitlab": {
            "users": [{"username": "migrator", "token": "t-migrator", "admin": True}],
            "groups": [{"path": "acme", "id": 100, "projects": [
                {"path": "keyed", "id": 1001, "protected_branches": ["main"], "branches": ["dev"],
                 "variables": [{"key": "GCP_SA_KEY", "protected": True,
                                "sa_key": {"service_account": SA, "key": "k1", "encoding": "base64"}}],
                 "files": {".gitlab-ci.yml": KEY_CI}},
                {"path": "federated", "id": 1002, "protected_branches": ["main"],
                 "files": {".gitlab-ci.yml": FED_CI}},
            ]}],
        },
        "google": {
            "admin_token": "g-admin",
            "projects": [
                identity_project(ID_NUMBER, gitlab_port, subject="assertion.sub"),
                {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                    {"email": SA, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z"}],
                     "iam_policy": {"bindings": [
                         {"role": "roles/iam.workloadIdentityUser", "members": [MEMBER]}]}}]},
            ]},
    }, "test org")


@pytest.fixture()
def sandbox() -> Iterator[Sandbox]:
    port = free_port()
    with Sandbox(org(port), gitlab_port=port) as sb:
        yield sb


def gl(sb: Sandbox) -> gitlab.Gitlab:
    return gitlab.Gitlab(sb.gitlab_url, private_token="t-migrator")


def iam(sb: Sandbox) -> Any:
    return discovery.build("iam", "v1", credentials=google.oauth2.credentials.Credentials("g-admin"),
                           client_options={"api_endpoint": sb.google_url}, static_discovery=True,
                           cache_discovery=False)


def run(sb: Sandbox, project: str, ref: str = "main") -> dict[str, Any]:
    """Start a pipeline through the API; return {job name: (status, trace)} and the pipeline."""
    p = gl(sb).projects.get(project)
    pipeline = p.pipelines.create({"ref": ref})
    pipeline = p.pipelines.get(pipeline.id)
    jobs = {j.name: (j.status, p.jobs.get(j.id, lazy=True).trace().decode())
            for j in pipeline.jobs.list(get_all=True)}
    return {"status": pipeline.status, "jobs": jobs}


def key_id(sb: Sandbox) -> str:
    return sb.keys.issue(SA, "k1").key_id


def test_key_activation_succeeds_then_fails_after_disable(sandbox: Sandbox) -> None:
    first = run(sandbox, "acme/keyed")
    status, trace = first["jobs"]["deploy"]
    assert status == "success", trace
    assert f"key id {key_id(sandbox)}" in trace and SA in trace
    assert "PRIVATE KEY" not in trace and sandbox.keys.issue(SA, "k1").private_pem[40:80] not in trace
    kid = key_id(sandbox)
    iam(sandbox).projects().serviceAccounts().keys().disable(
        name=f"projects/acme-prod/serviceAccounts/{SA}/keys/{kid}", body={}).execute()
    second = run(sandbox, "acme/keyed")
    status, trace = second["jobs"]["deploy"]
    assert status == "failed" and second["status"] == "failed"
    # Google answers a disabled key the way it does for real: invalid_grant, Invalid JWT Signature.
    assert "refused: invalid_grant" in trace and kid in trace, trace
    assert "PRIVATE KEY" not in trace


def test_jobs_without_auth_and_rules(sandbox: Sandbox) -> None:
    result = run(sandbox, "acme/keyed")
    assert result["jobs"]["lint"][0] == "success"
    assert "No Google Cloud authentication" in result["jobs"]["lint"][1]
    assert "only-tags" not in result["jobs"]  # never created on a branch
    assert result["jobs"]["main-only"][0] == "manual"
    dev = run(sandbox, "acme/keyed", ref="dev")
    assert "main-only" not in dev["jobs"]
    # The key variable is protected and dev is not: the job gets no key and fails like gcloud.
    status, trace = dev["jobs"]["deploy"]
    assert status == "failed" and "Could not read json file" in trace, trace


def test_federated_job_succeeds_with_binding_and_fails_without(sandbox: Sandbox) -> None:
    ok = run(sandbox, "acme/federated")
    status, trace = ok["jobs"]["deploy"]
    assert status == "success", trace
    assert "ID token GCP_ID_TOKEN issued" in trace and f"federated sign-in as {SA}" in trace
    assert "environment production" in trace
    client = iam(sandbox)
    resource = f"projects/acme-prod/serviceAccounts/{SA}"
    policy = client.projects().serviceAccounts().getIamPolicy(resource=resource).execute()
    policy["bindings"] = [b for b in policy.get("bindings", []) if MEMBER not in b["members"]]
    client.projects().serviceAccounts().setIamPolicy(resource=resource, body={"policy": policy}).execute()
    bad = run(sandbox, "acme/federated")
    status, trace = bad["jobs"]["deploy"]
    assert status == "failed"
    assert "Unable to acquire impersonated credentials" in trace and "getAccessToken" in trace, trace
    assert "eyJ" not in trace  # the ID token itself never reaches the log
