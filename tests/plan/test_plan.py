"""The plan as a pure function of inventory + config + facts (hand-built inventory, no I/O)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers.plan_fixtures import (
    CI,
    DEPLOYER,
    INVENTORY,
    K_CI,
    K_DEPLOYER,
    POOL,
    TF,
    V_API,
    config,
    facts,
    files,
    line_rewriter,
    plan_of,
)

from migrate.core.errors import UsageError
from migrate.core.model import DisableKeyParams, KeyVariable, MergeRequestParams, RetiredKey, params_as
from migrate.plan import plan_io, terraform
from migrate.plan.planner import LiveFederation, build_plan, derive, impersonation_report
from migrate.plan.ports import FileText


def test_actions_are_ordered_with_stable_ids_and_dependencies() -> None:
    plan = plan_of()
    assert [a.id for a in plan.actions] == [
        "ensure_pool:gitlab", "ensure_provider:gitlab/gitlab",
        f"ensure_binding:{CI}", f"ensure_binding:{DEPLOYER}", f"ensure_binding:{TF}",
        "merge_request:acme/api:.gitlab-ci.yml", "merge_request:acme/platform/infra:.gitlab-ci.yml",
        "merge_request:acme/templates:gcp.yml",
        f"disable_key:{CI}#{K_CI}", f"delete_key:{CI}#{K_CI}",
        f"disable_key:{DEPLOYER}#{K_DEPLOYER}", f"delete_key:{DEPLOYER}#{K_DEPLOYER}",
        f"disable_key:tf@acme-prod.iam.gserviceaccount.com#{'f1' * 20}",
        f"delete_key:tf@acme-prod.iam.gserviceaccount.com#{'f1' * 20}"]
    by_id = {a.id: a for a in plan.actions}
    assert by_id[f"disable_key:{CI}#{K_CI}"].depends_on == ("merge_request:acme/templates:gcp.yml",)
    assert by_id[f"delete_key:{CI}#{K_CI}"].depends_on == (f"disable_key:{CI}#{K_CI}",)
    assert by_id["merge_request:acme/api:.gitlab-ci.yml"].depends_on == (f"ensure_binding:{DEPLOYER}",)
    assert plan_of().actions == plan.actions  # same inputs, same plan


def test_bindings_are_never_broader_than_the_key() -> None:
    by_id = {a.id: a for a in plan_of().actions}
    assert by_id[f"ensure_binding:{DEPLOYER}"].params.members == (
        f"principalSet://iam.googleapis.com/{POOL}/attribute.project_protected/1001:protected",)
    # The group variable is readable by every acme project, but only acme/web uses it.
    assert by_id[f"ensure_binding:{CI}"].params.members == (
        f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1002",)
    assert by_id[f"ensure_binding:{TF}"].params.members == (
        f"principalSet://iam.googleapis.com/{POOL}/attribute.project_environment/1003:production",)
    assert by_id[f"ensure_binding:{CI}"].params.resource == f"projects/acme-prod/serviceAccounts/{CI}"


def test_shared_template_changes_once_in_its_own_project() -> None:
    mr = {a.id: a for a in plan_of().actions}["merge_request:acme/templates:gcp.yml"]
    p = params_as(mr, MergeRequestParams)
    assert (p.project, p.file_path, p.ref, p.base_blob_id, p.base_commit_id) == (
        "acme/templates", "gcp.yml", "main", "blob-tpl", "c-tpl")
    assert p.consumers == ("acme/web",)
    assert p.status == "rewritten" and "gcloud auth login" in (p.new_content or "")
    assert p.keys == (RetiredKey(CI, K_CI, ("group:acme:GCP_KEY",)),)
    assert p.audience.startswith("https://iam.googleapis.com/projects/111111111111/")


def test_manual_file_is_a_manual_entry_and_blocks_its_key() -> None:
    f = files()
    f[("acme/api", ".gitlab-ci.yml", "main")] = FileText("deploy:\n  script: [MANUAL]\n", "b", "c")
    plan = plan_of(files=f)
    assert "merge_request:acme/api:.gitlab-ci.yml" not in {a.id for a in plan.actions}
    [m] = [m for m in plan.manual if m.subject == "file:acme/api:.gitlab-ci.yml"]
    assert m.reason == "needs manual review: script builds the key path dynamically"
    disable = {a.id: a for a in plan.actions}[f"disable_key:{DEPLOYER}#{K_DEPLOYER}"]
    assert disable.params.blocked_by == ("file:acme/api:.gitlab-ci.yml",)


def test_unreadable_file_is_manual_with_the_reason() -> None:
    f = files()
    f[("acme/platform/infra", ".gitlab-ci.yml", "main")] = "403 Forbidden"
    plan = plan_of(files=f)
    assert [m.reason for m in plan.manual] == ["could not read the file at main: 403 Forbidden"]


def test_wildcard_environment_scope_gets_no_binding_but_a_manual_entry() -> None:
    tf = dataclasses.replace(INVENTORY.variables[2], environment_scope="review/*")
    usages = tuple(dataclasses.replace(u, variables=(tf.ref,)) if u.finding.variable == "TF_KEY" else u
                   for u in INVENTORY.usages)
    inv = dataclasses.replace(INVENTORY, variables=(*INVENTORY.variables[:2], tf), usages=usages)
    plan = plan_of(inv)
    assert f"ensure_binding:{TF}" not in {a.id for a in plan.actions}
    assert any("is a wildcard" in m.reason for m in plan.manual)


def test_hidden_variable_uses_the_configured_service_account_and_plans_no_key_retirement() -> None:
    hidden = KeyVariable("project", "acme/api", 1001, "GCP_SA_KEY", "file", protected=True, hidden=True,
                         key=None, suspected_reason="hidden file variable used with --key-file")
    inv = dataclasses.replace(INVENTORY, variables=(hidden, *INVENTORY.variables[1:]))
    cfg = config(service_accounts={"GCP_SA_KEY": DEPLOYER})
    plan = build_plan(inv, cfg, facts(), line_rewriter).plan
    ids = {a.id for a in plan.actions}
    assert f"ensure_binding:{DEPLOYER}" in ids
    assert not any(i.startswith(f"disable_key:{DEPLOYER}") for i in ids)


def test_live_drift_is_patched_only_where_the_plan_says() -> None:
    d = derive(plan_of().inputs).design
    live_provider = {**d.provider_body(), "attributeCondition": "true", "state": "ACTIVE"}
    plan = plan_of(live=LiveFederation(True, {**d.pool_body(), "state": "ACTIVE"}, live_provider))
    by_id = {a.id: a for a in plan.actions}
    assert by_id["ensure_pool:gitlab"].params.patch == ()
    assert by_id["ensure_provider:gitlab/gitlab"].params.patch == ("attributeCondition",)
    assert by_id["ensure_provider:gitlab/gitlab"].params.observed["attributeCondition"] == "true"


def test_impersonation_is_in_the_plan_and_after_is_within_before() -> None:
    plan = plan_of()
    rows = {r.service_account: r for r in plan.impersonation}
    assert set(rows[CI].after) <= set(rows[CI].before)
    assert "acme/docs (unprotected ref)" in rows[CI].before  # docs could read the group key
    assert "acme/docs (unprotected ref)" not in rows[CI].after  # ...but never used it
    assert all(r.broader == () for r in plan.impersonation)


def test_widened_bindings_are_found_by_the_same_simulation() -> None:
    plan = plan_of()
    derived = derive(plan.inputs)
    widened = {DEPLOYER: [f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1001"]}
    [row] = [r for r in impersonation_report(plan.inputs, derived, widened) if r.service_account == DEPLOYER]
    assert "acme/api (unprotected ref)" in row.broader


def test_plan_file_round_trips_and_refuses_what_it_cannot_read() -> None:
    plan = plan_of()
    text = plan_io.dumps(plan)
    assert plan_io.loads(text) == plan
    assert plan_io.dumps(plan_io.loads(text)) == text
    data = json.loads(text)
    with pytest.raises(UsageError, match="newer than this wif-migrate"):
        plan_io.from_data({**data, "version": 99})
    data["actions"][0]["kind"] = "drop_database"
    with pytest.raises(UsageError, match="unknown kind 'drop_database'"):
        plan_io.from_data(data)
    with pytest.raises(UsageError, match="not a wif-migrate plan"):
        plan_io.loads('{"kind": "wif-migrate/inventory", "projects": []}')


def test_plan_carries_no_key_material() -> None:
    text = plan_io.dumps(plan_of())
    assert "PRIVATE KEY" not in text and "private_key" not in text


def test_terraform_has_the_same_federation_and_imports_what_exists() -> None:
    d = derive(plan_of().inputs).design
    plan = plan_of(live=LiveFederation(True, {**d.pool_body(), "state": "ACTIVE"}, None),
                   live_bindings={CI: (f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1002",)})
    out = terraform.render(plan)
    tf = out["wif.tf"]
    assert 'resource "google_iam_workload_identity_pool" "gitlab"' in tf
    assert 'attribute_condition = "assertion.namespace_id in [\\"100\\", \\"101\\"]"' in tf
    assert tf.count('resource "google_service_account_iam_member"') == 3
    assert f'"principalSet://iam.googleapis.com/{POOL}/attribute.project_protected/1001:protected"' in tf
    imports = out["imports.tf"]
    assert 'id = "projects/acme-identity/locations/global/workloadIdentityPools/gitlab"' in imports
    assert "google_iam_workload_identity_pool_provider.gitlab" not in imports  # provider did not exist
    assert (f'id = "projects/acme-prod/serviceAccounts/{CI} roles/iam.workloadIdentityUser '
            f'principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1002"') in imports
    assert terraform.hcl_string("a ${b} %{c}") == '"a $${b} %%{c}"'


def test_group_variable_not_used_anywhere_gets_no_binding() -> None:
    inv = dataclasses.replace(INVENTORY, usages=INVENTORY.usages[:1] + INVENTORY.usages[2:])
    ids = {a.id for a in plan_of(inv).actions}
    assert f"ensure_binding:{CI}" not in ids
    assert f"disable_key:{CI}#{K_CI}" in ids  # the key is still retired (nothing to wait for)


def test_key_variable_ref_is_the_finding() -> None:
    by_id = {a.id: a for a in plan_of().actions}
    assert by_id[f"ensure_binding:{DEPLOYER}"].findings == (V_API.ref,)


def test_template_consumer_using_reference_gets_its_token_in_a_merge_request_before_the_template() -> None:
    """A consumer that copies the template's auth with !reference would not get the template's
    id_tokens: the plan gives the copying job the token in a consumer merge request of its own, and
    the template's merge request waits until that one is merged (issue 21)."""
    consumer_files = files()
    consumer_files[("acme/web", ".gitlab-ci.yml", "main")] = FileText(
        "include:\n  - project: acme/templates\n    file: gcp.yml\n"
        "ship:\n  before_script:\n    - !reference [deploy, script]\n  script: [./ship.sh]\n", "b", "c")
    result = build_plan(INVENTORY, config(), facts(files=consumer_files), line_rewriter)
    by_id = {a.id: a for a in result.plan.actions}
    consumer = by_id["merge_request:acme/web:id_tokens_for:acme/templates:gcp.yml"]
    template = by_id["merge_request:acme/templates:gcp.yml"]
    assert consumer.params.jobs == ("ship",) and consumer.params.keys == ()
    assert consumer.params.new_content.startswith(
        "include:\n  - project: acme/templates\n    file: gcp.yml\nship:\n  id_tokens:\n    GCP_ID_TOKEN:\n")
    assert template.params.after_merged == (consumer.id,) and consumer.id in template.depends_on
    assert not [m for m in result.plan.manual if m.subject == "file:acme/templates:gcp.yml"]


def test_keys_retire_refuses_a_plan_whose_disable_step_skips_a_consumer_merge_request() -> None:
    """Attack: the consumer MR cut out of the disable step by hand (its verification is part of the
    evidence); `keys retire`'s own check names it and refuses."""
    from migrate.retire.runner import uncovered_users

    consumer_files = files()
    consumer_files[("acme/web", ".gitlab-ci.yml", "main")] = FileText(
        "include:\n  - project: acme/templates\n    file: gcp.yml\n"
        "ship:\n  before_script:\n    - !reference [deploy, script]\n  script: [./ship.sh]\n", "b", "c")
    plan = build_plan(INVENTORY, config(), facts(files=consumer_files), line_rewriter).plan
    consumer = "merge_request:acme/web:id_tokens_for:acme/templates:gcp.yml"
    disable = next(a for a in plan.actions if a.kind == "disable_key" and consumer in a.depends_on)
    key_id = params_as(disable, DisableKeyParams).key_id
    assert uncovered_users(plan, key_id, set(disable.depends_on), []) == []
    missing = uncovered_users(plan, key_id, set(disable.depends_on) - {consumer}, [])
    assert missing == [f"{consumer}: a consumer merge request of merge_request:acme/templates:gcp.yml, which the "
                       "plan's disable step does not wait for (plan edited by hand?)"]


def test_template_consumer_whose_file_has_key_use_of_its_own_sends_the_template_to_manual() -> None:
    """The consumer's file is also rewritten (or reviewed) for its own key: two changes to one file
    are not made; the whole template change goes to manual with the reason, never partly."""
    consumer_files = files()
    consumer_files[("acme/web", ".gitlab-ci.yml", "main")] = FileText(
        "include:\n  - project: acme/templates\n    file: gcp.yml\n"
        "ship:\n  before_script:\n    - !reference [deploy, script]\n  script: [./ship.sh]\n", "b", "c")
    usage = next(u for u in INVENTORY.usages if u.file_project == "acme/templates")
    own = dataclasses.replace(usage, file_project="acme/web", file_path=".gitlab-ci.yml", consumers=("acme/web",))
    inventory = dataclasses.replace(INVENTORY, usages=(*INVENTORY.usages, own))
    result = build_plan(inventory, config(), facts(files=consumer_files), line_rewriter)
    ids = [a.id for a in result.plan.actions]
    assert "merge_request:acme/templates:gcp.yml" not in ids
    assert not any("id_tokens_for" in i for i in ids)
    [problem] = [m for m in result.plan.manual if m.subject == "file:acme/templates:gcp.yml"]
    assert ("consumer acme/web, file .gitlab-ci.yml, job ship: no ID token with the provider audience reaches "
            "the job") in problem.reason
    assert "consumer acme/web, file .gitlab-ci.yml: has key use of its own" in problem.reason


def test_service_accounts_entry_never_moves_a_readable_key_to_another_account() -> None:
    """google.service_accounts names the account of hidden variables only; for a readable key that
    belongs to another account it is an ERROR row and no binding on either account (issue 16 §8)."""
    cfg = config(service_accounts={"GCP_SA_KEY": CI})
    plan = build_plan(INVENTORY, cfg, facts(), line_rewriter).plan
    rows = [m for m in plan.manual if m.subject == "variable:project:acme/api:GCP_SA_KEY"]
    assert rows and rows[0].severity == "error" and "never moves a job to another account" in rows[0].reason
    assert f"ensure_binding:{DEPLOYER}" not in {a.id for a in plan.actions}
    ci = next(a for a in plan.actions if a.id == f"ensure_binding:{CI}")
    assert [s.project for s in ci.params.scopes] == ["acme/web"]  # not acme/api


def test_a_key_google_does_not_confirm_earns_no_binding() -> None:
    """The key gate reads the plan's journaled key facts: unconfirmed → ERROR row, no binding."""
    from helpers.plan_fixtures import V_API, confirmed

    for fact, reason in ((dataclasses.replace(confirmed(V_API.key), key_matches=False), "does not match"),
                         (dataclasses.replace(confirmed(V_API.key), disabled=True), "is disabled"),
                         (dataclasses.replace(confirmed(V_API.key), key_type="SYSTEM_MANAGED"), "not a user-managed"),
                         (dataclasses.replace(confirmed(V_API.key), key_exists=None, unknown_reason="HTTP 403"),
                          "HTTP 403")):
        inv = dataclasses.replace(INVENTORY, key_facts=(fact, *INVENTORY.key_facts[1:]))
        plan = build_plan(inv, config(), facts(), line_rewriter).plan
        assert f"ensure_binding:{DEPLOYER}" not in {a.id for a in plan.actions}, reason
        assert any(reason in m.reason and m.severity == "error" for m in plan.manual), reason
    assert f"ensure_binding:{DEPLOYER}" in {a.id for a in build_plan(INVENTORY, config(), facts(),
                                                                       line_rewriter).plan.actions}
