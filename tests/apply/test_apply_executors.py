"""The apply executor table is explicit and complete: a kind without an executor is a bug (exit 3),
never an action "skipped … in this build" with exit 0."""

from __future__ import annotations

import pytest
from helpers.plan_fixtures import INVENTORY, config, disable_params, facts, line_rewriter

from migrate.apply.context import ApplyContext
from migrate.apply.executors import EXECUTORS, KEY_KINDS, check_complete
from migrate.apply.loop import apply_plan
from migrate.core.codec import EPOCH
from migrate.core.errors import InternalError
from migrate.core.model import Action, Plan
from migrate.plan.plan_io import KNOWN_KINDS
from migrate.plan.planner import build_plan


def _plan(*actions: Action) -> Plan:
    return Plan(gitlab_url="https://gitlab.example", identity_project="p", project_number="1", pool_id="gitlab",
                provider_id="gitlab", generated_at=EPOCH, inventory_digest="", actions=actions)


def test_every_kind_the_planner_emits_has_an_executor() -> None:
    assert set(EXECUTORS) | set(KEY_KINDS) == set(KNOWN_KINDS)
    check_complete(EXECUTORS)  # what the module does at import


def test_an_incomplete_table_is_refused_at_import_time() -> None:
    for kind in EXECUTORS:
        partial = {k: f for k, f in EXECUTORS.items() if k != kind}
        with pytest.raises(InternalError, match=kind):
            check_complete(partial)
    with pytest.raises(InternalError, match="rotate_key"):
        check_complete({**EXECUTORS, "rotate_key": EXECUTORS["ensure_pool"]})


def test_an_action_without_executor_is_an_internal_error_not_a_skip() -> None:
    plan = build_plan(INVENTORY, config(), facts(), line_rewriter).plan  # passes the integrity checks
    assert plan.actions[0].kind == "ensure_pool"
    with pytest.raises(InternalError, match="no executor for action kind 'ensure_pool'"):
        apply_plan(plan, ApplyContext(plan, dry_run=True, config=config()), registry={})


def test_key_kinds_are_left_to_the_keys_verb() -> None:
    action = Action("disable_key:k", "disable_key", "k", "disable", params=disable_params("sa@p.iam.gserviceaccount.com", "k"))
    plan = _plan(action)
    (result,) = apply_plan(plan, ApplyContext(plan, dry_run=True), registry={})
    assert result.outcome == "skipped" and "wif-migrate keys" in result.detail
