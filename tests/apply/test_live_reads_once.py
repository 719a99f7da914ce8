"""Apply's live re-checks read each GitLab fact once per run, many at a time, and decide as before
(issue 18).

The binding checks (migrate.apply.live_checks) used to read a project once per binding that admits
it and a CI file once per binding and usage, one request after another; the merge-request executor
then read every file again. Now each fact is read once per run (`CachedLive`, all of them first with
`concurrency` threads) and each file read by the checks is handed to the executor
(`migrate.gitlab.files.SharedReads`). The answers must be the ones the one-by-one reads give — also
when GitLab changed since planning — and the hand-off must not hide a change from a second read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
import yaml
from helpers.demo_planned import demo_planned

import migrate.apply.live_checks as live_checks
from migrate.apply.live_checks import CachedLive, binding_refusals
from migrate.apply.ports import FileState
from migrate.cli.verbs import main
from migrate.core.config import parse_config
from migrate.core.model import KeyVariable, Plan, to_dict
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.files import SharedReads
from migrate.gitlab.live_facts import GitLabLiveFacts
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.sandbox.launch import Sandbox


class EveryTime:
    """The reads as they were: every check asks GitLab again (the reference)."""

    def __init__(self, live: Any, concurrency: int = 1) -> None:
        self.live = live

    def holding(self, var: KeyVariable) -> Any:
        return self.live.holding(var)

    def project_namespace(self, project_id: int) -> int | None:
        return self.live.project_namespace(project_id)  # type: ignore[no-any-return]

    def file_text(self, project: str, path: str, ref: str) -> str | None:
        return self.live.file_text(project, path, ref)  # type: ignore[no-any-return]

    def prefetch(self, reads: Any) -> None:
        pass


class Counting:
    """A LiveGitLab that counts the reads it passes on, per fact."""

    def __init__(self, live: Any) -> None:
        self.live, self.reads = live, Counter[tuple[Any, ...]]()

    def holding(self, var: KeyVariable) -> Any:
        self.reads[("variable", var.ref)] += 1
        return self.live.holding(var)

    def project_namespace(self, project_id: int) -> int | None:
        self.reads[("project", project_id)] += 1
        return self.live.project_namespace(project_id)  # type: ignore[no-any-return]

    def file_text(self, project: str, path: str, ref: str) -> str | None:
        self.reads[("file", project, path, ref)] += 1
        return self.live.file_text(project, path, ref)  # type: ignore[no-any-return]

    def group_projects(self, group_id: int) -> dict[int, int]:
        self.reads[("group", group_id)] += 1
        return self.live.group_projects(group_id)  # type: ignore[no-any-return]


class Moved(GitLabLiveFacts):
    """GitLab where one project has moved to another namespace (the emulator cannot transfer
    projects): the listing and the read by id both say so; another project is not listed."""

    def __init__(self, moved: int, unlisted: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.moved, self.unlisted = moved, unlisted

    def group_projects(self, group_id: int) -> dict[int, int]:
        listed = super().group_projects(group_id)
        if self.moved in listed:
            listed[self.moved] = 999_001
        listed.pop(self.unlisted, None)
        return listed

    def project_namespace(self, project_id: int) -> int | None:
        return 999_001 if project_id == self.moved else super().project_namespace(project_id)


@pytest.fixture()
def planned(tmp_path: Path) -> Iterator[tuple[Sandbox, Path, Plan]]:
    with demo_planned(tmp_path) as planned:
        yield planned


def _clients(tmp: Path) -> GitLabClients:
    config = parse_config(yaml.safe_load((tmp / "c.yaml").read_text()))
    return GitLabClients(config.gitlab, None)


def _reference(plan: Plan, gl: gitlab.Gitlab, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with monkeypatch.context() as m:
        m.setattr(live_checks, "CachedLive", EveryTime)
        return binding_refusals(plan, GitLabLiveFacts(gl))


def _change_gitlab(sb: Sandbox, plan: Plan) -> None:
    """Since planning: one binding's CI file is deleted, another binding's key variable too."""
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    bindings = [a for a in plan.actions if a.kind == "ensure_binding"]
    assert plan.inputs is not None
    variables = {v.ref: v for v in plan.inputs.variables}
    usages = [to_dict(u) for u in plan.inputs.usages]
    first = next(u for u in usages if set(u["variables"]) & set(bindings[0].findings))
    gl.projects.get(first["file_project"]).commits.create({"branch": first["ref"], "commit_message": "rm", "actions": [
        {"action": "delete", "file_path": first["file_path"]}]})
    var = next(variables[r] for a in bindings[1:] for r in a.findings if r in variables
               and variables[r].level == "project")
    gl.projects.get(var.owner_id).variables.delete(var.name, filter={"environment_scope": var.environment_scope})


@pytest.mark.parametrize("changed", [False, True], ids=["as planned", "changed since planning"])
def test_reads_once_and_in_parallel_decide_like_reading_every_time(
        planned: tuple[Sandbox, Path, Plan], monkeypatch: pytest.MonkeyPatch, changed: bool) -> None:
    sb, tmp, plan = planned
    assert len([a for a in plan.actions if a.kind == "ensure_binding"]) >= 3
    if changed:
        _change_gitlab(sb, plan)
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    reference = _reference(plan, gl, monkeypatch)
    assert (len(reference) >= 2) == changed, reference
    sequential = Counting(GitLabLiveFacts(gl))
    assert binding_refusals(plan, sequential) == reference
    parallel = Counting(GitLabLiveFacts(clients=_clients(tmp)))
    assert binding_refusals(plan, parallel, concurrency=8) == reference
    assert max(parallel.reads.values()) == 1, "every fact read once"
    # the projects came from the group listings (a page per 100 projects), not one read each
    by_id = [k for k in parallel.reads if k[0] == "project"]
    assert any(k[0] == "group" for k in parallel.reads) and len(by_id) < len(
        [k for k in sequential.reads if k[0] == "project"]), parallel.reads
    assert {k for k in parallel.reads if k[0] != "project"} >= {k for k in sequential.reads if k[0] != "project"}
    # the reference reads some facts several times (what the cache saves): the count can fail
    every = Counting(GitLabLiveFacts(gl))
    with monkeypatch.context() as m:
        m.setattr(live_checks, "CachedLive", EveryTime)
        binding_refusals(plan, every)
    assert sum(every.reads.values()) > sum(sequential.reads.values())


def test_a_failed_read_refuses_every_binding_resting_on_it(planned: tuple[Sandbox, Path, Plan]) -> None:
    sb, tmp, plan = planned
    from migrate.core.errors import GitLabError

    class Down(GitLabLiveFacts):  # the listings fail too: each project is then read by id, and fails
        def group_projects(self, group_id: int) -> dict[int, int]:
            raise GitLabError(f"list the projects of group {group_id}: HTTP 500")

        def project_namespace(self, project_id: int) -> int | None:
            raise GitLabError(f"read project {project_id}: HTTP 500")

    refused = binding_refusals(plan, CachedLive(Down(clients=_clients(tmp)), 4), concurrency=4)
    bindings = {a.id for a in plan.actions if a.kind == "ensure_binding" and a.params.scopes}
    assert set(refused) == bindings
    assert all("cannot re-read the GitLab facts" in why and "HTTP 500" in why for why in refused.values())


def test_the_merge_request_executor_reuses_the_files_the_checks_read(
        planned: tuple[Sandbox, Path, Plan], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`apply --dry-run`: the same outcomes with and without the hand-off, fewer file reads with."""
    sb, tmp, _plan = planned

    def dry_run() -> tuple[list[dict[str, Any]], int]:
        sb.gitlab.log.clear()
        capsys.readouterr()
        main(["apply", str(tmp / "plan.json"), "--dry-run", "--format", "json", "-c", str(tmp / "c.yaml")])
        results = json.loads(capsys.readouterr().out)["results"]
        files = sum(1 for e in sb.gitlab.requests_log() if "/repository/files/" in e["path"])
        return results, files

    shared, shared_reads = dry_run()
    with monkeypatch.context() as m:
        m.setattr(SharedReads, "take", lambda self, *key: (False, None))
        alone, alone_reads = dry_run()
    assert shared == alone
    assert any(r["outcome"] == "would_apply" and r["action_id"].startswith("merge_request:") for r in shared)
    assert shared_reads < alone_reads, (shared_reads, alone_reads)


def test_a_shared_read_is_served_once(planned: tuple[Sandbox, Path, Plan]) -> None:
    """The second read of a file in a run (a take-over after "already exists") goes to GitLab and
    sees what is there now, not the copy from the start of the run."""
    sb, tmp, plan = planned
    reads = SharedReads()
    mr = next(a for a in plan.actions if a.kind == "merge_request")
    project, path, ref = mr.params.project, mr.params.file_path, mr.params.ref
    reads.put(project, path, ref, FileState(path, ref, "b0", "c0", "c0", "stale copy"))
    backend = GitLabMergeRequests(_clients(tmp), reads)
    first = backend.file(project, path, ref)
    assert first is not None and first.content == "stale copy"
    again = backend.file(project, path, ref)
    assert again is not None and again.content != "stale copy" and again.blob_id != "b0"
    assert reads.take(project, path, ref) == (False, None)


def test_a_moved_or_unlisted_project_is_seen_through_the_listing(
        planned: tuple[Sandbox, Path, Plan], monkeypatch: pytest.MonkeyPatch) -> None:
    sb, tmp, plan = planned
    scopes = [(a.id, s.project_id) for a in plan.actions if a.kind == "ensure_binding"
              for s in a.params.scopes]
    (moved_in, moved), (_other, unlisted) = scopes[0], scopes[-1]
    world = {"moved": moved, "unlisted": unlisted}
    with monkeypatch.context() as m:
        m.setattr(live_checks, "CachedLive", EveryTime)
        reference = binding_refusals(plan, Moved(gl=gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token()),
                                                 **world))
    assert "moved to namespace 999001" in reference[moved_in], reference
    counted = Counting(Moved(clients=_clients(tmp), **world))
    assert binding_refusals(plan, counted, concurrency=4) == reference
    assert counted.reads[("project", unlisted)] == 1  # not listed: read by id
    assert counted.reads[("project", moved)] == 0  # listed: the listing said where it is now
