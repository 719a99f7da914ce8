"""The sandbox shell: how credentials move through a job script (no sign-in needed here)."""

from __future__ import annotations

import base64
import json

from migrate.sandbox.jobscript import GoogleEndpoints, GoogleSignIn, Shell, split_commands

CRED = '{"type": "external_account"}'


def shell(env: dict[str, str] | None = None) -> tuple[Shell, list[str]]:
    trace: list[str] = []
    # Port 9 (discard) on localhost: any sign-in attempt would fail loudly, none is made here.
    sh = Shell(dict(env or {}), {}, GoogleSignIn(GoogleEndpoints.single("http://127.0.0.1:9")),
               "/builds/acme/api", trace.append)
    return sh, trace


def test_split_commands_respects_quotes_and_substitutions() -> None:
    assert split_commands('echo "a;b" && gcloud x || true; echo $(a; b)') == [
        ('echo "a;b"', "&&"), ("gcloud x", "||"), ("true", ";"), ("echo $(a; b)", "")]


def test_echo_base64_decode_to_file() -> None:
    value = base64.b64encode(CRED.encode()).decode()
    sh, _ = shell({"GCP_SA_KEY": value})
    assert sh.run_script(['echo "$GCP_SA_KEY" | base64 -d > /tmp/sa.json',
                          "echo $GCP_SA_KEY | base64 --decode > key.json"])
    assert sh.files["/tmp/sa.json"] == CRED
    assert sh.files["/builds/acme/api/key.json"] == CRED


def test_unquoted_echo_of_json_stays_json() -> None:
    sh, _ = shell({"KEY": json.dumps({"a": "x y", "b": 1}, indent=2), "HOME": "/root"})
    assert sh.run_script(["echo $KEY > ${HOME}/k.json"])
    assert json.loads(sh.files["/root/k.json"]) == {"a": "x y", "b": 1}


def test_exports_and_defaults() -> None:
    sh, _ = shell({"CI_PROJECT_DIR": "/builds/acme/api"})
    ok = sh.run_script(['export GOOGLE_APPLICATION_CREDENTIALS="$CI_PROJECT_DIR/gcp-key.json"',
                        "export X=${UNSET:-fallback}", "Y=$(pwd)/y"])
    assert sh.env["GOOGLE_APPLICATION_CREDENTIALS"] == "/builds/acme/api/gcp-key.json"
    # The job points client libraries at a file it never wrote: they would fail, so does the job.
    assert not ok
    assert sh.env["X"] == "fallback" and sh.env["Y"] == "/builds/acme/api/y"


def test_create_cred_config_writes_what_gcloud_writes() -> None:
    sh, trace = shell({"SA": "deployer@acme-prod.iam.gserviceaccount.com"})
    provider = "projects/111/locations/global/workloadIdentityPools/gitlab/providers/gitlab"
    ok = sh.run_script([
        'echo "$GCP_ID_TOKEN" > .ci_job_jwt_file',
        f"gcloud iam workload-identity-pools create-cred-config {provider} \\\n"
        '  --service-account="$SA" --output-file=.gcp_temp_cred.json \\\n'
        "  --credential-source-file=.ci_job_jwt_file"])
    assert ok, trace
    config = json.loads(sh.files["/builds/acme/api/.gcp_temp_cred.json"])
    assert config["type"] == "external_account"
    assert config["audience"] == "//iam.googleapis.com/" + provider
    assert config["token_url"] == "https://sts.googleapis.com/v1/token"
    # gcloud writes `format` only with --credential-source-type (tests/google_adapter/test_real_gcloud.py
    # compares with the real CLI)
    assert config["credential_source"] == {"file": "/builds/acme/api/.ci_job_jwt_file"}
    assert config["service_account_impersonation_url"].endswith(
        "/serviceAccounts/deployer@acme-prod.iam.gserviceaccount.com:generateAccessToken")


def test_missing_key_file_fails_the_job_with_gcloud_message() -> None:
    sh, trace = shell()
    assert not sh.run_script(["gcloud auth activate-service-account --key-file=/tmp/none.json",
                              "echo never reached > /tmp/x"])
    assert any("Unable to read file [/tmp/none.json]" in line for line in trace)
    assert "/tmp/x" not in sh.files


def test_failure_in_condition_or_before_or_does_not_end_the_job() -> None:
    sh, _ = shell()
    assert sh.run_script(["gcloud auth login --cred-file=missing.json || echo fallback > f",
                          "if gcloud auth login --cred-file=missing.json; then echo yes; fi"])
    assert sh.files["/builds/acme/api/f"] == "fallback\n"


def test_other_commands_are_listed_not_run() -> None:
    sh, trace = shell()
    assert sh.run_script(["terraform apply -auto-approve", "gcloud config set project p"])
    assert any("`terraform` not executed" in line for line in trace)
    assert not sh.attempts


def test_not_json_key_file() -> None:
    sh, trace = shell({"K": "not json"})
    assert not sh.run_script(['echo "$K" > k.json', "gcloud auth activate-service-account --key-file k.json"])
    assert any("Could not read json file" in line for line in trace)
