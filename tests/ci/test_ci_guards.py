"""Guards on the key variable (issue 21): a line that only fails the job when the key is missing is
removed with the key (after `keys delete` it would fail every job); a line that does anything else
with the key, or acts when the key is *present*, is not a guard and keeps the file manual."""

from __future__ import annotations

import pytest
from helpers.ci import dedent, run
from helpers.ci_oracle import oracle

from migrate.ci.guards import guarded

GUARDS = [
    'if [ -z "$GCP_KEY" ]; then echo "missing"; exit 1; fi',
    'if [[ -z "${GCP_KEY}" ]]; then echo "GCP_KEY is required"; exit 1; fi',
    'if ! [ -n "$GCP_KEY" ]; then exit 1; fi',
    'test -n "$GCP_KEY"',
    '[ -n "$GCP_KEY" ]',
    '[ -n "$GCP_KEY" ] || exit 1',
    '[[ -n "$GCP_KEY" ]] || { echo "no key" >&2; exit 1; }',
    '[ -z "$GCP_KEY" ] && exit 1',
    'test -z "$GCP_KEY" && { echo missing; exit 2; }',
    ': "${GCP_KEY:?GCP_KEY must be set}"',
    ': "${GCP_KEY?}"',
]
NOT_GUARDS = [
    'if [ -n "$GCP_KEY" ]; then exit 1; fi',  # acts when the key is present
    '[ -n "$GCP_KEY" ] && exit 1',
    '[ -z "$GCP_KEY" ] || exit 1',
    'test -z "$GCP_KEY"',
    'if [ -z "$GCP_KEY" ]; then echo "$GCP_KEY"; exit 1; fi',  # prints the key
    'if [ -z "$GCP_KEY" ]; then curl -X POST https://alert.example; exit 1; fi',  # does something else
    '[[ -n "$GCP_KEY" ]] || { make deploy; exit 1; }',
    '[ -n "$GCP_KEY" ] || exit 1; make deploy',  # more than the guard on the line
    ': "${GCP_KEY:-default}"',
]


def _file(guard: str) -> str:
    quoted = "'" + guard.replace("'", "''") + "'"
    return dedent(f"""
        deploy:
          image: google/cloud-sdk:470.0.0
          script:
            - {quoted}
            - echo "$GCP_KEY" > /tmp/k.json
            - gcloud auth activate-service-account --key-file=/tmp/k.json
            - gcloud run deploy app
        """)


def test_the_classic_guard_is_removed_with_the_key() -> None:
    before = dedent("""
        deploy:
          script:
            - if [ -z "$GCP_KEY" ]; then echo "missing"; exit 1; fi
            - echo "$GCP_KEY" > /tmp/k.json
            - gcloud auth activate-service-account --key-file=/tmp/k.json
            - gcloud run deploy app
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    body = result.text.split("script:\n", 1)[1]
    assert body.startswith('    - echo "${GCP_ID_TOKEN}" > "/tmp/k.json.jwt"\n')
    assert "GCP_KEY" not in result.text


@pytest.mark.parametrize("guard", GUARDS)
def test_each_guard_form_is_recognised_and_removed(guard: str) -> None:
    assert guarded(guard, {"GCP_KEY"}) == "GCP_KEY"
    before = _file(guard)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and "GCP_KEY" not in result.text
    assert oracle(before, result.text) == []


@pytest.mark.parametrize("line", NOT_GUARDS)
def test_lines_that_do_more_than_guard_stay_manual(line: str) -> None:
    assert guarded(line, {"GCP_KEY"}) is None
    result = run(_file(line))
    assert result.status == "manual", line


def test_a_guard_inside_a_block_scalar_and_of_another_key_name() -> None:
    before = dedent("""
        .check: &check |
          if [ -z "${SSH_KEY}" ]; then echo "SSH_KEY is required"; exit 1; fi
          if [ -z "${SA_KEY}" ]; then echo "SA_KEY is required"; exit 1; fi
        deploy:
          image: google/cloud-sdk:470.0.0
          before_script:
            - *check
          script:
            - echo "${SA_KEY}" | base64 -d > /tmp/sa.json
            - gcloud auth activate-service-account --key-file /tmp/sa.json
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    assert 'if [ -z "${SSH_KEY}" ]; then echo "SSH_KEY is required"; exit 1; fi' in result.text
    assert "SA_KEY" not in result.text.replace("SSH_KEY", "")


def test_the_oracle_refuses_dropping_a_group_that_does_real_work() -> None:
    """The independent check would catch a rewriter that removed a non-guard: the `{ make deploy; }`
    group is a command the job runs, not an authentication step."""
    before = _file('[[ -n "$GCP_KEY" ]] || { make deploy; exit 1; }')
    good = run(_file('[[ -n "$GCP_KEY" ]] || exit 1'))
    assert good.status == "rewritten" and good.text is not None
    assert oracle(before, good.text), "dropping `make deploy` must be refused"
