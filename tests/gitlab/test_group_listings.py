"""Group-level listings that answer many per-project reads at once (issue 18), against the sandbox.

`apply`'s live checks read each project's namespace from `GET /groups/:id/projects` (a page per 100
projects). `http_list` does not take the client's `per_page=100`: without it GitLab answers pages
of 20, five times the requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import gitlab
import pytest

from migrate.gitlab.live_facts import GitLabLiveFacts
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

TOKEN = "t-migrator"


def many_projects_org(count: int) -> dict[str, Any]:
    """Group `acme` (id 100) with `count` projects split between it and a subgroup, no keys."""
    half = count // 2
    return {"seed": 5, "gitlab": {
        "version": "17.5.0",
        "users": [{"username": "migrator", "token": TOKEN, "admin": True}],
        "groups": [{"path": "acme", "id": 100,
                    "projects": [{"path": f"p{i}", "files": {".gitlab-ci.yml": f"j{i}:\n  script: [x]\n"}}
                                 for i in range(half)],
                    "subgroups": [{"path": "sub", "id": 101, "projects": [
                        {"path": f"q{i}", "files": {".gitlab-ci.yml": "j:\n  script: [x]\n"}}
                        for i in range(half, count)]}]}]},
        "google": {}}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(parse_org(many_projects_org(230))) as sb:
        yield sb


def test_group_projects_are_listed_a_hundred_per_page(sandbox: Sandbox) -> None:
    gl = gitlab.Gitlab(sandbox.gitlab_url, private_token=TOKEN)
    sandbox.gitlab.log.clear()
    listed = GitLabLiveFacts(gl).group_projects(100)
    requests = [e for e in sandbox.gitlab.requests_log() if e["path"].endswith("/groups/100/projects")]
    assert len(listed) == 230 and set(listed.values()) == {100, 101}
    assert len(requests) == math.ceil(230 / 100), len(requests)
    # the count can fail: GitLab's default page (20) takes 12 requests for the same listing
    sandbox.gitlab.log.clear()
    gl.http_list("/groups/100/projects", query_data={"include_subgroups": True}, get_all=True)
    assert len(sandbox.gitlab.requests_log()) == math.ceil(230 / 20)
