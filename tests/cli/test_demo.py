"""The demo end to end (as a user runs it), and `reports/sample/` kept current from its output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "reports" / "sample"
NOW = "2026-11-25T09:00:00Z"
SAMPLE_FILES = ("report.md", "report.html", "keys.csv", "controls.csv", "report.json",
                "gl-secret-detection-report.json")


def normalise(text: str) -> str:
    """What legitimately differs between two runs: the sandbox's ports, and the timestamps the tool
    takes from the wall clock (scan and plan times; the sandbox's own clock is pinned by --now), and
    the journal's actor (user@host)."""
    text = re.sub(r"http://127\.0\.0\.1:\d+", "http://sandbox", text)
    # The burn-down's coordinates follow the journal's wall-clock seconds; its data is in the tables.
    text = re.sub(r"<svg.*?</svg>", "<svg/>", text, flags=re.S)
    # Who accepted the readers outside the scope: the journal's actor, the OS user @ host of the run.
    text = re.sub(r'(accepted by |"outside_readers_accepted_by": ")[^ "<]+', r"\1ACTOR", text)
    # Commit SHAs of the files the demo itself changed hash their wall-clock commit times.
    text = re.sub(r'"sha": "[0-9a-f]{40}"', '"sha": "SHA"', text)
    return re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?Z?", "TIME", text)


@pytest.mark.slow
def test_demo_runs_the_whole_migration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "WIF_SANDBOX_"))}
    proc = subprocess.run([sys.executable, "-m", "migrate", "demo", "--out", str(tmp_path), "--seed", "7",
                           "--now", NOW], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in ("1. scan", "2. plan", "3. apply", "4. review", "4b. apply again", "4c. review", "5. verify",
                 "5b. release", "6. keys retire",
                 "7. keys delete", "8. report"):
        assert f"=== {step}" in out
    last = out.strip().splitlines()[-1]
    m = re.match(r"demo: (\d+) keys found, (\d+) migrated, (\d+) disabled, (\d+) deleted; report: ", last)
    assert m, last
    found, migrated, disabled, deleted = map(int, m.groups())
    assert found >= 5 and migrated >= 2 and disabled >= 2 and deleted >= 1
    assert "FAILED" not in out.split("=== 5. verify")[1].split("=== 6.")[0]  # 5 and 5b
    # Job-level verification (issue 16): android-app's keyed job runs only on tags, so the pipeline
    # after the merge (build only) is no evidence: the project stays PENDING, naming the job. The
    # release tag on the merge commit (5b) runs it; verify reads that tag pipeline of the same SHA.
    verify = out.split("=== 5. verify")[1].split("=== 5b.")[0]
    android = verify.split("acme/apps/mobile/android-app", 1)[1].split("\nacme/", 1)[0]
    assert "PENDING" in android and "job distribute: did not run" in android, verify
    release = out.split("=== 5b. release")[1].split("=== 6.")[0]
    android = release.split("\nacme/apps/mobile/android-app", 1)[1].split("\nacme/", 1)[0]
    assert "VERIFIED" in android and "distribute in pipeline" in android and "(v1.0.0)" in android, release
    # the key it shares with the template's consumers (checkout copies the template's sign-in with
    # !reference): apply opens the template's MR only after checkout's ID-token MR is merged (4b),
    # and the key retires once both are merged and every consumer job signed in through federation
    first_apply = out.split("=== 3. apply")[1].split("=== 4.")[0]
    assert re.search(r"merge_request:acme/platform/ci-templates:templates/gcp-auth\.yml +skipped +waiting for 1 "
                     r"consumer merge request", first_apply), first_apply
    again = out.split("=== 4b. apply again")[1].split("=== 4c.")[0]
    assert re.search(r"merge_request:acme/platform/ci-templates:templates/gcp-auth\.yml +applied", again), again
    retire = out.split("=== 6. keys retire")[1].split("=== 7.")[0]
    deployer = retire.split("serviceAccounts/deployer@acme-prod", 1)[1].split("disable_key", 1)[0]
    assert "applied" in deployer, retire
    reports = tmp_path / "reports"
    if os.environ.get("WIF_UPDATE_SAMPLE"):
        SAMPLE.mkdir(parents=True, exist_ok=True)
        for name in SAMPLE_FILES:
            shutil.copy(reports / name, SAMPLE / name)
    for name in SAMPLE_FILES:
        produced = normalise((reports / name).read_text(encoding="utf-8"))
        sample = normalise((SAMPLE / name).read_text(encoding="utf-8"))
        assert produced == sample, (f"reports/sample/{name} is out of date: rerun with WIF_UPDATE_SAMPLE=1 "
                                    "and review the change")


@pytest.mark.slow
def test_demo_json_prints_one_envelope(tmp_path: Path) -> None:
    """`demo --format json`: the steps' tables go to stderr; stdout is the output envelope."""
    import json

    import jsonschema

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "WIF_SANDBOX_"))}
    proc = subprocess.run([sys.executable, "-m", "migrate", "demo", "--out", str(tmp_path), "--seed", "7",
                           "--now", NOW, "--format", "json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)  # nothing else on stdout
    schema = json.loads((ROOT / "docs" / "output.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
    assert doc["command"] == "demo" and doc["exit_code"] == 0 and doc["errors"] == []
    assert [r["command"] for r in doc["results"]][:3] == ["scan", "plan", "apply"]
    assert doc["summary"]["keys_found"] >= 5 and doc["summary"]["line"].startswith(
        f"{doc['summary']['keys_found']} keys found")
    assert "=== 1. scan" in proc.stderr
