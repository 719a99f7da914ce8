"""Project CI lint: local and project includes really read, extends, !reference, GitLab's errors."""

from __future__ import annotations

from collections.abc import Callable

import gitlab
import yaml

from migrate.sandbox.launch import Sandbox

LOCAL_AND_PROJECT = """
include:
  - local: ci/gke.yml
  - project: acme/platform/ci-templates
    ref: main
    file: templates/gcp-auth.yml

stages: [deploy]

deploy:
  extends: .gke
  stage: deploy
  script: [kubectl apply -k overlays/staging]

login:
  stage: deploy
  before_script:
    - !reference [.gcp-auth, before_script]
    - echo done
  script: [gcloud projects list]
"""


def test_lint_resolves_local_and_project_includes(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/platform/k8s-deploy")
    lint = project.ci_lint.create({"content": LOCAL_AND_PROJECT, "include_jobs": True})
    assert lint.valid is True and lint.errors == [] and lint.warnings == []
    kinds = [(i["type"], i["location"], i["context_project"]) for i in lint.includes]
    assert kinds == [("local", "ci/gke.yml", "acme/platform/k8s-deploy"),
                     ("file", "templates/gcp-auth.yml", "acme/platform/ci-templates")]
    assert lint.includes[1]["extra"] == {"project": "acme/platform/ci-templates", "ref": "main"}
    merged = yaml.safe_load(lint.merged_yaml)
    assert merged["deploy"]["extends"] == ".gke"  # extends expanded, key kept
    assert any("activate-service-account --key-file /tmp/gke.json" in line
               for line in merged["deploy"]["before_script"])
    login = merged["login"]["before_script"]
    assert login[-1] == "echo done" and any("base64 -d" in line for line in login)  # !reference flattened
    assert merged["stages"] == [".pre", "deploy", ".post"]
    jobs = {j["name"]: j for j in lint.jobs}
    assert set(jobs) == {"deploy", "login"} and jobs["deploy"]["stage"] == "deploy"
    assert jobs["deploy"]["before_script"][0].startswith('echo "$GKE_DEPLOY_KEY"')


def test_lint_errors_use_gitlab_wording(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/apps/storefront")
    cases = {
        "include: [{local: nope.yml}]\njob: {script: [x]}\n": "Local file `nope.yml` does not exist!",
        "include: [{project: acme/nothing, file: a.yml}]\njob: {script: [x]}\n":
            "Project `acme/nothing` not found or access denied! Make sure any includes in the "
            "pipeline configuration are correctly defined.",
        "include: [{project: acme/platform/ci-templates, file: x.yml}]\njob: {script: [x]}\n":
            "Project `acme/platform/ci-templates` file `x.yml` does not exist!",
        "job: {extends: .missing, script: [x]}\n": "job: unknown keys in `extends` (.missing)",
        "job: {stage: test}\n": "jobs:job config should implement the script:, run:, or trigger: keyword",
        ".hidden: {script: [x]}\n": "jobs config should contain at least one visible job",
        "job: {script: [!reference [.nothing, script]]}\n": '!reference [".nothing", "script"] could not be found',
        "job: {script: [x], stage: nowhere}\n":
            "job job: chosen stage nowhere does not exist; available stages are .pre, build, test, deploy, .post",
    }
    for content, error in cases.items():
        lint = project.ci_lint.create({"content": content})
        assert lint.valid is False and lint.errors == [error], content
    bad_yaml = project.ci_lint.create({"content": "job: [unclosed"})
    assert bad_yaml.valid is False and bad_yaml.errors[0].startswith("Invalid configuration format")


def test_lint_committed_config_with_get(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/apps/storefront")
    lint = project.ci_lint.get(include_jobs=True)
    assert lint.valid and [i["location"] for i in lint.includes] == ["templates/gcp-auth.yml",
                                                                     "templates/cloud-run.yml"]
    deploy = next(j for j in lint.jobs if j["name"] == "deploy-production")
    assert deploy["script"] == ['gcloud run deploy "$SERVICE_NAME" --image "$IMAGE" --region "$GCP_REGION" --quiet']
    assert deploy["environment"] == "production"
    k8s = demo_gl().projects.get("acme/platform/k8s-deploy").ci_lint.get(content_ref="main")
    assert k8s.valid  # ci_config_path ci/pipeline.yml is honoured


def test_project_include_needs_access(demo_sandbox: Sandbox, demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    # The migrator is capped to guest on labs/data-pipeline: it cannot include files from there.
    content = "include: [{project: labs/data-pipeline, file: .gitlab-ci.yml}]\njob: {script: [x]}\n"
    lint = demo_gl().projects.get("acme/apps/storefront").ci_lint.create({"content": content})
    assert lint.valid is False and "not found or access denied" in lint.errors[0]
