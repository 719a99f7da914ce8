"""`wif-migrate check` with a fresh scan: the real python-gitlab and Google clients against the
sandbox emulators over HTTP, on a tiny org — keyed first, then the same org without the key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate.cli.verbs import main
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import OrgFile

SA = "deployer@acme-prod.iam.gserviceaccount.com"
CI_WITH_KEY = 'deploy:\n  script:\n    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"\n'
CI_KEYLESS = "test:\n  script: [echo ok]\n"


def org(with_key: bool) -> OrgFile:
    api: dict[str, Any] = {"path": "api", "id": 1001, "default_branch": "main",
                           "files": {".gitlab-ci.yml": CI_WITH_KEY if with_key else CI_KEYLESS}}
    if with_key:
        api["variables"] = [{"key": "GCP_SA_KEY", "variable_type": "file", "protected": True,
                             "sa_key": {"service_account": SA, "key": "k1"}}]
    docs = {"path": "docs", "id": 1002, "default_branch": "main", "files": {".gitlab-ci.yml": CI_KEYLESS}}
    gitlab = {"version": "17.5.0", "groups": [{"path": "acme", "id": 100, "projects": [api, docs]}]}
    google = {"identity_project": "acme-identity", "projects": [
        {"project_id": "acme-identity", "number": 222222222222},
        {"project_id": "acme-prod", "number": 111111111111, "service_accounts": [
            {"email": SA, "keys": [{"label": "k1", "created": "2025-01-01T00:00:00Z"}]}]}]}
    return OrgFile(7, gitlab, google, "test")


@pytest.fixture
def sandbox_cwd(request: pytest.FixtureRequest, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(org(request.param)) as sb:
        monkeypatch.chdir(tmp_path)
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-identity")
        (tmp_path / "wif-migrate.yaml").write_text(json.dumps(sb.config_dict(state_dir="state")))
        yield sb
    assert os.getcwd() == str(tmp_path)


@pytest.mark.parametrize("sandbox_cwd", [True], indirect=True)
def test_check_scans_and_fails_on_a_keyed_org(sandbox_cwd: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--google", "--gitlab-report", "gl.json"]) == 1
    out = capsys.readouterr().out
    assert "project:acme/api:GCP_SA_KEY" in out and "acme/api:.gitlab-ci.yml:3" in out
    assert SA in out
    report = json.loads(Path("gl.json").read_text())
    assert sorted(v["identifiers"][0]["value"] for v in report["vulnerabilities"]) == [
        "gcp-sa-key-ci-usage", "gcp-sa-key-ci-variable"]
    text = Path("gl.json").read_text()
    assert "PRIVATE KEY" not in text and "private_key" not in text  # the variable really held a key file
    assert not Path("state").exists()  # check keeps no state


@pytest.mark.parametrize("sandbox_cwd", [False], indirect=True)
def test_check_scans_and_passes_on_a_keyless_org(sandbox_cwd: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert capsys.readouterr().out == ("keyless: none of the 2 project(s) in scope holds or uses a "
                                       "service-account key\n")
