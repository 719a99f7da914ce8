"""The demo organisation scanned and planned through the CLI on a fresh sandbox: what the apply
tests that need a real plan, its journaled scan and its journaled computations start from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from migrate.cli.verbs import main
from migrate.core.model import Plan
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org


@contextlib.contextmanager
def demo_planned(tmp_path: Path) -> Iterator[tuple[Sandbox, Path, Plan]]:
    """(sandbox, folder with c.yaml, inv.json, plan.json and the state, the plan); the sandbox's
    tokens are in the environment until the block ends."""
    with Sandbox(load_org("demo")) as sb:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp_path / "state"))))
        saved = dict(os.environ)
        os.environ.update(sb.env())
        try:
            assert main(["scan", "-c", str(cfg), "-o", str(tmp_path / "inv.json")]) == 1  # the demo org holds keys
            assert main(["plan", "-c", str(cfg), "--inventory", str(tmp_path / "inv.json"),
                         "-o", str(tmp_path / "plan.json"), "--no-diff"]) == 0
            yield sb, tmp_path, plan_io.read(tmp_path / "plan.json")
        finally:
            os.environ.clear()
            os.environ.update(saved)
