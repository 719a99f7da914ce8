"""Rollback sticks and short key ids (issue 16 §4), on the pure parts: the journal and the resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.errors import UsageError
from migrate.retire import resolve_key_id, standing_rollback
from migrate.state import State

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
    assert rolled is not None and rolled.reason == "broke" and rolled.ts == "2026-01-02T00:00:00Z"
    assert standing_rollback(state, res.replace(IDS[0], IDS[1])) is None
    state.outcome("keys", "d", "disable_key", res, "applied", "", {})
    assert standing_rollback(state, res) is None
