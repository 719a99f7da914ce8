"""The whole GitLab instance in memory, with the indexes the routes need, and who may do what.

Lookups are by id or lower-cased full path (dicts), so a 10,000-project org answers a page of
`/groups/:id/projects` without scanning every project; listings a user may see are cached per
(user, group, options) and the cache is dropped whenever `generation` moves (any change to
projects, groups or memberships).

Permissions follow GitLab's role model (doc/user/permissions.md): the effective level on a
project is the highest of the user's project membership and the memberships of every ancestor
group (admins count as above owner). Two sandbox-only knobs make unreadable projects:
`no_access` (the project is invisible to that user, exactly like a private project they are not
a member of: 404 on get, absent from listings) and `max_role` (caps that user's level on the
project, even an admin's, standing in for a token that GitLab would give only that role there:
the project is listed and readable, its variables or files answer 403).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.sandbox.gitlab.model import ADMIN_LEVEL, Group, Project, User, Variable

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


@dataclass
class Counters:
    group: int = 100
    project: int = 1000
    user: int = 1
    mr: int = 1
    note: int = 1
    pipeline: int = 1
    job: int = 1
    used_groups: set[int] = field(default_factory=set)
    used_projects: set[int] = field(default_factory=set)

    def next_group(self) -> int:
        while self.group in self.used_groups:
            self.group += 1
        self.used_groups.add(self.group)
        return self.group

    def next_project(self) -> int:
        while self.project in self.used_projects:
            self.project += 1
        self.used_projects.add(self.project)
        return self.project

    def take(self, kind: str) -> int:
        value: int = getattr(self, kind)
        setattr(self, kind, value + 1)
        return value


class GitLabState:
    def __init__(self, version: str = "17.5.0", revision: str = "sandbox") -> None:
        self.version = version
        self.revision = revision
        self.users: dict[str, User] = {}
        self.tokens: dict[str, User] = {}
        self.groups: dict[int, Group] = {}
        self.groups_by_path: dict[str, Group] = {}
        self.projects: dict[int, Project] = {}
        self.projects_by_path: dict[str, Project] = {}
        self.instance_variables: list[Variable] = []
        self.ci_templates: dict[str, str] = {}  # GitLab's own CI templates: key (no suffix) -> content
        self.ids = Counters()
        self.generation = 0
        self._listing_cache: dict[tuple[Any, ...], list[int]] = {}
        self._cache_generation = -1

    # --- registration ----------------------------------------------------------------------
    def add_user(self, user: User) -> None:
        self.users[user.username] = user
        self.tokens[user.token] = user
        self.touch()

    def add_group(self, group: Group) -> None:
        self.groups[group.id] = group
        self.groups_by_path[group.full_path.lower()] = group
        if group.parent_id is not None:
            self.groups[group.parent_id].subgroup_ids.append(group.id)
        self.touch()

    def add_project(self, project: Project) -> None:
        self.projects[project.id] = project
        self.projects_by_path[project.path_with_namespace.lower()] = project
        self.groups[project.namespace_id].project_ids.append(project.id)
        self.touch()

    def touch(self) -> None:
        """Something that listings depend on changed."""
        self.generation += 1

    # --- lookups -----------------------------------------------------------------------------
    def find_project(self, ref: str | int) -> Project | None:
        text = str(ref)
        if text.isdigit():
            return self.projects.get(int(text))
        return self.projects_by_path.get(text.lower())

    def find_group(self, ref: str | int) -> Group | None:
        text = str(ref)
        if text.isdigit():
            return self.groups.get(int(text))
        return self.groups_by_path.get(text.lower())

    def ancestors(self, group: Group) -> list[Group]:
        """`group` and its parents, nearest first."""
        chain = [group]
        while chain[-1].parent_id is not None:
            chain.append(self.groups[chain[-1].parent_id])
        return chain

    def descendant_groups(self, group: Group) -> list[Group]:
        out: list[Group] = []
        stack = list(reversed(group.subgroup_ids))
        while stack:
            g = self.groups[stack.pop()]
            out.append(g)
            stack.extend(reversed(g.subgroup_ids))
        return out

    # --- permissions -------------------------------------------------------------------------
    def group_level(self, user: User, group: Group) -> int:
        level = ADMIN_LEVEL if user.admin else 0
        for g in self.ancestors(group):
            level = max(level, g.members.get(user.username, 0))
        return level

    def project_level(self, user: User, project: Project) -> int:
        """The user's effective access level on the project; -1 when it is invisible to them."""
        if user.username in project.no_access:
            return -1
        level = max(self.group_level(user, self.groups[project.namespace_id]),
                    project.members.get(user.username, 0))
        if level == 0 and project.visibility != "private":
            level = REPORTER  # any signed-in user may read an internal/public project's code
        cap = project.max_role.get(user.username)
        if cap is not None:
            level = min(level, cap)
        return level if level > 0 else -1

    def can_see_group(self, user: User, group: Group) -> bool:
        if user.admin or group.visibility != "private" or self.group_level(user, group) > 0:
            return True
        # Members of a subgroup or project can see the ancestors on the way to it.
        for g in [group, *self.descendant_groups(group)]:
            if any(m == user.username for m in g.members):
                return True
            for pid in g.project_ids:
                if self.project_level(user, self.projects[pid]) > 0:
                    return True
        return False

    def visible_projects(self, user: User, group: Group | None, include_subgroups: bool) -> list[int]:
        """Ids (ascending) of the projects `user` can see in a group, or the whole instance."""
        if self._cache_generation != self.generation:
            self._listing_cache.clear()
            self._cache_generation = self.generation
        cache_key = (user.username, group.id if group else None, include_subgroups)
        cached = self._listing_cache.get(cache_key)
        if cached is not None:
            return cached
        if group is None:
            candidates = list(self.projects)
        else:
            groups = [group, *self.descendant_groups(group)] if include_subgroups else [group]
            candidates = [pid for g in groups for pid in g.project_ids]
        ids = sorted(pid for pid in candidates if self.project_level(user, self.projects[pid]) > 0)
        self._listing_cache[cache_key] = ids
        return ids
