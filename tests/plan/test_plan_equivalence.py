"""The plan at scale gives the plan as it was computed before (issue 18).

The planner's costly steps were replaced by indexed ones: one derivation per inputs digest, the
key gate's facts by key (`keygate.FactIndex`), the schedule window per key from an index of the
usages, and the simulation's verdicts as a compact table. Here the whole plan file (the JSON that
`plan -o` writes) is built twice on the demo organisation and on a generated one, from the same
scan and live facts: once as the tool does, once with each of those steps swapped for the direct
computation it replaced (kept below as the reference, like `helpers.reference_simulation.reference_simulate`).
The two files must be byte-identical; a deliberately wrong step must make them differ.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers.reference_simulation import reference_simulate

import migrate.plan.planner as plan_module
from migrate.core.config import Config, parse_config
from migrate.core.model import Inventory, KeyFactRow
from migrate.core.progress import SilentProgress
from migrate.plan import plan_io
from migrate.plan.impersonation import Impersonation, Verdict, _evaluator
from migrate.plan.key_identity import FactIndex, fact_for
from migrate.plan.planner import PlanFacts, PlanRefusedError, build_plan, default_rewriter
from migrate.sandbox.generate import generate_org
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org, parse_org

# --- the direct computations the indexed ones replaced -----------------------------------------


class LinearFacts:
    """The key gate as it was: a linear search of the facts per variable."""

    def __init__(self, rows: Sequence[KeyFactRow]) -> None:
        self.rows = list(rows)

    def get(self, key: Any) -> KeyFactRow | None:
        return fact_for(key, self.rows)


class LinearWindows:
    """`_schedule_window` as it was: every usage and every project looked at once per key."""

    def __init__(self, inventory: Inventory | None) -> None:
        self.inventory = inventory

    def window(self, refs: set[str]) -> tuple[int, str]:
        inventory = self.inventory
        if inventory is None:
            return 0, "no pipeline schedules recorded"
        users = sorted({c for u in inventory.usages if set(u.variables) & refs for c in u.consumers})
        records = {r.path: r for r in inventory.projects}
        best, why, unknown = 0, "", []
        for path in users:
            record = records.get(path)
            if record is None or record.schedule_interval_s is None:
                unknown.append(path)
                continue
            if record.schedule_interval_s > best:
                best, why = record.schedule_interval_s, record.schedule_reason
        days = math.ceil(best / 86400) if best else 0
        if not why:
            why = ("no active pipeline schedule in " + ", ".join(users)) if users else "no project used the key"
        if unknown:
            why += ("; pipeline schedules not known for " + ", ".join(unknown)
                    + " (see the ERROR rows; keys retire re-reads them live)")
        return days, why


def reference_plan(inventory: Inventory, config: Config, facts: PlanFacts, monkeypatch: pytest.MonkeyPatch,
                   simulate: Any = reference_simulate) -> str:
    """The plan file with every replaced step computed directly."""
    with monkeypatch.context() as m:
        m.setattr(plan_module, "derive", plan_module._derive)  # no memo
        m.setattr(plan_module, "FactIndex", LinearFacts)
        m.setattr(plan_module, "_ScheduleIndex", LinearWindows)
        m.setattr(plan_module, "simulate", simulate)
        try:
            return plan_io.dumps(build_plan(inventory, config, facts, default_rewriter()).plan)
        except PlanRefusedError as exc:  # the comparison covers refused plans too
            return "refused: " + plan_io.dumps(exc.result.plan)


def tool_plan(inventory: Inventory, config: Config, facts: PlanFacts) -> str:
    """As `wif-migrate plan` computes it (migrate.plan.runner.gather): derived once before the
    policies are read, fitted again to what they hold only when they hold other principals."""
    _evaluator.cache_clear()
    derived = plan_module.derive(plan_module.plan_inputs(inventory, config, replace(facts, policy_members_other={})))
    inputs = plan_module.plan_inputs(inventory, config, facts)
    if inputs.policy_members_other:
        derived = plan_module.refit(derived, inputs)
    plan = plan_module.assemble_plan(inventory, config, facts, default_rewriter(), inputs, derived).plan
    text = "".join(plan_io.pieces(plan))  # what `plan -o FILE` writes, piece by piece
    assert text == plan_io.dumps(plan)
    return text


# --- real organisations, scanned and planned against the sandbox -------------------------------


@pytest.fixture(scope="module", params=["demo", pytest.param("generated", marks=pytest.mark.slow)])
def scanned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Inventory, Config, PlanFacts]]:
    from migrate.cli.plan import plan_sources
    from migrate.cli.scan import run_scan
    from migrate.plan.runner import PlanRequest, gather

    org = load_org("demo") if request.param == "demo" else parse_org(generate_org(120, seed=7))
    tmp: Path = tmp_path_factory.mktemp(request.param)
    with Sandbox(org) as sb:
        config = parse_config(sb.config_dict(state_dir=str(tmp / "state")))
        saved = dict(os.environ)
        os.environ.update(sb.env())
        try:
            inventory, _stats = run_scan(config, SilentProgress())
            gitlab, google = plan_sources(config, offline=False, number=None)
            facts = gather(inventory, config, PlanRequest(), gitlab, google).facts
        finally:
            os.environ.clear()
            os.environ.update(saved)
    yield inventory, config, facts


def test_the_plan_file_equals_the_directly_computed_one(scanned: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory, config, facts = scanned
    assert facts.files, "the live CI files were read"
    new = tool_plan(inventory, config, facts)
    old = reference_plan(inventory, config, facts, monkeypatch)
    assert new == old
    plan = plan_io.loads(new)
    kinds = {a.kind for a in plan.actions}
    assert {"ensure_binding", "merge_request", "disable_key"} <= kinds  # the comparison covered them
    assert any(i.before for i in plan.impersonation) and any(i.after for i in plan.impersonation)
    # computed a second time in the same process: still the same
    assert tool_plan(inventory, config, facts) == new


def test_refitting_to_the_policies_sizes_equals_deriving_afresh(scanned: Any) -> None:
    """`plan` derives once, reads the policies of the service accounts it found, and when they hold
    other principals fits the bindings again (`refit`): the answer must be the full derivation of
    the sized inputs, also when the sizes force a consolidation (or a refusal) of a binding."""
    inventory, config, facts = scanned
    inputs = plan_module.plan_inputs(inventory, config, replace(facts, policy_members_other={}))
    derived = plan_module.derive(inputs)
    sa = max(derived.scopes, key=lambda s: len(derived.scopes[s]))
    for taken in (1, 1500 - len(derived.scopes[sa]) + 1, 1500):
        sized = plan_module.plan_inputs(inventory, config, replace(facts, policy_members_other={sa: taken}))
        assert sized.policy_members_other == {sa: taken}
        assert plan_module.refit(derived, sized) == plan_module._derive(sized)
    # the comparison can fail: a policy full of others' principals changes the derivation
    full = plan_module.plan_inputs(inventory, config, replace(facts, policy_members_other={sa: 1500}))
    assert plan_module._derive(full) != derived
    assert plan_module._derive(full).problems != derived.problems


def test_the_derivation_memo_lives_only_inside_its_block(scanned: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the block the second derivation of the same inputs is the first one; outside,
    every call derives afresh (a changed model is never answered from an earlier call)."""
    inventory, config, facts = scanned
    inputs = plan_module.make_inputs(inventory, config, facts)
    with plan_module.derivation_memo():
        assert plan_module.derive(inputs) is plan_module.derive(inputs)
        assert plan_module.derive(replace(inputs, pool_id="other")) is not plan_module.derive(inputs)
    assert plan_module.derive(inputs) is not plan_module.derive(inputs)
    assert plan_module.derive(inputs) == plan_module.derive(inputs)


def test_a_wrong_step_is_caught_by_the_comparison(scanned: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulation that loses one token's *before* answer, or a gate that takes the last fact of a
    key instead of the first, must change the plan file the comparison looks at."""
    inventory, config, facts = scanned

    def dropping(*args: Any, **kwargs: Any) -> tuple[Impersonation, ...]:
        rows = list(reference_simulate(*args, **kwargs))
        for n, row in enumerate(rows):
            at = next((i for i, v in enumerate(row.verdicts) if v.before), None)
            if at is not None:
                verdicts: list[Verdict] = list(row.verdicts)
                verdicts[at] = replace(verdicts[at], before=False, why_before="")
                rows[n] = Impersonation(row.service_account, tuple(verdicts))
                break
        return tuple(rows)

    assert reference_plan(inventory, config, facts, monkeypatch, dropping) != tool_plan(inventory, config, facts)


def test_fact_index_answers_like_the_linear_search() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from migrate.core.model import KeyIdentity

    def fact_row(sa: str, kid: str, fp: str, exists: bool) -> KeyFactRow:
        return KeyFactRow(sa, kid, fp, True, False, exists, False, "USER_MANAGED", True, None, None)

    row = st.builds(fact_row, st.sampled_from(["a@x", "b@x"]), st.sampled_from(["k1", "k2", ""]),
                    st.sampled_from(["", "f1", "f2"]), st.booleans())

    @settings(max_examples=200, deadline=None)
    @given(st.lists(row, max_size=12), st.sampled_from(["a@x", "b@x"]), st.sampled_from(["k1", "k2", ""]),
           st.sampled_from(["", "f1", "f2"]))
    def check(rows: list[KeyFactRow], sa: str, kid: str, fp: str) -> None:
        key = KeyIdentity(sa, kid, public_key_sha256=fp)
        assert FactIndex(rows).get(key) is fact_for(key, rows)

    check()

    # a last-wins index (the plausible slip) is told apart
    rows = [fact_row("a@x", "k1", "", True), fact_row("a@x", "k1", "", False)]
    last_wins = {(r.service_account, r.key_id, r.public_key_sha256): r for r in rows}
    key = KeyIdentity("a@x", "k1")
    assert FactIndex(rows).get(key) is fact_for(key, rows) is not last_wins[("a@x", "k1", "")]
