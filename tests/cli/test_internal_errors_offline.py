"""Exit 3 for a bug inside a stage, for the verbs that need no backend (report, check --inventory,
ci analyze, ci rewrite): the stage raises an exception nothing expects (a RuntimeError planted in
one of its own functions, as a bug would), and the verb must stop with exit 3 and a line naming it
instead of a per-item ERROR/manual row with exit 0 or 1. Each test first runs the same command
without the fault and asserts its usual exact exit code, so the fault is what changes the outcome.
The backend-reading verbs are covered in test_internal_errors.py (slow: one sandbox per verb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.report_fixtures import inventory

from migrate.cli.verbs import main
from migrate.scan import inventory_io

CI = """deploy:
  script:
    - echo "$GCP_KEY" > key.json
    - gcloud auth activate-service-account --key-file key.json
    - gcloud run deploy app
"""
PROVIDER = "projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab"


def _bug(*_: Any, **__: Any) -> Any:
    raise RuntimeError("simulated bug")


def _internal(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated bug" in err, err
    return err


@pytest.fixture()
def inventory_file(tmp_path: Path) -> str:
    return str(inventory_io.write(inventory(), tmp_path / "inventory.json"))


def test_report_exits_3_on_a_bug_in_a_compliance_check(inventory_file: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.report import controls

    argv = ["report", "--inventory", inventory_file, "--format", "md", "--out", str(tmp_path / "r"),
            "--now", "2026-03-10T00:00:00Z"]
    assert main(argv) == 0
    capsys.readouterr()
    name = next(iter(controls.CHECKS))
    monkeypatch.setitem(controls.CHECKS, name, _bug)
    assert main(argv) == 3
    assert f"internal error in compliance check {name}" in _internal(capsys)


def test_check_exits_3_on_a_bug_building_the_findings(inventory_file: str, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.report import assemble

    argv = ["check", "--inventory", inventory_file, "--now", "2026-03-10T00:00:00Z"]
    assert main(argv) == 1  # the fixture's inventory has keys: findings
    capsys.readouterr()
    monkeypatch.setattr(assemble, "incident", _bug)
    assert main(argv) == 3
    _internal(capsys)


def test_ci_analyze_exits_3_on_a_bug_in_the_detector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.ci import detect

    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(CI, encoding="utf-8")
    assert main(["ci", "analyze", str(path), "--format", "json"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(detect, "sinks", _bug)
    assert main(["ci", "analyze", str(path), "--format", "json"]) == 3
    _internal(capsys)


def test_ci_rewrite_exits_3_on_a_bug_in_the_self_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.ci import selfcheck

    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(CI, encoding="utf-8")
    argv = ["ci", "rewrite", str(path), "-o", str(tmp_path / "out.yml"), "--provider", PROVIDER,
            "--service-account", "deployer@acme-prod.iam.gserviceaccount.com"]
    assert main(argv) == 0
    capsys.readouterr()
    monkeypatch.setattr(selfcheck, "check", _bug)
    assert main(argv) == 3
    _internal(capsys)
