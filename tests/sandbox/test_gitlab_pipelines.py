"""Pipelines and jobs: created on push, merge and the API; the runner hook; the no-runner default."""

from __future__ import annotations

from collections.abc import Iterator

import gitlab
import pytest

from migrate.sandbox.clock import Clock
from migrate.sandbox.gitlab import NO_RUNNER_TRACE, GitLabApp
from migrate.sandbox.gitlab.model import Pipeline, Project
from migrate.sandbox.http import SandboxServer
from migrate.sandbox.keys import KeyStore

CI = """stages: [build, deploy]
.hidden: {script: [x]}
build: {stage: build, script: [make]}
deploy:
  stage: deploy
  environment: production
  script: [make deploy]
"""

SPEC = {"users": [{"username": "root", "token": "t-root", "admin": True}],
        "groups": [{"path": "g", "projects": [
            {"path": "app", "files": {".gitlab-ci.yml": CI}},
            {"path": "noci", "files": {"README.md": "hi\n"}}]}]}


@pytest.fixture()
def served() -> Iterator[tuple[GitLabApp, gitlab.Gitlab]]:
    app = GitLabApp(SPEC, KeyStore(), Clock())
    server = SandboxServer(app).start()
    try:
        yield app, gitlab.Gitlab(server.url, private_token="t-root")
    finally:
        server.stop()


def test_push_creates_pipeline_without_runner(served: tuple[GitLabApp, gitlab.Gitlab]) -> None:
    app, gl = served
    project = gl.projects.get("g/app")
    commit = project.commits.create({"branch": "main", "commit_message": "change",
                                     "actions": [{"action": "create", "file_path": "x", "content": "1"}]})
    (pl,) = project.pipelines.list(sha=commit.id, get_all=True)
    assert (pl.ref, pl.source, pl.status) == ("main", "push", "success")
    jobs = project.pipelines.get(pl.id).jobs.list(get_all=True)
    assert sorted((j.name, j.stage, j.status) for j in jobs) == [("build", "build", "success"),
                                                                 ("deploy", "deploy", "success")]
    assert project.jobs.get(jobs[0].id).trace() == NO_RUNNER_TRACE.encode()
    project.commits.create({"branch": "main", "commit_message": "docs [skip ci]",
                            "actions": [{"action": "create", "file_path": "y", "content": "1"}]})
    assert len(project.pipelines.list(get_all=True)) == 1
    noci = gl.projects.get("g/noci")
    noci.commits.create({"branch": "main", "commit_message": "c",
                         "actions": [{"action": "create", "file_path": "x", "content": "1"}]})
    assert noci.pipelines.list(get_all=True) == []
    with pytest.raises(gitlab.GitlabCreateError) as info:
        noci.pipelines.create({"ref": "main"})
    assert info.value.error_message == {"base": ["Missing CI config file"]}


def test_runner_hook_decides_job_outcomes(served: tuple[GitLabApp, gitlab.Gitlab]) -> None:
    app, gl = served
    seen: list[tuple[str, list[str]]] = []

    def runner(gapp: GitLabApp, project: Project, pipeline: Pipeline) -> None:
        seen.append((project.path_with_namespace, [j.name for j in pipeline.jobs]))
        env = {j.name: j.environment for j in pipeline.jobs}
        assert env == {"build": None, "deploy": "production"}
        with gapp.lock:
            for job in pipeline.jobs:
                assert job.config["script"]
                gapp.finish_job(job, "failed" if job.name == "deploy" else "success", f"ran {job.name}\n")

    app.pipeline_runner = runner
    project = gl.projects.get("g/app")
    created = project.pipelines.create({"ref": "main"})
    pipeline = project.pipelines.get(created.id)
    assert pipeline.source == "api" and pipeline.status == "failed"
    assert seen == [("g/app", ["build", "deploy"])]
    jobs = {j.name: j for j in pipeline.jobs.list(get_all=True)}
    assert jobs["deploy"].status == "failed" and jobs["deploy"].failure_reason == "script_failure"
    assert project.jobs.get(jobs["build"].id).trace() == b"ran build\n"
    assert [p.id for p in project.pipelines.list(status="failed", get_all=True)] == [pipeline.id]
    assert project.pipelines.list(status="success", get_all=True) == []

    def broken(gapp: GitLabApp, project: Project, pipeline: Pipeline) -> None:
        raise RuntimeError("boom")

    app.pipeline_runner = broken
    again = project.pipelines.create({"ref": "main"})
    assert project.pipelines.get(again.id).status == "failed"
    assert app.pipelines("g/app")[-1].jobs[0].failure_reason == "runner_system_failure"


def test_merge_runs_target_pipeline_and_latest(served: tuple[GitLabApp, gitlab.Gitlab]) -> None:
    app, gl = served
    project = gl.projects.get("g/app")
    project.commits.create({"branch": "feature", "start_branch": "main", "commit_message": "f",
                            "actions": [{"action": "update", "file_path": ".gitlab-ci.yml",
                                         "content": CI.replace("make deploy", "make release")}]})
    mr = project.mergerequests.create({"source_branch": "feature", "target_branch": "main", "title": "f"})
    mr.merge()
    merged = project.mergerequests.get(mr.iid)
    latest = project.pipelines.latest(ref="main")
    assert latest.sha == merged.merge_commit_sha and latest.source == "push"
    assert "make release" in (app.file("g/app", ".gitlab-ci.yml", "main") or "")
    assert [pl.ref for pl in app.pipelines("g/app")] == ["feature", "main"]
