"""Command line: parse, load config, call a stage, render, return an exit code.

Each verb lives in `migrate/cli/<verb>.py` with `register(subparsers)`; the module sets
`func` on its parser to a function `(args) -> int`. This module only wires them together,
sets up logging (stderr; `-v` info, `-vv` debug) and maps errors to exit codes:

    0  ok
    1  expected failure: keys found, something refused or blocked, a check failed
    2  usage: bad command line, bad config, verb not built yet
    3  internal error (a bug; the traceback is shown with -vv)
    4  GitLab or Google unusable: connection refused, DNS or TLS failure, token rejected (401) or
       without any access (403) — migrate/cli/preflight.py
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from migrate import __version__
from migrate.core.errors import EXIT_INTERNAL, EXIT_USAGE, WifMigrateError

VERBS: tuple[tuple[str, str], ...] = (
    ("init", "write a commented starter configuration (wif-migrate.yaml)"),
    ("scan", "inventory where service-account keys are stored and used"),
    ("plan", "compute the federation, bindings, CI changes and key retirement"),
    ("apply", "create the federation and open the merge requests of a plan"),
    ("verify", "check that merged pipelines authenticate through federation"),
    ("keys", "retire keys: disable, delete after a grace period, roll back"),
    ("report", "write compliance reports (md, html, csv, json, gitlab)"),
    ("check", "fail when any project in scope still holds or uses a key"),
    ("ci", "analyze or rewrite a CI file offline"),
    ("sandbox", "run local emulators of the GitLab and Google APIs"),
    ("demo", "run the whole migration against a sandbox demo organisation"),
)

log = logging.getLogger(__name__)


def requested_verb(argv: Sequence[str]) -> str | None:
    """The verb the command line names, found without importing any verb module.

    Only global options (`-v…`, `--verbose`, `--config FILE`, `-c FILE`, `--config=FILE`) can come
    before the verb; anything else there (`--help`, `--version`, an unknown option) returns None
    and every verb is registered, so help and errors read as before.
    """
    names = {verb for verb, _ in VERBS}
    tokens = iter(argv)
    for token in tokens:
        if token in ("--config", "-c"):
            next(tokens, None)
        elif not _global_flag(token):
            return token if token in names else None
    return None


def _global_flag(token: str) -> bool:
    """`--config=FILE`, `-cFILE`, `--verbose` or `-v…`: a global option that takes no next word."""
    attached_config = token.startswith("--config=") or (token.startswith("-c") and len(token) > 2)
    return attached_config or token == "--verbose" or re.fullmatch(r"-v+", token) is not None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every verb, or with `only` that verb (one command imports one verb's module:
    `ci analyze` and `ci rewrite` start in a fraction of the time, issue 15 item 4)."""
    parser = argparse.ArgumentParser(
        prog="wif-migrate",
        description="Move GitLab CI/CD off Google service-account keys onto Workload Identity Federation.",
        epilog="exit codes: 0 ok, 1 findings or expected failure, 2 usage or config error, 3 internal error, "
               "4 GitLab or Google unusable (connection refused, DNS, TLS, token rejected or without access); "
               "`plan --detailed-exitcode`: 2 = changes pending",
    )
    parser.add_argument("--version", action="version", version=f"wif-migrate {__version__}")
    add_common(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, help_text in VERBS:
        if only is not None and verb != only:
            continue
        module = importlib.import_module(f"migrate.cli.{verb}")
        module.register(sub, help_text)
    return parser


def add_common(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """Global options, accepted before or after the verb."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0,
                        help="more logging on stderr (-v info, -vv debug)")
    parser.add_argument("--config", "-c", default=default, metavar="FILE",
                        help="configuration file (default: wif-migrate.yaml if present)")


def new_parser(sub: Any, verb: str, help_text: str) -> argparse.ArgumentParser:
    """A verb parser that also accepts the global options after the verb (here, not in
    `cli.common`: a verb that needs no configuration or state, `ci`, imports neither)."""
    parser: argparse.ArgumentParser = sub.add_parser(verb, help=help_text, description=help_text)
    add_common(parser, suppress=True)
    return parser


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 3:
        # Library wire logs could carry request bodies; keep them out even at -vv.
        for noisy in ("urllib3", "googleapiclient", "google", "httplib2", "gitlab"):
            logging.getLogger(noisy).setLevel(max(level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(requested_verb(argv))
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", 0) or 0)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except WifMigrateError as exc:
        print(f"wif-migrate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("wif-migrate: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so, never print locals (they may hold secrets)
        log.debug("internal error", exc_info=True)
        print(f"wif-migrate: internal error: {type(exc).__name__}: {exc} (run with -vv for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
