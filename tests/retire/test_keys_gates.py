"""The pure retirement gates (migrate/retire/gates.py): literal evidence in, decision out."""

from __future__ import annotations

import pytest

from migrate.core.codec import decode_time as parse_time
from migrate.retire.gates import Migration, delete_decision, disable_decision, migration_gate, usage_gate
from migrate.retire.ports import LiveKey, UsageSignal

T = parse_time  # the gates take times; the tests write them as Google and the journal do

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "a" * 40
LIVE = LiveKey(SA, KID, exists=True, disabled=False)
DISABLED = LiveKey(SA, KID, exists=True, disabled=True)
MERGED = T("2026-03-10T15:00:00Z")  # the cut-over
VERIFIED = [Migration("mr-api", "acme/api", True, merged_at=MERGED, verified_at=T("2026-03-10T16:00:00Z"))]


def test_parse_time_accepts_google_nanoseconds_and_offsets() -> None:
    assert parse_time("2026-03-10T07:00:00.123456789Z") == parse_time("2026-03-10T07:00:00.123456Z")
    assert parse_time("2026-03-10T09:00:00+02:00") == parse_time("2026-03-10T07:00:00Z")


def test_unmerged_project_blocks_and_is_named() -> None:
    migs = VERIFIED + [Migration("mr-web", "acme/web", False, detail="no verify outcome")]
    d = disable_decision(LIVE, migs, UsageSignal(), now=T("2026-03-20T00:00:00Z"))
    assert d.verdict == "refuse"
    assert len(d.blocking) == 1
    assert "acme/web" in d.blocking[0] and "mr-web" in d.blocking[0]


def test_cutover_is_latest_merge() -> None:
    migs = [Migration("a", "p1", True, merged_at=T("2026-03-01T00:00:00Z")),
            Migration("b", "p2", True, merged_at=T("2026-03-05T12:00:00Z"))]
    assert migration_gate(migs)[1] == T("2026-03-05T12:00:00Z")


def test_fully_migrated_unused_since_proceeds() -> None:
    sig = UsageSignal(last_authenticated=T("2026-03-08T07:00:00Z"), observation_end=T("2026-03-12T07:00:00Z"))
    d = disable_decision(LIVE, VERIFIED, sig, now=T("2026-03-12T10:00:00Z"))
    assert d.verdict == "proceed", d.reason
    assert d.evidence["cutover"] == "2026-03-10T15:00:00Z"  # written back as it read
    assert d.evidence["last_authenticated"] == "2026-03-08T07:00:00Z"
    assert d.evidence["migrations"][0]["action_id"] == "mr-api"


def test_authenticated_after_cutover_refuses() -> None:
    sig = UsageSignal(last_authenticated=T("2026-03-11T07:00:00Z"))
    d = disable_decision(LIVE, VERIFIED, sig, now=T("2026-03-14T00:00:00Z"))
    assert d.verdict == "refuse"
    assert "after the cut-over" in d.blocking[0]


@pytest.mark.parametrize(("now", "verdict"), [
    (T("2026-03-10T18:00:00Z"), "refuse"),  # same day
    (T("2026-03-11T20:00:00Z"), "refuse"),  # following day not over yet (ends 03-12T07:00)
    (T("2026-03-12T07:00:00Z"), "proceed"),  # the following day passed with no newer entry
])
def test_authentication_on_cutover_day_is_ambiguous_until_next_day_passes(now: str, verdict: str) -> None:
    sig = UsageSignal(last_authenticated=T("2026-03-10T07:00:00Z"))  # day [03-10T07, 03-11T07) holds 15:00
    d = disable_decision(LIVE, VERIFIED, sig, now=now)
    assert d.verdict == verdict, d.reason
    if verdict == "refuse":
        assert "ambiguous" not in d.reason  # user-facing text says it plainly:
        assert "unknown whether that was before or after" in d.blocking[0]
        assert "2026-03-12T07:00:00Z" in d.blocking[0]


def test_ambiguous_day_judged_on_observation_end_not_wall_clock() -> None:
    sig = UsageSignal(last_authenticated=T("2026-03-10T07:00:00Z"), observation_end=T("2026-03-11T07:00:00Z"))
    d = disable_decision(LIVE, VERIFIED, sig, now=T("2026-03-13T00:00:00Z"))
    assert d.verdict == "refuse"


def test_observation_not_past_cutover_refuses() -> None:
    sig = UsageSignal(last_authenticated=None, observation_end=T("2026-03-10T07:00:00Z"))
    d = disable_decision(LIVE, VERIFIED, sig, now=T("2026-03-10T20:00:00Z"))
    assert d.verdict == "refuse" and "observation ends" in d.blocking[0]


def test_unknown_usage_refuses_without_flag_and_proceeds_with_it() -> None:
    sig = UsageSignal(unknown_reason="PERMISSION_DENIED on policyanalyzer")
    refused = disable_decision(LIVE, VERIFIED, sig, now=T("2026-03-20T00:00:00Z"))
    assert refused.verdict == "refuse"
    assert "PERMISSION_DENIED" in refused.blocking[0] and "--accept-unknown-usage" in refused.blocking[0]
    ok = disable_decision(LIVE, VERIFIED, sig, now=T("2026-03-20T00:00:00Z"), accept_unknown="SOC ticket 42")
    assert ok.verdict == "proceed"
    assert ok.evidence["accepted_unknown_usage"] == "SOC ticket 42"


def test_unknown_usage_accepted_still_blocks_on_unmerged_project() -> None:
    migs = [Migration("mr-web", "acme/web", False)]
    d = disable_decision(LIVE, migs, UsageSignal(unknown_reason="503"), now=T("2026-03-20T00:00:00Z"),
                         accept_unknown="ok")
    assert d.verdict == "refuse" and "acme/web" in d.reason


def test_already_disabled_and_deleted_are_skips() -> None:
    assert disable_decision(DISABLED, VERIFIED, UsageSignal(), T("2026-03-20T00:00:00Z")).verdict == "skip"
    gone = LiveKey(SA, KID, exists=False)
    assert disable_decision(gone, VERIFIED, UsageSignal(), T("2026-03-20T00:00:00Z")).verdict == "skip"


def test_orphan_named_explicitly_judged_against_now() -> None:
    now = T("2026-03-20T12:00:00Z")
    recent = UsageSignal(last_authenticated=T("2026-03-20T07:00:00Z"))
    assert disable_decision(LIVE, [], recent, now, orphan=True).verdict == "refuse"
    old = UsageSignal(last_authenticated=T("2026-01-02T07:00:00Z"), observation_end=T("2026-03-20T07:00:00Z"))
    assert disable_decision(LIVE, [], old, now, orphan=True).verdict == "proceed"


def test_merge_at_now_is_not_covered_yet() -> None:
    migs = [Migration("mr-api", "acme/api", True, merged_at=T("2026-03-20T12:00:00.800Z"))]
    sig = UsageSignal(last_authenticated=T("2026-01-02T07:00:00Z"), observation_end=T("2026-03-20T07:00:00Z"))
    d = disable_decision(LIVE, migs, sig, T("2026-03-20T12:00:00Z"))
    assert d.verdict == "refuse" and "observation ends" in d.reason


def test_usage_gate_no_entry_passes() -> None:
    block, why = usage_gate(UsageSignal(), MERGED, T("2026-03-11T00:00:00Z"))
    assert block is None and "no authentication" in why


# --- delete --------------------------------------------------------------------------------------

DISABLED_AT = T("2026-03-12T08:00:00Z")


def test_delete_before_grace_refused_after_proceeds() -> None:
    early = delete_decision(DISABLED, DISABLED_AT, None, UsageSignal(), T("2026-03-20T00:00:00Z"), 14)
    assert early.verdict == "refuse" and "2026-03-26T08:00:00Z" in early.blocking[0]
    late = delete_decision(DISABLED, DISABLED_AT, None, UsageSignal(), T("2026-03-26T08:00:00Z"), 14)
    assert late.verdict == "proceed"
    assert late.evidence["grace_days"] == 14 and late.evidence["disabled_at"] == "2026-03-12T08:00:00Z"


def test_delete_refused_when_reenabled_or_rolled_back() -> None:
    now = T("2026-04-30T00:00:00Z")
    d = delete_decision(LIVE, DISABLED_AT, None, UsageSignal(), now, 14)
    assert d.verdict == "refuse" and "re-enabled" in d.reason
    d = delete_decision(DISABLED, DISABLED_AT, T("2026-03-13T00:00:00Z"), UsageSignal(), now, 14)
    assert d.verdict == "refuse" and "rolled back" in d.reason


def test_delete_refused_on_signin_attempt_after_disable() -> None:
    now = T("2026-04-30T00:00:00Z")
    after = UsageSignal(last_authenticated=T("2026-03-14T07:00:00Z"))
    assert delete_decision(DISABLED, DISABLED_AT, None, after, now, 14).verdict == "refuse"
    same_day = UsageSignal(last_authenticated=T("2026-03-12T07:00:00Z"))  # use before disabling that day
    assert delete_decision(DISABLED, DISABLED_AT, None, same_day, now, 14).verdict == "proceed"


def test_delete_unknown_usage_needs_acceptance_and_never_disabled_refused() -> None:
    now = T("2026-04-30T00:00:00Z")
    unknown = UsageSignal(unknown_reason="API unavailable")
    assert delete_decision(DISABLED, DISABLED_AT, None, unknown, now, 14).verdict == "refuse"
    assert delete_decision(DISABLED, DISABLED_AT, None, unknown, now, 14, "ok").verdict == "proceed"
    assert delete_decision(DISABLED, None, None, UsageSignal(), now, 14).verdict == "refuse"
    gone = LiveKey(SA, KID, exists=False)
    assert delete_decision(gone, DISABLED_AT, None, UsageSignal(), now, 14).verdict == "done"
