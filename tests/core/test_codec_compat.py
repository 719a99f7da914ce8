"""Files written by the build before the typed contracts still load, byte for byte.

`from_main/` holds the plan, inventory and journal the demo wrote with main at d24466b (regenerate with
`from_main/make_fixture.sh`), and the plan of tests/plan/test_consumers_e2e.py's organisation (plus
a consumer whose copying jobs sit in two files) written by main at bbfb347, before merge-request
params were typed (`from_main/make_consumers_fixture.py`): every shape of `merge_request` params the
planner wrote — one file, several under `files`, a consumer's ID-token change, a template waiting
for its consumers. Today's reader decodes them into the typed contracts and writes the plans and
the inventory back identical; a hand edit is refused by the CLI with exit 2 and the field's name.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import UTC
from pathlib import Path

import pytest
import yaml

from migrate.cli.verbs import main
from migrate.core.codec import decode_time
from migrate.core.errors import UsageError
from migrate.core.model import (
    BindingParams,
    DeleteKeyParams,
    DisableKeyParams,
    EnsureParams,
    MergeRequestParams,
    params_as,
)
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry, State
from migrate.plan import plan_io
from migrate.report.history import key_identity_of
from migrate.scan import inventory_io

HERE = Path(__file__).parent / "from_main"


def _plan_text(name: str = "plan.json.gz") -> str:
    return gzip.decompress((HERE / name).read_bytes()).decode()


def _journal() -> list[JournalEntry]:
    rows = json.loads(gzip.decompress((HERE / "journal.json.gz").read_bytes()))
    return [JournalEntry(**{**r, "ts": decode_time(r["ts"]), "evidence": json.loads(r["evidence"])}) for r in rows]


def test_mains_plan_loads_typed_and_writes_back_identical() -> None:
    text = _plan_text()
    plan = plan_io.loads(text)
    kinds = {a.kind: type(a.params) for a in plan.actions}
    assert kinds["disable_key"] is DisableKeyParams and kinds["delete_key"] is DeleteKeyParams
    assert kinds["ensure_pool"] is EnsureParams and kinds["ensure_provider"] is EnsureParams
    assert kinds["ensure_binding"] is BindingParams and kinds["merge_request"] is MergeRequestParams
    assert plan_io.dumps(plan) == text


def test_mains_inventory_loads_with_the_one_status_and_writes_back_identical() -> None:
    """Main wrote each project's status as a word of a `Literal`; it loads as that `Status` member."""
    text = gzip.decompress((HERE / "inventory.json.gz").read_bytes()).decode()
    inventory = inventory_io.loads(text)
    words = [p["status"] for p in json.loads(text)["projects"]]
    assert sorted(set(words)) == ["error", "scanned", "skipped"]  # the fixture has every word
    assert [p.status for p in inventory.projects] == words
    assert all(type(p.status) is Status for p in inventory.projects)
    assert inventory_io.dumps(inventory) == text


def test_mains_merge_requests_of_every_shape_load_typed_and_write_back_identical() -> None:
    text = _plan_text("consumers_plan.json.gz")
    plan = plan_io.loads(text)
    mrs = [params_as(a, MergeRequestParams) for a in plan.actions if a.kind == "merge_request"]
    several = [p for p in mrs if p.files]
    consumers = [p for p in mrs if p.consumer_tokens is not None]
    waiting = [p for p in mrs if p.after_merged]
    assert several and len(several[0].changes) == 2 and several[0].new_content is None
    assert consumers and all(p.consumer_check is None and p.service_accounts is None for p in consumers)
    assert waiting and all(p.consumer_check is not None for p in waiting)
    assert all(p.changes and p.changes[0].new_content for p in mrs)
    assert plan_io.dumps(plan) == text


def test_a_hand_edited_provider_step_is_refused_naming_the_field() -> None:
    data = json.loads(_plan_text())
    index, step = next((i, a) for i, a in enumerate(data["actions"]) if a["kind"] == "ensure_provider")
    step["params"]["patch"] = "attributeCondition"  # a string where the format has a list
    with pytest.raises(UsageError, match=rf"actions\[{index}\] \({step['id']}\)\.params\.patch: expected a list"):
        plan_io.from_data(data)


def test_mains_journal_names_the_key_of_every_keys_row() -> None:
    plan = plan_io.loads(_plan_text())
    actions = {a.id: a for a in plan.actions}
    rows = [e for e in _journal() if e.stage == "keys"]
    assert rows
    for e in rows:
        assert key_identity_of(e, actions), e


def test_mains_journal_rows_read_as_aware_times_and_keep_their_text(tmp_path: Path) -> None:
    """The ts column main wrote reads as aware UTC datetimes whose text is the column's, byte for byte."""
    rows = json.loads(gzip.decompress((HERE / "journal.json.gz").read_bytes()))
    state = State(tmp_path)
    with sqlite3.connect(state.path) as conn:
        conn.executemany("INSERT INTO journal (seq, ts, run_id, actor, stage, action_id, kind, target, phase, outcome,"
                         " detail, evidence) VALUES (:seq, :ts, :run_id, :actor, :stage, :action_id, :kind, :target,"
                         " :phase, :outcome, :detail, :evidence)", rows)
    entries = state.entries()
    assert [e.ts_text for e in entries] == [r["ts"] for r in rows] and rows
    assert all(e.ts.tzinfo is UTC and e.ts == decode_time(r["ts"]) for e, r in zip(entries, rows, strict=True))


@pytest.fixture()
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("T_GOOGLE", "token")
    monkeypatch.setenv("T_GITLAB", "token")
    path = tmp_path / "c.yaml"
    nowhere = "http://127.0.0.1:9"
    path.write_text(yaml.safe_dump({
        "version": 1, "gitlab": {"url": nowhere, "token_env": "T_GITLAB"},
        "scope": {"groups": ["acme"]}, "state_dir": str(tmp_path / "state"),
        "google": {"identity_project": "acme-id", "access_token_env": "T_GOOGLE",
                   "endpoints": {"iam": nowhere, "policyanalyzer": nowhere}}}))
    return path


@pytest.mark.parametrize(("edit", "named"), [
    (lambda p: p.update(file_project=p.pop("project")), "params.file_project: unknown field"),
    (lambda p: p.pop("ref"), "params.ref: missing"),
    (lambda p: p["consumer_tokens"].update(jobs=["ship"]), "params.consumer_tokens.jobs: expected an object"),
    (lambda p: p["files"][1].pop("new_content"), "params.files[1].new_content: missing"),
])
def test_a_hand_edited_merge_request_is_refused_naming_the_field(
        edit: object, named: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(_plan_text("consumers_plan.json.gz"))
    index, step = next((i, a) for i, a in enumerate(data["actions"]) if "files" in a["params"])
    edit(step["params"])  # type: ignore[operator]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    assert main(["apply", "--dry-run", str(path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"actions[{index}] ({step['id']}).{named}" in err, err


@pytest.mark.parametrize("verb", [["keys", "retire"], ["apply", "--dry-run"]])
@pytest.mark.parametrize(("edit", "named"), [
    (lambda p: p.update(retires=p.pop("key_id")), "params.retires: unknown field"),
    (lambda p: p.pop("blocked_by"), "params.blocked_by: missing"),
    (lambda p: p.update(no_use_window_days="31"), "params.no_use_window_days: expected an integer"),
])
def test_a_hand_edited_key_step_is_refused_naming_the_field(
        verb: list[str], edit: object, named: str, config: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(_plan_text())
    index, step = next((i, a) for i, a in enumerate(data["actions"]) if a["kind"] == "disable_key")
    edit(step["params"])  # type: ignore[operator]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    plan_arg = ["--plan", str(path)] if verb[0] == "keys" else [str(path)]
    assert main([*verb, *plan_arg, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"actions[{index}] ({step['id']}).{named}" in err, err
