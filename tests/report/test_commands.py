"""`wif-migrate check` and `wif-migrate report` in-process through the real CLI entry point."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.report_fixtures import KEY_API, NOW, inventory, journal, plan

from migrate.cli.verbs import main
from migrate.core.codec import decode_time
from migrate.core.model import Inventory, to_dict
from migrate.core.state import State
from migrate.plan import plan_io
from migrate.scan import inventory_io


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no wif-migrate.yaml here: --inventory must work without a config


def keyless() -> Inventory:
    inv = inventory()
    return replace(inv, variables=(), usages=(), key_facts=(), problems=(),
                   projects=tuple(p for p in inv.projects if p.status != "error"))


def write(inv: Inventory, name: str = "inv.json") -> str:
    inventory_io.write(inv, name)
    return name


def test_check_keyless_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--inventory", write(keyless())]) == 0
    assert capsys.readouterr().out == "keyless: none of the 5 project(s) in scope holds or uses a service-account key\n"


def test_check_keyed_exits_1_and_lists_offenders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--inventory", write(inventory()), "--now", NOW]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split("|")[1:6] == [" kind     ", " where                                   ",
                                        " variable           ", " key                                                 ",
                                        " status   "]
    assert "| variable | project:acme/api:GCP_SA_KEY[production] | GCP_SA_KEY" in out
    assert "| usage    | acme/templates:gcp.yml:3" in out
    assert "| ERROR    | project:acme/secret" in out
    assert "unreadable (suspected key)" in out
    assert "3 variable(s) hold a key, 2 CI location(s) use one, 1 item(s) could not be read" in err


def test_check_fails_on_an_unreadable_project_alone() -> None:
    inv = replace(keyless(), projects=inventory().projects[4:5])
    assert inv.projects[0].status == "error"
    assert main(["check", "--inventory", write(inv)]) == 1


def test_check_bad_inputs_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--inventory", "missing.json"]) == 2
    Path("bad.json").write_text("{}", encoding="utf-8")
    assert main(["check", "--inventory", "bad.json"]) == 2
    assert main(["check", "--inventory", write(keyless()), "--now", "yesterday"]) == 2
    assert "--now: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


def test_check_writes_a_valid_gitlab_secret_detection_report() -> None:
    assert main(["check", "--inventory", write(inventory()), "--gitlab-report", "out/gl.json", "--now", NOW]) == 1
    report = json.loads(Path("out/gl.json").read_text(encoding="utf-8"))
    assert report["version"] == "15.2.1"
    scan = report["scan"]
    for part in ("analyzer", "scanner"):
        assert {"id", "name", "version", "vendor"} <= set(scan[part]) and scan[part]["vendor"]["name"]
    assert scan["type"] == "secret_detection" and scan["status"] == "success"
    for t in ("start_time", "end_time"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", scan[t])
    vulns = report["vulnerabilities"]
    # --inventory without GitLab access: no commit SHAs, so no finding is placed at an invented
    # commit; they are left out, and the report says so (tests/cli/test_output_envelope.py checks the
    # real SHAs read from the sandbox).
    assert vulns == []
    assert any("5 finding(s) left out" in m["value"] for m in scan["messages"])
    ids = [v["id"] for v in vulns]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    for v in vulns:
        assert 1 <= len(v["identifiers"]) <= 20
        assert all({"type", "name", "value"} <= set(i) for i in v["identifiers"])
        assert v["location"]["commit"]["sha"] and v["location"]["file"]
        assert v["severity"] in {"Info", "Unknown", "Low", "Medium", "High", "Critical"}
    # stable ids: a second run gives the same ids
    assert main(["check", "--inventory", "inv.json", "--gitlab-report", "again.json", "--now", NOW]) == 1
    assert [v["id"] for v in json.loads(Path("again.json").read_text())["vulnerabilities"]] == ids


def seeded_state(state_dir: str) -> None:
    state = State(state_dir, actor="test")
    state.save_snapshot("inventory", to_dict(inventory()))
    state.save_snapshot("plan", to_dict(plan()))
    for e in journal():
        state.record(e.stage, e.action_id, e.kind, e.target, e.phase, e.outcome, e.detail, e.evidence)


def test_report_reads_state_snapshots_and_journal(capsys: pytest.CaptureFixture[str]) -> None:
    seeded_state("st")
    assert main(["report", "--state-dir", "st", "--format", "md,json,gitlab", "--out", "rep", "--now", NOW,
                 "--inventory", write(inventory())]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["rep/report.md", "rep/report.json", "rep/gl-secret-detection-report.json"]
    data = json.loads(Path("rep/report.json").read_text())
    assert data["plan_generated_at"] == "2026-03-01T11:00:00Z"  # the plan snapshot
    assert {k["key_id"]: k["status"] for k in data["keys"]}[KEY_API.key_id] == "disabled"  # journal after scan
    assert len(data["burndown"]) >= 3


def test_report_without_inventory_uses_the_latest_snapshot_and_plan_file() -> None:
    seeded_state("st")
    plan_io.write(replace(plan(), generated_at=decode_time("2026-03-02T00:00:00Z")), "plan.json")
    Path("wif-migrate.yaml").write_text(
        "version: 1\ngitlab: {url: https://gitlab.example.com}\ngoogle: {identity_project: acme-identity}\n"
        "scope: {groups: [acme]}\nstate_dir: st\nreports: {out: out, formats: [csv]}\n", encoding="utf-8")
    assert main(["report", "--plan", "plan.json", "--now", NOW]) == 0
    assert sorted(p.name for p in Path("out").iterdir()) == ["controls.csv", "keys.csv"]
    assert "deployer@acme-prod.iam.gserviceaccount.com" in Path("out/keys.csv").read_text()


def test_report_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--inventory", write(inventory()), "--format", "md,pdf"]) == 2
    assert "unknown format 'pdf'" in capsys.readouterr().err
    Path("wif-migrate.yaml").write_text(
        "version: 1\ngitlab: {url: https://gitlab.example.com}\ngoogle: {identity_project: acme-identity}\n"
        "scope: {groups: [acme]}\nstate_dir: empty-state\n", encoding="utf-8")
    assert main(["report"]) == 2
    assert "no inventory: run `wif-migrate scan` first" in capsys.readouterr().err
    assert not Path("empty-state").exists()  # a report never creates a state database
