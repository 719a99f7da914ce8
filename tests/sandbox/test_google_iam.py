"""Service accounts, keys, policies, Resource Manager, key sign-in and Policy Analyzer through the
real Google clients against the sandbox."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import pytest
from google.api_core import exceptions as core_exceptions
from google.cloud import resourcemanager_v3
from google.oauth2 import service_account
from googleapiclient.errors import HttpError
from helpers.google_org import (
    ADMIN,
    BUILDER,
    DEPLOYER,
    ID_NUMBER,
    ID_PROJECT,
    LIMITED,
    PROD_NUMBER,
    PROD_PROJECT,
    iam_client,
    service,
)

from migrate.sandbox.google import GoogleApp

SA_NAME = f"projects/{PROD_PROJECT}/serviceAccounts/{DEPLOYER}"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]

pytest_plugins = ["helpers.google_fixtures"]
pytestmark = pytest.mark.usefixtures("isolated")


def accounts(app: GoogleApp, token: str = ADMIN) -> Any:
    return iam_client(app.base_url, token).projects().serviceAccounts()


def content(err: HttpError) -> dict[str, Any]:
    return dict(json.loads(err.content)["error"])


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return dict(json.loads(resp.read()))


def get(url: str) -> Any:
    with urllib.request.urlopen(url) as resp:
        return json.loads(resp.read())


# --- service accounts and policies -------------------------------------------------------------------

def test_service_account_get_and_list(google_app: GoogleApp) -> None:
    sa = accounts(google_app).get(name=SA_NAME).execute()
    assert sa["email"] == DEPLOYER and sa["projectId"] == PROD_PROJECT and "disabled" not in sa
    assert sa["uniqueId"].isdigit()
    emails = {a["email"] for a in accounts(google_app).list(name=f"projects/{PROD_PROJECT}").execute()["accounts"]}
    assert {DEPLOYER, BUILDER} <= emails
    with pytest.raises(HttpError) as err:
        accounts(google_app).get(name=f"projects/{PROD_PROJECT}/serviceAccounts/ghost@x.iam.gserviceaccount.com").execute()
    assert err.value.status_code == 404
    with pytest.raises(HttpError) as err:  # the wildcard hides existence: 403
        accounts(google_app).get(name="projects/-/serviceAccounts/ghost@x.iam.gserviceaccount.com").execute()
    assert err.value.status_code == 403


def test_set_iam_policy_read_modify_write_and_stale_etag_conflict(google_app: GoogleApp) -> None:
    api = accounts(google_app)
    policy = api.getIamPolicy(resource=SA_NAME, options_requestedPolicyVersion=3).execute()
    member = f"principalSet://iam.googleapis.com/projects/{ID_NUMBER}/locations/global/workloadIdentityPools/gitlab/attribute.project_id/4242"
    policy["bindings"].append({"role": "roles/iam.workloadIdentityUser", "members": [member]})
    written = api.setIamPolicy(resource=SA_NAME, body={"policy": policy}).execute()
    assert written["etag"] != policy["etag"]
    assert {"role": "roles/iam.serviceAccountUser", "members": ["user:alice@acme.example"]} in written["bindings"]
    with pytest.raises(HttpError) as err:  # the etag read before our own write is now stale
        api.setIamPolicy(resource=SA_NAME, body={"policy": policy}).execute()
    assert err.value.status_code == 409 and content(err.value)["status"] == "ABORTED"
    assert str(err.value.reason).startswith("There were concurrent policy changes.")


def test_race_hook_makes_another_writer_change_the_policy(google_app: GoogleApp) -> None:
    api = accounts(google_app)
    policy = api.getIamPolicy(resource=SA_NAME, options_requestedPolicyVersion=3).execute()
    post(f"{google_app.base_url}/_sandbox/race",
         {"resource": SA_NAME, "member": "user:bob@acme.example", "role": "roles/viewer"})
    with pytest.raises(HttpError) as err:
        api.setIamPolicy(resource=SA_NAME, body={"policy": policy}).execute()
    assert err.value.status_code == 409
    fresh = api.getIamPolicy(resource=SA_NAME, options_requestedPolicyVersion=3).execute()
    assert {"role": "roles/viewer", "members": ["user:bob@acme.example"]} in fresh["bindings"]
    api.setIamPolicy(resource=SA_NAME, body={"policy": fresh}).execute()  # a retry succeeds


def test_conditional_policy_is_mangled_at_version_1_and_kept_at_version_3(google_app: GoogleApp) -> None:
    api = accounts(google_app)
    name = f"projects/{PROD_PROJECT}/serviceAccounts/{BUILDER}"
    v3 = api.getIamPolicy(resource=name, options_requestedPolicyVersion=3).execute()
    assert v3["version"] == 3
    assert any(b.get("condition", {}).get("title") == "expired" for b in v3["bindings"])
    v1 = api.getIamPolicy(resource=name).execute()
    assert v1["version"] == 1 and all("condition" not in b for b in v1["bindings"])
    assert any("_withcond_" in b["role"] for b in v1["bindings"])
    with pytest.raises(HttpError) as err:  # writing the mangled roles back is refused
        api.setIamPolicy(resource=name, body={"policy": v1}).execute()
    assert err.value.status_code == 400
    with pytest.raises(HttpError) as err:  # conditions need version 3
        api.setIamPolicy(resource=name, body={"policy": {**v3, "version": 1}}).execute()
    assert err.value.status_code == 400


def test_never_written_policy_reads_as_bare_etag(fresh_google: Any) -> None:
    app = fresh_google()
    name = f"projects/{PROD_PROJECT}/serviceAccounts/{DEPLOYER}"
    app.world.service_accounts[DEPLOYER].policy.bindings.clear()
    app.world.service_accounts[DEPLOYER].policy.revision = 0
    assert accounts(app).getIamPolicy(resource=name, options_requestedPolicyVersion=3).execute() == {"etag": "ACAB"}


def test_policy_body_with_unknown_field_is_400(google_app: GoogleApp) -> None:
    with pytest.raises(HttpError) as err:
        accounts(google_app).setIamPolicy(resource=SA_NAME, body={"policy": {"bindingz": []}}).execute()
    assert err.value.reason == 'Invalid JSON payload received. Unknown name "bindingz" at \'policy\': Cannot find field.'


# --- keys -------------------------------------------------------------------------------------------

def test_keys_list_filter_disable_enable_delete(fresh_google: Any) -> None:
    app = fresh_google()
    keys = accounts(app).keys()
    everything = keys.list(name=SA_NAME).execute()["keys"]
    user = keys.list(name=SA_NAME, keyTypes="USER_MANAGED").execute()["keys"]
    assert {k["keyType"] for k in everything} == {"USER_MANAGED", "SYSTEM_MANAGED"}
    assert len(user) == 2 and all(k["keyType"] == "USER_MANAGED" for k in user)
    k1 = app.key_by_label(DEPLOYER, "k1")["key_id"]
    first = next(k for k in user if k["name"].endswith(k1))
    assert first == {"name": f"{SA_NAME}/keys/{k1}", "validAfterTime": "2024-03-01T10:00:00Z",
                     "validBeforeTime": "9999-12-31T23:59:59Z", "keyAlgorithm": "KEY_ALG_RSA_2048",
                     "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED"}
    k1_name = f"{SA_NAME}/keys/{k1}"
    assert keys.disable(name=k1_name, body={}).execute() == {}
    assert keys.get(name=k1_name).execute()["disabled"] is True
    keys.enable(name=k1_name, body={}).execute()
    assert "disabled" not in keys.get(name=k1_name).execute()
    keys.delete(name=k1_name).execute()
    with pytest.raises(HttpError) as err:
        keys.get(name=k1_name).execute()
    assert err.value.status_code == 404
    assert len(keys.list(name=SA_NAME, keyTypes="USER_MANAGED").execute()["keys"]) == 1


def test_limited_token_gets_the_real_403_naming_the_permission(google_app: GoogleApp) -> None:
    keys = accounts(google_app, LIMITED).keys()
    k2 = google_app.key_by_label(DEPLOYER, "k2")["key_id"]
    assert keys.get(name=f"{SA_NAME}/keys/{k2}").execute()["keyType"] == "USER_MANAGED"
    with pytest.raises(HttpError) as err:
        keys.disable(name=f"{SA_NAME}/keys/{k2}", body={}).execute()
    assert err.value.status_code == 403
    assert err.value.reason == ("Permission 'iam.serviceAccountKeys.disable' denied on resource "
                                "(or it may not exist).")
    assert err.value.error_details[0]["metadata"] == {"permission": "iam.serviceAccountKeys.disable"}
    assert content(err.value)["status"] == "PERMISSION_DENIED"
    assert google_app.key_state(k2)["state"] == "ENABLED"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_missing_or_unknown_token_is_401(google_app: GoogleApp, headers: dict[str, str]) -> None:
    req = urllib.request.Request(f"{google_app.base_url}/v1/{SA_NAME}", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 401
    assert json.loads(err.value.read())["error"]["status"] == "UNAUTHENTICATED"


# --- Resource Manager -------------------------------------------------------------------------------

def projects_client(app: GoogleApp, token: str = ADMIN) -> resourcemanager_v3.ProjectsClient:
    return resourcemanager_v3.ProjectsClient(
        credentials=google.oauth2.credentials.Credentials(token), transport="rest",
        client_options={"api_endpoint": app.base_url})


def test_resource_manager_resolves_project_numbers_over_rest(google_app: GoogleApp) -> None:
    client = projects_client(google_app)
    by_id = client.get_project(name=f"projects/{PROD_PROJECT}")
    assert by_id.name == f"projects/{PROD_NUMBER}" and by_id.project_id == PROD_PROJECT
    assert by_id.state == resourcemanager_v3.Project.State.ACTIVE
    by_number = client.get_project(name=f"projects/{ID_NUMBER}")
    assert by_number.project_id == ID_PROJECT and by_number.labels["team"] == "platform"
    found = list(client.search_projects(query=f"projectId:{ID_PROJECT}"))
    assert [p.name for p in found] == [f"projects/{ID_NUMBER}"]
    assert [p.project_id for p in client.search_projects(query="labels.team:platform")] == [ID_PROJECT]
    assert {p.project_id for p in client.search_projects(query="name:acme*")} == {ID_PROJECT, PROD_PROJECT}
    with pytest.raises(core_exceptions.Forbidden):  # REST maps the HTTP 403, not the status string
        client.get_project(name="projects/does-not-exist")


# --- key sign-in and Policy Analyzer -----------------------------------------------------------------

def key_credentials(app: GoogleApp, label: str) -> service_account.Credentials:
    issued = app.keys.issue(DEPLOYER, label)
    return service_account.Credentials.from_service_account_info(
        issued.key_file(token_uri=f"{app.base_url}/token"), scopes=SCOPES)


def last_auth(app: GoogleApp, key_id: str) -> list[dict[str, Any]]:
    pa = service("policyanalyzer", "v1", app.base_url)
    full = f"//iam.googleapis.com/{SA_NAME}/keys/{key_id}"
    answer = pa.projects().locations().activityTypes().activities().query(
        parent=f"projects/{PROD_PROJECT}/locations/global/activityTypes/serviceAccountKeyLastAuthentication",
        filter=f'activities.fullResourceName = "{full}"').execute()
    return list(answer.get("activities", []))


def test_key_signed_jwt_is_accepted_until_the_key_is_disabled(fresh_google: Any) -> None:
    app = fresh_google()
    k1 = app.key_by_label(DEPLOYER, "k1")["key_id"]
    assert last_auth(app, k1) == []  # never used: absent, as on the real API
    creds = key_credentials(app, "k1")
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token and creds.valid
    info = get(f"{app.base_url}/tokeninfo?access_token={creds.token}")
    assert info["email"] == DEPLOYER
    [activity] = last_auth(app, k1)
    day = app.clock.now().strftime("%Y-%m-%d")
    assert activity["activityType"] == "serviceAccountKeyLastAuthentication"
    assert activity["activity"]["lastAuthenticatedTime"].endswith("T07:00:00Z")
    assert activity["activity"]["lastAuthenticatedTime"][:10] <= day
    assert activity["activity"]["serviceAccountKey"]["projectNumber"] == PROD_NUMBER
    # the minted token works on the admin API
    assert accounts(app, creds.token).get(name=SA_NAME).execute()["email"] == DEPLOYER
    accounts(app).keys().disable(name=f"{SA_NAME}/keys/{k1}", body={}).execute()
    with pytest.raises(google.auth.exceptions.RefreshError) as err:
        key_credentials(app, "k1").refresh(google.auth.transport.requests.Request())
    assert "invalid_grant" in str(err.value) and "Invalid JWT Signature." in str(err.value)
    accounts(app).keys().enable(name=f"{SA_NAME}/keys/{k1}", body={}).execute()
    key_credentials(app, "k1").refresh(google.auth.transport.requests.Request())
    accounts(app).keys().delete(name=f"{SA_NAME}/keys/{k1}").execute()
    with pytest.raises(google.auth.exceptions.RefreshError):
        key_credentials(app, "k1").refresh(google.auth.transport.requests.Request())


def test_key_sign_in_refuses_a_foreign_signature(fresh_google: Any) -> None:
    app = fresh_google()
    k1 = app.keys.issue(DEPLOYER, "k1")
    other = app.keys.issue(DEPLOYER, "not-in-the-org")  # a key Google never saw, same SA
    forged = {**other.key_file(f"{app.base_url}/token"), "private_key_id": k1.key_id}
    creds = service_account.Credentials.from_service_account_info(forged, scopes=SCOPES)
    with pytest.raises(google.auth.exceptions.RefreshError) as err:
        creds.refresh(google.auth.transport.requests.Request())
    assert "Invalid JWT Signature." in str(err.value)


def test_seeded_last_authentication_is_reported_at_day_granularity(google_app: GoogleApp) -> None:
    k2 = google_app.key_by_label(DEPLOYER, "k2")["key_id"]
    [activity] = last_auth(google_app, k2)
    assert activity["activity"]["lastAuthenticatedTime"] == "2026-11-20T07:00:00Z"  # seeded 10:30Z
    with pytest.raises(HttpError) as err:
        pa = service("policyanalyzer", "v1", google_app.base_url, LIMITED)
        pa.projects().locations().activityTypes().activities().query(
            parent=f"projects/{PROD_PROJECT}/locations/global/activityTypes/serviceAccountKeyLastAuthentication"
        ).execute()
    assert err.value.status_code == 403
    assert "policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query" in str(err.value.reason)


def test_state_endpoint_has_keys_but_no_private_material(google_app: GoogleApp) -> None:
    raw = urllib.request.urlopen(f"{google_app.base_url}/_sandbox/state").read().decode()
    state = json.loads(raw)
    assert "PRIVATE KEY" not in raw and "private_key" not in raw
    k2 = google_app.key_by_label(DEPLOYER, "k2")["key_id"]
    row = next(k for k in state["keys"] if k["key_id"] == k2)
    assert row["service_account"] == DEPLOYER and row["last_authenticated"] == "2026-11-20T10:30:00Z"
    assert {p["projectId"] for p in state["projects"]} == {ID_PROJECT, PROD_PROJECT}
    log = get(f"{google_app.base_url}/_sandbox/requests")
    assert isinstance(log, list)


def test_malformed_json_body_is_400_not_500(google_app: GoogleApp) -> None:
    req = urllib.request.Request(f"{google_app.base_url}/v1/{SA_NAME}:setIamPolicy", b"{not json",
                                 {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"]["message"].startswith("Invalid JSON payload received.")
