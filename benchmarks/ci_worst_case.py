"""Worst cases we could construct for `ci analyze` / `ci rewrite` within the 1 MiB input limit.

    python benchmarks/ci_worst_case.py [--json] [--repeat 1]

Each case is generated at just under `limits.MAX_BYTES` and timed on one core (this process, no
workers) through the public API the CLI calls (`analyze`, then `rewrite` with the self-check and the
effective-job comparison). Budget: 2 s per call. Cases:

- repeated_lines: one job with tens of thousands of identical script lines around one key
  activation (the old whole-file line diff was quadratic here: 100–250 s);
- many_jobs: thousands of small keyed jobs (every job planned, tokened and compared);
- extends_fanout: thousands of jobs extending one template with a long script (effective jobs
  multiply the template; bounded by acceptance.MAX_EFFECTIVE_LINES);
- reference_chain: `!reference` chains to the nesting limit in every job;
- anchors: a script anchor aliased into every job;
- long_lines: few lines of maximal length (lexer cost).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from migrate.ci import RewriteOptions, analyze, rewrite
from migrate.ci.limits import MAX_BYTES, MAX_JOBS

PROVIDER = "projects/123/locations/global/workloadIdentityPools/ci-pool/providers/gitlab-prov"
OPTIONS = RewriteOptions(provider=PROVIDER, service_account="deploy@proj.iam.gserviceaccount.com")
AUTH = ['echo "$KEY" > key.json', "gcloud auth activate-service-account --key-file key.json"]
BUDGET_S = 2.0


def fill(head: str, unit: Callable[[int], str], tail: str = "", growth: int = 0, jobs: bool = False) -> str:
    """`head`, then `unit(i)` repeated while the text *and its rewrite* (each unit grows by about
    `growth` bytes) stay under the input limit, so the full self-check runs. When units are jobs,
    at most MAX_JOBS of them (less the head's), each padded so the file still reaches the limit."""
    parts, size, index = [head], len(head) + len(tail) + 2048, 0
    slots = MAX_JOBS - 20
    pad = ""
    if jobs:
        per_job = (MAX_BYTES - size) // slots - growth
        base = len(unit(0))
        pad = "".join(f"    - echo padding {n}\n" for n in range(max(0, (per_job - base) // 22)))
    while True:
        piece = unit(index) + pad
        if size + len(piece) + growth >= MAX_BYTES or (jobs and index >= slots):
            break
        size += growth
        parts.append(piece)
        size += len(piece)
        index += 1
    parts.append(tail)
    return "".join(parts)


def repeated_lines() -> str:
    head = "deploy:\n  script:\n" + "".join(f"    - {command}\n" for command in AUTH)
    return fill(head, lambda i: "    - echo same line\n")


def many_jobs() -> str:
    return fill("", lambda i: f"job{i}:\n  script:\n" + "".join(f"    - {c}\n" for c in AUTH) + "    - make\n",
                growth=520, jobs=True)


def extends_fanout() -> str:
    head = ".tpl:\n  before_script:\n" + "".join(f"    - {c}\n" for c in AUTH) + \
        "".join(f"    - echo step {i}\n" for i in range(400))
    return fill(head, lambda i: f"j{i}:\n  extends: .tpl\n  script:\n    - make\n", jobs=True)


def reference_chain() -> str:
    head = ".r0:\n  script:\n" + "".join(f"    - {c}\n" for c in AUTH)
    head += "".join(f".r{i}:\n  script:\n    - !reference [.r{i - 1}, script]\n" for i in range(1, 10))
    return fill(head, lambda i: f"j{i}:\n  script:\n    - !reference [.r9, script]\n    - make\n", growth=120, jobs=True)


def anchors() -> str:
    head = ".auth: &auth\n" + "".join(f"  - {c}\n" for c in AUTH)
    return fill(head, lambda i: f"j{i}:\n  script:\n    - *auth\n    - make {i}\n", growth=120, jobs=True)


def long_lines() -> str:
    head = "deploy:\n  script:\n" + "".join(f"    - {c}\n" for c in AUTH)
    return fill(head, lambda i: "    - echo " + " ".join(f"w{i}x{j}" for j in range(8000)) + "\n")


CASES = {"repeated_lines": repeated_lines, "many_jobs": many_jobs, "extends_fanout": extends_fanout,
         "reference_chain": reference_chain, "anchors": anchors, "long_lines": long_lines}


def measure(repeat: int) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for name, build in CASES.items():
        text = build()
        timings = {"analyze_s": 0.0, "rewrite_s": 0.0}
        status = ""
        for _ in range(repeat):
            start = time.process_time()
            analyze(text)
            timings["analyze_s"] = max(timings["analyze_s"], time.process_time() - start)
            start = time.process_time()
            result = rewrite(text, OPTIONS)
            timings["rewrite_s"] = max(timings["rewrite_s"], time.process_time() - start)
            status = result.status
        results[name] = {"bytes": len(text.encode()), "lines": text.count("\n"), "status": status,
                         "analyze_s": round(timings["analyze_s"], 3), "rewrite_s": round(timings["rewrite_s"], 3),
                         "within_budget": max(timings.values()) <= BUDGET_S}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    results = measure(args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, row in results.items():
            print(f"{name:16} {row['bytes']:>8} B {row['lines']:>6} lines  analyze {row['analyze_s']:6.3f} s  "
                  f"rewrite {row['rewrite_s']:6.3f} s  {row['status']:9} {'ok' if row['within_budget'] else 'OVER'}")
    return 0 if all(row["within_budget"] for row in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
