"""GitLab's own CI templates: `GET /templates/gitlab_ci_ymls` and `GET /templates/gitlab_ci_ymls/:key`.

Shapes from GitLab's `lib/api/templates.rb` (`GLOBAL_TEMPLATE_TYPES[:gitlab_ci_ymls]`): the list
presents `Entities::TemplatesList` (`key`, `name`), one template `Entities::Template` (`name`,
`content`); an unknown key is `not_found!` (404). The key is the template's name without
`.gitlab-ci.yml` (`Gitlab::Template::GitlabCiYmlTemplate`; `include: template:` strips the suffix
in `lib/gitlab/ci/config/external/file/template.rb`), and may hold slashes (`Jobs/SAST`), which
python-gitlab's `gl.gitlabciymls.get(...)` sends URL-encoded. Seeded by the org file's
`gitlab.ci_templates: {key: content}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.routes._common import API
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def register(app: GitLabApp) -> None:
    def listing(req: Request) -> Response:
        app.current_user(req)
        return Response.json([{"key": key, "name": key} for key in sorted(app.db.ci_templates)])

    def one(req: Request) -> Response:
        app.current_user(req)
        key = req.params["key"]
        content = app.db.ci_templates.get(key)
        if content is None:
            raise ApiError(404, "404 Template Not Found")
        return Response.json({"name": key, "content": content})

    app.route("GET", API + "/templates/gitlab_ci_ymls", listing)
    app.route("GET", API + r"/templates/gitlab_ci_ymls/(?P<key>[^?]+)", one)
