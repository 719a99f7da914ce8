"""The environment each job of a file runs in, for linking environment-scoped variables: read
from the one CI parser's analysis (own `environment:`, else the nearest `extends` ancestor's)."""

from __future__ import annotations

from helpers.ci import dedent

from migrate.ci import analyze
from migrate.scan.ci_files import job_environments


def test_own_environment_else_the_nearest_ancestors_in_either_form() -> None:
    text = dedent("""
        .prod:
          environment: {name: production}
        .base:
          extends: .prod
        deploy:
          extends: .base
          script: [gcloud auth activate-service-account --key-file "$KEY"]
        review:
          extends: .base
          environment: review/$CI_COMMIT_REF_SLUG
          script: [echo]
        lint:
          script: [echo]
    """)
    assert job_environments(analyze(text, ".gitlab-ci.yml")) == (
        (".base", "production"), (".prod", "production"), ("deploy", "production"),
        ("lint", None), ("review", "review/$CI_COMMIT_REF_SLUG"))


def test_a_file_that_is_not_yaml_has_no_jobs() -> None:
    assert job_environments(analyze("deploy: [unclosed", ".gitlab-ci.yml")) == ()
