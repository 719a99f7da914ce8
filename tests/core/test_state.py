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


def test_a_snapshot_from_a_file_reads_back_as_the_file(tmp_path: Path) -> None:
    """`plan` stores the plan file it wrote as the snapshot, copied in chunks (issue 18): the body
    reads back as that JSON, bigger than one chunk and with non-ASCII text intact, and a failed copy
    leaves no half snapshot behind."""
    import json

    body = {"kind": "wif-migrate/plan", "actions": [{"id": f"a{i}", "text": "é" * 300} for i in range(5000)]}
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert plan.stat().st_size > 1 << 20  # more than one chunk
    state = State(tmp_path / "state")
    state.save_snapshot("plan", {"n": 1})
    state.save_snapshot_file("plan", plan)
    assert state.latest_snapshot("plan") == body
    assert [b.get("n") for _, b in state.snapshots("plan")] == [1, None]
    with pytest.raises(FileNotFoundError):
        state.save_snapshot_file("plan", tmp_path / "missing.json")
    plan.write_text("{", encoding="utf-8")

    class Broken(State):
        def now(self) -> str:
            raise RuntimeError("clock broke mid-copy")

    with pytest.raises(RuntimeError):
        Broken(tmp_path / "state").save_snapshot_file("plan", plan)
    assert state.latest_snapshot("plan") == body


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
