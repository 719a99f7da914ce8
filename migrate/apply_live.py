"""Before a binding is granted: do the GitLab facts it rests on still hold *now*?

A binding is derived from the scan: this variable, with this scope and protection, holding this
key, read by these projects. Between scan and apply someone may unprotect the variable (the
binding would then admit refs the key no longer reaches... or the reverse), swap its key, delete
it, or move a project to another namespace. `apply` re-reads, for every `ensure_binding` action,
each variable it exists for (`findings`) and each project it admits (`scopes`), and refuses the
action, naming the difference, when anything changed or cannot be read. Pure decision; the
reads go through the `LiveGitLab` protocol (real: python-gitlab, `GitLabLiveFacts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from migrate.errors import WifMigrateError
from migrate.keys import VariableHolding
from migrate.model import KeyVariable, Plan, from_dict


class LiveGitLab(Protocol):
    def holding(self, var: KeyVariable) -> VariableHolding: ...
    def project_namespace(self, project_id: int) -> int | None: ...  # None: the project is gone


def binding_refusals(plan: Plan, live: LiveGitLab) -> dict[str, str]:
    """ensure_binding action id → why the live GitLab facts no longer support it."""
    variables = {}
    for raw in (plan.inputs or {}).get("variables") or ():
        var = from_dict(KeyVariable, raw)
        variables[var.ref] = var
    namespaces = {int(p["id"]): int(p.get("namespace_id") or 0) for p in (plan.inputs or {}).get("projects") or ()}
    out: dict[str, str] = {}
    for action in plan.actions:
        if action.kind != "ensure_binding":
            continue
        try:
            why = _check(action.findings, action.params.get("scopes") or (), variables, namespaces, live)
        except WifMigrateError as exc:
            why = f"cannot re-read the GitLab facts the binding rests on: {exc}"
        if why:
            out[action.id] = f"{why}; re-run `wif-migrate scan` and `plan`"
    return out


def _check(findings: tuple[str, ...], scopes: Any, variables: Mapping[str, KeyVariable],
           namespaces: Mapping[int, int], live: LiveGitLab) -> str | None:
    for ref in findings:
        var = variables.get(ref)
        if var is None:
            continue  # not a variable finding
        held = live.holding(var)
        if not held.exists:
            return f"variable {ref} no longer exists"
        if held.protected is not None and held.protected != var.protected:
            now = "protected" if held.protected else "unprotected"
            return f"variable {ref} is {now} now (it was {'protected' if var.protected else 'unprotected'})"
        if var.key is not None:
            if not held.readable:
                return f"variable {ref} is hidden now; its key cannot be confirmed"
            if held.key_id != var.key.key_id:
                return f"variable {ref} holds another key now"
            if var.key.public_key_sha256 and held.public_key_sha256 != var.key.public_key_sha256:
                return f"variable {ref} holds another private key now"
    for scope in scopes if isinstance(scopes, (list, tuple)) else ():
        pid = scope.get("project_id") if isinstance(scope, Mapping) else None
        if pid is None:
            continue
        moved_to = live.project_namespace(int(pid))
        if moved_to is None:
            return f"project {scope.get('project') or pid} no longer exists"
        was = namespaces.get(int(pid))
        if was and moved_to != was:
            return f"project {scope.get('project') or pid} moved to namespace {moved_to} (was {was})"
    return None


class GitLabLiveFacts:
    """`LiveGitLab` over python-gitlab: variables through `GitLabVariableAdmin` (scope-filtered
    reads, value parsed for its identity only), projects by id."""

    def __init__(self, gl: Any) -> None:
        from migrate.gitlab.variables_admin import GitLabVariableAdmin

        self.gl = gl
        self.variables = GitLabVariableAdmin(gl)

    def holding(self, var: KeyVariable) -> VariableHolding:
        return self.variables.holding(var)

    def project_namespace(self, project_id: int) -> int | None:
        import gitlab
        import requests

        from migrate.errors import GitLabError

        try:
            project = self.gl.projects.get(project_id)
        except gitlab.exceptions.GitlabError as exc:
            if exc.response_code == 404:
                return None
            raise GitLabError(f"read project {project_id}: HTTP {exc.response_code}") from None
        except requests.RequestException as exc:
            raise GitLabError(f"read project {project_id}: GitLab not reachable ({type(exc).__name__})") from None
        return int((getattr(project, "namespace", None) or {}).get("id") or 0)
