"""IAM propagation (cloud.google.com/iam/docs/access-change-propagation: "typically within 2
minutes, but can take 7 minutes or more"): the Google emulator's `iam_propagation_s` makes a new
binding grant impersonation only after that much sandbox clock; a pipeline that ran inside the
window is reported by `verify` as pending with the reason (re-run the pipeline), never as a
failure, and a refusal after the window is still a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from helpers.old_gitlab_org import ORG, run_demo

from migrate.core.codec import decode_time
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org
from migrate.verify.propagation import PROPAGATION_MAX_S, explain, within_propagation

SA = "deployer@acme-prod.iam.gserviceaccount.com"
AUTH = {"Authorization": "Bearer sandbox-google-token"}


def _org(delay: int) -> dict[str, Any]:
    data = yaml.safe_load(ORG)
    data["gitlab"]["version"] = "17.5.0"
    data["google"]["iam_propagation_s"] = delay
    return data


def test_emulator_binding_takes_effect_after_the_delay() -> None:
    with Sandbox(parse_org(_org(120))) as sb:
        # a service-account token of another SA stands in for any caller needing the binding
        member = "serviceAccount:caller@acme-prod.iam.gserviceaccount.com"
        policy = {"bindings": [{"role": "roles/iam.serviceAccountTokenCreator", "members": [member]}]}
        r = requests.post(f"{sb.google_url}/v1/projects/acme-prod/serviceAccounts/{SA}:setIamPolicy",
                          json={"policy": policy}, headers=AUTH, timeout=10)
        assert r.status_code == 200, r.text
        caller = sb.google.mint_token("service_account", service_account="caller@acme-prod.iam.gserviceaccount.com",
                                      scopes=("https://www.googleapis.com/auth/cloud-platform",), lifetime_s=3600)

        def impersonate() -> int:
            return requests.post(
                f"{sb.google_url}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
                json={"scope": ["https://www.googleapis.com/auth/cloud-platform"]},
                headers={"Authorization": f"Bearer {caller.token}"}, timeout=10).status_code

        assert impersonate() == 403
        from datetime import timedelta

        sb.clock.advance(timedelta(seconds=119))
        assert impersonate() == 403
        sb.clock.advance(timedelta(seconds=2))
        assert impersonate() == 200


def test_within_propagation_rule() -> None:
    denial = "ERROR: (gcloud.auth.login) federated sign-in as x refused: Permission " \
             "'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    bound = decode_time("2026-01-01T10:00:00Z")
    assert within_propagation(denial, bound, decode_time("2026-01-01T10:03:00.750Z")) == 180
    assert within_propagation(denial, bound, decode_time("2026-01-01T11:03:00+01:00")) == 180  # GitLab's zone
    assert within_propagation(denial, bound, decode_time("2026-01-01T10:07:00Z")) is None  # past the window
    assert within_propagation(denial, bound, decode_time("2026-01-01T09:59:00Z")) is None  # ran before the binding
    assert within_propagation("ERROR: Invalid JWT Signature.", bound, decode_time("2026-01-01T10:01:00Z")) is None
    assert within_propagation(denial, None, decode_time("2026-01-01T10:01:00Z")) is None
    assert "added (2026-01-01T10:00:00Z)" in explain(180, bound)  # the journal's text of the time
    assert PROPAGATION_MAX_S == 420


@pytest.mark.slow
def test_verify_reports_a_run_inside_the_window_as_pending(tmp_path: Path) -> None:
    out = run_demo(tmp_path, yaml.safe_dump(_org(300)))
    verify = out.split("=== 5. verify")[1].split("=== 6.")[0]
    assert "0 verified, 0 failed, 1 pending" in verify, verify
    flat = "".join(verify.split())  # the table wraps the detail column
    assert "propagate" in flat and "re-runthepipeline" in flat and "iam.serviceAccounts.getAccessToken" in flat
