"""Every way a job can still read the key after its activation is rewritten (issue 15's list), and
key choice decided inside a script: each goes to manual with its reason, and the independent
effective-job check flags a rewrite that would leave the reader in place."""

from __future__ import annotations

import pytest
from helpers.ci import AUD, SA, run

from migrate.ci import acceptance, effective

WRITE = 'echo "$KEY" > key.json'
ACTIVATE = "gcloud auth activate-service-account --key-file key.json"

READERS = {
    "command substitution": 'gcloud config set project "$(jq -r .project_id key.json)"',
    "assignment with substitution": 'TF_VAR_x="$(grep client_email key.json)" terraform apply',
    "kubectl --from-file=k=v": "kubectl create secret generic sa --from-file=key.json=key.json",
    "docker mount": "docker run -v key.json:/secrets/sa.json img",
    "bq credential flag": "bq --service_account_credential_file=key.json ls",
    "gsutil boto option": "gsutil -o Credentials:gs_service_key_file=key.json ls gs://b",
    "flag value in the next word": "vault write auth/gcp/login jwt-file key.json",
    "redirection": "mytool < key.json",
    "project dir prefix": 'python deploy.py --credentials "${CI_PROJECT_DIR}/key.json"',
    "backticks": "export PROJECT=`jq -r .project_id key.json`",
}


def job(*commands: str) -> str:
    lines = "".join(f"    - '{command.replace(chr(39), chr(39) * 2)}'\n" for command in commands)
    return f"deploy:\n  image: google/cloud-sdk:slim\n  script:\n{lines}"


def test_without_a_reader_the_file_is_rewritten() -> None:
    assert run(job(WRITE, ACTIVATE, "gcloud run deploy app")).status == "rewritten"


@pytest.mark.parametrize("name", list(READERS))
def test_a_remaining_reader_sends_the_file_to_manual(name: str) -> None:
    result = run(job(WRITE, ACTIVATE, READERS[name]))
    assert result.status == "manual", result.text
    assert any("read" in reason and "key.json" in reason for reason in result.reasons), result.reasons


def test_export_between_write_and_activation_is_manual() -> None:
    result = run(job(WRITE, 'export GOOGLE_CREDENTIALS="$(cat key.json)"', ACTIVATE))
    assert result.status == "manual"
    assert any("read" in reason and "key.json" in reason for reason in result.reasons), result.reasons


def test_here_doc_reading_the_key_is_manual() -> None:
    text = ("deploy:\n  script:\n    - echo \"$KEY\" > key.json\n"
            f"    - {ACTIVATE}\n"
            "    - |\n      cat > cfg.ini <<EOF\n      key=$(cat key.json)\n      EOF\n")
    assert run(text).status == "manual"


@pytest.mark.parametrize("name", list(READERS))
def test_the_effective_check_alone_flags_a_rewrite_that_keeps_the_reader(name: str) -> None:
    """Independent of the planner: splice the reader into a correct rewrite and compare."""
    before = job(WRITE, ACTIVATE, "gcloud run deploy app", READERS[name])
    good = run(job(WRITE, ACTIVATE, "gcloud run deploy app"))
    assert good.text is not None
    broken = good.text + f"    - '{READERS[name].replace(chr(39), chr(39) * 2)}'\n"
    expect = acceptance.Expectation(frozenset({"KEY"}), AUD, "id_tokens", lambda job, var: SA)
    failures = acceptance.compare(effective.resolve_text(before), effective.resolve_text(broken), expect)
    assert any("still reads the key file" in failure for failure in failures), failures


BRANCHY = {
    "if/else one-liner": [
        'if [ "$CI_COMMIT_BRANCH" = main ]; then echo "$PROD_KEY" > k.json; else echo "$STAGING_KEY" > k.json; fi',
        "gcloud auth activate-service-account --key-file k.json"],
    "&& / || form": [
        '[ "$CI_COMMIT_BRANCH" = main ] && echo "$PROD_KEY" > k.json || echo "$STAGING_KEY" > k.json',
        "gcloud auth activate-service-account --key-file k.json"],
    "case on the environment": [
        'case "$CI_ENVIRONMENT_NAME" in prod) echo "$PROD_KEY" > k.json ;; *) echo "$STAGING_KEY" > k.json ;; esac',
        "gcloud auth activate-service-account --key-file k.json"],
}
ACCOUNTS = {"PROD_KEY": "prod@p.iam.gserviceaccount.com", "STAGING_KEY": "stg@p.iam.gserviceaccount.com"}


@pytest.mark.parametrize("name", list(BRANCHY))
def test_key_chosen_inside_the_script_is_manual(name: str) -> None:
    result = run(job(*BRANCHY[name]), service_accounts=ACCOUNTS)
    assert result.status == "manual", result.text
    assert result.reasons


def test_key_chosen_in_a_multi_line_if_block_is_manual() -> None:
    text = ("deploy:\n  script:\n    - |\n      if [ \"$CI_COMMIT_BRANCH\" = main ]; then\n"
            "        echo \"$PROD_KEY\" > k.json\n      else\n        echo \"$STAGING_KEY\" > k.json\n      fi\n"
            "    - gcloud auth activate-service-account --key-file k.json\n")
    result = run(text, service_accounts=ACCOUNTS)
    assert result.status == "manual"
    assert any("decided inside the script" in reason for reason in result.reasons), result.reasons


def test_the_effective_check_alone_flags_one_account_for_two_keys() -> None:
    before = job('[ "$CI_COMMIT_BRANCH" = main ] && echo "$PROD_KEY" > k.json || echo "$STAGING_KEY" > k.json',
                 "gcloud auth activate-service-account --key-file k.json")
    single = run(job('echo "$STAGING_KEY" > k.json', "gcloud auth activate-service-account --key-file k.json"),
                 service_accounts=ACCOUNTS)
    assert single.text is not None
    expect = acceptance.Expectation(frozenset(ACCOUNTS), AUD, "id_tokens", lambda job, var: ACCOUNTS[var])
    failures = acceptance.compare(effective.resolve_text(before), effective.resolve_text(single.text), expect)
    assert any("signs in as" in failure for failure in failures), failures
