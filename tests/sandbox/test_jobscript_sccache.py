"""The sandbox runner executes sccache's GCS sign-in the way sccache documents it: the file at
SCCACHE_GCS_KEY_PATH first, a service-account key or an external_account configuration
(mozilla/sccache docs/Gcs.md, Credentials). The demo runs the successful path end to end."""

from __future__ import annotations

import json

from migrate.sandbox.jobscript import GoogleEndpoints, GoogleSignIn, Shell


def shell(env: dict[str, str]) -> tuple[Shell, list[str]]:
    trace: list[str] = []
    # Port 9 (discard): a sign-in attempt fails loudly, so the test sees that one was made.
    return Shell(dict(env), {}, GoogleSignIn(GoogleEndpoints.single("http://127.0.0.1:9")),
                 "/builds/acme/rust", trace.append), trace


def test_sccache_without_a_gcs_bucket_is_not_a_sign_in() -> None:
    sh, trace = shell({"SCCACHE_GCS_KEY_PATH": "/tmp/k.json"})
    assert sh.run_script(["sccache --start-server"])
    assert sh.attempts == [] and any("not executed" in line for line in trace)


def test_sccache_reads_its_key_path_and_fails_like_a_missing_file() -> None:
    sh, trace = shell({"SCCACHE_GCS_BUCKET": "acme-cache", "SCCACHE_GCS_KEY_PATH": "/tmp/missing.json"})
    assert not sh.run_script(["sccache --start-server", "cargo build"])
    assert any("missing.json" in line for line in trace)


def test_sccache_signs_in_with_the_external_account_file_it_is_given() -> None:
    config = {"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/"
              "workloadIdentityPools/p/providers/q", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
              "token_url": "https://sts.googleapis.com/v1/token", "credential_source": {"file": "/tmp/t.jwt"}}
    sh, trace = shell({"SCCACHE_GCS_BUCKET": "acme-cache"})
    ok = sh.run_script([f"echo '{json.dumps(config)}' > /tmp/cfg.json", "echo token > /tmp/t.jwt",
                        "export SCCACHE_GCS_KEY_PATH=/tmp/cfg.json", "sccache --show-stats"])
    assert not ok  # the discard port refuses the STS exchange: the attempt was real
    assert [a.method for a in sh.attempts] == ["federated"]
    assert any("sccache reads GCS credentials from /tmp/cfg.json" in line for line in trace)
