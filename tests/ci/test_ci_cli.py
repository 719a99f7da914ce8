"""The `wif-migrate ci` JSON contracts (analyze and rewrite), driven through the real CLI entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.ci import PROVIDER, SA, dedent

from migrate.cli.verbs import main

KEYED = dedent("""
    deploy:
      script:
        - echo "$K" | base64 -d > /tmp/k.json
        - gcloud auth activate-service-account --key-file=/tmp/k.json
    """)


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _rewrite_result(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """The one result of `ci rewrite --format json` (the output envelope's `results[0]`)."""
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "ci rewrite" and len(doc["results"]) == 1
    return doc["results"][0]  # type: ignore[no-any-return]


def test_analyze_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, binary = tmp_path / "a.yml", tmp_path / "b.yml", tmp_path / "c.yml"
    good.write_text(KEYED)
    bad.write_text("x: [\n")
    binary.write_bytes(b"\xff\xfe\x00junk")
    assert main(["ci", "analyze", str(good), str(bad), str(binary), "--format", "json"]) == 0
    data = _json(capsys)
    assert data["command"] == "ci analyze" and data["summary"]["files"] == 3
    files = data["results"]
    assert isinstance(files, list) and [f["path"] for f in files] == [str(good), str(bad), str(binary)]
    first = files[0]
    assert first["problems"] == []
    assert [(f["line"], f["end_line"], f["kind"], f["variable"], f["jobs"]) for f in first["findings"]] == [
        (3, 3, "key-to-file", "K", ["deploy"]),
        (4, 4, "activate-service-account", None, ["deploy"]),
    ]
    assert all(isinstance(f["detail"], str) for f in first["findings"])
    assert files[1]["findings"] == [] and "not valid YAML" in files[1]["problems"][0]
    assert files[2]["findings"] == [] and files[2]["problems"]


def test_analyze_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.yml"
    path.write_text(KEYED)
    assert main(["ci", "analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert "activate-service-account" in out and "key-to-file" in out


def test_rewrite_json_contract_writes_out_only_when_rewritten(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in.yml", tmp_path / "out.yml"
    source.write_text(KEYED)
    args = ["ci", "rewrite", str(source), "--provider", PROVIDER, "--service-account", SA,
            "--output", str(out), "--format", "json"]
    assert main(args) == 0
    assert _rewrite_result(capsys) == {"path": str(source), "status": "rewritten", "reasons": []}
    assert "gcloud auth login --cred-file=/tmp/k.json" in out.read_text()
    assert source.read_text() == KEYED
    out.unlink()
    source.write_text("job:\n  script: [echo hi]\n")
    assert main(args) == 0
    assert _rewrite_result(capsys)["status"] == "unchanged"
    assert not out.exists()
    source.write_text("job:\n  script:\n    - gcloud auth activate-service-account --key-file /x/key.json\n")
    assert main(args) == 0
    answer = _rewrite_result(capsys)
    assert answer["status"] == "manual" and answer["reasons"]
    assert not out.exists()


def test_rewrite_map_and_version_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in.yml", tmp_path / "out.yml"
    source.write_text(KEYED)
    assert main(["ci", "rewrite", str(source), "--provider", PROVIDER, "--map", "K=k@p.iam.gserviceaccount.com",
                 "--gitlab-version", "15.3", "--instance-url", "https://gl.example.com",
                 "--output", str(out), "--format", "json"]) == 0
    assert _rewrite_result(capsys)["status"] == "rewritten"
    text = out.read_text()
    assert "k@p.iam.gserviceaccount.com" in text and "CI_JOB_JWT_V2" in text and "id_tokens" not in text


def test_rewrite_text_output_shows_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in.yml", tmp_path / "out.yml"
    source.write_text(KEYED)
    assert main(["ci", "rewrite", str(source), "--provider", PROVIDER, "--service-account", SA,
                 "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rewritten" in text and "+  id_tokens:" in text and "-    - gcloud auth activate" in text


def test_bad_map_is_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "in.yml"
    source.write_text(KEYED)
    assert main(["ci", "rewrite", str(source), "--provider", PROVIDER, "--map", "nope",
                 "--output", str(tmp_path / "o"), "--format", "json"]) == 2


SCORER = next((up / "shared" / "tools" / "corpus_check.py" for up in Path(__file__).resolve().parents
               if (up / "shared" / "tools" / "corpus_check.py").is_file()),
              Path(__file__).resolve().parents[3] / "shared" / "tools" / "corpus_check.py")  # ../shared, as in CI


@pytest.mark.skipif(not SCORER.is_file(), reason=f"the corpus scorer is not at {SCORER} (../shared absent)")
def test_the_corpus_scorer_reads_our_ci_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The published `ci` JSON contract ({"files": [...]} and {"status", "reasons"}) is read by the
    scorer's own parsers, next to the envelope: an envelope-only answer is a crash for the scorer."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("corpus_check", SCORER)
    assert spec is not None and spec.loader is not None
    scorer = importlib.util.module_from_spec(spec)
    sys.modules["corpus_check"] = scorer
    spec.loader.exec_module(scorer)
    source = tmp_path / "a.yml"
    source.write_text(KEYED)
    assert main(["ci", "analyze", str(source), "--format", "json"]) == 0
    analyzed = scorer.ToolRun(("analyze",), data=_json(capsys), stderr_tail="")
    findings, error = scorer.analysis_findings(analyzed)
    assert error is None and len(findings) == 2
    assert main(["ci", "rewrite", str(source), "--provider", PROVIDER, "--service-account", SA,
                 "--output", str(tmp_path / "out.yml"), "--format", "json"]) == 0
    status, _reasons, error = scorer.rewrite_answer(scorer.ToolRun(("rewrite",), data=_json(capsys), stderr_tail=""))
    assert (status, error) == ("rewritten", None)
    # the same readers refuse the envelope without the contract keys (so this test can fail)
    envelope_only = {k: v for k, v in analyzed.data.items() if k != "files"}
    assert scorer.analysis_findings(scorer.ToolRun(("analyze",), data=envelope_only, stderr_tail=""))[1]


# -- one account per key variable (issue 21): `--service-account VARIABLE=EMAIL`, repeatable ------------

TWO_KEYS = dedent("""
    deploy:staging:
      script:
        - echo "$STAGING_KEY" > /tmp/k.json
        - gcloud auth activate-service-account --key-file /tmp/k.json
        - gcloud app deploy
    deploy:production:
      script:
        - echo "$PRODUCTION_KEY" > /tmp/k.json
        - gcloud auth activate-service-account --key-file /tmp/k.json
        - gcloud app deploy
    """)
STG, PRD = "stg@acme-staging.iam.gserviceaccount.com", "prd@acme-prod.iam.gserviceaccount.com"


def _two_keys(tmp_path: Path, *accounts: str) -> tuple[int, Path]:
    source, out = tmp_path / "two.yml", tmp_path / "out.yml"
    source.write_text(TWO_KEYS, encoding="utf-8")
    argv = ["ci", "rewrite", str(source), "--provider", PROVIDER, "-o", str(out), "--format", "json"]
    for account in accounts:
        argv += ["--service-account", account]
    return main(argv), out


def test_each_key_variable_gets_its_own_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _two_keys(tmp_path, f"STAGING_KEY={STG}", f"PRODUCTION_KEY={PRD}")
    assert code == 0 and _rewrite_result(capsys)["status"] == "rewritten"
    staging, production = out.read_text(encoding="utf-8").split("deploy:production:")
    assert f"--service-account={STG}" in staging and PRD not in staging
    assert f"--service-account={PRD}" in production and STG not in production


def test_one_unqualified_account_for_two_key_variables_is_refused(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _two_keys(tmp_path, STG)
    result = _rewrite_result(capsys)
    assert result["status"] == "manual" and not out.exists()
    assert any("--service-account VARIABLE=EMAIL" in str(r) for r in result["reasons"]), result  # type: ignore[attr-defined]


@pytest.mark.parametrize("accounts", [(STG, PRD), (f"STAGING_KEY={STG}", f"STAGING_KEY={PRD}")])
def test_two_accounts_for_one_key_or_two_bare_accounts_are_a_usage_error(tmp_path: Path,
                                                                        accounts: tuple[str, str]) -> None:
    code, out = _two_keys(tmp_path, *accounts)
    assert code == 2 and not out.exists()
