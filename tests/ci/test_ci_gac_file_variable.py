"""The key in a file-type CI/CD variable named GOOGLE_APPLICATION_CREDENTIALS that the job also
activates (issue 21). A CI/CD variable overrides YAML `variables:`, so the federated configuration
is exported in the script, where the activation was; `keys delete` removes the variable later."""

from __future__ import annotations

import pytest
from helpers.ci import CREATE, dedent, run
from helpers.ci_oracle import oracle
from helpers.ci_rewrite_cases import expected

TOKEN = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.jwt"'
CONFIG = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"'


def test_activation_of_the_gac_file_variable_exports_the_configuration() -> None:
    before = dedent("""
        deploy:
          image: google/cloud-sdk:470.0.0
          script:
            - echo "deploying"
            - gcloud auth activate-service-account --key-file=$GOOGLE_APPLICATION_CREDENTIALS --project=p
            - terraform apply -auto-approve
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text == expected(f"""
        deploy:
          @TOKENS@
          image: google/cloud-sdk:470.0.0
          script:
            - echo "deploying"
            - echo "${{GCP_ID_TOKEN}}" > {TOKEN}
            - {CREATE} --credential-source-file={TOKEN} --output-file={CONFIG}
            - export GOOGLE_APPLICATION_CREDENTIALS={CONFIG}
            - gcloud auth login --cred-file={CONFIG} --project=p
            - gcloud auth print-access-token > /dev/null
            - terraform apply -auto-approve
        """)
    assert oracle(before, result.text) == []


@pytest.mark.parametrize("before,reason", [
    ("""
        deploy:
          script:
            - terraform init
            - gcloud auth activate-service-account --key-file "$GOOGLE_APPLICATION_CREDENTIALS"
        """, "`terraform` runs before the activation"),
    ("""
        deploy:
          script:
            - gcloud auth activate-service-account --key-file "$GOOGLE_APPLICATION_CREDENTIALS"
          after_script:
            - gsutil cp log.txt gs://b/
        """, "after_script runs in a new shell"),
    ("""
        deploy:
          script:
            - gcloud auth activate-service-account --key-file "$GOOGLE_APPLICATION_CREDENTIALS"
        plan:
          script:
            - terraform plan
        """, "job plan runs `terraform`"),
])
def test_implicit_readers_of_the_key_keep_it_manual(before: str, reason: str) -> None:
    result = run(dedent(before))
    assert result.status == "manual"
    assert any(reason in r for r in result.reasons), result.reasons


def test_quiet_commands_before_and_after_are_fine() -> None:
    before = dedent("""
        deploy:
          script:
            - mkdir -p out && cd out
            - chmod 400 $GOOGLE_APPLICATION_CREDENTIALS
            - gcloud auth activate-service-account --key-file "$GOOGLE_APPLICATION_CREDENTIALS"
            - gcloud run deploy app
          after_script:
            - rm -rf out
        build:
          script:
            - npm ci
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and "chmod" not in result.text
    assert oracle(before, result.text) == []


def test_the_oracle_refuses_the_export_to_another_path() -> None:
    """A broken variant that points GOOGLE_APPLICATION_CREDENTIALS elsewhere is not a federation step."""
    before = dedent("""
        deploy:
          script:
            - gcloud auth activate-service-account --key-file "$GOOGLE_APPLICATION_CREDENTIALS"
            - gcloud run deploy app
        """)
    good = run(before)
    assert good.status == "rewritten" and good.text is not None
    broken = good.text.replace('export GOOGLE_APPLICATION_CREDENTIALS="${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"',
                               "export GOOGLE_APPLICATION_CREDENTIALS=/tmp/other.json")
    assert broken != good.text
    assert oracle(before, broken)
