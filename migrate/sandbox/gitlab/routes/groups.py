"""Groups: list, get (by id or URL-encoded full path), subgroups, descendant groups, projects.

`GET /groups/:id/projects` honours `include_subgroups` (default false), `archived`,
`with_shared` (the sandbox has no shared projects, so it changes nothing), `simple`, `search`,
`order_by`/`sort`; offset pagination only, as on GitLab (no keyset for this endpoint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.sandbox.gitlab import entities
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.model import Group, User
from migrate.sandbox.gitlab.paging import offset_page
from migrate.sandbox.gitlab.routes._common import API, GROUP, truthy
from migrate.sandbox.gitlab.routes.projects import project_listing
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def group_for(app: GitLabApp, req: Request, min_level: int = 0) -> tuple[User, Group]:
    user = app.current_user(req)
    group = app.db.find_group(req.params["gid"])
    if group is None or not app.db.can_see_group(user, group):
        raise ApiError(404, "404 Group Not Found")
    if min_level and app.db.group_level(user, group) < min_level:
        raise ApiError(403, "403 Forbidden")
    return user, group


def register(app: GitLabApp) -> None:
    def render(g: Group) -> dict[str, object]:
        return entities.group(app, g)

    def list_groups(req: Request) -> Response:
        user = app.current_user(req)
        search = (req.arg("search") or "").lower()
        top = truthy(req.arg("top_level_only", "false"))
        groups = [g for g in app.db.groups.values()
                  if (not top or g.parent_id is None) and (not search or search in g.full_path.lower())
                  and app.db.can_see_group(user, g)]
        groups.sort(key=lambda g: g.full_path.lower())
        return offset_page(req, app.base_url, groups, render)

    def get_group(req: Request) -> Response:
        user, group = group_for(app, req)
        data = entities.group(app, group)
        if truthy(req.arg("with_projects", "true")):
            visible = [app.db.projects[pid] for pid in app.db.visible_projects(user, group, False)][:100]
            data["projects"] = [entities.project(app, p, app.db.project_level(user, p)) for p in visible]
            data["shared_projects"] = []
        data["shared_with_groups"] = []
        return Response.json(data)

    def subgroups(req: Request) -> Response:
        user, group = group_for(app, req)
        subs = [app.db.groups[gid] for gid in group.subgroup_ids]
        return offset_page(req, app.base_url, [g for g in subs if app.db.can_see_group(user, g)], render)

    def descendants(req: Request) -> Response:
        user, group = group_for(app, req)
        subs = [g for g in app.db.descendant_groups(group) if app.db.can_see_group(user, g)]
        return offset_page(req, app.base_url, subs, render)

    def projects(req: Request) -> Response:
        user, group = group_for(app, req)
        listing = project_listing(app, user, group, truthy(req.arg("include_subgroups", "false")), req)
        simple = truthy(req.arg("simple", "false"))
        return offset_page(req, app.base_url, listing,
                           lambda p: entities.project(app, p, app.db.project_level(user, p), simple))

    app.route("GET", API + "/groups", list_groups)
    app.route("GET", GROUP, get_group)
    app.route("GET", GROUP + "/subgroups", subgroups)
    app.route("GET", GROUP + "/descendant_groups", descendants)
    app.route("GET", GROUP + "/projects", projects)
