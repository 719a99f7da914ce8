"""The GitLab API routes, one module per API area; `register_all` wires them into an app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def register_all(app: GitLabApp) -> None:
    from migrate.sandbox.gitlab.routes import (
        ci_lint,
        groups,
        merge_requests,
        meta,
        pipelines,
        projects,
        repository,
        variables,
    )

    for module in (meta, groups, projects, variables, repository, merge_requests, ci_lint, pipelines):
        module.register(app)
