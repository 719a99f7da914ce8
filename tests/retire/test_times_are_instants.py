"""Times in the retire stage are instants, not spellings (issue 20, "datetimes as datetime").

Google answers `…Z`, GitLab `….000Z`, a proxy or a hand-edited journal may write `+00:00`, an
offset, 3 or 9 fractional digits or no offset at all: as strings these order wrongly
('2026-03-10T08:00:00+01:00' sorts after '2026-03-10T07:30:00Z' though it is half an hour
earlier). The ports, the gates' inputs and the run options are aware UTC datetimes, decoded once
at the boundary (`migrate.google.service_account_keys`, the journal reads in `retire.runner`), so
the gates decide the same whatever the spelling, and the evidence writes the times back as before.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.codec import decode_time, format_time
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry
from migrate.google.service_account_keys import _live, usage_signal
from migrate.retire import gates, ports, runner
from migrate.retire.gates import Migration, delete_decision, disable_decision
from migrate.retire.ports import LiveKey
from migrate.retire.runner import EntriesJournal, migrations_from_journal

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "c" * 40
DAY = timedelta(days=1)

# --- the guard: no time travels through the retire stage as a string ------------------------------

TIME_NAMES = {"created", "expires", "last_authenticated", "observation_start", "observation_end",
              "merged_at", "verified_at", "now", "plan_time", "ts", "since", "disabled_at",
              "rolled_back_at", "cutover_if_unused", "cutover"}
# what the stage computes on (OrphanKey is the printed row of `keys orphans`: strings as shown)
TYPES = (ports.LiveKey, ports.UsageSignal, gates.Migration, gates.Decision, runner.RunOptions,
         runner.Rollback)
FUNCTIONS = (gates.usage_gate, gates.disable_decision, gates.delete_decision, runner.find_orphans)


def string_times(hints: dict[str, Any]) -> list[str]:
    """The time-named entries whose type is not `datetime` (or `datetime | None`)."""
    return sorted(name for name, hint in hints.items()
                  if name in TIME_NAMES and not (hint is datetime or set(typing.get_args(hint)) == {datetime,
                                                                                                  type(None)}))


def _hints(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(obj)


def test_the_retire_stage_holds_times_as_datetimes() -> None:
    found = {t.__name__: bad for t in TYPES if (bad := string_times(_hints(t)))}
    found |= {f.__name__: bad for f in FUNCTIONS if (bad := string_times(_hints(f)))}
    assert found == {}
    assert {f.name for t in TYPES for f in dataclasses.fields(t)} & TIME_NAMES >= {
        "created", "expires", "last_authenticated", "observation_start", "observation_end", "merged_at",
        "verified_at", "now", "plan_time", "ts"}  # the check looks at the fields it is about


def test_the_guard_catches_a_string_time() -> None:
    @dataclasses.dataclass(frozen=True)
    class Planted:
        now: str
        merged_at: str | None = None
        created: datetime | None = None

    assert string_times(typing.get_type_hints(Planted)) == ["merged_at", "now"]


def test_the_gates_parse_nothing() -> None:
    """Pure: decoding is the boundary's job, so no spelling reaches a comparison."""
    tree = ast.parse(inspect.getsource(gates))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not imported & {"decode_time", "decode_time_or_none"}


# --- the boundary: Google's spellings become one instant -----------------------------------------

@pytest.mark.parametrize("spelling", ["2026-03-10T07:00:00Z", "2026-03-10T07:00:00+00:00",
                                      "2026-03-10T08:00:00+01:00", "2026-03-10T07:00:00.000Z",
                                      "2026-03-10T07:00:00.000000000Z", "2026-03-10T07:00:00",
                                      "2026-03-09T23:00:00-08:00"])
def test_google_spellings_decode_to_the_same_instant(spelling: str) -> None:
    signal = usage_signal(spelling, {"startTime": spelling, "endTime": spelling})
    moment = datetime(2026, 3, 10, 7, tzinfo=UTC)
    assert signal.last_authenticated == signal.observation_start == signal.observation_end == moment
    live = _live(SA, KID, {"validAfterTime": spelling, "validBeforeTime": spelling})
    assert live.created == live.expires == moment


def test_an_offset_spelled_authentication_after_the_cutover_refuses() -> None:
    """The case string comparison gets wrong: '…T08:00:00+01:00' > '…T07:30:00Z' as text,
    but it is 07:00Z, half an hour *before* a 07:30Z cut-over — and '…T06:00:00-02:00' (08:00Z)
    sorts before '…T07:30:00Z' though it is after it."""
    cutover = "2026-03-10T07:30:00Z"
    observed = {"endTime": "2026-03-20T07:00:00Z"}
    now = decode_time("2026-03-20T12:00:00Z")
    merged = [Migration("mr", "acme/api", True, decode_time(cutover))]
    after = usage_signal("2026-03-10T06:00:00-02:00", observed)  # 08:00Z: after the cut-over
    assert cutover > "2026-03-10T06:00:00-02:00"  # as text it would look earlier
    assert disable_decision(LiveKey(SA, KID, True), merged, after, now).verdict == "refuse"
    day_before = usage_signal("2026-03-09T08:00:00+01:00", observed)  # 07:00Z the day before: ended 03-10T07:00Z
    decision = disable_decision(LiveKey(SA, KID, True), merged, day_before, now)
    assert decision.verdict == "proceed", decision.reason
    assert decision.evidence["last_authenticated"] == "2026-03-09T07:00:00Z"  # written in Google's form


# --- the property: any spelling, the decision of the instants ------------------------------------

START = datetime(2026, 1, 1, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=60 * 86400 * 10**6).map(
    lambda us: START + timedelta(microseconds=us))
day_starts = st.integers(min_value=0, max_value=60).flatmap(
    lambda d: st.sampled_from([7, 8]).map(lambda h: START + timedelta(days=d, hours=h)))
offsets = st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(hours=-8), timedelta(hours=5, minutes=30),
                           timedelta(hours=-3, minutes=-30)])


@st.composite
def spelled(draw: st.DrawFn, moment: datetime) -> str:
    """One RFC 3339 / ISO 8601 spelling of `moment`: Z, +00:00, an offset, none (UTC), fractions
    of 0/3/6/9 digits (as many as the instant needs at least)."""
    form = draw(st.sampled_from(["Z", "+00:00", "offset", "naive"]))
    offset = draw(offsets) if form == "offset" else timedelta(0)
    local = (moment + offset).replace(tzinfo=None)
    us = moment.microsecond
    digits = draw(st.sampled_from([d for d in (0, 3, 6, 9) if d >= 6 or us % 10 ** (6 - d) == 0]))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + (f"{us:06d}" + "000")[:digits]
    if form == "offset":
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    elif form != "naive":
        text += form
    return text


def oracle_disable(cutover: datetime, last: datetime | None, end: datetime | None, now: datetime) -> str:
    """The disable rules of docs/keys.md restated on instants (the cut-over is read to the second)."""
    c = cutover.replace(microsecond=0)
    seen = min(now, end) if end is not None else now
    if seen <= c:
        return "refuse"
    if last is None or last + DAY <= c:
        return "proceed"
    if last >= c:
        return "refuse"
    return "proceed" if seen >= last + 2 * DAY else "refuse"


def _verify_row(merged: str, verified: str) -> JournalEntry:
    return JournalEntry(1, decode_time(verified), "run", "ops", "verify", "mr", "verify", "acme/api", "outcome",
                        Status.APPLIED, "", {"merged_at": merged})


@settings(max_examples=300, deadline=None)
@given(data=st.data(), merged=instants, last=st.none() | day_starts, end=st.none() | instants, now=instants)
def test_retire_decides_on_instants_whatever_the_spelling(data: st.DataObject, merged: datetime,
                                                          last: datetime | None, end: datetime | None,
                                                          now: datetime) -> None:
    merged_text = data.draw(spelled(merged))
    verified_text = format_time(merged + timedelta(hours=1))  # the journal's own clock
    journal = EntriesJournal([_verify_row(merged_text, verified_text)])
    (migration,) = migrations_from_journal(journal, [("mr", "acme/api")])
    period = {"endTime": data.draw(spelled(end))} if end is not None else {}
    signal = usage_signal(data.draw(spelled(last)) if last is not None else None, period)
    decision = disable_decision(LiveKey(SA, KID, True), [migration], signal, now)
    assert decision.verdict == oracle_disable(merged, last, end, now), decision.reason
    # the evidence reads as before: the journal's spelling kept, Google's times in its `Z` form
    assert decision.evidence["migrations"][0]["merged_at"] == merged_text
    assert decision.evidence["cutover"] == format_time(merged)
    assert decision.evidence["last_authenticated"] == (None if last is None else format_time(last))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), disabled=instants, last=st.none() | day_starts, now=instants,
       grace=st.integers(min_value=1, max_value=30))
def test_delete_decides_on_instants_whatever_the_spelling(data: st.DataObject, disabled: datetime,
                                                          last: datetime | None, now: datetime, grace: int) -> None:
    disabled = disabled.replace(microsecond=0)  # the journal's clock writes seconds
    signal = usage_signal(data.draw(spelled(last)) if last is not None else None, {})
    decision = delete_decision(LiveKey(SA, KID, True, disabled=True), disabled, None, signal, now, grace)
    blocked = now < disabled + timedelta(days=grace) or (last is not None and last > disabled)
    assert decision.verdict == ("refuse" if blocked else "proceed"), decision.reason
    assert decision.evidence["disabled_at"] == format_time(disabled)
