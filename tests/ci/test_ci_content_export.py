"""The key's *contents* handed to Terraform (issue 21, Terraform per environment): `export
GOOGLE_CREDENTIALS="$(cat "$KEY_FILE")"`. GOOGLE_CREDENTIALS takes a path or the JSON itself
(terraform-provider-google `GetCredentials`, verify.PathOrContents) and accepts an external_account
configuration (migrate/ci/credvars.yaml), so the line becomes the token and the configuration at
`${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json` and the variable that path. A job whose `variables:`
also point GOOGLE_APPLICATION_CREDENTIALS at the key file, and whose script writes the
configuration before anything else could read it, gets that same path. Literal before/after, the
look-alikes that stay manual, and the per-environment form.
"""

from __future__ import annotations

import pytest
from helpers.ci import PROVIDER, dedent, printf, run

SA = "tf@acme-prod.iam.gserviceaccount.com"
KEYS = frozenset({"TF_KEY"})
TOKEN = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.jwt"'
CONFIG = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"'

BEFORE = dedent("""
    .tf:
      image: {name: "hashicorp/terraform:1.9", entrypoint: [""]}
      before_script:
        - cd "$TF_ROOT"
        - export GOOGLE_CREDENTIALS="$(cat "$TF_KEY")"
        - terraform init -input=false
    apply:
      extends: .tf
      script: [terraform apply -auto-approve]
    """)


def test_contents_of_the_key_file_become_the_configuration_path() -> None:
    result = run(BEFORE, service_account=SA, key_variables=KEYS)
    assert result.status == "rewritten", result.reasons
    assert result.text == dedent(f"""
        .tf:
          id_tokens:
            GCP_ID_TOKEN:
              aud: https://iam.googleapis.com/{PROVIDER}
          image: {{name: "hashicorp/terraform:1.9", entrypoint: [""]}}
          before_script:
            - cd "$TF_ROOT"
            - echo "${{GCP_ID_TOKEN}}" > {TOKEN}
            - {printf(TOKEN, CONFIG, SA)}
            - export GOOGLE_CREDENTIALS={CONFIG}
            - terraform init -input=false
        apply:
          extends: .tf
          script: [terraform apply -auto-approve]
        """)


@pytest.mark.parametrize("line", [
    'export GOOGLE_CREDENTIALS="$(cat "$TF_KEY" | tr -d "\\n")"',  # more than the file
    'GOOGLE_CREDENTIALS="$(cat "$TF_KEY")"',  # not exported: no tool sees it
    'export SCCACHE_GCS_KEY_PATH="$(cat "$TF_KEY")"',  # a variable that takes a path only
    'export GOOGLE_CREDENTIALS="$(head -c 4096 "$TF_KEY")"',
])
def test_look_alikes_stay_manual(line: str) -> None:
    text = BEFORE.replace('export GOOGLE_CREDENTIALS="$(cat "$TF_KEY")"', line.replace("\\", "\\\\"))
    result = run(text, service_account=SA, key_variables=KEYS)
    assert result.status == "manual", result.text


JOB_GAC = dedent("""
    .tf:
      before_script:
        - cd "$TF_ROOT/$CI_ENVIRONMENT_NAME"
        - export GOOGLE_CREDENTIALS="$(cat "$TF_KEY")"
        - terraform init -input=false
    plan:
      extends: .tf
      script: [terraform plan]
    apply:
      extends: .tf
      variables:
        GOOGLE_APPLICATION_CREDENTIALS: $TF_KEY
      script: [terraform apply -auto-approve]
    """)


def test_a_job_variable_points_at_the_configuration_its_script_writes_first() -> None:
    result = run(JOB_GAC, service_account=SA, key_variables=KEYS)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and "TF_KEY" not in result.text
    assert f"    GOOGLE_APPLICATION_CREDENTIALS: {CONFIG}\n" in result.text
    assert result.text.count("printf '") == 1  # nothing inserted into the job: its before_script writes it


def test_a_reader_before_the_configuration_is_written_stays_manual() -> None:
    """`terraform init` runs before the export: with the variable repointed it would find no file."""
    text = JOB_GAC.replace('    - cd "$TF_ROOT/$CI_ENVIRONMENT_NAME"\n', '    - terraform version\n')
    assert run(text, service_account=SA, key_variables=KEYS).status == "manual"


def test_per_environment_accounts_choose_by_environment() -> None:
    text = JOB_GAC.replace("  script: [terraform plan]\n", "  environment: staging\n  script: [terraform plan]\n") \
        .replace("  variables:\n", "  environment: production\n  variables:\n")
    assert text.count("environment: ") == 2
    accounts = {"plan": {"TF_KEY": "stg@acme-staging.iam.gserviceaccount.com"}, "apply": {"TF_KEY": SA}}
    result = run(text, job_service_accounts=accounts, key_variables=KEYS)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    assert f'"production") GCP_WIF_SERVICE_ACCOUNT={SA};;' in result.text
    assert '"staging") GCP_WIF_SERVICE_ACCOUNT=stg@acme-staging.iam.gserviceaccount.com;;' in result.text
