"""One status vocabulary in every stage record (issue 20: one outcome type).

Every per-item record a stage returns or journals — apply's `ActionResult`, verify's `VerifyResult`
and `ProjectCheck`, the keys stage's `StepResult`, the journal's `JournalEntry` — says how the item
ended with the one `migrate.core.outcome.Status`, not a `Literal` of its own. The check walks
`migrate/` with `ast`: every dataclass field named `status` or `outcome` is annotated `Status`
(or `Status | None`), unless it is listed below as not an outcome (a fact read from GitLab, a key's
progress) with the reason. A planted record with its own words is caught.

`Status` is a `StrEnum`, so what was written as text stays the same text: the journal's column,
the JSON envelope, the log line and the f-string are the word itself (`test_a_status_is_its_word_*`),
a journal written by main before the change loads into the same words, and a word outside `Status`
is refused when a journal row is written.
"""

from __future__ import annotations

import ast
import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate.core.outcome import JOURNAL_WORD, Status, journal_word
from migrate.core.state import State

PACKAGE = Path(__file__).resolve().parents[2] / "migrate"
FROM_MAIN = Path(__file__).parent / "from_main" / "journal.json.gz"

#: (module, class, field) → why its `status`/`outcome` is not a per-item outcome of the tool.
NOT_OUTCOMES: dict[tuple[str, str, str], str] = {
    ("core/model.py", "MergeRequestParams", "status"): "a plan field: the rewrite verdict the plan was built on "
                                                       "(always 'rewritten'), part of the plan's format",
    ("report/findings.py", "KeyFinding", "status"): "a key's progress (found → mr_opened → … → deleted), "
                                                    "not how one run's item ended",
    ("verify/ports.py", "PipelineInfo", "status"): "GitLab's pipeline status, as the API returns it",
    ("verify/ports.py", "PipelineJob", "status"): "GitLab's job status, as the API returns it",
    ("scan/ci_files.py", "FileScan", "status"): "the HTTP status of a file read",
}

#: Stage records whose vocabulary is not yet the one Status (shrinks to empty).
NOT_YET: dict[tuple[str, str, str], str] = {
    ("core/model.py", "ProjectRecord", "status"): "scan's ProjectStatus Literal",
    ("ci/rewrite.py", "RewriteResult", "status"): "ci rewrite's Status Literal",
    ("plan/planner.py", "RewriteOutcome", "status"): "a str",
}

_ONE = {"Status", "Status | None", "None | Status"}


def status_fields(root: Path) -> dict[tuple[str, str, str], str]:
    """(module, class, field) → annotation of every class attribute named `status` or `outcome`."""
    out: dict[tuple[str, str, str], str] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("sandbox/"):  # the emulators speak GitLab's and Google's words, not the tool's
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # `Status` is the one only where it is imported from core.outcome (ci/rewrite.py has a
        # Literal of its own by that name)
        ours = rel == "core/outcome.py" or any(
            isinstance(n, ast.ImportFrom) and n.module == "migrate.core.outcome"
            and any(a.name == "Status" and a.asname is None for a in n.names) for n in ast.walk(tree))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and stmt.target.id in ("status", "outcome"):
                    text = ast.unparse(stmt.annotation).strip("'\"")
                    out[(rel, node.name, stmt.target.id)] = text if ours else f"{text} (not core.outcome's)"
    return out


def own_vocabularies(root: Path) -> dict[tuple[str, str, str], str]:
    return {k: v for k, v in status_fields(root).items()
            if v not in _ONE and k not in NOT_OUTCOMES and k not in NOT_YET}


def test_every_stage_record_says_how_it_ended_with_the_one_status() -> None:
    assert own_vocabularies(PACKAGE) == {}


def test_every_listed_exception_still_exists_and_is_still_an_exception() -> None:
    fields = status_fields(PACKAGE)
    assert [k for k in [*NOT_OUTCOMES, *NOT_YET] if k not in fields or fields[k] in _ONE] == []


def test_the_records_the_issue_names_carry_status() -> None:
    """The records issue 20 found with their own words, by their types at run time."""
    from typing import get_type_hints

    from migrate.core.model import ActionResult
    from migrate.core.state import JournalEntry
    from migrate.report.findings import CheckResult
    from migrate.retire.runner import StepResult
    from migrate.verify.runner import ProjectCheck, VerifyResult

    for cls, name in ((ActionResult, "outcome"), (StepResult, "outcome"), (VerifyResult, "status"),
                      (ProjectCheck, "status"), (CheckResult, "status")):
        assert get_type_hints(cls)[name] is Status, cls
    assert get_type_hints(JournalEntry)["outcome"] == Status | None
    import migrate.core.model as model

    assert not hasattr(model, "Outcome")  # the apply-only Literal is gone


PLANTED = {
    "a Literal of its own": ("apply/result2.py",
                             "from dataclasses import dataclass\nfrom typing import Literal\n\n"
                             "@dataclass(frozen=True)\nclass Result2:\n    outcome: Literal['applied', 'done']\n",
                             ("apply/result2.py", "Result2", "outcome")),
    "a bare str": ("retire/step2.py",
                   "from dataclasses import dataclass\n\n@dataclass(frozen=True)\nclass Step2:\n"
                   "    kind: str\n    status: str = 'applied'\n",
                   ("retire/step2.py", "Step2", "status")),
    "a local Literal named Status": ("scan/step3.py",
                                     "from dataclasses import dataclass\nfrom typing import Literal\n\n"
                                     "Status = Literal['scanned', 'read']\n\n"
                                     "@dataclass(frozen=True)\nclass Step3:\n    status: Status\n",
                                     ("scan/step3.py", "Step3", "status")),
    "a second field in a real module": ("verify/runner.py",
                                        "\n\n@dataclass(frozen=True)\nclass Extra:\n    status: 'VerifyWords'\n",
                                        ("verify/runner.py", "Extra", "status")),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_record_with_its_own_words_is_caught(tmp_path: Path, case: str) -> None:
    module, source, where = PLANTED[case]
    root = tmp_path / "migrate"
    target = root / module
    target.parent.mkdir(parents=True)
    real = PACKAGE / module
    target.write_text((real.read_text(encoding="utf-8") if real.exists() else "") + source, encoding="utf-8")
    assert list(own_vocabularies(root)) == [where]


# --- the same text as before -------------------------------------------------------------------

@given(st.sampled_from(list(Status)))
def test_a_status_is_its_word_in_json_text_logs_and_sqlite(status: Status) -> None:
    word = status.value
    assert json.dumps({"outcome": status}) == json.dumps({"outcome": word})
    assert json.dumps([status], default=str) == json.dumps([word])
    logged = "%s" % status  # noqa: UP031 (what logging does with a log line's arguments)
    assert str(status) == f"{status}" == logged == format(status, "") == word
    assert status == word and hash(status) == hash(word) and {word: 1}[status] == 1
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (status,))
    assert db.execute("SELECT x, typeof(x) FROM t").fetchall() == [(word, "text")]


def test_a_journal_row_holds_the_word_and_reads_back_as_status(tmp_path: Path) -> None:
    state = State(tmp_path)
    state.outcome("apply", "a1", "ensure_pool", "pools/gitlab", Status.WOULD_APPLY, "x", {"s": Status.REFUSED})
    raw = sqlite3.connect(tmp_path / "state.db").execute("SELECT outcome, evidence FROM journal").fetchall()
    assert raw == [("would_apply", '{"s": "refused"}')]
    entry = state.entries()[0]
    assert entry.outcome is Status.WOULD_APPLY


def test_a_word_outside_status_is_refused_before_it_is_journaled(tmp_path: Path) -> None:
    state = State(tmp_path)
    with pytest.raises(ValueError, match="'done'"):
        state.outcome("apply", "a1", "ensure_pool", "pools/gitlab", "done")  # type: ignore[arg-type]
    assert state.entries() == []


def test_mains_journal_loads_into_the_same_words(tmp_path: Path) -> None:
    """Every outcome row main wrote (apply, verify, keys) reads back as one `Status`, equal to its word."""
    rows = json.loads(gzip.decompress(FROM_MAIN.read_bytes()))
    state = State(tmp_path)
    state.outcome("x", "x", "x", "x", Status.SKIPPED)  # creates the database
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("DELETE FROM journal")
    names = ("seq", "ts", "run_id", "actor", "stage", "action_id", "kind", "target", "phase", "outcome",
             "detail", "evidence")
    db.executemany(f"INSERT INTO journal ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                   [tuple(r[n] for n in names) for r in rows])
    db.commit()
    entries = state.entries()
    assert [e.outcome for e in entries] == [r["outcome"] for r in rows]
    assert {e.stage for e in entries if isinstance(e.outcome, Status)} == {"apply", "verify", "keys"}
    assert all(e.outcome is None or type(e.outcome) is Status for e in entries)


def test_verify_writes_the_journal_words_it_always_wrote() -> None:
    """verified → applied, pending → skipped, failed → failed: the one mapping, total over verify's statuses."""
    from migrate.verify.runner import VerifyResult

    words = {s: VerifyResult("a", "p", s, "").outcome for s in (Status.VERIFIED, Status.PENDING, Status.FAILED)}
    assert words == {Status.VERIFIED: "applied", Status.PENDING: "skipped", Status.FAILED: "failed"}
    assert all(journal_word(s) == s for s in Status if s not in JOURNAL_WORD)


def test_a_checks_status_and_its_word_in_the_report_files_map_one_to_one() -> None:
    """Report files keep PASS/FAIL/ERROR/MANUAL (an external format); the mapping is one place and
    both ways, and the files' order of words (sorted rows) is unchanged."""
    from typing import get_args

    from migrate.report.findings import CHECK_STATUS, CHECK_WORD, CheckWord

    assert sorted(CHECK_WORD.values()) == sorted(get_args(CheckWord))
    assert all(CHECK_STATUS[w] is s for s, w in CHECK_WORD.items())
    assert len(set(CHECK_WORD.values())) == len(CHECK_WORD)
