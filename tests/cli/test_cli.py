"""The command line: verbs, exit codes, config errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrate.cli.verbs import VERBS, main


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("scan", "plan", "apply", "verify", "keys", "report", "check", "ci", "sandbox", "demo"):
        assert verb in out
    assert {v for v, _ in VERBS} >= {"scan", "demo"}


def test_no_verb_is_usage_error() -> None:
    assert main([]) == 2


def test_bad_config_names_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gitlab: {url: https://g.example.com}\nscope: {groups: [a]}\n"
                   "google: {identity_project: p, pool_id: gcp-x}\n")
    code = main(["scan", "--config", str(cfg)])
    assert code == 2
    assert "google.pool_id" in capsys.readouterr().err


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "migrate", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("wif-migrate ")
