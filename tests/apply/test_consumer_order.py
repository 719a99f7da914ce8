"""A shared template whose consumers copy its sign-in with `!reference`, end to end on the sandbox
(issue 21): the consumer merge requests first, the template's only after every one is merged, and
every consumer pipeline green at each step (real python-gitlab and Google clients over HTTP, the
real CI rewriter, the sandbox runner executing each job's script).

The org: `acme/templates:gcp.yml` holds `.gcp-auth`, signing in with the group's file-type key
variable; its consumers copy that `before_script` with `!reference` —

- acme/direct: in the job itself;
- acme/chain: in a hidden job `.copy` that the running job `extends`;
- acme/local: in a job of its local include `ci/deploy.yml`;
- acme/plain: `extends: .gcp-auth` (the template's token reaches it: no consumer merge request).

Story: scan → plan (three consumer MRs; the template's lists them in `after_merged`) → apply (the
consumer MRs opened, the template's *not*: nothing to merge early) → a forged plan without the
dependency is refused by the live consumer recheck → two of three consumer MRs merged: still
waiting, naming the third → all merged (pipelines green, still on the key) → apply opens the
template's MR → merged (pipelines green, through federation) → verify → retire → delete.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import gitlab
import pytest
import yaml
from helpers.sandbox_org import ONE_KEY_ACCOUNT, one_key_org

from migrate.ci.emit import MARKER
from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

SA = ONE_KEY_ACCOUNT
START = "2026-11-25T09:00:00Z"
TEMPLATE = """.gcp-auth:
  image: google/cloud-sdk:467.0.0-slim
  before_script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
"""
INCLUDE = "include:\n  - project: acme/templates\n    file: gcp.yml\n"
COPY = "    - !reference [.gcp-auth, before_script]\n"
CONSUMERS: dict[str, dict[str, str]] = {
    "direct": {".gitlab-ci.yml": INCLUDE + "deploy:\n  image: google/cloud-sdk:467.0.0-slim\n  before_script:\n"
               + COPY + "  script:\n    - gcloud storage ls\n"},
    "chain": {".gitlab-ci.yml": INCLUDE + ".copy:\n  image: google/cloud-sdk:467.0.0-slim\n  before_script:\n" + COPY
              + "ship:\n  extends: .copy\n  script:\n    - gcloud storage ls\n"},
    "local": {".gitlab-ci.yml": INCLUDE + "  - local: ci/deploy.yml\nlint:\n  script:\n    - make lint\n",
              "ci/deploy.yml": "release:\n  image: google/cloud-sdk:467.0.0-slim\n  script:\n" + COPY
              + "    - gcloud storage ls\n"},
    "plain": {".gitlab-ci.yml": INCLUDE + "deploy:\n  extends: .gcp-auth\n  script:\n    - gcloud storage ls\n"},
}
JOBS = {"direct": "deploy", "chain": "ship", "local": "release", "plain": "deploy"}
TEMPLATE_MR = "merge_request:acme/templates:gcp.yml"


def consumer_mr(name: str) -> str:
    return f"merge_request:acme/{name}:id_tokens_for:acme/templates:gcp.yml"


def org() -> Any:
    projects = [{"path": "templates", "id": 1001, "files": {"gcp.yml": TEMPLATE}}]
    projects += [{"path": name, "id": 1010 + i, "files": files} for i, (name, files) in enumerate(CONSUMERS.items())]
    return parse_org(one_key_org(projects, 21, key={"last_authenticated": "2026-11-20T07:00:00Z"}), "template consumers org")


@dataclasses.dataclass
class Story:
    sb: Any
    gl: gitlab.Gitlab
    config: Path
    plan: Path
    tmp: Path

    def cli(self, *argv: str) -> int:
        return main([*argv, "--config", str(self.config)])

    def apply(self, capsys: pytest.CaptureFixture[str], plan: Path | None = None, *extra: str) -> dict[str, Any]:
        capsys.readouterr()
        self.cli("apply", str(plan or self.plan), "--format", "json", "--only", "merge_request", *extra)
        return {r["action_id"]: r for r in json.loads(capsys.readouterr().out)["results"]}

    def open_mrs(self, project: str) -> list[Any]:
        return list(self.gl.projects.get(project).mergerequests.list(state="opened", iterator=True))

    def merge(self, project: str) -> None:
        for mr in self.open_mrs(project):
            mr.merge()

    def latest_jobs(self, name: str, start: bool = False) -> dict[str, tuple[str, str]]:
        """job → (status, log) of the project's newest pipeline on main (a new one when `start`)."""
        project = self.gl.projects.get(f"acme/{name}")
        if start:
            project.pipelines.create({"ref": "main"})
        pipeline = max(project.pipelines.list(ref="main", iterator=True), key=lambda p: p.id)
        return {j.name: (j.status, project.jobs.get(j.id).trace().decode("utf-8", "replace"))
                for j in pipeline.jobs.list(iterator=True)}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("consumer_order")
    saved = dict(os.environ)
    try:
        from datetime import datetime

        with Sandbox(org(), now=datetime.fromisoformat(START.replace("Z", "+00:00"))) as sb:
            os.environ.update(sb.env())
            config = tmp / "c.yaml"
            config.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state")), sort_keys=False),
                              encoding="utf-8")
            story = Story(sb, gitlab.Gitlab(sb.gitlab_url, private_token="t-migrator"), config, tmp / "plan.json", tmp)
            assert story.cli("scan", "-o", str(tmp / "inv.json"), "--progress", "never") == 1
            assert story.cli("plan", "--inventory", str(tmp / "inv.json"), "-o", str(story.plan), "--no-diff") == 0
            yield story
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.slow
def test_template_consumers_migrate_in_order_and_every_pipeline_stays_green(
        story: Story, capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_io.read(story.plan)
    by_id = {a.id: a for a in plan.actions}
    copying = ["chain", "direct", "local"]
    assert by_id[TEMPLATE_MR].params.after_merged == tuple(sorted(consumer_mr(n) for n in copying))
    assert consumer_mr("plain") not in by_id  # `extends` merges the template's token: nothing to add
    assert by_id[consumer_mr("local")].params.file_path == "ci/deploy.yml"
    # the key's evidence: every consumer job that runs the template's sign-in, copies included
    assert by_id[TEMPLATE_MR].params.effective_jobs == {f"acme/{n}": (JOBS[n],) for n in sorted(CONSUMERS)}
    disable = next(a for a in plan.actions if a.kind == "disable_key")
    assert {TEMPLATE_MR, *(consumer_mr(n) for n in copying)} <= set(disable.depends_on)
    # the consumers' jobs work with the key before anything is merged
    for name in CONSUMERS:
        assert story.latest_jobs(name, start=True)[JOBS[name]][0] == "success", name

    # apply: the consumer MRs are opened, the template's is not (so it cannot be merged early)
    rows = story.apply(capsys)
    for name in copying:
        assert rows[consumer_mr(name)]["outcome"] == "applied", rows[consumer_mr(name)]
    assert rows[TEMPLATE_MR]["outcome"] == "skipped" and "waiting for 3 consumer merge request(s)" in \
        rows[TEMPLATE_MR]["detail"], rows[TEMPLATE_MR]
    assert story.open_mrs("acme/templates") == []

    # attack: the dependency cut out of the plan by hand → the live consumer recheck refuses it
    data = json.loads(story.plan.read_text(encoding="utf-8"))
    template = next(a for a in data["actions"] if a["id"] == TEMPLATE_MR)
    template["params"].pop("after_merged")
    template["depends_on"] = [d for d in template["depends_on"] if "id_tokens_for" not in d]
    forged = story.tmp / "forged.json"
    forged.write_text(json.dumps(data), encoding="utf-8")
    rows = story.apply(capsys, forged)
    assert rows[TEMPLATE_MR]["outcome"] == "refused", rows[TEMPLATE_MR]
    assert "would break a job of a pipeline that reads it" in rows[TEMPLATE_MR]["detail"]
    assert "consumer acme/direct, file .gitlab-ci.yml, job deploy: no ID token" in rows[TEMPLATE_MR]["detail"]
    assert story.open_mrs("acme/templates") == []

    # two of three consumer MRs merged: still waiting, naming the third; their pipelines stay green
    for name in ("chain", "direct"):
        story.merge(f"acme/{name}")
        status, log = story.latest_jobs(name)[JOBS[name]]
        assert status == "success" and MARKER not in log, (name, log[-500:])  # the key, plus an unused token
    rows = story.apply(capsys)
    assert rows[TEMPLATE_MR]["outcome"] == "skipped", rows[TEMPLATE_MR]
    assert rows[TEMPLATE_MR]["detail"].startswith(f"waiting for 1 consumer merge request(s) to be merged first "
                                                  f"({consumer_mr('local')})"), rows[TEMPLATE_MR]
    assert story.open_mrs("acme/templates") == []

    story.merge("acme/local")
    assert story.latest_jobs("local")[JOBS["local"]][0] == "success"
    rows = story.apply(capsys)
    assert rows[TEMPLATE_MR]["outcome"] == "applied", rows[TEMPLATE_MR]
    assert len(story.open_mrs("acme/templates")) == 1

    # the template merged: every consumer's job signs in through federation and succeeds
    story.merge("acme/templates")
    for name in CONSUMERS:
        status, log = story.latest_jobs(name, start=True)[JOBS[name]]
        assert status == "success" and MARKER in log, (name, status, log[-800:])

    assert story.cli("verify", "--plan", str(story.plan)) == 0
    story.sb.clock.advance(timedelta(days=2))
    assert story.cli("keys", "retire", "--plan", str(story.plan), "--now", story.sb.clock.iso()) == 0
    story.sb.clock.advance(timedelta(days=15))
    assert story.cli("keys", "delete", "--plan", str(story.plan), "--now", story.sb.clock.iso()) == 0
    reports = story.tmp / "reports"
    assert story.cli("report", "--out", str(reports), "--format", "json", "--plan", str(story.plan),
                     "--inventory", str(story.tmp / "inv.json"), "--now", story.sb.clock.iso()) == 0
    report = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert [(k["service_account"], k["status"]) for k in report["keys"]] == [(SA, "deleted")], report["keys"]
    assert report["manual"] == []
