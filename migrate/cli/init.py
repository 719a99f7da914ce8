"""`wif-migrate init [FILE]`: write a commented starter configuration (default `wif-migrate.yaml`).

The text is `migrate/starter_config.yaml`, shipped inside the package (an installed wif-migrate
has no repository checkout to copy `config.example.yaml` from; the two files are kept identical
by a test). Never overwrites an existing file unless `--force`.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from migrate.cli.common import DEFAULT_CONFIG, new_parser
from migrate.core.errors import EXIT_OK, UsageError


def starter_text() -> str:
    return resources.files("migrate").joinpath("starter_config.yaml").read_text(encoding="utf-8")


def register(sub: Any, help_text: str) -> None:
    p = new_parser(sub, "init", help_text)
    p.add_argument("file", nargs="?", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"where to write it (default {DEFAULT_CONFIG}; `-` = stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = starter_text()
    if args.file == "-":
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(args.file)
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}: set gitlab.url, scope.groups and google.identity_project, then run "
          f"`wif-migrate scan -c {target}`", file=sys.stderr)
    return EXIT_OK
