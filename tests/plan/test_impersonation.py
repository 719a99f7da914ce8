"""Who-can-impersonate: before (key exposure) vs after (CEL mapping + condition + bindings)."""

from __future__ import annotations

from migrate.plan.federation_design import BindingScope, design_provider, members
from migrate.plan.impersonation import (
    Exposure,
    ProjectFacts,
    TokenCase,
    environment_matches,
    exposure_admits,
    simulate,
    token_cases,
)

D = design_provider("111111111111", "gitlab", "gitlab", "https://gitlab.acme.example", [100, 101])
API = ProjectFacts(1001, "acme/api", 100, "acme", (100,))
WEB = ProjectFacts(1002, "acme/web", 100, "acme", (100,))
INFRA = ProjectFacts(1003, "acme/platform/infra", 101, "acme/platform", (100, 101))
SA = "deployer@acme-prod.iam.gserviceaccount.com"


def cases() -> tuple[TokenCase, ...]:
    return token_cases(D.issuer, D.audience, [API, WEB, INFRA], ["production"], API)


def test_environment_scope_matching_follows_gitlab() -> None:
    assert environment_matches("*", None)
    assert environment_matches("production", "production")
    assert not environment_matches("production", None)
    assert not environment_matches("production", "production-eu")
    assert environment_matches("review/*", "review/feature-1")
    assert not environment_matches("review/*", "staging")


def test_group_variable_reaches_projects_below_the_group_only() -> None:
    exp = Exposure("group:acme/platform:K", "group", 101)
    by_label = {c.label: exposure_admits(exp, c) for c in cases()}
    assert by_label["acme/platform/infra (unprotected ref)"] is True
    assert by_label["acme/api (protected ref)"] is False


def test_protected_project_variable_before_and_after() -> None:
    exposures = {SA: [Exposure("project:acme/api:GCP_SA_KEY", "project", 1001, protected=True)]}
    bindings = {SA: members(D.pool_name, [BindingScope(1001, True)])}
    [r] = simulate(D, bindings, exposures, cases())
    assert r.ok
    assert r.after == (
        "acme/api (protected ref)", "acme/api (protected ref, environment production)",
        "acme/api (protected ref, environment wif-migrate-other-environment)",
        "acme/api with a 255-character ref and a 592-character path (protected)")
    assert r.after == r.before
    adversarial = {a.kind: a for a in r.to_row().adversarial or ()}
    assert adversarial["look-alike namespace"].why_after == "rejected by the attribute condition"
    assert adversarial["fork merge-request pipeline"].after is False
    assert {a.after for a in r.to_row().adversarial or () if a.kind == "over-long ref"} == {True, False}


def test_environment_scoped_variable_binds_that_environment_only() -> None:
    exposures = {SA: [Exposure("project:acme/platform/infra:TF_KEY[production]", "project", 1003,
                               environment_scope="production")]}
    bindings = {SA: members(D.pool_name, [BindingScope(1003, False, "production")])}
    [r] = simulate(D, bindings, exposures, cases())
    assert r.ok
    assert r.after == ("acme/platform/infra (protected ref, environment production)",
                       "acme/platform/infra (unprotected ref, environment production)")


def test_a_widened_binding_is_reported_broader() -> None:
    exposures = {SA: [Exposure("project:acme/api:GCP_SA_KEY", "project", 1001, protected=True)]}
    widened = {SA: members(D.pool_name, [BindingScope(1001)])}  # any ref, not protected only
    [r] = simulate(D, widened, exposures, cases())
    assert not r.ok
    assert r.broader == (
        "acme/api (unprotected ref)", "acme/api (unprotected ref, environment production)",
        "acme/api (unprotected ref, environment wif-migrate-other-environment)",
        "acme/api with a 255-character ref and a 592-character path (unprotected)")


def test_a_pool_wide_member_is_broader_but_still_not_for_other_namespaces() -> None:
    exposures = {SA: [Exposure("project:acme/api:GCP_SA_KEY", "project", 1001)]}
    [r] = simulate(D, {SA: [f"principalSet://iam.googleapis.com/{D.pool_name}/*"]}, exposures, cases())
    assert "acme/web (unprotected ref)" in r.broader
    assert not any("look-alike" in c or "fork" in c for c in r.after)


def test_a_member_of_another_pool_admits_nothing() -> None:
    other = "projects/1/locations/global/workloadIdentityPools/other"
    [r] = simulate(D, {SA: members(other, [BindingScope(1001)])}, {}, cases())
    assert r.after == ()
