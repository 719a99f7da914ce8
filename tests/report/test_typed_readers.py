"""The report's readers of apply and verify rows read the typed evidence (issue 20): merge
requests (`history.merge_requests`), the provider's condition and the bindings' members
(`planfacts.providers` / `bindings`) come from `JournalEntry.typed_evidence`, and a row no type of
this build fits (`LegacyEvidence`: an older build's keys, a hand edit) from its stored object
exactly as main read the dict.

The guard: none of these readers touches the raw `entry.evidence` any more (main's did). The
property: generated journals — this build's rows and arbitrary older ones — written through a real
state database give the records main's dict-reading code gives (`helpers.old_readers`, the oracle).
The broken variant: a reader without the legacy branch loses an older build's provider condition,
which the comparison sees."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest
from helpers import journal_rows as gen
from helpers import old_readers as oracle
from helpers import report_fixtures as fx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.core.outcome import Status
from migrate.report import history, planfacts

READERS = [(history, ("merge_requests", "_mr_keys", "_merge_request_row", "_verify_row")),
           (planfacts, ("providers", "bindings", "journal_condition", "journal_binding", "_applied"))]


def _raw_evidence_reads(module: Any, names: tuple[str, ...]) -> list[str]:
    tree = ast.parse(inspect.getsource(module))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            found += [f"{module.__name__}.{node.name}:{n.lineno}" for n in ast.walk(node)
                      if isinstance(n, ast.Attribute) and n.attr == "evidence"]
    return found


@pytest.mark.parametrize(("module", "names"), READERS, ids=["history", "planfacts"])
def test_the_readers_of_apply_and_verify_rows_never_read_the_raw_evidence_dict(module: Any, names: tuple[str, ...]) -> None:
    defined = {n.name for n in ast.walk(ast.parse(inspect.getsource(module))) if isinstance(n, ast.FunctionDef)}
    assert set(names) <= defined, set(names) - defined
    assert _raw_evidence_reads(module, names) == []


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the oracle's crash on a malformed row must be the same crash
        return ("raised", type(exc))


MERGE_REQUEST_ROWS = gen.rows(kinds=(("apply", "merge_request"), ("verify", "verify")))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journal=st.lists(gen.rows() | MERGE_REQUEST_ROWS, max_size=8), with_plan=st.booleans())
def test_generated_journals_read_as_mains_dict_readers_read_them(tmp_path_factory: pytest.TempPathFactory,
                                                                 journal: list[Any], with_plan: bool) -> None:
    _state, entries = gen.written(tmp_path_factory.mktemp("state"), journal)
    plan, inventory = (fx.plan() if with_plan else None), fx.inventory()
    assert _outcome(history.merge_requests, entries, plan, inventory) == \
        _outcome(oracle.merge_requests, entries, plan, inventory)
    assert planfacts.providers(plan, entries) == oracle.providers(plan, entries)
    assert planfacts.bindings(plan, entries) == oracle.bindings(plan, entries)


OLD_PROVIDER = {"steps": ["create"], "attribute_condition": "assertion.namespace_id in ['100']", "dry_run": False}
OLD_MR = {"project": "acme/api", "web_url": "https://gitlab.example.com/acme/api/-/merge_requests/7",
          "state": "opened", "key_ids": [fx.KEY_GROUP.key_id]}


def test_an_older_builds_rows_mean_what_they_meant(tmp_path: Any) -> None:
    _state, entries = gen.written(tmp_path, [
        ("apply", "provider-1", "ensure_provider", fx.PROVIDER, "outcome", Status.APPLIED, OLD_PROVIDER),
        ("apply", "mr-api", "merge_request", "acme/api", "outcome", Status.APPLIED, OLD_MR),
        ("verify", "v-1", "verify", "acme/api", "outcome", Status.SKIPPED,
         {"merge_request_action": "mr-api", "state": "merged"}),
    ])
    (provider,) = planfacts.providers(None, entries)
    assert (provider.condition, provider.source) == ("assertion.namespace_id in ['100']", "journal")
    (mr,) = history.merge_requests(entries, None, fx.inventory())
    assert (mr.state, mr.key_ids) == ("merged", frozenset({fx.KEY_GROUP.key_id}))
    assert history.merge_requests(entries, None, fx.inventory()) == oracle.merge_requests(entries, None, fx.inventory())


def test_a_reader_without_the_legacy_branch_is_caught(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _state, entries = gen.written(tmp_path, [
        ("apply", "provider-1", "ensure_provider", fx.PROVIDER, "outcome", Status.APPLIED, OLD_PROVIDER)])
    monkeypatch.setattr(planfacts, "journal_condition", lambda entry: None)  # the broken variant: typed rows only
    assert planfacts.providers(fx.plan(), entries) != oracle.providers(fx.plan(), entries)
