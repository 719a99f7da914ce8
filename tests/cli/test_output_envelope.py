"""Every verb's `--format json` prints the one envelope of docs/output.schema.json (command, version,
exit_code, summary, results, errors), against the demo sandbox over HTTP; `check` also writes
SARIF 2.1.0; `-o -` is stdout."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gitlab
import jsonschema
import pytest

from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "output.schema.json").read_text(encoding="utf-8"))

Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture()
def cli(demo_sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Run:
    for name, value in demo_sandbox.env().items():
        monkeypatch.setenv(name, value)
    config = str(demo_sandbox.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))

    def run(*argv: str) -> tuple[int, dict[str, Any]]:
        capsys.readouterr()
        code = main([*argv, "-c", config])
        out = capsys.readouterr().out
        doc = json.loads(out)
        jsonschema.validate(doc, SCHEMA)
        assert doc["exit_code"] == code and doc["command"] == argv[0] + (
            f" {argv[1]}" if argv[0] in ("keys", "ci") else "")
        return code, doc
    return run


def test_every_verb_prints_the_envelope(cli: Run, tmp_path: Path) -> None:
    inv, plan = str(tmp_path / "inv.json"), str(tmp_path / "plan.json")
    code, doc = cli("scan", "--format", "json", "--no-google", "-o", inv)
    assert code == 1 and doc["summary"]["key_variables"] > 0 and doc["results"][0]["path"]
    code, doc = cli("check", "--inventory", inv, "--format", "json")
    assert code == 1 and doc["summary"]["keyless"] is False and doc["results"]
    code, doc = cli("plan", "--inventory", inv, "-o", plan, "--format", "json", "--no-diff")
    assert code == 0 and doc["summary"]["line"].startswith("Plan: ")
    code, doc = cli("apply", plan, "--dry-run", "--format", "json")
    assert doc["summary"]["dry_run"] is True and {r["outcome"] for r in doc["results"]} >= {"would_apply"}
    code, doc = cli("verify", "--plan", plan, "--format", "json")
    assert set(doc["summary"]) >= {"verified", "failed", "pending"}
    code, doc = cli("keys", "retire", "--plan", plan, "--dry-run", "--format", "json")
    assert all(r["outcome"] != "applied" for r in doc["results"])  # a dry run
    code, doc = cli("keys", "orphans", "--plan", plan, "--format", "json")
    assert "orphans" in doc["summary"]
    code, doc = cli("report", "--format", "json", "--inventory", inv, "--plan", plan, "--out", str(tmp_path / "r"))
    assert code == 0 and doc["summary"]["keys_found"] >= 1 and doc["summary"]["line"].startswith(
        f"{doc['summary']['keys_found']} key(s) found")
    assert doc["results"] == [{"format": "json", "path": str(tmp_path / "r" / "report.json")}]
    assert (tmp_path / "r" / "report.json").exists()
    ci = tmp_path / "a.yml"
    ci.write_text("deploy:\n  script:\n    - gcloud auth activate-service-account --key-file $K\n")
    code, doc = cli("ci", "analyze", str(ci), "--format", "json")
    assert doc["results"][0]["findings"]


def test_the_schema_rejects_another_shape() -> None:
    good = {"command": "x", "version": "1", "exit_code": 0, "summary": {}, "results": [], "errors": []}
    jsonschema.validate(good, SCHEMA)
    for broken in ({k: v for k, v in good.items() if k != "errors"}, {**good, "items": []},
                   {**good, "errors": [{"subject": "s"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_check_writes_sarif_and_dash_is_stdout(cli: Run, tmp_path: Path, demo_sandbox: Sandbox,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    inv = str(tmp_path / "inv.json")
    cli("scan", "--format", "json", "--no-google", "-o", inv)
    assert main(["check", "--inventory", inv, "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    results = sarif["runs"][0]["results"]
    usage = next(r for r in results if r["ruleId"] == "gcp-sa-key-ci-usage")
    loc = usage["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uriBaseId"] == "GITLAB" and loc["region"]["startLine"] >= 1
    variable = next(r for r in results if r["ruleId"] == "gcp-sa-key-ci-variable")
    assert variable["locations"][0]["logicalLocations"][0]["kind"] == "variable"
    assert "PRIVATE KEY" not in json.dumps(sarif)
    assert main(["check", "--inventory", inv, "--gitlab-report", "-", "-c", str(tmp_path / "c.yaml")]) == 1
    report = json.loads(capsys.readouterr().out)  # the table went to stderr
    assert report["scan"]["type"] == "secret_detection" and report["vulnerabilities"]
    gl = gitlab.Gitlab(demo_sandbox.gitlab_url, private_token=demo_sandbox.gitlab_token())
    for v in report["vulnerabilities"]:
        loc = v["location"]
        assert "/" not in loc["file"] or not loc["file"].startswith("acme/")  # relative to its project
        assert re.fullmatch(r"[0-9a-f]{40}", loc["commit"]["sha"]) and "$?" not in v["description"]
    usage = next(v for v in report["vulnerabilities"] if "start_line" in v["location"])
    project = usage["name"].split(" used in ", 1)[1].rsplit("/" + usage["location"]["file"], 1)[0]
    commit = gl.projects.get(project).commits.get(usage["location"]["commit"]["sha"])
    assert commit.id == usage["location"]["commit"]["sha"]  # a real commit of that project
    # report: `-o -` is stdout too (one single-file format), never a folder named "-"
    assert main(["report", "--inventory", inv, "--format", "json", "-o", "-", "-c", str(tmp_path / "c.yaml")]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["keys_found"] >= 1
    assert main(["report", "--inventory", inv, "--format", "md", "-o", "-", "-c", str(tmp_path / "c.yaml")]) == 0
    assert capsys.readouterr().out.startswith("#")
    assert main(["report", "--inventory", inv, "--format", "csv", "-o", "-", "-c", str(tmp_path / "c.yaml")]) == 2
    assert "single-file format" in capsys.readouterr().err
    assert main(["scan", "--no-google", "-o", "-", "-c", str(tmp_path / "c.yaml")]) == 1
    captured = capsys.readouterr()
    assert plan_io is not None and json.loads(captured.out)["kind"] == "wif-migrate/inventory"
    assert "inventory written to stdout" in captured.err
    assert not Path("-").exists()


def test_apply_shows_progress_on_stderr_only_when_asked_or_a_terminal(cli: Run, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    inv, plan = str(tmp_path / "inv.json"), str(tmp_path / "plan.json")
    cli("scan", "--format", "json", "--no-google", "-o", inv)
    cli("plan", "--inventory", inv, "-o", plan, "--format", "json", "--no-diff")
    config = str(tmp_path / "c.yaml")
    n = sum(1 for a in plan_io.read(plan).actions if a.kind not in ("disable_key", "delete_key"))
    assert main(["apply", plan, "--dry-run", "--progress", "always", "-c", config]) == 0
    shown = capsys.readouterr()
    assert "apply (dry run)" in shown.err and f"{n}/{n}" in shown.err
    assert "apply (dry run)" not in shown.out  # stdout stays the table
    assert main(["apply", plan, "--dry-run", "-c", config]) == 0  # not a terminal: quiet
    assert "apply (dry run)" not in capsys.readouterr().err


#: verb → (exact exit code on the demo organisation before anything is applied, the result field
#: naming the item the table shows in its first columns)
PER_ITEM_VERBS: dict[tuple[str, ...], tuple[int, str]] = {
    ("apply", "PLAN", "--dry-run"): (0, "action_id"),  # a dry run: would_apply / skipped, nothing refused
    ("verify", "--plan", "PLAN"): (1, "project"),  # nothing merged yet: every merge request pending
    ("keys", "retire", "--plan", "PLAN", "--dry-run"): (1, "target"),  # no verification: refused
    ("keys", "orphans", "--plan", "PLAN"): (0, "key_id"),  # orphans found is not an error
}


def test_per_item_verbs_exit_the_same_in_table_and_json(cli: Run, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Both views come from the same outcomes (migrate.core.outcome_render): the exact exit code
    is the same, and every item and error of the JSON is a row of the table."""
    assert {doc_code for doc_code, _ in PER_ITEM_VERBS.values()} == {0, 1}  # both codes exercised
    inv, plan = str(tmp_path / "inv.json"), str(tmp_path / "plan.json")
    code, scanned = cli("scan", "--format", "json", "-o", inv)
    assert code == 1 and [e for e in scanned["errors"] if e["subject"].startswith("project:")]  # keys, ERROR rows
    assert main(["scan", "-o", inv, "-c", str(tmp_path / "c.yaml")]) == 1
    table = capsys.readouterr().out
    for project in scanned["results"]:
        if project["status"] == "error":
            assert re.search(rf"^{re.escape(project['path'])}\s+ERROR\s", table, re.M)
    code, checked = cli("check", "--inventory", inv, "--format", "json")
    assert code == 1 and main(["check", "--inventory", inv]) == 1
    table = capsys.readouterr().out
    assert all(r["subject"] in table for r in checked["results"]) and all(
        e["subject"] in table for e in checked["errors"])
    code, planned = cli("plan", "--inventory", inv, "-o", plan, "--format", "json", "--no-diff")
    assert code == 0 and {r["change"] for r in planned["results"]} >= {"add", "manual"}
    for argv, (expected, field) in PER_ITEM_VERBS.items():
        args = [plan if a == "PLAN" else a for a in argv]
        code, doc = cli(*args, "--format", "json")
        assert code == expected, (argv, doc["summary"])
        assert main([*args, "-c", str(tmp_path / "c.yaml")]) == expected, argv
        table = capsys.readouterr().out
        # (a column may wrap a long name at its width: its first 50 characters are on the row's line)
        assert all(str(r[field])[:50] in table for r in doc["results"] if r[field]), argv
        assert all(e["subject"][:50] in table for e in doc["errors"]), argv
