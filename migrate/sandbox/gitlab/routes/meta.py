"""Version and metadata, the current user, the OIDC discovery document and JWKS, sandbox state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.sandbox.gitlab.oidc import discovery
from migrate.sandbox.gitlab.routes._common import API
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def register(app: GitLabApp) -> None:
    def version(req: Request) -> Response:
        app.current_user(req)
        db = app.db
        data: dict[str, Any] = {"version": db.version, "revision": db.revision}
        major, _, rest = db.version.partition(".")
        minor = rest.split(".")[0]
        if (int(major), int(minor or 0)) >= (15, 5):
            data["kas"] = {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None,
                           "version": None}
            data["enterprise"] = db.version.endswith("-ee")
        return Response.json(data)

    def user(req: Request) -> Response:
        u = app.current_user(req)
        data = u.entity(app.base_url)
        # lib/api/entities/user_public.rb: `expose :commit_email_or_default, as: :commit_email`
        data.update({"email": u.email, "public_email": u.public_email or "",
                     "commit_email": u.commit_email_or_default, "is_admin": u.admin, "bot": False,
                     "created_at": "2020-01-01T00:00:00.000Z", "two_factor_enabled": False,
                     "can_create_group": True, "can_create_project": True})
        return Response.json(data)

    def users(req: Request) -> Response:
        app.current_user(req)
        wanted = req.arg("username")
        found = [u.entity(app.base_url) for u in app.db.users.values()
                 if wanted is None or u.username.lower() == wanted.lower()]
        return Response.json(found)

    def token_self(req: Request) -> Response:
        u = app.current_user(req)
        return Response.json({"id": u.id, "name": f"{u.username}-token", "revoked": False,
                              "created_at": "2020-01-01T00:00:00.000Z", "description": None,
                              "scopes": list(u.scopes), "user_id": u.id, "last_used_at": None,
                              "active": True, "expires_at": None})

    def openid(req: Request) -> Response:
        return Response.json(discovery(app.base_url.rstrip("/")))  # always Gitlab.config.gitlab.url, whatever iss the tokens carry

    def jwks(req: Request) -> Response:
        return Response.json(app.issuer_keys.jwks())

    def state(req: Request) -> Response:
        return Response.json(app.state())

    app.route("GET", API + "/version", version)
    app.route("GET", API + "/metadata", version)
    app.route("GET", API + "/user", user)
    app.route("GET", API + "/users", users)
    app.route("GET", API + "/personal_access_tokens/self", token_self)
    app.route("GET", r"/\.well-known/openid-configuration", openid)
    app.route("GET", r"/oauth/discovery/keys", jwks)
    app.route("GET", r"/-/jwks", jwks)
    app.route("GET", r"/_sandbox/state", state)
