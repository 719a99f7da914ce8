"""The GitLab secret-detection report validates against GitLab's published schema (issue 19 item 8).

The schema is GitLab's own (migrate/report/schemas/, see its README for the source and why the
version is 15.2.4 while the report declares 15.2.1). GitLab refuses a report that does not
validate, so every rendering is checked twice: with `jsonschema` (draft-07, what GitLab's
json_schemer applies) and with the `check-jsonschema` CLI, a real part of the project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers.report_fixtures import NOW_AT, fixture_commits, inventory, journal, plan, snapshots
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from migrate.report import gitlab_format
from migrate.report.findings import FindingsDocument, build_findings

SCHEMA_FILE = Path(gitlab_format.__file__).parent / "schemas" / "secret-detection-report-format-15.2.4.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def errors(report: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(report)]


def test_the_vendored_schema_is_gitlabs_secret_detection_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["title"] == "Report format for GitLab Secret Detection"
    assert SCHEMA["$id"].startswith("https://gitlab.com/gitlab-org/security-products/security-report-schemas/")
    assert SCHEMA["self"]["version"] == "15.2.4"
    assert SCHEMA["properties"]["scan"]["properties"]["type"]["enum"] == ["secret_detection"]
    # same major.minor as what the report declares (patch releases only add optional fields)
    assert gitlab_format.SCHEMA_VERSION.rsplit(".", 1)[0] == SCHEMA["self"]["version"].rsplit(".", 1)[0]


def test_report_validates_with_and_without_commits(doc: FindingsDocument) -> None:
    full = json.loads(gitlab_format.render(doc, fixture_commits(doc)))
    assert full["vulnerabilities"] and errors(full) == []
    bare = json.loads(gitlab_format.render(doc))  # findings left out, a scan message says so
    assert errors(bare) == []


def test_the_check_can_fail(doc: FindingsDocument) -> None:
    """Each way GitLab's validator would refuse the report is caught."""
    good = json.loads(gitlab_format.render(doc, fixture_commits(doc)))
    broken = [
        lambda r: r["vulnerabilities"][0]["location"].pop("commit"),  # a finding without its commit
        lambda r: r["scan"].update(end_time="2026-03-10T12:00:00Z"),  # a zone GitLab does not take
        lambda r: r["vulnerabilities"][0].update(identifiers=[]),
        lambda r: r["vulnerabilities"][0].update(severity="critical"),
        lambda r: r["vulnerabilities"][0].update(name="x" * 256),
        lambda r: r.update(version="15.2"),
    ]
    for breaker in broken:
        report = json.loads(json.dumps(good))
        breaker(report)
        assert errors(report), breaker


@pytest.mark.skipif(shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("check-jsonschema") is None, reason="check-jsonschema CLI not installed")
def test_check_jsonschema_cli_accepts_the_report(doc: FindingsDocument, tmp_path: Path) -> None:
    cli = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    good = tmp_path / "gl-secret-detection-report.json"
    good.write_text(gitlab_format.render(doc, fixture_commits(doc)), encoding="utf-8")
    run = subprocess.run([cli, "--schemafile", str(SCHEMA_FILE), str(good)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    bad = tmp_path / "bad.json"
    report = json.loads(good.read_text(encoding="utf-8"))
    del report["scan"]["analyzer"]
    bad.write_text(json.dumps(report), encoding="utf-8")
    run = subprocess.run([cli, "--schemafile", str(SCHEMA_FILE), str(bad)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 1 and "analyzer" in run.stdout + run.stderr


HOSTILE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=400)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(project=HOSTILE, file=HOSTILE, variable=HOSTILE)
@example(project="g/" * 150 + "p", file="ci/" * 100 + ".gitlab-ci.yml", variable="V" * 255)
def test_hostile_names_still_validate(project: str, file: str, variable: str) -> None:
    """Long or odd project, file and variable names (GitLab allows 255-character paths) never make
    the report invalid: the vulnerability name is bounded to the schema's 255 characters."""
    from dataclasses import replace

    base = build_findings(inventory(), plan(), journal(), NOW_AT, snapshots())
    exposures = tuple(replace(e, project=project, file=file, variable=variable) if e.kind == "usage" else e
                      for e in base.exposures)
    doc = replace(base, exposures=exposures)
    commits = {(project, file, e.ref or ""): "a" * 40 for e in exposures if e.kind == "usage"}
    report = json.loads(gitlab_format.render(doc, commits))
    assert report["vulnerabilities"] and errors(report) == []
