"""Every benchmark still runs, at a tiny size, and still reports what its results file records.

The benchmarks are not timed tests, so nothing ran them between measurements: when action params
became typed, `benchmarks/quota.py` broke and nobody noticed until the lead re-measured (note of
stop 25). Here each script runs in a fresh process at a size of seconds (`slow`: ~10 s in all) and
its JSON must hold every field its committed results file has (minus the fields a person adds to
that file, and the ones an option used here leaves out), with sane values. A benchmark that raises,
exits non-zero or stops reporting a field is caught (`test_a_broken_benchmark_is_caught`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"

#: Fields written into the results files by hand (who measured, on which commit, second runs).
BY_HAND = {"note", "commit", "measured_by", "second_run"}

#: name → (script, tiny arguments, results file, fields this run leaves out by its options)
CASES: dict[str, tuple[str, tuple[str, ...], str, set[str]]] = {
    # --no-commands: the whole-command figures are measured only without it
    "ci_worst_case": ("ci_worst_case.py", ("--case", "heredoc", "--repeat", "1", "--no-commands", "--json"),
                      "results-ci-worst-case.json", {"max_command_cpu_s", "max_command_wall_s"}),
    "plan": ("plan.py", ("--projects", "20", "--json"), "results-plan-10000.json", set()),
    "quota": ("quota.py", ("--bindings", "5", "--projects", "1", "--json"), "results-quota-1000.json", set()),
    # --no-rate: the rate-limit phase (rate_*, achieved_rpm, http_429) is left out on purpose
    "scan": ("scan.py", ("--projects", "20", "--latency-ms", "0", "--no-rate", "--sequential-sample", "2",
                         "--json"), "results-scan-10000.json",
             {"achieved_rpm", "http_429", "rate_limit_rpm", "rate_limit_utilisation", "rate_projects",
              "rate_requests", "rate_wall_s", "rate_window_s"}),
}


def _sane(name: str, result: dict[str, Any]) -> list[str]:
    """What a correct tiny run must show beyond its fields (each benchmark's own promise)."""
    problems: list[str] = []
    if name == "ci_worst_case" and not result["cases"].get("heredoc"):
        problems.append("no heredoc case measured")
    if name == "plan" and (result["exit"].get("plan") != 0 or result["exit"].get("dry_run") != 0
                           or not result["actions"].get("total")):
        problems.append(f"plan/dry run did not succeed: exit {result['exit']}, actions {result['actions']}")
    if name == "quota" and (result["quota_errors_client"] != 0 or result["outcomes"] != {"applied": 5}):
        problems.append(f"bindings not applied cleanly: {result['outcomes']}, {result['quota_errors_client']} errors")
    if name == "scan" and (result["errors"] != 0 or not result["projects_scanned"]):
        problems.append(f"scan errors {result['errors']}, scanned {result['projects_scanned']}")
    return problems


def _over_budget(name: str, code: int, result: Any) -> bool:
    """ci_worst_case exits 1 when it measured a case over its CPU budget: a measurement (the figure is
    judged where it is recorded, on a quiet machine), not a broken benchmark. A traceback exits 1 too
    but prints no JSON, so it is still caught."""
    return (name == "ci_worst_case" and code == 1 and isinstance(result, dict)
            and any(row.get("within_budget") is False for row in (result.get("cases") or {}).values()))


def run_benchmark(name: str, script: Path) -> list[str]:
    """Run one benchmark script tiny; the problems found (empty: it works and reports fully)."""
    _file, args, results, left_out = CASES[name]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, check=False)
    try:
        result = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError as exc:
        return [f"{name}: exit {proc.returncode}, stdout is not JSON ({exc})"]
    if proc.returncode != 0 and not _over_budget(name, proc.returncode, result):
        return [f"{name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"]
    if result is None:
        return [f"{name}: printed nothing"]
    recorded = set(json.loads((BENCH / results).read_text(encoding="utf-8"))) - BY_HAND - left_out
    missing = sorted(recorded - set(result))
    if missing:
        return [f"{name}: no longer reports {missing}"]
    return [f"{name}: {p}" for p in _sane(name, result)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_benchmark_runs_and_reports_its_fields(name: str) -> None:
    assert run_benchmark(name, BENCH / CASES[name][0]) == []


def test_every_benchmark_script_is_covered() -> None:
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(c[0] for c in CASES.values())


@pytest.mark.slow
def test_a_broken_benchmark_is_caught(tmp_path: Path) -> None:
    """The failure stop 25 met (the script raises once params are typed) and a dropped field."""
    source = (BENCH / "quota.py").read_text(encoding="utf-8")
    marker = "def main(argv: list[str] | None = None) -> int:\n"
    assert marker in source
    raising = tmp_path / "quota.py"
    raising.write_text(source.replace(marker, marker + "    raise TypeError('params are dict, not BindingParams')\n"),
                       encoding="utf-8")
    assert run_benchmark("quota", raising) != []
    silent = tmp_path / "quota_silent.py"
    silent.write_text(source.replace('"quota_errors_client"', '"quota_errors"'), encoding="utf-8")
    assert '"quota_errors_client"' in source
    assert any("no longer reports" in p for p in run_benchmark("quota", silent))
    # an over-budget measurement is accepted (exit 1 with its JSON), a raising ci_worst_case is not
    worst = (BENCH / "ci_worst_case.py").read_text(encoding="utf-8")
    start = "def main(argv: list[str] | None = None) -> int:\n"
    assert start in worst
    broken = tmp_path / "ci_worst_case.py"
    broken.write_text(worst.replace(start, start + "    raise TypeError('analyze changed its signature')\n"),
                      encoding="utf-8")
    assert any("exit 1" in p for p in run_benchmark("ci_worst_case", broken))
    over = tmp_path / "ci_worst_case_over.py"
    over.write_text(worst.replace("BUDGET_S = ", "BUDGET_S = 0.0 * "), encoding="utf-8")
    assert "BUDGET_S = " in worst
    assert run_benchmark("ci_worst_case", over) == []
