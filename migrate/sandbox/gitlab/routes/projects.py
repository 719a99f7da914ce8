"""Projects: the instance-wide list (offset or keyset pagination) and a single project.

Listings share `project_listing`, which filters (archived, search, visibility) and orders
(`order_by` id|name|path|created_at|updated_at|last_activity_at, `sort` asc|desc; GitLab's
default is created_at desc) the projects a user can see, cached until the state changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.sandbox.gitlab import entities
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.model import Group, Project, User
from migrate.sandbox.gitlab.paging import keyset_page, offset_page
from migrate.sandbox.gitlab.routes._common import API, PROJECT, optional_bool, truthy
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

_ORDER = {"id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity",
          "star_count", "storage_size", "repository_size", "wiki_size", "packages_size"}


def project_listing(app: GitLabApp, user: User, group: Group | None, include_subgroups: bool,
                    req: Request) -> list[Project]:
    data = {k: v[-1] for k, v in req.query.items()}
    order_by = data.get("order_by") or "created_at"
    if order_by not in _ORDER:
        raise ApiError(400, "order_by does not have a valid value", field="error")
    sort = (data.get("sort") or "desc").lower()
    if sort not in ("asc", "desc"):
        raise ApiError(400, "sort does not have a valid value", field="error")
    archived = optional_bool(data, "archived")
    search = (data.get("search") or "").lower()
    visibility = data.get("visibility")
    cache_key = ("listing", app.db.generation, user.username, group.id if group else None,
                 include_subgroups, order_by, sort, archived, search, visibility)
    cache: dict[Any, list[Project]] = app.__dict__.setdefault("_listing_cache", {})
    if cache_key in cache:
        return cache[cache_key]
    if len(cache) > 256:
        cache.clear()
    projects = [app.db.projects[pid] for pid in app.db.visible_projects(user, group, include_subgroups)]
    if archived is not None:
        projects = [p for p in projects if p.archived == archived]
    if search:
        projects = [p for p in projects if search in p.name.lower() or search in p.path.lower()]
    if visibility:
        projects = [p for p in projects if p.visibility == visibility]
    if order_by in ("name", "path"):
        projects.sort(key=lambda p: (getattr(p, order_by).lower(), p.id))
    elif order_by in ("created_at", "updated_at", "last_activity_at"):
        field = "created_at" if order_by == "created_at" else "last_activity_at"
        projects.sort(key=lambda p: (getattr(p, field), p.id))
    if sort == "desc":
        projects.reverse()
    cache[cache_key] = projects
    return projects


def register(app: GitLabApp) -> None:
    def render(user: User, simple: bool) -> Any:
        return lambda p: entities.project(app, p, app.db.project_level(user, p), simple)

    def list_projects(req: Request) -> Response:
        user = app.current_user(req)
        simple = truthy(req.arg("simple", "false"))
        if (req.arg("pagination") or "") == "keyset":
            if (req.arg("order_by") or "id") != "id":
                raise ApiError(405, "405 Method Not Allowed")
            projects = [app.db.projects[pid] for pid in app.db.visible_projects(user, None, False)]
            archived = optional_bool({k: v[-1] for k, v in req.query.items()}, "archived")
            if archived is not None:
                projects = [p for p in projects if p.archived == archived]
            return keyset_page(req, app.base_url, projects, lambda p: p.id, render(user, simple))
        projects = project_listing(app, user, None, False, req)
        return offset_page(req, app.base_url, projects, render(user, simple), limited_type="Project")

    def get_project(req: Request) -> Response:
        user, project = app.project_for(req)
        return Response.json(entities.project(app, project, app.db.project_level(user, project)))

    app.route("GET", API + "/projects", list_projects)
    app.route("GET", PROJECT, get_project)
