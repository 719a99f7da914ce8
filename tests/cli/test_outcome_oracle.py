"""Table and JSON output byte-identical to main's on generated outcomes (issue 20: one outcome type).

The stage records now carry the one `Status` (not plain words), verify maps its words to the
journal's through `core.outcome.journal_word`, and `demo`/`report` build their `--format json`
envelopes through `print_outcomes` and the one renderer. The oracle is main's code at f4ca580
(`helpers.old_outcomes`): for generated records — hostile text included — the apply, keys and
verify tables, the envelopes of apply, keys, verify, demo and report, the counts and the journal
words are the same bytes. Broken variants (a demo that forgets which exit codes the story expects,
a journal mapping that writes `pending`, a report record that drops `format`) are caught.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import old_evidence
from helpers import old_outcomes as old
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.apply import render as apply_render
from migrate.apply.loop import summarize
from migrate.cli import demo, report
from migrate.cli.output import dumps, envelope, print_outcomes
from migrate.core import outcome_render
from migrate.core.codec import encode
from migrate.core.evidence import BindingEvidence, Blocked, EnsureEvidence, NoEvidence
from migrate.core.model import ActionResult
from migrate.core.outcome import ItemOutcome, Layout, Status, journal_word
from migrate.report.findings import ReviewItem
from migrate.retire import render as retire_render
from migrate.retire.runner import StepResult
from migrate.verify import render as verify_render
from migrate.verify.runner import ProjectCheck, VerifyResult

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "a\nb", "\x1b[31mred", "| x |", "1e5", "-", "  "])
APPLY_WORDS = st.sampled_from(["applied", "skipped", "failed", "would_apply", "refused"])
VERIFY_WORDS = st.sampled_from(["verified", "failed", "pending"])
WIDTH = 100


def _out(call: Callable[[], Any]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        call()
    return buffer.getvalue()


def _both(outcomes_old: list[ItemOutcome[Any]], outcomes_new: list[ItemOutcome[Any]], layout: Layout[Any],
          command: str) -> None:
    assert outcome_render.table(outcomes_new, layout, WIDTH) == outcome_render.table(outcomes_old, layout, WIDTH)
    new = _out(lambda: print_outcomes(command, 1, {"n": len(outcomes_new)}, outcomes_new, layout))
    was = dumps(envelope(command, 1, {"n": len(outcomes_old)}, outcome_render.results(outcomes_old, layout),
                         outcome_render.errors(outcomes_old)))
    assert new == was


# typed evidence (migrate.core.evidence): the shapes the detail column and the JSON record read
APPLY_EVIDENCE = (st.just(NoEvidence()) | st.just(Blocked(True))
                  | st.builds(BindingEvidence, st.tuples() | st.tuples(TEXT) | st.tuples(TEXT, TEXT),
                              st.tuples() | st.tuples(TEXT), st.integers(0, 3))
                  | st.builds(EnsureEvidence, op=st.none() | st.sampled_from(["create", "patch"]),
                              mask=st.none() | st.tuples(TEXT)))


@st.composite
def action_results(draw: st.DrawFn) -> list[tuple[str, str, str, Any]]:
    return draw(st.lists(st.tuples(TEXT, APPLY_WORDS, TEXT, APPLY_EVIDENCE), max_size=5))


@settings(max_examples=60, deadline=None)
@given(action_results())
def test_apply_rows_and_counts_are_mains(rows: list[tuple[str, str, str, Any]]) -> None:
    was = [ActionResult(aid, word, detail, ev) for aid, word, detail, ev in rows]  # type: ignore[arg-type]
    now = [ActionResult(aid, Status(word), detail, ev) for aid, word, detail, ev in rows]
    _both([old.apply_outcome(r) for r in was], apply_render.outcomes(now), apply_render.ROWS, "apply")
    assert dumps(summarize(now)) == dumps(old.counts([w for _a, w, _d, _e in rows]))
    assert apply_render.summary_line(summarize(now), False) == apply_render.summary_line(
        old.counts([w for _a, w, _d, _e in rows]), False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["disable_key", "delete_key", "delete_variable", "rollback_key"]),
                          TEXT, TEXT, APPLY_WORDS, TEXT, st.lists(TEXT, max_size=2)), max_size=5))
def test_keys_rows_and_summary_are_mains(rows: list[tuple[str, str, str, str, str, list[str]]]) -> None:
    was = [StepResult(k, a, t, w, d, tuple(b), {"dry_run": False}) for k, a, t, w, d, b in rows]  # type: ignore[arg-type]
    now = [StepResult(k, a, t, Status(w), d, tuple(b), {"dry_run": False}) for k, a, t, w, d, b in rows]
    _both([old.step_outcome(r) for r in was], retire_render.step_outcomes(now), retire_render.STEP_ROWS, "keys retire")
    assert retire_render.summary_line(now) == retire_render.summary_line(was)


@st.composite
def verify_results(draw: st.DrawFn, status: type = str) -> list[VerifyResult]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        checks = tuple(ProjectCheck(draw(TEXT), status(draw(VERIFY_WORDS)), draw(TEXT),
                                    draw(st.none() | st.integers(1, 10**6)),
                                    unverified=tuple({"project": draw(TEXT), "job": draw(TEXT), "reason": draw(TEXT)}
                                                     for _ in range(draw(st.integers(0, 1)))))
                       for _ in range(draw(st.integers(0, 2))))
        out.append(VerifyResult(draw(TEXT), draw(TEXT), status(draw(VERIFY_WORDS)), draw(TEXT),
                                draw(st.none() | st.integers(1, 999)), draw(st.none() | st.sampled_from(["merged", "opened"])),
                                checks=checks))
    return out


def _as_status(results: list[VerifyResult]) -> list[VerifyResult]:
    return [dataclasses.replace(r, status=Status(r.status), checks=tuple(
        dataclasses.replace(c, status=Status(c.status)) for c in r.checks)) for r in results]


@settings(max_examples=60, deadline=None)
@given(verify_results())
def test_verify_rows_journal_words_and_evidence_are_mains(was: list[VerifyResult]) -> None:
    now = _as_status(was)
    _both([old.verify_outcome(r) for r in was], verify_render.outcomes(now), verify_render.ROWS, "verify")
    assert verify_render.results_table(now) == old.verify_results_table(was, verify_render.ROWS)
    for w, n in zip(was, now, strict=True):
        assert n.outcome == old.VERIFY_JOURNAL_WORD[w.status] and type(n.outcome) is Status
        assert dumps(encode(n.evidence())) == dumps(old_evidence.verify(w))  # main's dict code


def test_a_journal_mapping_that_writes_verifys_own_word_is_caught() -> None:
    def broken(status: Status) -> Status:
        return status if status is Status.PENDING else journal_word(status)
    assert [w for w in ("verified", "failed", "pending")
            if broken(Status(w)) != old.VERIFY_JOURNAL_WORD[w]] == ["pending"]


STEPS = st.lists(st.fixed_dictionaries({"step": TEXT, "command": st.sampled_from(
    ["scan", "plan", "apply", "verify", "keys retire", "keys delete", "report"]), "exit_code": st.integers(0, 3)}),
    max_size=8)


def _demo_now(steps: list[dict[str, Any]], summary: dict[str, Any],
              outcomes: Callable[[list[demo.DemoStep]], list[ItemOutcome[demo.DemoStep]]] = demo.step_outcomes) -> str:
    typed = [demo.DemoStep(**s) for s in steps]
    return _out(lambda: print_outcomes("demo", 0, summary, outcomes(typed), demo.STEP_ROWS))


@settings(max_examples=80, deadline=None)
@given(STEPS, TEXT)
def test_demo_envelope_is_mains(steps: list[dict[str, Any]], line: str) -> None:
    summary = {"line": line, "steps": len(steps), "report": "out/reports/report.html", "keys_found": 3}
    assert _demo_now(steps, summary) == old.demo_envelope(steps, summary)


def test_a_demo_that_forgets_the_expected_exit_codes_is_caught() -> None:
    def broken(steps: list[demo.DemoStep]) -> list[ItemOutcome[demo.DemoStep]]:
        return [ItemOutcome(s.step, Status.FAILED if s.exit_code else Status.APPLIED, f"exit code {s.exit_code}", s)
                for s in steps]
    steps = [{"step": "1. scan", "command": "scan", "exit_code": 1}]
    summary = {"line": "x", "steps": 1}
    assert _demo_now(steps, summary) == old.demo_envelope(steps, summary)
    assert _demo_now(steps, summary, broken) != old.demo_envelope(steps, summary)


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT.filter(bool), max_size=3), st.lists(st.tuples(TEXT, TEXT), max_size=3), st.integers(0, 9))
def test_report_envelope_is_mains(paths: list[str], errors: list[tuple[str, str]], keys: int) -> None:
    written = [Path("reports") / p for p in paths]
    # as report.offenders.error_outcomes makes them from the document's ERROR rows
    items = [ItemOutcome(s, Status.ERROR, r, ReviewItem(s, r, "error", "inventory")) for s, r in errors]
    summary = {"keys_found": keys, "line": f"{keys} key(s) found"}
    now = _out(lambda: print_outcomes("report", 0, summary, report.file_outcomes(written), report.FILE_ROWS,
                                      errors=items))
    assert now == old.report_envelope(summary, written, items)
    broken = Layout(report.FILE_ROWS.columns, lambda o: {"path": o.item})
    if written:
        assert _out(lambda: print_outcomes("report", 0, summary, report.file_outcomes(written), broken,
                                           errors=items)) != old.report_envelope(summary, written, items)
