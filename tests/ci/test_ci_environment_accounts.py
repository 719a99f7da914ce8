"""Terraform run per environment from one template, GOOGLE_APPLICATION_CREDENTIALS from an
environment-scoped key variable (issue 21): each environment's jobs received the key of another
service account (the plan's resolver fills `job_service_accounts`), so the shared line picks the
account from `$CI_ENVIRONMENT_NAME`: one credential configuration per environment."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.ci import AUD, dedent, run

from migrate.ci import acceptance, analyze, effective

STG, PRD = "stg@p.iam.gserviceaccount.com", "prd@p.iam.gserviceaccount.com"
ACCOUNTS = {"plan-staging": {"TF_KEY": STG}, "apply-production": {"TF_KEY": PRD}}
BEFORE = dedent("""
    .tf:
      image: hashicorp/terraform:1.9
      script:
        - echo "$TF_KEY" > /tmp/sa.json
        - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/sa.json
        - terraform apply -auto-approve
    plan-staging:
      extends: .tf
      environment: staging
    apply-production:
      extends: .tf
      environment:
        name: production
    """)
CASE = ('case "${CI_ENVIRONMENT_NAME}" in "production") GCP_WIF_SERVICE_ACCOUNT=' + PRD + ';; "staging") '
        'GCP_WIF_SERVICE_ACCOUNT=' + STG + ';; *) echo "wif-migrate: no service account for environment '
        '${CI_ENVIRONMENT_NAME}" >&2; exit 1;; esac')


def oracle(before: str, after: str) -> list[str]:
    keys = frozenset(analyze(before).key_variables)
    expect = acceptance.Expectation(keys, AUD, "id_tokens", lambda job, var: ACCOUNTS.get(job, {}).get(var, ""))
    return acceptance.compare(effective.resolve_text(before), effective.resolve_text(after), expect)


def test_one_template_two_environments_two_accounts() -> None:
    result = run(BEFORE, service_account="", job_service_accounts=ACCOUNTS)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    script = result.text.split("  script:\n", 1)[1].split("plan-staging:", 1)[0].splitlines()
    assert script[0] == "    - '" + CASE + "'"
    assert script[1] == '    - echo "${GCP_ID_TOKEN}" > "/tmp/sa.json.jwt"'
    assert "serviceAccounts/'\"${GCP_WIF_SERVICE_ACCOUNT}\"':generateAccessToken" in script[2]
    assert script[3:] == ["    - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/sa.json",
                          "    - terraform apply -auto-approve", ""] or script[3:5] == [
        "    - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/sa.json", "    - terraform apply -auto-approve"]
    assert oracle(BEFORE, result.text) == []
    # a deliberately broken variant: the arms swapped, each environment gets the other's account
    swapped = result.text.replace(f"={PRD};;", "=@@;;").replace(f"={STG};;", f"={PRD};;").replace("=@@;;", f"={STG};;")
    assert swapped != result.text
    failures = oracle(BEFORE, swapped)
    assert any("signs in as" in failure for failure in failures), failures


@pytest.mark.parametrize("environment", ["staging", "production", "review"])
def test_the_emitted_lines_write_each_environments_configuration(tmp_path: Path, environment: str) -> None:
    """Run for real in a POSIX shell: the configuration names the environment's account; any other
    environment stops the job."""
    dash = shutil.which("dash") or shutil.which("sh")
    if dash is None:
        pytest.skip("needs a POSIX shell")
    result = run(BEFORE, service_account="", job_service_accounts=ACCOUNTS)
    assert result.text is not None
    from migrate.ci.yamlnodes import construct

    lines = construct(result.text)[0][".tf"]["script"][:3]
    script = "\n".join(["set -e", *[line.replace("/tmp/sa.json", str(tmp_path / "sa.json")) for line in lines]])
    done = subprocess.run([dash, "-c", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "CI_ENVIRONMENT_NAME": environment, "GCP_ID_TOKEN": "t"})
    if environment == "review":
        assert done.returncode == 1 and "no service account for environment review" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "sa.json").read_text(encoding="utf-8"))
    email = STG if environment == "staging" else PRD
    assert config["service_account_impersonation_url"].endswith(f"/serviceAccounts/{email}:generateAccessToken")
    assert config["credential_source"]["file"] == str(tmp_path / "sa.json") + ".jwt"
    assert (tmp_path / "sa.json.jwt").read_text(encoding="utf-8") == "t\n"


@pytest.mark.parametrize("change", [
    ("environment: staging", "environment: review/$CI_COMMIT_REF_SLUG"),  # set at run time
    ("    name: production\n", "    name: staging\n"),  # one name, two accounts
    ("  environment: staging\n", "\n"),  # no environment at all
])
def test_environments_that_cannot_choose_stay_manual(change: tuple[str, str]) -> None:
    before = BEFORE.replace(*change)
    assert before != BEFORE
    result = run(before, service_account="", job_service_accounts=ACCOUNTS)
    assert result.status == "manual"
    assert any("shared by jobs that need different rewrites" in reason for reason in result.reasons), result.reasons
