"""`wif-migrate sandbox serve`: run the local GitLab (and Google) emulators until interrupted.

Prints the URLs and the `export` lines for the two token variables, optionally writes a tool
configuration pointing at the sandbox (`--write-config`), and exits 0 on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from datetime import datetime
from types import FrameType
from typing import Any

from migrate.cli.common import new_parser
from migrate.core.codec import decode_time
from migrate.core.errors import EXIT_OK, UsageError


def register(sub: Any, help_text: str) -> None:
    parser = new_parser(sub, "sandbox", help_text)
    actions = parser.add_subparsers(dest="sandbox_action", metavar="ACTION")
    serve = actions.add_parser("serve", help="start the emulators and run until interrupted")
    serve.add_argument("--org", default="demo", metavar="FILE|NAME",
                       help="org description file, or a shipped org name (default: demo)")
    serve.add_argument("--latency-ms", type=int, default=0, metavar="N",
                       help="added delay per request, in milliseconds")
    serve.add_argument("--rate-limit", type=int, default=None, metavar="RPM",
                       help="GitLab requests per minute per token before 429 (default: unlimited)")
    serve.add_argument("--write-config", metavar="PATH",
                       help="write a wif-migrate config pointing at the sandbox to PATH")
    serve.add_argument("--state-dir", default=".wif-migrate", metavar="DIR",
                       help="state_dir to put in the written config (default: .wif-migrate)")
    serve.add_argument("--seed", type=int, default=None, metavar="N", help="override the org's seed")
    serve.add_argument("--now", default=None, metavar="ISO",
                       help="pin the sandbox clock's start, e.g. 2026-11-22T09:00:00Z")
    serve.add_argument("--gitlab-port", type=int, default=0, metavar="PORT", help="default: any free port")
    serve.add_argument("--google-port", type=int, default=0, metavar="PORT", help="default: any free port")
    parser.set_defaults(func=run)


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return decode_time(text)
    except ValueError:
        raise UsageError(f"--now: not an ISO 8601 time: {text!r} (e.g. 2026-11-22T09:00:00Z)") from None


def run(args: argparse.Namespace) -> int:
    from migrate.sandbox.errors import OrgFileError

    try:
        return _run(args)
    except OrgFileError as exc:  # the sandbox has its own error type; to the user it is bad usage
        raise UsageError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "sandbox_action", None) != "serve":
        raise UsageError("sandbox: name an action: serve")
    from migrate.sandbox.launch import Sandbox
    from migrate.sandbox.org import load_org

    if args.latency_ms < 0 or (args.rate_limit is not None and args.rate_limit <= 0):
        raise UsageError("--latency-ms must be >= 0 and --rate-limit > 0")
    org = load_org(args.org)
    if args.seed is not None:
        org = dataclasses.replace(org, seed=args.seed)
    sandbox = Sandbox(org, latency_ms=args.latency_ms, rate_limit_rpm=args.rate_limit,
                      now=_parse_now(args.now), gitlab_port=args.gitlab_port, google_port=args.google_port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with sandbox:
            print(f"GitLab sandbox: {sandbox.gitlab_url}")
            print(f"Google sandbox: {sandbox.google_url or '(not available in this build)'}")
            for name, value in sandbox.env().items():
                print(f"export {name}={value}")
            if args.write_config:
                path = sandbox.write_config(args.write_config, state_dir=args.state_dir)
                print(f"config written: {path}")
            print("serving; press Ctrl-C to stop", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("sandbox stopped", file=sys.stderr)
    return EXIT_OK
