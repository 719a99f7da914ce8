"""Reliability and security across commands, on the demo org in the sandbox (real clients over HTTP).

1. Crash and resume, at every mutating step (pool, provider, binding, commit+branch, MR, key
   disable, key delete), two ways: the server applies a write and the connection drops before the
   client hears (`drop_after`: the same run re-reads and reports `applied`), and the run is killed
   with SIGKILL while the applied write is unanswered (`hang_after`: the journal is left with an
   intent and no outcome). Either way a re-run converges to one pool, one provider, bindings
   present once (others' kept), one branch and one open MR per action, each key disabled/deleted
   once, and the journal's last word for every action is true. A second mutating run, in-process or
   while another process holds the lock, is refused and writes nothing.
2. Secret canary: no 16-character piece of any issued private key reaches output, logs, state,
   plan, inventory, reports, or GitLab branches/commits/MRs.
3. Permissions: a missing GitLab role or token scope, or a Google permission, is named in the
   error; a token without `api` is refused before apply or keys delete change anything.

Scan and plan run once per module on fixed ports; each test starts its own sandbox on those ports
(the org's seed makes the same keys), so the plan's issuer and key ids hold.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gitlab
import pytest
import yaml
from helpers.sandbox_org import free_port

from migrate.cli.demo import _merge_all
from migrate.cli.verbs import main
from migrate.core.state import RunLock, State, wait_for
from migrate.plan import plan_io
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import OrgFile, load_org

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ROLE = "roles/iam.workloadIdentityUser"



@dataclasses.dataclass(frozen=True)
class Base:
    org: OrgFile
    gitlab_port: int
    google_port: int
    dir: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    """Scan and plan the demo org once; tests copy the result and start their own sandbox."""
    org = load_org("demo")
    b = Base(org, free_port(), free_port(), tmp_path_factory.mktemp("base"))
    mp = pytest.MonkeyPatch()
    try:
        with Sandbox(org, now=NOW, gitlab_port=b.gitlab_port, google_port=b.google_port) as sb:
            cfg = str(sb.write_config(b.dir / "c.yaml", state_dir=str(b.dir / "state")))
            for k, v in sb.env().items():
                mp.setenv(k, v)
            assert main(["scan", "-o", str(b.dir / "inventory.json"), "--progress", "never",
                         "--config", cfg]) == 1
            assert main(["plan", "--inventory", str(b.dir / "inventory.json"), "-o", str(b.dir / "plan.json"),
                         "--no-diff", "--config", cfg]) == 0
        yield b
    finally:
        mp.undo()


@dataclasses.dataclass
class Run:
    sb: Sandbox
    dir: Path
    cfg: str

    @property
    def state_dir(self) -> Path:
        return self.dir / "state"

    @property
    def plan(self) -> str:
        return str(self.dir / "plan.json")

    def cli(self, *argv: str) -> int:
        return main([*argv, "--config", self.cfg])


@pytest.fixture()
def run(base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    for name in ("inventory.json", "plan.json", "c.yaml"):
        shutil.copy(base.dir / name, tmp_path / name)
    shutil.copytree(base.dir / "state", tmp_path / "state")
    with Sandbox(base.org, now=NOW, gitlab_port=base.gitlab_port, google_port=base.google_port) as sb:
        cfg = str(sb.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)
        yield Run(sb, tmp_path, cfg)


def restart(run: Run, base: Base, org: OrgFile) -> Sandbox:
    """Replace the run's sandbox with one serving `org` on the same ports (the plan still holds)."""
    run.sb.stop()
    run.sb = Sandbox(org, now=NOW, gitlab_port=base.gitlab_port, google_port=base.google_port).start()
    return run.sb


# --- state probes ---------------------------------------------------------------------------------
def policies(sb: Sandbox) -> dict[str, dict[str, list[str]]]:
    """Every service account's policy: email → role → members (as stored, duplicates kept)."""
    assert sb.google is not None
    world: Any = sb.google.world  # type: ignore[attr-defined]
    with sb.google.lock:
        return {email: {b["role"]: list(b.get("members", [])) for b in sa.policy.bindings}
                for email, sa in world.service_accounts.items()}


def providers(sb: Sandbox) -> list[str]:
    assert sb.google is not None
    world: Any = sb.google.world  # type: ignore[attr-defined]
    with sb.google.lock:
        return [p.name for pool in world.pools.values() for p in pool.providers.values() if p.state == "ACTIVE"]


def mr_projects(plan_file: str) -> list[str]:
    return sorted({a.params.project for a in plan_io.read(Path(plan_file)).actions if a.kind == "merge_request"})


def mr_state(sb: Sandbox, plan_file: str, prefix: str = "wif-migrate/") -> tuple[dict[str, list[str]], dict[str, int]]:
    """Per project of the plan's MRs: wif-migrate branches, and the number of open MRs from each branch."""
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    branches: dict[str, list[str]] = {}
    open_mrs: dict[str, int] = {}
    for path in mr_projects(plan_file):
        project = gl.projects.get(path)
        names = [b.name for b in project.branches.list(iterator=True) if b.name.startswith(prefix)]
        if names:
            branches[project.path_with_namespace] = names
        for mr in project.mergerequests.list(state="opened", iterator=True):
            if mr.source_branch.startswith(prefix):
                key = f"{project.path_with_namespace}:{mr.source_branch}"
                open_mrs[key] = open_mrs.get(key, 0) + 1
    return branches, open_mrs


def journal(state_dir: Path, stage: str, action_prefix: str) -> list[tuple[str, str, str | None]]:
    return [(e.action_id, e.phase, e.outcome) for e in State(state_dir).entries(stage=stage)
            if e.action_id.startswith(action_prefix)]


# --- 1. crash and resume: apply ---------------------------------------------------------------------
APPLY_ROUTES = {
    "pool": ("POST", r"/workloadIdentityPools$", "ensure_pool:"),
    "provider": ("POST", r"/workloadIdentityPools/[^/]+/providers$", "ensure_provider:"),
    "binding": ("POST", r":setIamPolicy$", "ensure_binding:"),
    "commit+branch": ("POST", r"/repository/commits$", "merge_request:"),
    "merge_request": ("POST", r"/merge_requests$", "merge_request:"),
}


@pytest.mark.parametrize("route", sorted(APPLY_ROUTES))
def without_pools(org: OrgFile) -> OrgFile:
    """The org before any federation: no workload identity pool anywhere (so apply creates one)."""
    google = dict(org.google)
    google["projects"] = [{**p, "workload_identity_pools": []} for p in google["projects"]]
    return dataclasses.replace(org, google=google)


def pools(sb: Sandbox) -> list[str]:
    assert sb.google is not None
    world: Any = sb.google.world  # type: ignore[attr-defined]
    with sb.google.lock:
        return [p.name for p in world.pools.values() if p.state == "ACTIVE"]


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(APPLY_ROUTES))
def test_apply_resumes_after_a_dropped_write(run: Run, base: Base, route: str) -> None:
    method, regex, action_prefix = APPLY_ROUTES[route]
    if route == "pool":  # the demo org has its pool already: start from an org without one
        restart(run, base, without_pools(base.org))
        assert not pools(run.sb)
    try:
        _dropped_write_converges(run, method, regex, action_prefix)
    finally:
        run.sb.stop()


def _dropped_write_converges(run: Run, method: str, regex: str, action_prefix: str) -> None:
    sb = run.sb
    app = sb.gitlab if "merge_request" in action_prefix else sb.google
    assert app is not None
    before = policies(sb)
    app.add_fault(Fault(method, regex, count=1, mode="drop_after"))

    first = run.cli("apply", run.plan)
    dropped = [e for e in app.requests_log() if e["status"] == 0 and re.search(regex, e["path"])]
    assert len(dropped) == 1, f"the {action_prefix} write was not attempted"
    # The first run tells the truth: the write whose answer was lost is found on re-read and taken over.
    assert first == 0, "the run that lost an answer did not finish"
    entries = State(run.state_dir).entries(stage="apply")
    crashed_ids = {e.action_id for e in entries if e.action_id.startswith(action_prefix)}
    assert crashed_ids
    outcomes = [e for e in entries if e.action_id in crashed_ids and e.phase == "outcome"]
    assert outcomes and all(e.outcome in ("applied", "skipped") for e in outcomes), \
        [(e.action_id, e.outcome, e.detail) for e in outcomes]
    if method == "POST":
        # A write retried by the client meets "already exists" (or a changed etag): the detail says
        # the answer was lost, and the step counts as applied, not as found "already bound".
        assert [e for e in outcomes if e.outcome == "applied" and "answer" in e.detail and "lost" in e.detail], \
            [(e.action_id, e.outcome, e.detail) for e in outcomes]

    app.faults.clear()
    second = run.cli("apply", run.plan)
    assert second == 0, "re-run after the crash failed"
    _converged(run, before, crashed_ids)


def _converged(run: Run, before: dict[str, dict[str, list[str]]], crashed_ids: set[str]) -> None:
    sb = run.sb
    # Converged: one pool, one provider; every binding member once; the bindings that were there are kept.
    assert len(pools(sb)) == 1 and len(providers(sb)) == 1
    after = policies(sb)
    for email, roles in after.items():
        for role, members in roles.items():
            assert len(members) == len(set(members)), f"{email} {role} has a duplicate member"
        for role, members in before.get(email, {}).items():
            assert set(members) <= set(roles.get(role, [])), f"{email}: others' {role} binding dropped"
    added = {e: set(r.get(ROLE, [])) - set(before.get(e, {}).get(ROLE, [])) for e, r in after.items()}
    assert sum(len(m) for m in added.values()) > 0
    branches, open_mrs = mr_state(sb, run.plan)
    journal = State(run.state_dir).entries(stage="apply")
    mr_actions = [e for e in journal if e.action_id.startswith("merge_request:") and e.phase == "intent"]
    # a shared template whose consumers copy its sign-in waits for their MRs to be merged (no branch yet)
    last = {e.action_id: e for e in journal if e.phase == "outcome"}
    waiting = {a for a, e in last.items() if e.detail.startswith("waiting for")}
    n_mr_actions = len({e.action_id for e in mr_actions} - waiting)
    assert sum(len(b) for b in branches.values()) == n_mr_actions, branches
    assert len(open_mrs) == n_mr_actions and set(open_mrs.values()) == {1}, open_mrs

    # The journal: both attempts' intents are there, and every action's last word is true.
    entries = State(run.state_dir).entries(stage="apply")
    for action_id in crashed_ids:
        mine = [e for e in entries if e.action_id == action_id]
        assert sum(e.phase == "intent" for e in mine) >= 2, f"{action_id}: no intent for both attempts"
        assert mine[-1].phase == "outcome" and mine[-1].outcome in ("applied", "skipped"), mine[-1]
    # Every outcome of the crashed steps is one of the journal's words; none is left without one.
    for e in entries:
        if e.action_id in crashed_ids and e.phase == "outcome":
            assert e.outcome in ("applied", "skipped", "failed"), e


# A real kill: the write is applied and unanswered (`hang_after`) when the run gets SIGKILL, so
# no cleanup, no outcome, no retry. Meanwhile a second run is refused by the lock the first holds.
def _start(run: Run, *argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "migrate", *argv, "--config", run.cfg],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))


def _kill_when_written(run: Run, app: Any, regex: str, proc: subprocess.Popen[bytes], *second_run: str) -> None:
    try:
        hung = wait_for(lambda: any(e["status"] == 0 and re.search(regex, e["path"])
                                    for e in app.requests_log()), timeout=90)
        assert hung, f"no write matching {regex} reached the server (exit {proc.poll()})"
        writes_before = len(app.mutating_requests())
        assert run.cli(*second_run) == 1, "a second run went ahead while the first held the lock"  # refused: exit 1, as apply's
        assert len(app.mutating_requests()) == writes_before  # the refused run wrote nothing
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        app.hung.set()  # let the server's hung connection go


def _report_errors(run: Run) -> list[dict[str, Any]]:
    out = run.dir / "report"
    run.cli("report", "--out", str(out), "--format", "json", "--plan", run.plan,
            "--inventory", str(run.dir / "inventory.json"), "--now", run.sb.clock.iso())
    errors: list[dict[str, Any]] = json.loads((out / "report.json").read_text(encoding="utf-8"))["errors"]
    return errors


def _unfinished(state_dir: Path, stage: str) -> list[str]:
    """Actions whose last journal word is an intent: what a killed run was doing."""
    last: dict[str, str] = {}
    for e in State(state_dir).entries(stage=stage):
        last[e.action_id] = e.phase
    return [a for a, phase in last.items() if phase == "intent"]


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(APPLY_ROUTES))
def test_apply_killed_right_after_a_write_resumes(run: Run, base: Base, route: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    method, regex, action_prefix = APPLY_ROUTES[route]
    if route == "pool":
        restart(run, base, without_pools(base.org))
    try:
        sb = run.sb
        app = sb.gitlab if "merge_request" in action_prefix else sb.google
        assert app is not None
        before = policies(sb)
        app.add_fault(Fault(method, regex, count=1, mode="hang_after", delay_s=120))
        _kill_when_written(run, app, regex, _start(run, "apply", run.plan), "apply", run.plan)
        assert "another wif-migrate run holds" in capsys.readouterr().err
        unfinished = _unfinished(run.state_dir, "apply")
        assert len(unfinished) == 1 and unfinished[0].startswith(action_prefix), unfinished
        # The report does not hide it: an ERROR row says the step was interrupted.
        assert [e["reason"] for e in _report_errors(run) if e["subject"] == f"apply:{unfinished[0]}"
                and e["reason"].startswith("interrupted:")], _report_errors(run)
        app.faults.clear()
        assert run.cli("apply", run.plan) == 0, "re-run after the kill failed"  # the lock died with the process
        assert f"an earlier apply run stopped during 1 step(s) ({unfinished[0]})" in capsys.readouterr().err
        _converged(run, before, set(unfinished))
        assert not _unfinished(run.state_dir, "apply")
        assert not [e for e in _report_errors(run) if e["reason"].startswith("interrupted:")]
    finally:
        run.sb.stop()


@pytest.mark.slow
def test_keys_killed_right_after_disable_and_delete_resume(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    sb = ready_to_retire(run)
    assert sb.google is not None
    for verb, method, regex, done_index, days in KEY_STEPS:
        before = key_states(sb)
        sb.google.hung.clear()
        sb.google.add_fault(Fault(method, regex, count=1, mode="hang_after", delay_s=120))
        argv = ("keys", verb, "--plan", run.plan, "--now", sb.clock.iso())
        _kill_when_written(run, sb.google, regex, _start(run, *argv), *argv)
        unfinished = _unfinished(run.state_dir, "keys")
        assert len(unfinished) == 1, unfinished
        sb.google.faults.clear()
        capsys.readouterr()
        assert run.cli(*argv) == 1, f"keys {verb} after the kill"  # 1: some keys still gated
        assert "an earlier keys run stopped during 1 step(s)" in capsys.readouterr().err
        assert not _unfinished(run.state_dir, "keys")
        done = {k for k, st in key_states(sb).items() if st[done_index] and not before[k][done_index]}
        assert done, f"keys {verb}: nothing changed"
        per_key = key_writes(sb, regex)
        assert all(n == 1 for n in per_key.values()), per_key  # the killed write is not repeated
        assert_keys_journaled(run, done)
        sb.google.log.clear()
        sb.clock.advance(timedelta(days=days))


# --- 1. crash and resume: keys ------------------------------------------------------------------------
def key_states(sb: Sandbox) -> dict[str, tuple[bool, bool]]:
    assert sb.google is not None
    world: Any = sb.google.world  # type: ignore[attr-defined]
    with sb.google.lock:
        return {k.key_id: (k.disabled, k.deleted) for k in world.keys.values()}


KEY_STEPS = (("retire", "POST", r"/keys/[^/]+:disable$", 0, 15),  # verb, method, path, state index, days after
             ("delete", "DELETE", r"/keys/[^/:]+$", 1, 0))


def ready_to_retire(run: Run) -> Sandbox:
    """Apply, merge, verify, and two days later: the state in which `keys retire` can act."""
    sb = run.sb
    assert sb.google is not None
    assert run.cli("apply", run.plan) == 0
    _merge_all(sb, run.cfg, Path(run.plan))
    run.cli("verify", "--plan", run.plan)
    sb.clock.advance(timedelta(days=2))
    return sb


def key_writes(sb: Sandbox, regex: str) -> dict[str, int]:
    """Key id → number of mutating requests on it matching `regex`."""
    assert sb.google is not None
    per_key: dict[str, int] = {}
    for e in sb.google.mutating_requests():
        if re.search(regex, e["path"]):
            kid = re.search(r"/keys/([^/:]+)", e["path"]).group(1)  # type: ignore[union-attr]
            per_key[kid] = per_key.get(kid, 0) + 1
    return per_key


def assert_keys_journaled(run: Run, keys: set[str]) -> None:
    """Each key has an intent and, last, a true outcome in the keys journal."""
    entries = State(run.state_dir).entries(stage="keys")
    for kid in keys:
        mine = [e for e in entries if kid in e.action_id or kid in e.target]
        assert any(e.phase == "intent" for e in mine), f"{kid}: no intent"
        last = [e for e in mine if e.phase == "outcome"][-1]
        assert last.outcome in ("applied", "skipped"), last


def test_keys_retire_and_delete_resume_after_dropped_writes(run: Run) -> None:
    sb = ready_to_retire(run)
    assert sb.google is not None
    before = key_states(sb)

    for verb, method, regex, done_index, days in KEY_STEPS:
        sb.google.add_fault(Fault(method, regex, count=1, mode="drop_after"))
        sb.google.log.clear()
        if verb == "delete":  # the GitLab side too: a variable deleted whose answer is lost
            sb.gitlab.add_fault(Fault("DELETE", r"/variables/[^/]+$", count=1, mode="drop_after"))
            sb.gitlab.log.clear()
        run.cli("keys", verb, "--plan", run.plan, "--now", sb.clock.iso())
        assert [e for e in sb.google.requests_log() if e["status"] == 0], f"keys {verb}: no write attempted"
        sb.google.faults.clear()
        if verb == "delete":
            dropped = [e["path"] for e in sb.gitlab.requests_log() if e["status"] == 0]
            assert len(dropped) == 1, "no variable delete was attempted"
            sb.gitlab.faults.clear()
        # Exit 1: some keys are refused by the evidence gates (their projects need manual work).
        assert run.cli("keys", verb, "--plan", run.plan, "--now", sb.clock.iso()) == 1, f"keys {verb}"
        done = {k for k, s in key_states(sb).items() if s[done_index] and not before[k][done_index]}
        assert done, f"keys {verb}: nothing changed"
        # Each key written at most twice (the dropped attempt, the one after); none left half-done.
        per_key = key_writes(sb, regex)
        assert all(n <= 2 for n in per_key.values()), per_key
        assert sum(n == 2 for n in per_key.values()) <= 1, per_key
        assert_keys_journaled(run, done)
        if verb == "delete":
            gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
            with pytest.raises(gitlab.exceptions.GitlabHttpError) as gone:  # deleted once, and it stays deleted
                gl.http_get(dropped[0].removeprefix("/api/v4"))
            assert gone.value.response_code == 404
            deletes = [e for e in sb.gitlab.mutating_requests() if e["path"] == dropped[0]]
            assert len(deletes) <= 2, deletes  # the dropped attempt and at most the client's retry
        before = key_states(sb)
        sb.clock.advance(timedelta(days=days))


def test_a_second_mutating_run_is_refused(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with RunLock(run.state_dir, "test"):
        code = run.cli("apply", run.plan)
    err = capsys.readouterr().err
    assert code == 1
    assert "another wif-migrate run holds" in err
    assert run.sb.google is not None
    assert not run.sb.google.mutating_requests() and not run.sb.gitlab.mutating_requests()
    assert not State(run.state_dir).entries(stage="apply")  # nothing journaled: nothing was attempted


# --- 2. secret canary ----------------------------------------------------------------------------------
def pem_windows(sb: Sandbox, n: int = 16) -> set[str]:
    out: set[str] = set()
    for key in sb.keys.all():
        body = "".join(line for line in key.private_pem.splitlines() if line and not line.startswith("-----"))
        out.update(body[i:i + n] for i in range(len(body) - n + 1))
    return out


def leaks(haystack: str, windows: set[str], n: int = 16) -> str | None:
    for i in range(len(haystack) - n + 1):
        if haystack[i:i + n] in windows:
            return haystack[max(0, i - 20):i + n + 20]
    return None


def _variables(project: Any) -> list[Any]:
    try:
        return list(project.variables.list(get_all=True))
    except gitlab.exceptions.GitlabError:
        return []


def strip_variables(doc: Any) -> Any:
    """The GitLab state without CI/CD variables (where the keys legitimately live before deletion)."""
    if isinstance(doc, dict):
        return {k: strip_variables(v) for k, v in doc.items() if k != "variables"}
    if isinstance(doc, list):
        return [strip_variables(v) for v in doc]
    return doc


def _run_every_command(run: Run) -> None:
    """Every command of a migration, all at -vv: scan, plan, apply, (merge), verify, keys retire,
    report, check, keys orphans/rollback/retire/delete, failing rollbacks/deletes/apply, ci analyze
    and rewrite."""
    sb = run.sb
    d = run.dir
    run.cli("scan", "-o", str(d / "inventory.json"), "--progress", "never", "-vv")
    run.cli("plan", "--inventory", str(d / "inventory.json"), "-o", run.plan, "--no-diff", "-vv")
    # the offline CI commands, on a file that authenticates with a key (before its MR is merged)
    ci = d / "ci.yml"
    ci.write_text(sb.gitlab.file("labs/ml-experiments", ".gitlab-ci.yml", "main") or "", encoding="utf-8")
    assert "GOOGLE_APPLICATION_CREDENTIALS" in ci.read_text(encoding="utf-8")
    main(["ci", "analyze", str(ci), "-vv"])
    main(["ci", "rewrite", str(ci), "--provider", "projects/1/locations/global/workloadIdentityPools/p/providers/p",
          "--service-account", "sa@p.iam.gserviceaccount.com", "--output", str(d / "ci.new.yml"), "-vv"])
    run.cli("apply", run.plan, "-vv")
    _merge_all(sb, run.cfg, Path(run.plan))
    run.cli("verify", "--plan", run.plan, "-vv")
    sb.clock.advance(timedelta(days=2))
    run.cli("keys", "retire", "--plan", run.plan, "--now", sb.clock.iso(), "-vv")
    run.cli("report", "--out", str(d / "reports"), "--format", "md,html,csv,json,gitlab", "--plan", run.plan,
            "--inventory", str(d / "inventory.json"), "--now", sb.clock.iso(), "-vv")
    run.cli("check", "-vv")
    run.cli("keys", "orphans", "--plan", run.plan, "--now", sb.clock.iso(), "-vv")
    disabled = [k for k, (off, _gone) in key_states(sb).items() if off]
    assert disabled
    run.cli("keys", "rollback", disabled[0], "--reason", "canary", "--plan", run.plan, "--now", sb.clock.iso(), "-vv")
    run.cli("keys", "retire", "--plan", run.plan, "--now", sb.clock.iso(), "-vv")
    sb.clock.advance(timedelta(days=15))
    run.cli("keys", "delete", "--plan", run.plan, "--now", sb.clock.iso(), "-vv")
    # failures: roll back a deleted key, an unknown key, a broken plan
    deleted = [k for k, (_off, gone) in key_states(sb).items() if gone]
    assert deleted
    assert run.cli("keys", "rollback", deleted[0], "--reason", "canary", "--plan", run.plan, "-vv") == 1  # refused: gone
    assert run.cli("keys", "delete", "--key", "0" * 40, "--plan", run.plan, "-vv") == 2  # usage: no such key
    broken = d / "broken.json"
    broken.write_text('{"version": 1, "actions": [{"kind": "nope"', encoding="utf-8")
    assert run.cli("apply", str(broken), "-vv") == 2  # malformed plan (docs/plan.md)


def test_no_piece_of_a_private_key_leaks(run: Run, capsys: pytest.CaptureFixture[str],
                                         caplog: pytest.LogCaptureFixture) -> None:
    sb = run.sb
    caplog.set_level(logging.DEBUG)
    # The CLI replaces the root logger's handlers (its own goes to the captured stderr); hang the
    # capture on the package logger too, so every record of ours is seen with its arguments.
    ours = logging.getLogger("migrate")
    ours.addHandler(caplog.handler)
    try:
        _run_every_command(run)
    finally:
        ours.removeHandler(caplog.handler)
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "no debug logs were captured"
    d = run.dir
    windows = pem_windows(sb)
    assert len(windows) > 1000
    out = capsys.readouterr()
    assert "DEBUG migrate." in out.err  # the CLI's own -vv handler wrote to the captured stderr
    haystacks: dict[str, str] = {"stdout": out.out, "stderr": out.err,
                                 "logs": "\n".join(r.getMessage() + " " + repr(r.args) for r in caplog.records)}
    for f in sorted(d.rglob("*")):
        if f.is_file() and f.name != "c.yaml":
            haystacks[str(f.relative_to(d))] = f.read_bytes().decode("latin-1")
    assert "plan.json" in haystacks and "inventory.json" in haystacks and "state/state.db" in haystacks
    assert any(k.startswith("reports/") for k in haystacks)
    haystacks["gitlab state"] = json.dumps(strip_variables(sb.gitlab.state()), default=str)
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    texts = []
    for path in mr_projects(run.plan):
        for mr in gl.projects.get(path).mergerequests.list(state="all", iterator=True):
            texts.append(f"{mr.title}\n{mr.description}")
    assert texts, "no merge requests were opened"
    haystacks["merge requests"] = "\n".join(texts)
    # The canary itself works: a key file as stored in a GitLab variable trips it.
    held = [v.value for p in gl.projects.list(iterator=True) for v in _variables(p)]
    assert any(leaks(v, windows) for v in held), "canary: no variable holds a raw key file"
    found = {name: hit for name, text in haystacks.items() if (hit := leaks(text, windows))}
    assert not found, f"private key material leaked into: {sorted(found)}"


# --- 3. permissions --------------------------------------------------------------------------------------
def test_gitlab_token_without_access_is_named(base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    spec = dict(base.org.gitlab)
    spec["users"] = [*spec.get("users", []),
                     {"username": "outsider", "token": "t-outsider", "email": "outsider@example.com"}]
    org = dataclasses.replace(base.org, gitlab=spec)
    with Sandbox(org, now=NOW) as sb:
        cfg = str(sb.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv(_gitlab_env(cfg), "t-outsider")
        code = main(["scan", "-o", str(tmp_path / "inv.json"), "--progress", "never", "--config", cfg])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0  # no keys visible to this token: the ERROR rows say why
    # Each unreadable place is an ERROR row naming the role it needs.
    assert re.search(r"group:acme +variables not readable: 403 Forbidden \(needs the Owner role\)", text), text
    assert re.search(r"project:\S+ +variables not readable: 403 Forbidden \(needs the Maintainer role\)", text), text


def _gitlab_env(cfg: str) -> str:
    return str(yaml.safe_load(Path(cfg).read_text(encoding="utf-8"))["gitlab"]["token_env"])


def test_google_denied_permission_is_named(run: Run, base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run.sb.stop()
    denied = "iam.serviceAccounts.setIamPolicy"
    google = {**base.org.google, "tokens": [*(base.org.google.get("tokens") or []),
                                            {"token": "g-limited", "denied_permissions": [denied]}]}
    org = dataclasses.replace(base.org, google=google)
    with Sandbox(org, now=NOW, gitlab_port=base.gitlab_port, google_port=base.google_port) as sb:
        cfg = str(sb.write_config(run.dir / "c.yaml", state_dir=str(run.dir / "state")))
        monkeypatch.setenv(yaml.safe_load(Path(cfg).read_text(encoding="utf-8"))["google"]["access_token_env"],
                           "g-limited")
        code = main(["apply", run.plan, "--config", cfg])
        assert sb.google is not None
        assert not [e for e in sb.google.mutating_requests() if e["path"].endswith(":setIamPolicy")
                    and 200 <= e["status"] < 300], "a denied setIamPolicy changed a policy"
    out = capsys.readouterr()
    assert code == 1
    text = out.out + out.err
    failed = [line for line in text.splitlines() if line.startswith("ensure_binding:") and " failed " in line]
    assert failed, text[-3000:]
    assert all(denied in line for line in failed), failed


def with_scopes(org: OrgFile, username: str, scopes: list[str]) -> OrgFile:
    """The org with `username`'s token limited to `scopes` (same token, same roles)."""
    gl = dict(org.gitlab)
    gl["users"] = [{**u, "scopes": scopes} if u["username"] == username else u for u in gl["users"]]
    return dataclasses.replace(org, gitlab=gl)


@pytest.fixture()
def read_api_run(run: Run, base: Base) -> Iterator[Run]:
    """The run's sandbox again, with the migrator's token cut down to `read_api`."""
    restart(run, base, with_scopes(base.org, "migrator", ["read_api"]))
    try:
        yield run
    finally:
        run.sb.stop()


def test_a_read_api_token_is_refused_before_apply_changes_anything(read_api_run: Run,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = read_api_run
    assert run.cli("apply", run.plan, "--dry-run") == 0  # reads are enough for a dry run
    assert run.sb.google is not None
    run.sb.google.log.clear()
    run.sb.gitlab.log.clear()
    code = run.cli("apply", run.plan)
    err = capsys.readouterr().err
    assert code == 1
    assert "the GitLab token has the scopes read_api; apply (it opens merge requests) needs the api scope" in err
    assert "Nothing was changed" in err
    assert not run.sb.google.mutating_requests() and not run.sb.gitlab.mutating_requests()
    assert not State(run.state_dir).entries(stage="apply")


def test_without_the_preflight_each_refused_write_names_the_scope(read_api_run: Run,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """GitLab older than 15.5 cannot say the token's scopes: every refused write names the scope."""
    run = read_api_run
    run.sb.gitlab.add_fault(Fault("GET", r"/personal_access_tokens/self$", status=404, count=-1,
                                  body={"message": "404 Not Found"}))
    code = run.cli("apply", run.plan)
    out = capsys.readouterr().out
    assert code == 1
    # a shared template's MR waits for its consumers' MRs (skipped: the dependency failed)
    failed = [line for line in out.splitlines() if line.startswith("merge_request:")
              and not (" skipped " in line and "dependency merge_request:" in line)]
    assert failed and all(" failed " in line for line in failed), failed
    assert all("403 insufficient_scope: the token lacks the api scope this call needs" in line for line in failed)
    assert {e["status"] for e in run.sb.gitlab.mutating_requests()} == {403}  # refused, nothing written


def test_scan_with_a_token_without_read_api_names_the_scope(run: Run, base: Base,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    run.sb.stop()
    with Sandbox(with_scopes(base.org, "migrator", ["read_user"]), now=NOW, gitlab_port=base.gitlab_port,
                 google_port=base.google_port):
        code = run.cli("scan", "-o", str(run.dir / "inv.json"), "--progress", "never")
    out = capsys.readouterr()
    assert code == 1
    assert "the token lacks the read_api scope (or api) this call needs" in out.out + out.err


def test_keys_delete_with_a_read_api_token_is_refused_up_front(read_api_run: Run,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = read_api_run
    code = run.cli("keys", "delete", "--plan", run.plan, "--now", run.sb.clock.iso())
    err = capsys.readouterr().err
    assert code == 1
    assert "keys delete (it deletes the keys' CI/CD variables) needs the api scope" in err
    assert run.sb.google is not None
    assert not run.sb.google.mutating_requests() and not run.sb.gitlab.mutating_requests()


def test_a_rejected_gitlab_token_is_named_and_scan_fails(run: Run, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_gitlab_env(run.cfg), "not-a-token")
    code = run.cli("scan", "-o", str(run.dir / "inv.json"), "--progress", "never")
    out = capsys.readouterr()
    # Stopped up front (migrate.cli.preflight), never reported as a clean org: exit 4, the variable named.
    assert code == 4
    assert f"rejected the token in ${_gitlab_env(run.cfg)} (401 Unauthorized)" in out.err
    assert not (run.dir / "inv.json").exists()


@pytest.mark.slow
def test_every_kind_of_write_losing_its_answer_in_one_run_converges(run: Run, base: Base) -> None:
    """Several crashes in one migration: pool, provider, two bindings, a commit and an MR all lose
    their answers in the same run, which still finishes truthfully; the re-run changes nothing."""
    restart(run, base, without_pools(base.org))
    try:
        sb = run.sb
        assert sb.google is not None
        before = policies(sb)
        for route in ("pool", "provider", "binding"):
            method, regex, _ = APPLY_ROUTES[route]
            sb.google.add_fault(Fault(method, regex, count=2 if route == "binding" else 1, mode="drop_after"))
        sb.gitlab.add_fault(Fault("POST", APPLY_ROUTES["commit+branch"][1], count=1, mode="drop_after"))
        sb.gitlab.add_fault(Fault("POST", APPLY_ROUTES["merge_request"][1], count=1, mode="drop_after"))
        assert run.cli("apply", run.plan) == 0
        lost = [e for e in sb.google.requests_log() + sb.gitlab.requests_log() if e["status"] == 0]
        assert len(lost) == 6, lost
        outcomes = [e for e in State(run.state_dir).entries(stage="apply") if e.phase == "outcome"]
        assert all(e.outcome in ("applied", "skipped") for e in outcomes)
        told = {e.action_id.split(":")[0] for e in outcomes if e.outcome == "applied" and "lost" in e.detail}
        assert told == {"ensure_pool", "ensure_provider", "ensure_binding", "merge_request"}, told
        sb.google.faults.clear()
        sb.gitlab.faults.clear()
        sb.google.log.clear()
        sb.gitlab.log.clear()
        assert run.cli("apply", run.plan) == 0
        assert not [e for e in sb.google.mutating_requests() if not e["path"].endswith(":getIamPolicy")]
        assert not sb.gitlab.mutating_requests()  # the re-run found everything done
        crashed = {e.action_id for e in State(run.state_dir).entries(stage="apply")
                   if e.action_id.split(":")[0] in ("ensure_pool", "ensure_provider", "ensure_binding",
                                                    "merge_request")}
        _converged(run, before, crashed)
    finally:
        run.sb.stop()
