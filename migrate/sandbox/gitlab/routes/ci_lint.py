"""Project CI lint: `POST /projects/:id/ci/lint` (given content) and `GET` (committed config).

POST takes `content`, `dry_run`, `include_jobs`, `ref` (context for includes; default branch).
GET takes `content_ref` (or the pre-16.10 `sha`), `dry_run`, `dry_run_ref` (or `ref`),
`include_jobs`. Both answer `valid`, `errors`, `warnings`, `merged_yaml`, `includes` and, with
`include_jobs`, `jobs`. `dry_run` does not evaluate `rules`/`only` in the sandbox: every job is
listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.sandbox.gitlab import lint
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.routes._common import PROJECT, require, truthy
from migrate.sandbox.gitlab.state import DEVELOPER
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def _answer(result: lint.LintResult, include_jobs: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"valid": result.valid, "errors": result.errors, "warnings": result.warnings,
                            "merged_yaml": result.merged_yaml, "includes": result.includes}
    if include_jobs:
        data["jobs"] = [{k: v for k, v in job.items() if k != "config"} for job in result.jobs]
    return data


def register(app: GitLabApp) -> None:
    def post(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        data = req.data()
        require(data, "content")
        ref = data.get("ref") or data.get("dry_run_ref")
        commit = project.repo.resolve(str(ref)) if ref else project.repo.head(project.default_branch)
        if ref and commit is None:
            raise ApiError(404, "404 Commit Not Found")
        result = lint.lint(app, user, project, str(data["content"]), commit)
        return Response.json(_answer(result, truthy(data.get("include_jobs", False))))

    def get(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        ref = req.arg("content_ref") or req.arg("sha") or project.default_branch
        commit = project.repo.resolve(ref)
        if commit is None:
            raise ApiError(404, "404 Commit Not Found")
        config = lint.pipeline_config(app, project, commit)
        if config is None:
            return Response.json({"valid": False, "errors": ["Please provide content of .gitlab-ci.yml"],
                                  "warnings": [], "merged_yaml": None, "includes": []})
        content, ctx_project, ctx_commit = config
        result = lint.lint(app, user, ctx_project, content, ctx_commit)
        return Response.json(_answer(result, truthy(req.arg("include_jobs", "false"))))

    app.route("POST", PROJECT + "/ci/lint", post)
    app.route("GET", PROJECT + "/ci/lint", get)
