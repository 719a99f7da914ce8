"""`wif-migrate report`: write compliance reports from the inventory, the plan and the journal.

Inputs: the inventory (`--inventory FILE`, else the latest snapshot in the state database), the
plan (`--plan FILE`, else the latest plan snapshot, if any) and the journal of
`State(config.state_dir)`. One findings document is built and rendered per format into `--out`
(default `config.reports.out`); this module is the only place that writes the files.
Exit 0 when the reports were written (findings do not fail this command; `check` does that).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from migrate.cli import common
from migrate.cli.commit_shas import file_commits
from migrate.cli.common import DEFAULT_CONFIG, config_from_args, new_parser
from migrate.cli.output import STDOUT, print_outcomes, write_output
from migrate.core.codec import decode_time
from migrate.core.config import REPORT_FORMATS, Config
from migrate.core.errors import EXIT_OK, UsageError
from migrate.core.model import Inventory, Plan
from migrate.core.outcome import Column, ItemOutcome, Layout, Status
from migrate.core.progress import Progress, SilentProgress, add_progress_option, progress_from_args
from migrate.core.state import JournalEntry, State, utcnow
from migrate.report import gitlab_format, outputs
from migrate.report.findings import FindingsDocument, build_findings

log = logging.getLogger(__name__)


def register(sub: Any, help_text: str) -> None:
    parser = new_parser(sub, "report", help_text)
    parser.add_argument("--format", "-f", metavar="LIST",
                        help=f"comma-separated formats: {','.join(REPORT_FORMATS)} "
                             "(default: config reports.formats)")
    parser.add_argument("--out", "-o", metavar="DIR",
                        help="output directory (default: config reports.out); `-` prints the one report "
                             "of a single-file format (md, html, json, gitlab) on stdout instead")
    add_input_options(parser)
    parser.add_argument("--plan", metavar="FILE", help="plan file (default: the latest plan snapshot, if any)")
    add_progress_option(parser)
    parser.set_defaults(func=run)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", metavar="FILE",
                        help="inventory file (default: the latest inventory snapshot in the state directory)")
    parser.add_argument("--state-dir", metavar="DIR", help="state directory (default: config state_dir)")
    parser.add_argument("--now", metavar="TIME",
                        help="report time, ISO 8601 (default: the current time; for reproducible reports)")


def optional_config(args: argparse.Namespace) -> Config | None:
    """The configuration when one is given or present; None lets `--inventory` work without one."""
    no_config = getattr(args, "config", None) is None and not Path(DEFAULT_CONFIG).exists()
    if no_config and getattr(args, "inventory", None):
        return None
    return config_from_args(args)


def parse_formats(text: str | None, config: Config | None) -> list[str]:
    if text is None:
        return list(config.reports.formats) if config else ["md", "html", "csv", "json"]
    formats = [f.strip() for f in text.split(",") if f.strip()]
    for f in formats:
        if f not in REPORT_FORMATS:
            raise UsageError(f"--format: unknown format {f!r}; choose from {', '.join(REPORT_FORMATS)}")
    if not formats:
        raise UsageError("--format: name at least one format")
    return list(dict.fromkeys(formats))


def report_time(text: str | None) -> datetime:
    """The report's "now": `--now` decoded here, at the option (`codec.decode_time`, to the precision
    given: a key's age counts from it), else the clock's now (whole seconds)."""
    if text is None:
        return utcnow()
    try:
        return decode_time(text)
    except ValueError:
        raise UsageError(f"--now: {text!r} is not an ISO 8601 time such as 2026-03-10T12:00:00Z") from None


def open_state(args: argparse.Namespace, config: Config | None) -> State | None:
    """The state database, if it exists (a report never creates one)."""
    state_dir = Path(args.state_dir or (config.state_dir if config else ".wif-migrate"))
    return State(state_dir) if (state_dir / "state.db").exists() else None


def load_inventory(path: str | None, state: State | None) -> Inventory:
    return common.load_inventory(path, state, "no inventory: run `wif-migrate scan` first, or pass --inventory FILE",
                                 "the latest inventory snapshot")


def load_plan(path: str | None, state: State | None) -> Plan | None:
    return common.load_plan(path, state, missing=None, source="the latest plan snapshot")


def build_document(args: argparse.Namespace, config: Config | None, with_history: bool = True) -> FindingsDocument:
    state = open_state(args, config)
    inventory = load_inventory(args.inventory, state)
    plan = load_plan(getattr(args, "plan", None), state) if with_history else None
    journal: list[JournalEntry] = state.entries() if state and with_history else []
    snapshots = state.snapshots("inventory") if state and with_history else []
    return build_findings(inventory, plan, journal, report_time(args.now), snapshots)


def write_reports(doc: FindingsDocument, formats: list[str], out: Path,
                  commits: Mapping[tuple[str, str, str], str] | None = None,
                  progress: Progress | None = None) -> list[Path]:
    progress = progress or SilentProgress()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    files = [(fmt, name, render) for fmt in formats for name, render in outputs(fmt)]
    progress.start(f"Writing reports to {out}", len(files))
    try:
        for fmt, name, render in files:
            path = out / name
            text = gitlab_format.render(doc, commits) if fmt == "gitlab" else render(doc)
            path.write_text(text, encoding="utf-8")
            written.append(path)
            progress.advance()
    finally:
        progress.finish()
    return written


def file_outcomes(written: list[Path]) -> list[ItemOutcome[Path]]:
    """One outcome per report file written (APPLIED: it was written)."""
    return [ItemOutcome(str(p), Status.APPLIED, "", p) for p in written]


#: `report --format json` results: `{"format": "json", "path"}` per file (only report.json is written then)
FILE_ROWS: Layout[Path] = Layout(
    columns=(Column("file", lambda o: o.item),),
    record=lambda o: {"format": "json", "path": o.item})


def run(args: argparse.Namespace) -> int:
    config = optional_config(args)
    formats = parse_formats(args.format, config)
    to_stdout = args.out == STDOUT
    if to_stdout and (len(formats) != 1 or len(outputs(formats[0])) != 1):
        raise UsageError("--out -: name one single-file format (md, html, json or gitlab) with --format; "
                         "csv writes two files")
    progress = progress_from_args(args)
    progress.start("Building the findings (inventory, plan, journal)", None)
    try:
        doc = build_document(args, config)
    finally:
        progress.finish()
    commits = file_commits(config, doc, progress) if "gitlab" in formats else {}
    s = doc.summary
    line = (f"wif-migrate report: {s.keys_found} key(s) found, {s.keys_migrated} migrated, {s.keys_disabled} "
            f"disabled, {s.keys_deleted} deleted; {s.projects_keyless} of {s.projects_total} project(s) keyless; "
            f"{len(doc.errors)} ERROR row(s)")
    if to_stdout:
        name, render = outputs(formats[0])[0]
        write_output(STDOUT, gitlab_format.render(doc, commits) if formats[0] == "gitlab" else render(doc), name)
        print(line, file=sys.stderr)
        return EXIT_OK
    out = Path(args.out or (config.reports.out if config else "reports"))
    written = write_reports(doc, formats, out, commits, progress)
    if formats == ["json"]:
        # `--format json`: the output envelope (docs/output.md) on stdout; report.json is written too;
        # its results are the files written, its errors the ERROR rows (as `check`'s)
        from migrate.report.offenders import error_outcomes

        return print_outcomes("report", EXIT_OK, {**dataclasses.asdict(s), "line": line.split(": ", 1)[1]},
                              file_outcomes(written), FILE_ROWS, errors=error_outcomes(doc))
    for path in written:
        print(path)
    print(line, file=sys.stderr)
    return EXIT_OK
