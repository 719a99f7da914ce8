"""Repository files, branches and commits.

Files: `GET .../repository/files/:path?ref=` (JSON, base64 content; `ref` required),
`.../raw` (bytes; `ref` defaults to the default branch), `HEAD` (X-Gitlab-* headers only).
Commits: `POST .../repository/commits` applies create/update/delete/move/chmod atomically,
`start_branch` creates the branch, `last_commit_id` guards against concurrent edits; a push
pipeline follows when the project has a CI config (not for `[skip ci]`).
Reading code needs reporter (guests of a private project get 403); writing needs developer,
maintainer on a protected branch.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from migrate.sandbox.gitlab import entities
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.model import Project, User
from migrate.sandbox.gitlab.paging import offset_page
from migrate.sandbox.gitlab.repo import Commit, CommitAction, CommitError
from migrate.sandbox.gitlab.routes._common import PROJECT, require, truthy
from migrate.sandbox.gitlab.state import DEVELOPER, MAINTAINER, REPORTER
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

FILES = PROJECT + r"/repository/files/(?P<path>[^/]+)"
BRANCHES = PROJECT + r"/repository/branches"
COMMITS = PROJECT + r"/repository/commits"
TAGS = PROJECT + r"/repository/tags"


def _commit_at(project: Project, ref: str | None) -> Commit:
    commit = project.repo.resolve(ref or project.default_branch)
    if commit is None:
        raise ApiError(404, "404 Commit Not Found")
    return commit


def can_push(app: GitLabApp, user: User, project: Project, branch: str) -> None:
    level = app.db.project_level(user, project)
    need = MAINTAINER if branch in project.protected_branches else DEVELOPER
    if level < need:
        raise ApiError(403, "403 Forbidden")


def register(app: GitLabApp) -> None:
    def file_json(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        require({k: v[-1] for k, v in req.query.items()}, "ref")
        ref = str(req.arg("ref"))
        commit = _commit_at(project, ref)
        path = req.params["path"]
        if path not in commit.files:
            raise ApiError(404, "404 File Not Found")
        if req.method == "HEAD":
            meta = entities.file_meta(project, path, ref, commit)
            return Response(200, b"", entities.file_headers(meta))
        data = entities.file_full(project, path, ref, commit)
        return Response.json(data, headers=entities.file_headers(data))

    def file_raw(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        ref = req.arg("ref") or project.default_branch
        commit = _commit_at(project, ref)
        path = req.params["path"]
        if path not in commit.files:
            raise ApiError(404, "404 File Not Found")
        resp = Response.text(commit.files[path], content_type="text/plain; charset=utf-8")
        resp.headers.update(entities.file_headers(entities.file_meta(project, path, ref, commit)))
        return resp

    def branches(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        search = (req.arg("search") or "").lower()
        names = sorted(n for n in project.repo.branches if search in n.lower())
        return offset_page(req, app.base_url, names, lambda n: entities.branch(app, project, n))

    def branch(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        name = req.params["branch"]
        if name not in project.repo.branches:
            raise ApiError(404, "404 Branch Not Found")
        return Response.json(entities.branch(app, project, name))

    def create_branch(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        data = req.data()
        require(data, "branch", "ref")
        name, ref = str(data["branch"]), str(data["ref"])
        can_push(app, user, project, name)
        if name in project.repo.branches:
            raise ApiError(400, "Branch already exists")
        commit = project.repo.resolve(ref)
        if commit is None:
            raise ApiError(400, "Invalid reference name: " + ref)
        project.repo.branches[name] = commit.id
        return Response.json(entities.branch(app, project, name), 201)

    def create_tag(req: Request) -> Response:
        """POST /projects/:id/repository/tags (lib/api/tags.rb; doc/api/tags.md): a lightweight tag,
        400 "Tag X already exists"; a protected tag needs a maintainer. The tag push runs a pipeline."""
        user, project = app.project_for(req, DEVELOPER)
        data = req.data()
        require(data, "tag_name", "ref")
        name, ref = str(data["tag_name"]), str(data["ref"])
        if app.ref_protected(project, name, tag=True) and app.db.project_level(user, project) < MAINTAINER:
            raise ApiError(403, "403 Forbidden")
        if name in project.repo.tags:
            raise ApiError(400, f"Tag {name} already exists")
        commit = project.repo.resolve(ref)
        if commit is None:
            raise ApiError(400, "Target " + ref + " is invalid")
        project.repo.tags[name] = commit.id
        app.maybe_push_pipeline(project, name, commit, user)
        return Response.json(_tag(app, project, name, commit), 201)

    def list_tags(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        names = sorted(project.repo.tags)
        return offset_page(req, app.base_url, names,
                           lambda n: _tag(app, project, n, project.repo.commits[project.repo.tags[n]]))

    def delete_branch(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        name = req.params["branch"]
        if name not in project.repo.branches:
            raise ApiError(404, "404 Branch Not Found")
        if name == project.default_branch:
            raise ApiError(400, "The default branch of a project cannot be deleted.")
        can_push(app, user, project, name)
        del project.repo.branches[name]
        return Response(204)

    def create_commit(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        data = req.data()
        require(data, "branch", "commit_message", "actions")
        branch_name = str(data["branch"])
        can_push(app, user, project, branch_name)
        start = None
        same = data.get("start_branch") == branch_name and branch_name in project.repo.branches
        if (data.get("start_branch") or data.get("start_sha")) and not same:
            start = project.repo.resolve(str(data.get("start_branch") or data.get("start_sha")))
            if start is None:
                raise ApiError(400, "Invalid reference name: "
                               + str(data.get("start_branch") or data.get("start_sha")))
        actions = []
        for raw in data["actions"] if isinstance(data["actions"], list) else []:
            content = raw.get("content")
            if content is not None:
                content = base64.b64decode(content) if raw.get("encoding") == "base64" \
                    else str(content).encode()
            if raw.get("action") in ("create", "update") and content is None:
                content = b""
            actions.append(CommitAction(str(raw.get("action")), str(raw.get("file_path")), content,
                                  raw.get("previous_path"), raw.get("last_commit_id")))
        if not actions:
            raise ApiError(400, "actions is empty", field="error")
        try:
            commit = project.repo.commit(
                branch=branch_name, message=str(data["commit_message"]),
                author=(str(data.get("author_name") or user.name),
                        str(data.get("author_email") or user.commit_email_or_default)),
                created_at=app.now(), actions=actions, start=start, force=truthy(data.get("force", False)))
        except CommitError as exc:
            raise ApiError(exc.status, str(exc)) from None
        project.last_activity_at = commit.created_at
        app.maybe_push_pipeline(project, branch_name, commit, user)
        return Response.json(entities.commit(app, project, commit, full=True), 201)

    def get_commit(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        commit = project.repo.resolve(req.params["sha"])
        if commit is None:
            raise ApiError(404, "404 Commit Not Found")
        return Response.json(entities.commit(app, project, commit, full=True))

    def list_commits(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        head = _commit_at(project, req.arg("ref_name"))
        commits = [project.repo.commits[c] for c in project.repo.ancestors(head)]
        path = req.arg("path")
        if path:
            commits = [c for c in commits if c.last_change.get(path) == c.id]
        return offset_page(req, app.base_url, commits, lambda c: entities.commit(app, project, c))

    for method in ("GET", "HEAD"):
        app.route(method, FILES, file_json)
    app.route("GET", FILES + "/raw", file_raw)
    app.route("GET", BRANCHES, branches)
    app.route("POST", BRANCHES, create_branch)
    app.route("GET", BRANCHES + r"/(?P<branch>[^/]+)", branch)
    app.route("DELETE", BRANCHES + r"/(?P<branch>[^/]+)", delete_branch)
    app.route("POST", COMMITS, create_commit)
    app.route("POST", TAGS, create_tag)
    app.route("GET", TAGS, list_tags)
    app.route("GET", COMMITS, list_commits)
    app.route("GET", COMMITS + r"/(?P<sha>[^/]+)", get_commit)


def _tag(app: GitLabApp, project: Project, name: str, commit: Commit) -> dict[str, object]:
    """The Tag entity (doc/api/tags.md): lightweight, so `message` null and no `release`."""
    return {"name": name, "message": None, "target": commit.id,
            "commit": entities.commit(app, project, commit), "release": None,
            "protected": app.ref_protected(project, name, tag=True), "created_at": None}
