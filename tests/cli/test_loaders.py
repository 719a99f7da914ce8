"""The one loader of "the plan / inventory given, else the latest in the state" (cli/common.py).

plan, verify, report and the keys verbs all read it; these pin what each of them relies on: the
file wins over the state, the newest snapshot is read (with or without the file's `kind`), a
missing plan is the caller's message or None, and a snapshot that is not a plan is refused naming
where it came from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.report_fixtures import inventory, plan

from migrate.cli.common import NO_PLAN, load_inventory, load_plan
from migrate.core.errors import UsageError
from migrate.core.model import to_dict
from migrate.core.state import State
from migrate.plan import plan_io
from migrate.scan import inventory_io


def test_the_file_wins_over_the_state(tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    state.save_snapshot("plan", plan_io.to_data(plan()))
    other = plan_io.from_data({**plan_io.to_data(plan()), "generated_at": "2026-01-01T00:00:00Z"})
    plan_io.write(other, tmp_path / "plan.json")
    assert load_plan(str(tmp_path / "plan.json"), state) == other


@pytest.mark.parametrize("with_kind", [True, False])
def test_the_latest_snapshot_with_or_without_its_kind(tmp_path: Path, with_kind: bool) -> None:
    state = State(tmp_path / "state")
    old = plan_io.from_data({**plan_io.to_data(plan()), "generated_at": "2026-01-01T00:00:00Z"})
    for p in (old, plan()):
        body = plan_io.to_data(p) if with_kind else to_dict(p)
        state.save_snapshot("plan", body)
        state.save_snapshot("inventory", to_dict(inventory()) if not with_kind else
                            {"kind": inventory_io.KIND, **to_dict(inventory())})
    assert load_plan(None, state) == plan()
    assert load_inventory(None, state, "no inventory", "snapshot") == inventory()


def test_no_plan_is_the_callers_message_or_none(tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    with pytest.raises(UsageError) as exc:
        load_plan(None, state)
    assert str(exc.value) == NO_PLAN
    assert load_plan(None, state, missing=None) is None
    assert load_plan(None, None, missing=None) is None
    with pytest.raises(UsageError, match="^run scan first$"):
        load_inventory(None, None, "run scan first", "snapshot")


def test_a_snapshot_that_is_no_plan_is_refused_naming_its_source(tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    state.save_snapshot("plan", {"actions": "not a list"})
    with pytest.raises(UsageError, match="^the latest plan snapshot: not a wif-migrate plan"):
        load_plan(None, state, source="the latest plan snapshot")
    state.save_snapshot("inventory", ["not", "an", "inventory"])
    with pytest.raises(UsageError, match="^inventory snapshot: not a wif-migrate inventory"):
        load_inventory(None, state, "missing", "inventory snapshot")
