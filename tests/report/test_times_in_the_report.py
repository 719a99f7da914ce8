"""The report's times are aware UTC datetimes from the boundary on (issue 20): `--now` is decoded
by the option (`cli.report.report_time`), a snapshot's row time by the state (`State.snapshots`),
its `generated_at` where the snapshot's JSON is read (`burndown.observed_from_data`), a key step's
by the journal (`KeyEvent.ts` is the row's `ts`); the burn-down's steps and points hold datetimes
(to the second) and only the renderers write them. No second parser (`burndown.parse_ts` is gone).

The guard (fails on main): these are datetimes. The property: random spellings of the same
instants (Z, offsets, fractions, no offset, a bare date) give main's burn-down text
(`helpers.old_burndown`, main's string replay kept as the oracle), main's key ages, and the very
same report files in every format as main's (tests/report/expected). The one deliberate change, tested below: a snapshot whose
`generated_at` is not a time at all was kept as its text (sorted as text after every time); it is
now an unreadable snapshot, an ERROR row the burn-down skips, like one without `generated_at`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import old_burndown as old
from helpers.report_fixtures import NOW, NOW_AT, fixture_commits, inventory, journal, plan, snapshots
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.cli.report import report_time
from migrate.core.codec import decode_time, decode_time_or_none, encode_time, format_time
from migrate.core.errors import UsageError
from migrate.core.state import State
from migrate.report import assemble, burndown, chart, gitlab_format, outputs, sarif
from migrate.report.findings import FindingsDocument, build_findings
from migrate.report.history import KeyEvent

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)),
                         timezone(timedelta(hours=1))])
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC))


@st.composite
def spelled(draw: st.DrawFn, moment: datetime) -> str:
    """One of the ways a file, a person or an older build may write `moment`."""
    zone = draw(ZONES)
    local = moment.astimezone(zone)
    how = draw(st.sampled_from(["z", "offset", "lower", "naive", "fraction9", "date"]))
    if how == "z":
        return encode_time(moment)
    if how == "offset":
        return local.isoformat()
    if how == "lower":
        return encode_time(moment).replace("Z", "z")
    if how == "naive":
        return moment.replace(tzinfo=None).isoformat()
    if how == "fraction9":
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123" + local.strftime("%z")
    return moment.strftime("%Y-%m-%d") if moment.time() == datetime.min.time() else encode_time(moment)


def _states(kids: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(kids), st.sampled_from(["enabled", "disabled", "deleted", "unknown"]),
                           max_size=3)


KIDS = ["a" * 40, "b" * 40, "c" * 40]
WHEN = MOMENTS | MOMENTS.map(lambda m: m.replace(microsecond=0)) | MOMENTS.map(lambda m: m.replace(
    hour=0, minute=0, second=0, microsecond=0))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), scans=st.lists(st.tuples(WHEN, _states(KIDS)), max_size=4),
       steps=st.lists(st.tuples(WHEN, st.sampled_from(KIDS), st.sampled_from(["disable", "delete", "rollback"])),
                      max_size=4), now=WHEN)
def test_any_spelling_of_the_times_gives_mains_burn_down(data: st.DataObject, scans: list[Any], steps: list[Any],
                                                         now: datetime) -> None:
    scan_texts = [data.draw(spelled(m)) for m, _ in scans]
    column_texts = [data.draw(spelled(m.replace(microsecond=0))) for m, _, _ in steps]  # the journal's ts column
    now_text = data.draw(spelled(now))
    # this build: decoded at each edge
    snaps = [burndown.observed_from_data({"generated_at": t, "key_facts": [], "variables": []})[0] for t in scan_texts]
    events = [KeyEvent(decode_time(t), "sa@p", kid, kind, "me", "") for t, (_, kid, kind) in zip(column_texts, steps,
                                                                                                    strict=True)]
    states, points = burndown.replay(list(zip(snaps, [s for _, s in scans], strict=True)), events,
                                     report_time(now_text))
    # main: the texts as they came, the journal's ts as its ts_text
    old_events = [old.OldEvent(format_time(decode_time(t)), "sa@p", kid, kind)
                  for t, (_, kid, kind) in zip(column_texts, steps, strict=True)]
    old_states, old_points = old.replay([(t, s) for t, (_, s) in zip(scan_texts, scans, strict=True)], old_events,
                                        now_text)
    assert states == old_states
    assert [(format_time(p.ts), p.live, p.event) for p in points] == list(old_points)  # markdown, html, chart
    assert [encode_time(p.ts) for p in points] == [t for t, _, _ in old_points]  # the JSON document
    assert all(p.ts.tzinfo is UTC and p.ts.microsecond == 0 for p in points)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), now=MOMENTS, created=WHEN)
def test_a_keys_age_is_mains_for_any_spelling(data: st.DataObject, now: datetime, created: datetime) -> None:
    now_text, created_text = data.draw(spelled(now)), data.draw(spelled(created) | st.sampled_from(["", "soon"]))
    assert assemble._days(report_time(now_text), decode_time_or_none(created_text)) == \
        old.days(now_text, created_text)  # noqa: SLF001


EXPECTED = Path(__file__).parent / "expected"  # main's files for the fixture, byte for byte


def _files(doc: FindingsDocument) -> dict[str, str]:
    files = {name: render(doc) for fmt in ("md", "html", "csv", "json") for name, render in outputs(fmt)}
    return {**files, "gl-secret-detection-report.json": gitlab_format.render(doc, fixture_commits(doc)),
            "burndown.svg": chart.render_svg(doc.burndown), "report.sarif": sarif.render(doc)}


@functools.cache
def _mains() -> dict[str, str]:
    """Main's files where tests/report/expected has them, else this build's for the fixture as given."""
    mine = _files(build_findings(inventory(), plan(), journal(), NOW_AT, snapshots(), tool_version="0.1.0"))
    return {name: (EXPECTED / name).read_text(encoding="utf-8") if (EXPECTED / name).exists() else text
            for name, text in mine.items()}


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_report_files_are_mains_for_any_spelling_of_its_times(data: st.DataObject) -> None:
    (early_ts, early), current = snapshots()
    early = {**early, "generated_at": data.draw(spelled(decode_time(early["generated_at"])))}
    respelled = [(decode_time(data.draw(spelled(early_ts))), early), current]
    doc = build_findings(inventory(), plan(), journal(), report_time(data.draw(spelled(NOW_AT))), respelled,
                         tool_version="0.1.0")
    assert _files(doc) == _mains()


def test_the_boundaries_give_aware_datetimes(tmp_path: Path) -> None:
    state = State(tmp_path, clock=lambda: "2026-03-01T10:00:05Z")
    state.save_snapshot("inventory", {"n": 1})
    ((ts, body),) = state.snapshots("inventory")
    assert ts == datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC) and body == {"n": 1}
    assert report_time("2026-03-10T13:00:00+01:00") == decode_time(NOW)
    assert report_time(None).tzinfo is UTC
    with pytest.raises(UsageError, match="--now"):
        report_time("yesterday")
    (point, *_) = build_findings(inventory(), plan(), journal(), NOW_AT, snapshots()).burndown
    assert point.ts == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert not hasattr(burndown, "parse_ts") and not hasattr(burndown, "norm_ts")


def test_a_snapshot_whose_time_is_not_a_time_is_an_error_row_and_skipped() -> None:
    (ts, early), current = snapshots()
    doc = build_findings(inventory(), plan(), journal(), NOW_AT, [(ts, {**early, "generated_at": "yesterday"}), current])
    assert [e.subject for e in doc.errors if e.source == "history"] == ["history:inventory@2026-02-01T10:00:05Z"]
    assert "yesterday" not in {format_time(p.ts) for p in doc.burndown}
    assert [p.ts for p in doc.burndown] == [datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 4, 10, tzinfo=UTC),
                                            datetime(2026, 3, 5, 10, tzinfo=UTC), NOW_AT]
