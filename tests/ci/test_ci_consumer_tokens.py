"""A consumer that copies a shared template's authentication with `!reference` (issue 21): its own
file gives the copying job the provider ID token (only that is added), checked independently; the
consumer change goes before the template's."""

from __future__ import annotations

from helpers.ci import AUD, PROVIDER, SA, dedent

from migrate.ci import RewriteOptions, effective, rewrite
from migrate.ci.consumer_tokens import add_tokens, order, verify

TEMPLATE = dedent("""
    .gcp-auth:
      script:
        - echo "$GCP_KEY" > /tmp/k.json
        - gcloud auth activate-service-account --key-file=/tmp/k.json
    """)
CONSUMER = dedent("""
    include:
      - project: platform/templates
        file: gcp.yml

    default:
      id_tokens:
        VAULT_ID_TOKEN:
          aud: https://vault.example.com

    deploy:
      stage: deploy
      script:
        - !reference [.gcp-auth, script]
        - gcloud run deploy app

    test:
      script:
        - make test
    """)
OPTIONS = RewriteOptions(provider=PROVIDER, service_account=SA, path="consumer.yml")


def test_the_copying_job_gets_the_token_and_keeps_the_default_ones() -> None:
    template = rewrite(TEMPLATE, RewriteOptions(provider=PROVIDER, service_account=SA))
    assert template.status == "rewritten" and template.text is not None
    result = add_tokens(CONSUMER, ["deploy"], RewriteOptions(provider=PROVIDER, service_account=SA,
                                                             included=(template.text,)))
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    # a job-level id_tokens replaces default:id_tokens, so the token goes into default: (VAULT kept)
    assert result.text == CONSUMER.replace(
        "default:\n  id_tokens:\n", f"default:\n  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUD}\n")
    assert "!reference [.gcp-auth, script]" in result.text


def test_without_default_tokens_the_job_itself_gets_it() -> None:
    text = CONSUMER.split("default:")[0] + "deploy:\n  script:\n    - !reference [.gcp-auth, script]\n"
    result = add_tokens(text, ["deploy"], OPTIONS)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    assert f"deploy:\n  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUD}\n  script:\n" in result.text


def test_a_job_whose_tokens_come_from_a_reference_gets_it_at_the_target() -> None:
    """The job's id_tokens are a !reference: the token goes where it points (`.vault`), and the job
    keeps its Vault token (it was manual while the placement looked at the file's structure)."""
    text = dedent("""
        .vault:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        deploy:
          id_tokens: !reference [.vault, id_tokens]
          script:
            - !reference [.gcp-auth, script]
        """)
    result = add_tokens(text, ["deploy"], OPTIONS)
    assert result.status == "rewritten" and result.text is not None, result.reasons
    assert result.text.split("deploy:")[0].count("GCP_ID_TOKEN:") == 1, result.text
    tokens = effective.resolve_text(result.text).jobs["deploy"]["id_tokens"]
    assert set(tokens) == {"VAULT_ID_TOKEN", "GCP_ID_TOKEN"}, tokens


def test_the_check_refuses_anything_beyond_the_token() -> None:
    """Broken variants: a changed command, a lost token, a token with another audience."""
    good = add_tokens(CONSUMER, ["deploy"], OPTIONS)
    assert good.status == "rewritten" and good.text is not None
    assert verify(CONSUMER, good.text, ["deploy"], OPTIONS, "GCP_ID_TOKEN") == []
    for broken in (good.text.replace("make test", "make test || true"),
                   good.text.replace("    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n", ""),
                   good.text.replace(f"aud: {AUD}", "aud: https://example.com")):
        assert broken != good.text
        assert verify(CONSUMER, broken, ["deploy"], OPTIONS, "GCP_ID_TOKEN"), broken


def test_consumers_go_before_the_template() -> None:
    deps = order("merge_request:platform/templates:gcp.yml", ["merge_request:b:.gitlab-ci.yml",
                                                              "merge_request:a:.gitlab-ci.yml"])
    assert deps["merge_request:platform/templates:gcp.yml"] == ("merge_request:a:.gitlab-ci.yml",
                                                                 "merge_request:b:.gitlab-ci.yml")
    assert deps["merge_request:a:.gitlab-ci.yml"] == ()
