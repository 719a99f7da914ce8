"""State journal and run lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrate.core.errors import LockedError
from migrate.core.state import RunLock, State


def test_journal_intent_outcome_and_unfinished(tmp_path: Path) -> None:
    state = State(tmp_path, actor="tester")
    state.intent("apply", "a1", "ensure_pool", "pools/gitlab")
    state.outcome("apply", "a1", "ensure_pool", "pools/gitlab", "applied", evidence={"op": "x"})
    state.intent("apply", "a2", "ensure_provider", "providers/gitlab")
    assert [e.action_id for e in state.unfinished()] == ["a2"]
    last = state.last_outcome("a1")
    assert last is not None and last.outcome == "applied" and last.evidence == {"op": "x"}
    assert State(tmp_path).entries(action_id="a1")[0].actor == "tester"


def test_snapshots(tmp_path: Path) -> None:
    state = State(tmp_path)
    assert state.latest_snapshot("inventory") is None
    state.save_snapshot("inventory", {"n": 1})
    state.save_snapshot("inventory", {"n": 2})
    assert state.latest_snapshot("inventory") == {"n": 2}
    assert [b["n"] for _, b in state.snapshots("inventory")] == [1, 2]


def test_second_process_is_refused_with_clear_message(tmp_path: Path) -> None:
    with RunLock(tmp_path, "apply"):
        code = (f"from migrate.core.state import RunLock\n"
                f"with RunLock({str(tmp_path)!r}, 'keys retire'): pass\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode != 0
        assert "another wif-migrate run holds" in proc.stderr and "apply pid" in proc.stderr
    with RunLock(tmp_path, "again"):  # released after the first exits
        pass


def test_lock_is_exclusive_in_process(tmp_path: Path) -> None:
    with RunLock(tmp_path, "one"), pytest.raises(LockedError):
        RunLock(tmp_path, "two").__enter__()
