"""`wif-migrate keys` end to end on the sandbox: real python-gitlab and google clients over HTTP.

The org: acme/api deploys with a File variable API_KEY_FILE scoped to `production` (key k1 of
api@) and has a same-name variable scoped to `staging` holding another key (k2); acme/jobs signs in
with JOBS_KEY (key k1 of jobs@). api@ also has an orphan key k3 that no variable holds.
Federation is pre-seeded in Google as `apply` would leave it. The MRs are opened by the real
executor, acme/api's is merged (its pipeline authenticates through federation for real) and the
real `verify` journals it; acme/jobs' MR stays open.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import gitlab
import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import pytest
from helpers.keys_sandbox_org import (
    API_OLD,
    API_SA,
    JOBS_SA,
    TOKEN,
    Cli,
    by_target,
    iam,
    key_sign_in,
    key_state,
    kid,
    migrate_api_only,
    new_sandbox,
    pipeline,
    the_plan,
)

from migrate.cli.verbs import main
from migrate.core.model import journaled_key
from migrate.core.state import State
from migrate.report.history import key_identity_of
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import GOOGLE_TOKEN_ENV, Sandbox


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    with new_sandbox() as sandbox:
        yield sandbox


# --- tests -----------------------------------------------------------------------------------------

def test_retire_rollback_delete_end_to_end(sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan(sb)
    state = State(tmp_path / "state")
    migrate_api_only(sb, plan, state)
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    api_k1, api_k2, jobs_k1 = kid(sb, API_SA, "k1"), kid(sb, API_SA, "k2"), kid(sb, JOBS_SA, "k1")

    # Merged a moment ago: Policy Analyzer's day-granular window cannot see past the cut-over yet.
    code, out = cli("retire")
    assert code == 1
    rows = by_target(out, "disable_key")
    assert rows[api_k1]["outcome"] == "refused" and "observation ends" in rows[api_k1]["detail"], json.dumps(rows[api_k1], indent=1)
    assert rows[jobs_k1]["outcome"] == "refused"
    assert "project acme/jobs:.gitlab-ci.yml@main" in rows[jobs_k1]["detail"]
    assert "not merged and verified" in rows[jobs_k1]["detail"]
    assert key_state(sb, api_k1) == "ENABLED" and key_state(sb, jobs_k1) == "ENABLED"

    # Two days on: the migrated key is disabled, the unmigrated one is still refused, naming its project.
    sb.clock.advance(timedelta(days=2))
    code, out = cli("retire")
    assert code == 1
    rows = by_target(out, "disable_key")
    assert rows[api_k1]["outcome"] == "applied", rows[api_k1]
    ev = rows[api_k1]["evidence"]
    assert ev["last_authenticated"] == "2026-11-10T07:00:00Z" and ev["granularity"] == "day"
    assert ev["migrations"][0]["action_id"] == "merge_request:acme/api:.gitlab-ci.yml"
    assert ev["migrations"][0]["verified"] and ev["cutover"] and ev["who"]
    assert rows[jobs_k1]["outcome"] == "refused" and "acme/jobs" in rows[jobs_k1]["blocking"][0]
    assert key_state(sb, api_k1) == "DISABLED" and key_state(sb, jobs_k1) == "ENABLED"

    # The old key sign-in now fails; the federated pipeline keeps passing; the unmigrated project too.
    with pytest.raises(google.auth.exceptions.RefreshError):
        key_sign_in(sb, API_SA, "k1")
    gitlab.Gitlab(sb.gitlab_url, private_token=TOKEN).projects.get("acme/api").commits.create({
        "branch": "legacy", "start_branch": "main", "commit_message": "the pre-migration CI",
        "actions": [{"action": "update", "file_path": ".gitlab-ci.yml", "content": API_OLD}]})
    assert pipeline(sb, "acme/api", "legacy") == "failed"  # an old pipeline: key auth refused
    assert pipeline(sb, "acme/api") == "success"  # federated
    assert pipeline(sb, "acme/jobs") == "success"  # its key was not disabled

    # Idempotent: the disabled key is a skip; journal has intent+outcome for the disable.
    code, out = cli("retire", "--key", api_k1)
    assert code == 0 and by_target(out, "disable_key")[api_k1]["outcome"] == "skipped"
    journal = [e for e in State(tmp_path / "state").entries(stage="keys") if e.evidence.get("key_id") == api_k1
               and e.kind == "disable_key"]
    assert [(e.phase, e.outcome) for e in journal if e.outcome != "refused"] == \
        [("intent", None), ("outcome", "applied"), ("outcome", "skipped")]

    # Delete before the grace period: refused, nothing deleted.
    code, out = cli("delete", "--key", api_k1)
    assert code == 1
    row = by_target(out, "delete_key")[api_k1]
    assert row["outcome"] == "refused" and "grace period" in row["detail"]
    assert key_state(sb, api_k1) == "DISABLED"

    # Rollback with the short id shown everywhere re-enables (and the reason is journaled); delete
    # then refuses until retired again.
    code, out = cli("rollback", api_k1[:8], "--reason", "deploy broke", plan=True)
    assert code == 0 and out["results"][0]["outcome"] == "applied"
    assert out["results"][0]["evidence"]["reason"] == "deploy broke"
    assert key_state(sb, api_k1) == "ENABLED"
    # Rollback sticks: a second later (and days later) retire leaves the key enabled, saying why.
    sb.clock.advance(timedelta(seconds=1))
    code, out = cli("retire")
    row = by_target(out, "disable_key")[api_k1]
    assert code == 1 and row["outcome"] == "refused" and "deploy broke" in row["detail"], row
    assert "--include-rolled-back" in row["detail"] and key_state(sb, api_k1) == "ENABLED"
    sb.clock.advance(timedelta(days=20))
    code, out = cli("delete", "--key", api_k1[:8])
    assert code == 1 and "rolled back" in by_target(out, "delete_key")[api_k1]["detail"]
    code, out = cli("retire", "--key", api_k1[:10])
    assert code == 1 and by_target(out, "disable_key")[api_k1]["outcome"] == "refused"
    assert key_state(sb, api_k1) == "ENABLED"

    code, out = cli("retire", "--key", api_k1, "--include-rolled-back")
    assert code == 0 and by_target(out, "disable_key")[api_k1]["outcome"] == "applied"
    sb.clock.advance(timedelta(days=14, hours=1))

    # After the grace period: the key and exactly the production-scoped variable are deleted.
    code, out = cli("delete", "--key", api_k1)
    assert code == 0, out
    assert by_target(out, "delete_key")[api_k1]["outcome"] == "applied"
    var_row = by_target(out, "delete_variable")["project:acme/api:API_KEY_FILE[production]"]
    assert var_row["outcome"] == "applied" and var_row["evidence"]["environment_scope"] == "production"
    assert key_state(sb, api_k1) == "DELETED"
    left = [(v.key, v.environment_scope) for v in sb.gitlab.variables("acme/api")]
    assert left == [("API_KEY_FILE", "staging")]
    assert key_state(sb, api_k2) == "ENABLED"
    assert "PRIVATE KEY" not in json.dumps(out)
    deletes = [r for r in sb.gitlab.mutating_requests() if r["method"] == "DELETE"]
    assert [r["path"] for r in deletes] == ["/api/v4/projects/2004/variables/API_KEY_FILE"]  # one, scoped

    # Again: recorded as already done.
    code, out = cli("delete", "--key", api_k1)
    assert code == 0
    assert by_target(out, "delete_key")[api_k1]["evidence"]["already_done"] is True
    assert by_target(out, "delete_variable")["project:acme/api:API_KEY_FILE[production]"]["detail"] == \
        "already deleted"

    # A key Google will not show: a failed step (it named its key only in the target before).
    sb.google.add_fault(Fault("GET", rf"/keys/{api_k2}$", status=403, count=-1))
    code, out = cli("retire", "--key", api_k2)
    assert "cannot read the key" in by_target(out, "disable_key")[api_k2]["detail"]

    # Every row the keys stage journaled names its key in fields (JournaledKey): the report places
    # each one with neither its target nor a plan to recover the key from.
    rows = State(tmp_path / "state").entries(stage="keys")
    assert any(e.outcome == "failed" and "cannot read the key" in e.detail for e in rows)
    unnamed = [e for e in rows if journaled_key(e.evidence) is None]
    assert rows and unnamed == []
    for e in rows:
        named = journaled_key(e.evidence)
        assert named is not None
        assert key_identity_of(dataclasses.replace(e, target=""), {}) == (named.service_account, named.key_id)


def test_key_used_after_the_cutover_is_not_disabled(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan(sb)
    migrate_api_only(sb, plan, State(tmp_path / "state"))
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    sb.clock.advance(timedelta(days=1))
    key_sign_in(sb, API_SA, "k1")  # something outside the plan still signs in with the key
    sb.clock.advance(timedelta(days=2))
    api_k1 = kid(sb, API_SA, "k1")
    code, out = cli("retire", "--key", api_k1)
    row = by_target(out, "disable_key")[api_k1]
    assert code == 1 and row["outcome"] == "refused"
    assert "after the cut-over" in row["blocking"][0] and row["evidence"]["last_authenticated"] == "2026-11-21T07:00:00Z"
    assert key_state(sb, api_k1) == "ENABLED"


def test_disabling_an_unmigrated_key_would_break_its_pipeline() -> None:
    """In a separate sandbox: what the refusal for acme/jobs prevented."""
    with new_sandbox() as other:
        assert pipeline(other, "acme/jobs") == "success"
        jobs_k1 = kid(other, JOBS_SA, "k1")
        iam(other).projects().serviceAccounts().keys().disable(
            name=f"projects/acme-prod/serviceAccounts/{JOBS_SA}/keys/{jobs_k1}", body={}).execute()
        assert pipeline(other, "acme/jobs") == "failed"
        with pytest.raises(google.auth.exceptions.RefreshError):
            key_sign_in(other, JOBS_SA, "k1")


def test_unknown_usage_refuses_without_flag_and_proceeds_with_it(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan(sb)
    migrate_api_only(sb, plan, State(tmp_path / "state"))
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    monkeypatch.setenv(GOOGLE_TOKEN_ENV, "g-no-analyzer")  # the operator may not query Policy Analyzer
    sb.clock.advance(timedelta(days=2))
    api_k1 = kid(sb, API_SA, "k1")

    code, out = cli("retire", "--key", api_k1)
    row = by_target(out, "disable_key")[api_k1]
    assert code == 1 and row["outcome"] == "refused"
    assert "usage signal unknown" in row["detail"] and "403" in row["detail"]
    assert key_state(sb, api_k1) == "ENABLED"

    code, out = cli("retire", "--key", api_k1, "--accept-unknown-usage", "CHG-1234 approved by secops")
    row = by_target(out, "disable_key")[api_k1]
    assert code == 0 and row["outcome"] == "applied"
    assert key_state(sb, api_k1) == "DISABLED"
    [entry] = [e for e in State(tmp_path / "state").entries(stage="keys")
               if e.outcome == "applied" and e.kind == "disable_key"]
    assert entry.evidence["accepted_unknown_usage"] == "CHG-1234 approved by secops"
    assert entry.evidence["accepted_unknown_usage_by"] == entry.actor
    assert "403" in entry.evidence["usage_unknown_reason"]


def test_unavailable_policy_analyzer_is_an_unknown_signal(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan(sb)
    migrate_api_only(sb, plan, State(tmp_path / "state"))
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    sb.clock.advance(timedelta(days=2))
    sb.google.add_fault(Fault("GET", r"activities:query", status=501, count=-1))  # type: ignore[union-attr]
    api_k1 = kid(sb, API_SA, "k1")
    code, out = cli("retire", "--key", api_k1)
    assert code == 1 and "501" in by_target(out, "disable_key")[api_k1]["detail"]


def test_dry_run_mutates_nothing_in_either_sandbox(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan(sb)
    migrate_api_only(sb, plan, State(tmp_path / "state"))
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    sb.clock.advance(timedelta(days=2))
    api_k1 = kid(sb, API_SA, "k1")
    code, out = cli("retire")  # really disable api k1, so that delete has something to do
    assert by_target(out, "disable_key")[api_k1]["outcome"] == "applied"
    sb.clock.advance(timedelta(days=15))
    sb.gitlab.log.clear()
    sb.google.log.clear()  # type: ignore[union-attr]

    code, out = cli("delete", "--dry-run")
    assert by_target(out, "delete_key")[api_k1]["outcome"] == "would_apply"
    assert by_target(out, "delete_variable")["project:acme/api:API_KEY_FILE[production]"]["outcome"] == "would_apply"
    code, out = cli("retire", "--dry-run", "--accept-unknown-usage", "x")
    assert by_target(out, "disable_key")[kid(sb, JOBS_SA, "k1")]["outcome"] == "refused"
    code, out = cli("rollback", api_k1, "--reason", "test", "--dry-run")
    assert out["results"][0]["outcome"] == "would_apply"

    assert sb.gitlab.mutating_requests() == []
    assert sb.google.mutating_requests() == []  # type: ignore[union-attr]
    assert sb.google.requests_log(), "the dry run did read Google"  # type: ignore[union-attr]
    assert key_state(sb, api_k1) == "DISABLED"
    assert len(sb.gitlab.variables("acme/api")) == 2


def test_orphans_are_listed_and_touched_only_when_named(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plan = the_plan(sb)
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    k2, k3 = kid(sb, API_SA, "k2"), kid(sb, API_SA, "k3")
    code, out = cli("orphans")
    orphans = {o["key_id"]: o for o in out["results"]}
    # k2 is held by the staging variable, but the plan does not know it (no inventory in this test):
    # orphans are judged on what the plan and inventory say. k3 is held by nothing.
    assert k3 in orphans and orphans[k3]["last_authenticated"] == "2025-06-01T07:00:00Z"
    assert orphans[k3]["age_days"] > 600
    assert kid(sb, API_SA, "k1") not in orphans and kid(sb, JOBS_SA, "k1") not in orphans
    assert k2 in orphans

    code, out = cli("retire")  # the plan's keys only
    assert k3 not in by_target(out, "disable_key")
    assert key_state(sb, k3) == "ENABLED"

    code, out = cli("retire", "--key", k3)
    row = by_target(out, "disable_key")[k3]
    assert code == 0 and row["outcome"] == "applied" and row["evidence"]["orphan"] is True
    assert key_state(sb, k3) == "DISABLED"

    sb.clock.advance(timedelta(days=15))
    code, out = cli("delete", "--key", k3)
    assert code == 0 and by_target(out, "delete_key")[k3]["outcome"] == "applied"
    assert key_state(sb, k3) == "DELETED"

    with pytest.raises(SystemExit):
        main(["keys", "retire", "--bogus"])
    assert main(["keys", "retire", "--config", cli.config, "--plan", cli.plan, "--key", "f" * 40]) == 2


def test_a_monthly_schedule_stretches_the_no_use_window_and_the_grace(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """acme/api runs a job from a monthly schedule: two days after the cut-over the key looks unused
    but the scheduled job may not have run yet, so retire refuses, naming the schedule; after a
    month it proceeds; delete then waits a month, not the 14-day grace (issue 16 §5)."""
    with new_sandbox([{"description": "monthly report", "cron": "0 2 1 * *", "ref": "main"}]) as sb:
        plan = the_plan(sb)
        migrate_api_only(sb, plan, State(tmp_path / "state"))
        cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
        api_k1 = kid(sb, API_SA, "k1")
        sb.clock.advance(timedelta(days=2))
        code, out = cli("retire", "--key", api_k1)
        row = by_target(out, "disable_key")[api_k1]
        assert code == 1 and row["outcome"] == "refused", row
        assert "monthly report" in row["detail"] and "31 day(s)" in row["detail"] and "not before" in row["detail"]
        assert row["evidence"]["no_use_window_days"] == 31
        assert key_state(sb, api_k1) == "ENABLED"
        sb.clock.advance(timedelta(days=30))
        code, out = cli("retire", "--key", api_k1)
        row = by_target(out, "disable_key")[api_k1]
        assert code == 0 and row["outcome"] == "applied" and "no-use window 31 day(s)" in row["detail"], row
        sb.clock.advance(timedelta(days=15))  # past the configured 14-day grace, not past the schedule's
        code, out = cli("delete", "--key", api_k1)
        row = by_target(out, "delete_key")[api_k1]
        assert code == 1 and row["outcome"] == "refused" and "grace 31 days" in row["detail"], row
        assert key_state(sb, api_k1) == "DISABLED"


def test_a_key_google_disabled_itself_is_an_incident_not_a_retirement_step(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Google's exposure response (disableReason EXPOSED) is never journaled as our disable."""
    plan = the_plan(sb)
    migrate_api_only(sb, plan, State(tmp_path / "state"))
    cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
    api_k1 = kid(sb, API_SA, "k1")
    world: Any = sb.google.world  # type: ignore[union-attr]
    with sb.google.lock:  # type: ignore[union-attr]
        key = world.keys[api_k1]
        key.disabled, key.disable_reason, key.extended_status = True, "EXPOSED", "EXPOSED"
    live = iam(sb).projects().serviceAccounts().keys().get(
        name=f"projects/acme-prod/serviceAccounts/{API_SA}/keys/{api_k1}").execute()
    assert live["disableReason"].endswith("_EXPOSED") and live["extendedStatus"][0]["key"].endswith("KEY_EXPOSED")
    sb.clock.advance(timedelta(days=2))
    code, out = cli("retire", "--key", api_k1)
    row = by_target(out, "disable_key")[api_k1]
    assert row["outcome"] == "skipped" and "incident" in row["detail"] and row["evidence"]["incident"] == "EXPOSED"
    assert row["evidence"]["disabled"] is False  # not counted as a disable by the report's history
