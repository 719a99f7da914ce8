"""One status vocabulary in every stage record (issue 20: one outcome type).

Every per-item record a stage returns or journals — apply's `ActionResult`, verify's `VerifyResult`
and `ProjectCheck`, the keys stage's `StepResult`, the journal's `JournalEntry` — says how the item
ended with the one `migrate.core.outcome.Status`, not a `Literal` of its own. The check walks
`migrate/` with `ast`: every dataclass field named `status` or `outcome` is annotated `Status`
(or `Status | None`), or a `Literal` of some of its members where a record ends in only a few
(scan's `ProjectRecord`: `core.outcome.ProjectStatus`; the CI rewriter's `RewriteResult` and the
plan's `RewriteOutcome`: `core.outcome.RewriteStatus`), every name imported from
`migrate.core.outcome`, unless it is listed below as not an outcome (a fact read from GitLab, a
key's progress) with the reason. A planted record with its own words is caught.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate.core import outcome
from migrate.core.codec import CodecError, decode, encode
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
    ("core/evidence.py", "JobRow", "status"): "GitLab's job status in verify's journaled job rows",
    ("scan/ci_files.py", "FileScan", "status"): "the HTTP status of a file read",
}

_ONE = {"Status", "Status | None", "None | Status"}

#: The names `migrate.core.outcome` gives a `Literal` of `Status` members (judged by their value:
#: an alias there that held words of its own would not be one).
_ALIASES = frozenset(name for name, value in vars(outcome).items()
                     if get_origin(value) is Literal and get_args(value)
                     and all(type(a) is Status for a in get_args(value)))


def is_one(annotation: str) -> bool:
    """`Status`, `Status | None`, a `core.outcome` alias of some members, or `Literal[Status.X, …]`."""
    if annotation in _ONE or annotation in _ALIASES:
        return True
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:  # an annotation marked "(not core.outcome's)"
        return False
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Literal"):
        return False
    members = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return all(isinstance(m, ast.Attribute) and isinstance(m.value, ast.Name) and m.value.id == "Status"
               and m.attr in Status.__members__ for m in members)


def _defined_at_top(tree: ast.Module) -> set[str]:
    """Names a module binds itself (a class, an alias), which shadow an import of the same name."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        for target in node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def status_fields(root: Path) -> dict[tuple[str, str, str], str]:
    """(module, class, field) → annotation of every class attribute named `status` or `outcome`."""
    out: dict[tuple[str, str, str], str] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("sandbox/"):  # the emulators speak GitLab's and Google's words, not the tool's
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # `Status` (and an alias) is the one only where it is imported from core.outcome, not
        # defined in the module (ci/rewrite.py had a Literal of its own named `Status`)
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and n.module == "migrate.core.outcome" for a in n.names if a.asname is None}
        if rel != "core/outcome.py":
            imported -= _defined_at_top(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and stmt.target.id in ("status", "outcome"):
                    text = ast.unparse(stmt.annotation).strip("'\"")
                    try:
                        names = {n.id for n in ast.walk(ast.parse(text, mode="eval"))
                                 if isinstance(n, ast.Name)} - {"Literal", "None"}
                    except SyntaxError:
                        names = {text}
                    ours = rel == "core/outcome.py" or names <= imported
                    out[(rel, node.name, stmt.target.id)] = text if ours else f"{text} (not core.outcome's)"
    return out


def own_vocabularies(root: Path) -> dict[tuple[str, str, str], str]:
    return {k: v for k, v in status_fields(root).items() if not is_one(v) and k not in NOT_OUTCOMES}


def test_every_stage_record_says_how_it_ended_with_the_one_status() -> None:
    assert own_vocabularies(PACKAGE) == {}


def test_every_listed_exception_still_exists_and_is_still_an_exception() -> None:
    fields = status_fields(PACKAGE)
    assert [k for k in NOT_OUTCOMES if k not in fields or is_one(fields[k])] == []


def test_the_records_the_issue_names_carry_status() -> None:
    """The records issue 20 found with their own words, by their types at run time."""
    from migrate.core.model import ActionResult
    from migrate.core.state import JournalEntry
    from migrate.report.findings import CheckResult
    from migrate.retire.runner import StepResult
    from migrate.verify.runner import ProjectCheck, VerifyResult

    for cls, name in ((ActionResult, "outcome"), (StepResult, "outcome"), (VerifyResult, "status"),
                      (ProjectCheck, "status"), (CheckResult, "status")):
        assert get_type_hints(cls)[name] is Status, cls
    assert get_type_hints(JournalEntry)["outcome"] == Status | None
    from migrate.ci.rewrite import RewriteResult
    from migrate.core.model import ProjectRecord
    from migrate.plan.planner import RewriteOutcome

    for cls, words in ((ProjectRecord, {"scanned", "error", "skipped"}),
                       (RewriteResult, {"rewritten", "manual", "unchanged"}),
                       (RewriteOutcome, {"rewritten", "manual", "unchanged"})):
        hint = get_type_hints(cls)["status"]
        assert get_origin(hint) is Literal and {type(a) for a in get_args(hint)} == {Status}, cls
        assert set(get_args(hint)) == words, cls  # the words each has always said, no more
    import migrate.ci.rewrite as ci_rewrite

    assert getattr(ci_rewrite, "Status", Status) is Status  # no Literal of its own by that name
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
    "a Literal of Status members and a word of its own": (
        "plan/step4.py",
        "from dataclasses import dataclass\nfrom typing import Literal\n\nfrom migrate.core.outcome import Status\n\n"
        "@dataclass(frozen=True)\nclass Step4:\n    status: Literal[Status.REWRITTEN, 'half_done']\n",
        ("plan/step4.py", "Step4", "status")),
    "a Literal of members of a local Status": (
        "ci/step5.py",
        "from dataclasses import dataclass\nfrom enum import StrEnum\nfrom typing import Literal\n\n"
        "class Status(StrEnum):\n    REWRITTEN = 'rewritten'\n    HALF = 'half'\n\n"
        "@dataclass(frozen=True)\nclass Step5:\n    status: Literal[Status.REWRITTEN, Status.HALF]\n",
        ("ci/step5.py", "Step5", "status")),
    "a local alias under a core.outcome name": (
        "scan/step6.py",
        "from dataclasses import dataclass\nfrom typing import Literal\n\nfrom migrate.core.outcome import Status\n\n"
        "ProjectStatus = Literal['scanned', 'read']\n\n"
        "@dataclass(frozen=True)\nclass Step6:\n    status: ProjectStatus\n    other: Status\n",
        ("scan/step6.py", "Step6", "status")),
    "ProjectRecord back to its own words": (
        "core/model.py", "\nProjectStatus = Literal['scanned', 'error', 'skipped']  # noqa: F811\n",
        ("core/model.py", "ProjectRecord", "status")),
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


def test_a_record_with_some_members_of_the_one_status_is_not_caught(tmp_path: Path) -> None:
    """The control of the planted records: the same shapes with `core.outcome`'s names pass."""
    root = tmp_path / "migrate"
    (root / "plan").mkdir(parents=True)
    (root / "plan" / "step7.py").write_text(
        "from dataclasses import dataclass\nfrom typing import Literal\n\n"
        "from migrate.core.outcome import ProjectStatus, RewriteStatus, Status\n\n"
        "@dataclass(frozen=True)\nclass Step7:\n    status: Literal[Status.REWRITTEN, Status.MANUAL]\n\n"
        "@dataclass(frozen=True)\nclass Step8:\n    status: ProjectStatus\n\n"
        "@dataclass(frozen=True)\nclass Step9:\n    outcome: 'RewriteStatus'\n", encoding="utf-8")
    assert len(status_fields(root)) == 3
    assert own_vocabularies(root) == {}


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


def _records() -> list[tuple[type, Callable[[Any], Any]]]:
    from migrate.ci.rewrite import RewriteResult
    from migrate.core.model import ProjectRecord
    from migrate.plan.planner import RewriteOutcome

    return [(ProjectRecord, lambda s: ProjectRecord(7, "acme/app", 3, "acme", status=s, error="x")),
            (RewriteResult, lambda s: RewriteResult(s, None, ("why",), "")),
            (RewriteOutcome, lambda s: RewriteOutcome(s, "text", ("why",)))]


@given(st.sampled_from(_records()), st.data())
def test_a_records_status_is_its_word_through_the_codec_and_back_the_member(
        record: tuple[type, Callable[[Any], Any]], data: st.DataObject) -> None:
    """Each record that ends in some members of `Status` (its `Literal`): written, the word as main
    wrote it (the same JSON text as a record holding the plain word); read back, the member."""
    cls, make = record
    members = get_args(get_type_hints(cls)["status"])
    status = data.draw(st.sampled_from(members))
    value = make(status)
    encoded = encode(value)
    assert type(encoded["status"]) is str and encoded["status"] == status.value
    assert json.dumps(encoded) == json.dumps(encode(make(status.value)))  # main's str, same text
    back = decode(cls, json.loads(json.dumps(encoded)))
    assert back.status is status and back == value


@given(st.sampled_from(_records()), st.one_of(st.sampled_from([s.value for s in Status]), st.text(max_size=12),
                                               st.integers(), st.booleans(), st.none(), st.lists(st.integers())))
def test_a_records_status_outside_its_words_is_refused_as_before(
        record: tuple[type, Callable[[Any], Any]], word: Any) -> None:
    """A hand-edited word outside the record's own (another stage's `Status` word too) is refused,
    with the words listed as main's `Literal` of words listed them."""
    cls, make = record
    words = [m.value for m in get_args(get_type_hints(cls)["status"])]
    if word in words and isinstance(word, str):
        return
    data = {**encode(make(Status(words[0]))), "status": word}
    with pytest.raises(CodecError) as caught:
        decode(cls, data)
    assert caught.value.path == "status"
    assert caught.value.problem == f"{word!r} is not one of {', '.join(repr(w) for w in words)}"


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
