"""Apply re-reads the projects a binding rests on (issue 16 §2): scan → plan on the sandbox, then
acme/jobs drops its key use from its CI file through the GitLab API; apply refuses jobs@'s
binding, naming the project and why, and grants deployer@'s."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest
import yaml
from helpers.scheduled_org import API_SA, JOBS_SA, org

from migrate.apply.live_checks import binding_refusals, detect
from migrate.cli.verbs import main
from migrate.gitlab.live_facts import GitLabLiveFacts
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox

WITHOUT_KEY = "deploy:\n  script:\n    - ./deploy.sh\n"


def commit(project: object, content: str, message: str) -> None:
    """A commit on main through `POST /projects/:id/repository/commits` (as a maintainer would)."""
    project.commits.create({"branch": "main", "commit_message": message,  # type: ignore[attr-defined]
                            "actions": [{"action": "update", "file_path": ".gitlab-ci.yml", "content": content}]})


@pytest.fixture()
def planned(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    with Sandbox(org()) as sb:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp_path / "state"))))
        os.environ.update(sb.env())
        assert main(["scan", "-c", str(cfg), "-o", str(tmp_path / "inv.json")]) == 1
        assert main(["plan", "-c", str(cfg), "--inventory", str(tmp_path / "inv.json"),
                     "-o", str(tmp_path / "plan.json")]) == 0
        yield sb, tmp_path


def test_a_binding_is_refused_when_its_project_no_longer_uses_the_key(
        planned: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sb, tmp = planned
    plan = plan_io.read(tmp / "plan.json")
    gl = gitlab.Gitlab(sb.gitlab_url, private_token="tok")
    live = GitLabLiveFacts(gl)
    assert binding_refusals(plan, live) == {}
    # a broken detector (finds nothing) is caught: the check really re-runs detection
    broken = binding_refusals(plan, live, lambda text, path, names: set())
    assert set(broken) == {f"ensure_binding:{API_SA}", f"ensure_binding:{JOBS_SA}"}, broken
    # an unrelated edit that keeps the key use still passes
    project = gl.projects.get("acme/jobs")
    keyed = project.files.raw(file_path=".gitlab-ci.yml", ref="main").decode()
    commit(project, "# reformatted\n" + keyed, "unrelated edit")
    assert binding_refusals(plan, live) == {}
    commit(project, WITHOUT_KEY, "drop the key")
    assert detect(WITHOUT_KEY, ".gitlab-ci.yml", frozenset({"JOBS_KEY"})) == set()
    refused = binding_refusals(plan, live)
    assert set(refused) == {f"ensure_binding:{JOBS_SA}"}, refused
    assert "project acme/jobs no longer uses the key" in refused[f"ensure_binding:{JOBS_SA}"]
    assert "JOBS_KEY" in refused[f"ensure_binding:{JOBS_SA}"]

    capsys.readouterr()
    code = main(["apply", str(tmp / "plan.json"), "--format", "json", "-c", str(tmp / "c.yaml"),
                 "--only", "ensure_binding"])
    rows = {r["action_id"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert code == 1, rows
    assert rows[f"ensure_binding:{JOBS_SA}"]["outcome"] == "refused"
    assert "acme/jobs no longer uses the key" in rows[f"ensure_binding:{JOBS_SA}"]["detail"]
    assert rows[f"ensure_binding:{API_SA}"]["outcome"] == "applied", rows[f"ensure_binding:{API_SA}"]


def test_a_deleted_ci_file_refuses_too(planned: tuple[Sandbox, Path]) -> None:
    sb, tmp = planned
    plan = plan_io.read(tmp / "plan.json")
    gl = gitlab.Gitlab(sb.gitlab_url, private_token="tok")
    gl.projects.get("acme/api").commits.create({"branch": "main", "commit_message": "rm", "actions": [
        {"action": "delete", "file_path": ".gitlab-ci.yml"}]})
    refused = binding_refusals(plan, GitLabLiveFacts(gl))
    assert set(refused) == {f"ensure_binding:{API_SA}"}
    assert "acme/api no longer uses the key" in refused[f"ensure_binding:{API_SA}"]
    assert "no longer exists" in refused[f"ensure_binding:{API_SA}"]
