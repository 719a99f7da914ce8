"""Resource Manager v3: projects get / search / list.

`projects/NUMBER` and `projects/PROJECT_ID` both resolve; the answer's `name` is always
`projects/NUMBER` (how the tool learns a project number). A project that does not exist or that the
caller may not see is a 403 naming `resourcemanager.projects.get`, as on the real API. GAPIC's REST
transport sends `$alt=json;enum-encoding=int`: then `state` is answered as an integer (1 = ACTIVE).

search `query`: `field:value` terms (also `field=value`), case-insensitive, a trailing `*` is a
prefix match, several terms are OR-ed as the API documents. Fields: `id`/`projectId`,
`name`/`displayName`, `parent`, `parent.type`, `parent.id`, `state`/`lifecycleState`,
`labels.KEY`, and (sandbox extension) `projectNumber`/`number`.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from migrate.sandbox.google.errors import invalid, permission_denied
from migrate.sandbox.google.state import GoogleProject
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.google.app import GoogleApp

DOMAIN = "cloudresourcemanager.googleapis.com"


def register(app: GoogleApp) -> None:
    app.route("GET", r"/v3/projects/(?P<project>[^/:]+)", lambda r: get_project(app, r))
    app.route("GET", r"/v3/projects:search", lambda r: search_projects(app, r))
    app.route("GET", r"/v3/projects", lambda r: list_projects(app, r))


def _enum_int(req: Request) -> bool:
    return "enum-encoding=int" in (req.arg("$alt") or "")


def _visible(app: GoogleApp, req: Request, project: GoogleProject) -> bool:
    token = app.bearer(req)
    return token.kind != "federated" and "resourcemanager.projects.get" not in token.denied_permissions


def get_project(app: GoogleApp, req: Request) -> Response:
    ref = req.params["project"]
    resource = f"//{DOMAIN}/projects/{ref}"
    app.authorize(req, "resourcemanager.projects.get", resource, DOMAIN)
    with app.lock:
        project = app.world.project(ref)
        if project is None:
            raise permission_denied("resourcemanager.projects.get", resource, DOMAIN)
        return Response.json(project.to_json(_enum_int(req)))


def _terms(query: str) -> list[tuple[str, str]]:
    out = []
    for token in shlex.split(query):
        if token.upper() in ("OR", "AND"):
            continue
        m = re.match(r"^([A-Za-z_.]+)\s*[:=]\s*(.*)$", token)
        if m is None:
            raise invalid(f"Invalid query: {query}", "query")
        out.append((m.group(1), m.group(2)))
    return out


def _field(project: GoogleProject, name: str) -> str | None:
    parent_type, _, parent_id = project.parent.partition("/")
    values = {"id": project.project_id, "projectid": project.project_id, "name": project.display_name,
              "displayname": project.display_name, "parent": project.parent,
              "parent.type": parent_type.rstrip("s"), "parent.id": parent_id, "state": "ACTIVE",
              "lifecyclestate": "ACTIVE", "projectnumber": project.number, "number": project.number}
    if name.lower().startswith("labels."):
        return project.labels.get(name.split(".", 1)[1])
    return values.get(name.lower())


def _matches(project: GoogleProject, terms: list[tuple[str, str]]) -> bool:
    if not terms:
        return True
    for name, wanted in terms:
        value = _field(project, name)
        if value is None:
            continue
        want, have = wanted.lower(), value.lower()
        if (want.endswith("*") and have.startswith(want[:-1])) or have == want:
            return True
    return False


def search_projects(app: GoogleApp, req: Request) -> Response:
    app.bearer(req)
    terms = _terms(req.arg("query") or "")
    with app.lock:
        found = [p.to_json(_enum_int(req)) for p in app.world.projects.values()
                 if _visible(app, req, p) and _matches(p, terms)]
    return _page(req, found)


def list_projects(app: GoogleApp, req: Request) -> Response:
    parent = req.arg("parent")
    if not parent:
        raise invalid("parent is required", "parent")
    app.bearer(req)
    with app.lock:
        found = [p.to_json(_enum_int(req)) for p in
                 sorted(app.world.projects.values(), key=lambda p: p.display_name)
                 if p.parent == parent and _visible(app, req, p)]
    return _page(req, found)


def _page(req: Request, items: list[dict[str, Any]]) -> Response:
    size = min(int(req.arg("pageSize") or 500), 500) or 500
    start = int(req.arg("pageToken") or 0)
    out: dict[str, Any] = {"projects": items[start:start + size]} if items[start:start + size] else {}
    if start + size < len(items):
        out["nextPageToken"] = str(start + size)
    return Response.json(out)
