"""The journal reads its evidence typed (issue 20): `JournalEntry.typed_evidence` is the row's
evidence decoded by (stage, kind) into the type this build writes for it — strictly — and a row
no such type fits (an older build's key, a hand edit, a stage whose evidence has no type yet) is
kept whole as `LegacyEvidence` (the stored object and the reason), never refused, never lost.

Generated evidence written through a real state database reads back equal, its stored text main's
(`helpers.old_evidence`); every row of main's journal loads; an old row with a key this build does
not write reads as legacy and terraform's bindings read it as before; a strict reader without the
legacy fallback crashes on it (the broken variant)."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import old_evidence as old
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.core import evidence as ev
from migrate.core import state as state_module
from migrate.core.codec import CodecError, decode
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry, State
from migrate.plan.terraform import applied_bindings
from migrate.verify.runner import ProjectCheck, VerifyResult

FROM_MAIN = Path(__file__).parent / "from_main" / "journal.json.gz"
WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
WORDS = st.lists(WORD, max_size=3)
SA = "projects/-/serviceAccounts/deployer@p.iam.gserviceaccount.com"

APPLY_ROWS = st.one_of(
    st.tuples(st.just("ensure_binding"), st.builds(old.binding, WORDS, WORDS, st.integers(0, 4), st.booleans(),
                                                   st.just(False))),
    st.tuples(st.sampled_from(["ensure_pool", "ensure_provider"]),
              st.builds(old.ensure, st.sampled_from(["undeleted", "up_to_date", "taken_over", "written", "refused"]),
                        st.just("create"), WORDS, WORDS)),
    st.tuples(st.just("merge_request"), st.builds(old.merge_request, WORD, WORD, WORD, WORDS, st.booleans(),
                                                  st.sampled_from([[], [("commit", "c"), ("mr", (2, "u"))],
                                                                   [("merged", (1, "u", None, None))]]))),
    st.tuples(st.sampled_from(["ensure_binding", "disable_key"]), st.just({"blocked": True})),
)
VERIFY_ROWS = st.builds(
    VerifyResult, WORD, WORD, st.sampled_from([Status.VERIFIED, Status.FAILED, Status.PENDING]), WORD,
    st.none() | st.integers(1, 99), st.none() | st.just("merged"), WORD, st.none() | WORD, st.none() | WORD,
    st.lists(st.builds(ProjectCheck, WORD, st.sampled_from([Status.VERIFIED, Status.PENDING]), WORD,
                       st.none() | st.integers(1, 99),
                       unverified=st.lists(st.fixed_dictionaries({"project": WORD, "job": WORD, "reason": WORD}),
                                           max_size=2).map(tuple)), max_size=2).map(tuple))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apply_rows=st.lists(APPLY_ROWS, max_size=4), verify_rows=st.lists(VERIFY_ROWS, max_size=3))
def test_generated_evidence_reads_back_typed_and_equal_and_is_stored_as_main_wrote_it(
        tmp_path_factory: pytest.TempPathFactory, apply_rows: list[tuple[str, dict[str, Any]]],
        verify_rows: list[VerifyResult]) -> None:
    state = State(tmp_path_factory.mktemp("state"))
    written: list[tuple[Any, str]] = []
    for i, (kind, was) in enumerate(apply_rows):
        typed = ev.read_apply(kind, old.journaled(was))
        state.outcome("apply", f"a{i}", kind, SA, Status.APPLIED, "", ev.journal_object(typed))
        written.append((typed, json.dumps(old.journaled(was), sort_keys=True)))
    for i, result in enumerate(verify_rows):
        state.outcome("verify", f"v{i}", "verify", "t", result.outcome, result.detail,
                      ev.journal_object(result.evidence()))
        written.append((result.evidence(), json.dumps(old.verify(result), sort_keys=True)))
    with sqlite3.connect(state.path) as conn:
        stored = [r[0] for r in conn.execute("SELECT evidence FROM journal ORDER BY seq")]
    assert stored == [text for _typed, text in written]
    assert [e.typed_evidence for e in state.entries()] == [typed for typed, _text in written]


def _main_rows() -> list[JournalEntry]:
    rows = json.loads(gzip.decompress(FROM_MAIN.read_bytes()))
    return [JournalEntry(**{**r, "evidence": json.loads(r["evidence"]),
                            "outcome": None if r["outcome"] is None else Status(r["outcome"])}) for r in rows]


def test_every_row_of_mains_journal_loads_typed_where_this_build_writes_its_type() -> None:
    for e in _main_rows():
        typed = e.typed_evidence
        if e.stage == "apply" or (e.stage == "verify" and e.phase == "outcome"):
            assert not isinstance(typed, ev.LegacyEvidence), (e, typed)
        else:  # keys rows: no type yet, kept whole
            assert isinstance(typed, ev.LegacyEvidence) and typed.raw == e.evidence and "no type" in typed.reason


def _entry(stage: str, kind: str, evidence: dict[str, Any], action_id: str = "a", target: str = SA,
           outcome: Status = Status.APPLIED) -> JournalEntry:
    return JournalEntry(1, "2026-03-02T00:00:00Z", "r", "me", stage, action_id, kind, target, "outcome", outcome,
                        "", evidence)


OLD_BINDING = {"added": ["principal://a"], "already": [], "attempts": 1, "members": ["principal://a"],
               "dry_run": False}
OLD_VERIFY = {"merge_time": "2026-03-01T00:00:00Z", "status": "verified"}


def test_an_older_rows_unexpected_field_reads_as_legacy_whole_with_the_reason() -> None:
    binding = _entry("apply", "ensure_binding", OLD_BINDING).typed_evidence
    assert isinstance(binding, ev.LegacyEvidence) and binding.raw == OLD_BINDING and "members" in binding.reason
    verify = _entry("verify", "verify", OLD_VERIFY).typed_evidence
    assert isinstance(verify, ev.LegacyEvidence) and verify.raw == OLD_VERIFY


def test_the_readers_read_a_legacy_row_as_they_read_the_dict() -> None:
    assert applied_bindings([_entry("apply", "ensure_binding", OLD_BINDING)]) == {SA: ["principal://a"]}
    assert applied_bindings([_entry("apply", "ensure_binding", {**OLD_BINDING, "dry_run": True})]) == {}


def test_a_strict_reader_without_the_legacy_fallback_would_crash_on_an_old_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def strict(stage: str, kind: str, phase: str, data: Any) -> Any:  # the broken variant
        return ev.read_apply(kind, data) if stage == "apply" else decode(ev.VerifyEvidence, data)
    monkeypatch.setattr(state_module, "read_journal", strict)
    with pytest.raises(CodecError, match="members"):
        _ = _entry("apply", "ensure_binding", OLD_BINDING).typed_evidence
