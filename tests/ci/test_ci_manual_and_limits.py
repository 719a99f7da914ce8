"""What must NOT be rewritten automatically (manual, with a reason) and hostile input refusals."""

from __future__ import annotations

import time

import pytest
from helpers.ci import dedent, run

from migrate.ci import analyze
from migrate.ci.limits import MAX_BYTES

MANUAL: dict[str, tuple[str, str]] = {
    "docker login in an image with neither gcloud, curl nor wget": ("""
        push:
          image: python:3.12-slim
          script:
            - echo "$REG_KEY" > key.json
            - docker login -u _json_key --password-stdin https://gcr.io < key.json
        """, "has neither curl nor wget"),
    "docker login in an image this tool cannot see into": ("""
        push:
          image: registry.example.com/team/builder:3
          script:
            - echo "$REG_KEY" > key.json
            - docker login -u _json_key --password-stdin https://gcr.io < key.json
        """, "is not one this tool knows to ship curl or wget"),
    "docker login in a job that names no image (the runner's default)": ("""
        push:
          script:
            - docker login -u _json_key --password-stdin https://gcr.io < $REG_KEY_FILE
        """, "the runner's default image"),
    "key file passed to an unknown tool": ("""
        .tpl:
          before_script:
            - echo "${CRED}" > ${GOOGLE_APPLICATION_CREDENTIALS}
            - mylib useSA ${GOOGLE_APPLICATION_CREDENTIALS}
        """, "read by `mylib`"),
    "per-job remap of the key variable": ("""
        .deploy:
          before_script:
            - echo "$SA_KEY" | base64 -d > /tmp/key.json
            - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/key.json
        prod:
          extends: .deploy
          variables:
            SA_KEY: ${SA_KEY_PRODUCTION}
          script: [serverless deploy]
        """, "is set from key variable"),
    "key file kept as an artifact": ("""
        auth:
          script:
            - echo "$K" > key.json
            - gcloud auth activate-service-account --key-file key.json
          artifacts:
            paths:
              - key.json
        """, "artifact"),
    "activation of a file written elsewhere": ("""
        deploy:
          script:
            - gcloud auth activate-service-account --key-file /secrets/key.json
        """, "does not write"),
    "unknown activation flag": ("""
        deploy:
          script:
            - gcloud auth activate-service-account --key-file=$KF --password-file=/p
        """, "does not know"),
    "key variable used by another command": ("""
        deploy:
          script:
            - echo "$K" > /tmp/k.json
            - gcloud auth activate-service-account --key-file /tmp/k.json
            - curl -d "$K" https://example.com
        """, "does not rewrite"),
    "key variable stored as GOOGLE_CREDENTIALS file variable (Terraform reads it implicitly)": ("""
        deploy:
          script:
            - gcloud auth activate-service-account --key-file $GOOGLE_CREDENTIALS
        """, "file variable"),
    "auth in a folded block": ("""
        deploy:
          script:
            - >
              gcloud auth activate-service-account
              --key-file=$KF
        """, "form this tool does not edit"),
}


@pytest.mark.parametrize("name", list(MANUAL))
def test_manual_with_reason(name: str) -> None:
    text, reason = MANUAL[name]
    text = dedent(text)
    assert analyze(text).findings, "manual cases are still findings"
    result = run(text)
    assert result.status == "manual"
    assert result.text is None
    assert any(reason in r for r in result.reasons), result.reasons


def test_invalid_yaml_is_manual_but_analyzed() -> None:
    text = "job:\n  script:\n    - gcloud auth activate-service-account --key-file=k.json\n  bad: [\n"
    analysis = analyze(text)
    assert analysis.problems and "not valid YAML" in analysis.problems[0]
    assert [f.kind for f in analysis.findings] == ["activate-service-account"]
    assert run(text).status == "manual"


@pytest.mark.parametrize("text", [
    "job:\n  id_tokens:\n    T:\n      aud: https://iam.googleapis.com/projects/1/x\n  script:\n"
    "    - echo $T > t\n    - gcloud iam workload-identity-pools create-cred-config p --output-file=c.json "
    "--credential-source-file=t\n    - export GOOGLE_APPLICATION_CREDENTIALS=c.json\n",
    "job:\n  script:\n    - echo ${CI_JOB_JWT_V2} > .jwt\n",
    "job:\n  script:\n    - echo ${SSH_KEY} | base64 -d > ~/.ssh/id_rsa\n",
    "job:\n  variables:\n    GOOGLE_CREDENTIALS: creds.json\n  script: [terraform plan]\n",
])
def test_no_finding_without_key_use(text: str) -> None:
    assert analyze(text).findings == ()
    assert run(text).status == "unchanged"


def test_key_variable_hint_flags_references() -> None:
    text = "job:\n  script:\n    - sh scripts/setup.sh \"$CI_GCP_KEY\"\n"
    assert analyze(text).findings == ()
    hinted = analyze(text, key_variables=frozenset({"CI_GCP_KEY"}))
    assert [f.kind for f in hinted.findings] == ["key-variable-reference"]
    assert run(text, key_variables=frozenset({"CI_GCP_KEY"})).status == "manual"


def _timed(text: str) -> tuple[float, object]:
    start = time.monotonic()
    analysis = analyze(text)
    return time.monotonic() - start, analysis


def test_refuses_oversized_input() -> None:
    text = "a: " + "x" * (MAX_BYTES + 1)
    elapsed, analysis = _timed(text)
    assert "larger than" in analysis.problems[0]  # type: ignore[attr-defined]
    assert run(text).status == "manual"
    assert elapsed < 2


def test_refuses_alias_bomb() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines.append("job:\n  script: *a8")
    elapsed, analysis = _timed("\n".join(lines) + "\n")
    assert "alias" in analysis.problems[0]  # type: ignore[attr-defined]
    assert elapsed < 2


def test_refuses_deep_nesting() -> None:
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    elapsed, analysis = _timed(text)
    assert "nesting" in analysis.problems[0]  # type: ignore[attr-defined]
    assert elapsed < 5


def test_refuses_binary() -> None:
    assert "binary" in analyze("job:\x00\x01\n").problems[0]
    assert run("x: \x00").status == "manual"
