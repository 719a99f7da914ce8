"""GitLab's own CI templates, read like CI files (`include: template: Jobs/SAST.gitlab-ci.yml`).

GitLab resolves `include: template:` from the templates it ships
(`lib/gitlab/ci/config/external/file/template.rb`: the location must end in `.gitlab-ci.yml`; the
suffix is stripped and `Gitlab::Template::GitlabCiYmlTemplate.find(name)` gives the content). The
instance being migrated serves exactly those through `GET /templates/gitlab_ci_ymls/:key`
(`lib/api/templates.rb`, entity `{name, content}`), which python-gitlab exposes as
`gl.gitlabciymls`: so the template a pipeline gets is read from that instance, at its version,
never from gitlab.com. Files of the pseudo project `core.model.GITLAB_TEMPLATES` are these.
"""

from __future__ import annotations

import hashlib

import gitlab

from migrate.core.model import GITLAB_TEMPLATES, TEMPLATE_SUFFIX


def is_template(project: object) -> bool:
    return project == GITLAB_TEMPLATES


def template_key(path: str) -> str:
    """The API key of `include: template: <path>` (the suffix stripped)."""
    return path.removesuffix(TEMPLATE_SUFFIX)


def template_content(gl: gitlab.Gitlab, path: str) -> str | None:
    """The template's content, None when the instance has no such template (404); other refusals
    raise python-gitlab's `GitlabGetError`."""
    try:
        template = gl.gitlabciymls.get(template_key(path))
    except gitlab.exceptions.GitlabGetError as exc:
        if exc.response_code == 404:
            return None
        raise
    content = getattr(template, "content", None)
    if not isinstance(content, str):
        raise gitlab.exceptions.GitlabGetError("unexpected answer (no template content)", 200)
    return content


def content_id(content: str) -> str:
    """A stable id for a template's content (templates have no blob or commit ids)."""
    return "template-sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()
