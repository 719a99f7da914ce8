"""The layers check (`lint-imports`, contracts in pyproject.toml) holds, and it does catch a breach.

The contracts say which way dependencies point (docs/architecture.md). A check that never fails
proves nothing, so the second test plants an adapter importing stage logic in a copy of the package
and asserts the same command, with the same contracts, refuses it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[test]')")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


PLANTED = (  # (module, import planted in it, the contract that must name it broken)
    ("migrate/gitlab/read.py", "import migrate.scan.runner", "adapters never import stage logic"),
    ("migrate/plan/planner.py", "import migrate.google.clients", "stages never import an adapter"),
    ("migrate/core/model.py", "import migrate.report.findings", "core and the CI library import no stage"),
    ("migrate/scan/runner.py", "import migrate.sandbox.org", "the tool reaches the sandbox only from"),
    ("migrate/sandbox/org.py", "import migrate.core.model", "the sandbox imports nothing of the tool"),
)


def test_planted_breaches_are_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "migrate", tmp_path / "migrate", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line, _ in PLANTED:
        target = tmp_path / module
        target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # planted\n", encoding="utf-8")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())
    for module, _, contract in PLANTED:
        assert contract in report, f"{module}: {contract!r} not reported broken"
    assert report.count("BROKEN") >= len(PLANTED)  # scan -> sandbox breaks two contracts
