"""Workload identity pools and providers through google-api-python-client against the sandbox."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from helpers.google_org import (
    ID_NUMBER,
    ID_PROJECT,
    iam_client,
)

from migrate.sandbox.clock import Clock
from migrate.sandbox.google import GoogleApp

PARENT = f"projects/{ID_PROJECT}/locations/global"
MAPPING = {"google.subject": "assertion.sub", "attribute.namespace_id": "assertion.namespace_id"}

pytest_plugins = ["helpers.google_fixtures"]
pytestmark = pytest.mark.usefixtures("isolated")


def pools(app: GoogleApp) -> Any:
    return iam_client(app.base_url).projects().locations().workloadIdentityPools()


def wait(op: dict[str, Any], get: Any) -> tuple[dict[str, Any], int]:
    polls = 0
    while not op.get("done"):
        op = get(name=op["name"]).execute()
        polls += 1
        assert polls < 10
    return op, polls


def status_of(err: HttpError) -> str:
    return str(json.loads(err.content)["error"]["status"])


def test_pool_create_polls_its_operation_and_a_second_create_conflicts(google_app: GoogleApp) -> None:
    api = pools(google_app)
    op = api.create(parent=PARENT, workloadIdentityPoolId="ci-pool",
                    body={"displayName": "CI", "description": "from a test"}).execute()
    assert op["done"] is False
    assert op["name"].startswith(f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/ci-pool/operations/")
    done, polls = wait(op, api.operations().get)
    assert polls == 2  # lro_polls=2
    assert done["response"]["name"] == f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/ci-pool"
    pool = api.get(name=f"{PARENT}/workloadIdentityPools/ci-pool").execute()
    assert pool == {"name": f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/ci-pool",
                    "displayName": "CI", "description": "from a test", "state": "ACTIVE"}
    with pytest.raises(HttpError) as err:
        api.create(parent=PARENT, workloadIdentityPoolId="ci-pool", body={}).execute()
    assert err.value.status_code == 409 and status_of(err.value) == "ALREADY_EXISTS"


def test_deleted_pool_keeps_its_id_and_undelete_restores_it(google_app: GoogleApp) -> None:
    api = pools(google_app)
    wait(api.create(parent=PARENT, workloadIdentityPoolId="soft-pool", body={}).execute(),
         api.operations().get)
    name = f"{PARENT}/workloadIdentityPools/soft-pool"
    wait(api.delete(name=name).execute(), api.operations().get)
    deleted = api.get(name=name).execute()
    assert deleted["state"] == "DELETED" and deleted["expireTime"].endswith("Z")
    listed = [p["name"].rsplit("/", 1)[-1] for p in api.list(parent=PARENT).execute().get("workloadIdentityPools", [])]
    assert "soft-pool" not in listed
    with_deleted = api.list(parent=PARENT, showDeleted=True).execute()["workloadIdentityPools"]
    assert {"soft-pool", "old-pool"} <= {p["name"].rsplit("/", 1)[-1] for p in with_deleted}
    with pytest.raises(HttpError) as err:
        api.create(parent=PARENT, workloadIdentityPoolId="soft-pool", body={}).execute()
    assert err.value.status_code == 409
    wait(api.undelete(name=name, body={}).execute(), api.operations().get)
    restored = api.get(name=name).execute()
    assert restored["state"] == "ACTIVE" and "expireTime" not in restored


def test_soft_deleted_pool_is_purged_after_30_days_of_clock(fresh_google: Any) -> None:
    clock = Clock()
    app = fresh_google(clock=clock, lro_polls=0)
    api = pools(app)
    name = f"{PARENT}/workloadIdentityPools/short-lived"
    assert api.create(parent=PARENT, workloadIdentityPoolId="short-lived", body={}).execute()["done"] is True
    api.delete(name=name).execute()
    clock.advance(timedelta(days=29))
    assert api.get(name=name).execute()["state"] == "DELETED"
    clock.advance(timedelta(days=1, seconds=1))
    with pytest.raises(HttpError) as err:
        api.get(name=name).execute()
    assert err.value.status_code == 404
    assert api.create(parent=PARENT, workloadIdentityPoolId="short-lived", body={}).execute()["done"] is True


def test_misspelt_field_is_rejected_like_the_real_api(google_app: GoogleApp) -> None:
    with pytest.raises(HttpError) as err:
        pools(google_app).create(parent=PARENT, workloadIdentityPoolId="typo-pool",
                                 body={"displayNme": "x"}).execute()
    assert err.value.status_code == 400
    assert err.value.reason == ('Invalid JSON payload received. Unknown name "displayNme" at '
                                "'workload_identity_pool': Cannot find field.")
    assert status_of(err.value) == "INVALID_ARGUMENT"
    assert err.value.error_details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


def test_wrong_type_is_rejected(google_app: GoogleApp) -> None:
    with pytest.raises(HttpError) as err:
        pools(google_app).create(parent=PARENT, workloadIdentityPoolId="type-pool",
                                 body={"disabled": "yes"}).execute()
    assert err.value.status_code == 400
    assert "workload_identity_pool.disabled" in str(err.value.reason) and "TYPE_BOOL" in str(err.value.reason)


@pytest.mark.parametrize("pool_id, needle", [("gcp-x", "gcp-"), ("abc", "4-32"), ("Upper-Case", "4-32"),
                                             ("a" * 33, "4-32")])
def test_bad_pool_ids_get_an_invalid_argument(google_app: GoogleApp, pool_id: str, needle: str) -> None:
    with pytest.raises(HttpError) as err:
        pools(google_app).create(parent=PARENT, workloadIdentityPoolId=pool_id, body={}).execute()
    assert err.value.status_code == 400 and needle in str(err.value.reason)


def provider_body(issuer: str, condition: str | None = "assertion.namespace_id == '100'") -> dict[str, Any]:
    body: dict[str, Any] = {"attributeMapping": MAPPING, "oidc": {"issuerUri": issuer}}
    if condition is not None:
        body["attributeCondition"] = condition
    return body


def test_provider_lifecycle_through_the_provider_operations_collection(google_app: GoogleApp) -> None:
    api = pools(google_app)
    providers = api.providers()
    pool = f"{PARENT}/workloadIdentityPools/gitlab"
    op = providers.create(parent=pool, workloadIdentityPoolProviderId="gitlab-com",
                          body=provider_body("https://gitlab.com")).execute()
    assert "/providers/gitlab-com/operations/" in op["name"]
    with pytest.raises(TypeError):  # the pool collection's pattern does not match a provider op
        api.operations().get(name=op["name"])
    wait(op, providers.operations().get)
    got = providers.get(name=f"{pool}/providers/gitlab-com").execute()
    assert got["name"] == f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com"
    assert got["oidc"] == {"issuerUri": "https://gitlab.com"} and "disabled" not in got
    wait(providers.patch(name=got["name"], updateMask="attributeCondition,oidc.allowed_audiences",
                         body={"attributeCondition": "assertion.namespace_id in ['100', '200']",
                               "oidc": {"allowedAudiences": ["aud-1"]}}).execute(),
         providers.operations().get)
    patched = providers.get(name=got["name"]).execute()
    assert patched["attributeCondition"] == "assertion.namespace_id in ['100', '200']"
    assert patched["oidc"] == {"issuerUri": "https://gitlab.com", "allowedAudiences": ["aud-1"]}
    with pytest.raises(HttpError) as err:
        providers.patch(name=got["name"], updateMask="issuer", body={}).execute()
    assert err.value.status_code == 400
    wait(providers.delete(name=got["name"]).execute(), providers.operations().get)
    with pytest.raises(HttpError) as err:
        providers.create(parent=pool, workloadIdentityPoolProviderId="gitlab-com",
                         body=provider_body("https://gitlab.com")).execute()
    assert err.value.status_code == 409
    wait(providers.undelete(name=got["name"], body={}).execute(), providers.operations().get)
    assert providers.get(name=got["name"]).execute()["state"] == "ACTIVE"


@pytest.mark.parametrize("condition", [None, "true", "'assertion' == 'assertion'"])
def test_multi_tenant_issuer_needs_a_condition_on_the_claims(google_app: GoogleApp, condition: str | None) -> None:
    with pytest.raises(HttpError) as err:
        pools(google_app).providers().create(
            parent=f"{PARENT}/workloadIdentityPools/gitlab", workloadIdentityPoolProviderId="no-cond",
            body=provider_body("https://gitlab.com", condition)).execute()
    assert err.value.status_code == 400
    assert str(err.value.reason).startswith("The attribute condition must reference one of the provider's claims.")


@pytest.mark.parametrize("body, needle", [
    ({"attributeMapping": {"attribute.x": "assertion.sub"}, "oidc": {"issuerUri": "https://gl.example"}},
     "google.subject"),
    ({"attributeMapping": {"google.subject": "assertion.sub", "sub": "assertion.sub"},
      "oidc": {"issuerUri": "https://gl.example"}}, "Invalid mapped attribute key: sub"),
    ({"attributeMapping": {"google.subject": "assertion.sub ="}, "oidc": {"issuerUri": "https://gl.example"}},
     "Invalid CEL"),
    ({"attributeMapping": MAPPING, "attributeCondition": "assertion.x ==",
      "oidc": {"issuerUri": "https://gl.example"}}, "Invalid attribute condition"),
    ({"attributeMapping": MAPPING, "oidc": {"issuerUri": "http://gl.example"}}, "https"),
    ({"attributeMapping": MAPPING, "oidc": {"issuerUri": "https://gl.example", "jwksJson": '{"keys": []}'}},
     "JWKS"),
])
def test_provider_rules(google_app: GoogleApp, body: dict[str, Any], needle: str) -> None:
    with pytest.raises(HttpError) as err:
        pools(google_app).providers().create(
            parent=f"{PARENT}/workloadIdentityPools/gitlab", workloadIdentityPoolProviderId="rules",
            body=body).execute()
    assert err.value.status_code == 400 and needle in str(err.value.reason)


def test_injected_operation_fault_finishes_with_error_and_changes_nothing(google_app: GoogleApp) -> None:
    api = pools(google_app)
    google_app.fail_next_operations(1, code=13, message="Internal error encountered.")
    done, _ = wait(api.create(parent=PARENT, workloadIdentityPoolId="doomed", body={}).execute(),
                   api.operations().get)
    assert done["error"] == {"code": 13, "message": "Internal error encountered."}
    assert "response" not in done
    with pytest.raises(HttpError) as err:
        api.get(name=f"{PARENT}/workloadIdentityPools/doomed").execute()
    assert err.value.status_code == 404


def test_unknown_project_is_403_and_names_use_the_number(google_app: GoogleApp) -> None:
    api = pools(google_app)
    with pytest.raises(HttpError) as err:
        api.list(parent="projects/nope/locations/global").execute()
    assert err.value.status_code == 403
    by_number = api.get(name=f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/gitlab").execute()
    assert by_number["name"] == f"projects/{ID_NUMBER}/locations/global/workloadIdentityPools/gitlab"
