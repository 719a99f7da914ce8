"""`wif-migrate keys` wiring without a sandbox: run lock, plan source, unreachable Google, table output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers.plan_fixtures import disable_params

from migrate.cli.verbs import main
from migrate.core.codec import decode_time
from migrate.core.model import Action, Plan, to_dict
from migrate.core.state import RunLock, State
from migrate.plan import plan_io

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "c" * 40
NOWHERE = "http://127.0.0.1:9"  # discard port: connection refused


def plan() -> Plan:
    params = disable_params(SA, KID, key_project="acme-prod")
    return Plan(gitlab_url="https://gitlab.example.com", identity_project="acme-id", project_number="1",
                pool_id="gitlab", provider_id="gitlab", generated_at=decode_time("2026-11-01T00:00:00Z"), inventory_digest="x",
                actions=(Action(f"disable_key:{SA}#{KID}", "disable_key", f"{SA}/keys/{KID}", "disable",
                                params=params),))


@pytest.fixture()
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("T_GOOGLE", "token")
    monkeypatch.setenv("T_GITLAB", "token")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "gitlab": {"url": "http://127.0.0.1:9", "token_env": "T_GITLAB"},
        "scope": {"groups": ["acme"]}, "state_dir": str(tmp_path / "state"),
        "google": {"identity_project": "acme-id", "access_token_env": "T_GOOGLE",
                   "endpoints": {"iam": NOWHERE, "policyanalyzer": NOWHERE}}}))
    return path


def test_mutating_run_refused_while_another_holds_the_lock(config: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = plan_io.write(plan(), tmp_path / "plan.json")
    with RunLock(tmp_path / "state", "another run"):
        code = main(["keys", "retire", "--config", str(config), "--plan", str(plan_file)])
    assert code == 1 and "another wif-migrate run holds" in capsys.readouterr().err


def test_unreachable_google_is_a_failed_row_and_plan_comes_from_the_state(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    State(tmp_path / "state").save_snapshot("plan", {"kind": plan_io.KIND, **to_dict(plan())})
    code = main(["keys", "retire", "--config", str(config), "--now", "2026-11-20T00:00:00Z"])
    out = capsys.readouterr().out
    assert code == 1
    assert "disable_key" in out and "failed" in out and "not reachable" in out  # the table
    [entry] = [e for e in State(tmp_path / "state").entries(stage="keys")]
    assert entry.outcome == "failed" and entry.ts_text == "2026-11-20T00:00:00Z"


def test_no_plan_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "retire", "--config", str(config)]) == 2
    assert "no plan" in capsys.readouterr().err
    assert main(["keys", "delete", "--config", str(config), "--now", "yesterday"]) == 2
