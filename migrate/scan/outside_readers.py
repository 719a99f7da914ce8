"""Readers outside the scope: projects that can read an inventoried key variable but whose CI the
scan did not check.

GitLab hands a group's CI/CD variables to every project of that group *and of its subgroups*, and an
instance variable to every project on the instance (gitlabhq doc/ci/variables/_index.md at
017a6c12, "For a group": "You can make a CI/CD variable available to all projects in a group …
Variables from subgroups are recursively inherited"; "For an instance": "available to all projects
and groups in a GitLab instance"). Projects *shared with* a group do not inherit its variables
(inheritance follows the namespace tree; the listing uses `with_shared=false`), and pipelines of
forks do not get the parent's variables ("pipelines from forked projects can't access the CI/CD
variables available to the parent project", same page) — neither is a reader.

So a key in a group or instance variable reaches projects the configured scope leaves out: not
under `scope.groups`/`scope.projects` (an ancestor group above the scope), dropped by
`scope.include`/`scope.exclude`, archived and skipped — and in-scope projects the scan could not
read (ERROR rows). Nothing checked their jobs, so nothing proves they no longer use the key;
`keys retire` refuses such a key unless the operator accepts it explicitly (see docs/keys.md).

Archived projects are listed too. While archived they cannot run pipelines (gitlabhq
app/models/concerns/readonly_abilities.rb: `pipeline`, `build`, `trigger`, `pipeline_schedule` are
read-only features of an archived project), but unarchiving restores that, with the variable.

Where the scope walk already listed a group's whole subtree (the group is at or below a scope group
whose listing completed), its records are the readers; otherwise the group's projects (subgroups
included) or, for an instance variable, every project the token can see, are listed once each.
A listing that fails is a reader entry with project '' ("readers unknown"), which blocks the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from migrate.core.model import KeyVariable, OutsideReader, Problem, ProjectRecord
from migrate.core.outcome import Status
from migrate.scan.ports import ProjectInfo, ReadError

SHOWN = 8  # readers named in a Problem's reason; the inventory lists all of them


@dataclass(frozen=True)
class Coverage:
    """What the scope walk listed completely: group ids whose whole subtree is in the records, and
    whether every project of the instance is (`scope.instance` with a listing that completed)."""

    groups: frozenset[int] = frozenset()
    instance: bool = False


Lister = Callable[[], Iterator[ProjectInfo]]


def find_outside_readers(variables: Iterable[KeyVariable], records: Mapping[str, ProjectRecord],
                         parents: Mapping[int, int | None], coverage: Coverage,
                         list_group: Callable[[int], Iterator[ProjectInfo]],
                         list_all: Lister) -> tuple[tuple[OutsideReader, ...], tuple[Problem, ...]]:
    """Every (variable, project) where the project can read the variable and was not scanned.

    `parents` maps group id → parent id (for the coverage check); `list_group(id)` lists a group's
    projects with subgroups, `list_all()` every project (both may raise ReadError).
    """
    listed: dict[int | None, list[ProjectInfo] | str] = {}
    readers: list[OutsideReader] = []
    for var in sorted(variables, key=lambda v: v.ref):
        if var.level == "project":
            continue  # only the project itself (and MR pipelines it runs) get a project variable
        gid = var.owner_id if var.level == "group" else None
        if var.level == "group" and gid is None:
            continue
        if _covered(gid, parents, coverage):
            candidates: list[ProjectRecord | ProjectInfo] = [r for r in records.values() if _under(r, var)]
        else:
            if gid not in listed:
                listed[gid] = _list(list_group, list_all, gid)
            rows = listed[gid]
            if isinstance(rows, str):
                readers.append(OutsideReader(var.ref, "", None, rows))
                continue
            candidates = list(rows)
        for item in candidates:
            reader = _reader(var, item, records)
            if reader is not None:
                readers.append(reader)
    unique = sorted(set(readers), key=lambda r: (r.variable, r.project, r.reason))
    return tuple(unique), tuple(_problems(unique))


def _covered(gid: int | None, parents: Mapping[int, int | None], coverage: Coverage) -> bool:
    if coverage.instance:
        return True
    seen: set[int] = set()
    while gid is not None and gid not in seen:
        if gid in coverage.groups:
            return True
        seen.add(gid)
        gid = parents.get(gid)
    return False


def _under(record: ProjectRecord, var: KeyVariable) -> bool:
    if var.level == "instance":
        return True
    return (var.owner_id is not None and var.owner_id in record.ancestor_ids) or \
        record.path.startswith(var.owner + "/")


def _list(list_group: Callable[[int], Iterator[ProjectInfo]], list_all: Lister,
          gid: int | None) -> list[ProjectInfo] | str:
    try:
        return list(list_group(gid) if gid is not None else list_all())
    except ReadError as exc:
        what = f"the projects of group {gid}" if gid is not None else "the instance's projects"
        return f"{what} could not be listed ({exc.reason}): every project that inherits it is an unknown reader"


def _reader(var: KeyVariable, item: ProjectRecord | ProjectInfo,
            records: Mapping[str, ProjectRecord]) -> OutsideReader | None:
    record = item if isinstance(item, ProjectRecord) else records.get(item.path)
    if record is not None:
        if record.status == Status.SCANNED:
            return None
        if record.status == Status.ERROR:
            why = f"in scope but not scanned: {record.error or 'could not be read'}"
        else:
            why = f"outside the configured scope: {record.error or 'skipped'}"
        return OutsideReader(var.ref, record.path, record.id or None, why, record.archived)
    assert isinstance(item, ProjectInfo)
    where = "every project on the instance" if var.level == "instance" else f"every project under {var.owner}"
    why = f"outside the configured scope: not under scope.groups or scope.projects ({var.level} variable: {where})"
    if item.archived:
        why += "; archived"
    return OutsideReader(var.ref, item.path, item.id, why, item.archived)


def _problems(readers: list[OutsideReader]) -> Iterator[Problem]:
    by_var: dict[str, list[OutsideReader]] = {}
    for r in readers:
        by_var.setdefault(r.variable, []).append(r)
    for ref, rs in by_var.items():
        named = [f"{r.project} ({r.reason.partition(': ')[2] or r.reason})" if r.project else r.reason
                 for r in rs[:SHOWN]]
        more = f" and {len(rs) - SHOWN} more" if len(rs) > SHOWN else ""
        yield Problem(f"variable:{ref}", f"readable by {len(rs)} project(s) whose CI the scan did not check "
                      f"(outside the scope, or unreadable): {'; '.join(named)}{more}. `keys retire` refuses its key until they are scanned "
                      "and migrated, or the operator accepts them (--accept-outside-readers KEY_ID)", "warning")
