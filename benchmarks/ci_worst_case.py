"""Worst cases we could construct for `ci analyze` / `ci rewrite` within the 1 MiB input limit.

    taskset -c 0 python benchmarks/ci_worst_case.py [--json] [--out FILE] [--repeat 1] [--case NAME ...]
                                                   [--no-commands]

Each case is generated at just under `limits.MAX_BYTES` and timed twice:

- in process, through the public API the CLI calls (`analyze`, then `rewrite` with the self-check
  and the effective-job comparison), as CPU seconds of this process (`time.process_time`) and wall
  seconds (with --repeat > 1 the later runs find the per-line caches warm);
- as whole commands, what a user runs: `wif-migrate ci analyze FILE --format json` and
  `wif-migrate ci rewrite FILE --provider P --service-account SA --output OUT --format json` in a
  fresh process each (interpreter start-up, imports, cold caches and exit included), CPU seconds
  of the child from `os.wait4` (user + system) and wall seconds. The command has no way to pass
  the texts of included files, so `include_fanout` as a command resolves without them (manual).

The machine's load average is recorded before and after each case (one core: run it under
`taskset -c 0`, which the commands inherit). On a shared machine the wall time is inflated by the
others, so CPU seconds are the comparable figure; the budget is 2 s per call on one core of a
quiet machine, and the cases aim at <= 1.4 s CPU in process and <= 1.6 s CPU per command to keep
a margin. `--out` writes the JSON results file (benchmarks/results-ci-worst-case.json). Where the rewrite adds text, the case is sized so that the *result* also stays under the limit
(the growth per repeated unit is measured on a small instance), so the whole self-check runs rather
than the early "result too large" refusal. Cases:

- repeated_lines: one job with tens of thousands of identical script lines around one key
  activation (the old whole-file line diff was quadratic here: 100-250 s);
- many_jobs: 2,980 keyed jobs, each padded with script lines up to the command-line budget
  (every job planned, tokened and compared);
- extends_fanout: thousands of jobs extending one template with a long script, beyond the
  command-line budget (`units.MAX_SCRIPT_UNITS`: analyzed up to it, never rewritten);
- extends_fanout_budget: the same just under the budget, so the full rewrite and self-check run;
- extends_chain: every job extends the end of an 11-deep `extends` chain (GitLab's limit) whose
  members all add variables and scripts;
- reference_chain: `!reference` chains to the nesting limit (10) in every job;
- reference_fanout: every job's script is 20 `!reference`s into different templates;
- anchors: a script anchor aliased into every job;
- alias_bomb: the "billion laughs" (9 levels of 9 aliases): refused by the expansion guard;
- alias_wide: aliases expanding to just under the guard (`limits.MAX_EXPANDED_NODES`);
- deep_nesting: script lists nested to just under the depth guard (`limits.MAX_DEPTH`), as many as
  the node guard (`limits.MAX_EXPANDED_NODES`) accepts;
- many_variables: 2,000 jobs that each inherit 8,000 global variables (beyond the variable budget,
  `detect.MAX_VARIABLE_BINDINGS`: analyzed up to it, never rewritten);
- many_variables_budget: keyed jobs that each inherit 4,000 global variables, just under the budget;
- long_lines: few lines of maximal length (lexer cost);
- long_command: one command line of 30,000 `&&`-joined commands;
- heredoc: a here-doc of 30,000 lines next to the key activation;
- many_findings: one job that activates the key thousands of times (a finding, a plan step and a
  replacement per activation), up to the command-line budget;
- key_reads: one long script whose every line reads the key variable or file in another form
  (command substitution, flag value, mount, redirection): every reader checked, then manual;
- include_fanout: GitLab's limit of 150 included files (`scan.ci_files.MAX_INCLUDES`), each defining
  templates, passed as `RewriteOptions.included`, and the file's jobs extending them (the token
  placement once scanned every included file for every place of every job: 8 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from migrate.ci import RewriteOptions, analyze, rewrite
from migrate.ci.detect import MAX_VARIABLE_BINDINGS
from migrate.ci.limits import MAX_BYTES, MAX_DEPTH, MAX_EXPANDED_NODES, MAX_JOBS
from migrate.ci.units import MAX_SCRIPT_UNITS

PROVIDER = "projects/123/locations/global/workloadIdentityPools/ci-pool/providers/gitlab-prov"
OPTIONS = RewriteOptions(provider=PROVIDER, service_account="deploy@proj.iam.gserviceaccount.com")
AUTH = ['echo "$KEY" > key.json', "gcloud auth activate-service-account --key-file key.json"]
AUTH_LINES = "".join(f"    - {command}\n" for command in AUTH)
BUDGET_S = 2.0
NOTE = ("cpu: time.process_time of this process, the comparable figure; wall: time.perf_counter, inflated by "
        "other processes on a shared machine (see each case's load average); cheapest of --repeat runs. "
        "command_*: `wif-migrate ci analyze|rewrite FILE --format json` in a fresh process (start-up, imports, "
        "cold caches and exit included), CPU = user + system of the child (os.wait4), cheapest of --repeat")
TARGET_CPU_S = 1.4  # CPU seconds on one core: a margin below the 2 s wall budget for a quiet-machine re-run
COMMAND_TARGET_CPU_S = 1.6  # per whole command (start-up, imports, cold caches and exit included)
SLOTS = MAX_JOBS - 20  # jobs a case may add (the head's templates stay below MAX_JOBS)


def _growth(head: str, unit: Callable[[int], str], tail: str, options: RewriteOptions) -> tuple[int, int]:
    """(fixed, per unit) bytes the rewrite adds, measured on instances with 2 and 3 units."""
    sizes = []
    for count in (2, 3):
        text = head + "".join(unit(i) for i in range(count)) + tail
        result = rewrite(text, options)
        sizes.append(len(result.text) - len(text) if result.text is not None else 0)
    per_unit = max(0, sizes[1] - sizes[0])
    return max(0, sizes[0] - 2 * per_unit), per_unit


def fill(head: str, unit: Callable[[int], str], tail: str = "", slots: int | None = None,
         options: RewriteOptions = OPTIONS) -> str:
    """`head`, then `unit(i)` repeated while the text and its rewrite stay under the input limit
    (and, with `slots`, at most that many units: units that are jobs are capped by MAX_JOBS)."""
    fixed, per_unit = _growth(head, unit, tail, options)
    parts, size, index = [head], len(head) + len(tail) + fixed + 1024, 0
    while slots is None or index < slots:
        piece = unit(index)
        if size + len(piece) + per_unit >= MAX_BYTES:
            break
        parts.append(piece)
        size += len(piece) + per_unit
        index += 1
    parts.append(tail)
    return "".join(parts)


def _padded_job(body: Callable[[int], str], budget_lines: int, head_bytes: int = 0) -> Callable[[int], str]:
    """A job generator padded to fill the file with SLOTS jobs: script lines up to the command-line
    budget (so every job is fully analyzed), then a comment (YAML scanner cost only)."""
    base = len(body(0))
    lines = "".join(f"    - echo padding {n}\n" for n in range(budget_lines))
    room = (MAX_BYTES - head_bytes) // SLOTS - base - len(lines) - 700
    comment = f"  # {'x' * max(0, room - 6)}\n" if room > 10 else ""
    return lambda i: body(i) + lines + comment


def repeated_lines() -> str:
    return fill("deploy:\n  script:\n" + AUTH_LINES, lambda i: "    - echo same line\n")


def many_jobs() -> str:
    per_job = MAX_SCRIPT_UNITS // SLOTS - len(AUTH) - 2
    job = _padded_job(lambda i: f"job{i}:\n  script:\n" + AUTH_LINES + "    - make\n", per_job)
    return fill("", job, slots=SLOTS)


def _template(lines: int) -> str:
    return ".tpl:\n  before_script:\n" + AUTH_LINES + "".join(f"    - echo step {i}\n" for i in range(lines))


def extends_fanout() -> str:
    return fill(_template(400), lambda i: f"j{i}:\n  extends: .tpl\n  script:\n    - make\n", slots=SLOTS)


def extends_fanout_budget() -> str:
    lines = MAX_SCRIPT_UNITS // SLOTS - len(AUTH) - 3
    head = _template(lines)
    job = _padded_job(lambda i: f"j{i}:\n  extends: .tpl\n  script:\n    - make\n", 0, len(head))
    return fill(head, job, slots=SLOTS)


def extends_chain() -> str:
    head = ".t0:\n  variables:\n    V0: v0\n  before_script:\n" + AUTH_LINES
    head += "".join(f".t{i}:\n  extends: .t{i - 1}\n  variables:\n    V{i}: v{i}\n  after_script:\n"
                    f"    - echo level {i}\n" for i in range(1, 11))
    pad = max(0, MAX_SCRIPT_UNITS // (SLOTS - 11) - 14)  # every job's 13 commands + padding: just under budget
    job = _padded_job(lambda i: f"j{i}:\n  extends: .t10\n  script:\n    - make {i}\n", pad, len(head))
    return fill(head, job, slots=SLOTS - 11)


def reference_chain() -> str:
    head = ".r0:\n  script:\n" + AUTH_LINES
    head += "".join(f".r{i}:\n  script:\n    - !reference [.r{i - 1}, script]\n" for i in range(1, 10))
    return fill(head, lambda i: f"j{i}:\n  script:\n    - !reference [.r9, script]\n    - make\n", slots=SLOTS)


def reference_fanout() -> str:
    head = ".auth:\n  script:\n" + AUTH_LINES
    head += "".join(f".s{t}:\n  script:\n    - echo template {t}\n" for t in range(20))
    refs = "".join(f"    - !reference [.s{t}, script]\n" for t in range(20))
    job = _padded_job(lambda i: f"j{i}:\n  script:\n    - !reference [.auth, script]\n" + refs, 0, len(head))
    return fill(head, job, slots=SLOTS - 21)


def anchors() -> str:
    head = ".auth: &auth\n" + "".join(f"  - {c}\n" for c in AUTH)
    return fill(head, lambda i: f"j{i}:\n  script:\n    - *auth\n    - make {i}\n", slots=SLOTS)


def alias_bomb() -> str:
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    text += "".join(f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(9))}]\n" for i in range(1, 10))
    return "deploy:\n  script:\n" + AUTH_LINES + ".bomb:\n  " + text.replace("\n", "\n  ")


def alias_wide() -> str:
    """Each job aliases one shared list; the expanded graph stays just under the guard."""
    width = 60
    head = ".shared: &shared\n" + "".join(f"  - echo shared {n}\n" for n in range(width))
    jobs = MAX_EXPANDED_NODES // (width + 8)
    body = "".join(f"j{i}:\n  script:\n    - *shared\n    - echo {i}\n" for i in range(min(jobs, SLOTS)))
    return "deploy:\n  script:\n" + AUTH_LINES + head + body


def deep_nesting() -> str:
    """Script lists nested just under the depth guard, as many as the node guard lets through."""
    depth = MAX_DEPTH - 8
    nested = "[" * depth + "echo deep" + "]" * depth
    line = f"    - {nested}\n"
    return fill("deploy:\n  script:\n" + AUTH_LINES, lambda i: line, slots=MAX_EXPANDED_NODES // (depth + 1) - 50)


def many_variables() -> str:
    count = 8000
    head = "variables:\n" + "".join(f"  VAR_{n}: value-{n}\n" for n in range(count))
    head += "deploy:\n  script:\n" + AUTH_LINES
    return fill(head, lambda i: f"j{i}:\n  script: [make]\n", slots=2000)


def many_variables_budget() -> str:
    """Keyed jobs × inherited global variables just under detect.MAX_VARIABLE_BINDINGS."""
    count = 4000
    head = "variables:\n" + "".join(f"  VAR_{n}: value-{n}\n" for n in range(count))
    jobs = MAX_VARIABLE_BINDINGS // (count + 2) - 2
    return fill(head, lambda i: f"j{i}:\n  script:\n" + AUTH_LINES, slots=jobs)


def long_lines() -> str:
    return fill("deploy:\n  script:\n" + AUTH_LINES,
                lambda i: "    - echo " + " ".join(f"w{i}x{j}" for j in range(8000)) + "\n")


def long_command() -> str:
    body = " && ".join(f"make target{n}" for n in range(30000))
    return "deploy:\n  script:\n" + AUTH_LINES + f"    - {body}\n"


def heredoc() -> str:
    body = "".join(f"      line {n} of the document\n" for n in range(30000))
    return "deploy:\n  script:\n" + AUTH_LINES + "    - |\n      cat > notes.txt <<'EOF'\n" + body + \
        "      EOF\n"


def many_findings() -> str:
    return fill("deploy:\n  script:\n", lambda i: AUTH_LINES, slots=MAX_SCRIPT_UNITS // len(AUTH) - 100)


READS = ['cat key.json | jq -r .client_email', 'export CREDS="$(cat key.json)"', 'echo "$KEY" | base64 -d > /dev/null',
         'docker run -v "$PWD/key.json:/k.json" alpine true', 'bq --service_account_credential_file=key.json ls',
         'terraform apply -var "creds=$KEY"']


def key_reads() -> str:
    return fill("deploy:\n  script:\n" + AUTH_LINES, lambda i: f"    - {READS[i % len(READS)]} # {i}\n",
                slots=MAX_SCRIPT_UNITS - 100)


INCLUDES = 150  # GitLab's default include limit (scan.ci_files.MAX_INCLUDES)


def _included(index: int) -> str:
    head = f".inc{index}:\n  variables:\n    I{index}: v\n" if index % 8 == 0 else \
        f".inc{index}:\n  extends: .inc{index - 1}\n  variables:\n    I{index}: v\n"  # chains of 8 (GitLab: <= 11)
    return head + "".join(f".lib{index}_{t}:\n  after_script:\n    - echo lib {index} {t}\n" for t in range(18))


def include_fanout() -> str:
    """The file's keyed template extends an 8-deep chain spread over included files, and every job
    extends it and one of the 2,700 included library templates."""
    include = "include:\n" + "".join(f"  - local: inc{i}.yml\n" for i in range(INCLUDES))
    include += f".auth:\n  extends: .inc{INCLUDES - 3}\n  before_script:\n" + AUTH_LINES
    job = _padded_job(lambda i: f"j{i}:\n  extends: [.auth, .lib{i % INCLUDES}_{i % 18}]\n"
                      "  script:\n    - make\n", 0, len(include))
    return fill(include, job, slots=SLOTS - 200, options=INCLUDE_OPTIONS)


INCLUDE_OPTIONS = dataclasses.replace(OPTIONS, included=tuple(_included(i) for i in range(INCLUDES)))
CASE_OPTIONS: dict[str, RewriteOptions] = {"include_fanout": INCLUDE_OPTIONS}


CASES: dict[str, Callable[[], str]] = {
    "repeated_lines": repeated_lines, "many_jobs": many_jobs, "extends_fanout": extends_fanout,
    "extends_fanout_budget": extends_fanout_budget, "extends_chain": extends_chain,
    "reference_chain": reference_chain, "reference_fanout": reference_fanout, "anchors": anchors,
    "alias_bomb": alias_bomb, "alias_wide": alias_wide, "deep_nesting": deep_nesting,
    "many_variables": many_variables, "many_variables_budget": many_variables_budget, "long_lines": long_lines, "long_command": long_command,
    "heredoc": heredoc, "many_findings": many_findings, "key_reads": key_reads, "include_fanout": include_fanout,
}


@functools.cache
def build(name: str) -> str:
    return CASES[name]()


def _load() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else -1.0


def tool() -> list[str]:
    """The command a user runs: the console script next to this interpreter, else `python -m migrate`."""
    script = pathlib.Path(sys.executable).with_name("wif-migrate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "migrate"]


def command_argv(verb: str, path: pathlib.Path, options: RewriteOptions, out: pathlib.Path) -> list[str]:
    argv = [*tool(), "ci", verb, str(path), "--format", "json"]
    if verb == "rewrite":
        argv += ["--provider", options.provider, "--service-account", options.service_account, "--output", str(out)]
    return argv


def run_command(argv: list[str]) -> tuple[float, float, dict[str, object]]:
    """(CPU seconds of the child: user + system from os.wait4, wall seconds, its JSON answer)."""
    with tempfile.TemporaryFile() as stdout:
        wall = time.perf_counter()
        child = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - wall
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        answer = json.loads(stdout.read() or b"{}")
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} exited {child.returncode}")
    return usage.ru_utime + usage.ru_stime, wall, answer


def measure_commands(name: str, text: str, options: RewriteOptions, repeat: int) -> dict[str, object]:
    """The cheapest of `repeat` fresh processes per verb, CPU and wall seconds, and the rewrite's status."""
    timings = {f"command_{verb}_{kind}_s": float("inf") for verb in ("analyze", "rewrite") for kind in ("cpu", "wall")}
    status = ""
    with tempfile.TemporaryDirectory() as folder:
        path, out = pathlib.Path(folder, f"{name}.yml"), pathlib.Path(folder, "out.yml")
        path.write_text(text, encoding="utf-8")
        for _ in range(repeat):
            for verb in ("analyze", "rewrite"):
                cpu, wall, answer = run_command(command_argv(verb, path, options, out))
                timings[f"command_{verb}_cpu_s"] = min(timings[f"command_{verb}_cpu_s"], cpu)
                timings[f"command_{verb}_wall_s"] = min(timings[f"command_{verb}_wall_s"], wall)
                if verb == "rewrite":
                    status = str(answer.get("status", ""))
    return {"command_rewrite_status": status, **{key: round(value, 3) for key, value in timings.items()}}


def measure(repeat: int, names: list[str] | None = None, commands: bool = True) -> dict[str, dict[str, object]]:
    """Per case: the cheapest of `repeat` runs, CPU and wall seconds, for analyze and rewrite, in
    process and (with `commands`) as whole commands."""
    results: dict[str, dict[str, object]] = {}
    for name in names or list(CASES):
        text = build(name)
        options = CASE_OPTIONS.get(name, OPTIONS)
        timings = {"analyze_cpu_s": float("inf"), "analyze_wall_s": float("inf"),
                   "rewrite_cpu_s": float("inf"), "rewrite_wall_s": float("inf")}
        status, reason = "", ""
        load = _load()
        for _ in range(repeat):
            calls: tuple[tuple[str, Callable[[], object]], ...] = (
                ("analyze", functools.partial(analyze, text, key_variables=options.key_variables)),
                ("rewrite", functools.partial(rewrite, text, options)))
            for step, call in calls:
                cpu, wall = time.process_time(), time.perf_counter()
                result = call()
                timings[f"{step}_cpu_s"] = min(timings[f"{step}_cpu_s"], time.process_time() - cpu)
                timings[f"{step}_wall_s"] = min(timings[f"{step}_wall_s"], time.perf_counter() - wall)
            status, reason = result.status, (result.reasons or ("",))[0][:120]  # type: ignore[union-attr]
        cpu_worst = max(timings["analyze_cpu_s"], timings["rewrite_cpu_s"])
        row: dict[str, object] = {"bytes": len(text.encode()), "lines": text.count("\n"), "status": status,
                                  "reason": reason if status == "manual" else "",
                                  **{key: round(value, 3) for key, value in timings.items()}}
        within_budget, within_target = cpu_worst <= BUDGET_S, cpu_worst <= TARGET_CPU_S
        if commands:
            row.update(measure_commands(name, text, options, repeat))
            command_worst = max(float(str(row["command_analyze_cpu_s"])), float(str(row["command_rewrite_cpu_s"])))
            within_budget = within_budget and command_worst <= BUDGET_S
            within_target = within_target and command_worst <= COMMAND_TARGET_CPU_S
        results[name] = {**row, "load_before": load, "load_after": _load(),
                         "within_budget": within_budget, "within_target": within_target}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON results to this file")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the cheapest counts")
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--no-commands", dest="commands", action="store_false",
                        help="in process only (no `wif-migrate ci ...` subprocess per case)")
    args = parser.parse_args(argv)
    results = measure(args.repeat, args.case, args.commands)
    worst_cpu = _worst(results, "analyze_cpu_s", "rewrite_cpu_s")
    worst_wall = _worst(results, "analyze_wall_s", "rewrite_wall_s")
    summary: dict[str, object] = {
        "note": NOTE, "budget_s": BUDGET_S, "target_cpu_s": TARGET_CPU_S, "command_target_cpu_s": COMMAND_TARGET_CPU_S,
        "max_cpu_s": worst_cpu, "max_wall_s": worst_wall,
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0]}
    if args.commands:
        summary["max_command_cpu_s"] = _worst(results, "command_analyze_cpu_s", "command_rewrite_cpu_s")
        summary["max_command_wall_s"] = _worst(results, "command_analyze_wall_s", "command_rewrite_wall_s")
    summary["cases"] = results
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for name, row in results.items():
            print(f"{name:22} {row['bytes']:>8} B {row['lines']:>6} lines  analyze {row['analyze_cpu_s']:6.3f} s cpu "
                  f"{row['analyze_wall_s']:6.3f} s wall  rewrite {row['rewrite_cpu_s']:6.3f} s cpu "
                  f"{row['rewrite_wall_s']:6.3f} s wall  "
                  + (f"command analyze {row['command_analyze_cpu_s']:6.3f} s cpu rewrite "
                     f"{row['command_rewrite_cpu_s']:6.3f} s cpu ({row['command_rewrite_status']})  "
                     if args.commands else "")
                  + f"load {row['load_before']:5.2f}  {row['status']:9} "
                  f"{'ok' if row['within_target'] else 'over target' if row['within_budget'] else 'OVER'}"
                  f"  {row['reason']}", flush=True)
        print(f"max {worst_cpu:.3f} s cpu, {worst_wall:.3f} s wall in process (budget {BUDGET_S} s, target "
              f"{TARGET_CPU_S} s cpu)" + (f"; as commands max {summary['max_command_cpu_s']:.3f} s cpu, "
                                         f"{summary['max_command_wall_s']:.3f} s wall (target {COMMAND_TARGET_CPU_S} s cpu)"
                                         if args.commands else ""))
    return 0 if all(row["within_budget"] for row in results.values()) else 1


def _worst(results: dict[str, dict[str, object]], *keys: str) -> float:
    return max(float(str(row[key])) for row in results.values() for key in keys)


if __name__ == "__main__":
    sys.exit(main())
