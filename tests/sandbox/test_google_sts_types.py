"""STS refuses a mapped attribute that is not a string: "The mapped attribute 'KEY' must be of type
STRING." (unauthorized_client; google-github-actions/auth#378). GitLab's `runner_id` claim is an
integer (lib/gitlab/ci/jwt.rb), so `attribute.runner = assertion.runner_id` breaks every exchange.
The emulator used to stringify such values, hiding the failure; the tool's simulation models it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from helpers.old_gitlab_org import ORG

from migrate.plan.federation_design import ATTRIBUTE_MAPPING, NAMESPACE_ATTRIBUTES, design_provider
from migrate.plan.impersonation import ProviderEvaluator
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

NUMBER = "499999999999"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab"
AUTH = {"Authorization": "Bearer sandbox-google-token"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    data = yaml.safe_load(ORG)
    data["gitlab"]["version"] = "17.5.0"
    with Sandbox(parse_org(data)) as sandbox:
        yield sandbox


def _exchange(sb: Sandbox, provider: str, mapping: dict[str, str]) -> requests.Response:
    name = f"{POOL}/providers/{provider}"
    body = {"attributeMapping": mapping, "attributeCondition": 'assertion.namespace_id == "100"',
            "oidc": {"issuerUri": sb.gitlab_url.rstrip("/")}}
    r = requests.post(f"{sb.google_url}/v1/{POOL}/providers", params={"workloadIdentityPoolProviderId": provider},
                      json=body, headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    token = sb.gitlab.mint_id_token("acme/api", ref="main", audience=f"https://iam.googleapis.com/{name}")
    return requests.post(f"{sb.google_url}/v1/token", timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "audience": f"//iam.googleapis.com/{name}",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "subject_token": token})


def test_an_integer_claim_mapped_as_attribute_is_refused(sb: Sandbox) -> None:
    r = _exchange(sb, "with-runner", {"google.subject": "assertion.sub", "attribute.runner": "assertion.runner_id"})
    assert r.status_code in (400, 401)
    assert r.json() == {"error": "unauthorized_client",
                        "error_description": "The mapped attribute 'attribute.runner' must be of type STRING."}


def test_the_tools_mapping_is_all_strings(sb: Sandbox) -> None:
    r = _exchange(sb, "tool-mapping", {**ATTRIBUTE_MAPPING, **NAMESPACE_ATTRIBUTES})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]


def test_the_simulation_refuses_non_string_mappings_too() -> None:
    claims: dict[str, Any] = {"sub": "s", "namespace_id": "100", "project_id": "1", "runner_id": 7}
    bad = ProviderEvaluator({"google.subject": "assertion.sub", "attribute.runner": "assertion.runner_id"},
                            'assertion.namespace_id == "100"').evaluate(claims)
    assert not bad.accepted and "attribute.runner" in bad.reason and "not a string" in bad.reason
    good = ProviderEvaluator({"google.subject": "assertion.sub"}, 'assertion.namespace_id == "100"').evaluate(claims)
    assert good.accepted
    # the tool's own design never maps a non-string claim
    design = design_provider(NUMBER, "gitlab", "gitlab", "https://g.example", [100])
    assert all("runner_id" not in expr for expr in design.attribute_mapping.values())
