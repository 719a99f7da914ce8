"""Bounded cost: the worst files we could build within the input limit are analyzed and rewritten
in ≤ 2 s of CPU on one core, and the linear merge-request diff equals difflib's."""

from __future__ import annotations

import difflib
import time

import pytest
from helpers.ci import dedent, run
from helpers.ci_growth import GROWTH, grows_linearly, worst
from helpers.ci_rewrite_cases import CASES

from migrate.ci import analyze


def apply(before: str, diff: str) -> str:
    """Apply a unified diff (our own tiny applier: context and removed lines must match exactly)."""
    old = before.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    lines = diff.splitlines(keepends=True)[2:]
    for line in lines:
        if line.startswith("@@"):
            start = int(line.split()[1].split(",")[0][1:])
            start = start - 1 if ",0" not in line.split()[1] else start
            out.extend(old[position:start])
            position = start
        elif line.startswith((" ", "-")):
            assert old[position] == line[1:], (old[position], line)
            if line.startswith(" "):
                out.append(old[position])
            position += 1
        elif line.startswith("+"):
            out.append(line[1:])
    return "".join(out + old[position:])


@pytest.mark.parametrize("name", list(CASES))
def test_diff_applies_and_is_as_small_as_difflibs(name: str) -> None:
    before = dedent(CASES[name][0])
    result = run(before)
    assert result.status == "rewritten" and result.text is not None
    assert apply(before, result.diff) == result.text
    expected = "".join(difflib.unified_diff(before.splitlines(keepends=True), result.text.splitlines(keepends=True),
                                            "a/.gitlab-ci.yml", "b/.gitlab-ci.yml"))
    changed = [line for line in result.diff.splitlines() if line[:1] in "+-"]
    assert len(changed) <= len([line for line in expected.splitlines() if line[:1] in "+-"]) + 2


def test_a_broken_diff_is_caught_by_the_applier() -> None:
    before = dedent(next(iter(CASES.values()))[0])
    result = run(before)
    assert result.text is not None
    broken = result.diff.replace("\n+  ", "\n   ", 1)
    assert broken != result.diff
    with pytest.raises(AssertionError):
        assert apply(before, broken) == result.text


def timed(case: str) -> tuple[str, float, float]:
    text = worst.CASES[case]()
    start = time.process_time()
    analyze(text)
    analyzed = time.process_time() - start
    start = time.process_time()
    result = worst.rewrite(text, worst.CASE_OPTIONS.get(case, worst.OPTIONS))
    return result.status, analyzed, time.process_time() - start


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(worst.CASES))
def test_worst_case_is_bounded(case: str) -> None:
    """The benchmark's cases at the full 1 MiB. The target is 2 s per call (worst.BUDGET_S, measured
    one core: benchmarks/results-ci-worst-case.json); a loaded shared machine (load 7 on 2 cores)
    slows CPU time too, so this guards 3x the target (the old code took 100-250 s on repeated lines
    and over 100 s on many jobs × global variables) while the benchmark reports the target."""
    status, analyzed, rewritten = timed(case)
    assert status in ("rewritten", "manual")
    assert analyzed <= 3 * worst.BUDGET_S and rewritten <= 3 * worst.BUDGET_S, (case, analyzed, rewritten)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["extends_chain", "reference_fanout", "extends_fanout_budget", "repeated_lines"])
def test_worst_case_is_bounded_as_a_command(case: str) -> None:
    """What a user runs: `wif-migrate ci analyze|rewrite` in a fresh process (start-up, imports, cold
    caches and exit included), CPU of the child; 3x the 2 s target for a loaded shared machine."""
    row = worst.measure_commands(case, worst.build(case), worst.CASE_OPTIONS.get(case, worst.OPTIONS), 1)
    assert row["command_rewrite_status"] == "rewritten", row
    assert row["command_analyze_cpu_s"] <= 3 * worst.BUDGET_S and row["command_rewrite_cpu_s"] <= 3 * worst.BUDGET_S, row


def test_the_benchmark_times_the_whole_command() -> None:
    """The command figures are the child's own CPU (user + system from os.wait4) for the real
    console script, and the rewrite really ran (its answer is read back); a command that fails is an
    error, never a timing."""
    text = "deploy:\n  script:\n" + worst.AUTH_LINES
    row = worst.measure_commands("small", text, worst.OPTIONS, 1)
    assert row["command_rewrite_status"] == "rewritten", row
    # a fresh interpreter that imports the CI library costs well over 20 ms of CPU: the parent's
    # (near zero: it only waits) would not
    assert 0.02 < row["command_analyze_cpu_s"] < 3 * worst.BUDGET_S, row
    assert 0.02 < row["command_rewrite_cpu_s"] < 3 * worst.BUDGET_S, row
    assert worst.tool()[-1].endswith(("wif-migrate", "migrate"))
    with pytest.raises(RuntimeError, match="exited 2"):
        worst.run_command([*worst.tool(), "ci", "no-such-verb"])


def test_cost_is_linear_on_repeated_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default suite: four times the input costs about four times as much (the old line diff was
    quadratic: sixteen times), measured as a ratio so a loaded machine does not make it flaky."""
    costs = []
    for size in (64 * 1024, 256 * 1024):
        monkeypatch.setattr(worst, "MAX_BYTES", size)
        status, analyzed, rewritten = timed("repeated_lines")
        assert status == "rewritten"
        costs.append(analyzed + rewritten)
    assert costs[1] <= 8 * costs[0] + 0.5, costs


def test_too_many_jobs_is_refused_quickly() -> None:
    from migrate.ci.limits import MAX_JOBS

    text = "".join(f"j{i}:\n  script: [echo]\n" for i in range(MAX_JOBS + 1))
    start = time.process_time()
    result = run(text)
    assert result.status == "manual" and "more than" in result.reasons[0]
    assert time.process_time() - start < 1.0


@pytest.mark.parametrize("case", sorted(GROWTH))
def test_cost_grows_linearly(case: str) -> None:
    """Default suite, no absolute timings: four times the jobs (or variables) cost about four times as
    much. A quadratic step (the per-job walks, copies and re-parses removed for issue 15) costs
    sixteen times; the bound is 8x (+0.1 s for noise on a loaded machine), and each size is measured
    twice, keeping the cheaper run."""
    small = {"reference_fanout": 40, "global_variables": 40}.get(case, 60)
    grows_linearly(case, small, 4 * small)


def test_the_growth_test_catches_a_quadratic_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately quadratic resolver (every job re-resolves every other job's extends) fails the
    linear-growth test above: it can fail."""
    from migrate.ci import effective

    real = effective._ancestry

    def quadratic(config):  # type: ignore[no-untyped-def]
        for _ in config:  # every job re-walks every job's extends, as the per-lookup walks once did
            real(config)
        return real(config)

    monkeypatch.setattr(effective, "_ancestry", quadratic)
    with pytest.raises(AssertionError):
        grows_linearly("extends_chain", 100, 400, runs=2)  # cheaper of two: noise on a loaded machine


def test_many_jobs_times_global_variables_is_refused_quickly() -> None:
    """Beyond detect.MAX_VARIABLE_BINDINGS (jobs × inherited global variables) the file is analyzed
    up to the budget, says so, and is never rewritten; the refusal itself stays cheap."""
    from migrate.ci.detect import MAX_VARIABLE_BINDINGS

    count = 4000
    jobs = MAX_VARIABLE_BINDINGS // count + 20
    text = "variables:\n" + "".join(f"  V{i}: v{i}\n" for i in range(count)) + "".join(
        f"j{i}:\n  script:\n" + worst.AUTH_LINES for i in range(jobs))
    start = time.process_time()
    analysis = analyze(text)
    result = worst.rewrite(text, worst.OPTIONS)
    assert any("inherited YAML variables" in problem for problem in analysis.problems), analysis.problems
    assert result.status == "manual" and "too large" in result.reasons[0], result.reasons
    assert time.process_time() - start < 4 * worst.BUDGET_S


def test_a_script_nested_deeper_than_gitlab_allows_is_refused() -> None:
    """GitLab rejects scripts nested more than 10 levels (config/entry/commands.rb MAX_NESTING_LEVEL):
    a resolution problem and manual, never silently dropped commands."""
    nested = "[" * 12 + "echo deep" + "]" * 12
    result = run(f"deploy:\n  script:\n{worst.AUTH_LINES}    - {nested}\n")
    assert result.status == "manual" and "nested deeper than 10" in result.reasons[0], result.reasons
    ok = "[" * 9 + "echo fine" + "]" * 9
    assert run(f"deploy:\n  script:\n{worst.AUTH_LINES}    - {ok}\n").status == "rewritten"
