"""Schedule-aware grace in the plan (issue 16 §5), scan → plan on the sandbox.

acme/api uses its key in a job its monthly pipeline schedule runs: the key looks unused for a
month after the cut-over, so scan records the schedule's longest interval and the plan's
disable and delete steps carry the 31-day no-use window and grace with the reason (text and
JSON). acme/jobs has no schedule: its key keeps the configured grace.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers.scheduled_org import API_SA, JOBS_SA, org

from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.scan import inventory_io


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    with Sandbox(org()) as sb:
        tmp = tmp_path_factory.mktemp("schedules")
        cfg = tmp / "c.yaml"
        cfg.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state"))))
        os.environ.update(sb.env())
        assert main(["scan", "-c", str(cfg), "-o", str(tmp / "inv.json")]) == 1
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["plan", "-c", str(cfg), "--inventory", str(tmp / "inv.json"), "-o", str(tmp / "plan.json")])
        assert code == 0, code
        yield tmp, out.getvalue()


def test_scan_records_the_longest_schedule_interval_of_each_project_that_used_a_key(
        planned: tuple[Path, str]) -> None:
    tmp, _ = planned
    records = {r.path: r for r in inventory_io.read(tmp / "inv.json").projects}
    assert records["acme/api"].schedule_interval_s == 31 * 86400  # January → February: 31 days
    assert "monthly report" in records["acme/api"].schedule_reason
    assert records["acme/jobs"].schedule_interval_s == 0


def test_the_plan_shows_the_no_use_window_and_grace_and_why(planned: tuple[Path, str]) -> None:
    tmp, text = planned
    data = json.loads((tmp / "plan.json").read_text())
    steps = {(a["kind"], a["params"]["service_account"]): a for a in data["actions"]
             if a["kind"] in ("disable_key", "delete_key")}
    disable, delete = steps[("disable_key", API_SA)], steps[("delete_key", API_SA)]
    assert disable["params"]["no_use_window_days"] == 31
    assert "monthly report" in disable["params"]["no_use_window_reason"]
    assert "acme/api" in disable["params"]["no_use_window_reason"]
    assert delete["params"]["grace_days"] == 31 and "monthly report" in delete["params"]["grace_reason"]
    assert "31 days" in disable["summary"] and "31 days" in delete["summary"]
    jobs = steps[("delete_key", JOBS_SA)]["params"]
    assert jobs["no_use_window_days"] == 0 and jobs["grace_days"] == 14, jobs
    flat = " ".join(text.split())
    assert "no-use window" in flat and "31 days: schedule 'monthly report' in acme/api" in flat, text
    plan = plan_io.read(tmp / "plan.json")
    from migrate.retire.runner import items_from_plan

    item = next(i for i in items_from_plan(plan) if i.service_account == API_SA)
    assert item.planned_window_days == 31  # retire starts from the plan's window; live may be longer


def test_an_unreadable_schedule_list_is_an_error_row_and_the_plan_says_the_window_is_unknown(
        tmp_path: Path) -> None:
    """Not a silent zero: 403 on acme/api's pipeline schedules → ERROR row, and the plan's window
    reason names the project (retire re-reads live and refuses while it stays unreadable)."""
    import requests

    with Sandbox(org()) as sb:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp_path / "state"))))
        os.environ.update(sb.env())
        assert requests.post(f"{sb.gitlab_url}/_sandbox/faults", timeout=10, json={
            "method": "GET", "path_regex": r"/projects/(1001|acme%2Fapi)/pipeline_schedules", "status": 403,
            "count": -1}).status_code == 201
        assert main(["scan", "-c", str(cfg), "-o", str(tmp_path / "inv.json")]) == 1
        inventory = inventory_io.read(tmp_path / "inv.json")
        rows = [p for p in inventory.problems if p.subject == "project:acme/api"]
        assert rows and rows[0].severity == "error" and "pipeline schedules" in rows[0].reason, inventory.problems
        assert {r.path: r for r in inventory.projects}["acme/api"].schedule_interval_s is None
        assert main(["plan", "-c", str(cfg), "--inventory", str(tmp_path / "inv.json"),
                     "-o", str(tmp_path / "plan.json")]) == 0
        data = json.loads((tmp_path / "plan.json").read_text())
        disable = next(a for a in data["actions"]
                       if a["kind"] == "disable_key" and a["params"]["service_account"] == API_SA)
        assert "not known for acme/api" in disable["params"]["no_use_window_reason"], disable["params"]
