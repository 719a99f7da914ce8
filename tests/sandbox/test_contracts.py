"""Contract tests: each emulator route names its outside source (migrate/sandbox/sources.py), and
response shapes are checked against that source — Google's discovery documents (as shipped in
google-api-python-client) and the exposed fields of GitLab's Grape entities (lib/api/entities/*.rb,
copied below with their paths) — never against the emulator's own code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import gitlab
import pytest
import requests
from helpers.gitlab_entities import (
    BRANCH,
    COMMIT,
    INSTANCE_VARIABLE,
    JOB_BASIC,
    MERGE_REQUEST_BASIC,
    PIPELINE_BASIC,
    VARIABLE,
)

from migrate.sandbox import sources
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

ADMIN = "sandbox-google-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
NUMBER = "499999999999"
SA = "deployer@acme-prod.iam.gserviceaccount.com"

ORG = {
    "seed": 5,
    "gitlab": {"version": "17.5.0", "users": [{"username": "migrator", "token": "t", "admin": True,
                                               "email": "m@acme.example"}],
               "groups": [{"path": "acme", "id": 100, "variables": [{"key": "G", "value": "group-value"}],
                           "projects": [{"path": "api", "id": 1001, "tags": ["v1"],
                                         "variables": [{"key": "V", "value": "value-12345"}],
                                         "files": {".gitlab-ci.yml": "deploy:\n  script: [echo]\n"}}]}]},
    "google": {"admin_token": ADMIN, "organization": {"id": "1", "domain": "acme.example"}, "projects": [
        {"project_id": "acme-identity", "number": int(NUMBER), "workload_identity_pools": [{"id": "gitlab"}]},
        {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
            {"email": SA, "keys": [{"label": "k1", "last_authenticated": "2026-11-20T07:00:00Z"}]}]}]},
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(parse_org(ORG)) as sandbox:
        yield sandbox


def _patterns(app: Any) -> set[tuple[str, str]]:
    return {(m, p.pattern[1:-1]) for m, p, _ in app.routes if not p.pattern.startswith("^/_sandbox/")}


def test_every_route_names_its_source(sb: Sandbox) -> None:
    assert sb.google is not None
    for app, table in ((sb.gitlab, sources.GITLAB), (sb.google, sources.GOOGLE)):
        routes = _patterns(app)
        assert routes - set(table) == set(), "routes without a source: add each to migrate/sandbox/sources.py"
        assert set(table) - routes == set(), "sources for routes that do not exist"
        assert all(v.strip() for v in table.values())
    # the check can fail: a route added without a source is caught
    assert _patterns(sb.gitlab) | {("GET", "/api/v4/new")} - set(sources.GITLAB) != set()


# --- Google: discovery documents --------------------------------------------------------------

def _doc(api: str) -> dict[str, Any]:
    path = resources.files("googleapiclient") / "discovery_cache" / "documents" / f"{api}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _methods(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from (node.get("methods") or {}).values()
    for r in (node.get("resources") or {}).values():
        yield from _methods(r)


def _method(api: str, method_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = _doc(api)
    found = next((m for m in _methods(doc) if m["id"] == method_id), None)
    assert found is not None, f"{method_id} is not in {api}'s discovery document"
    return doc, found


def test_google_sources_are_discovery_methods_with_the_same_path(sb: Sandbox) -> None:
    for (verb, pattern), source in sources.GOOGLE.items():
        if not source.startswith("discovery:"):
            continue
        _, api, method_id = source.split(":", 2)
        _, m = _method(api, method_id)
        assert m["httpMethod"] == verb, (method_id, m["httpMethod"], verb)
        sample = "/" + re.sub(r"\{\+?[^}]+\}", "x", m.get("flatPath") or m["path"])
        sample = sample.replace("/locations/x/", "/locations/global/")
        assert re.fullmatch(pattern, sample), (method_id, sample, pattern)


def check_schema(value: Any, schema: dict[str, Any], doc: dict[str, Any], where: str = "$") -> list[str]:
    """Every field the emulator answers must exist in the discovery schema, with its type."""
    if "$ref" in schema:
        return check_schema(value, doc["schemas"][schema["$ref"]], doc, where)
    kind = schema.get("type")
    problems: list[str] = []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                problems += check_schema(v, props[k], doc, f"{where}.{k}")
            elif extra is not None:
                problems += check_schema(v, extra, doc, f"{where}.{k}")
            elif k != "@type":
                problems.append(f"{where}.{k}: not in the discovery schema")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        for i, item in enumerate(value):
            problems += check_schema(item, schema.get("items") or {}, doc, f"{where}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where}: not a string")
        elif schema.get("enum") and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} not in {schema['enum']}")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{where}: not a boolean")
    elif kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        problems.append(f"{where}: not an integer")
    return problems


def _response_schema(source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    _, api, method_id = source.split(":", 2)
    doc, m = _method(api, method_id)
    return doc, m.get("response") or {"type": "object", "properties": {}}


def test_google_responses_have_the_discovery_shape(sb: Sandbox) -> None:
    g = str(sb.google_url).rstrip("/")
    sa = f"{g}/v1/projects/acme-prod/serviceAccounts/{SA}"
    pools = f"{g}/v1/projects/{NUMBER}/locations/global/workloadIdentityPools"
    pool = f"{pools}/gitlab"
    key_id = sb.keys.issue(SA, "k1").key_id
    calls: list[tuple[str, str, str, Any]] = [
        ("GET", f"{g}/v1/projects/acme-prod/serviceAccounts", "iam.projects.serviceAccounts.list", None),
        ("GET", sa, "iam.projects.serviceAccounts.get", None),
        ("POST", sa + ":getIamPolicy", "iam.projects.serviceAccounts.getIamPolicy", {}),
        ("POST", sa + ":setIamPolicy", "iam.projects.serviceAccounts.setIamPolicy", {"policy": {"bindings": [
            {"role": "roles/iam.workloadIdentityUser",
             "members": [f"principalSet://iam.googleapis.com/projects/{NUMBER}/locations/global/"
                         "workloadIdentityPools/gitlab/attribute.project_id/1001"]}]}}),
        ("GET", sa + "/keys", "iam.projects.serviceAccounts.keys.list", None),
        ("GET", f"{sa}/keys/{key_id}", "iam.projects.serviceAccounts.keys.get", None),
        ("POST", f"{sa}/keys/{key_id}:disable", "iam.projects.serviceAccounts.keys.disable", {}),
        ("POST", f"{sa}/keys/{key_id}:enable", "iam.projects.serviceAccounts.keys.enable", {}),
        ("GET", pools, "iam.projects.locations.workloadIdentityPools.list", None),
        ("GET", pool, "iam.projects.locations.workloadIdentityPools.get", None),
        ("POST", pool + "/providers?workloadIdentityPoolProviderId=gitlab",
         "iam.projects.locations.workloadIdentityPools.providers.create",
         {"attributeMapping": {"google.subject": "assertion.sub", "attribute.project_id": "assertion.project_id"},
          "attributeCondition": "assertion.namespace_id == '100'",
          "oidc": {"issuerUri": sb.gitlab_url.rstrip("/")}}),
        ("GET", pool + "/providers", "iam.projects.locations.workloadIdentityPools.providers.list", None),
        ("GET", pool + "/providers/gitlab", "iam.projects.locations.workloadIdentityPools.providers.get", None),
        ("GET", f"{g}/v3/projects/acme-prod", "cloudresourcemanager.projects.get", None),
        ("GET", f"{g}/v3/projects:search?query=id:acme-prod", "cloudresourcemanager.projects.search", None),
        ("GET", f"{g}/v1/projects/acme-prod/locations/global/activityTypes/serviceAccountKeyLastAuthentication/"
                "activities:query", "policyanalyzer.projects.locations.activityTypes.activities.query", None),
    ]
    by_id = {v.split(":", 2)[2]: v for v in sources.GOOGLE.values() if v.startswith("discovery:")}
    problems: list[str] = []
    for verb, url, method_id, body in calls:
        r = requests.request(verb, url, headers=AUTH, json=body, timeout=10)
        assert r.status_code == 200, (method_id, r.text)
        doc, schema = _response_schema(by_id[method_id])
        problems += [f"{method_id}: {p}" for p in check_schema(r.json(), schema, doc)]
        if method_id.endswith("providers.create"):  # its Operation, polled through operations.get
            op = r.json()["name"]
            got = requests.get(f"{g}/v1/{op}", headers=AUTH, timeout=10)
            doc, schema = _response_schema(by_id[
                "iam.projects.locations.workloadIdentityPools.providers.operations.get"])
            problems += [f"operations.get: {p}" for p in check_schema(got.json(), schema, doc)]
    assert problems == []
    # the checker can fail: a field the discovery document does not know is caught
    doc, schema = _response_schema(by_id["iam.projects.serviceAccounts.get"])
    assert check_schema({"email": SA, "emailAddress": SA}, schema, doc) == [
        "$.emailAddress: not in the discovery schema"]


def test_sts_and_generate_access_token_have_the_discovery_shape(sb: Sandbox) -> None:
    g = str(sb.google_url).rstrip("/")
    name = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab/providers/gitlab"
    if requests.get(f"{g}/v1/{name}", headers=AUTH, timeout=10).status_code != 200:
        test_google_responses_have_the_discovery_shape(sb)
    by_id = {v.split(":", 2)[2]: v for v in sources.GOOGLE.values() if v.startswith("discovery:")}
    token = sb.gitlab.mint_id_token("acme/api", ref="main", audience=f"https://iam.googleapis.com/{name}")
    r = requests.post(f"{g}/v1/token", timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "audience": f"//iam.googleapis.com/{name}",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "subject_token": token})
    assert r.status_code == 200, r.text
    doc, schema = _response_schema(by_id["sts.token"])
    assert check_schema(r.json(), schema, doc) == []
    federated = r.json()["access_token"]
    r = requests.post(f"{g}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken", timeout=10,
                      headers={"Authorization": f"Bearer {federated}"},
                      json={"scope": ["https://www.googleapis.com/auth/cloud-platform"]})
    assert r.status_code == 200, r.text
    doc, schema = _response_schema(by_id["iamcredentials.projects.serviceAccounts.generateAccessToken"])
    assert check_schema(r.json(), schema, doc) == []


# --- GitLab: the fields its Grape entities expose ---------------------------------------------

# The fields of GitLab's entities (gitlab_entities.py, copied from gitlabhq/gitlabhq).
USER_SELF = {"commit_email", "email", "public_email"}  # lib/api/entities/user_public.rb


def test_gitlab_responses_expose_what_the_entities_expose(sb: Sandbox) -> None:
    gl = gitlab.Gitlab(sb.gitlab_url, private_token="t")
    project = gl.projects.get("acme/api")
    missing: dict[str, set[str]] = {}

    def need(name: str, got: dict[str, Any], wanted: set[str]) -> None:
        if wanted - set(got):
            missing[name] = wanted - set(got)

    commit = project.commits.list(ref_name="main", get_all=False)[0]
    need("Commit", commit.attributes, COMMIT)
    need("Branch", project.branches.get("main").attributes, BRANCH)
    need("Branch.commit", project.branches.get("main").commit, COMMIT)
    pipeline = project.pipelines.create({"ref": "main"})
    need("PipelineBasic", project.pipelines.list(get_all=False)[0].attributes, PIPELINE_BASIC)
    job = pipeline.jobs.list(get_all=False)[0]
    need("JobBasic", job.attributes, JOB_BASIC)
    need("JobBasic.pipeline", job.pipeline, PIPELINE_BASIC)
    need("Variable (project)", project.variables.get("V").attributes, VARIABLE)
    need("Variable (group)", gl.groups.get("acme").variables.get("G").attributes, VARIABLE)
    project.branches.create({"branch": "contract", "ref": "main"})
    mr = project.mergerequests.create({"source_branch": "contract", "target_branch": "main", "title": "c"})
    need("MergeRequestBasic", project.mergerequests.list(get_all=False)[0].attributes, MERGE_REQUEST_BASIC)
    need("MergeRequest", project.mergerequests.get(mr.iid).attributes, MERGE_REQUEST_BASIC)
    gl.auth()
    assert gl.user is not None
    need("UserPublic (GET /user)", gl.user.attributes, USER_SELF)
    assert missing == {}
    # instance variables carry neither hidden nor environment_scope (respond_to? is false)
    inst = gl.variables.create({"key": "I", "value": "instance-value"}).attributes
    assert set(inst) >= INSTANCE_VARIABLE and not ({"hidden", "environment_scope"} & set(inst))
