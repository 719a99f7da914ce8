"""The CI cost tests' shared parts: the worst-case benchmark module (`worst`, loaded from
benchmarks/ci_worst_case.py), the growth builders (`GROWTH`: name -> n -> a CI file whose size grows
with n) and the linear-growth check (`grows_linearly`: four times the input may cost at most about
four times as much). Used by the cost, activation-scan, construct and no-cycles tests."""

from __future__ import annotations

import importlib.util
import pathlib
import time

from migrate.ci import analyze

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "ci_worst_case.py"
spec = importlib.util.spec_from_file_location("ci_worst_case", BENCH)
assert spec is not None and spec.loader is not None
worst = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worst)


def cost(text: str) -> float:
    start = time.process_time()
    analyze(text)
    result = worst.rewrite(text, worst.OPTIONS)
    assert result.status in ("rewritten", "manual"), result.reasons
    return time.process_time() - start


GROWTH = {
    # many jobs each extending the end of an 11-deep extends chain (the old walker re-walked the
    # chain for every lookup: quadratic in jobs × depth × keywords)
    "extends_chain": lambda n: ".t0:\n  before_script:\n" + worst.AUTH_LINES + "".join(
        f".t{i}:\n  extends: .t{i - 1}\n  variables:\n    V{i}: v\n" for i in range(1, 11)) + "".join(
        f"j{i}:\n  extends: .t10\n  script:\n    - make {i}\n" for i in range(n)),
    # jobs that each inherit 300 global variables: the work per inherited variable stays constant
    # (the variables of a job are GitLab's jobs × globals, bounded by detect.MAX_VARIABLE_BINDINGS)
    "global_variables": lambda n: "variables:\n" + "".join(f"  V{i}: v{i}\n" for i in range(300)) + "".join(
        f"j{i}:\n  script:\n" + worst.AUTH_LINES for i in range(n)),
    # wide !reference fan-out (each reference resolved once per path, not once per use)
    "reference_fanout": lambda n: ".auth:\n  script:\n" + worst.AUTH_LINES + "".join(
        f".s{t}:\n  script: [echo {t}]\n" for t in range(20)) + "".join(
        f"j{i}:\n  script:\n    - !reference [.auth, script]\n" + "".join(
            f"    - !reference [.s{t}, script]\n" for t in range(i % 20)) for i in range(n)),
    # one long script whose lines read the key in many forms: each key write once waited for its
    # activation by scanning to the end of the job (quadratic: 108 s at 1 MiB)
    "key_reads": lambda n: "deploy:\n  script:\n" + worst.AUTH_LINES + "".join(
        f"    - {worst.READS[i % len(worst.READS)]} # {i}\n" for i in range(n)),
    # an anchor aliased into every job
    "anchors": lambda n: ".auth: &auth\n" + "".join(f"  - {c}\n" for c in worst.AUTH) + "".join(
        f"j{i}:\n  script:\n    - *auth\n    - make {i}\n" for i in range(n)),
}


def grows_linearly(case: str, small: int, large: int, runs: int = 2) -> None:
    cost(GROWTH[case](2))  # one-time costs (the schema, caches) are not part of either size
    costs = [min(cost(GROWTH[case](n)) for _ in range(runs)) for n in (small, large)]
    assert costs[1] <= 8 * costs[0] + 0.1, (case, costs)
