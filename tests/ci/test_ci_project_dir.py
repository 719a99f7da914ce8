"""The key written to `$CI_PROJECT_DIR/P` and activated as the relative `P` (issue 21): the same file,
because a job's shell starts in `$CI_PROJECT_DIR` — but only while nothing may have changed
directory between the write and the use (`cd`, `pushd`, a sourced script, `eval`)."""

from __future__ import annotations

import itertools

import pytest
from helpers.ci import CREATE, dedent, run
from helpers.ci_rewrite_cases import expected

TOKEN = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}_gcp-key.json.jwt"'


def test_project_dir_write_and_relative_activation_are_one_file() -> None:
    before = dedent("""
        deploy:
          image: google/cloud-sdk:470.0.0
          script:
            - echo "$GCP_KEY" > ${CI_PROJECT_DIR}/gcp-key.json
            - gcloud auth activate-service-account --key-file=gcp-key.json
            - gcloud run deploy app
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text == expected(f"""
        deploy:
          @TOKENS@
          image: google/cloud-sdk:470.0.0
          script:
            - echo "${{GCP_ID_TOKEN}}" > {TOKEN}
            - {CREATE} --credential-source-file={TOKEN} --output-file=gcp-key.json
            - gcloud auth login --cred-file=gcp-key.json
            - gcloud auth print-access-token > /dev/null
            - gcloud run deploy app
        """)


def test_relative_write_and_project_dir_activation_too() -> None:
    before = dedent("""
        deploy:
          script:
            - echo "$GCP_KEY" | base64 -d > ./gcp-key.json
            - gcloud auth activate-service-account --key-file "$CI_PROJECT_DIR/gcp-key.json"
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and '--output-file="$CI_PROJECT_DIR/gcp-key.json"' in result.text


CHANGES = ["cd infra", "pushd infra", "source ./env.sh", ". ./env.sh", "eval \"$SETUP\"", "cd infra && make"]


@pytest.mark.parametrize("change", CHANGES)
def test_a_possible_directory_change_in_between_keeps_them_apart(change: str) -> None:
    """After `cd`, the relative `gcp-key.json` is another file: the activation reads something the
    job did not write from the key, so the tool refuses rather than guess."""
    before = dedent(f"""
        deploy:
          script:
            - echo "$GCP_KEY" > ${{CI_PROJECT_DIR}}/gcp-key.json
            - {change}
            - gcloud auth activate-service-account --key-file=gcp-key.json
        """)
    result = run(before)
    assert result.status == "manual"
    assert any("does not write from a key variable" in reason for reason in result.reasons), result.reasons


def test_after_script_starts_in_the_project_directory_again() -> None:
    """after_script runs in a new shell in $CI_PROJECT_DIR: a `cd` in script does not carry over."""
    before = dedent("""
        deploy:
          script:
            - cd app
            - make
          after_script:
            - echo "$GCP_KEY" > ${CI_PROJECT_DIR}/gcp-key.json
            - gcloud auth activate-service-account --key-file=gcp-key.json
            - gcloud storage cp report.txt gs://b/
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons


@pytest.mark.parametrize("write_form,use_form,between", list(itertools.product(
    ["${CI_PROJECT_DIR}/k.json", "$CI_PROJECT_DIR/k.json", "k.json", "./k.json"],
    ["k.json", "./k.json", "${CI_PROJECT_DIR}/k.json", "\"$CI_PROJECT_DIR/k.json\""],
    ["", "make build", "cd sub", "pushd sub", "popd", "source x.sh"])))
def test_generated_paths_match_exactly_when_no_directory_change(write_form: str, use_form: str,
                                                                between: str) -> None:
    """The class: every spelling pair of project-directory and relative paths, with or without a
    command in between. The write (before anything moves) is always `$CI_PROJECT_DIR/k.json`; the
    use is that file when nothing in between may change directory or when it is spelled absolutely.
    Exactly then the file is rewritten; otherwise it is manual (the activation reads another file)."""
    middle = f"\n    - {between}" if between else ""
    before = f"""deploy:
  script:
    - echo "$GCP_KEY" > {write_form}{middle}
    - gcloud auth activate-service-account --key-file={use_form}
"""
    result = run(before)
    moved = between.split(" ")[0] in ("cd", "pushd", "popd", "source")
    same_file = not moved or "CI_PROJECT_DIR" in use_form
    assert result.status == ("rewritten" if same_file else "manual"), (before, result.reasons)


def test_the_directory_change_check_is_what_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken variant (no directory changes seen) would rewrite the `cd` case, which
    the generated test above then reports: the test can fail."""
    import re

    from migrate.ci import detect

    before = dedent("""
        deploy:
          script:
            - echo "$GCP_KEY" > ${CI_PROJECT_DIR}/gcp-key.json
            - cd infra
            - gcloud auth activate-service-account --key-file=gcp-key.json
        """)
    assert run(before).status == "manual"
    monkeypatch.setattr(detect, "_moves", lambda text: re.search(r"(?!)", text) is not None)  # sees no change
    assert run(before).status == "rewritten"
