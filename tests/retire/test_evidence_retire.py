"""Rollback sticks and short key ids (issue 16 §4), on the pure parts: the journal and the resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.core.codec import decode_time
from migrate.core.errors import UsageError
from migrate.core.state import State
from migrate.retire.runner import resolve_key_id, standing_rollback

IDS = ["ab12cd34" + "0" * 32, "ab12ff00" + "1" * 32, "9f" * 20]


def test_unique_prefixes_resolve_and_ambiguous_ones_list_the_matches() -> None:
    assert resolve_key_id("ab12cd34", IDS) == IDS[0]
    assert resolve_key_id("AB12FF", IDS) == IDS[1]
    assert resolve_key_id(IDS[2], IDS) == IDS[2]
    with pytest.raises(UsageError) as err:
        resolve_key_id("ab12", IDS)
    assert IDS[0] in str(err.value) and IDS[1] in str(err.value) and "ambiguous" in str(err.value)
    with pytest.raises(UsageError):
        resolve_key_id("ab", IDS)  # too short to mean anything
    assert resolve_key_id("cafe", IDS) == "cafe"  # unknown here: the caller decides


def test_a_rollback_stands_until_a_later_disable(tmp_path: Path) -> None:
    state = State(tmp_path, actor="ops", clock=iter(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z",
                                                     "2026-01-03T00:00:00Z"]).__next__)
    res = "projects/p/serviceAccounts/a@p.iam.gserviceaccount.com/keys/" + IDS[0]
    state.outcome("keys", "d", "disable_key", res, "applied", "", {})
    assert standing_rollback(state, res) is None
    state.outcome("keys", "d", "rollback_key", res, "applied", "re-enabled: broke", {"reason": "broke", "who": "ops"})
    rolled = standing_rollback(state, res)
    assert rolled is not None and rolled.reason == "broke" and rolled.ts == decode_time("2026-01-02T00:00:00Z")
    assert standing_rollback(state, res.replace(IDS[0], IDS[1])) is None
    state.outcome("keys", "d", "disable_key", res, "applied", "", {})
    assert standing_rollback(state, res) is None


def test_jobs_that_did_not_run_block_retirement_unless_accepted_by_name(tmp_path: Path) -> None:
    from migrate.retire.runner import migrations_from_journal

    state = State(tmp_path, actor="ops")
    mr = ("merge_request:acme/release:.gitlab-ci.yml", "acme/release:.gitlab-ci.yml@main")
    evidence = {"merged_at": "2026-01-01T00:00:00Z", "acceptable": True,
                "unverified_jobs": [{"project": "acme/release", "job": "publish", "reason": "did not run"}]}
    state.outcome("verify", mr[0], "verify", mr[1], "skipped", "pipeline 4: job publish: did not run", evidence)
    (m,) = migrations_from_journal(state, [mr])
    assert not m.verified and "--accept-job acme/release:publish" in m.detail
    (m,) = migrations_from_journal(state, [mr], ["acme/release:build"])  # another job: still blocked
    assert not m.verified
    (m,) = migrations_from_journal(state, [mr], ["acme/release:publish"])
    assert m.verified and m.accepted_jobs == ("acme/release:publish",)
    # a failure is never acceptable by name
    state.outcome("verify", mr[0], "verify", mr[1], "failed", "job publish failed", {**evidence, "acceptable": False})
    (m,) = migrations_from_journal(state, [mr], ["acme/release:publish"])
    assert not m.verified
