"""apply's evidence is typed (issue 20): `ActionResult.evidence` is one of the frozen dataclasses of
`migrate.core.evidence`, written through the one codec into the journal object main's dicts made —
the same keys, present in the same cases (`answer_lost: false`, `mask: []`, `merge_commit_sha:
null` stay; a key main never wrote stays absent) — and a mistyped field is refused at write.

The oracle is main's dict code (`helpers.old_evidence`). The binding executor runs for real (its
IAM backend is a fake of the `ServiceAccountPolicies` port) through the real loop into a real
state database, whose stored text is compared; the other executors' shapes are main's dicts
decoded and written again. Broken variants (a type that omits `answer_lost: false`, one that drops
`merge_commit_sha: null`) are caught by the same comparison.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sqlite3
import typing
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from helpers import old_evidence as old
from helpers.plan_fixtures import DEPLOYER, INVENTORY, config, facts, line_rewriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.apply.binding_executor import EnsureBindingExecutor
from migrate.apply.context import ApplyContext
from migrate.apply.loop import apply_plan
from migrate.apply.ports import PolicyChange
from migrate.core import evidence as ev
from migrate.core.codec import OMIT_DEFAULT, encode
from migrate.core.model import ActionResult, Plan
from migrate.core.outcome import Status
from migrate.core.state import State
from migrate.plan.planner import build_plan

FROM_MAIN = Path(__file__).parents[1] / "core" / "from_main" / "journal.json.gz"
WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
WORDS = st.lists(WORD, max_size=3)


def _plan() -> Plan:
    """The fixture plan with only its binding, standing alone (no pool/provider to wait for)."""
    plan = build_plan(INVENTORY, config(), facts(), line_rewriter).plan
    binding = next(a for a in plan.actions if a.id == f"ensure_binding:{DEPLOYER}")
    return dataclasses.replace(plan, actions=(dataclasses.replace(binding, depends_on=()),))


PLAN = _plan()


class Policies:
    """The `ServiceAccountPolicies` port answering a given change (the executor's input)."""

    def __init__(self, added: Sequence[str], already: Sequence[str], attempts: int, lost: bool) -> None:
        self.answer = (tuple(added), tuple(already), attempts, lost)

    def ensure_members(self, resource: str, role: str, members: Sequence[str], dry_run: bool,
                       max_attempts: int = 3) -> PolicyChange:
        added, already, attempts, lost = self.answer
        return PolicyChange(resource, role, added, already, attempts, answer_lost=lost)


def _journaled_text(state_dir: Path) -> list[str]:
    with sqlite3.connect(state_dir / "state.db") as conn:
        return [r[0] for r in conn.execute("SELECT evidence FROM journal WHERE phase = 'outcome' ORDER BY seq")]


def test_action_result_evidence_is_typed_not_a_dict() -> None:
    hint = typing.get_type_hints(ActionResult)["evidence"]
    assert typing.get_args(hint), hint  # a union of the evidence types
    assert all(dataclasses.is_dataclass(t) and t.__dataclass_params__.frozen  # type: ignore[attr-defined]
               for t in typing.get_args(hint)), hint


def test_a_mistyped_field_is_refused_at_write(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="attempts"):
        ev.journal_object(ev.BindingEvidence(("a",), (), "2"))  # type: ignore[arg-type]

    class Mistyped:
        def execute(self, action: Any, ctx: Any) -> ActionResult:
            return ActionResult(action.id, Status.APPLIED, "x", ev.MergeRequestEvidence("p", "b", "main", ("f",),
                                                                                        mr_iid="7"))  # type: ignore[arg-type]
    state = State(tmp_path / "state")
    with pytest.raises(TypeError, match="mr_iid"):
        apply_plan(PLAN, ApplyContext(PLAN, False, None, state), registry={"ensure_binding": lambda ctx: Mistyped()})
    assert [e.phase for e in state.entries()] == ["intent"]  # nothing half-written as an outcome


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(added=WORDS, already=WORDS, attempts=st.integers(0, 4), lost=st.booleans(), dry_run=st.booleans())
def test_the_binding_executors_evidence_is_mains_in_memory_and_in_the_journal(
        tmp_path_factory: pytest.TempPathFactory, added: list[str], already: list[str], attempts: int, lost: bool,
        dry_run: bool) -> None:
    state_dir = tmp_path_factory.mktemp("state")
    ctx = ApplyContext(PLAN, dry_run, None, State(state_dir))
    executor = EnsureBindingExecutor(Policies(added, already, attempts, lost))
    [result] = apply_plan(PLAN, ctx, registry={"ensure_binding": lambda c: executor})
    was = old.binding(added, already, attempts, lost, dry_run)
    assert encode(result.evidence) == was  # `apply --json` and the renderer read this
    assert ev.read_apply("ensure_binding", was) == result.evidence  # and it reads back as itself
    if dry_run:
        assert _journaled_text(state_dir) == []  # a dry run journals nothing, as before
    else:
        assert _journaled_text(state_dir) == [json.dumps(old.journaled(was), sort_keys=True)]


ENSURE_PATHS = st.sampled_from(["would_undelete", "undeleted", "up_to_date", "would_write", "taken_over",
                                "written", "refused"])


@st.composite
def merge_request_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Main's merge-request evidence along one path of `_decide`/`_converge`/`_write`."""
    url, sha = draw(WORD), draw(WORD)
    path = draw(st.sampled_from(["merged", "waiting", "closed", "head", "open", "written", "plain"]))
    events: list[tuple[str, Any]] = {
        "merged": [("merged", (draw(st.integers(1, 99)), url, draw(st.none() | WORD), draw(st.none() | WORD)))],
        "waiting": [("waiting", draw(st.lists(WORD, min_size=1, max_size=3)))],
        "closed": [("mr", (draw(st.integers(1, 99)), url))],
        "head": [("commit", sha)] + draw(st.sampled_from([[], [("mr", (3, url))]])),
        "open": [("commit", sha)] * draw(st.integers(0, 1)) + [("mr", (4, url))],
        "written": [("commit", sha)] * draw(st.integers(0, 1)) + [("mr", (5, url))],
        "plain": [],
    }[path]
    return old.merge_request(draw(WORD), draw(WORD), draw(WORD), draw(WORDS), draw(st.booleans()), events)


SHAPES = st.one_of(
    st.tuples(st.just("ensure_binding"), st.builds(old.binding, WORDS, WORDS, st.integers(0, 4), st.booleans(),
                                                   st.booleans())),
    st.tuples(st.sampled_from(["ensure_pool", "ensure_provider"]),
              st.builds(old.ensure, ENSURE_PATHS, st.sampled_from(["create", "patch"]), WORDS, WORDS)),
    st.tuples(st.just("merge_request"), merge_request_dicts()),
    st.tuples(st.sampled_from(["ensure_binding", "merge_request", "disable_key"]),
              st.sampled_from([{"blocked": True}, {}])),
)


@settings(max_examples=300, deadline=None)
@given(SHAPES, st.booleans())
def test_every_evidence_shape_main_wrote_reads_typed_and_writes_back_the_same(shape: tuple[str, dict[str, Any]],
                                                                              journaled: bool) -> None:
    kind, was = shape
    data = old.journaled(was) if journaled else was
    typed = ev.read_apply(kind, data)
    assert json.dumps(ev.journal_object(typed), sort_keys=True) == json.dumps(data, sort_keys=True)
    assert ev.blocks(typed) is bool(was.get("blocked"))  # the loop's dependency rule, as it read the dict
    assert list(ev.added_members(typed)) == [m for m in was.get("added") or () if isinstance(m, str)]


def test_mains_journal_apply_rows_read_typed_and_write_back_byte_identical() -> None:
    rows = [r for r in json.loads(gzip.decompress(FROM_MAIN.read_bytes()))
            if r["stage"] == "apply" and r["phase"] == "outcome"]
    kinds = set()
    for r in rows:
        typed = ev.read_apply(r["kind"], json.loads(r["evidence"]))
        assert json.dumps(ev.journal_object(typed), sort_keys=True) == r["evidence"], r
        kinds.add((r["kind"], type(typed).__name__))
    assert {("ensure_binding", "BindingEvidence"), ("ensure_provider", "EnsureEvidence"),
            ("merge_request", "MergeRequestEvidence"), ("disable_key", "Blocked")} <= kinds


# --- broken variants: the same comparison catches a type that loses a key main wrote ----------

@dataclasses.dataclass(frozen=True)
class BindingOmittingFalse:  # `answer_lost: false` is dropped: OMIT_DEFAULT with default False
    added: tuple[str, ...]
    already: tuple[str, ...]
    attempts: int
    up_to_date: bool = field(default=False, metadata=OMIT_DEFAULT)
    answer_lost: bool = field(default=False, metadata=OMIT_DEFAULT)
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


@dataclasses.dataclass(frozen=True)
class MergedDroppingNull:  # `merge_commit_sha: null` (a fast-forward merge) is dropped
    project: str
    branch: str
    target_branch: str
    files: tuple[str, ...]
    mr_iid: int
    web_url: str
    merge_commit_sha: str | None = field(default=None, metadata=OMIT_DEFAULT)
    merged_at: str | None = field(default=None, metadata=OMIT_DEFAULT)
    taken_over: bool = field(default=False, metadata=OMIT_DEFAULT)
    dry_run: bool | None = field(default=None, metadata=OMIT_DEFAULT)


@pytest.mark.parametrize(("broken", "kind", "was"), [
    (BindingOmittingFalse, "ensure_binding", old.binding(["m"], [], 1, False, False)),
    (MergedDroppingNull, "merge_request", old.merge_request("p", "b", "main", ["f"], False,
                                                           [("merged", (1, "u", None, "2026-03-01"))])),
])
def test_a_type_that_loses_a_key_main_wrote_is_caught(broken: type, kind: str, was: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = ev.APPLY_EVIDENCE[kind]
    monkeypatch.setitem(ev.APPLY_EVIDENCE, kind, (*real[:2], broken))
    typed = ev.read_apply(kind, was)
    assert type(typed) is broken
    assert ev.journal_object(typed) != was  # the round-trip check above would fail on it
