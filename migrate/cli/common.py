"""Helpers shared by the verb modules: parsers with the global options, config loading."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from migrate.core.config import Config, load_config
from migrate.core.errors import UsageError
from migrate.core.state import State

DEFAULT_CONFIG = "wif-migrate.yaml"


def new_parser(sub: Any, verb: str, help_text: str) -> argparse.ArgumentParser:
    """A verb parser that also accepts the global options after the verb."""
    from migrate.cli.verbs import add_common

    parser: argparse.ArgumentParser = sub.add_parser(verb, help=help_text, description=help_text)
    add_common(parser, suppress=True)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """Load --config, or ./wif-migrate.yaml; a clear usage error when there is none."""
    path = getattr(args, "config", None)
    if path is None:
        if not Path(DEFAULT_CONFIG).exists():
            raise UsageError(f"no configuration: pass --config FILE or create {DEFAULT_CONFIG} "
                             "(`wif-migrate init` writes a commented starter)")
        path = DEFAULT_CONFIG
    return load_config(path)


def existing_state(config: Config) -> State | None:
    """The state database when one exists; None otherwise (a read never creates a state folder)."""
    if not (Path(config.state_dir) / "state.db").exists():
        return None
    return State(config.state_dir)
