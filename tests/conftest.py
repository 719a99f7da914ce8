"""Shared fixtures: the demo sandbox (GitLab + Google emulators over HTTP) and client factories.

Tests marked `slow` (long end-to-end runs: subprocess kills, the whole demo, 10,000-project
orgs) are left out of a plain `pytest` run so the default suite stays fast; `pytest -m slow` runs
them (`.ci/run` does both), and so does naming a slow test's node id on the command line.

`demo_sandbox` is session-scoped (key generation and start-up happen once per test process);
tests that change it use their own branch names and never assume they are alone. Tests that
need a pristine or specially configured instance build their own `Sandbox` or `GitLabApp`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gitlab
import pytest

from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org

MIGRATOR_TOKEN = "sandbox-migrator-token"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect `slow` tests unless a `-m` expression chooses, or a node id is named."""
    if config.option.markexpr or any("::" in str(a) for a in config.args):
        return
    slow = [i for i in items if i.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i.get_closest_marker("slow") is None]
REPORTER_TOKEN = "sandbox-reporter-token"


@pytest.fixture(scope="session")
def demo_sandbox() -> Iterator[Sandbox]:
    """The demo org (migrate/sandbox/orgs/demo.yaml) served on 127.0.0.1 ephemeral ports."""
    with Sandbox(load_org("demo")) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def demo_gl(demo_sandbox: Sandbox) -> Callable[..., gitlab.Gitlab]:
    """A python-gitlab client factory for the demo GitLab: `demo_gl()` is the migrator."""

    def make(token: str | None = MIGRATOR_TOKEN, **kwargs: object) -> gitlab.Gitlab:
        return gitlab.Gitlab(demo_sandbox.gitlab_url, private_token=token, **kwargs)  # type: ignore[arg-type]

    return make
