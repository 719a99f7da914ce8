"""The large-org generator: fast, deterministic, a realistic mix, and servable."""

from __future__ import annotations

import collections
import time

import gitlab
import pytest

from migrate.sandbox.generate import generate_org
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org


def _projects(org: dict[str, object]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def walk(groups: list[dict[str, object]]) -> None:
        for g in groups:
            out.extend(g.get("projects") or [])  # type: ignore[arg-type]
            walk(g.get("subgroups") or [])  # type: ignore[arg-type]

    walk(org["gitlab"]["groups"])  # type: ignore[index]
    return out


def test_ten_thousand_projects_generate_fast_and_deterministically() -> None:
    started = time.monotonic()
    org = generate_org(10_000, seed=3, keys=20)
    assert time.monotonic() - started < 3
    projects = _projects(org)
    assert len(projects) == 10_000
    assert generate_org(200, seed=3) == generate_org(200, seed=3)
    assert generate_org(200, seed=3) != generate_org(200, seed=4)
    kinds: collections.Counter[str] = collections.Counter()
    used_keys = set()
    for p in projects:
        ci = p["files"].get(".gitlab-ci.yml", "")  # type: ignore[attr-defined]
        for var in p.get("variables") or []:  # type: ignore[attr-defined]
            used_keys.add((var["sa_key"]["service_account"], var["sa_key"]["key"]))
        kinds["federated" if "id_tokens" in ci else "template" if "include" in ci
              else "key" if p.get("variables") else "none" if not ci else "plain"] += 1
    assert 0.35 < kinds["plain"] / 10_000 < 0.47 and 0.30 < kinds["key"] / 10_000 < 0.40
    assert kinds["federated"] > 500 and kinds["template"] > 700 and kinds["none"] > 300
    assert len(used_keys) <= 20
    assert sum(bool(p.get("archived")) for p in projects) > 300


def test_generated_org_is_served_and_listed() -> None:
    org = parse_org(generate_org(400, seed=5, keys=3))
    with Sandbox(org) as sb:
        gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
        total = 0
        for top in sb.top_level_groups():
            listing = gl.groups.get(top).projects.list(include_subgroups=True, iterator=True, per_page=100)
            total += sum(1 for _ in listing)
        assert total == 400
        template_user = next(p for p in sb.gitlab.db.projects.values()
                             if "include:" in (sb.gitlab.file(p, ".gitlab-ci.yml") or ""))
        lint = gl.projects.get(template_user.id).ci_lint.get()
        assert lint.valid, lint.errors


@pytest.mark.slow
def test_ten_thousand_project_org_starts_and_pages_fast() -> None:
    import requests

    org = parse_org(generate_org(10_000, seed=2, keys=5))
    started = time.monotonic()
    with Sandbox(org) as sb:
        assert time.monotonic() - started < 15
        top = sb.top_level_groups()[0]
        began = time.monotonic()
        resp = requests.get(f"{sb.gitlab_url}/api/v4/groups/{top}/projects", timeout=10,
                            params={"include_subgroups": "true", "per_page": "100", "page": "1"},
                            headers={"PRIVATE-TOKEN": sb.gitlab_token()})
        assert resp.status_code == 200 and len(resp.json()) == 100
        assert time.monotonic() - began < 1.0
        everything = requests.get(f"{sb.gitlab_url}/api/v4/projects", params={"per_page": "100"}, timeout=10,
                                  headers={"PRIVATE-TOKEN": sb.gitlab_token()})
        assert everything.headers["X-Total"] == "10000" and everything.headers["X-Total-Pages"] == "100"
