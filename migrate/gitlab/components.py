"""Read an `include: component:` file from the instance (see `migrate.core.components`).

The component's project is read through the repository files API at the address's exact ref,
`templates/<name>.yml` first, then `templates/<name>/template.yml`
(`Ci::Catalog::ComponentsProject#fetch_component` in GitLab). The host is the one python-gitlab
talks to (`server_fqdn`, `lib/gitlab/ci/components/instance_path.rb`). Files of the pseudo project
`core.model.COMPONENT_FILES` are these (path = the address; `<address>::<path>` is a local include
of the component, read in the component's project at its version).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlparse

import gitlab

from migrate.core.components import NESTED, ComponentFile, locate
from migrate.core.model import COMPONENT_FILES


class ComponentError(Exception):
    """The component cannot be read exactly; the message is the reason (no secret in it)."""


def is_component(project: object) -> bool:
    return project == COMPONENT_FILES


def instance_host(gl: gitlab.Gitlab) -> str:
    return urlparse(str(gl.url)).netloc


def component_data(gl: gitlab.Gitlab, address: str) -> tuple[ComponentFile, str, dict[str, Any]]:
    """(where, the path read, the files API body); `ComponentError` when it cannot be read exactly;
    other refusals raise python-gitlab's `GitlabGetError`."""
    from migrate.gitlab.files import file_data  # files.py reads components too

    where = locate(address, instance_host(gl))
    if isinstance(where, str):
        raise ComponentError(where)
    for path in where.paths:
        try:
            return where, path, file_data(gl, where.project, path, where.ref)
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code != 404:
                raise
    if where.local:  # GitLab: "Local file `…` does not exist!" in the component's project
        raise ComponentError(f"component {address.partition(NESTED)[0]}: its local include {where.local} is not "
                             f"in {where.project} at {where.ref} (404 Not Found)")
    raise ComponentError(f"component {address}: neither {where.paths[0]} nor {where.paths[1]} in "
                         f"{where.project} at {where.ref} (404 Not Found)")


def component_text(gl: gitlab.Gitlab, address: str) -> tuple[str, dict[str, Any]]:
    """The component file's text and its files API body."""
    _, _, body = component_data(gl, address)
    try:
        return base64.b64decode(str(body.get("content") or "")).decode("utf-8"), body
    except (ValueError, UnicodeDecodeError):
        raise ComponentError(f"component {address}: not UTF-8 text") from None
