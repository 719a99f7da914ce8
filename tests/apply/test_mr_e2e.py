"""Merge requests end to end on a sandbox org: apply opens them, a maintainer merges them with
python-gitlab, the sandbox runs the pipelines (authentication for real), `verify` judges them.

The plan is built by hand (scan/plan are exercised in their own tests): one MR per CI file, the
shared template once. Federation (pool, provider, bindings) is pre-seeded in the Google sandbox, as
`apply`'s Google actions would leave it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import google.oauth2.credentials
import pytest
from googleapiclient import discovery
from helpers.merge_request_org import (
    API_NEW,
    API_OLD,
    API_SA,
    AUD,
    JOBS_SA,
    SETTINGS,
    TOKEN,
    apply,
    clients,
    org,
    the_plan,
)
from helpers.sandbox_org import free_port

from migrate.apply.merge_request_content import branch_name, parse_marker
from migrate.apply.merge_request_executor import MergeRequestExecutor, action_marker_line
from migrate.cli.verbs import main
from migrate.core.model import MergeRequestParams, MRRewriteOptions, params_as
from migrate.core.state import State
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.gitlab.pipelines import GitLabPipelines
from migrate.plan import plan_io
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox
from migrate.verify.runner import exit_code, verify_plan


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    port = free_port()
    with Sandbox(org(port), gitlab_port=port) as sandbox:
        yield sandbox


def mutations(sb: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sb.gitlab.mutating_requests() if r["path"].startswith("/api/")]


def test_apply_merge_pipelines_verify(sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan()
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=TOKEN)

    # Dry run: reads only.
    sb.gitlab.log.clear()
    dry = apply(sb, plan, dry_run=True)
    assert {r.outcome for r in dry.values()} == {"would_apply"}
    assert mutations(sb) == []

    # Apply: one branch + one commit + one MR per action; the shared template exactly once.
    results = apply(sb, plan)
    assert {r.outcome for r in results.values()} == {"applied"}, results
    for aid, r in results.items():
        assert r.evidence.branch == branch_name("wif-migrate/", aid)
        assert r.evidence.mr_iid and r.evidence.web_url and r.evidence.commit_sha
    assert len(gl.projects.get("acme/templates").mergerequests.list(get_all=True)) == 1
    assert gl.projects.get("acme/shop").mergerequests.list(get_all=True) == []
    mr = gl.projects.get("acme/api").mergerequests.list(get_all=True)[0]
    assert parse_marker(mr.description) is not None and parse_marker(mr.description)[0] == \
        "merge_request:acme/api:.gitlab-ci.yml"
    assert API_SA in mr.description and "k" * 40 in mr.description and "How to roll back" in mr.description
    assert "PRIVATE KEY" not in mr.description and set(mr.labels) == {"wif-migrate", "security"}

    # Again: nothing to do, no mutating request.
    sb.gitlab.log.clear()
    again = apply(sb, plan)
    assert {r.outcome for r in again.values()} == {"skipped"}
    assert all("up to date" in r.detail for r in again.values())
    assert mutations(sb) == []

    # Break the binding of acme/jobs before its merge: its pipeline must fail, verify must say why.
    iam = discovery.build("iam", "v1", credentials=google.oauth2.credentials.Credentials("g-admin"),
                          client_options={"api_endpoint": sb.google_url}, static_discovery=True,
                          cache_discovery=False)
    resource = f"projects/acme-prod/serviceAccounts/{JOBS_SA}"
    policy = iam.projects().serviceAccounts().getIamPolicy(resource=resource).execute()
    policy["bindings"] = []
    iam.projects().serviceAccounts().setIamPolicy(resource=resource, body={"policy": policy}).execute()

    state = State(tmp_path / "state")
    reader = GitLabPipelines(clients(sb))
    before = verify_plan(reader, plan, "wif-migrate/", state)
    assert {r.status for r in before} == {"pending"} and exit_code(before) == 1

    # A maintainer merges every MR through the API; the target's push pipeline runs.
    for project in ("acme/templates", "acme/api", "acme/jobs"):
        p = gl.projects.get(project)
        for m in p.mergerequests.list(state="opened", get_all=True):
            m.merge()
    # Consumers of the template pick it up on their next pipeline.
    for project in ("acme/shop", "acme/billing"):
        gl.projects.get(project).pipelines.create({"ref": "main"})

    results_v = {r.action_id: r for r in verify_plan(reader, plan, "wif-migrate/", state)}
    api = results_v["merge_request:acme/api:.gitlab-ci.yml"]
    tpl = results_v["merge_request:acme/templates:templates/auth.yml"]
    jobs = results_v["merge_request:acme/jobs:.gitlab-ci.yml"]
    assert api.status == "verified", api
    assert tpl.status == "verified" and {c.project for c in tpl.checks} == {"acme/shop", "acme/billing"}, tpl
    assert jobs.status == "failed", jobs
    assert "job migrate" in jobs.detail and "Unable to acquire impersonated credentials" in jobs.detail
    assert "getAccessToken" in jobs.detail
    assert api.merge_commit_sha and api.checks[0].pipeline_id
    journal = {e.action_id: e for e in state.entries(stage="verify") if e.phase == "outcome"}
    assert journal[api.action_id].outcome == "applied" and journal[jobs.action_id].outcome == "failed"
    assert journal[api.action_id].evidence["merge_commit_sha"] == api.merge_commit_sha
    assert journal[api.action_id].evidence["pipeline_id"] == api.checks[0].pipeline_id

    # The CLI: same results from the journal's point of view, JSON on stdout, exit 1 (one failed).
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    cfg = sb.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state"))
    plan_file = plan_io.write(plan, tmp_path / "plan.json")
    capsys.readouterr()
    assert main(["verify", "--config", str(cfg), "--plan", str(plan_file), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["summary"] == {"verified": 2, "failed": 1, "pending": 0}

    # Merged MRs stay merged on a re-apply: skipped, no mutating request.
    sb.gitlab.log.clear()
    after = apply(sb, plan)
    assert {r.outcome for r in after.values()} == {"skipped"}
    assert mutations(sb) == []


def test_human_push_is_left_alone(sb: Sandbox) -> None:
    plan = the_plan()
    apply(sb, plan)
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    branch = branch_name("wif-migrate/", aid)
    human = sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_NEW + "# tweak\n", branch=branch,
                               username="alice", message="tweak the pipeline")
    sb.gitlab.log.clear()
    results = apply(sb, plan)
    assert results[aid].outcome == "skipped" and "not made by wif-migrate" in results[aid].detail
    assert sb.gitlab.project("acme/api").repo.branches[branch] == human.id
    assert mutations(sb) == []


def test_a_human_branch_created_between_read_and_write_is_left_alone(sb: Sandbox) -> None:
    """GitLab answers "branch already exists" to our commit: we re-read, see a human's branch, stop."""
    plan = the_plan()
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    branch = branch_name("wif-migrate/", aid)
    ex = MergeRequestExecutor(GitLabMergeRequests(clients(sb)), SETTINGS, plan, dry_run=False, concurrency=4)
    ex.prefetch(plan.actions)  # our reads: no branch yet
    human = sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_NEW + "# by hand\n", branch=branch,
                               username="alice", message="do it by hand")
    sb.gitlab.log.clear()
    result = ex.execute(next(a for a in plan.actions if a.id == aid))
    assert result.outcome == "skipped", result
    assert "already exists" in result.detail and "not made by wif-migrate" in result.detail
    assert sb.gitlab.project("acme/api").repo.branches[branch] == human.id  # not overwritten
    assert sb.gitlab.merge_requests("acme/api") == []  # and no MR opened from it
    # exactly one refused write (the commit), then reads only
    assert [(r["method"], r["status"]) for r in mutations(sb)] == [("POST", 400)]


def test_a_lost_answer_to_a_follow_up_commit_is_taken_over(sb: Sandbox) -> None:
    """Our branch holds an older version of our change; the commit bringing it up to date is
    applied but its answer lost; the client's retry meets "changed since you started editing"."""
    plan = the_plan()
    apply(sb, plan)
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    branch = branch_name("wif-migrate/", aid)
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_NEW + "# an older rewrite\n", branch=branch,
                       username="migrator", message=f"older rewrite\n{action_marker_line(aid)}")
    sb.gitlab.add_fault(Fault("POST", r"/projects/[^/]+/repository/commits$", count=1, mode="drop_after"))
    sb.gitlab.log.clear()
    r = apply(sb, plan)[aid]
    assert r.outcome == "applied" and "an answer was lost" in r.detail, r
    assert sb.gitlab.file("acme/api", ".gitlab-ci.yml", branch) == API_NEW
    commits = [e["status"] for e in sb.gitlab.requests_log() if e["path"].endswith("/repository/commits")
               and e["method"] == "POST"]
    assert commits == [0, 400], commits  # applied once (answer lost), the retry refused; nothing doubled
    assert len([m for m in sb.gitlab.merge_requests("acme/api") if m.state == "opened"]) == 1


def test_target_changed_since_planning_is_refused_without_rewriter(sb: Sandbox) -> None:
    plan = the_plan()
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", API_OLD + "# someone edited main\n")
    results = apply(sb, plan)
    r = results["merge_request:acme/api:.gitlab-ci.yml"]
    assert r.outcome == "refused" and "changed on main since planning" in r.detail
    assert sb.gitlab.merge_requests("acme/api") == []


def test_target_changed_since_planning_is_rewritten_again(sb: Sandbox) -> None:
    """main moved on after planning: the file is rewritten again from the live text (the human's
    new line survives), not overwritten with the stale planned content."""
    from migrate.plan.planner import default_rewriter

    aid = "merge_request:acme/api:.gitlab-ci.yml"
    actions = tuple(
        dataclasses.replace(a, params=dataclasses.replace(params_as(a, MergeRequestParams), rewrite_options=MRRewriteOptions(
            audience=AUD, gitlab_version=None, service_accounts={"API_KEY_FILE": API_SA}))) if a.id == aid else a
        for a in the_plan().actions)
    plan = dataclasses.replace(the_plan(), actions=actions)
    edited = API_OLD.replace("    - gcloud app deploy\n", "    - gcloud app deploy --quiet  # edited on main\n")
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", edited)
    results = apply(sb, plan, rewriter=default_rewriter())
    assert results[aid].outcome == "applied", results[aid].detail
    branch = branch_name("wif-migrate/", aid)
    content = sb.gitlab.file("acme/api", ".gitlab-ci.yml", branch)
    assert content is not None
    assert "gcloud app deploy --quiet  # edited on main" in content
    assert "activate-service-account" not in content and "id_tokens:" in content and AUD in content
    assert [mr.source_branch for mr in sb.gitlab.merge_requests("acme/api")] == [branch]
