"""Groups and projects through python-gitlab: pagination headers, subgroups, keyset, visibility."""

from __future__ import annotations

from collections.abc import Callable

import gitlab
import pytest
import requests

from migrate.sandbox.launch import Sandbox

ACME_PROJECTS = {  # every acme project the migrator can see, subgroups included
    "acme/platform/ci-templates", "acme/platform/k8s-deploy", "acme/platform/infra-terraform",
    "acme/platform/monitoring", "acme/apps/storefront", "acme/apps/checkout", "acme/apps/inventory",
    "acme/apps/web-frontend", "acme/apps/payments-api", "acme/apps/docs-site",
    "acme/apps/mobile/android-app", "acme/legacy/old-reporting", "acme/platform/rust-toolchain", "acme/platform/native-libs",
    # issue 21's patterns
    "acme/search/search-api", "acme/search/indexer", "acme/search/ranker", "acme/search/web",
    "acme/search/ci-auth", "acme/search/ops", "acme/search/infra",
}


def test_group_projects_across_pages_and_subgroups(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    gl = demo_gl()
    group = gl.groups.get("acme")
    listing = group.projects.list(include_subgroups=True, iterator=True, per_page=5)
    paths = [p.path_with_namespace for p in listing]
    assert set(paths) == ACME_PROJECTS and len(paths) == len(ACME_PROJECTS)
    assert listing.total == 21 and listing.total_pages == 5
    direct = group.projects.list(get_all=True)  # include_subgroups defaults to false
    assert direct == []
    apps = gl.groups.get("acme/apps").projects.list(get_all=True, per_page=2)
    assert {p.path for p in apps} == {"storefront", "checkout", "inventory", "web-frontend",
                                      "payments-api", "docs-site"}


def test_offset_headers_and_link(demo_sandbox: Sandbox) -> None:
    resp = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/groups/acme/projects",
                        params={"include_subgroups": "true", "per_page": "5", "page": "2"},
                        headers={"PRIVATE-TOKEN": demo_sandbox.gitlab_token()}, timeout=10)
    assert resp.status_code == 200 and len(resp.json()) == 5
    h = resp.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Per-Page"]) == ("21", "5", "2", "5")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    assert set(resp.links) == {"prev", "next", "first", "last"}
    assert "page=3" in resp.links["next"]["url"] and "include_subgroups=true" in resp.links["next"]["url"]
    assert resp.links["next"]["url"].startswith(demo_sandbox.gitlab_url + "/api/v4/groups/acme/projects?")
    big = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/projects", params={"per_page": 500},
                       headers={"PRIVATE-TOKEN": demo_sandbox.gitlab_token()}, timeout=10)
    assert big.headers["X-Per-Page"] == "100"  # per_page is capped at 100


def test_archived_filter_and_project_fields(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    gl = demo_gl()
    active = gl.groups.get("acme").projects.list(include_subgroups=True, archived=False, get_all=True)
    assert "acme/legacy/old-reporting" not in {p.path_with_namespace for p in active}
    assert len(active) == 20
    p = gl.projects.get("acme/platform/k8s-deploy")
    assert (p.id, p.path, p.ci_config_path, p.default_branch, p.archived) == \
        (1002, "k8s-deploy", "ci/pipeline.yml", "main", False)
    assert p.namespace == {**p.namespace, "id": 110, "full_path": "acme/platform", "kind": "group",
                           "parent_id": 100}
    assert p.web_url.endswith("/acme/platform/k8s-deploy")
    assert gl.projects.get(1031).archived is True
    assert gl.projects.get("acme/legacy/old-reporting").default_branch == "master"


def test_keyset_pagination_on_projects(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    gl = demo_gl()
    listing = gl.projects.list(pagination="keyset", order_by="id", sort="asc", per_page=4, iterator=True)
    ids = [p.id for p in listing]
    assert ids == sorted(ids) and len(ids) == 23  # 24 projects, one invisible to the migrator
    desc = [p.id for p in gl.projects.list(pagination="keyset", order_by="id", sort="desc", per_page=3,
                                           get_all=True)]
    assert desc == sorted(ids, reverse=True)


def test_descendant_groups_and_subgroups(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    gl = demo_gl()
    acme = gl.groups.get(100)
    assert acme.full_path == "acme" and acme.parent_id is None
    assert {g.full_path for g in acme.descendant_groups.list(get_all=True)} == {
        "acme/platform", "acme/apps", "acme/apps/mobile", "acme/legacy", "acme/search"}
    assert {g.full_path for g in acme.subgroups.list(get_all=True)} == {
        "acme/platform", "acme/apps", "acme/legacy", "acme/search"}
    assert {g.full_path for g in gl.groups.list(top_level_only=True, get_all=True)} == {"acme", "labs"}


def test_invisible_project_is_404_and_unlisted(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    gl = demo_gl()
    with pytest.raises(gitlab.GitlabGetError) as info:
        gl.projects.get("labs/secret-sauce")
    assert info.value.response_code == 404 and info.value.error_message == "404 Project Not Found"
    labs = {p.path for p in gl.groups.get("labs").projects.list(get_all=True)}
    assert labs == {"data-pipeline", "ml-experiments"}
    bob = demo_gl("sandbox-bob-token")  # an owner of labs sees it
    assert bob.projects.get("labs/secret-sauce").path == "secret-sauce"


def test_no_token_and_bad_token_are_401(demo_sandbox: Sandbox, demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    for headers in ({}, {"PRIVATE-TOKEN": "nope"}, {"Authorization": "Bearer nope"}):
        resp = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/projects", headers=headers, timeout=10)
        assert resp.status_code == 401 and resp.json() == {"message": "401 Unauthorized"}
    ok = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/version", timeout=10,
                      headers={"Authorization": f"Bearer {demo_sandbox.gitlab_token()}"})
    assert ok.json()["version"] == "17.5.0" and ok.json()["enterprise"] is False
    with pytest.raises(gitlab.GitlabAuthenticationError):
        demo_gl(None).projects.list(get_all=True)
