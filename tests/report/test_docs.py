"""The ready-made CI job in docs/check.md is valid GitLab CI (GitLab's schema, as vendored by
check-jsonschema) and does what the docs promise."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "check.md"


def job_yaml() -> dict[str, Any]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    data: dict[str, Any] = yaml.safe_load(block)
    return data


def test_check_job_validates_against_gitlab_ci_schema() -> None:
    import check_jsonschema.builtin_schemas as builtin

    schema = json.loads(resources.files(builtin).joinpath("vendor", "gitlab-ci.json").read_text(encoding="utf-8"))
    jsonschema.validate(job_yaml(), schema)


def test_check_job_uses_federation_and_uploads_the_report() -> None:
    job = job_yaml()["wif-migrate-check"]
    assert {r["if"] for r in job["rules"]} >= {'$CI_PIPELINE_SOURCE == "schedule"'}
    assert job["id_tokens"]["GCP_ID_TOKEN"]["aud"].startswith("https://iam.googleapis.com/projects/")
    script = "\n".join(job["script"])
    assert '"type": "external_account"' in script and "GOOGLE_APPLICATION_CREDENTIALS" in script
    assert "wif-migrate check" in script and "--gitlab-report gl-secret-detection-report.json" in script
    assert job["artifacts"]["reports"]["secret_detection"] == "gl-secret-detection-report.json"
    assert "key-file" not in script and "private_key" not in script
