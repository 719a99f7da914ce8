"""`plan`'s gather adds the policy sizes it read to the inputs it made before reading them, instead of
making the inputs from the inventory again (issue 18: one `make_inputs` per plan; the count is
guarded by tests/apply/test_inputs_work_once.py). The inputs and the derivation it hands on must be
exactly the ones made afresh from the final facts: `plan_inputs(inventory, config, facts)` and its
derivation. The demo organisation's policies hold principals that are not the tool's, so the sizes
are really added and the bindings really fitted again; a gather that kept the inputs as they were
before the policies were read (a broken variant) is caught.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import migrate.plan.runner as runner
from migrate.core.config import parse_config
from migrate.core.progress import SilentProgress
from migrate.plan.planner import _derive, plan_inputs
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    from migrate.cli.plan import plan_sources
    from migrate.cli.scan import run_scan

    tmp: Path = tmp_path_factory.mktemp("gather")
    with Sandbox(load_org("demo")) as sb:
        config = parse_config(sb.config_dict(state_dir=str(tmp / "state")))
        saved = dict(os.environ)
        os.environ.update(sb.env())
        try:
            inventory, _stats = run_scan(config, SilentProgress())
            yield (inventory, config, *plan_sources(config, offline=False, number=None))
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _gather(demo: tuple[Any, ...]) -> runner.Gathered:
    inventory, config, gitlab, google = demo
    return runner.gather(inventory, config, runner.PlanRequest(), gitlab, google)


def test_gathered_inputs_and_derivation_are_the_ones_made_afresh(demo: tuple[Any, ...]) -> None:
    inventory, config = demo[0], demo[1]
    got = _gather(demo)
    assert got.facts.policy_members_other, "the demo's policies hold other principals (the case under test)"
    fresh = plan_inputs(inventory, config, got.facts)
    assert fresh.policy_members_other
    assert got.inputs == fresh
    assert got.derived == _derive(fresh)


def test_inputs_kept_from_before_the_policies_were_read_are_caught(demo: tuple[Any, ...],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inventory, config = demo[0], demo[1]
    monkeypatch.setattr(runner, "with_policy_sizes", lambda inputs, facts: inputs)  # the broken variant
    got = _gather(demo)
    assert got.inputs != plan_inputs(inventory, config, got.facts)
    assert got.inputs == plan_inputs(inventory, config, replace(got.facts, policy_members_other={}))
