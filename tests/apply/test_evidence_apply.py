"""Apply executes only what the tool would compute now (issue 16 §2): a consistently forged plan —
inputs edited, digest recomputed with our own function, members from our own `derive` — passes the
plan's self-check but not the check against the scan journaled in the state directory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.plan_fixtures import DEPLOYER, INVENTORY, config, facts, line_rewriter

from migrate.apply.loop import find_inventory, integrity_refusals, journal_refusals
from migrate.cli.verbs import main
from migrate.core.model import Plan, to_dict
from migrate.core.state import State
from migrate.plan import plan_io
from migrate.plan.planner import build_plan, derive, inputs_digest


def the_plan() -> Plan:
    return build_plan(INVENTORY, config(), facts(), line_rewriter).plan


def forge(plan: Plan) -> Plan:
    """The review's attack: acme/api's protected project variable becomes an unprotected group
    variable, and never-keyed acme/docs becomes a consumer; everything made self-consistent."""
    inputs: dict[str, Any] = json.loads(json.dumps(plan.inputs))
    for v in inputs["variables"]:
        if v["name"] == "GCP_SA_KEY":
            v.update(level="group", owner="acme", owner_id=100, protected=False)
    ref = "group:acme:GCP_SA_KEY"
    for u in inputs["usages"]:
        if u["variable"] == "GCP_SA_KEY":
            u["variables"] = [ref]
            u["consumers"] = sorted({*u["consumers"], "acme/docs"})
    members = list(derive(inputs).members(DEPLOYER))
    actions = tuple(dataclasses.replace(a, params=dataclasses.replace(a.params, members=tuple(members)))
                    if a.id == f"ensure_binding:{DEPLOYER}" else a for a in plan.actions)
    return dataclasses.replace(plan, inputs=inputs, inputs_digest=inputs_digest(inputs), actions=actions)


def test_a_consistent_forgery_passes_the_self_check_but_not_the_journal_check() -> None:
    plan, forged = the_plan(), forge(the_plan())
    binding = next(a for a in forged.actions if a.id == f"ensure_binding:{DEPLOYER}")
    original = next(a for a in plan.actions if a.id == f"ensure_binding:{DEPLOYER}")
    assert set(binding.params.members) != set(original.params.members)  # it widens
    assert f"ensure_binding:{DEPLOYER}" not in integrity_refusals(forged)  # the old check is fooled
    refused = journal_refusals(forged, INVENTORY, config(), "state")
    assert f"ensure_binding:{DEPLOYER}" in refused and "variables" in refused[f"ensure_binding:{DEPLOYER}"]
    assert all(a.id in refused for a in forged.actions if a.kind in ("ensure_binding", "merge_request"))
    assert journal_refusals(plan, INVENTORY, config(), "state") == {}  # the honest plan passes


def test_a_plan_from_another_state_directory_is_refused_unless_its_inventory_is_named() -> None:
    plan = the_plan()
    refused = journal_refusals(plan, None, config(), "/srv/wif/state")
    assert refused and all("not made from a scan journaled in this state directory (/srv/wif/state)" in r
                           for r in refused.values())
    other = dataclasses.replace(INVENTORY, gitlab_version="16.0.0")
    assert all("not the one the plan was made from" in r
               for r in journal_refusals(plan, other, config(), "s").values())
    assert find_inventory([to_dict(other), to_dict(INVENTORY)], plan.inventory_digest) == INVENTORY
    assert find_inventory([to_dict(other)], plan.inventory_digest) is None


def test_a_changed_configuration_refuses_too() -> None:
    plan = the_plan()
    refused = journal_refusals(plan, INVENTORY, config(pool_id="other-pool"), "s")
    assert refused and "pool_id" in next(iter(refused.values()))


def test_apply_cli_refuses_a_plan_whose_scan_is_not_in_this_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_io.write(forge(the_plan()), tmp_path / "plan.json")
    (tmp_path / "c.yaml").write_text(json.dumps({
        "gitlab": {"url": "https://gitlab.acme.example/"}, "scope": {"groups": ["acme"]},
        "google": {"identity_project": "acme-identity", "pool_id": "gitlab", "provider_id": "gitlab",
                   "access_token_env": "NO_SUCH_TOKEN_ENV"},
        "state_dir": str(tmp_path / "state")}))
    State(tmp_path / "state").save_snapshot("inventory", to_dict(INVENTORY))
    code = main(["apply", str(tmp_path / "plan.json"), "--dry-run", "--format", "json", "-c", str(tmp_path / "c.yaml")])
    rows = {r["action_id"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert code == 1
    assert rows[f"ensure_binding:{DEPLOYER}"]["outcome"] == "refused"
    assert "differ from the journaled scan" in rows[f"ensure_binding:{DEPLOYER}"]["detail"]
