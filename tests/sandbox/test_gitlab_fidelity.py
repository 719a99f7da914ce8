"""GitLab behaviours the emulator used to miss, each checked with python-gitlab over HTTP:
protected tags (doc/user/project/protected_tags.md: a pipeline on a protected tag has
`CI_COMMIT_REF_PROTECTED=true`, gets protected variables, and its ID token says
`ref_protected: "true"`, `ref_type: "tag"`), and fast-forward merges (project `merge_method: ff`:
the MR's `merge_commit_sha` is null, doc/api/merge_requests.md; the target moves to the source head).
"""

from __future__ import annotations

from collections.abc import Iterator

import gitlab
import jwt
import pytest

from migrate.sandbox.gitlab.app import GitLabApp
from migrate.sandbox.gitlab.repo import CommitError
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

CI = "deploy:\n  script: [echo deploy]\n"


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    org = parse_org({"gitlab": {
        "users": [{"username": "migrator", "token": "t", "admin": True}],
        "groups": [{"path": "acme", "id": 100, "projects": [
            {"path": "api", "id": 1001, "protected_tags": ["v*"], "tags": ["v0.9"],
             "variables": [{"key": "PROT", "value": "secret-value-1", "protected": True},
                           {"key": "OPEN", "value": "open-value-1"}],
             "files": {".gitlab-ci.yml": CI}},
            {"path": "ff", "id": 1002, "merge_method": "ff", "files": {".gitlab-ci.yml": CI}}]}]}})
    with Sandbox(org) as sandbox:
        yield sandbox


def _gl(sb: Sandbox) -> gitlab.Gitlab:
    return gitlab.Gitlab(sb.gitlab_url, private_token="t")


def test_protected_tag_pipelines_get_protected_variables(sb: Sandbox) -> None:
    app: GitLabApp = sb.gitlab
    project = _gl(sb).projects.get("acme/api")
    tag = project.tags.create({"tag_name": "v1.0", "ref": "main"})
    assert tag.protected is True and tag.target == project.branches.get("main").commit["id"]
    project.tags.create({"tag_name": "rc-1", "ref": "main"})
    with pytest.raises(gitlab.exceptions.GitlabCreateError, match="Tag v1.0 already exists"):
        project.tags.create({"tag_name": "v1.0", "ref": "main"})
    p = app.project("acme/api")
    assert set(app.ci_variables(p, "v1.0")) == {"PROT", "OPEN"}
    assert set(app.ci_variables(p, "rc-1")) == {"OPEN"}
    assert set(app.ci_variables(p, "v0.9")) == {"PROT", "OPEN"}  # from the org file
    tag_pipelines = [pl for pl in app.pipelines(p) if pl.ref in ("v1.0", "rc-1")]
    assert {pl.ref for pl in tag_pipelines} == {"v1.0", "rc-1"} and all(pl.tag for pl in tag_pipelines)
    for ref, protected in (("v1.0", "true"), ("rc-1", "false")):
        claims = jwt.decode(app.mint_id_token(p, ref=ref, ref_type="tag", audience="x"),
                            options={"verify_signature": False})
        assert (claims["ref_type"], claims["ref_protected"], claims["ref_path"]) == ("tag", protected,
                                                                                      f"refs/tags/{ref}")
    trace = next(j for j in app.pipelines(p) if j.ref == "v1.0").jobs[0].trace
    assert "tag v1.0 (protected: true)" in trace and "PROT" in trace
    trace = next(j for j in app.pipelines(p) if j.ref == "rc-1").jobs[0].trace
    assert "tag rc-1 (protected: false)" in trace and "PROT" not in trace


def test_fast_forward_merge_has_no_merge_commit(sb: Sandbox) -> None:
    project = _gl(sb).projects.get("acme/ff")
    assert project.merge_method == "ff"
    project.branches.create({"branch": "feature", "ref": "main"})
    project.commits.create({"branch": "feature", "commit_message": "change", "actions": [
        {"action": "update", "file_path": ".gitlab-ci.yml", "content": CI + "# x\n"}]})
    mr = project.mergerequests.create({"source_branch": "feature", "target_branch": "main", "title": "t"})
    head = project.branches.get("feature").commit["id"]
    mr.merge()
    mr = project.mergerequests.get(mr.iid)
    assert mr.state == "merged" and mr.merge_commit_sha is None and mr.squash_commit_sha is None
    assert mr.sha == head and project.branches.get("main").commit["id"] == head
    assert any(pl.sha == head and pl.ref == "main" for pl in project.pipelines.list(ref="main"))
    from migrate.apply.ports import MRInfo
    from migrate.verify.runner import merged_sha

    assert merged_sha(MRInfo(iid=mr.iid, state="merged", title="", description="", labels=(), web_url="",
                             source_branch="feature", target_branch="main", sha=mr.sha,
                             merge_commit_sha=None)) == head


def test_fast_forward_refuses_a_diverged_target(sb: Sandbox) -> None:
    repo = sb.gitlab.project("acme/ff").repo
    sb.gitlab.set_file("acme/ff", "a.txt", "a", branch="feature")
    sb.gitlab.set_file("acme/ff", "b.txt", "b")  # main moves on
    with pytest.raises(CommitError, match="Branch cannot be merged"):
        repo.fast_forward(source="feature", target="main")
