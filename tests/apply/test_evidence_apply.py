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
from migrate.core.codec import decode_time
from migrate.core.model import Plan, PlanInputs, from_dict, to_dict
from migrate.core.state import State
from migrate.plan import plan_io
from migrate.plan.planner import build_plan, derive, inputs_digest


def the_plan() -> Plan:
    return build_plan(INVENTORY, config(), facts(), line_rewriter).plan


def forge(plan: Plan) -> Plan:
    """The review's attack: acme/api's protected project variable becomes an unprotected group
    variable, and never-keyed acme/docs becomes a consumer; everything made self-consistent."""
    raw: dict[str, Any] = to_dict(plan.inputs)
    for v in raw["variables"]:
        if v["name"] == "GCP_SA_KEY":
            v.update(level="group", owner="acme", owner_id=100, protected=False)
    ref = "group:acme:GCP_SA_KEY"
    for u in raw["usages"]:
        if u["variable"] == "GCP_SA_KEY":
            u["variables"] = [ref]
            u["consumers"] = sorted({*u["consumers"], "acme/docs"})
    inputs = from_dict(PlanInputs, raw)
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


# --- find_inventory: the snapshot hashed as it is, read newest first, one at a time (issue 18) ---

def _snapshot(inventory: Any) -> dict[str, Any]:
    """A body as `scan` journals it: to_dict through the state's JSON (sorted keys)."""
    return json.loads(json.dumps(to_dict(inventory), sort_keys=True))


def _raw_digest_holds(body_digest: Any) -> bool:
    """`body_digest` gives an inventory's digest for its snapshot (with or without the file's
    `kind` tag), and another digest for a snapshot with one field changed."""
    from migrate.plan.planner import inventory_digest

    for inv in (INVENTORY, dataclasses.replace(INVENTORY, generated_at=decode_time("2031-05-05T00:00:00Z")),
                dataclasses.replace(INVENTORY, projects=INVENTORY.projects[:1], gitlab_version="16.11.0")):
        if body_digest(_snapshot(inv)) != inventory_digest(inv):
            return False
        if body_digest({"kind": "wif-migrate/inventory", **_snapshot(inv)}) != inventory_digest(inv):
            return False
    edited = _snapshot(INVENTORY)
    edited["projects"][0]["path"] += "-x"
    return body_digest(edited) != inventory_digest(INVENTORY)


def test_a_snapshots_raw_digest_is_its_inventorys_digest() -> None:
    from migrate.apply.loop import body_digest
    from migrate.core.codec import canonical_sha256

    assert _raw_digest_holds(body_digest)

    def broken(skip: tuple[str, ...], separators: tuple[str, str] = (", ", ": ")) -> Any:
        return lambda body: "sha256:" + canonical_sha256(body, skip=skip, separators=separators, encoded=False)

    # the streaming mistakes it can fail on: json's compact separators, the `kind` tag hashed,
    # a field left out
    assert not _raw_digest_holds(broken(("generated_at", "kind"), (",", ":")))
    assert not _raw_digest_holds(broken(("generated_at",)))
    assert not _raw_digest_holds(broken(("generated_at", "kind", "projects")))


def test_find_inventory_reads_newest_first_and_stops_at_the_match() -> None:
    plan = the_plan()
    other = dataclasses.replace(INVENTORY, gitlab_version="16.0.0")
    read: list[str] = []

    def bodies() -> Any:
        for name, inv in (("newest", other), ("planned", INVENTORY), ("oldest", other)):
            read.append(name)
            yield _snapshot(inv)

    assert find_inventory(bodies(), plan.inventory_digest) == INVENTORY
    assert read == ["newest", "planned"]  # the oldest is never read


def test_an_older_builds_snapshot_is_still_found_by_decoding_it() -> None:
    """A body written before a defaulted field existed (here: no `other_variables`, no
    `outside_readers`) is not the inventory's encoding byte for byte, so its raw digest differs;
    decoded, it is the planned inventory, and it is found as before."""
    from migrate.apply.loop import body_digest

    plan = the_plan()
    old = {k: v for k, v in _snapshot(INVENTORY).items() if k not in ("other_variables", "outside_readers")}
    assert not INVENTORY.other_variables and not INVENTORY.outside_readers
    assert body_digest(old) != plan.inventory_digest
    assert find_inventory(iter([old]), plan.inventory_digest) == INVENTORY


def test_a_snapshot_of_another_scan_is_not_taken_for_the_planned_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited snapshot (one project renamed) is refused by the raw digest and by the decode; a
    raw match that is not an equality of digests would take it (the broken variant, caught)."""
    import migrate.apply.loop as loop

    plan = the_plan()
    edited = _snapshot(INVENTORY)
    edited["projects"][0]["path"] += "-x"
    assert loop.find_inventory(iter([edited]), plan.inventory_digest) is None
    monkeypatch.setattr(loop, "body_digest", lambda body: plan.inventory_digest)
    assert loop.find_inventory(iter([edited]), plan.inventory_digest) is not None


def test_the_state_reads_snapshots_newest_first_one_at_a_time(tmp_path: Path) -> None:
    state = State(tmp_path)
    for n in range(3):
        state.save_snapshot("inventory", {"n": n})
    state.save_snapshot("plan", {"n": 9})
    bodies = state.snapshot_bodies_newest_first("inventory")
    assert next(bodies) == {"n": 2}
    assert list(bodies) == [{"n": 1}, {"n": 0}]
