"""`wif-migrate plan` offline from an inventory file: tables, --explain, --emit terraform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.plan_fixtures import DEPLOYER, INVENTORY

from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.scan import inventory_io


def _setup(tmp_path: Path) -> None:
    inventory_io.write(INVENTORY, tmp_path / "inv.json")
    (tmp_path / "c.yaml").write_text(json.dumps({
        "gitlab": {"url": "https://gitlab.acme.example"}, "scope": {"groups": ["acme"]},
        "google": {"identity_project": "acme-identity"}, "state_dir": str(tmp_path / "state")}))


def test_offline_plan_writes_plan_terraform_and_explains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _setup(tmp_path)
    argv = ["plan", "-c", str(tmp_path / "c.yaml"), "--inventory", str(tmp_path / "inv.json"), "--offline",
            "--project-number", "111111111111", "-o", str(tmp_path / "plan.json")]
    assert main([*argv, "--emit", "terraform", str(tmp_path / "tf")]) == 0
    out = capsys.readouterr().out
    assert "Service accounts (who can impersonate" in out
    assert "assertion.namespace_id in [\"100\", \"101\"]" in out
    plan = plan_io.read(tmp_path / "plan.json")
    # the state's snapshot is the plan written (copied from the file, not encoded again)
    from migrate.core.state import State

    assert plan_io.from_data(State(tmp_path / "state").latest_snapshot("plan")) == plan
    # Offline: no file text, so every CI file is a manual entry and no MR is planned.
    assert not [a for a in plan.actions if a.kind == "merge_request"]
    assert {m.reason for m in plan.manual} == {"could not read the file at main: not fetched"}
    assert 'resource "google_iam_workload_identity_pool_provider" "gitlab"' in (tmp_path / "tf" / "wif.tf").read_text()
    assert main([*argv, "--explain", DEPLOYER]) == 0
    explained = capsys.readouterr().out
    assert f"Who can impersonate {DEPLOYER}" in explained
    assert "look-alike namespace acme-evil/api (protected ref)" in explained
    assert "after ⊆ before" in explained


def test_a_plan_on_stdout_is_snapshotted_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.core.state import State

    _setup(tmp_path)
    assert main(["plan", "-c", str(tmp_path / "c.yaml"), "--inventory", str(tmp_path / "inv.json"), "--offline",
                 "--project-number", "111111111111", "-o", "-"]) == 0
    assert plan_io.from_data(State(tmp_path / "state").latest_snapshot("plan")) == plan_io.loads(capsys.readouterr().out)


def test_offline_plan_needs_a_project_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _setup(tmp_path)
    assert main(["plan", "-c", str(tmp_path / "c.yaml"), "--inventory", str(tmp_path / "inv.json"),
                 "--offline"]) == 2
    assert "--offline needs --project-number" in capsys.readouterr().err
