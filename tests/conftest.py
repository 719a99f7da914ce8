"""Shared fixtures: the demo sandbox (GitLab + Google emulators over HTTP) and client factories.

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
