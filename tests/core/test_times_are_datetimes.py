"""Times are aware UTC `datetime`s inside the tool and RFC 3339 text only at its edges (issue 20).

A time kept as a string is compared as a string (`"2026-03-01T09:00:00Z" < "2026-03-01T09:00:00+01:00"`
is a wrong answer), printed as whatever the source wrote, and parsed again by whoever needs it.
The guard: no dataclass field of the core, plan, scan, apply, verify and report stages whose name
says it is a time is annotated `str` (the allow-list says why each remaining one still is). The
property: a time written through the codec is the very text the string-keeping builds wrote
(`datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")`), so plans and inventories on disk are
byte-identical and the ones main wrote load and write back unchanged.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from helpers.plan_fixtures import INVENTORY
from helpers.report_fixtures import plan as report_plan
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core import state as state_module
from migrate.core.codec import decode_time, encode, encode_time
from migrate.core.model import Inventory, from_dict
from migrate.core.outcome import Status
from migrate.core.state import State
from migrate.plan import plan_io

ROOT = Path(__file__).resolve().parents[2] / "migrate"
STAGES = ("core", "plan", "scan", "apply", "verify", "report")

# "module.Class.field" → why it is still text (each one is issue 20's next step or a format's own)
ALLOWED: dict[str, str] = {
    # GitLab's text as it came ("…:03.456Z", or in the instance's zone): apply and verify journal it
    # as evidence byte for byte and retire reads it back; no formatter can give back every form
    "verify/runner.py:VerifyResult.merged_at": "GitLab's merged_at text, journaled as evidence as it came",
    "apply/ports.py:MRInfo.merged_at": "GitLab's merged_at text, journaled as evidence (MRInfo.merged_time reads it)",
    "core/evidence.py:MergedEvidence.merged_at": "the journal's evidence: GitLab's merged_at text as it came",
    "core/evidence.py:VerifyEvidence.merged_at": "the journal's evidence: GitLab's merged_at text as it came",
}


def _is_time_name(name: str) -> bool:
    return name.endswith(("_at", "_time", "_ts")) or name in ("ts", "now", "when")


def _is_dataclass(node: ast.ClassDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if (target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")) == "dataclass":
            return True
    return False


def _mentions_str(annotation: ast.expr) -> bool:
    text = annotation.value if isinstance(annotation, ast.Constant) else ast.unparse(annotation)
    return "str" in str(text).replace("|", " ").replace("[", " ").replace("]", " ").split()


def time_fields_as_text(source: str, where: str) -> list[str]:
    """`where:Class.field` of each dataclass field with a time's name annotated with `str`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and _is_dataclass(node):
            found += [f"{where}:{node.name}.{s.target.id}" for s in node.body
                      if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                      and _is_time_name(s.target.id) and _mentions_str(s.annotation)]
    return found


def test_no_time_field_of_the_stages_is_a_string() -> None:
    found = [name for stage in STAGES for path in sorted((ROOT / stage).rglob("*.py"))
             for name in time_fields_as_text(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert sorted(set(found) - set(ALLOWED)) == []
    assert sorted(set(ALLOWED) - set(found)) == []  # an entry no longer needed is removed


def test_the_check_sees_a_time_kept_as_text() -> None:
    planted = ("from dataclasses import dataclass\n\n@dataclass(frozen=True)\nclass Seen:\n"
               "    created_at: str\n    merged_at: 'str | None'\n    ts: str = ''\n    when: datetime\n"
               "    name: str\n")
    assert time_fields_as_text(planted, "x.py") == ["x.py:Seen.created_at", "x.py:Seen.merged_at", "x.py:Seen.ts"]
    main_inventory = (ROOT / "core" / "model.py").read_text(encoding="utf-8").replace(
        "generated_at: datetime", "generated_at: str")  # main's annotation is caught
    assert "core/model.py:Inventory.generated_at" in time_fields_as_text(main_inventory, "core/model.py")


# "module:function(param)", "module:function() -> str", "module:function parses" → why allowed
ALLOWED_SIGNATURES: dict[str, str] = {
    "core/codec.py:encode_time() -> str": "the one formatter (RFC 3339, fraction kept)",
    "core/codec.py:format_time() -> str": "the one formatter (to the second)",
    "report/gitlab_format.py:_time() -> str": "a renderer: GitLab's report schema's time text",
    "apply/merge_request_executor.py:_content_diff(now)": "`now` is the recomputed file text, not a time",
    "cli/demo.py:now() -> str": "the sandbox clock's text, handed to the CLI verbs as their --now argument",
    "cli/demo.py:_story(now)": "the same clock (a callable giving --now text)",
    "verify/propagation.py:parse_time parses": "a name for codec.decode_time_or_none on GitLab's job times",
}
SIGNATURE_DIRS = (*STAGES, "cli")


def time_signatures_as_text(source: str, where: str) -> list[str]:
    """Functions that pass a time as text: a parameter with a time's name annotated `str`, a
    function with a time's name that returns `str` (a decoder of an option that hands the text
    on), or a function named as a time parser or normaliser (`parse_ts`, `norm_ts`: a second parser)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        a = node.args
        found += [f"{where}:{node.name}({arg.arg})" for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs)
                  if arg.annotation is not None and _is_time_name(arg.arg) and _mentions_str(arg.annotation)]
        if node.returns is not None and _is_time_name(node.name) and _mentions_str(node.returns):
            found.append(f"{where}:{node.name}() -> str")
        if node.name.lstrip("_").startswith(("parse_ts", "parse_time", "norm_ts", "norm_time", "parse_date")):
            found.append(f"{where}:{node.name} parses")
    return found


def test_no_time_is_passed_or_handed_on_as_text_by_the_stages_and_the_cli() -> None:
    found = [name for d in SIGNATURE_DIRS for path in sorted((ROOT / d).rglob("*.py"))
             for name in time_signatures_as_text(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert sorted(set(found) - set(ALLOWED_SIGNATURES)) == []
    assert sorted(set(ALLOWED_SIGNATURES) - set(found)) == []  # an entry no longer needed is removed


def test_the_signature_check_sees_mains_report_times() -> None:
    """Main's report: `--now` handed on as text, `now: str` through the assembly, a second parser."""
    planted = ("def report_time(text: str | None) -> str: ...\n"
               "def _days(now: str, then: str | None) -> int | None: ...\n"
               "def parse_ts(value: str) -> datetime | None: ...\n"
               "def norm_ts(value: str) -> str: ...\n"
               "def fine(now: datetime, name: str) -> str: ...\n")
    assert time_signatures_as_text(planted, "x.py") == [
        "x.py:report_time() -> str", "x.py:_days(now)", "x.py:parse_ts parses",
        "x.py:norm_ts() -> str", "x.py:norm_ts parses"]


def test_the_state_reads_a_snapshots_time_as_an_aware_datetime() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = State(tmp, actor="t@h", clock=lambda: "2026-03-01T10:00:05+01:00")
        state.save_snapshot("inventory", {"n": 1})
        ((ts, body),) = state.snapshots("inventory")
    assert ts == datetime(2026, 3, 1, 9, 0, 5, tzinfo=UTC) and ts.tzinfo is UTC and body == {"n": 1}


def _old_text(moment: datetime) -> str:
    """How the string-keeping builds wrote a time (state.utcnow of main), the oracle."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
MOMENTS = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=ZONES)


@settings(max_examples=200, deadline=None)
@given(MOMENTS)
def test_a_time_is_written_as_the_string_builds_wrote_it_and_reads_back(moment: datetime) -> None:
    whole = moment.replace(microsecond=0)  # the tool's clock is second-precise (state.utcnow)
    old = _old_text(whole)
    assert encode_time(whole) == old
    assert decode_time(old) == whole and decode_time(old).tzinfo is UTC
    inv = dataclasses.replace(INVENTORY, generated_at=whole)
    assert encode(inv)["generated_at"] == old
    text = plan_io.dumps(dataclasses.replace(report_plan(), generated_at=whole))
    assert json.loads(text)["generated_at"] == old
    assert plan_io.dumps(plan_io.loads(text)) == text  # loads and writes back byte for byte


@settings(max_examples=50, deadline=None)
@given(MOMENTS)
def test_the_clock_is_read_to_the_second_as_main_wrote_it(moment: datetime) -> None:
    """`set_clock` sources (the sandbox's RFC 3339 text) and the system clock alike give a
    whole-second aware time, so nothing the tool writes grows a fraction main never wrote."""
    state_module.set_clock(lambda: moment.isoformat())
    try:
        now = state_module.utcnow()
    finally:
        state_module.set_clock(None)
    assert now == moment.replace(microsecond=0) and now.tzinfo is UTC
    assert encode_time(now) == _old_text(moment)
    system = state_module.utcnow()
    assert system.microsecond == 0 and system.tzinfo is UTC


@settings(max_examples=30, deadline=None)
@given(MOMENTS)
def test_the_journal_writes_its_ts_as_main_wrote_it_and_reads_it_aware(moment: datetime) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = State(tmp, actor="t@h", clock=lambda: moment)
        state.outcome("keys", "a1", "disable_key", "t", Status.APPLIED)
        assert state.now() == moment.replace(microsecond=0) and state.now_text() == _old_text(moment)
        with sqlite3.connect(state.path) as conn:
            (column,) = conn.execute("SELECT ts FROM journal").fetchone()
        (entry,) = state.entries()
    assert column == _old_text(moment)  # the ts column's text is main's, byte for byte
    assert entry.ts == moment.replace(microsecond=0) and entry.ts.tzinfo is UTC and entry.ts_text == column


def test_a_broken_writer_is_caught() -> None:
    """Variants the property tells apart from the string builds' text."""
    moment = datetime(2026, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)
    assert moment.isoformat() != _old_text(moment)  # isoformat: +00:00 and the fraction
    assert encode_time(moment) != _old_text(moment)  # a clock kept to the microsecond writes a fraction
    assert encode_time(moment.replace(microsecond=0)) == _old_text(moment)


def test_inventories_read_their_time_as_an_aware_datetime() -> None:
    data = {**encode(INVENTORY), "generated_at": "2026-03-01T10:00:00+01:00"}
    inv = from_dict(Inventory, data)
    assert inv.generated_at == datetime(2026, 3, 1, 9, tzinfo=UTC) and inv.generated_at.tzinfo is UTC
