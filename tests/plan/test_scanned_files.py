"""`plan` takes the CI files the scan read from the state, only where provably unchanged (issue 18).

The scan keeps each CI text it read by its sha256 and lists per file the ids GitLab answered
with it (`FileBlob`); `migrate.plan.scanned_files` uses a kept text only when it hashes to the
record. Against the sandbox (real python-gitlab over HTTP): the files the plan is built from are
exactly the ones a live read gives, while GitLab is asked for none of the recorded files; a text
damaged in the state is read from GitLab again (and a check that trusted it would be caught);
a file holding key material is never kept; a file changed since the scan keeps the scanned ids,
so `apply` sees the change.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest

from migrate.core.config import Config, parse_config
from migrate.core.model import Inventory
from migrate.core.progress import Progress, SilentProgress
from migrate.core.state import State
from migrate.plan import scanned_files as scanned_module
from migrate.plan.ports import FileId, FileText, PlanGitLab
from migrate.plan.runner import PlanRequest, gather, wanted_files
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org
from migrate.scan.ci_files import FileKey, keepable

KEY_HEADER = "-----BEGIN " + "PRIVATE KEY-----"  # built at run time: no key block in the repository


class CountingGitLab:
    """The plan's real GitLab reads, noting which files it was asked for."""

    def __init__(self, inner: PlanGitLab) -> None:
        self.inner = inner
        self.asked: set[FileId] = set()

    def discovered_issuer(self) -> str:
        return self.inner.discovered_issuer()

    def jwks_json(self) -> str:
        return self.inner.jwks_json()

    def ci_files(self, wanted: Iterable[FileId], progress: Progress) -> dict[FileId, FileText | str]:
        wanted = set(wanted)
        self.asked |= wanted
        return self.inner.ci_files(wanted, progress)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_org("demo")) as sb:
        saved = dict(os.environ)
        os.environ.update(sb.env())
        try:
            yield sb
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture
def world(sandbox: Sandbox, tmp_path: Path) -> tuple[Sandbox, Config]:
    """The sandbox and a configuration with a state of its own (each test damages its own)."""
    return sandbox, parse_config(sandbox.config_dict(state_dir=str(tmp_path / "state")))


def scan_keeping(config: Config) -> tuple[Inventory, State]:
    from migrate.cli.scan import run_scan

    state = State(config.state_dir)
    sink = state.text_sink()
    inventory, _stats = run_scan(config, SilentProgress(), texts=sink)
    sink.flush()
    return inventory, state


def files_of(config: Config, inventory: Inventory, texts: Any) -> tuple[dict[FileId, Any], set[FileId]]:
    from migrate.cli.plan import plan_sources

    gl, google = plan_sources(config, offline=False, number=None)
    assert gl is not None
    counting = CountingGitLab(gl)
    facts = gather(inventory, config, PlanRequest(), counting, google, texts=texts).facts
    return dict(facts.files), counting.asked


def test_the_plan_reads_what_a_live_read_gives_without_reading_the_recorded_files(world: Any) -> None:
    _sb, config = world
    inventory, state = scan_keeping(config)
    recorded = {(b.project, b.path, b.ref) for b in inventory.file_blobs}
    wanted = wanted_files(inventory)
    assert len(recorded & wanted) >= 5, "the demo's keyed files were recorded"
    live, asked_live = files_of(config, inventory, None)
    kept, asked_kept = files_of(config, inventory, state)
    assert kept == live  # content, blob id and commit id of every file the plan is built from
    assert asked_live == wanted
    assert asked_kept == wanted - recorded  # no recorded file was read from GitLab again
    assert all(isinstance(f, FileText) and f.blob_id for k, f in kept.items() if k in recorded)


def test_a_text_damaged_in_the_state_is_read_again_and_a_trusting_check_is_caught(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _sb, config = world
    inventory, state = scan_keeping(config)
    live, _asked = files_of(config, inventory, None)
    blob = next(b for b in inventory.file_blobs if (b.project, b.path, b.ref) in live)
    with sqlite3.connect(Path(config.state_dir) / "state.db") as db:
        db.execute("UPDATE texts SET body = body || ? WHERE sha256 = ?", ("\n# edited\n", blob.sha256))
    kept, asked = files_of(config, inventory, state)
    assert kept == live and (blob.project, blob.path, blob.ref) in asked
    # the comparison can fail: a check that does not hash the kept text plans the damaged one
    monkeypatch.setattr(scanned_module, "sha256_text", lambda text: blob.sha256)
    trusting, _asked = files_of(config, inventory, state)
    assert trusting != live


def test_a_file_changed_since_the_scan_keeps_the_scanned_ids(world: Any) -> None:
    sb, config = world
    inventory, state = scan_keeping(config)
    live_before, _asked = files_of(config, inventory, None)
    blob = next(b for b in inventory.file_blobs if (b.project, b.path, b.ref) in live_before and "/" in b.project)
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    project = gl.projects.get(blob.project)
    before = live_before[(blob.project, blob.path, blob.ref)]
    project.commits.create({"branch": blob.ref, "commit_message": "edit after the scan", "actions": [
        {"action": "update", "file_path": blob.path, "content": before.content + "\n# changed after the scan\n"}]})
    try:
        live_after, _asked = files_of(config, inventory, None)
        kept, _asked = files_of(config, inventory, state)
        key = (blob.project, blob.path, blob.ref)
        assert kept[key] == before  # the scanned text and its ids ...
        assert live_after[key].blob_id != before.blob_id  # ... which apply compares with the live file
    finally:
        project.commits.create({"branch": blob.ref, "commit_message": "undo", "actions": [
            {"action": "update", "file_path": blob.path, "content": before.content}]})


def test_a_text_with_key_material_is_never_kept(world: Any) -> None:
    sb, config = world
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    inventory, _state = scan_keeping(config)
    blob = next(b for b in inventory.file_blobs if "/" in b.project)
    project = gl.projects.get(blob.project)
    original = project.files.raw(file_path=blob.path, ref=blob.ref).decode()
    pasted = original + f"\n# {KEY_HEADER}\n"
    project.commits.create({"branch": blob.ref, "commit_message": "paste", "actions": [
        {"action": "update", "file_path": blob.path, "content": pasted}]})
    try:
        inventory, _state = scan_keeping(config)
        assert (blob.project, blob.path, blob.ref) not in {(b.project, b.path, b.ref) for b in inventory.file_blobs}
        with sqlite3.connect(Path(config.state_dir) / "state.db") as db:
            bodies = [r[0] for r in db.execute("SELECT body FROM texts")]
        assert bodies and not any("PRIVATE KEY" in b for b in bodies)
    finally:
        project.commits.create({"branch": blob.ref, "commit_message": "undo", "actions": [
            {"action": "update", "file_path": blob.path, "content": original}]})


@pytest.mark.parametrize(("key", "text", "kept"), [
    (FileKey("acme/app", ".gitlab-ci.yml", "main"), "job:\n  script: [deploy]\n", True),
    (FileKey("acme/app", ".gitlab-ci.yml", "main"), 'x: {"private_key": "..."}\n', False),
    (FileKey("acme/app", ".gitlab-ci.yml", "main"), f"# {KEY_HEADER}\n", False),
    (FileKey("@gitlab-templates", "Terraform.gitlab-ci.yml"), "job: {}\n", False),
    (FileKey("@remote", "https://example.com/ci.yml"), "job: {}\n", False),
])
def test_what_may_be_kept(key: FileKey, text: str, kept: bool) -> None:
    assert keepable(key, text) is kept
