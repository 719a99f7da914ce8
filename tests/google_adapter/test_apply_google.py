"""apply against the Google sandbox with the real google clients over HTTP."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.google_sandbox import ALICE, GoogleSandbox, google_spec
from helpers.plan_fixtures import CI, DEPLOYER, INVENTORY, NUMBER, POOL, TF, config, facts, line_rewriter

from migrate.apply.context import ApplyContext
from migrate.apply.loop import apply_plan
from migrate.cli.apply import build_services
from migrate.core.config import Config
from migrate.core.model import Plan
from migrate.core.state import State
from migrate.google.clients import GoogleClients
from migrate.google.projects import project_number
from migrate.google.workload_identity import WifAdmin
from migrate.plan.federation_design import ROLE
from migrate.plan.planner import LiveFederation, build_plan, derive

PROVIDER = f"{POOL}/providers/gitlab"


def cfg(sb: GoogleSandbox, **kw: Any) -> Config:
    return config(endpoints=sb.endpoints(), access_token_env="WIF_TEST_GOOGLE_TOKEN", **kw)


_PLAN: list[Plan] = []


def make_plan(sb: GoogleSandbox, **facts_kw: Any) -> Plan:
    """The plan depends on the sandbox only through endpoints in its credential configuration,
    which apply does not use: plan once per session (CEL evaluation is slow in pure Python)."""
    if facts_kw:
        return build_plan(INVENTORY, cfg(sb), facts(**facts_kw), line_rewriter).plan
    if not _PLAN:
        _PLAN.append(build_plan(INVENTORY, cfg(sb), facts(), line_rewriter).plan)
    return _PLAN[0]


def run(sb: GoogleSandbox, plan: Plan, dry_run: bool = False, state: State | None = None) -> dict[str, Any]:
    config = cfg(sb)
    ctx = ApplyContext(plan, dry_run, config, state, services=build_services(config, plan, poll_interval=0.01))
    return {r.action_id: r for r in apply_plan(plan, ctx)}


def members(sb: GoogleSandbox, sa: str, role: str = ROLE) -> list[str]:
    return [m for b in sb.app.policy(sa)["bindings"] if b["role"] == role for m in b["members"]]


def test_project_number_comes_from_resource_manager(google_sandbox: GoogleSandbox) -> None:
    assert project_number(GoogleClients(cfg(google_sandbox).google), "acme-identity") == NUMBER


def test_dry_run_makes_no_mutating_request_and_journals_nothing(google_sandbox: GoogleSandbox,
                                                               tmp_path: Path) -> None:
    state = State(tmp_path)
    results = run(google_sandbox, make_plan(google_sandbox), dry_run=True, state=state)
    assert results["ensure_pool:gitlab"].outcome == "would_apply"
    assert results[f"ensure_binding:{DEPLOYER}"].detail.startswith("would add 1 member(s)")
    assert google_sandbox.writes() == []
    assert google_sandbox.app.state()  # the sandbox answered reads
    assert members(google_sandbox, DEPLOYER) == []
    assert state.entries("apply") == []


def test_apply_then_rerun_makes_no_mutating_request(google_sandbox: GoogleSandbox, tmp_path: Path) -> None:
    plan = make_plan(google_sandbox)
    state = State(tmp_path)
    first = run(google_sandbox, plan, state=state)
    assert [first[a].outcome for a in ("ensure_pool:gitlab", "ensure_provider:gitlab/gitlab",
                                       f"ensure_binding:{CI}", f"ensure_binding:{DEPLOYER}",
                                       f"ensure_binding:{TF}")] == ["applied"] * 5
    writes = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in google_sandbox.writes()]
    assert writes == [("POST", "workloadIdentityPools"), ("POST", "providers"),
                      ("POST", f"{CI}:setIamPolicy"), ("POST", f"{DEPLOYER}:setIamPolicy"),
                      ("POST", f"{TF}:setIamPolicy")]
    # The binding the plan did not add is still there.
    assert {"role": ALICE["role"], "members": ALICE["members"]} in google_sandbox.app.policy(DEPLOYER)["bindings"]
    assert members(google_sandbox, DEPLOYER) == [
        f"principalSet://iam.googleapis.com/{POOL}/attribute.project_protected/1001:protected"]
    # Journal: an intent and an outcome per Google action.
    rows = [(e.phase, e.outcome) for e in state.entries("apply", "ensure_provider:gitlab/gitlab")]
    assert rows == [("intent", None), ("outcome", "applied")]

    google_sandbox.clear_log()
    second = run(google_sandbox, plan, state=state)
    assert google_sandbox.writes() == []
    assert {second[a].outcome for a in first if a.startswith("ensure_")} == {"skipped"}
    assert second["ensure_provider:gitlab/gitlab"].detail.endswith("up to date")


def test_a_concurrent_writers_binding_survives(google_sandbox: GoogleSandbox) -> None:
    other = "serviceAccount:robot@acme-prod.iam.gserviceaccount.com"
    google_sandbox.app.race(DEPLOYER, other, "roles/iam.serviceAccountTokenCreator")
    results = run(google_sandbox, make_plan(google_sandbox))
    assert results[f"ensure_binding:{DEPLOYER}"].evidence.attempts == 2  # 409 ABORTED, then re-read
    assert members(google_sandbox, DEPLOYER, "roles/iam.serviceAccountTokenCreator") == [other]
    assert len(members(google_sandbox, DEPLOYER)) == 1
    assert members(google_sandbox, DEPLOYER, ALICE["role"]) == ALICE["members"]


def test_a_soft_deleted_pool_is_undeleted_not_recreated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", "sandbox-google-token")
    sb = GoogleSandbox(google_spec(pools=[{"id": "gitlab", "state": "DELETED", "display_name": "old"}]))
    try:
        results = run(sb, make_plan(sb))
        assert results["ensure_pool:gitlab"].outcome == "applied"
        assert results["ensure_pool:gitlab"].evidence.steps == ("undeleted",)
        writes = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in sb.writes()][:2]
        assert writes == [("POST", "gitlab:undelete"), ("POST", "providers")]
        pool = sb.app.state()
        assert json.dumps(pool).count('"DELETED"') == 0
    finally:
        sb.server.stop()


def _existing_provider(**overrides: Any) -> dict[str, Any]:
    d = derive(build_plan(INVENTORY, config(), facts(), line_rewriter).plan.inputs).design  # cached CEL
    body = d.provider_body()
    prov = {"id": "gitlab", "display_name": body["displayName"], "description": body["description"],
            "attribute_mapping": body["attributeMapping"], "attribute_condition": body["attributeCondition"],
            "oidc": {"issuer_uri": body["oidc"]["issuerUri"], "allowed_audiences": body["oidc"]["allowedAudiences"]}}
    prov.update(overrides)
    pool = d.pool_body()
    return {"id": "gitlab", "display_name": pool["displayName"], "description": pool["description"],
            "providers": [prov]}


def test_a_provider_changed_since_planning_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", "sandbox-google-token")
    pool = _existing_provider(oidc={"issuer_uri": "https://gitlab.other.example",
                                    "allowed_audiences": ["https://x.example"]})
    sb = GoogleSandbox(google_spec(pools=[pool]))
    try:
        results = run(sb, make_plan(sb))  # planned without looking at Google
        assert results["ensure_pool:gitlab"].outcome == "skipped"
        r = results["ensure_provider:gitlab/gitlab"]
        assert r.outcome == "refused"
        assert "stale plan" in r.detail and "oidc.issuerUri='https://gitlab.other.example'" in r.detail
        assert results[f"ensure_binding:{DEPLOYER}"].outcome == "skipped"  # dependency refused
        assert sb.writes() == []
    finally:
        sb.server.stop()


def test_drift_the_plan_names_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", "sandbox-google-token")
    pool = _existing_provider(attribute_condition='assertion.namespace_id == "100"')
    sb = GoogleSandbox(google_spec(pools=[pool]))
    try:
        live_pool = sb.app.state()  # noqa: F841 - reads only
        d = derive(make_plan(sb).inputs).design
        observed_provider = {**d.provider_body(), "attributeCondition": 'assertion.namespace_id == "100"',
                             "state": "ACTIVE"}
        plan = make_plan(sb, live=LiveFederation(True, {**d.pool_body(), "state": "ACTIVE"}, observed_provider))
        results = run(sb, plan)
        r = results["ensure_provider:gitlab/gitlab"]
        assert r.outcome == "applied" and r.evidence.mask == ("attributeCondition",)
        patches = [e for e in sb.writes() if e["method"] == "PATCH"]
        assert len(patches) == 1
    finally:
        sb.server.stop()


def test_a_hand_widened_binding_is_refused(google_sandbox: GoogleSandbox) -> None:
    plan = make_plan(google_sandbox)
    wide = f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1001"
    actions = tuple(dataclasses.replace(a, params=dataclasses.replace(a.params, members=(wide,)))
                    if a.id == f"ensure_binding:{DEPLOYER}" else a for a in plan.actions)
    results = run(google_sandbox, dataclasses.replace(plan, actions=actions))
    r = results[f"ensure_binding:{DEPLOYER}"]
    assert r.outcome == "refused"
    assert r.detail == f"members not in the design recomputed from the plan's inputs: {wide}"
    assert results[f"ensure_binding:{CI}"].outcome == "applied"  # the others go on
    assert members(google_sandbox, DEPLOYER) == []


def test_edited_plan_inputs_are_refused(google_sandbox: GoogleSandbox) -> None:
    plan = make_plan(google_sandbox)
    assert plan.inputs is not None
    inputs = dataclasses.replace(plan.inputs, namespace_ids=(*plan.inputs.namespace_ids, 4242))
    results = run(google_sandbox, dataclasses.replace(plan, inputs=inputs))
    assert results["ensure_pool:gitlab"].outcome == "refused"
    assert "digest mismatch" in results["ensure_pool:gitlab"].detail
    assert google_sandbox.writes() == []


def test_a_soft_deleted_provider_is_undeleted_then_set_to_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", "sandbox-google-token")
    pool = _existing_provider(attribute_condition='assertion.namespace_id == "100"')
    pool["providers"][0]["state"] = "DELETED"
    sb = GoogleSandbox(google_spec(pools=[pool]))
    try:
        dry = run(sb, make_plan(sb), dry_run=True)["ensure_provider:gitlab/gitlab"]
        assert dry.detail.endswith("would undelete projects/acme-identity/locations/global/"
                                   "workloadIdentityPools/gitlab/providers/gitlab, then patch attributeCondition")
        assert sb.writes() == []
        r = run(sb, make_plan(sb))["ensure_provider:gitlab/gitlab"]
        assert r.outcome == "applied" and r.evidence.steps == ("undeleted", "patched attributeCondition")
        assert [e["method"] for e in sb.writes()][:2] == ["POST", "PATCH"]  # :undelete, then patch
    finally:
        sb.server.stop()


class _RacingAdmin(WifAdmin):
    """Our admin, but 'another writer' creates the resource (over HTTP) just before our create."""

    def __init__(self, clients: GoogleClients, rival_body: dict[str, Any]) -> None:
        super().__init__(clients, poll_interval=0.01)
        self.rival_body = rival_body

    def create(self, name: str, body: Any) -> dict[str, Any]:
        if "/providers/" in name and self.rival_body:
            rival, self.rival_body = self.rival_body, {}
            super().create(name, rival)
        return super().create(name, body)


@pytest.mark.parametrize("same", [True, False], ids=["same-config", "other-config"])
def test_already_exists_on_create_is_read_back_and_judged(monkeypatch: pytest.MonkeyPatch, same: bool) -> None:
    """409 ALREADY_EXISTS on create: the live provider is read again; as planned → applied (taken
    over); created meanwhile by someone else with another condition → refused, never overwritten."""
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", "sandbox-google-token")
    pool = _existing_provider()
    pool["providers"] = []
    sb = GoogleSandbox(google_spec(pools=[pool]))
    try:
        plan = make_plan(sb)
        body = dict(derive(plan.inputs).design.provider_body())
        if not same:
            body["attributeCondition"] = 'assertion.namespace_id == "100"'
        config = cfg(sb)
        admin = _RacingAdmin(GoogleClients(config.google), body)
        services = dataclasses.replace(build_services(config, plan, poll_interval=0.01), workload_identity=admin)
        ctx = ApplyContext(plan, False, config, None, services=services)
        r = {x.action_id: x for x in apply_plan(plan, ctx)}["ensure_provider:gitlab/gitlab"]
        creates = [e["status"] for e in sb.writes() if e["path"].endswith("/providers")]
        assert creates == [200, 409]  # the rival's create, then ours
        conditions = [p["attributeCondition"] for pool in sb.app.state()["workload_identity_pools"]
                      for p in pool["providers"]]
        assert conditions == [body["attributeCondition"]]  # one provider: the one that was created first
        if same:
            assert r.outcome == "applied" and r.evidence.taken_over is True, r
            assert "answer lost" in r.detail
        else:
            assert r.outcome == "refused" and "stale plan" in r.detail, r
            assert not [e for e in sb.writes() if e["method"] == "PATCH"]  # the rival's provider is kept
    finally:
        sb.server.stop()
