"""`wif-migrate scan`: inventory where service-account keys are stored and used.

Writes the inventory JSON (`--output`, default `<state_dir>/inventory.json`) and a snapshot in
the state database; prints a summary table (or, with `--format json`, the output envelope: one result per project) on stdout
(`-o -` puts the inventory itself on stdout and the table on stderr)
and a progress bar on stderr. Exit 0 when no key is stored or used in scope, 1 when keys were
found (or, with `--strict`, when some project or group could not be read; or when nothing could
be read at all), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from migrate.cli.common import config_from_args, new_parser
from migrate.cli.output import STDOUT, print_outcomes, write_output
from migrate.core.config import Config
from migrate.core.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from migrate.core.model import Inventory, to_dict
from migrate.core.outcome import Status
from migrate.core.progress import Progress, add_progress_option, progress_from_args
from migrate.core.state import State, utcnow
from migrate.scan import inventory_io
from migrate.scan.ports import KeyFactsSource, TextSink
from migrate.scan.render import PROJECT_ROWS, keys_found, problem_outcomes, project_outcomes, render_summary
from migrate.scan.runner import ScanOptions, scan

log = logging.getLogger(__name__)


def register(sub: Any, help_text: str) -> None:
    parser = new_parser(sub, "scan", help_text)
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="inventory file to write (default: <state_dir>/inventory.json; `-` = stdout)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="stdout: a summary table (default) or the inventory JSON")
    parser.add_argument("--no-google", action="store_true",
                        help="do not ask Google for key facts (they are recorded as unknown)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 also when a project or group could not be read (ERROR rows)")
    add_progress_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    progress = progress_from_args(args)
    state = State(config.state_dir)
    # the CI texts read, kept by their sha256 so `plan` need not read them again (issue 18)
    texts = state.text_sink()
    inventory, stats = run_scan(config, progress, google=not args.no_google, texts=texts)
    texts.flush()
    output = Path(args.output) if args.output else Path(config.state_dir) / "inventory.json"
    if str(output) == STDOUT:
        if args.format == "json":
            raise UsageError("--format json and -o - both want stdout: write the inventory to a file with -o FILE")
        write_output(STDOUT, inventory_io.dumps(inventory), "inventory")
    else:
        inventory_io.write(inventory, output)
    state.save_snapshot("inventory", to_dict(inventory))
    code = exit_code(inventory, args.strict)
    if args.format == "json":
        print_outcomes("scan", code, scan_counts(inventory), project_outcomes(inventory), PROJECT_ROWS,
                       errors=problem_outcomes([p for p in inventory.problems if p.severity == "error"]))
    else:
        human = sys.stderr if str(output) == STDOUT else sys.stdout
        human.write(render_summary(inventory))
        human.write(f"inventory written to {'stdout' if str(output) == STDOUT else output}\n")
    log.info("scan: %s GitLab requests (%s)", stats.get("requests"), stats.get("by_status"))
    return code


def scan_counts(inventory: Inventory) -> dict[str, int]:
    counts = {"projects": len(inventory.projects), "key_variables": len(inventory.variables),
              "key_usages": len(inventory.usages), "distinct_keys": len(inventory.key_facts)}
    for p in inventory.projects:
        counts[f"projects_{p.status}"] = counts.get(f"projects_{p.status}", 0) + 1
    return counts


def exit_code(inventory: Inventory, strict: bool) -> int:
    """1 when keys were found; with `strict`, also when a project or group could not be read; and
    always when nothing at all could be read (an empty scan of an unreadable org is not "clean")."""
    projects = sum(1 for p in inventory.projects if p.status == Status.ERROR)
    groups = sum(1 for p in inventory.problems if p.severity == "error" and p.subject.startswith("group:"))
    scanned = sum(1 for p in inventory.projects if p.status != Status.ERROR)
    if projects or groups:
        what = " and ".join(f"{n} {kind}(s)" for n, kind in ((projects, "project"), (groups, "group")) if n)
        print(f"wif-migrate scan: {what} could not be read; see the ERROR rows", file=sys.stderr)
    if keys_found(inventory) or (strict and (projects or groups)) or (not scanned and (projects or groups)):
        return EXIT_FINDINGS
    return EXIT_OK


def run_scan(config: Config, progress: Progress, google: bool = True, texts: TextSink | None = None
             ) -> tuple[Inventory, dict[str, object]]:
    """Build the real backends from `config` and scan; also returns the GitLab request counters.
    `texts`: where the CI texts read are kept (the `scan` verb: the state database)."""
    from migrate.cli.preflight import check_gitlab, check_google
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.read import GitLabReader

    check_gitlab(config)  # seconds, not minutes of retries, when the URL or token is wrong
    if google:
        check_google(config, identity_project=False)  # the inventory only reads keys
    clients = GitLabClients.from_config(config)
    facts: KeyFactsSource | None = None
    if google:
        from migrate.google.clients import GoogleClients
        from migrate.google.key_facts import KeyFactsReader

        facts = KeyFactsReader(GoogleClients(config.google))
    options = ScanOptions(gitlab_url=config.gitlab.url, scope=config.scope, concurrency=config.concurrency,
                          gitlab_version=config.gitlab.version, generated_at=utcnow())
    inventory = scan(options, GitLabReader(clients), facts, progress, texts=texts)
    return inventory, clients.stats.snapshot()
