"""Benchmark `scan` against a generated sandbox org (not a timed test).

    python benchmarks/scan.py [--projects 2000] [--latency-ms 50] [--concurrency 16] [--json]
                              [--faults] [--rate-limit-rpm 3000] [--rate-projects 300]

The sandbox runs in a child process (its threads must not share our GIL, and its memory must not
count as ours). Runs:

1. throughput: the real scan (GitLab part; Google facts off) against an unthrottled sandbox with
   the given latency → requests, requests_per_project, wall_s, ideal_s = requests × latency /
   concurrency, efficiency = ideal_s / wall_s;
2. a plain sequential python-gitlab walk doing the same reads (variables, CI file and its included
   files) on a sample of projects → sequential_s_per_project, speedup_vs_sequential;
3. rate limit: a smaller org behind a sandbox limit (sliding window), the tool configured with the
   same requests/minute → rate_limit_utilisation (achieved rate / limit) and http_429;
4. with --faults: 5% random 5xx, 2% slow responses (+1 s) and a burst of 429s every 3 s → the
   scan completes, every project is accounted for, findings equal a fault-free run.

peak_rss_mb is this process's peak resident set (the scanner, not the sandbox).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import requests

from migrate.core.codec import EPOCH
from migrate.core.config import Config, parse_config
from migrate.core.model import Inventory
from migrate.core.progress import SilentProgress
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.read import GitLabReader
from migrate.sandbox.generate import generate_org
from migrate.scan.runner import ScanOptions, scan

# --- the sandbox in a child process -----------------------------------------------------------

def _serve(org: dict[str, Any], latency_ms: int, rpm: int | None, window_s: float, conn: Connection) -> None:
    from migrate.sandbox.launch import Sandbox
    from migrate.sandbox.org import parse_org

    sb = Sandbox(parse_org(org), latency_ms=latency_ms).start()
    if rpm:
        sb.gitlab.rate_limit(max(1, round(rpm * window_s / 60.0)), window_s)
    conn.send({"config": sb.config_dict(state_dir="/tmp/wif-bench-state"), "env": sb.env()})
    while True:
        msg = conn.recv()
        if msg == "stop":
            break
        if msg == "log":
            conn.send(sb.gitlab.requests_log())
        if msg == "clear":
            sb.gitlab.log.clear()
            conn.send("ok")
    sb.stop()


class ChildSandbox:
    def __init__(self, org: dict[str, Any], latency_ms: int, rpm: int | None = None, window_s: float = 60.0):
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(org, latency_ms, rpm, window_s, child), daemon=True)
        self.proc.start()
        info = self.conn.recv()
        self.config_dict: dict[str, Any] = info["config"]
        os.environ.update(info["env"])
        self.url: str = self.config_dict["gitlab"]["url"]

    def log(self) -> list[dict[str, Any]]:
        self.conn.send("log")
        result: list[dict[str, Any]] = self.conn.recv()
        return result

    def clear(self) -> None:
        self.conn.send("clear")
        self.conn.recv()

    def fault(self, **fault: Any) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=fault, timeout=10).raise_for_status()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)


# --- runs ------------------------------------------------------------------------------------

def tool_config(sb: ChildSandbox, concurrency: int, rpm: int) -> Config:
    data = dict(sb.config_dict)
    data.update(concurrency=concurrency, rate_limit_rpm=rpm)
    return parse_config(data)


def run_scan(config: Config) -> tuple[Inventory, GitLabClients, float]:
    clients = GitLabClients.from_config(config)
    options = ScanOptions(gitlab_url=config.gitlab.url, scope=config.scope, concurrency=config.concurrency,
                          generated_at=EPOCH)
    started = time.perf_counter()
    inventory = scan(options, GitLabReader(clients), None, SilentProgress())
    return inventory, clients, time.perf_counter() - started


def per_project_requests(log: list[dict[str, Any]], inventory: Inventory) -> float:
    """Mean requests for projects with one plain own CI file, listing/group reads amortised."""
    by_id = {str(p.id): p for p in inventory.projects}
    by_path = {p.path.replace("/", "%2F"): p for p in inventory.projects}
    counts: Counter[int] = Counter()
    shared = 0
    for e in log:
        parts = e["path"].split("/")
        if len(parts) > 4 and parts[3] == "projects" and len(parts) > 5:
            p = by_id.get(parts[4]) or by_path.get(parts[4])
            if p is not None:
                counts[p.id] += 1
                continue
        shared += 1
    plain = [p for p in inventory.projects if p.status == "scanned" and len(p.ci_files) == 1
             and p.ci_files[0].included_by is None]
    scanned = sum(1 for p in inventory.projects if p.status != "skipped") or 1
    if not plain:
        return 0.0
    return sum(counts[p.id] for p in plain) / len(plain) + shared / scanned


def sequential_walk(sb: ChildSandbox, inventory: Inventory, sample: int) -> float:
    """Seconds per project for a plain sequential python-gitlab walk doing the same reads."""
    import gitlab

    gl = gitlab.Gitlab(sb.url, private_token=os.environ[sb.config_dict["gitlab"]["token_env"]])
    projects = [p for p in inventory.projects if p.status == "scanned"][:sample]
    started = time.perf_counter()
    for p in projects:
        project = gl.projects.get(p.id, lazy=True)
        project.variables.list(get_all=True)
        for f in p.ci_files:
            gl.projects.get(f.project, lazy=True).files.raw(file_path=f.path, ref=f.ref or None)
    return (time.perf_counter() - started) / max(1, len(projects))


def fingerprint(inv: Inventory) -> tuple[Any, ...]:
    projects = tuple(sorted((p.path, p.status, p.auth, p.error or "") for p in inv.projects))
    usages = tuple(sorted((u.file_project, u.file_path, u.finding.line, u.consumers, u.variables)
                          for u in inv.usages))
    variables = tuple(sorted((v.ref, v.key.key_id if v.key else "") for v in inv.variables))
    return projects, usages, variables


def throughput(args: argparse.Namespace, org: dict[str, Any]) -> tuple[dict[str, Any], Inventory]:
    sb = ChildSandbox(org, args.latency_ms)
    try:
        config = tool_config(sb, args.concurrency, 10**9)
        inventory, clients, wall = run_scan(config)
        requests_made = clients.stats.requests
        rpp_plain = per_project_requests(sb.log(), inventory)
        seq = sequential_walk(sb, inventory, args.sequential_sample)
    finally:
        sb.stop()
    scanned = sum(1 for p in inventory.projects if p.status != "skipped")
    ideal = requests_made * args.latency_ms / 1000.0 / args.concurrency
    return {
        "projects": len(inventory.projects),
        "projects_scanned": scanned,
        "requests": requests_made,
        "requests_per_project": round(requests_made / max(1, scanned), 3),
        "requests_per_plain_project": round(rpp_plain, 3),
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "efficiency": round(ideal / wall, 3),
        "sequential_s_per_project": round(seq, 4),
        "sequential_sample": args.sequential_sample,
        "speedup_vs_sequential": round(seq * scanned / wall, 1),
        "key_variables": len(inventory.variables),
        "usages": len(inventory.usages),
        "errors": sum(1 for p in inventory.projects if p.status == "error"),
    }, inventory


def rate_limited(args: argparse.Namespace) -> dict[str, Any]:
    org = generate_org(args.rate_projects, seed=args.seed + 1)
    sb = ChildSandbox(org, args.latency_ms, args.rate_limit_rpm, args.rate_window_s)
    try:
        config = tool_config(sb, args.concurrency, args.rate_limit_rpm)
        inventory, clients, wall = run_scan(config)
    finally:
        sb.stop()
    achieved = clients.stats.requests / wall * 60.0
    return {"rate_limit_rpm": args.rate_limit_rpm, "rate_window_s": args.rate_window_s,
            "rate_projects": len(inventory.projects), "rate_requests": clients.stats.requests,
            "rate_wall_s": round(wall, 2), "achieved_rpm": round(achieved, 1),
            "rate_limit_utilisation": round(achieved / args.rate_limit_rpm, 3),
            "http_429": clients.stats.http_429}


def faults(args: argparse.Namespace, org: dict[str, Any], clean: Inventory) -> dict[str, Any]:
    sb = ChildSandbox(org, args.latency_ms)
    stop = threading.Event()
    try:
        for status in (500, 502, 503):
            sb.fault(method="*", path_regex=r"^/api/v4/", status=status, count=-1, rate=0.05 / 3)
        sb.fault(method="*", path_regex=r"^/api/v4/", mode="delay", delay_s=1.0, count=-1, rate=0.02)

        def bursts() -> None:
            while not stop.wait(3.0):
                sb.fault(method="*", path_regex=r"^/api/v4/", status=429, retry_after=1, count=20)

        thread = threading.Thread(target=bursts, daemon=True)
        thread.start()
        config = tool_config(sb, args.concurrency, 10**9)
        inventory, clients, wall = run_scan(config)
    finally:
        stop.set()
        sb.stop()
    by_status = clients.stats.snapshot()["by_status"]
    assert isinstance(by_status, dict)
    listed = {p.path for p in clean.projects}
    return {
        "faults_wall_s": round(wall, 2),
        "faults_requests": clients.stats.requests,
        "faults_5xx_received": sum(v for k, v in by_status.items() if 500 <= k < 600),
        "faults_429_received": by_status.get(429, 0),
        "faults_projects_accounted": len({p.path for p in inventory.projects} & listed),
        "faults_projects_expected": len(listed),
        "faults_errors": sum(1 for p in inventory.projects if p.status == "error"),
        "faults_same_findings_as_clean_run": fingerprint(inventory) == fingerprint(clean),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sequential-sample", type=int, default=40)
    parser.add_argument("--rate-limit-rpm", type=int, default=3000)
    parser.add_argument("--rate-window-s", type=float, default=10.0,
                        help="sandbox sliding window (the limit is scaled to it; shorter catches bursts)")
    parser.add_argument("--rate-projects", type=int, default=300)
    parser.add_argument("--no-rate", action="store_true", help="skip the rate-limit run")
    parser.add_argument("--faults", action="store_true", help="also run with injected faults")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    random.seed(args.seed)

    org = generate_org(args.projects, seed=args.seed)
    result, clean = throughput(args, org)
    if not args.no_rate:
        result.update(rate_limited(args))
    if args.faults:
        result.update(faults(args, org, clean))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in sorted(result.items()):
            print(f"{k:36} {v}")
    del clean
    return 0


if __name__ == "__main__":
    sys.exit(main())

