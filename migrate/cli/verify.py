"""`wif-migrate verify [--plan FILE] [--format table|json]`: merged MRs → authenticated pipelines.

Thin: load the config and the plan (the file, else the latest plan snapshot in the state), read
GitLab through the shared rate-limited clients, run `migrate.verify.runner`, journal every result
(stage "verify"), print the table of `migrate.verify.render` (stdout) or JSON, and exit 1 when
anything failed or is pending.
"""

from __future__ import annotations

import argparse
from typing import Any

from migrate.cli.common import config_from_args, existing_state, load_plan, new_parser
from migrate.cli.output import print_outcomes
from migrate.core.errors import UsageError
from migrate.core.progress import add_progress_option, progress_from_args
from migrate.core.state import State
from migrate.verify.render import ROWS, outcomes, results_table, status_counts
from migrate.verify.runner import exit_code, verify_plan


def register(sub: Any, help_text: str) -> None:
    parser = new_parser(sub, "verify", help_text)
    parser.add_argument("--plan", metavar="FILE", help="plan file (default: the latest plan in the state)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    add_progress_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.pipelines import GitLabPipelines

    config = config_from_args(args)
    state = existing_state(config)
    if state is None and not args.plan:
        raise UsageError(f"no plan: there is no state at {config.state_dir} (state_dir of {config.source}); "
                         "run `wif-migrate plan` first or pass --plan FILE")
    state = state or State(config.state_dir)  # verification results are journaled
    plan = load_plan(args.plan, state)
    assert plan is not None  # required: load_plan raised otherwise
    from migrate.cli.preflight import check_gitlab

    check_gitlab(config)
    reader = GitLabPipelines(GitLabClients.from_config(config))
    results = verify_plan(reader, plan, config.merge_requests.branch_prefix, state, progress_from_args(args))
    if args.format == "json":
        return print_outcomes("verify", exit_code(results), status_counts(results), outcomes(results), ROWS)
    print(results_table(results), end="")
    return exit_code(results)
