"""An unexpected exception is a bug: the verb stops with exit 3 and says "internal error", naming it.

Expected per-item failures are typed errors converted at the adapter boundary (GitLabError,
GoogleError, …) and become rows; anything else must not turn into a per-item failed/manual/ERROR
row with exit 1. Each test makes the *library* under one adapter raise an exception no adapter
converts (a RuntimeError, as a library bug would) on the calls one stage makes, and asserts the
exact exit code 3 and the message. The same runs without the fault exit with their usual codes
(asserted exactly in the fixture), so the fault is what changes the outcome.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gitlab
import googleapiclient.http
import pytest
from helpers.sandbox_org import free_port

from migrate.cli.demo import _merge_all
from migrate.cli.verbs import main
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.slow  # a scan and plan of the demo org, then one sandbox per verb (~20 s)



@dataclasses.dataclass(frozen=True)
class Base:
    dir: Path
    gitlab_port: int
    google_port: int  # the plan names the instance URL: every sandbox of a test uses the same ports


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    """Scan and plan the demo org once (exact exit codes: keys found → 1; a plan → 0)."""
    b = Base(tmp_path_factory.mktemp("base"), free_port(), free_port())
    mp = pytest.MonkeyPatch()
    try:
        with Sandbox(load_org("demo"), now=NOW, gitlab_port=b.gitlab_port, google_port=b.google_port) as sb:
            cfg = str(sb.write_config(b.dir / "c.yaml", state_dir=str(b.dir / "state")))
            for k, v in sb.env().items():
                mp.setenv(k, v)
            assert main(["scan", "-o", str(b.dir / "inventory.json"), "--progress", "never", "--config", cfg]) == 1
            assert main(["plan", "--inventory", str(b.dir / "inventory.json"), "-o", str(b.dir / "plan.json"),
                         "--no-diff", "--config", cfg]) == 0
        yield b
    finally:
        mp.undo()


@pytest.fixture()
def sandbox(base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, str]]:
    """A fresh sandbox of the demo org with a copy of the scanned state and the plan."""
    for name in ("inventory.json", "plan.json"):
        shutil.copy(base.dir / name, tmp_path / name)
    shutil.copytree(base.dir / "state", tmp_path / "state")
    with Sandbox(load_org("demo"), now=NOW, gitlab_port=base.gitlab_port, google_port=base.google_port) as sb:
        cfg = str(sb.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)
        yield sb, cfg


def _gitlab_bug(monkeypatch: pytest.MonkeyPatch, when: Callable[[str, str], bool]) -> None:
    real = gitlab.Gitlab.http_request

    def faulty(self: Any, verb: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if when(verb, path):
            raise RuntimeError("simulated library bug")
        return real(self, verb, path, *args, **kwargs)
    monkeypatch.setattr(gitlab.Gitlab, "http_request", faulty)


def _google_bug(monkeypatch: pytest.MonkeyPatch, when: Callable[[str, str], bool]) -> None:
    real = googleapiclient.http.HttpRequest.execute

    def faulty(self: Any, *args: Any, **kwargs: Any) -> Any:
        if when(self.method, self.uri):
            raise RuntimeError("simulated library bug")
        return real(self, *args, **kwargs)
    monkeypatch.setattr(googleapiclient.http.HttpRequest, "execute", faulty)


def _internal(capsys: pytest.CaptureFixture[str]) -> None:
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated library bug" in err, err


def test_scan_exits_3_on_a_bug_under_the_reader(base: Base, sandbox: tuple[Sandbox, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    _gitlab_bug(monkeypatch, lambda verb, path: "/variables" in path)
    assert main(["scan", "-o", str(tmp_path / "i.json"), "--progress", "never", "--config", cfg]) == 3
    _internal(capsys)


def test_apply_exits_3_instead_of_a_failed_row(sandbox: tuple[Sandbox, str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    _google_bug(monkeypatch, lambda method, uri: "workloadIdentityPools" in uri)
    assert main(["apply", str(tmp_path / "plan.json"), "--progress", "never", "--config", cfg]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated library bug" in err
    assert "internal error while applying ensure_pool:" in err  # the log line names the action


def test_verify_exits_3_instead_of_a_failed_row(sandbox: tuple[Sandbox, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    sb, cfg = sandbox
    plan = str(tmp_path / "plan.json")
    assert main(["apply", plan, "--progress", "never", "--config", cfg]) == 0
    _merge_all(sb, cfg, Path(plan))
    _gitlab_bug(monkeypatch, lambda verb, path: "/merge_requests" in path)
    assert main(["verify", "--plan", plan, "--config", cfg]) == 3
    _internal(capsys)


def test_keys_retire_exits_3_on_a_bug_under_the_key_admin(sandbox: tuple[Sandbox, str], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    _google_bug(monkeypatch, lambda method, uri: "/keys" in uri)
    assert main(["keys", "retire", "--plan", str(tmp_path / "plan.json"), "--config", cfg]) == 3
    _internal(capsys)


def test_plan_exits_3_on_a_bug_reading_the_ci_files(sandbox: tuple[Sandbox, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    # The plan uses the CI texts the scan kept (state table `texts`) and reads from GitLab only what
    # it lacks: forget them, so the plan must read the files and meets the bug there.
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        assert db.execute("DELETE FROM texts").rowcount > 0
    _gitlab_bug(monkeypatch, lambda verb, path: "/repository/files" in path)
    assert main(["plan", "--inventory", str(tmp_path / "inventory.json"), "-o", str(tmp_path / "p.json"),
                 "--no-diff", "--config", cfg]) == 3
    _internal(capsys)
    assert not (tmp_path / "p.json").exists()  # no plan written from half the reads


def test_check_exits_3_on_a_bug_under_the_reader(sandbox: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    _gitlab_bug(monkeypatch, lambda verb, path: "/variables" in path)
    assert main(["check", "--progress", "never", "--config", cfg]) == 3
    _internal(capsys)


def test_report_exits_3_on_a_bug_reading_the_commits(sandbox: tuple[Sandbox, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    argv = ["report", "--format", "gitlab", "--out", str(tmp_path / "r"), "--config", cfg]
    assert main(argv) == 0
    _gitlab_bug(monkeypatch, lambda verb, path: "/repository/files" in path)
    assert main(argv) == 3
    _internal(capsys)


def test_keys_delete_and_orphans_exit_3_on_a_bug_under_the_key_admin(sandbox: tuple[Sandbox, str],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, cfg = sandbox
    plan = str(tmp_path / "plan.json")
    assert main(["keys", "delete", "--dry-run", "--plan", plan, "--config", cfg]) == 1  # not disabled yet: refused
    assert main(["keys", "orphans", "--plan", plan, "--config", cfg]) == 0
    _google_bug(monkeypatch, lambda method, uri: "/keys" in uri)
    capsys.readouterr()
    assert main(["keys", "delete", "--dry-run", "--plan", plan, "--config", cfg]) == 3
    _internal(capsys)
    assert main(["keys", "orphans", "--plan", plan, "--config", cfg]) == 3
    _internal(capsys)
