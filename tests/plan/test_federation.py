"""Provider design: literal mapping, condition, audience, subject bound, scopes and members."""

from __future__ import annotations

import pytest

from migrate.plan.federation_design import (
    ATTRIBUTE_MAPPING,
    SUBJECT_BOUND_BYTES,
    BindingScope,
    FederationError,
    attribute_condition,
    design_provider,
    member,
    minimal_scopes,
    parse_member,
)
from migrate.plan.impersonation import ProjectFacts, ProviderEvaluator, claims_for

POOL = "projects/111111111111/locations/global/workloadIdentityPools/gitlab"


def design() -> object:
    return design_provider("111111111111", "gitlab", "gitlab", "https://gitlab.acme.example/", [101, 100])


def test_issuer_audience_and_condition_are_literal() -> None:
    d = design_provider("111111111111", "gitlab", "gl-prov", "https://gitlab.acme.example/", [101, 100, 101])
    assert d.issuer == "https://gitlab.acme.example"
    assert d.audience == ("https://iam.googleapis.com/projects/111111111111/locations/global/"
                          "workloadIdentityPools/gitlab/providers/gl-prov")
    assert d.sts_audience == d.audience.replace("https:", "")
    assert d.attribute_condition == 'assertion.namespace_id in ["100", "101"]'
    body = d.provider_body()
    assert body["oidc"] == {"issuerUri": "https://gitlab.acme.example", "allowedAudiences": [d.audience]}
    assert "jwksJson" not in body["oidc"]


def test_jwks_is_uploaded_only_when_given() -> None:
    d = design_provider("1", "gitlab", "gitlab", "https://g.example", [1], jwks_json='{"keys": []}')
    assert d.provider_body()["oidc"]["jwksJson"] == '{"keys": []}'


def test_mapping_keys_are_the_documented_attributes() -> None:
    assert sorted(ATTRIBUTE_MAPPING) == [
        "attribute.environment", "attribute.namespace_id", "attribute.project_environment",
        "attribute.project_id", "attribute.project_protected", "attribute.project_protected_environment",
        "attribute.ref_protected", "google.subject"]


def test_subject_fits_127_bytes_for_a_255_character_ref_and_a_deep_group_path() -> None:
    deep = "/".join(["acme"] + [f"level-{i:02d}-" + "g" * 40 for i in range(20)] + ["project"])
    project = ProjectFacts(id=99999999999999999999 // 10, path=deep, namespace_id=12345678901234567890 // 10,
                           namespace_path=deep.rsplit("/", 1)[0])
    ref = "r" * 255
    claims = claims_for("https://gitlab.acme.example", "aud", project, ref, False, "production", job_id=10**19 - 1)
    assert len(claims["sub"].encode()) > 127  # GitLab's default sub would overflow...
    mapped = ProviderEvaluator(ATTRIBUTE_MAPPING, "true").evaluate(claims)
    assert mapped.accepted, mapped.reason
    assert mapped.subject == "gitlab:9999999999999999999:unprotected:branch:job:9999999999999999999"
    assert len(mapped.subject.encode()) <= 127  # ...ours does not
    assert SUBJECT_BOUND_BYTES == 71  # 7 + 20 + 1 + 11 + 1 + 6 + 5 + 20, whatever the ref and path


def test_mapped_attributes_for_a_protected_environment_job() -> None:
    project = ProjectFacts(1003, "acme/platform/infra", 101, "acme/platform")
    claims = claims_for("https://g", "aud", project, "main", True, "production")
    mapped = ProviderEvaluator(ATTRIBUTE_MAPPING, "true").evaluate(claims)
    assert dict(mapped.attributes) == {
        "project_id": "1003", "namespace_id": "101", "ref_protected": "true", "environment": "production",
        "project_protected": "1003:protected", "project_environment": "1003:production",
        "project_protected_environment": "1003:protected:production"}


def test_condition_rejects_a_look_alike_namespace() -> None:
    d = design_provider("1", "gitlab", "gitlab", "https://g", [100, 101])
    ev = ProviderEvaluator(d.attribute_mapping, d.attribute_condition)
    ours = ProjectFacts(1001, "acme/api", 100, "acme")
    evil = ProjectFacts(5001, "acme-evil/api", 1000, "acme-evil")  # "100" is a prefix of "1000"
    assert ev.evaluate(claims_for("https://g", "a", ours, "main", True, None)).accepted
    refused = ev.evaluate(claims_for("https://g", "a", evil, "main", True, None))
    assert not refused.accepted and refused.reason == "rejected by the attribute condition"


def test_condition_refuses_an_empty_scope_and_one_longer_than_google_allows() -> None:
    with pytest.raises(FederationError, match="admit nothing"):
        attribute_condition([])
    with pytest.raises(FederationError, match="Google allows 4096"):
        attribute_condition(range(10**9, 10**9 + 400))


def test_each_scope_has_one_principal_set() -> None:
    assert member(POOL, BindingScope(1001)) == f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1001"
    assert BindingScope(1001, True).attribute() == ("project_protected", "1001:protected")
    assert BindingScope(1001, False, "prod").attribute() == ("project_environment", "1001:prod")
    assert BindingScope(1001, True, "prod").attribute() == ("project_protected_environment", "1001:protected:prod")


def test_minimal_scopes_drop_what_a_wider_scope_of_the_same_project_covers() -> None:
    scopes = [BindingScope(1, True, "prod"), BindingScope(1, True), BindingScope(2, False, "prod"),
              BindingScope(1, True)]
    assert minimal_scopes(scopes) == (BindingScope(1, True), BindingScope(2, False, "prod"))


def test_parse_member_kinds() -> None:
    assert parse_member(f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/7").kind == "attribute"
    assert parse_member(f"principalSet://iam.googleapis.com/{POOL}/*").kind == "pool"
    assert parse_member(f"principal://iam.googleapis.com/{POOL}/subject/x").value == "x"
    assert parse_member("user:alice@acme.example").kind == "other"
