"""The GitLab facts a binding rests on, read live before it is granted: the adapter behind
`migrate.apply.ports.LiveGitLab` (the comparison is `migrate.apply.live_checks`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from migrate.core.model import KeyVariable
from migrate.retire.ports import VariableHolding


class GitLabLiveFacts:
    """`LiveGitLab` over python-gitlab: variables through `GitLabVariableAdmin` (scope-filtered
    reads, value parsed for its identity only), projects by id."""

    def __init__(self, gl: Any) -> None:
        from migrate.gitlab.variables_admin import GitLabVariableAdmin

        self.gl = gl
        self.variables = GitLabVariableAdmin(gl)

    def holding(self, var: KeyVariable) -> VariableHolding:
        return self.variables.holding(var)

    def file_text(self, project: str, path: str, ref: str) -> str | None:
        """The file's content at `ref` now (`GET /projects/:id/repository/files/:path/raw`)."""
        from migrate.core.errors import GitLabError

        raw = _read_or_none(f"read {project}:{path}@{ref}", lambda: self.gl.projects.get(project, lazy=True)
                            .files.raw(file_path=path, ref=ref or None))
        if raw is None:
            return None
        data = raw if isinstance(raw, bytes) else bytes(raw or b"")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise GitLabError(f"read {project}:{path}@{ref}: not UTF-8 text") from None

    def project_namespace(self, project_id: int) -> int | None:
        project = _read_or_none(f"read project {project_id}", lambda: self.gl.projects.get(project_id))
        if project is None:
            return None
        return int((getattr(project, "namespace", None) or {}).get("id") or 0)



def _read_or_none(what: str, read: Callable[[], Any]) -> Any:
    """One GitLab read: its answer, None on 404 (gone), else a GitLabError naming `what` and the cause."""
    import gitlab
    import requests

    from migrate.core.errors import GitLabError

    try:
        return read()
    except gitlab.exceptions.GitlabError as exc:
        if exc.response_code == 404:
            return None
        raise GitLabError(f"{what}: HTTP {exc.response_code}") from None
    except requests.RequestException as exc:
        raise GitLabError(f"{what}: GitLab not reachable ({type(exc).__name__})") from None
