"""CI/CD variables at instance (`/admin/ci/variables`), group and project level.

GitLab's rules (doc/api/*_level_variables.md, lib/api/helpers/variables_helpers.rb): keys are
unique per `environment_scope`; GET/PUT/DELETE of a key that exists in several scopes answer
409 "There are multiple variables with provided parameters. Please use
'filter[environment_scope]'" unless `filter[environment_scope]` picks one (list ignores the
filter); hidden variables (`masked_and_hidden` on create) answer `value: null`; masked values
must be one line of at least 8 maskable characters. Roles: project maintainer, group owner,
instance admin; below that, 403.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from migrate.sandbox.gitlab import entities
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.model import Variable
from migrate.sandbox.gitlab.paging import offset_page
from migrate.sandbox.gitlab.routes._common import API, GROUP, PROJECT, require, truthy
from migrate.sandbox.gitlab.routes.groups import group_for
from migrate.sandbox.gitlab.state import MAINTAINER, OWNER
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

_KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_MASKABLE_RE = re.compile(r"^[A-Za-z0-9_+=/@:.~\-]{8,}$")
FILTER = "filter[environment_scope]"


def _owner(app: GitLabApp, req: Request, scope: str) -> list[Variable]:
    if scope == "instance":
        if not app.current_user(req).admin:
            raise ApiError(403, "403 Forbidden")
        return app.db.instance_variables
    if scope == "group":
        _, group = group_for(app, req, min_level=OWNER)
        return group.variables
    _, project = app.project_for(req, min_level=MAINTAINER)
    return project.variables


def _find(variables: list[Variable], key: str, env_filter: str | None) -> Variable:
    found = [v for v in variables if v.key == key and (env_filter is None or v.environment_scope == env_filter)]
    if not found:
        raise ApiError(404, "404 Variable Not Found")
    if len(found) > 1:
        raise ApiError(409, "There are multiple variables with provided parameters. "
                            "Please use 'filter[environment_scope]'")
    return found[0]


def _validate(variables: list[Variable], var: Variable, ignore: Variable | None = None) -> None:
    if not _KEY_RE.match(var.key):
        raise ApiError(400, {"key": ["can contain only letters, digits and '_'."]})
    if any(v is not ignore and v.key == var.key and v.environment_scope == var.environment_scope
           for v in variables):
        raise ApiError(400, {"key": [f"({var.key}) has already been taken"]})
    if var.masked and var.sa_key is None and not _MASKABLE_RE.match(var.value or ""):
        raise ApiError(400, {"value": ["is invalid"]})


def register(app: GitLabApp) -> None:
    def handlers(scope: str) -> dict[str, Any]:
        def listing(req: Request) -> Response:
            variables = _owner(app, req, scope)
            return offset_page(req, app.base_url, variables, lambda v: entities.variable(app, v, scope))

        def get(req: Request) -> Response:
            var = _find(_owner(app, req, scope), req.params["key"], req.arg(FILTER))
            return Response.json(entities.variable(app, var, scope))

        def create(req: Request) -> Response:
            variables = _owner(app, req, scope)
            data = req.data()
            require(data, "key")
            if "value" not in data or data["value"] is None:
                raise ApiError(400, "value is missing", field="error")
            # `masked_and_hidden` is a 17.4 parameter; older instances ignore it (Grape drops unknown params)
            hidden = scope != "instance" and app.version_at_least(17, 4) and \
                truthy(data.get("masked_and_hidden", False))
            var = Variable(key=str(data["key"]), value=str(data["value"]),
                           variable_type=str(data.get("variable_type") or "env_var"),
                           protected=truthy(data.get("protected", False)),
                           masked=hidden or truthy(data.get("masked", False)), hidden=hidden,
                           raw=truthy(data.get("raw", False)),
                           environment_scope=str(data.get("environment_scope") or "*")
                           if scope != "instance" else "*",
                           description=data.get("description"))
            if var.variable_type not in ("env_var", "file"):
                raise ApiError(400, "variable_type does not have a valid value", field="error")
            _validate(variables, var)
            variables.append(var)
            return Response.json(entities.variable(app, var, scope), 201)

        def update(req: Request) -> Response:
            variables = _owner(app, req, scope)
            var = _find(variables, req.params["key"], req.arg(FILTER))
            data = req.data()
            data.pop(FILTER, None)
            new = Variable(**{**var.__dict__})
            if "value" in data:
                new.value, new.sa_key = str(data["value"]), None
            for name in ("protected", "masked", "raw"):
                if name in data:
                    setattr(new, name, truthy(data[name]))
            if data.get("variable_type"):
                new.variable_type = str(data["variable_type"])
            if "description" in data:
                new.description = data["description"]
            if scope != "instance" and data.get("environment_scope"):
                new.environment_scope = str(data["environment_scope"])
            new.masked = new.masked or new.hidden
            _validate(variables, new, ignore=var)
            var.__dict__.update(new.__dict__)
            return Response.json(entities.variable(app, var, scope))

        def delete(req: Request) -> Response:
            variables = _owner(app, req, scope)
            var = _find(variables, req.params["key"], req.arg(FILTER))
            variables.remove(var)
            return Response(204)

        return {"list": listing, "get": get, "create": create, "update": update, "delete": delete}

    for scope, base in (("instance", API + "/admin/ci/variables"), ("group", GROUP + "/variables"),
                        ("project", PROJECT + "/variables")):
        h = handlers(scope)
        app.route("GET", base, h["list"])
        app.route("POST", base, h["create"])
        app.route("GET", base + r"/(?P<key>[^/]+)", h["get"])
        app.route("PUT", base + r"/(?P<key>[^/]+)", h["update"])
        app.route("DELETE", base + r"/(?P<key>[^/]+)", h["delete"])
