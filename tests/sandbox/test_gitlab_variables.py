"""CI/CD variables at every level, through python-gitlab: values, hidden, scopes, errors, roles."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import gitlab
import pytest
import requests

from migrate.sandbox.launch import Sandbox


def test_project_group_and_instance_variables(demo_gl: Callable[..., gitlab.Gitlab],
                                              demo_sandbox: Sandbox) -> None:
    gl = demo_gl()
    web = gl.projects.get("acme/apps/web-frontend").variables.list(get_all=True)
    assert [(v.key, v.variable_type, v.protected, v.environment_scope) for v in web] == \
        [("GCR_PUSH_KEY", "file", False, "*")]
    key = json.loads(web[0].value)
    expected = demo_sandbox.keys.issue("gcr-pusher@acme-prod.iam.gserviceaccount.com", "k1")
    assert key["client_email"] == expected.service_account and key["private_key_id"] == expected.key_id
    # The group variable lives on acme/apps and is inherited (not listed) by acme/apps/mobile projects.
    group_vars = {v.key: v for v in gl.groups.get("acme/apps").variables.list(get_all=True)}
    assert set(group_vars) == {"GCP_SA_KEY", "GCP_PROJECT_ID"}
    sa_key = group_vars["GCP_SA_KEY"]
    assert sa_key.protected and sa_key.masked and not sa_key.hidden
    assert json.loads(base64.b64decode(sa_key.value))["client_email"] == "deployer@acme-prod.iam.gserviceaccount.com"
    assert gl.projects.get("acme/apps/mobile/android-app").variables.list(get_all=True) == []
    instance = {v.key: v for v in gl.variables.list(get_all=True)}
    assert set(instance) == {"ORG_NAME", "GCP_SHARED_READER_KEY"}
    assert not hasattr(instance["ORG_NAME"], "environment_scope")  # instance variables have none
    assert instance["ORG_NAME"].value == "acme"


def test_hidden_variable_has_null_value(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    (var,) = demo_gl().projects.get("acme/platform/monitoring").variables.list(get_all=True)
    assert (var.key, var.value, var.hidden, var.masked) == ("GCP_MONITORING_KEY", None, True, True)


def test_environment_scoped_keys(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/platform/infra-terraform")
    both = project.variables.list(get_all=True)
    emails = {v.environment_scope: json.loads(v.value)["client_email"] for v in both}
    assert emails == {"staging": "terraform@acme-staging.iam.gserviceaccount.com",
                      "production": "terraform@acme-prod.iam.gserviceaccount.com"}
    with pytest.raises(gitlab.GitlabGetError) as info:
        project.variables.get("TF_SA_KEY")
    assert info.value.response_code == 409
    assert info.value.error_message == ("There are multiple variables with provided parameters. "
                                        "Please use 'filter[environment_scope]'")
    prod = project.variables.get("TF_SA_KEY", filter={"environment_scope": "production"})
    assert prod.protected and json.loads(prod.value)["client_email"].startswith("terraform@acme-prod")


def test_create_update_delete_and_duplicates(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/apps/docs-site")
    created = project.variables.create({"key": "TMP_HIDDEN", "value": "c2VjcmV0LXZhbHVl",
                                        "masked_and_hidden": True, "environment_scope": "review/*"})
    assert created.value is None and created.hidden and created.masked
    with pytest.raises(gitlab.GitlabCreateError) as info:
        project.variables.create({"key": "TMP_HIDDEN", "value": "x" * 10, "environment_scope": "review/*"})
    assert info.value.response_code == 400
    assert info.value.error_message == {"key": ["(TMP_HIDDEN) has already been taken"]}
    other = project.variables.create({"key": "TMP_HIDDEN", "value": "plain", "environment_scope": "*"})
    assert other.value == "plain"
    with pytest.raises(gitlab.GitlabCreateError):
        project.variables.create({"key": "BAD", "value": "has spaces in it", "masked": True})
    project.variables.update("TMP_HIDDEN", {"value": "changed"}, filter={"environment_scope": "*"})
    assert project.variables.get("TMP_HIDDEN", filter={"environment_scope": "*"}).value == "changed"
    project.variables.delete("TMP_HIDDEN", filter={"environment_scope": "review/*"})
    project.variables.delete("TMP_HIDDEN")  # now unique: no filter needed
    assert project.variables.list(get_all=True) == []


def test_roles_for_reading_variables(demo_gl: Callable[..., gitlab.Gitlab], demo_sandbox: Sandbox) -> None:
    reporter = demo_gl("sandbox-reporter-token")
    assert reporter.projects.get("acme/apps/storefront").path == "storefront"  # can see the project
    for read in (lambda: reporter.projects.get("acme/apps/storefront", lazy=True).variables.list(get_all=True),
                 lambda: reporter.groups.get("acme/apps", lazy=True).variables.list(get_all=True),
                 lambda: reporter.variables.list(get_all=True)):
        with pytest.raises(gitlab.GitlabListError) as info:
            read()
        assert info.value.response_code == 403 and info.value.error_message == "403 Forbidden"
    resp = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/projects/1011/variables", timeout=10,
                        headers={"PRIVATE-TOKEN": "sandbox-reporter-token"})
    assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden"})
    # bob is a developer in acme/apps: reads code, not variables (maintainer needed).
    bob = demo_gl("sandbox-bob-token")
    assert bob.projects.get("acme/apps/checkout", lazy=True).files.raw(file_path=".gitlab-ci.yml", ref="main")
    with pytest.raises(gitlab.GitlabListError):
        bob.projects.get("acme/apps/checkout", lazy=True).variables.list(get_all=True)


def test_sandbox_state_never_shows_key_material(demo_sandbox: Sandbox) -> None:
    resp = requests.get(f"{demo_sandbox.gitlab_url}/_sandbox/state", timeout=10)
    text = resp.text
    assert resp.status_code == 200 and "PRIVATE KEY" not in text and "private_key" not in text
    for issued in demo_sandbox.keys.all():
        assert issued.key_file_base64()[:60] not in text
    state = resp.json()
    monitoring = next(p for p in state["projects"] if p["path_with_namespace"] == "acme/platform/monitoring")
    (var,) = monitoring["variables"]
    key_id = demo_sandbox.keys.issue("monitoring@acme-prod.iam.gserviceaccount.com", "k1").key_id
    assert var["value"] == f"<sa-key monitoring@acme-prod.iam.gserviceaccount.com {key_id} base64>"
    assert var["sa_key"]["key_id"] == key_id
