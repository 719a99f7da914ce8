"""Response shapes of every GitLab route the emulator serves, from GitLab's own source.

Each call below names a route of migrate/sandbox/sources.py, the fields GitLab answers there (copied
from the gitlabhq/gitlabhq file cited with each set — the Grape entity the endpoint presents, or the
endpoint's own hash/headers), and is made over HTTP against the emulator. A completeness test fails
when a GitLab route in sources.py has no call here, so the set stays whole as routes are added.
The field sets are never derived from the emulator's code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import gitlab
import pytest
import requests
from helpers.gitlab_entities import (
    BLOB_DATA,
    BLOB_HEADERS,
    BRANCH,
    COMMIT,
    COMMIT_DETAIL,
    GROUP,
    INSTANCE_VARIABLE,
    JOB,
    JWK,
    LINT,
    MERGE_REQUEST,
    MERGE_REQUEST_BASIC,
    METADATA,
    NAMESPACE_BASIC,
    NOTE,
    OIDC,
    PAT,
    PIPELINE,
    PIPELINE_BASIC,
    PROJECT,
    PROJECT_WITH_ACCESS,
    SCHEDULE,
    SCHEDULE_DETAILS,
    TAG,
    TEMPLATE,
    TEMPLATES_LIST,
    USER_BASIC,
    USER_PUBLIC,
    VARIABLE,
    VERSION,
)

from migrate.core import cron
from migrate.sandbox import sources
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org


@dataclass(frozen=True)
class Call:
    """One request to one emulated route and what GitLab's source says it answers.

    kind: "object" (JSON object with `fields`), "list" (JSON array, each item with `fields`),
    "headers" (`fields` are response headers), "text" (a non-JSON body), "empty" (204, no body)."""

    verb: str
    route: str  # pattern, as in sources.GITLAB
    url: str  # path template: {p} project id, {g} group id, {iid}, {plid}, {jid}, {manual}, {sha}
    fields: frozenset[str]
    kind: str = "object"
    body: dict[str, Any] | None = None
    status: int = 200


P, G, MR, A = sources.P, sources.G, sources.MR, r"/api/v4"
PV, GV, IV = P + r"/variables", G + r"/variables", r"/api/v4/admin/ci/variables"
KEY = r"/(?P<key>[^/]+)"
FILE = P + r"/repository/files/(?P<path>[^/]+)"
PL, JOBR = P + r"/pipelines/(?P<plid>\d+)", P + r"/jobs/(?P<jid>\d+)"
F = frozenset
CI_FILE = "deploy:\n  script: [echo]\nmanual:\n  script: [echo]\n  when: manual\n"

CALLS: list[Call] = [
    Call("GET", A + "/version", "/api/v4/version", F(VERSION)),
    Call("GET", A + "/metadata", "/api/v4/metadata", F(METADATA)),
    Call("GET", A + "/user", "/api/v4/user", F(USER_PUBLIC)),
    Call("GET", A + "/templates/gitlab_ci_ymls", "/api/v4/templates/gitlab_ci_ymls", F(TEMPLATES_LIST), "list"),
    Call("GET", A + r"/templates/gitlab_ci_ymls/(?P<key>[^?]+)", "/api/v4/templates/gitlab_ci_ymls/Shape%2FBase",
         F(TEMPLATE)),
    Call("GET", A + "/users", "/api/v4/users?username=migrator", F(USER_BASIC), "list"),
    Call("GET", A + "/personal_access_tokens/self", "/api/v4/personal_access_tokens/self", F(PAT)),
    Call("GET", r"/\.well-known/openid-configuration", "/.well-known/openid-configuration", F(OIDC)),
    Call("GET", r"/oauth/discovery/keys", "/oauth/discovery/keys", F(JWK), "jwks"),
    Call("GET", r"/-/jwks", "/-/jwks", F(JWK), "jwks"),
    Call("GET", A + "/groups", "/api/v4/groups", F(GROUP), "list"),
    Call("GET", G, "/api/v4/groups/{g}", F(GROUP)),
    Call("GET", G + "/subgroups", "/api/v4/groups/{g}/subgroups", F(GROUP), "list"),
    Call("GET", G + "/descendant_groups", "/api/v4/groups/{g}/descendant_groups", F(GROUP), "list"),
    Call("GET", G + "/projects", "/api/v4/groups/{g}/projects", F(PROJECT), "list"),
    Call("GET", A + "/projects", "/api/v4/projects", F(PROJECT), "list"),
    Call("GET", P, "/api/v4/projects/{p}", F(PROJECT_WITH_ACCESS)),
    # variables: lib/api/ci/variables.rb, lib/api/group_variables.rb, lib/api/admin/ci/variables.rb
    *[c for base, url, fields in ((PV, "/api/v4/projects/{p}/variables", VARIABLE),
                                  (GV, "/api/v4/groups/{g}/variables", VARIABLE),
                                  (IV, "/api/v4/admin/ci/variables", INSTANCE_VARIABLE))
      for c in (Call("POST", base, url, F(fields), body={"key": "SHAPE", "value": "shape-value-1"}, status=201),
                Call("GET", base, url, F(fields), "list"),
                Call("GET", base + KEY, url + "/SHAPE", F(fields)),
                Call("PUT", base + KEY, url + "/SHAPE", F(fields), body={"value": "shape-value-2"}),
                Call("DELETE", base + KEY, url + "/SHAPE", F(), "empty", status=204))],
    Call("GET", FILE, "/api/v4/projects/{p}/repository/files/.gitlab-ci.yml?ref=main", F(BLOB_DATA | {"content"})),
    Call("HEAD", FILE, "/api/v4/projects/{p}/repository/files/.gitlab-ci.yml?ref=main", F(BLOB_HEADERS), "headers"),
    Call("GET", FILE + "/raw", "/api/v4/projects/{p}/repository/files/.gitlab-ci.yml/raw?ref=main",
         F(BLOB_HEADERS), "headers"),
    Call("POST", P + "/repository/branches", "/api/v4/projects/{p}/repository/branches?branch=shape&ref=main",
         F(BRANCH), status=201),
    Call("GET", P + "/repository/branches", "/api/v4/projects/{p}/repository/branches", F(BRANCH), "list"),
    Call("GET", P + r"/repository/branches/(?P<branch>[^/]+)", "/api/v4/projects/{p}/repository/branches/main",
         F(BRANCH)),
    Call("POST", P + "/repository/commits", "/api/v4/projects/{p}/repository/commits", F(COMMIT_DETAIL),
         body={"branch": "shape", "commit_message": "shape", "actions": [
             {"action": "update", "file_path": ".gitlab-ci.yml", "content": CI_FILE + "# shape\n"}]}, status=201),
    Call("GET", P + "/repository/commits", "/api/v4/projects/{p}/repository/commits?ref_name=main", F(COMMIT), "list"),
    Call("GET", P + r"/repository/commits/(?P<sha>[^/]+)", "/api/v4/projects/{p}/repository/commits/{sha}",
         F(COMMIT_DETAIL)),
    Call("POST", P + "/repository/tags", "/api/v4/projects/{p}/repository/tags?tag_name=v2&ref=main", F(TAG),
         status=201),
    Call("GET", P + "/repository/tags", "/api/v4/projects/{p}/repository/tags", F(TAG), "list"),
    Call("POST", P + "/merge_requests", "/api/v4/projects/{p}/merge_requests", F(MERGE_REQUEST),
         body={"source_branch": "shape", "target_branch": "main", "title": "shape"}, status=201),
    Call("GET", P + "/merge_requests", "/api/v4/projects/{p}/merge_requests", F(MERGE_REQUEST_BASIC), "list"),
    Call("GET", G + "/merge_requests", "/api/v4/groups/{g}/merge_requests", F(MERGE_REQUEST_BASIC), "list"),
    Call("GET", MR, "/api/v4/projects/{p}/merge_requests/{iid}", F(MERGE_REQUEST)),
    Call("PUT", MR, "/api/v4/projects/{p}/merge_requests/{iid}", F(MERGE_REQUEST), body={"title": "shape 2"}),
    Call("POST", MR + "/notes", "/api/v4/projects/{p}/merge_requests/{iid}/notes", F(NOTE),
         body={"body": "a note"}, status=201),
    Call("GET", MR + "/notes", "/api/v4/projects/{p}/merge_requests/{iid}/notes", F(NOTE), "list"),
    Call("POST", P + "/ci/lint", "/api/v4/projects/{p}/ci/lint", F(LINT | {"jobs"}),
         body={"content": CI_FILE, "include_jobs": True}),
    Call("GET", P + "/ci/lint", "/api/v4/projects/{p}/ci/lint", F(LINT)),
    Call("POST", P + "/pipeline", "/api/v4/projects/{p}/pipeline?ref=shape", F(PIPELINE), status=201),
    Call("GET", P + "/pipelines", "/api/v4/projects/{p}/pipelines", F(PIPELINE_BASIC), "list"),
    Call("GET", P + "/pipelines/latest", "/api/v4/projects/{p}/pipelines/latest?ref=shape", F(PIPELINE)),
    Call("GET", PL, "/api/v4/projects/{p}/pipelines/{plid}", F(PIPELINE)),
    Call("GET", PL + "/jobs", "/api/v4/projects/{p}/pipelines/{plid}/jobs", F(JOB), "list"),
    Call("GET", P + "/jobs", "/api/v4/projects/{p}/jobs", F(JOB), "list"),
    Call("GET", JOBR, "/api/v4/projects/{p}/jobs/{jid}", F(JOB)),
    # lib/api/ci/jobs.rb GET :id/jobs/:job_id/trace: `content_type 'text/plain'`, the log as the body
    Call("GET", JOBR + "/trace", "/api/v4/projects/{p}/jobs/{jid}/trace", F(), "text"),
    Call("POST", JOBR + "/play", "/api/v4/projects/{p}/jobs/{manual}/play", F(JOB)),
    Call("GET", MR + "/pipelines", "/api/v4/projects/{p}/merge_requests/{iid}/pipelines", F(PIPELINE_BASIC), "list"),
    Call("PUT", MR + "/merge", "/api/v4/projects/{p}/merge_requests/{iid}/merge", F(MERGE_REQUEST)),
    Call("GET", P + "/pipeline_schedules", "/api/v4/projects/{p}/pipeline_schedules", F(SCHEDULE), "list"),
    Call("GET", P + r"/pipeline_schedules/(?P<sid>\d+)", "/api/v4/projects/{p}/pipeline_schedules/1",
         F(SCHEDULE_DETAILS)),
    # lib/api/branches.rb DELETE: `destroy_conditionally!` → 204 No Content
    Call("DELETE", P + r"/repository/branches/(?P<branch>[^/]+)",
         "/api/v4/projects/{p}/repository/branches/unmerged", F(), "empty", status=204),
]

ORG = {
    "seed": 7,
    "gitlab": {"version": "17.5.0", "ci_templates": {"Shape/Base": "shape:\n  script: [echo]\n"},
               "users": [{"username": "migrator", "token": "t", "admin": True,
                                               "email": "m@acme.example"}],
               "groups": [{"path": "acme", "id": 100, "variables": [{"key": "G", "value": "group-value"}],
                           "subgroups": [{"path": "team", "id": 101}],
                           "projects": [{"path": "api", "id": 1001, "tags": ["v1"], "protected_tags": ["v*"],
                                         "pipeline_schedules": [{"cron": "0 3 * * *", "description": "nightly"}],
                                         "variables": [{"key": "V", "value": "value-12345"}],
                                         "files": {".gitlab-ci.yml": CI_FILE}}]}]},
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(parse_org(ORG)) as sandbox:
        yield sandbox


def uncovered(calls: list[Call]) -> set[tuple[str, str]]:
    """GitLab routes of sources.py that no call exercises (a call whose path does not match its
    route's pattern does not count)."""
    covered = {(c.verb, c.route) for c in calls
               if re.fullmatch(c.route, c.url.split("?")[0].format(p="1", g="1", iid="1", plid="1", jid="1",
                                                                    manual="1", sha="abc"))}
    return set(sources.GITLAB) - covered


def test_every_gitlab_route_has_a_shape_check() -> None:
    assert uncovered(CALLS) == set()
    assert {(c.verb, c.route) for c in CALLS} <= set(sources.GITLAB)
    # the check can fail: a route whose call is removed, or whose call goes elsewhere, is reported
    assert uncovered(CALLS[1:]) == {("GET", A + "/version")}
    wrong = [Call("GET", A + "/metadata", "/api/v4/version", F()) if c.route == A + "/metadata" else c
             for c in CALLS]
    assert uncovered(wrong) == {("GET", A + "/metadata")}


# Types GitLab's entities document (`documentation: { type: 'integer' }` on ids, e.g.
# lib/api/entities/ci/pipeline_schedule.rb; timestamps as in their examples, '2017-05-19T13:41:00.000Z').
# A commit's `id` is its SHA (lib/api/entities/commit.rb: type 'String'); PAT `expires_at` is a date.
INTEGER_IDS = {"id", "iid", "project_id", "user_id", "parent_id", "noteable_id", "noteable_iid", "creator_id",
               "source_project_id", "target_project_id"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def type_problems(value: Any, where: str) -> list[str]:
    out: list[str] = []
    if isinstance(value, list):
        for item in value:
            out += type_problems(item, where + "[]")
    elif isinstance(value, dict):
        commit = "short_id" in value
        for k, v in value.items():
            at = f"{where}.{k}"
            if k in INTEGER_IDS and v is not None and not (k == "id" and commit) and (
                    not isinstance(v, int) or isinstance(v, bool)):
                out.append(f"{at}: {v!r} is not an integer")
            if k.endswith("_at") and k != "expires_at" and v is not None and not (
                    isinstance(v, str) and TIMESTAMP.fullmatch(v)):
                out.append(f"{at}: {v!r} is not GitLab's timestamp format")
            out += type_problems(v, at)
    return out


def problems(call: Call, r: requests.Response) -> list[str]:
    """What `r` lacks of what GitLab's source says `call` answers."""
    where = f"{call.verb} {call.url}"
    if r.status_code != call.status:
        return [f"{where}: status {r.status_code} (want {call.status}): {r.text[:200]}"]
    if call.kind == "empty":
        return [f"{where}: body {r.text[:80]!r}"] if r.content else []
    if call.kind == "text":
        return [] if r.headers.get("Content-Type", "").startswith("text/plain") else [
            f"{where}: Content-Type {r.headers.get('Content-Type')}"]
    if call.kind == "headers":
        lacking = {h for h in call.fields if h not in r.headers}
        return [f"{where}: lacks headers {sorted(lacking)}"] if lacking else []
    data = r.json()
    if call.kind == "jwks":
        data = data.get("keys") if isinstance(data, dict) else None
    if call.kind in ("list", "jwks"):
        if not isinstance(data, list) or not data:
            return [f"{where}: want a non-empty array, got {str(data)[:80]}"]
        items = data
    else:
        items = [data]
    out = type_problems(items, where)
    for item in items:
        lacking = call.fields - set(item) if isinstance(item, dict) else call.fields
        if lacking:
            out.append(f"{where}: lacks {sorted(lacking)}")
    return out


def test_every_gitlab_route_answers_the_shape_its_source_gives(sb: Sandbox) -> None:
    base = sb.gitlab_url.rstrip("/")
    s = requests.Session()
    s.headers["PRIVATE-TOKEN"] = "t"
    facts: dict[str, str] = {"p": "1001", "g": "100"}

    def fact(name: str) -> str:
        if name not in facts:
            api = f"{base}/api/v4/projects/1001"
            if name == "iid":
                facts[name] = str(s.get(f"{api}/merge_requests", timeout=10).json()[0]["iid"])
            elif name == "sha":
                facts[name] = s.get(f"{api}/repository/branches/main", timeout=10).json()["commit"]["id"]
            elif name == "plid":
                facts[name] = str(s.get(f"{api}/pipelines/latest?ref=shape", timeout=10).json()["id"])
            else:
                jobs = s.get(f"{api}/pipelines/{fact('plid')}/jobs", timeout=10).json()
                facts["jid"] = str(next(j["id"] for j in jobs if j["name"] == "deploy"))
                facts["manual"] = str(next(j["id"] for j in jobs if j["name"] == "manual"))
        return facts[name]

    # an unmerged branch for the DELETE call (the shape branch is merged, then removed, by the MR)
    s.post(f"{base}/api/v4/projects/1001/repository/branches?branch=unmerged&ref=main", timeout=10)
    found: list[str] = []
    for call in CALLS:
        names = set(re.findall(r"\{(\w+)\}", call.url))
        url = base + call.url.format(**{n: fact(n) for n in names})
        r = s.request(call.verb, url, json=call.body, timeout=10)
        found += problems(call, r)
    assert found == []
    # the checker can fail: a response without a field its entity exposes is reported
    tag_call = next(c for c in CALLS if c.route == P + "/repository/tags" and c.verb == "GET")
    r = s.get(base + tag_call.url.format(p="1001"), timeout=10)
    assert problems(tag_call, r) == []
    r._content = r.content.replace(b'"protected"', b'"protectd"')
    assert problems(tag_call, r) and "lacks ['protected']" in problems(tag_call, r)[0]
    # and a string id or a timestamp without milliseconds is reported (a commit's SHA id is not)
    assert type_problems({"id": "7", "created_at": "2024-01-01T00:00:00Z",
                          "commit": {"id": "ab12", "short_id": "ab"}}, "$") == [
        "$.id: '7' is not an integer", "$.created_at: '2024-01-01T00:00:00Z' is not GitLab's timestamp format"]


def test_values_clients_read_through_python_gitlab(sb: Sandbox) -> None:
    """Beyond field names, the values a client relies on, through the real python-gitlab client:
    the pipeline-schedule and project-lint keys of python-gitlab's own fixtures
    (python-gitlab/python-gitlab tests/unit/objects/test_pipeline_schedules.py, test_ci_lint.py),
    protected tags (doc/api/tags.md: `protected` true for a tag matching a protected-tag pattern),
    and the namespace a project embeds (lib/api/entities/namespace_basic.rb)."""
    gl = gitlab.Gitlab(sb.gitlab_url, private_token="t")
    project = gl.projects.get(1001)
    assert set(project.namespace) >= NAMESPACE_BASIC and project.namespace["kind"] == "group"
    tags = {t.name: t for t in project.tags.list(get_all=True)}
    assert tags["v1"].protected is True and tags["v1"].commit["id"] == tags["v1"].target
    sched = project.pipelineschedules.list(get_all=True)[0]
    assert (sched.cron, sched.cron_timezone, sched.active, sched.ref) == ("0 3 * * *", "UTC", True,
                                                                          "refs/heads/main")
    assert sched.created_at.endswith("Z") and "." in sched.created_at  # GitLab's timestamp format
    assert sched.owner["username"] == "migrator"  # the schedule's pipelines run as its owner
    now = sb.clock.now()
    at = datetime.fromisoformat(sched.next_run_at.replace("Z", "+00:00"))
    assert now < at <= now + timedelta(days=1) and (at.hour, at.minute) == (3, 0)
    lint = project.ci_lint.get()
    assert lint.valid is True and lint.errors == [] and lint.warnings == [] and "deploy" in lint.merged_yaml
    lint = project.ci_lint.create({"content": "deploy:\n  script: 1: 2\n"})
    assert lint.valid is False and lint.errors


def test_next_run_at_matches_python_gitlabs_fixture() -> None:
    """python-gitlab tests/unit/objects/test_pipeline_schedules.py: cron "0 1 * * 5" (UTC) created
    2017-05-19T13:43:08Z (a Friday) has next_run_at 2017-05-26T01:00:00Z; the zone is honoured."""
    created = datetime(2017, 5, 19, 13, 43, 8, tzinfo=UTC)
    assert cron.next_run("0 1 * * 5", created, "UTC") == datetime(2017, 5, 26, 1, 0, tzinfo=UTC)
    # 01:00 Friday in Tokyo is 16:00 UTC on Thursday; 22:43 Friday JST has just missed this week's
    assert cron.next_run("0 1 * * 5", created, "Asia/Tokyo") == datetime(2017, 5, 25, 16, 0, tzinfo=UTC)
    assert cron.next_run("0 1 30 2 *", created, "UTC") is None  # 30 February never comes
    assert cron.next_run("0 1 * * 5", created, "Not/AZone") is None
    # the check can fail: a run at the same instant is not "next"
    assert cron.next_run("43 13 * * *", datetime(2017, 5, 19, 13, 43, tzinfo=UTC), "UTC") == \
        datetime(2017, 5, 20, 13, 43, tzinfo=UTC)
