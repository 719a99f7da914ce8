"""The GitLab API routes, one module per API area; `register_all` wires them into an app."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

MODULES = ("meta", "groups", "projects", "variables", "repository", "merge_requests", "ci_lint", "pipelines", "templates")


def register_all(app: GitLabApp) -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}").register(app)
