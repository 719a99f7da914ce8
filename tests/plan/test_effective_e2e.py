"""Issue 14's observed cases end to end: `wif-migrate demo --org tests/orgs/effective.yaml` scans
the sandbox org, plans with the real rewriter, applies, merges, runs the pipelines (sign-in for
real against the Google emulator) and verifies. Each test reads what the run decided for one case:
the bindings, the service account each rewritten job signs in as, the manual-review reasons, and
whether the migrated pipelines passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ORG = ROOT / "tests" / "orgs" / "effective.yaml"
POOL = "projects/455555555555/locations/global/workloadIdentityPools/gitlab"


def sa(name: str) -> str:
    return f"{name}@eff-prod.iam.gserviceaccount.com"


class Run:
    def __init__(self, out: Path, stdout: str) -> None:
        self.stdout = stdout
        self.plan: dict[str, Any] = json.loads((out / "plan.json").read_text(encoding="utf-8"))
        self.actions = {a["id"]: a for a in self.plan["actions"]}

    def binding(self, account: str) -> list[str]:
        a = self.actions.get(f"ensure_binding:{account}")
        return list(a["params"]["members"]) if a else []

    def mr(self, project: str, path: str = ".gitlab-ci.yml") -> dict[str, Any] | None:
        a = self.actions.get(f"merge_request:{project}:{path}")
        return a["params"] if a else None

    def manual(self, subject: str) -> str:
        return " | ".join(m["reason"] for m in self.plan["manual"] if m["subject"] == subject)

    def verify_line(self, project: str) -> str:
        section = self.stdout.split("=== 5. verify")[1].split("=== 6.")[0]
        return next((ln for ln in section.splitlines() if ln.startswith(project + " ")), "")

    def impersonation(self, account: str) -> dict[str, Any]:
        return next(i for i in self.plan["impersonation"] if i["service_account"] == account)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("effective")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "WIF_SANDBOX_"))}
    proc = subprocess.run([sys.executable, "-m", "migrate", "demo", "--org", str(ORG), "--out", str(out),
                           "--now", "2026-11-25T09:00:00Z"], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Run(out, proc.stdout)


def member(attribute: str, value: str) -> str:
    return f"principalSet://iam.googleapis.com/{POOL}/attribute.{attribute}/{value}"


def test_two_projects_with_same_named_variables_each_sign_in_as_their_own_key(run: Run) -> None:
    alpha, beta = run.mr("eff/alpha"), run.mr("eff/beta")
    assert alpha is not None and beta is not None
    assert alpha["service_accounts"] == {"DEPLOY_KEY": sa("alpha")}
    assert beta["service_accounts"] == {"DEPLOY_KEY": sa("beta")}
    assert sa("alpha") in alpha["new_content"] and sa("beta") not in alpha["new_content"]
    assert sa("beta") in beta["new_content"] and sa("alpha") not in beta["new_content"]
    assert run.binding(sa("alpha")) == [member("project_id", "5001")]
    assert run.binding(sa("beta")) == [member("project_id", "5002")]
    assert "VERIFIED" in run.verify_line("eff/alpha") and "VERIFIED" in run.verify_line("eff/beta")


def test_shared_hidden_job_with_staging_and_production_keys_chooses_the_account_by_environment(run: Run) -> None:
    """One shared sign-in line, two environments, two accounts (issue 21): one `case` on
    $CI_ENVIRONMENT_NAME, which the sandbox runner evaluates in each job; both jobs verify."""
    mr = run.mr("eff/envs")
    assert mr is not None, run.manual("file:eff/envs:.gitlab-ci.yml")
    text, prd, stg = mr["new_content"], sa("prd"), sa("stg")
    assert f'"production") GCP_WIF_SERVICE_ACCOUNT={prd};;' in text
    assert f'"staging") GCP_WIF_SERVICE_ACCOUNT={stg};;' in text and "exit 1;; esac" in text
    assert "VERIFIED" in run.verify_line("eff/envs")
    # The bindings are still exact per environment (and protected for the protected variable).
    assert run.binding(sa("stg")) == [member("project_environment", "5003:staging")]
    assert run.binding(sa("prd")) == [member("project_protected_environment", "5003:protected:production")]


def test_jobs_with_their_own_sign_in_get_the_account_of_the_key_of_their_environment(run: Run) -> None:
    mr = run.mr("eff/envs-split")
    assert mr is not None
    per_job = mr["rewrite_options"]["job_service_accounts"]
    assert per_job == {"deploy_staging": {"ENV_KEY": sa("stg2")}, "deploy_production": {"ENV_KEY": sa("prd2")}}
    text = mr["new_content"]
    staging, production = text.split("deploy_production:")
    assert sa("stg2") in staging and sa("prd2") not in staging
    assert sa("prd2") in production and sa("stg2") not in production
    assert "VERIFIED" in run.verify_line("eff/envs-split")


def test_protected_project_variable_over_unprotected_group_variable(run: Run) -> None:
    assert run.mr("eff/prot") is None
    reason = run.manual("file:eff/prot:.gitlab-ci.yml")
    assert "gets different keys by ref" in reason and "only on unprotected refs" in reason
    assert run.binding(sa("prot")) == [member("project_protected", "5005:protected")]
    assert not any("5005" in m for m in run.binding(sa("shared")))


def test_template_consumer_shadowing_the_group_variable(run: Run) -> None:
    assert run.mr("eff/templates", "templates/auth.yml") is None
    reason = run.manual("file:eff/templates:templates/auth.yml")
    assert f"eff/shadow: job deploy as {sa('own')}" in reason and f"eff/web: job deploy as {sa('shared')}" in reason
    # The consumer is bound on the key it received (its own), never on the group's account.
    assert run.binding(sa("shared")) == [member("project_id", "5007")]
    assert run.binding(sa("own")) == [member("project_id", "5008")]
    shared = run.impersonation(sa("shared"))
    assert not shared["broader"]
    assert not any(case.startswith("eff/shadow ") for case in shared["before"])  # it never read it


def test_key_scoped_to_review_wildcard_gets_no_binding_and_no_rewrite(run: Run) -> None:
    assert run.binding(sa("review")) == []
    assert run.mr("eff/review") is None
    assert "named at run time" in run.manual("file:eff/review:.gitlab-ci.yml")


def test_every_migrated_pipeline_is_green_and_no_plan_is_broader(run: Run) -> None:
    section = run.stdout.split("=== 5. verify")[1].split("=== 6.")[0]
    assert "4 verified, 0 failed, 0 pending" in section  # eff/envs too since issue 21
    assert all(not i["broader"] for i in run.plan["impersonation"])
