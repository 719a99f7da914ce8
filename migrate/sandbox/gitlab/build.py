"""Build a `GitLabState` from the `gitlab:` half of an org description file (docs/sandbox.md).

Every mapping is checked for unknown keys, so a misspelt `variabels:` in an org file is an error
naming where it is, not a silently empty project. Service-account key variables (`sa_key:`) ask
the shared `KeyStore` for the key, so the Google emulator, asking for the same (account, label),
knows the same key.
"""

from __future__ import annotations

from typing import Any

from migrate.sandbox.clock import Clock
from migrate.sandbox.errors import OrgFileError
from migrate.sandbox.gitlab.model import ACCESS_LEVELS, Group, Project, SaKeyRef, User, Variable
from migrate.sandbox.gitlab.repo import CommitAction, Repository
from migrate.sandbox.gitlab.state import GitLabState
from migrate.sandbox.keys import KeyStore

_TOP = {"version", "revision", "users", "instance_variables", "groups", "issuer_url", "description",
        "ci_templates"}
_USER = {"username", "token", "admin", "name", "email", "scopes", "commit_email", "public_email"}
_GROUP = {"path", "id", "name", "description", "visibility", "members", "variables", "subgroups",
          "projects", "created_at"}
_PROJECT = {"path", "id", "name", "description", "default_branch", "ci_config_path", "archived",
            "visibility", "protected_branches", "protected_tags", "tags", "merge_method", "members", "no_access", "max_role", "variables",
            "files", "branches", "topics", "created_at", "ci_id_token_sub_claim_components",
            "pipeline_schedules", "expected"}
_VARIABLE = {"key", "value", "sa_key", "variable_type", "protected", "masked", "hidden", "raw",
             "environment_scope", "description"}
_SA_KEY = {"service_account", "key", "encoding"}

DEFAULT_USERS = [
    {"username": "migrator", "token": "sandbox-migrator-token", "admin": True},
    {"username": "auditor", "token": "sandbox-reporter-token"},
]


def _check(data: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise OrgFileError(f"{where}: must be a mapping")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise OrgFileError(f"{where}: {unknown[0]}: unknown key (known: {', '.join(sorted(allowed))})")
    return data


def _level(role: Any, where: str) -> int:
    if role not in ACCESS_LEVELS:
        raise OrgFileError(f"{where}: unknown role {role!r} (known: {', '.join(ACCESS_LEVELS)})")
    return ACCESS_LEVELS[role]


class Builder:
    def __init__(self, spec: dict[str, Any], keys: KeyStore, clock: Clock) -> None:
        self.spec = _check(spec or {}, _TOP, "gitlab")
        self.keys = keys
        self.clock = clock
        self.state = GitLabState(version=str(self.spec.get("version", "17.5.0")),
                                 revision=str(self.spec.get("revision", "sandbox")))

    def build(self) -> GitLabState:
        users = self.spec.get("users") or DEFAULT_USERS
        for i, u in enumerate(users):
            self._user(_check(u, _USER, f"gitlab.users[{i}]"))
        self.state.instance_variables = [
            self._variable(v, f"gitlab.instance_variables[{i}]")
            for i, v in enumerate(self.spec.get("instance_variables") or [])]
        templates = self.spec.get("ci_templates") or {}
        if not isinstance(templates, dict) or not all(isinstance(v, str) for v in templates.values()):
            raise OrgFileError("gitlab.ci_templates: must map template keys to their content")
        self.state.ci_templates = {str(k): v for k, v in templates.items()}
        groups = self.spec.get("groups") or []
        self._reserve_ids(groups)
        for i, g in enumerate(groups):
            self._group(g, None, f"gitlab.groups[{i}]")
        return self.state

    def _schedule_owner(self, sched: dict[str, Any], where: str) -> str:
        """`owner:` (a username), else the first admin: the user the schedule's pipelines run as."""
        name = str(sched.get("owner") or next(
            (u.username for u in self.state.users.values() if u.admin), next(iter(self.state.users))))
        if name not in self.state.users:
            raise OrgFileError(f"{where}.owner: {name}: no such user in gitlab.users")
        return name

    def _user(self, u: dict[str, Any]) -> None:
        name = str(u["username"])
        user = User(id=self.state.ids.take("user"), username=name, token=str(u["token"]),
                    name=str(u.get("name") or name.title()),
                    email=str(u.get("email") or f"{name}@sandbox.example"),
                    admin=bool(u.get("admin", False)), scopes=_scopes(u, name),
                    commit_email=str(u["commit_email"]) if u.get("commit_email") else None,
                    public_email=str(u["public_email"]) if u.get("public_email") else None)
        self.state.add_user(user)

    def _reserve_ids(self, groups: list[Any]) -> None:
        for g in groups:
            if isinstance(g, dict):
                if isinstance(g.get("id"), int):
                    self.state.ids.used_groups.add(g["id"])
                for p in g.get("projects") or []:
                    if isinstance(p, dict) and isinstance(p.get("id"), int):
                        self.state.ids.used_projects.add(p["id"])
                self._reserve_ids(g.get("subgroups") or [])

    def _members(self, data: Any, where: str) -> dict[str, int]:
        if not isinstance(data or {}, dict):
            raise OrgFileError(f"{where}: must map username to role")
        out = {}
        for username, role in (data or {}).items():
            if username not in self.state.users:
                raise OrgFileError(f"{where}: {username}: no such user in gitlab.users")
            out[str(username)] = _level(role, f"{where}.{username}")
        return out

    def _group(self, g: Any, parent: Group | None, where: str) -> None:
        g = _check(g, _GROUP, where)
        path = str(g["path"])
        full = f"{parent.full_path}/{path}" if parent else path
        if full.lower() in self.state.groups_by_path:
            raise OrgFileError(f"{where}: group {full} is defined twice")
        gid = g["id"] if isinstance(g.get("id"), int) else self.state.ids.next_group()
        group = Group(id=gid, path=path, full_path=full, name=str(g.get("name") or path),
                      parent_id=parent.id if parent else None,
                      created_at=str(g.get("created_at") or self.clock.iso()),
                      visibility=str(g.get("visibility", "private")),
                      description=str(g.get("description") or ""),
                      members=self._members(g.get("members"), f"{where}.members"))
        group.variables = [self._variable(v, f"{where}.variables[{i}]")
                           for i, v in enumerate(g.get("variables") or [])]
        self.state.add_group(group)
        for i, p in enumerate(g.get("projects") or []):
            self._project(p, group, f"{where}.projects[{i}]")
        for i, sub in enumerate(g.get("subgroups") or []):
            self._group(sub, group, f"{where}.subgroups[{i}]")

    def _project(self, p: Any, group: Group, where: str) -> None:
        p = _check(p, _PROJECT, where)
        path = str(p["path"])
        full = f"{group.full_path}/{path}"
        if full.lower() in self.state.projects_by_path:
            raise OrgFileError(f"{where}: project {full} is defined twice")
        pid = p["id"] if isinstance(p.get("id"), int) else self.state.ids.next_project()
        created = str(p.get("created_at") or self.clock.iso())
        default_branch = str(p.get("default_branch") or "main")
        project = Project(
            id=pid, path=path, name=str(p.get("name") or path), namespace_id=group.id,
            path_with_namespace=full, created_at=created, repo=Repository(),
            default_branch=default_branch, ci_config_path=p.get("ci_config_path") or None,
            archived=bool(p.get("archived", False)), visibility=str(p.get("visibility", "private")),
            description=str(p.get("description") or ""), topics=list(p.get("topics") or []),
            members=self._members(p.get("members"), f"{where}.members"),
            no_access=set(p.get("no_access") or []),
            max_role={str(u): _level(r, f"{where}.max_role.{u}")
                      for u, r in (p.get("max_role") or {}).items()},
            protected_branches=set(p.get("protected_branches") or [default_branch]),
            protected_tags=set(p.get("protected_tags") or []),
            merge_method=str(p.get("merge_method") or "merge"),
            last_activity_at=created,
        )
        if project.merge_method not in ("merge", "ff"):
            raise OrgFileError(f"{where}.merge_method: must be merge or ff")
        for i, sched in enumerate(p.get("pipeline_schedules") or []):
            if not isinstance(sched, dict) or "cron" not in sched:
                raise OrgFileError(f"{where}.pipeline_schedules[{i}]: needs cron:")
            project.pipeline_schedules.append({
                "id": len(project.pipeline_schedules) + 1, "description": str(sched.get("description") or ""),
                "ref": str(sched.get("ref") or f"refs/heads/{default_branch}"), "cron": str(sched["cron"]),
                "cron_timezone": str(sched.get("cron_timezone") or "UTC"),
                "active": bool(sched.get("active", True)), "created_at": created, "updated_at": created,
                "owner": self._schedule_owner(sched, f"{where}.pipeline_schedules[{i}]"),
                # Schedule variables (doc/api/pipeline_schedules.md, "Create a pipeline schedule
                # variable"): key, value, variable_type; they take precedence over project/group
                # variables for the schedule's pipelines (doc/ci/variables/_index.md precedence).
                "variables": [self._variable(v, f"{where}.pipeline_schedules[{i}].variables[{j}]")
                              for j, v in enumerate(sched.get("variables") or [])]})
        if p.get("ci_id_token_sub_claim_components"):
            project.ci_id_token_sub_claim_components = list(p["ci_id_token_sub_claim_components"])
        project.variables = [self._variable(v, f"{where}.variables[{i}]")
                             for i, v in enumerate(p.get("variables") or [])]
        files = p.get("files") or {}
        if not isinstance(files, dict):
            raise OrgFileError(f"{where}.files: must map file path to content")
        first = next(iter(self.state.users.values()))
        project.repo.commit(
            branch=default_branch, message="Initial commit", author=(first.name, first.commit_email_or_default),
            created_at=created,
            actions=[CommitAction("create", str(k), str(v).encode()) for k, v in files.items()])
        for name in p.get("branches") or []:
            project.repo.branches[str(name)] = project.repo.branches[default_branch]
        for name in p.get("tags") or []:  # lightweight tags at the default branch's head
            project.repo.tags[str(name)] = project.repo.branches[default_branch]
        self.state.add_project(project)

    def _variable(self, v: Any, where: str) -> Variable:
        v = _check(v, _VARIABLE, where)
        if "key" not in v:
            raise OrgFileError(f"{where}: key is required")
        sa_key = None
        value: str | None = None
        if "sa_key" in v:
            ref = _check(v["sa_key"], _SA_KEY, f"{where}.sa_key")
            encoding = str(ref.get("encoding", "json"))
            if encoding not in ("json", "base64"):
                raise OrgFileError(f"{where}.sa_key.encoding: must be json or base64")
            issued = self.keys.issue(str(ref["service_account"]), str(ref["key"]))
            sa_key = SaKeyRef(issued.service_account, issued.label, issued.key_id, encoding)
        else:
            value = str(v.get("value", ""))
        hidden = bool(v.get("hidden", False))
        if hidden and not _at_least(self.state.version, 17, 4):
            raise OrgFileError(f"{where}.hidden: hidden variables exist from GitLab 17.4 "
                             f"(this org's version is {self.state.version})")
        var_type = str(v.get("variable_type", "env_var"))
        if var_type not in ("env_var", "file"):
            raise OrgFileError(f"{where}.variable_type: must be env_var or file")
        return Variable(key=str(v["key"]), value=value, variable_type=var_type,
                        protected=bool(v.get("protected", False)),
                        masked=bool(v.get("masked", hidden)), hidden=hidden,
                        raw=bool(v.get("raw", False)),
                        environment_scope=str(v.get("environment_scope", "*")),
                        description=v.get("description"), sa_key=sa_key)


def build_state(spec: dict[str, Any], keys: KeyStore, clock: Clock) -> GitLabState:
    return Builder(spec, keys, clock).build()


TOKEN_SCOPES = {"api", "read_api", "read_user", "read_repository", "write_repository", "read_registry",
                "write_registry", "sudo", "admin_mode", "create_runner", "k8s_proxy", "ai_features"}


def _scopes(u: dict[str, Any], name: str) -> tuple[str, ...]:
    scopes = u.get("scopes", ["api"])
    if not isinstance(scopes, list) or not scopes or any(s not in TOKEN_SCOPES for s in scopes):
        raise OrgFileError(f"gitlab.users: {name}: scopes must be a non-empty list of {sorted(TOKEN_SCOPES)}")
    return tuple(str(s) for s in scopes)


def _at_least(version: str, major: int, minor: int) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False
