"""Benchmark the stages after scan on a generated organisation (not a timed test).

    python benchmarks/plan.py [--projects 10000] [--seed 1] [--concurrency 16] [--json] [--keep DIR]

Generates an organisation (`migrate.sandbox.generate`), serves it from a child process at zero
latency (the sandbox's threads must not share our GIL, and its memory must not count as the
tool's), and runs the real CLI, each step in its own process so each step's peak resident set is
its own (`os.wait4`):

    wif-migrate scan → plan → apply --dry-run → report

With `--json` it prints one object: `projects`, `scan_s`, `plan_s`, `dry_run_s`, `report_s`,
`plan_over_scan` (plan_s / scan_s), `peak_rss_mb` (per step), `actions` (in the plan, by kind and
in total), `exit` (per step), `cpu_s` (user + system CPU seconds per step) and
`plan_over_scan_cpu`, the 1-minute load average before and after, and `python` / `cpus` of the
machine. Each step's wall time includes
its interpreter start-up (~1 s), as a user would see it. Targets at 10,000 projects (issue 18):
plan_s ≤ 15, dry_run_s ≤ 15, plan_over_scan ≤ 1, every step ≤ 300 MB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from migrate.sandbox.generate import generate_org


def _serve(org: dict[str, Any], conn: Connection) -> None:
    from migrate.sandbox.launch import Sandbox
    from migrate.sandbox.org import parse_org

    sb = Sandbox(parse_org(org), latency_ms=0).start()
    conn.send({"config": sb.config_dict(), "env": sb.env(), "now": sb.clock.iso()})
    conn.recv()  # "stop"
    sb.stop()


PROFILE = False  # --profile: each step under cProfile, DIR/<step>.prof (timings then include its overhead)


def _step(name: str, argv: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...]) -> dict[str, Any]:
    started = time.perf_counter()
    prof = ["-m", "cProfile", "-o", str(cwd / f"{name}.prof")] if PROFILE else []
    with open(cwd / f"{name}.out", "wb") as out, open(cwd / f"{name}.err", "wb") as err:
        proc = subprocess.Popen([sys.executable, *prof, "-m", "migrate", *argv], stdout=out, stderr=err, env=env,
                                cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code not in ok:
        tail = (cwd / f"{name}.err").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"benchmark: {name} exited {code}:\n{tail}")
    return {"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024.0, "cpu_s": usage.ru_utime + usage.ru_stime,
            "exit": code}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16, help="scan threads (config concurrency)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temp dir)")
    parser.add_argument("--profile", action="store_true", help="run each step under cProfile (needs --keep)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    global PROFILE
    PROFILE = args.profile

    load_before = os.getloadavg()[0]  # a shared machine: wall times mean little without it
    org = generate_org(args.projects, seed=args.seed)
    ctx = mp.get_context("fork")
    conn, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(org, child), daemon=True)
    server.start()
    info = conn.recv()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="wif-bench-plan-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        config = dict(info["config"])
        config.update(state_dir=str(work / "state"), concurrency=args.concurrency)
        (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        env = {**os.environ, **info["env"]}
        cfg = ["--config", str(work / "config.yaml")]
        steps = {
            "scan": _step("scan", ["scan", *cfg, "--progress", "never", "-o", str(work / "inventory.json")],
                          env, work, (0, 1)),
            "plan": _step("plan", ["plan", *cfg, "--inventory", str(work / "inventory.json"), "-o",
                                   str(work / "plan.json"), "--no-diff"], env, work, (0,)),
            "dry_run": _step("dry_run", ["apply", *cfg, str(work / "plan.json"), "--dry-run", "--format", "json"],
                             env, work, (0, 1)),
            "report": _step("report", ["report", *cfg, "--plan", str(work / "plan.json"), "--inventory",
                                       str(work / "inventory.json"), "--out", str(work / "report"),
                                       "--now", info["now"]], env, work, (0, 1)),
        }
        plan = json.loads((work / "plan.json").read_text(encoding="utf-8"))
    finally:
        conn.send("stop")
        server.join(10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    kinds = Counter(a["kind"] for a in plan["actions"])
    result: dict[str, Any] = {
        "projects": args.projects,
        **{f"{name}_s": round(s["wall_s"], 2) for name, s in steps.items()},
        "plan_over_scan": round(steps["plan"]["wall_s"] / steps["scan"]["wall_s"], 3),
        "peak_rss_mb": {name: round(s["rss_mb"], 1) for name, s in steps.items()},
        "cpu_s": {name: round(s["cpu_s"], 2) for name, s in steps.items()},
        # the same ratio in CPU seconds of the measured processes: on a shared machine the wall
        # times mostly measure the other users' load (see load_avg_1m)
        "plan_over_scan_cpu": round(steps["plan"]["cpu_s"] / steps["scan"]["cpu_s"], 3),
        "exit": {name: s["exit"] for name, s in steps.items()},
        "actions": {"total": len(plan["actions"]), **dict(sorted(kinds.items()))},
        "manual": len(plan.get("manual", [])),
        "python": platform.python_version(),
        "load_avg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in sorted(result.items()):
            print(f"{k:16} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
