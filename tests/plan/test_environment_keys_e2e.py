"""Terraform per environment with environment-scoped keys, end to end on the sandbox (issue 21).

The org below has two projects whose one shared authentication line (a hidden job that the
deploy jobs `extends`) runs in two environments, each of which received the key of its own service
account through an environment-scoped file variable:

- acme/tf: `GOOGLE_APPLICATION_CREDENTIALS: $TF_KEY` in the template's `variables:` (Terraform);
- acme/gc: `gcloud auth activate-service-account --key-file "$GC_KEY"` in the template's
  `before_script`, the production key protected.

`wif-migrate demo --org FILE` runs the real verbs (scan → plan → apply → merge → verify → retire
→ delete → report) with the real CI rewriter; the sandbox runner evaluates the emitted
`case "$CI_ENVIRONMENT_NAME"` choice in each job. Every key must end deleted, with every pipeline
after the merge green, and each account's binding must admit only its own environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

NOW = "2026-11-25T09:00:00Z"
TF_STG, TF_PRD = "tf@acme-staging.iam.gserviceaccount.com", "tf@acme-prod.iam.gserviceaccount.com"
GC_STG, GC_PRD = "gc@acme-staging.iam.gserviceaccount.com", "gc@acme-prod.iam.gserviceaccount.com"

TF_CI = """stages: [plan, apply]
.tf:
  image: {name: "hashicorp/terraform:1.9", entrypoint: [""]}
  variables:
    GOOGLE_APPLICATION_CREDENTIALS: $TF_KEY
  script:
    - terraform init -input=false
    - terraform apply -input=false -auto-approve
apply:staging:
  extends: .tf
  stage: apply
  environment: staging
apply:production:
  extends: .tf
  stage: apply
  environment:
    name: production
  only: [main]
"""

GC_CI = """.gcloud:
  image: google/cloud-sdk:470.0.0-slim
  before_script:
    - gcloud auth activate-service-account --key-file "$GC_KEY"
deploy:staging:
  extends: .gcloud
  environment: staging
  script: [gcloud run deploy api --region europe-west1]
deploy:production:
  extends: .gcloud
  environment: production
  script: [gcloud run deploy api --region europe-west1]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
"""


def key(sa: str) -> dict[str, Any]:
    return {"email": sa, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z",
                                   "last_authenticated": "2026-11-20T07:00:00Z"}]}


def var(name: str, sa: str, scope: str, protected: bool = False) -> dict[str, Any]:
    return {"key": name, "variable_type": "file", "environment_scope": scope, "protected": protected,
            "sa_key": {"service_account": sa, "key": "k1", "encoding": "json"}}


ORG = {
    "description": "environment-scoped keys on one shared line", "seed": 21,
    "gitlab": {
        "version": "17.5.0",
        "users": [{"username": "migrator", "token": "t-migrator", "admin": True}],
        "groups": [{"path": "acme", "id": 100, "projects": [
            {"path": "tf", "id": 1101, "protected_branches": ["main"], "files": {".gitlab-ci.yml": TF_CI},
             "variables": [var("TF_KEY", TF_STG, "staging"), var("TF_KEY", TF_PRD, "production")]},
            {"path": "gc", "id": 1102, "protected_branches": ["main"], "files": {".gitlab-ci.yml": GC_CI},
             "variables": [var("GC_KEY", GC_STG, "staging"), var("GC_KEY", GC_PRD, "production", protected=True)]},
        ]}],
    },
    "google": {"projects": [
        {"project_id": "acme-identity", "number": 499999999999, "service_accounts": [],
         "workload_identity_pools": [{"id": "gitlab", "state": "ACTIVE", "providers": []}]},
        {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [key(TF_PRD), key(GC_PRD)]},
        {"project_id": "acme-staging", "number": 422222222222, "service_accounts": [key(TF_STG), key(GC_STG)]},
    ]},
}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("envkeys")
    org_file = out / "org.yaml"
    org_file.write_text(yaml.safe_dump(ORG, sort_keys=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "WIF_SANDBOX_"))}
    proc = subprocess.run([sys.executable, "-m", "migrate", "demo", "--org", str(org_file), "--out", str(out / "d"),
                           "--now", NOW], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "d" / "reports" / "report.json").read_text(encoding="utf-8"))
    plan = json.loads((out / "d" / "plan.json").read_text(encoding="utf-8"))
    return {"stdout": proc.stdout, "report": report, "plan": plan}


@pytest.mark.slow
def test_every_environment_key_retires_and_every_pipeline_is_green(story: dict[str, Any]) -> None:
    report = story["report"]
    assert report["manual"] == [], report["manual"]
    assert sorted((k["service_account"], k["status"]) for k in report["keys"]) == sorted(
        (sa, "deleted") for sa in (TF_STG, TF_PRD, GC_STG, GC_PRD))
    verify = story["stdout"].split("=== 5. verify", 1)[1].split("=== 6.", 1)[0]
    assert "FAILED" not in verify and not re.search(r"\b[1-9]\d* failed\b", verify), verify
    for project, jobs in {"acme/tf": "apply:production, apply:staging", "acme/gc": "deploy:production, deploy:staging"}.items():
        row = next(line for line in verify.splitlines() if line.startswith(project))
        assert "VERIFIED" in row and f"{jobs} signed in through federation" in " ".join(verify.split()), verify


@pytest.mark.slow
def test_each_binding_admits_only_its_environment(story: dict[str, Any]) -> None:
    members = {a["params"]["service_account"]: a["params"]["members"] for a in story["plan"]["actions"]
               if a["kind"] == "ensure_binding"}
    pool = "principalSet://iam.googleapis.com/projects/499999999999/locations/global/workloadIdentityPools/gitlab"
    assert members[TF_STG] == [f"{pool}/attribute.project_environment/1101:staging"]
    assert members[TF_PRD] == [f"{pool}/attribute.project_environment/1101:production"]
    assert members[GC_STG] == [f"{pool}/attribute.project_environment/1102:staging"]
    assert members[GC_PRD] == [f"{pool}/attribute.project_protected_environment/1102:protected:production"]


@pytest.mark.slow
def test_the_merged_files_choose_the_account_by_environment(story: dict[str, Any]) -> None:
    texts = {a["params"]["project"]: a["params"]["new_content"] for a in story["plan"]["actions"]
             if a["kind"] == "merge_request"}
    assert set(texts) == {"acme/tf", "acme/gc"}
    for project, (stg, prd) in {"acme/tf": (TF_STG, TF_PRD), "acme/gc": (GC_STG, GC_PRD)}.items():
        text = texts[project]
        assert f'"production") GCP_WIF_SERVICE_ACCOUNT={prd};;' in text
        assert f'"staging") GCP_WIF_SERVICE_ACCOUNT={stg};;' in text
        assert 'exit 1;; esac' in text and "_KEY" not in text.replace("GCP_WIF", "")
