"""Literal before/after pairs for every rewrite pattern, plus idempotence of each result."""

from __future__ import annotations

import pytest
from helpers.ci import CREATE, PROVIDER, SA, dedent, run, token_block
from helpers.ci_rewrite_cases import CASES, expected

from migrate.ci import analyze


@pytest.mark.parametrize("name", list(CASES))
def test_rewrite_pattern(name: str) -> None:
    before, after = dedent(CASES[name][0]), expected(CASES[name][1])
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text == after
    assert result.diff.startswith("--- a/")


@pytest.mark.parametrize("name", list(CASES))
def test_rewriting_a_rewrite_changes_nothing(name: str) -> None:
    after = expected(CASES[name][1])
    assert analyze(after).findings == ()
    again = run(after)
    assert again.status == "unchanged" and again.text is None


def test_per_environment_keys_map_to_their_own_service_accounts() -> None:
    before = dedent("""
        staging:
          script:
            - echo $STAGING_KEY > /tmp/k.json
            - gcloud auth activate-service-account --key-file /tmp/k.json
        production:
          script:
            - echo $PROD_KEY > /tmp/k.json
            - gcloud auth activate-service-account --key-file /tmp/k.json
        """)
    unmapped = run(before)
    assert unmapped.status == "manual"
    assert any("--map" in reason for reason in unmapped.reasons)
    mapped = run(before, service_accounts={"STAGING_KEY": "stg@p.iam.gserviceaccount.com",
                                           "PROD_KEY": "prd@p.iam.gserviceaccount.com"})
    assert mapped.status == "rewritten", mapped.reasons
    assert mapped.text is not None
    assert "--service-account=stg@p.iam.gserviceaccount.com" in mapped.text.split("production:")[0]
    assert "--service-account=prd@p.iam.gserviceaccount.com" in mapped.text.split("production:")[1]
    assert SA not in mapped.text


def test_old_gitlab_uses_ci_job_jwt_v2_and_no_id_tokens() -> None:
    before = dedent("""
        deploy:
          script:
            - echo "$K" | base64 -d > /tmp/k.json
            - gcloud auth activate-service-account --key-file=/tmp/k.json
        """)
    result = run(before, gitlab_version=(15, 2), instance_url="https://gitlab.example.com")
    assert result.status == "rewritten", result.reasons
    assert result.text == dedent(f"""
        deploy:
          script:
            - echo "${{CI_JOB_JWT_V2}}" > "/tmp/k.json.jwt"
            - {CREATE} --credential-source-file="/tmp/k.json.jwt" --output-file=/tmp/k.json
            - gcloud auth login --cred-file=/tmp/k.json
            - gcloud auth print-access-token > /dev/null
        """)
    assert any("https://gitlab.example.com" in reason for reason in result.reasons)
    assert run(before, gitlab_version=(14, 3)).status == "manual"


def test_google_cloud_identity_uses_the_integration() -> None:
    before = dedent("""
        deploy:
          script:
            - echo "$K" | base64 -d > /tmp/k.json
            - gcloud auth activate-service-account --key-file=/tmp/k.json
        """)
    result = run(before, google_cloud_identity=True)
    assert result.status == "rewritten", result.reasons
    assert result.text == dedent("""
        deploy:
          identity: google_cloud
          script:
            - cp "$GOOGLE_APPLICATION_CREDENTIALS" /tmp/k.json
            - gcloud auth login --cred-file=/tmp/k.json
            - gcloud auth print-access-token > /dev/null
        """)


def test_crlf_line_ends_and_comments_survive() -> None:
    before = "# keep me\r\ndeploy:\r\n  script:\r\n    - gcloud auth activate-service-account --key-file=$KF\r\n" \
             "    - gcloud run deploy  # and me\r\n"
    result = run(before)
    assert result.status == "rewritten" and result.text is not None
    assert result.text.startswith("# keep me\r\ndeploy:\r\n  id_tokens:\r\n")
    assert result.text.endswith("    - gcloud run deploy  # and me\r\n")
    assert "\n" not in result.text.replace("\r\n", "")


def test_spec_header_document_is_kept() -> None:
    before = dedent("""
        spec:
          inputs:
            stage:
              default: deploy
        ---
        deploy:
          stage: $[[ inputs.stage ]]
          script:
            - gcloud auth activate-service-account --key-file=$KF
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and result.text.startswith(dedent("""
        spec:
          inputs:
            stage:
              default: deploy
        ---
        deploy:
          id_tokens:
        """))
    assert PROVIDER in result.text


def test_an_anchored_job_mapping_gets_one_token_and_a_merging_job_its_own() -> None:
    """`.auth: &auth` starts the mapping node on the key's line: the token goes under its first key,
    once; a job that merges it with `<<: *auth` gets its own (an own key beats a merged one)."""
    before = dedent("""
        .auth: &auth
          image: google/cloud-sdk:470.0.0
          before_script:
            - echo "$K" > /tmp/sa.json
            - gcloud auth activate-service-account --key-file=/tmp/sa.json
        migrate-db:
          <<: *auth
          script:
            - ./migrate.sh
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    assert result.text.startswith(".auth: &auth\n" + token_block() + "  image: google/cloud-sdk:470.0.0\n")
    assert result.text.count("id_tokens:") == 2
    assert "  <<: *auth\n" + token_block() + "  script:\n" in result.text


def test_the_self_check_refuses_a_repeated_key() -> None:
    from migrate.ci.selfcheck import _duplicate_keys
    from migrate.ci.yamlnodes import compose

    assert _duplicate_keys(compose("a:\n  x: 1\n  x: 2\nb:\n  <<: {x: 1}\n  x: 3\n")) == 1
