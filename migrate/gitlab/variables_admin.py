"""Delete the GitLab CI/CD variables that held a retired key.

Several variables can share one key name with different environment scopes; GitLab then refuses
GET/PUT/DELETE without `filter[environment_scope]` ("There are multiple variables with provided
parameters"), and worse, with a single match it acts on whichever it finds. python-gitlab does not
add the filter on `obj.delete()`, so every call here goes through the *manager* with
`filter={"environment_scope": scope}` (flattened to `filter[environment_scope]=…` by python-gitlab),
so the variable of another scope with the same name is never touched. Instance variables have no
scope.

Before deleting, the value is read once to check it still holds the key being retired (someone may
have rotated a new key into it); the value is parsed for its identity only and dropped — it is never
logged, returned or put into an exception.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import gitlab
import requests
from gitlab.utils import EncodedId

from migrate.core.errors import GitLabError
from migrate.core.keyfile import parse_key
from migrate.core.model import KeyVariable
from migrate.gitlab.refusals import converts_transport_errors, explain
from migrate.retire.ports import VariableHolding

log = logging.getLogger(__name__)


@converts_transport_errors
class GitLabVariableAdmin:
    """Variable reads and deletes through python-gitlab (`gl` is a `gitlab.Gitlab`)."""

    def __init__(self, gl: gitlab.Gitlab) -> None:
        self.gl = gl

    def _manager(self, var: KeyVariable) -> Any:
        if var.level == "instance":
            return self.gl.variables
        owner: int | str = var.owner_id if var.owner_id is not None else var.owner
        parent = self.gl.projects if var.level == "project" else self.gl.groups
        return parent.get(owner, lazy=True).variables

    @staticmethod
    def _path(var: KeyVariable) -> str:
        """The path of `_manager(var)` (python-gitlab: /admin/ci/variables, /groups/:id/variables,
        /projects/:id/variables)."""
        if var.level == "instance":
            return "/admin/ci/variables"
        owner: int | str = var.owner_id if var.owner_id is not None else var.owner
        return f"/{'projects' if var.level == 'project' else 'groups'}/{EncodedId(owner)}/variables"

    def _filter(self, var: KeyVariable) -> dict[str, Any]:
        if var.level == "instance":
            return {}
        return {"filter": {"environment_scope": var.environment_scope}}

    def holding(self, var: KeyVariable) -> VariableHolding:
        """Read the variable once; keep only the key id of its value."""
        try:
            # GET {manager path}/{name} with the scope filter, as `manager.get(name, filter=…)`
            # sends it, without building a lazy parent object per read (issue 18)
            data = self.gl.http_get(f"{self._path(var)}/{EncodedId(var.name)}", **self._filter(var))
            if not isinstance(data, dict):
                raise GitLabError(f"read variable {var.ref}: GitLab answered something else than a variable")
            obj: Any = SimpleNamespace(**data)
        except gitlab.exceptions.GitlabError as exc:
            if exc.response_code == 404:
                return VariableHolding(exists=False)
            raise GitLabError(f"read variable {var.ref}: {explain(exc, 'GET')}") from None
        except requests.RequestException as exc:
            raise GitLabError(f"read variable {var.ref}: GitLab not reachable ({type(exc).__name__})") from None
        scope = getattr(obj, "environment_scope", None)
        if var.level != "instance" and scope not in (None, var.environment_scope):
            # A server that ignored the filter answered with another scope's variable: do not act.
            raise GitLabError(f"read variable {var.ref}: the server answered for scope {scope!r}; "
                              "refusing to act on it")
        value = getattr(obj, "value", None)
        raw_protected = getattr(obj, "protected", None)
        protected = bool(raw_protected) if raw_protected is not None else None
        hidden = value is None  # hidden variables (17.4+) answer value: null
        parsed = None if hidden else parse_key(value)
        del value, obj, data
        if parsed is None:
            return VariableHolding(exists=True, key_id=None, readable=not hidden, protected=protected)
        return VariableHolding(exists=True, key_id=parsed.identity.key_id, protected=protected,
                               public_key_sha256=parsed.identity.public_key_sha256)

    def delete(self, var: KeyVariable) -> bool:
        """Delete exactly this (name, scope); False when it was already gone."""
        try:
            self._manager(var).delete(var.name, **self._filter(var))
        except gitlab.exceptions.GitlabError as exc:
            if exc.response_code == 404:
                return False
            raise GitLabError(f"delete variable {var.ref}: {explain(exc, 'DELETE')}") from None
        except requests.RequestException as exc:
            raise GitLabError(f"delete variable {var.ref}: GitLab not reachable ({type(exc).__name__})") from None
        log.info("deleted variable %s", var.ref)
        return True

