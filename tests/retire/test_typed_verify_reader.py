"""`keys retire`'s verify reader reads the typed evidence (issue 20): `migrations_from_journal`
takes merged_at, the unverified jobs and `acceptable` from `VerifyEvidence`, and an older build's or
hand-edited row (`LegacyEvidence`: `merge_time`, a nested `merge_request.merged_at`) from its stored
object exactly as main read the dict.

The guard: it no longer touches the raw `entry.evidence` (main's did). The property: generated
journals through a real state database give main's migrations (`helpers.old_readers`, the oracle),
for any accepted jobs. The broken variant: dropping the legacy `merge_time` spelling is caught."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest
from helpers import journal_rows as gen
from helpers import old_readers as oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.core.evidence import LegacyEvidence
from migrate.core.outcome import Status
from migrate.retire import runner

READERS = ("migrations_from_journal", "_verify_row")
MRS = [("mr-api", "acme/api"), ("mr-templates", "acme/templates"), ("x-1", "acme/x")]


def test_the_verify_reader_never_reads_the_raw_evidence_dict() -> None:
    tree = ast.parse(inspect.getsource(runner))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in READERS]
    assert sorted(f.name for f in functions) == sorted(READERS)
    assert [f"{f.name}:{n.lineno}" for f in functions for n in ast.walk(f)
            if isinstance(n, ast.Attribute) and n.attr == "evidence"] == []


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the oracle's crash on a malformed row must be the same crash
        return ("raised", type(exc))


VERIFY_ROW = gen.rows(kinds=(("verify", "verify"),))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journal=st.lists(VERIFY_ROW | gen.rows(), max_size=8),
       accept=st.lists(st.sampled_from(["acme/api:deploy", "acme/api:test", "acme/web:deploy", " acme/web:test "]),
                       max_size=4))
def test_generated_journals_give_mains_migrations(tmp_path_factory: pytest.TempPathFactory, journal: list[Any],
                                                  accept: list[str]) -> None:
    state, _entries = gen.written(tmp_path_factory.mktemp("state"), journal)
    assert _outcome(runner.migrations_from_journal, state, MRS, accept) == \
        _outcome(oracle.migrations_from_journal, state, MRS, accept)


@pytest.mark.parametrize("evidence", [{"merge_time": "2026-03-03T09:00:00Z"},
                                      {"merge_request": {"merged_at": "2026-03-03T09:00:00+00:00"}},
                                      {"merged_at": "", "merge_time": "2026-03-03T09:00:00Z", "acceptable": 1,
                                       "unverified_jobs": [{"project": "acme/api", "job": "deploy"}, "junk"]}])
def test_an_older_builds_verify_row_means_what_it_meant(tmp_path: Any, evidence: dict[str, Any]) -> None:
    state, entries = gen.written(tmp_path, [("verify", "mr-api", "verify", "acme/api", "outcome", Status.SKIPPED,
                                             evidence)])
    assert isinstance(entries[0].typed_evidence, LegacyEvidence)
    (migration,) = runner.migrations_from_journal(state, MRS[:1], ["acme/api:deploy"])
    assert migration.merged_at is not None and migration.merged_at.isoformat() == "2026-03-03T09:00:00+00:00"
    assert migration == oracle.migrations_from_journal(state, MRS[:1], ["acme/api:deploy"])[0]


def test_dropping_the_legacy_merge_time_is_caught(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    state, _ = gen.written(tmp_path, [("verify", "mr-api", "verify", "acme/api", "outcome", Status.APPLIED,
                                       {"merge_time": "2026-03-03T09:00:00Z"})])
    typed_only = runner._verify_row
    monkeypatch.setattr(runner, "_verify_row", lambda e: typed_only(e) if not isinstance(
        e.typed_evidence, LegacyEvidence) else (None, [], False))  # the broken variant
    assert runner.migrations_from_journal(state, MRS[:1]) != oracle.migrations_from_journal(state, MRS[:1])
