"""Files, branches, commits and merge requests through python-gitlab."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable

import gitlab
import pytest

from migrate.sandbox.launch import Sandbox


def _branch() -> str:
    return f"wif-migrate/test-{uuid.uuid4().hex[:8]}"


def test_read_files(demo_gl: Callable[..., gitlab.Gitlab], demo_sandbox: Sandbox) -> None:
    project = demo_gl().projects.get("acme/platform/k8s-deploy")
    raw = project.files.raw(file_path="ci/gke.yml", ref="main")
    assert raw.startswith(b".gke:\n") and b"activate-service-account" in raw
    assert project.files.raw(file_path="ci/gke.yml") == raw  # ref defaults to the default branch
    f = project.files.get(file_path="ci/gke.yml", ref="main")
    assert base64.b64decode(f.content) == raw and f.decode() == raw
    assert f.blob_id == hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    head = project.branches.get("main").commit["id"]
    assert f.commit_id == head and f.last_commit_id == head and f.size == len(raw)
    assert f.content_sha256 == hashlib.sha256(raw).hexdigest() and f.file_path == "ci/gke.yml"
    assert demo_sandbox.gitlab.file("acme/platform/k8s-deploy", "ci/gke.yml") == raw.decode()
    for missing in (lambda: project.files.raw(file_path=".gitlab-ci.yml", ref="main"),
                    lambda: project.files.get(file_path="nope.yml", ref="main"),
                    lambda: project.files.raw(file_path="ci/gke.yml", ref="no-such-branch")):
        with pytest.raises(gitlab.GitlabGetError) as info:
            missing()
        assert info.value.response_code == 404


def test_unreadable_project_files_are_403(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("labs/data-pipeline")  # listed and readable as a project
    assert project.ci_config_path is None
    with pytest.raises(gitlab.GitlabGetError) as info:
        project.files.raw(file_path=".gitlab-ci.yml", ref="main")
    assert info.value.response_code == 403
    with pytest.raises(gitlab.GitlabListError) as info2:
        project.variables.list(get_all=True)
    assert info2.value.response_code == 403


def test_commit_on_new_branch_then_merge_request_and_merge(demo_gl: Callable[..., gitlab.Gitlab],
                                                           demo_sandbox: Sandbox) -> None:
    project = demo_gl().projects.get("acme/apps/inventory")
    original = project.files.get(file_path=".gitlab-ci.yml", ref="main")
    branch = _branch()
    commit = project.commits.create({
        "branch": branch, "start_branch": "main", "commit_message": "ci: use WIF",
        "actions": [
            {"action": "update", "file_path": ".gitlab-ci.yml", "content": "# rewritten\n" + original.decode().decode(),
             "last_commit_id": original.last_commit_id},
            {"action": "create", "file_path": "ci/wif.yml", "content": ".wif:\n  id_tokens: {}\n"},
            {"action": "create", "file_path": "old.sh", "content": "echo old\n"},
            {"action": "move", "file_path": "scripts/old.sh", "previous_path": "old.sh"},
        ]})
    assert commit.parent_ids == [project.branches.get("main").commit["id"]]
    assert commit.stats["additions"] > 0 and commit.web_url.endswith(commit.id)
    assert project.files.raw(file_path="ci/wif.yml", ref=branch) == b".wif:\n  id_tokens: {}\n"
    assert project.files.raw(file_path="scripts/old.sh", ref=branch) == b"echo old\n"
    with pytest.raises(gitlab.GitlabGetError):
        project.files.raw(file_path="ci/wif.yml", ref="main")
    assert project.commits.get(commit.id).title == "ci: use WIF"
    mr = project.mergerequests.create({"source_branch": branch, "target_branch": "main",
                                       "title": "Migrate to WIF", "labels": ["wif-migrate", "security"],
                                       "description": "body"})
    assert (mr.state, mr.labels, mr.detailed_merge_status) == ("opened", ["wif-migrate", "security"], "mergeable")
    found = project.mergerequests.list(source_branch=branch, state="opened", get_all=True)
    assert [m.iid for m in found] == [mr.iid]
    with pytest.raises(gitlab.GitlabCreateError) as info:
        project.mergerequests.create({"source_branch": branch, "target_branch": "main", "title": "again"})
    assert info.value.response_code == 409
    assert info.value.error_message == [
        f"Another open merge request already exists for this source branch: !{mr.iid}"]
    mr.notes.create({"body": "looks good"})
    assert [n.body for n in mr.notes.list(get_all=True)] == ["looks good"]
    mr.merge()
    merged = project.mergerequests.get(mr.iid)
    assert merged.state == "merged" and merged.merge_commit_sha
    main_head = project.branches.get("main").commit
    assert main_head["id"] == merged.merge_commit_sha and len(main_head["parent_ids"]) == 2
    assert project.files.raw(file_path="ci/wif.yml", ref="main") == b".wif:\n  id_tokens: {}\n"
    assert (demo_sandbox.gitlab.file("acme/apps/inventory", ".gitlab-ci.yml") or "").startswith("# rewritten\n")
    assert project.files.get(file_path="ci/wif.yml", ref="main").last_commit_id == commit.id
    assert any(pl.sha == merged.merge_commit_sha and pl.source == "push"
               for pl in demo_sandbox.gitlab.pipelines("acme/apps/inventory"))


def test_update_and_close_mr(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/apps/docs-site")
    branch = _branch()
    project.branches.create({"branch": branch, "ref": "main"})
    with pytest.raises(gitlab.GitlabCreateError) as info:
        project.branches.create({"branch": branch, "ref": "main"})
    assert info.value.error_message == "Branch already exists"
    mr = project.mergerequests.create({"source_branch": branch, "target_branch": "main", "title": "t"})
    mr.title, mr.labels, mr.state_event = "Draft: t2", ["x"], "close"
    mr.save()
    again = project.mergerequests.get(mr.iid)
    assert (again.title, again.labels, again.state, again.draft) == ("Draft: t2", ["x"], "closed", True)
    assert project.mergerequests.list(source_branch=branch, state="opened", get_all=True) == []
    project.mergerequests.create({"source_branch": branch, "target_branch": "main", "title": "new"})
    project.branches.delete(branch)
    with pytest.raises(gitlab.GitlabGetError):
        project.branches.get(branch)


def test_commit_conflicts_are_refused(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/apps/web-frontend")
    stale = project.files.get(file_path=".gitlab-ci.yml", ref="main").last_commit_id
    branch = _branch()
    project.commits.create({"branch": branch, "start_branch": "main", "commit_message": "one",
                            "actions": [{"action": "update", "file_path": ".gitlab-ci.yml", "content": "a: 1\n"}]})
    cases = [
        ({"branch": branch, "commit_message": "two", "actions": [
            {"action": "update", "file_path": ".gitlab-ci.yml", "content": "b\n", "last_commit_id": stale}]},
         "You are attempting to update a file that has changed since you started editing it."),
        ({"branch": branch, "start_branch": "main", "commit_message": "x", "actions": [
            {"action": "create", "file_path": "z", "content": "z"}]},
         f"A branch called '{branch}' already exists. Switch to that branch in order to make changes"),
        ({"branch": branch, "commit_message": "x", "actions": [
            {"action": "create", "file_path": ".gitlab-ci.yml", "content": "z"}]},
         "A file with this name already exists"),
        ({"branch": branch, "commit_message": "x", "actions": [
            {"action": "delete", "file_path": "missing.txt"}]},
         "A file with this name doesn't exist"),
    ]
    for data, message in cases:
        with pytest.raises(gitlab.GitlabCreateError) as info:
            project.commits.create(data)
        assert (info.value.response_code, info.value.error_message) == (400, message)
    # Atomic: the refused commits changed nothing.
    assert project.files.raw(file_path=".gitlab-ci.yml", ref=branch) == b"a: 1\n"


def test_merge_conflict_is_406(demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    project = demo_gl().projects.get("acme/platform/ci-templates")
    branch = _branch()
    project.commits.create({"branch": branch, "start_branch": "main", "commit_message": "mine [skip ci]",
                            "actions": [{"action": "update", "file_path": "README.md", "content": "mine\n"}]})
    project.commits.create({"branch": "main", "commit_message": "theirs [skip ci]",
                            "actions": [{"action": "update", "file_path": "README.md", "content": "theirs\n"}]})
    mr = project.mergerequests.create({"source_branch": branch, "target_branch": "main", "title": "c"})
    assert project.mergerequests.get(mr.iid).has_conflicts is True
    with pytest.raises(gitlab.GitlabMRClosedError) as info:
        mr.merge()
    assert info.value.response_code == 406
