"""Journal reads behind the gates (real `State`), and plan → retirement items."""

from __future__ import annotations

from pathlib import Path

from helpers.plan_fixtures import bind_params, delete_params, disable_params, mr_params

from migrate.core.codec import decode_time as T
from migrate.core.model import Action, Plan, RetiredVariable
from migrate.core.state import State
from migrate.retire.runner import disable_history, items_from_plan, migrations_from_journal

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "b" * 40
RES = f"projects/acme-prod/serviceAccounts/{SA}/keys/{KID}"


def _state(tmp_path: Path, now: list[str]) -> State:
    return State(tmp_path, actor="tester@host", clock=lambda: now[0])


def test_verify_outcomes_decide_migrated(tmp_path: Path) -> None:
    now = ["2026-03-10T16:00:00Z"]
    st = _state(tmp_path, now)
    st.outcome("verify", "mr-api", "verify", "acme/api", "applied", evidence={"merged_at": "2026-03-10T15:00:00Z"})
    st.outcome("verify", "mr-web", "verify", "acme/web", "failed", "pipeline 7 failed")
    migs = migrations_from_journal(st, [("mr-api", "acme/api"), ("mr-web", "acme/web"), ("mr-x", "acme/x")])
    assert [(m.target, m.verified) for m in migs] == [("acme/api", True), ("acme/web", False), ("acme/x", False)]
    assert migs[0].merged_at == T("2026-03-10T15:00:00Z") and migs[0].verified_at == T("2026-03-10T16:00:00Z")
    assert migs[0].recorded == ("2026-03-10T15:00:00Z", "2026-03-10T16:00:00Z")  # the evidence rows' spelling
    assert "pipeline 7 failed" in migs[1].detail
    assert migs[2].detail == "no verify outcome recorded"
    # a later successful verify supersedes the failure
    st.outcome("verify", "mr-web", "verify", "acme/web", "applied", evidence={"merged_at": "2026-03-11T09:00:00Z"})
    assert migrations_from_journal(st, [("mr-web", "acme/web")])[0].verified


def test_disable_history_follows_rollbacks(tmp_path: Path) -> None:
    now = ["2026-03-12T08:00:00Z"]
    st = _state(tmp_path, now)
    assert disable_history(st, RES) == (None, None)
    st.outcome("keys", "d", "disable_key", RES, "applied")
    assert disable_history(st, RES) == (T("2026-03-12T08:00:00Z"), None)
    now[0] = "2026-03-13T08:00:00Z"
    st.outcome("keys", "d", "rollback_key", RES, "applied")
    assert disable_history(st, RES) == (T("2026-03-12T08:00:00Z"), T("2026-03-13T08:00:00Z"))
    now[0] = "2026-03-14T08:00:00Z"
    st.outcome("keys", "d", "disable_key", RES, "applied")
    now[0] = "2026-03-15T08:00:00Z"
    st.outcome("keys", "d", "disable_key", RES, "skipped", evidence={"disabled": True})  # a re-run
    assert disable_history(st, RES) == (T("2026-03-14T08:00:00Z"), None)
    # refused / would_apply rows are not disables
    st.outcome("keys", "d", "disable_key", "other", "applied")
    assert disable_history(st, RES)[0] == T("2026-03-14T08:00:00Z")


def test_items_from_plan_keeps_mr_dependencies_variables_and_manual_blockers() -> None:
    var = RetiredVariable("project", "acme/api", 11, "GCP_SA_KEY", "production",
                          "project:acme/api:GCP_SA_KEY[production]")
    plan = Plan(gitlab_url="https://gitlab.example.com", identity_project="acme-identity", project_number="1",
                pool_id="gitlab", provider_id="gitlab", generated_at=T("2026-03-01T00:00:00Z"), inventory_digest="x",
                actions=(
                    Action("bind", "ensure_binding", SA, "bind", params=bind_params(SA)),
                    Action("mr-api", "merge_request", "acme/api:.gitlab-ci.yml", "mr", depends_on=("bind",),
                           params=mr_params("acme/api")),
                    Action(f"disable_key:{SA}#{KID}", "disable_key", f"{SA}/keys/{KID}", "disable",
                           depends_on=("mr-api", "bind"),
                           params=disable_params(SA, KID, key_project="acme-prod", variables=(var,),
                                                 blocked_by=("file:acme/ops:deploy.yml",))),
                    Action(f"delete_key:{SA}#{KID}", "delete_key", f"{SA}/keys/{KID}", "delete",
                           depends_on=(f"disable_key:{SA}#{KID}",),
                           params=delete_params(disable_params(SA, KID, variables=(var,)))),
                ))
    [item] = items_from_plan(plan)
    assert item.mr_actions == (("mr-api", "acme/api:.gitlab-ci.yml"),)
    assert item.delete_action_id == f"delete_key:{SA}#{KID}"
    assert [v.ref for v in item.variables] == ["project:acme/api:GCP_SA_KEY[production]"]
    assert item.variables[0].owner_id == 11
    assert item.manual == ("file:acme/ops:deploy.yml",)
    assert item.resource == RES


def test_a_disable_step_edited_to_skip_its_users_is_blocked() -> None:
    """A plan edited by hand so a key's disable no longer waits for the projects that use it."""
    import dataclasses

    from helpers.plan_fixtures import INVENTORY, config, facts, line_rewriter

    from migrate.plan.planner import build_plan

    plan = build_plan(INVENTORY, config(), facts(), line_rewriter).plan
    [honest] = [i for i in items_from_plan(plan) if i.mr_actions][:1]
    assert not any("plan edited" in m for m in honest.manual)
    edited = dataclasses.replace(plan, actions=tuple(
        dataclasses.replace(a, depends_on=()) if a.id == honest.action_id else a for a in plan.actions))
    [item] = [i for i in items_from_plan(edited) if i.action_id == honest.action_id]
    assert item.mr_actions == ()
    users = {target.split("@")[0] for _, target in honest.mr_actions}
    assert {m.split(": uses the key")[0].removeprefix("file:") for m in item.manual} >= users
    assert plan.inputs is not None
    tampered = dataclasses.replace(plan, inputs=dataclasses.replace(plan.inputs, usages=()))
    assert all("digest mismatch" in " ".join(i.manual) for i in items_from_plan(tampered))
