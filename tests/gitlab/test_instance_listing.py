"""Instance scope lists projects by keyset: GitLab refuses offset pagination of projects past
50,000 rows (`page * per_page > offset_pagination_limit` → 405 "Offset pagination has a maximum
allowed offset of 50000 for requests that return objects of type Project. Remaining records can be
retrieved using keyset pagination.", lib/api/helpers/pagination_strategies.rb)."""

from __future__ import annotations

from collections.abc import Iterator

import gitlab
import pytest

from migrate.core.config import GitLabConfig
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.read import GitLabReader
from migrate.sandbox.generate import generate_org
from migrate.sandbox.gitlab import paging
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org


@pytest.fixture()
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setattr(paging, "OFFSET_LIMIT", 200)  # the same rule, at a size a test can reach
    org = generate_org(260, seed=1, keys=2)
    org["google"] = {}
    with Sandbox(parse_org(org)) as sandbox:
        yield sandbox


def test_offset_listing_of_projects_is_refused_past_the_limit(sb: Sandbox) -> None:
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    assert len(gl.projects.list(page=2, per_page=100)) == 100  # 2 * 100 = 200: allowed
    with pytest.raises(gitlab.exceptions.GitlabListError) as err:
        gl.projects.list(page=3, per_page=100)
    assert err.value.response_code == 405
    assert "maximum allowed offset of 200 for requests that return objects of type Project" in str(err.value)
    # keyset walks them all
    assert len(list(gl.projects.list(pagination="keyset", order_by="id", per_page=100, iterator=True))) \
        == len(sb.gitlab.db.projects)


def test_instance_scope_reads_every_project(sb: Sandbox) -> None:
    reader = GitLabReader(GitLabClients(GitLabConfig(url=sb.gitlab_url), token=sb.gitlab_token()))
    ids = [p.id for p in reader.all_projects()]
    assert sorted(ids) == ids and len(set(ids)) == len(sb.gitlab.db.projects) > 200
    assert len([p for p in reader.all_projects(include_archived=False)]) == \
        len([p for p in sb.gitlab.db.projects.values() if not p.archived])
