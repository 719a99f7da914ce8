"""verify's evidence is typed (issue 20): `VerifyResult.evidence()` is a frozen
`migrate.core.evidence.VerifyEvidence` (its pipelines, job rows and unverified jobs typed too),
written through the one codec into the object main's dict code wrote (`helpers.old_evidence.verify`:
every key, nulls included), refused at write when a field does not fit. Main's journal rows read
typed and write back byte-identical; a variant that drops a null key is caught."""

from __future__ import annotations

import dataclasses
import gzip
import json
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from helpers import old_evidence as old
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core import evidence as ev
from migrate.core.codec import OMIT_DEFAULT, decode, encode
from migrate.core.outcome import Status
from migrate.verify.runner import ProjectCheck, VerifyResult

FROM_MAIN = Path(__file__).parents[1] / "core" / "from_main" / "journal.json.gz"
WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
VERIFY = st.sampled_from([Status.VERIFIED, Status.FAILED, Status.PENDING])
ID = st.integers(1, 10**6)


@st.composite
def checks(draw: st.DrawFn) -> ProjectCheck:
    project = draw(WORD)
    pipeline = draw(st.none() | ID)
    jobs = tuple({"project": project, "pipeline_id": pipeline or 1, "job": draw(WORD), "job_id": draw(ID),
                  "status": draw(st.sampled_from(["success", "failed", "manual"])), "web_url": draw(WORD)}
                 for _ in range(draw(st.integers(0, 2))))
    unverified = tuple({"project": project, "job": draw(WORD), "reason": draw(WORD)}
                       for _ in range(draw(st.integers(0, 2))))
    return ProjectCheck(project, draw(VERIFY), draw(WORD), pipeline, draw(WORD), jobs, unverified)


RESULTS = st.builds(VerifyResult, WORD, WORD, VERIFY, WORD, st.none() | ID, st.none() | st.sampled_from(["merged", "opened"]),
                    WORD, st.none() | WORD, st.none() | WORD, st.lists(checks(), max_size=3).map(tuple))


def test_verify_evidence_is_a_typed_record_not_a_dict() -> None:
    hint = typing.get_type_hints(VerifyResult.evidence)["return"]
    assert hint is ev.VerifyEvidence
    for cls in (ev.VerifyEvidence, ev.PipelineEvidence, ev.JobRow, ev.UnverifiedJob):
        assert all(typing.get_origin(h) is not dict and h is not dict for h in typing.get_type_hints(cls).values())


@settings(max_examples=200, deadline=None)
@given(RESULTS)
def test_generated_results_journal_mains_object_and_read_back_equal(result: VerifyResult) -> None:
    typed = result.evidence()
    written = ev.journal_object(typed)
    assert json.dumps(written, sort_keys=True) == json.dumps(old.verify(result), sort_keys=True)
    assert decode(ev.VerifyEvidence, json.loads(json.dumps(written))) == typed
    assert result.to_dict() == {"action_id": result.action_id, "outcome": result.outcome, "detail": result.detail,
                                **old.verify(result)}  # `verify --json`


def test_a_mistyped_job_row_is_refused_at_write() -> None:
    row = {"project": "p", "pipeline_id": 1, "job": "deploy", "job_id": "7", "status": "success", "web_url": ""}
    result = VerifyResult("mr", "p", Status.VERIFIED, "ok", checks=(ProjectCheck("p", Status.VERIFIED, "ok", 1, "",
                                                                                  (row,)),))
    with pytest.raises(TypeError, match=r"jobs\[0\]\.job_id"):
        ev.journal_object(result.evidence())


def test_mains_journal_verify_rows_read_typed_and_write_back_byte_identical() -> None:
    rows = [r for r in json.loads(gzip.decompress(FROM_MAIN.read_bytes())) if r["stage"] == "verify"]
    assert rows
    for r in rows:
        typed = decode(ev.VerifyEvidence, json.loads(r["evidence"]))
        assert json.dumps(ev.journal_object(typed), sort_keys=True) == r["evidence"]


@dataclasses.dataclass(frozen=True)
class DroppingNullPipeline:  # broken: `pipeline_id: null` (several projects) is not written
    project: str
    mr_iid: int | None
    mr_state: str | None
    web_url: str
    merge_commit_sha: str | None
    merged_at: str | None
    status: Status
    pipelines: tuple[ev.PipelineEvidence, ...]
    jobs: tuple[ev.JobRow, ...]
    unverified_jobs: tuple[ev.UnverifiedJob, ...]
    acceptable: bool
    pipeline_id: int | None = field(default=None, metadata=OMIT_DEFAULT)


def test_a_variant_that_drops_a_null_key_is_caught() -> None:
    result = VerifyResult("mr", "p", Status.PENDING, "waiting", 3, "merged")
    data: dict[str, Any] = encode(result.evidence())
    broken = decode(DroppingNullPipeline, data)
    assert encode(broken) != old.verify(result)
    assert encode(result.evidence()) == json.loads(json.dumps(old.verify(result)))
