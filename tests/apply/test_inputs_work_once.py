"""`plan` and `apply --dry-run` build, derive, encode and decode the plan's inputs once each (issue 18
targets at 10,000 projects, kept through issue 20's typed inputs).

Typing `Plan.inputs` (`core.model.PlanInputs`) made each pass over the inputs a walk of tens of
thousands of frozen records at 10,000 projects, so every extra pass shows in the benchmark
(benchmarks/plan.py): a second `make_inputs` in `plan`'s gather, the recomputed inputs' digest
(one more encode) as the dry run's derivation key, a second derivation. The times are too noisy on
a shared machine to guard that, the counts are not: the real CLI runs the demo organisation on the
sandbox and every call is counted as it happens (`sys.setprofile`, nothing replaced), then each
count is held to its budget. `test_a_second_pass_is_caught` shows the counter sees one more pass.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import pytest
from helpers.demo_planned import demo_planned

import migrate.plan.planner as planner
from migrate.cli.verbs import main
from migrate.core import codec
from migrate.core.model import PlanInputs

# the functions that do one pass over the inputs, by code object (what a profiler sees)
PASSES: dict[CodeType, str] = {
    planner.make_inputs.__code__: "make_inputs",  # the inputs built from an inventory
    planner._unfitted.__code__: "derivation",  # the federation and bindings derived from them
}
ENCODE = codec._encoder(PlanInputs).__code__  # one dataclass encoder's code: counted for PlanInputs only
DECODE = codec._decoder(PlanInputs).__code__  # likewise the dataclass decoder's

# the budgets: `plan` builds and derives once, encodes for the digest and once more for the file
# it writes; the dry run decodes the file once, recomputes the inputs from the journaled scan once
# (the journal check), derives once (the integrity and journal checks share it) and encodes for the
# digest once
PLAN = {"make_inputs": 1, "derivation": 1, "encode": 2, "decode": 0}
DRY_RUN = {"make_inputs": 1, "derivation": 1, "encode": 1, "decode": 1}


class Passes:
    """Counts the passes over the plan's inputs while it is active (every thread)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        name = PASSES.get(code)
        if name is not None:
            self.counts[name] += 1
        elif code is ENCODE and type(frame.f_locals.get("obj")) is PlanInputs:
            self.counts["encode"] += 1
        elif code is DECODE and frame.f_locals.get("cls") is PlanInputs:
            self.counts["decode"] += 1

    @contextmanager
    def active(self) -> Iterator[Counter[str]]:
        threading.setprofile(self._hook)  # type: ignore[arg-type]
        sys.setprofile(self._hook)  # type: ignore[arg-type]
        try:
            yield self.counts
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]


def _counted(argv: list[str], ok: int) -> dict[str, int]:
    passes = Passes()
    with passes.active():
        assert main(argv) == ok
    return {k: passes.counts[k] for k in PLAN}


def _plan_and_dry_run(tmp_path: Path) -> tuple[dict[str, int], dict[str, int]]:
    with demo_planned(tmp_path) as (_sb, d, _plan):
        cfg = str(d / "c.yaml")
        plan = _counted(["plan", "-c", cfg, "--inventory", str(d / "inv.json"), "-o", str(d / "plan.json"),
                         "--no-diff"], 0)
        dry_run = _counted(["apply", "-c", cfg, str(d / "plan.json"), "--dry-run", "--format", "json"], 0)
    return plan, dry_run


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], dict[str, int]]:
    return _plan_and_dry_run(tmp_path_factory.mktemp("passes"))


def test_plan_builds_derives_and_digests_the_inputs_once(counted: tuple[dict[str, int], dict[str, int]]) -> None:
    assert counted[0] == PLAN


def test_the_dry_run_decodes_rebuilds_derives_and_digests_the_inputs_once(
        counted: tuple[dict[str, int], dict[str, int]]) -> None:
    assert counted[1] == DRY_RUN


def test_a_second_pass_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broken variant: the digest no longer cached on the inputs (every `derive` and the
    integrity check encode them again) — the counts say so."""
    uncached = planner.inputs_digest

    def digest_every_time(inputs: PlanInputs) -> str:
        inputs.__dict__.pop("_digest", None)
        return uncached(inputs)

    monkeypatch.setattr(planner, "inputs_digest", digest_every_time)
    import migrate.apply.loop as loop

    monkeypatch.setattr(loop, "inputs_digest", digest_every_time)
    plan, dry_run = _plan_and_dry_run(tmp_path)
    assert dry_run["encode"] > DRY_RUN["encode"]
    assert {k: v for k, v in dry_run.items() if k != "encode"} == {k: v for k, v in DRY_RUN.items() if k != "encode"}
