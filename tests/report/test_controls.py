"""Controls: the framework mapping as data, and each check's PASS / FAIL / MANUAL / ERROR rows."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.plan_fixtures import bind_params, ensure_params
from helpers.report_fixtures import (
    KEY_API,
    KEY_GROUP,
    NOW_AT,
    POOL,
    PROVIDER,
    VAR_API,
    VAR_HIDDEN,
    inventory,
    plan,
    project,
)

from migrate.core.model import Action, ImpersonationRow, Inventory, KeyFacts, KeyIdentity, Plan, Problem
from migrate.core.outcome import Status
from migrate.report import controls
from migrate.report.findings import (
    CHECK_STATUS,
    CheckResult,
    ControlFinding,
    FindingsDocument,
    build_findings,
)


def control(doc: FindingsDocument, control_id: str) -> ControlFinding:
    return next(c for c in doc.controls if c.id == control_id)


def rows(doc: FindingsDocument, control_id: str) -> list[tuple[str, str]]:
    return [(r.word, r.message) for r in control(doc, control_id).results]


def build(inv: Inventory, p: Plan | None = None) -> FindingsDocument:
    return build_findings(inv, p, [], NOW_AT)


def test_cis_ids_carry_their_benchmark_version() -> None:
    specs = {s.id: s for s in controls.load_controls()}
    cis = {(r.version, r.id) for r in specs["gcp-sa-only-google-managed-keys"].frameworks if r.framework.startswith("CIS")}
    assert cis == {("2.0", "1.4"), ("3.0", "1.4"), ("4.0", "1.4"), ("5.0", "1.5")}
    cis = {(r.version, r.id) for r in specs["gcp-sa-key-rotated-90-days"].frameworks if r.framework.startswith("CIS")}
    assert cis == {("2.0", "1.7"), ("3.0", "1.7"), ("4.0", "1.7"), ("5.0", "1.8")}
    prowler = {r.id for s in specs.values() for r in s.frameworks if r.framework == "Prowler"}
    assert "iam_workload_identity_pool_provider_attribute_condition" in prowler


def test_unknown_check_in_controls_data_is_refused() -> None:
    text = "controls:\n  - {id: x, check: nope, title: t, severity: low, description: d, remediation: r}\n"
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        controls.load_controls(text)


def test_control_status_fail_beats_error_beats_manual() -> None:
    def c(*statuses: str) -> ControlFinding:
        return ControlFinding("x", "t", "low", "", "", (),
                              tuple(CheckResult(CHECK_STATUS[s], "r", "m") for s in statuses))

    assert c("PASS", "MANUAL", "ERROR", "FAIL").word == "FAIL"
    assert c("PASS", "MANUAL", "ERROR").word == "ERROR"
    assert c("PASS", "MANUAL").word == "MANUAL"
    assert c("PASS").word == "PASS" and c("PASS").status is Status.PASSED


# --- only Google-managed keys (CIS 1.4 / v5.0 1.5) ---------------------------------------------

def test_managed_keys_fail_enabled_pass_deleted_error_unreadable() -> None:
    lost = KeyIdentity("lost@acme-prod.iam.gserviceaccount.com", "d4" * 20)
    inv = replace(inventory(), key_facts=(
        KeyFacts(KEY_API, True, False, True, "2026-03-01T00:00:00Z", disabled=False),
        KeyFacts(KEY_GROUP, True, False, False),
        KeyFacts(lost),  # nothing known and no variable holds it
    ), variables=(VAR_API,))
    assert rows(build(inv), "gcp-sa-only-google-managed-keys") == [
        ("PASS", "Key builder@acme-ci.iam.gserviceaccount.com#b2b2b2b2 has been deleted."),
        ("FAIL", "Key deployer@acme-prod.iam.gserviceaccount.com#a1a1a1a1 is an enabled user-managed key."),
        ("ERROR", "Could not read whether key lost@acme-prod.iam.gserviceaccount.com#d4d4d4d4 still exists."),
    ]


def test_managed_keys_fail_when_stored_but_google_unknown() -> None:
    inv = replace(inventory(), key_facts=(), variables=(VAR_API,))
    assert rows(build(inv), "gcp-sa-only-google-managed-keys") == [
        ("FAIL", "Key deployer@acme-prod.iam.gserviceaccount.com#a1a1a1a1 is stored in "
                 "project:acme/api:GCP_SA_KEY[production]; Google did not confirm its state."),
    ]


def test_managed_keys_pass_row_when_scope_has_no_key() -> None:
    inv = replace(inventory(), key_facts=(), variables=(), usages=())
    assert rows(build(inv), "gcp-sa-only-google-managed-keys") == [
        ("PASS", "No user-managed service-account key was found in the GitLab scope.")]


# --- 90-day rotation (CIS 1.7 / v5.0 1.8) ------------------------------------------------------

def test_rotation_fail_old_pass_young_error_unknown_creation() -> None:
    inv = replace(inventory(), variables=(VAR_API,), key_facts=(
        KeyFacts(KEY_API, True, False, True, "2025-12-10T12:00:00Z", disabled=False),  # exactly 90 days
        KeyFacts(KEY_GROUP, True, False, True, "2025-12-09T12:00:00Z", disabled=False),  # 91 days
        KeyFacts(KeyIdentity("x@p.iam.gserviceaccount.com", "e5" * 20), True, False, True, None, disabled=False),
    ))
    assert rows(build(inv), "gcp-sa-key-rotated-90-days") == [
        ("FAIL", "Key builder@acme-ci.iam.gserviceaccount.com#b2b2b2b2 was created on 2025-12-09, 91 days ago, "
                 "more than 90."),
        ("PASS", "Key deployer@acme-prod.iam.gserviceaccount.com#a1a1a1a1 was created on 2025-12-10, 90 days ago."),
        ("ERROR", "The creation time of key x@p.iam.gserviceaccount.com#e5e5e5e5 could not be read."),
    ]


# --- provider attribute condition ---------------------------------------------------------------

def provider_plan(desired: dict[str, object]) -> Plan:
    return replace(plan(), actions=(Action("ensure_provider:gitlab/gitlab", "ensure_provider", "gitlab/gitlab",
                                           "p", params=ensure_params(PROVIDER, desired)),), impersonation=())


def test_provider_condition_pass_fail_manual() -> None:
    inv = inventory()
    ok = provider_plan({"attributeCondition": "assertion.namespace_id == '100'"})
    assert rows(build(inv, ok), "wif-provider-attribute-condition") == [
        ("PASS", f"Provider {PROVIDER} only accepts tokens matching `assertion.namespace_id == '100'`.")]
    none = provider_plan({"attributeMapping": {}})
    assert rows(build(inv, none), "wif-provider-attribute-condition") == [
        ("FAIL", f"Provider {PROVIDER} has no attribute condition, so any project on the GitLab instance can "
                 "exchange its tokens.")]
    path = provider_plan({"attributeCondition": "assertion.namespace_path.startsWith('acme')"})
    assert rows(build(inv, path), "wif-provider-attribute-condition")[0][0] == "MANUAL"
    assert rows(build(inv, None), "wif-provider-attribute-condition") == [
        ("MANUAL", "No plan or applied provider was found, so the attribute condition could not be checked; "
                   "run wif-migrate plan.")]


# --- bindings no broader than the key -----------------------------------------------------------

def binding_plan(*members: str, impersonation: tuple[ImpersonationRow, ...] = ()) -> Plan:
    action = Action("ensure_binding:" + KEY_API.service_account, "ensure_binding", "sa", "b",
                    params=bind_params(KEY_API.service_account, *members))
    return replace(plan(), actions=(action,), impersonation=impersonation)


@pytest.mark.parametrize(("member", "status", "says"), [
    ("/attribute.project_protected_environment/1001:protected:production", "PASS", "admits only project acme/api"),
    ("/*", "FAIL", "admits every identity in the pool"),
    ("/attribute.namespace_id/100", "FAIL", "admits a whole namespace"),
    ("/attribute.project_protected_environment/1002:protected:production", "FAIL", "admits project id 1002"),
    ("/attribute.project_id/1001", "FAIL", "but the key's variables are protected"),
    ("/attribute.project_protected/1001:protected", "FAIL", "but the key's variables are environment-scoped"),
    ("/attribute.repository/acme-api", "MANUAL", "cannot be compared"),
])
def test_binding_member_verdicts(member: str, status: str, says: str) -> None:
    (result,) = control(build(inventory(), binding_plan(POOL + member)), "wif-binding-not-broader-than-key").results
    assert (result.word, result.resource) == (status, KEY_API.service_account)
    assert says in result.message


def test_binding_without_members_is_an_error_and_no_plan_is_manual() -> None:
    results = control(build(inventory(), binding_plan()), "wif-binding-not-broader-than-key").results
    assert [r.word for r in results] == ["ERROR"]
    assert rows(build(inventory(), None), "wif-binding-not-broader-than-key") == [
        ("MANUAL", "No plan or applied binding was found; run wif-migrate plan.")]


def test_binding_fails_when_impersonation_table_widens() -> None:
    table = (ImpersonationRow("sa@p.iam.gserviceaccount.com", ("a",), ("a", "fork MR of a"), ("fork MR of a",)),)
    statuses = rows(build(inventory(), binding_plan(impersonation=table)), "wif-binding-not-broader-than-key")
    assert ("FAIL", "After migration fork MR of a could impersonate sa@p.iam.gserviceaccount.com, which could not "
                    "use its key before.") in statuses


# --- no key in CI/CD variables ------------------------------------------------------------------

def test_variables_fail_manual_error_pass() -> None:
    inv = replace(inventory(), variables=(VAR_API, VAR_HIDDEN),
                  projects=(project(1001, "acme/api"), project(1004, "acme/docs"),
                            project(1005, "acme/secret", status="error", error="403 Forbidden")),
                  problems=(Problem("group:acme", "variables: 403 Forbidden"),))
    assert rows(build(inv), "gitlab-no-key-in-ci-variables") == [
        ("ERROR", "The variables of group:acme could not be read: variables: 403 Forbidden."),
        ("FAIL", "The project variable GCP_SA_KEY of acme/api holds key "
                 "deployer@acme-prod.iam.gserviceaccount.com#a1a1a1a1 (protected)."),
        ("PASS", "Project acme/docs has no CI/CD variable holding a service-account key."),
        ("MANUAL", "The project variable DEPLOY_CREDENTIALS of acme/legacy may hold a key: hidden variable named "
                   "like a credential."),
        ("ERROR", "Project acme/secret could not be read: 403 Forbidden."),
    ]
