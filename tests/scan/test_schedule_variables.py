"""Pipeline schedule variables in scan and plan (issue 14, resolver rule R1 made real).

GitLab gives a schedule's variables precedence over project, group and instance variables for the
pipelines the schedule starts (doc/ci/variables/_index.md, "CI/CD variable precedence"; the values
are returned by GET /projects/:id/pipeline_schedules/:schedule_id, doc/api/pipeline_schedules.md).

- acme/web's jobs read GCP_SA_KEY; its nightly schedule sets GCP_SA_KEY to something else: the
  scheduled pipelines do not get the key, so the file goes to manual review with the reason and no MR.
- acme/same's schedule sets GCP_SA_KEY to the same key: nothing changes, the file is rewritten.
- acme/reports' schedule itself holds a key (REPORT_KEY): a finding with location "pipeline
  schedule" and a manual plan entry, never the private key.
Real python-gitlab over HTTP against the sandbox.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

SA = "deployer@acme-prod.iam.gserviceaccount.com"
REPORTS_SA = "reports@acme-prod.iam.gserviceaccount.com"
CI = """deploy:
  script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
    - gcloud run deploy web --region europe-west1
"""
KEY = {"key": "GCP_SA_KEY", "variable_type": "file", "sa_key": {"service_account": SA, "key": "k1"}}


def org(override: dict[str, Any]) -> Any:
    return parse_org({
        "seed": 7,
        "gitlab": {
            "users": [{"username": "migrator", "token": "t-migrator", "admin": True}],
            "groups": [{"path": "acme", "id": 100, "projects": [
                {"path": "web", "id": 1001, "files": {".gitlab-ci.yml": CI}, "variables": [KEY],
                 "pipeline_schedules": [{"description": "nightly", "cron": "0 3 * * *", "variables": [override]}]},
                {"path": "same", "id": 1002, "files": {".gitlab-ci.yml": CI}, "variables": [KEY],
                 "pipeline_schedules": [{"description": "weekly", "cron": "0 4 * * 1", "variables": [KEY]}]},
                {"path": "reports", "id": 1003, "files": {".gitlab-ci.yml": "report:\n  script: [make]\n"},
                 "pipeline_schedules": [{"description": "daily report", "cron": "0 5 * * *", "variables": [
                     {"key": "REPORT_KEY", "sa_key": {"service_account": REPORTS_SA, "key": "r1"}}]}]},
            ]}],
        },
        "google": {"admin_token": "g-admin", "projects": [
            {"project_id": "acme-identity", "number": 499999999999,
             "workload_identity_pools": [{"id": "gitlab", "state": "ACTIVE", "providers": []}]},
            {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
                {"email": SA, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z"}]},
                {"email": REPORTS_SA, "keys": [{"label": "r1", "created": "2024-03-01T10:00:00Z"}]}]}]},
    }, "schedule-variables org")


PLAIN = {"key": "GCP_SA_KEY", "value": "not-a-key"}


def run(sb: Sandbox, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], Any, str]:
    import yaml
    config = tmp / "c.yaml"
    config.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state")), sort_keys=False), encoding="utf-8")
    os.environ.update(sb.env())
    inv, plan = tmp / "inventory.json", tmp / "plan.json"
    assert main(["scan", "-o", str(inv), "--progress", "never", "--config", str(config)]) == 1
    assert main(["plan", "--inventory", str(inv), "-o", str(plan), "--no-diff", "--config", str(config)]) == 0
    raw = inv.read_text(encoding="utf-8") + plan.read_text(encoding="utf-8") + capsys.readouterr().out
    return json.loads(inv.read_text(encoding="utf-8")), plan_io.read(plan), raw


@pytest.fixture()
def sandbox(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(org(getattr(request, "param", PLAIN))) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        yield sb


def mr_files(plan: Any) -> set[str]:
    return {a.params.project for a in plan.actions if a.kind == "merge_request"}


def test_a_schedule_overriding_the_key_variable_sends_the_file_to_manual_review(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _inv, plan, _raw = run(sandbox, tmp_path, capsys)
    web = [p for p in plan.manual if p.subject == "file:acme/web:.gitlab-ci.yml"]
    assert web and "pipeline schedule 'nightly' on main overrides GCP_SA_KEY" in web[0].reason, plan.manual
    assert "acme/web" not in mr_files(plan)  # no rewrite of the overridden file
    # the same key in the schedule: the scheduled pipelines receive what the binding was derived from
    assert "acme/same" in mr_files(plan)


@pytest.mark.parametrize("sandbox", [{"key": "GCP_SA_KEY", "sa_key": {"service_account": REPORTS_SA, "key": "r1"}}],
                         indirect=True)
def test_a_schedule_overriding_with_another_key_is_manual_too(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _inv, plan, _raw = run(sandbox, tmp_path, capsys)
    assert "acme/web" not in mr_files(plan)
    assert any("overrides GCP_SA_KEY" in p.reason for p in plan.manual if p.subject.startswith("file:acme/web:"))


def test_a_schedule_holding_a_key_is_a_finding_and_a_manual_plan_entry(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv, plan, raw = run(sandbox, tmp_path, capsys)
    kid = sandbox.keys.issue(REPORTS_SA, "r1").key_id
    found = [p for p in inv["problems"] if p["subject"] == "variable:schedule:acme/reports#1:REPORT_KEY"]
    assert found and "pipeline schedule" in found[0]["reason"] and kid in found[0]["reason"], inv["problems"]
    assert found[0]["severity"] == "manual"
    assert any(p.subject == found[0]["subject"] and kid in p.reason for p in plan.manual)
    assert "PRIVATE KEY" not in raw and "private_key" not in raw


def test_unreadable_schedules_are_a_problem_row_and_block_the_rewrite(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.sandbox.http import Fault
    sandbox.gitlab.add_fault(Fault("GET", r"/pipeline_schedules/\d+$", 403, count=-1))
    inv, plan, _raw = run(sandbox, tmp_path, capsys)
    rows = [p for p in inv["problems"] if p["subject"] == "project:acme/same"]
    assert rows and "pipeline schedules not readable" in rows[0]["reason"], inv["problems"]
    assert "acme/same" not in mr_files(plan)


def test_a_key_also_held_by_a_schedule_blocks_its_retire_step(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """acme/same's schedule holds k1 (the same key): its file is rewritten, but the key's disable
    step is blocked by the schedule variable (retire refuses on `blocked_by`)."""
    _inv, plan, _raw = run(sandbox, tmp_path, capsys)
    kid = sandbox.keys.issue(SA, "k1").key_id
    disable = next(a for a in plan.actions if a.kind == "disable_key" and a.params.key_id == kid)
    assert "variable:schedule:acme/same#1:GCP_SA_KEY" in disable.params.blocked_by, disable.params
