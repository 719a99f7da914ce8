"""`wif-migrate check`: fail (exit 1) while any project in scope holds or uses a service-account key.

A gate for a scheduled CI job. Runs a fresh scan of the configured scope (`migrate.scan.runner`, GitLab
only unless `--google` asks Google for key facts too), or reads `--inventory FILE`. Prints the
offenders as a table: every CI/CD variable holding (or suspected to hold) a key, every CI location
using one, and every project or group that could not be read — an unreadable project is not known
to be keyless, so it fails the check too. `--gitlab-report PATH` also writes GitLab's
secret-detection report so the findings show in the security dashboard; `--sarif PATH` (or
`--format sarif`) SARIF 2.1.0 for code-scanning dashboards; `--format json` the output envelope.

Exit codes: 0 keyless, 1 offenders or unreadable items, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from migrate.cli.commit_shas import file_commits
from migrate.cli.common import config_from_args, new_parser
from migrate.cli.output import STDOUT, print_outcomes, write_output
from migrate.cli.report import optional_config, report_time
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK
from migrate.core.model import Inventory
from migrate.core.progress import add_progress_option, progress_from_args
from migrate.report import gitlab_format, sarif
from migrate.report.findings import build_findings
from migrate.report.offenders import OFFENDER_ROWS, error_outcomes, exposure_outcomes, offenders_table


def register(sub: Any, help_text: str) -> None:
    parser = new_parser(sub, "check", help_text)
    parser.add_argument("--inventory", metavar="FILE", help="check this inventory instead of scanning")
    parser.add_argument("--google", action="store_true",
                        help="also read Google's key facts during the scan (disabled/deleted keys, age)")
    parser.add_argument("--gitlab-report", metavar="PATH",
                        help=f"also write GitLab's secret-detection report (e.g. {gitlab_format.FILENAME})")
    parser.add_argument("--sarif", metavar="PATH",
                        help="also write SARIF 2.1.0 for code-scanning dashboards (`-` = stdout)")
    parser.add_argument("--format", choices=("table", "json", "sarif"), default="table",
                        help="stdout: the offenders table (default), the JSON output envelope, or SARIF 2.1.0")
    parser.add_argument("--now", metavar="TIME", help="report time, ISO 8601 (default: now)")
    add_progress_option(parser)
    parser.set_defaults(func=run)


def _inventory(args: argparse.Namespace) -> Inventory:
    if args.inventory:
        from migrate.scan import inventory_io

        optional_config(args)  # a given --config must still be valid
        return inventory_io.read(args.inventory)
    from migrate.cli.scan import run_scan
    from migrate.core.progress import progress_from_args

    config = config_from_args(args)
    inventory, _stats = run_scan(config, progress_from_args(args), google=args.google)
    return inventory


def run(args: argparse.Namespace) -> int:
    doc = build_findings(_inventory(args), None, [], report_time(args.now))
    if args.gitlab_report:
        commits = file_commits(optional_config(args), doc, progress_from_args(args))
        write_output(args.gitlab_report, gitlab_format.render(doc, commits), "gitlab-report")
    if args.sarif:
        write_output(args.sarif, sarif.render(doc), "sarif")
    projects = len(doc.projects)
    code = EXIT_OK if not doc.exposures and not doc.errors else EXIT_FINDINGS
    if args.format == "json":
        return print_outcomes("check", code, {"projects": projects, "keyless": code == EXIT_OK,
                                              "variables": sum(e.kind == "variable" for e in doc.exposures),
                                              "usages": sum(e.kind == "usage" for e in doc.exposures),
                                              "could_not_read": len(doc.errors)},
                              exposure_outcomes(doc), OFFENDER_ROWS, errors=error_outcomes(doc))
    if args.format == "sarif":
        sys.stdout.write(sarif.render(doc))
        return code
    human = sys.stderr if STDOUT in (args.gitlab_report, args.sarif) else sys.stdout
    if not doc.exposures and not doc.errors:
        print(f"keyless: none of the {projects} project(s) in scope holds or uses a service-account key", file=human)
        return EXIT_OK
    print(offenders_table(doc), file=human)
    variables = sum(e.kind == "variable" for e in doc.exposures)
    usages = sum(e.kind == "usage" for e in doc.exposures)
    print(f"wif-migrate check: {variables} variable(s) hold a key, {usages} CI location(s) use one, "
          f"{len(doc.errors)} item(s) could not be read ({projects} project(s) in scope)", file=sys.stderr)
    return EXIT_FINDINGS
