"""`scan`: an org-wide inventory of where service-account keys are stored and used.

    walk scope ──► per project (worker threads): variables, CI file + includes ──► merge
         │                                                                          │
         └► groups (+ ancestors above the scope): group variables; instance variables
                                                                                    ▼
                        suspect hidden variables ─► link usages to variables ─► Google facts

The core takes its backends as arguments (`GitLabSource`, `KeyFactsSource`, `Progress`); the real
ones live in migrate/gitlab/read.py and migrate/google/key_facts.py. Projects are streamed from the scope
listings into a bounded number of in-flight tasks, so memory holds the inventory being built and
a window of work, not the organisation. Per-project failures are data: an ERROR row (status
"error" with the reason) or a `Problem`, never a crash and never a silent skip.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from migrate.core.codec import EPOCH
from migrate.core.config import ScopeConfig
from migrate.core.model import (
    AuthMode,
    CIFileRef,
    CIFinding,
    FileBlob,
    GroupRecord,
    Inventory,
    KeyFacts,
    KeyUsage,
    KeyVariable,
    Problem,
    ProjectRecord,
    ScheduleKey,
    ScheduleOverride,
    UsageRun,
    VariableLevel,
)
from migrate.core.outcome import Status
from migrate.core.progress import Progress, SilentProgress
from migrate.scan.ci_files import Analyzer, FileKey, FileScan, SharedFiles, config_location, pipeline_files
from migrate.scan.link import OwnerKey, VarEntry, job_table, link, suspect_hidden, usage_runs
from migrate.scan.outside_readers import Coverage, find_outside_readers
from migrate.scan.ports import (
    GitLabSource,
    GroupInfo,
    KeyFactsSource,
    ProjectInfo,
    ReadError,
    ScheduleInfo,
    TextSink,
    VariableInfo,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanOptions:
    gitlab_url: str
    scope: ScopeConfig
    concurrency: int = 8
    gitlab_version: str | None = None  # None: ask the instance
    generated_at: datetime = EPOCH  # the inventory's time (`wif-migrate scan` passes now)
    window: int = 0  # max in-flight project tasks; 0 → 4 × concurrency


def scan(options: ScanOptions, gitlab: GitLabSource, google: KeyFactsSource | None,
         progress: Progress | None = None, analyze: Analyzer | None = None, texts: TextSink | None = None) -> Inventory:
    """Scan the configured scope; `google=None` leaves key facts unknown (with that reason).
    `texts`: where to keep the CI texts read (for `plan`; the inventory then lists their ids)."""
    if analyze is None:
        import migrate.ci

        analyze = migrate.ci.analyze  # type: ignore[attr-defined,unused-ignore]
    return _Scan(options, gitlab, google, progress or SilentProgress(), analyze, texts).run()


# --- per-task results (built in worker threads, merged in the main thread) --------------------

@dataclass
class _VarsResult:
    level: VariableLevel
    owner: str
    owner_id: int | None
    variables: list[VariableInfo] = field(default_factory=list)
    error: ReadError | None = None


@dataclass
class _ProjectResult:
    record: ProjectRecord
    variables: _VarsResult | None = None
    files: list[tuple[FileScan, bool]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    schedules: list[ScheduleInfo] | None = None  # None: not readable (a Problem says why)


class _Scan:
    def __init__(self, options: ScanOptions, gitlab: GitLabSource, google: KeyFactsSource | None,
                 progress: Progress, analyze: Analyzer, texts: TextSink | None = None) -> None:
        self.o = options
        self.gitlab = gitlab
        self.google = google
        self.progress = progress
        self.analyze = analyze
        self.groups: dict[int, GroupInfo] = {}
        self.unknown_groups: set[int] = set()
        self.records: dict[str, ProjectRecord] = {}
        self.seen_ids: set[int] = set()
        self.key_vars: list[KeyVariable] = []
        self.hidden: list[KeyVariable] = []
        self.index: dict[OwnerKey, list[VarEntry]] = {}
        self.usages: dict[tuple[FileKey, CIFinding], set[str]] = {}
        self.environments: dict[FileKey, dict[str, str | None]] = {}
        # Jobs of every file a pipeline reads, and which files each project's pipeline reads (in
        # discovery order): the effective jobs of a consumer that extend a template's job.
        self.file_jobs: dict[FileKey, tuple[tuple[str, tuple[str, ...], str | None], ...]] = {}
        self.pipeline_keys: dict[str, list[FileKey]] = {}
        self.schedules: dict[str, list[ScheduleInfo] | None] = {}  # project path → its schedules
        self.plain_vars: list[KeyVariable] = []  # variables holding no key: they may shadow one
        self.key_names: dict[int, frozenset[str]] = {}
        self.problems: list[Problem] = []
        self.pool: ThreadPoolExecutor | None = None
        self.pending: set[Future[Any]] = set()
        self.var_futures: dict[OwnerKey, Future[_VarsResult]] = {}
        self.shared = SharedFiles(gitlab, analyze, self._default_branch_of, texts)
        # files read with ids and kept: (blob id, commit id, sha256) only — the FileScans themselves
        # are dropped once merged (memory stays flat; issue 18)
        self.blobs: dict[FileKey, tuple[str, str, str]] = {}
        self.branches: dict[str, str | None] = {}  # project path → default branch (walk + lookups)
        self.branch_lock = threading.Lock()
        self.hint_lock = threading.Lock()
        self.hint_cache: dict[int, frozenset[str]] = {}
        self.coverage = Coverage()  # what the scope walk listed completely (for readers outside it)

    # --- driver ------------------------------------------------------------------------------
    def run(self) -> Inventory:
        version = self.o.gitlab_version or self._version()
        self.progress.start("Scanning projects", 0)
        window = self.o.window or 4 * self.o.concurrency
        with ThreadPoolExecutor(self.o.concurrency, thread_name_prefix="scan") as pool:
            self.pool = pool
            self.var_futures[("instance", None)] = self._submit(self._variables_task, "instance", "", None)
            for item in self._walk():
                if isinstance(item, ProjectRecord):
                    self._account(item)
                    continue
                self.progress.add_total(1)
                record = self._record(item)
                self._submit(self._project_task, item, record, len(self.var_futures))
                while len(self.pending) >= window:
                    self._drain(FIRST_COMPLETED)
            while self.pending:
                self._drain(FIRST_COMPLETED)
        self.progress.finish()
        self._name_default_refs()
        variables = self._finish_variables()
        self._schedule_findings(variables)
        usages = self._link()
        self._schedules(usages)
        outside, problems = find_outside_readers(
            variables, self.records, {g.id: g.parent_id for g in self.groups.values()}, self.coverage,
            lambda gid: self.gitlab.group_projects(gid, True), lambda: self.gitlab.all_projects(True))
        self.problems.extend(problems)
        others = self._other_variables(variables, usages)
        facts = self._facts(variables)
        return Inventory(
            gitlab_url=self.o.gitlab_url,
            gitlab_version=version,
            generated_at=self.o.generated_at,
            projects=tuple(sorted(self.records.values(), key=lambda r: (r.path, r.id))),
            variables=tuple(sorted(variables, key=lambda v: v.ref)),
            usages=usages,
            key_facts=facts,
            problems=tuple(sorted(set(self.problems), key=lambda p: (p.subject, p.reason))),
            groups=tuple(sorted((GroupRecord(g.id, g.full_path, g.parent_id) for g in self.groups.values()),
                                key=lambda g: g.path)),
            outside_readers=outside,
            other_variables=others,
            file_blobs=self._file_blobs(),
        )

    def _file_blobs(self) -> tuple[FileBlob, ...]:
        """One per file read with ids, its ref named as the inventory names it (the default branch)."""
        out = {(k.project, k.path, k.ref or self._default_branch(k.project)): ids for k, ids in self.blobs.items()}
        return tuple(FileBlob(p, path, ref, *ids) for (p, path, ref), ids in sorted(out.items()))

    def _version(self) -> str:
        try:
            return self.gitlab.version() or "unknown"
        except ReadError as exc:
            self.problems.append(Problem("instance", f"GitLab version unknown: {exc.reason}", "warning"))
            return "unknown"

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        assert self.pool is not None
        future = self.pool.submit(fn, *args)
        self.pending.add(future)
        return future

    def _drain(self, how: str) -> None:
        done, self.pending = wait(self.pending, return_when=how)
        for fut in done:
            result = fut.result()  # task functions never raise ReadError; a bug should surface
            if isinstance(result, _ProjectResult):
                self._merge_project(result)
                self.progress.advance()
            else:
                self._merge_vars(result)

    # --- scope walk (main thread) ------------------------------------------------------------
    def _walk(self) -> Iterator[ProjectInfo | ProjectRecord]:
        scope = self.o.scope
        for info in self._listed():
            if isinstance(info, ProjectRecord):
                yield info
                continue
            if info.id in self.seen_ids:
                continue
            self.seen_ids.add(info.id)
            skip = self._skip_reason(info)
            if skip:
                yield replace(self._record(info), status=Status.SKIPPED, error=skip)
            elif info.archived and not scope.include_archived:
                yield replace(self._record(info), status=Status.SKIPPED, error="archived")
            else:
                yield info

    def _listed(self) -> Iterator[ProjectInfo | ProjectRecord]:
        scope = self.o.scope
        if scope.instance:
            self._guard("groups", self._add_all_groups)
            # Archived projects are listed too (same pages) so they show as skipped rows.
            if (yield from self._guarded("projects", self.gitlab.all_projects(True))):
                self.coverage = replace(self.coverage, instance=True)
        for path in scope.groups:
            try:
                group = self.gitlab.group(path)
            except ReadError as exc:
                self.problems.append(Problem(f"group:{path}", f"group not readable: {exc.reason}; its projects "
                                             "were not scanned", "error"))
                continue
            self._add_group(group)
            self._ensure_chain(group.parent_id)
            self._guard(f"group:{path}", functools.partial(self._add_descendants, group.id))
            if (yield from self._guarded(f"group:{path}", self.gitlab.group_projects(group.id, True))):
                self.coverage = replace(self.coverage, groups=self.coverage.groups | {group.id})
        for path in scope.projects:
            try:
                yield self.gitlab.project(path)
            except ReadError as exc:
                yield ProjectRecord(id=0, path=path, namespace_id=0, namespace_path=path.rpartition("/")[0],
                                    status=Status.ERROR, error=f"project not readable: {exc.reason}")

    def _add_all_groups(self) -> None:
        for g in self.gitlab.all_groups():
            self._add_group(g)

    def _add_descendants(self, group_id: int) -> None:
        for g in self.gitlab.descendant_groups(group_id):
            self._add_group(g)

    def _guard(self, subject: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except ReadError as exc:
            self.problems.append(Problem(subject, f"listing failed: {exc.reason}; scope may be incomplete"))

    def _guarded(self, subject: str, rows: Iterator[ProjectInfo]) -> Generator[ProjectInfo, None, bool]:
        """Yield the listing's rows; return True when it completed (every project was seen)."""
        try:
            yield from rows
        except ReadError as exc:
            self.problems.append(Problem(subject, f"project listing failed part-way: {exc.reason}; "
                                         "projects after that point were not scanned"))
            return False
        return True

    def _skip_reason(self, info: ProjectInfo) -> str | None:
        scope = self.o.scope
        if scope.include and not any(fnmatch.fnmatchcase(info.path, pat) for pat in scope.include):
            return "not matched by scope.include"
        for pat in scope.exclude:
            if fnmatch.fnmatchcase(info.path, pat):
                return f"excluded by scope.exclude {pat!r}"
        return None

    def _add_group(self, group: GroupInfo) -> None:
        if group.id in self.groups:
            return
        self.groups[group.id] = group
        self.var_futures[("group", group.id)] = self._submit(self._variables_task, "group", group.full_path,
                                                             group.id)

    def _ensure_chain(self, group_id: int | None) -> None:
        """Make sure a namespace and its ancestors are known (one GET each, only when missing)."""
        while group_id is not None and group_id not in self.groups and group_id not in self.unknown_groups:
            try:
                group = self.gitlab.group(group_id)
            except ReadError as exc:
                self.unknown_groups.add(group_id)
                self.problems.append(Problem(f"group:{group_id}", f"ancestor group not readable: {exc.reason}; "
                                             "variables inherited from it are unknown", "warning"))
                return
            self._add_group(group)
            group_id = group.parent_id

    def _ancestors(self, info: ProjectInfo) -> tuple[int, ...]:
        if info.namespace_kind != "group":
            return (info.namespace_id,) if info.namespace_id else ()
        self._ensure_chain(info.namespace_id)
        chain: list[int] = []
        gid: int | None = info.namespace_id
        while gid is not None and gid not in chain:
            chain.append(gid)
            group = self.groups.get(gid)
            gid = group.parent_id if group else None
        return tuple(reversed(chain))

    def _default_branch_of(self, project: str) -> str | None:
        """A project's default branch: from the listing when seen, else one GET (memoised)."""
        with self.branch_lock:
            if project in self.branches:
                return self.branches[project]
        try:
            branch = self.gitlab.project(project).default_branch
        except ReadError:
            branch = None  # the fetch itself will report why the file cannot be read
        with self.branch_lock:
            return self.branches.setdefault(project, branch)

    def _record(self, info: ProjectInfo) -> ProjectRecord:
        with self.branch_lock:
            self.branches.setdefault(info.path, info.default_branch)
        return ProjectRecord(id=info.id, path=info.path, namespace_id=info.namespace_id,
                             namespace_path=info.namespace_path, ancestor_ids=self._ancestors(info),
                             default_branch=info.default_branch,
                             ci_config_path=info.ci_config_path or ".gitlab-ci.yml", archived=info.archived)

    def _account(self, record: ProjectRecord) -> None:
        self.records[record.path] = record

    # --- worker tasks (no shared mutable state except the SharedFiles memo) ------------------
    def _variables_task(self, level: VariableLevel, owner: str, owner_id: int | None) -> _VarsResult:
        try:
            return _VarsResult(level, owner, owner_id, self.gitlab.variables(level, owner, owner_id))
        except ReadError as exc:
            return _VarsResult(level, owner, owner_id, error=exc)

    def _inherited(self, owners: list[OwnerKey]) -> list[_VarsResult]:
        """Variable results of groups/instance (submitted before any project that needs them)."""
        futures = [self.var_futures.get(o) for o in owners]
        return [f.result() for f in futures if f is not None]

    def _shared_hints(self, upto: int) -> frozenset[str]:
        """Key variable names of the first `upto` groups/instance: hints for shared templates.

        Only owners submitted before the asking project task are waited for (they are ahead of it
        in the pool's FIFO queue, so waiting cannot deadlock); memoised per `upto`.
        """
        with self.hint_lock:
            cached = self.hint_cache.get(upto)
            if cached is None:
                futures = list(self.var_futures.values())[:upto]
                cached = _key_names([f.result() for f in futures])
                self.hint_cache = {upto: cached}
            return cached

    def _project_task(self, info: ProjectInfo, record: ProjectRecord, owners_known: int) -> _ProjectResult:
        own = self._variables_task("project", info.path, info.id)
        owners: list[OwnerKey] = [("group", g) for g in record.ancestor_ids] + [("instance", None)]
        hints = _key_names([own, *self._inherited(owners)])
        result = _ProjectResult(record, own)
        try:
            result.schedules = self.gitlab.pipeline_schedules(info.path, info.id)
        except ReadError as exc:
            result.problems.append(Problem(
                f"project:{info.path}", f"pipeline schedules not readable: {exc.reason} (needs the Maintainer "
                "role); a schedule variable may override a key variable or hold a key, so this project's "
                "files go to manual review"))
        if info.empty_repo or not info.default_branch:
            return result  # nothing to read: no repository content yet
        location = config_location(info.ci_config_path, info.path, info.default_branch)
        if isinstance(location, str):
            result.problems.append(Problem(f"project:{info.path}", location, "manual"))
            return result
        walked = pipeline_files(info.path, location, self.gitlab, self.analyze, self.shared, hints,
                                lambda: self._shared_hints(owners_known))
        result.files = walked.files
        result.problems.extend(walked.problems)
        return result

    # --- merging (main thread) ---------------------------------------------------------------
    def _merge_vars(self, res: _VarsResult) -> None:
        if res.error is not None:
            subject = f"{res.level}:{res.owner}" if res.owner else res.level
            if res.level == "instance":
                reason = (f"instance variables not readable: {res.error.reason} (needs an administrator token; "
                          "instance-level keys were not inventoried)")
                self.problems.append(Problem("instance", reason, "warning"))
            else:
                role = "Owner" if res.level == "group" else "Maintainer"
                need = "" if "insufficient_scope" in res.error.reason else f" (needs the {role} role)"
                self.problems.append(Problem(subject, f"variables not readable: {res.error.reason}{need}; "
                                             "keys stored there are unknown"))
            return
        entries = self.index.setdefault((res.level, res.owner_id), [])
        for v in res.variables:
            kv = KeyVariable(level=v.level, owner=v.owner, owner_id=v.owner_id, name=v.name,
                             variable_type=v.variable_type, protected=v.protected, masked=v.masked,
                             hidden=v.hidden, environment_scope=v.environment_scope,
                             encoding=v.encoding if v.key else "unknown", key=v.key)
            if v.key_problem:
                # A key file whose identity is malformed: an ERROR row for this variable only.
                self.problems.append(Problem(f"variable:{kv.ref}", f"{v.key_problem}; the variable "
                                             "is not migrated (fix or remove the key file)"))
            elif v.key is not None:
                self.key_vars.append(kv)
            elif not v.readable:
                self.hidden.append(kv)
            entries.append(VarEntry(v.name, v.environment_scope, kv.ref if v.key else None, v.protected))

    def _merge_project(self, res: _ProjectResult) -> None:
        record = res.record
        if res.variables is not None:
            self._merge_vars(res.variables)
        self.schedules[record.path] = res.schedules
        self.problems.extend(res.problems)
        status, error = record.status, record.error
        files: list[CIFileRef] = []
        names: set[str] = set()
        any_findings = federated = False
        for index, (fs, shared) in enumerate(res.files):
            if fs.error is not None:
                if index == 0 and fs.status == 404 and record.ci_config_path == ".gitlab-ci.yml":
                    continue  # no CI configuration: a project without pipelines, not an error
                if index == 0 and fs.status in (401, 403):
                    reason = f"repository not readable with this token: {fs.error}"
                elif index == 0:
                    reason = f"CI configuration {fs.key.label()}: {fs.error}"
                else:  # an included file may be shared by many projects: also a Problem of its own
                    reason = f"included file {fs.key.label()}: {fs.error}"
                    self.problems.append(Problem(f"file:{fs.key.label()}", fs.error))
                if status != Status.ERROR:
                    status, error = Status.ERROR, reason
                continue
            files.append(CIFileRef(fs.key.project, fs.key.path, fs.key.ref or "",
                                   included_by=record.path if shared else None,
                                   includes=tuple((k.project, k.path, k.ref or "") for k in fs.includes)))
            self.file_jobs.setdefault(fs.key, fs.jobs)
            if fs.sha256:
                self.blobs.setdefault(fs.key, (fs.blob_id, fs.commit_id, fs.sha256))
            self.pipeline_keys.setdefault(record.path, []).append(fs.key)
            self.problems.extend(fs.problems)
            names |= fs.key_variables
            federated = federated or fs.federated
            for finding in fs.findings:
                any_findings = True
                if finding.variable:
                    names.add(finding.variable)
                self.usages.setdefault((fs.key, finding), set()).add(record.path)
                if fs.key not in self.environments:
                    self.environments[fs.key] = dict(fs.environments)
        if names:
            self.key_names[record.id] = frozenset(names)
        auth: AuthMode = "key" if any_findings else "federated" if federated else "none"
        self.records[record.path] = replace(record, status=status, error=error, auth=auth, ci_files=tuple(files))
        log.debug("scanned %s: %s, %d CI files", record.path, status, len(files))

    # --- after the walk ----------------------------------------------------------------------
    def _finish_variables(self) -> list[KeyVariable]:
        suspected = suspect_hidden(self.hidden, self.records.values(), self.key_names)
        for var in suspected:
            entries = self.index.get((var.level, var.owner_id), [])
            for i, e in enumerate(entries):
                if e.name == var.name and e.scope == var.environment_scope:
                    entries[i] = replace(e, key_ref=var.ref)
        return self.key_vars + suspected

    def _schedule_findings(self, variables: list[KeyVariable]) -> None:
        """Pipeline schedule variables, by the resolver's precedence (migrate/ci/variables.py: a
        schedule's variables outrank instance, group and project ones — doc/ci/variables/_index.md):
        one named like a key variable the project's jobs use overrides it for the scheduled pipelines
        (unless it holds the same key), so the project's files go to manual review; one holding a key
        file is a finding of its own (location "pipeline schedule", a MANUAL row)."""
        for path, schedules in self.schedules.items():
            record = self.records.get(path)
            if record is None:
                continue
            used = self.key_names.get(record.id, frozenset())
            overrides: list[ScheduleOverride] = []
            held: list[ScheduleKey] = []
            if schedules is None:
                if used:
                    overrides.append(ScheduleOverride("*", "pipeline schedules not readable: a schedule may "
                                                      "override " + ", ".join(sorted(used))))
                self.records[path] = replace(record, schedule_overrides=tuple(overrides))
                continue
            reach = {("project", record.id), ("instance", None), *(("group", g) for g in record.ancestor_ids)}
            for sched in schedules:
                ref = sched.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
                where = f"pipeline schedule '{sched.description}' on {ref}"
                for var in sched.variables:
                    subject = f"variable:schedule:{path}#{sched.id}:{var.name}"
                    if var.key_problem:
                        self.problems.append(Problem(subject, f"{var.key_problem} (location: {where})"))
                    elif var.key is not None:
                        self.problems.append(Problem(subject, (
                            f"key variable {var.name} in {where} (location: pipeline schedule) holds key "
                            f"{var.key.key_id} of {var.key.service_account}; not migrated automatically: "
                            "move the schedule off the key (or delete the variable) before retiring it"),
                            "manual"))
                        held.append(ScheduleKey(subject, var.key))
                    if var.name not in used:
                        continue
                    same = {v.key for v in variables if v.name == var.name and v.key is not None
                            and (v.level, v.owner_id) in reach}
                    if var.key is not None and same == {var.key}:
                        continue  # the scheduled pipelines receive the same key
                    overrides.append(ScheduleOverride(var.name, f"{where} overrides {var.name}"))
            self.records[path] = replace(record, schedule_overrides=tuple(overrides), schedule_keys=tuple(held))

    def _link(self) -> tuple[KeyUsage, ...]:
        out = []
        tables: dict[str, dict[str, tuple[tuple[str, ...], str | None]]] = {}
        for (key, finding), consumers in self.usages.items():
            envs = self.environments.get(key, {})
            refs: set[str] = set()
            runs: list[UsageRun] = []
            subject = f"file:{key.label()}:{finding.line}"
            for path in sorted(consumers):
                record = self.records.get(path)
                if record is None:
                    continue
                linked, problems = link(finding, envs, record, self.index, subject)
                refs.update(linked)
                self.problems.extend(problems)
                if path not in tables:
                    tables[path] = job_table(self.file_jobs.get(k, ()) for k in self.pipeline_keys.get(path, ()))
                runs.extend(usage_runs(path, finding.jobs, tables[path]))
            ref = key.ref or self._default_branch(key.project)
            out.append(KeyUsage(file_project=key.project, file_path=key.path, ref=ref, finding=finding,
                                consumers=tuple(sorted(consumers)), variables=tuple(sorted(refs)),
                                runs=tuple(runs)))
        return tuple(sorted(out, key=lambda u: (u.file_project, u.file_path, u.finding.line, u.finding.kind)))

    def _schedules(self, usages: tuple[KeyUsage, ...]) -> None:
        """Per project whose pipeline used a key: its active pipeline schedules' longest cron
        interval (a monthly scheduled job looks unused for a month; issue 16 §5). An unreadable
        schedule list or an unparsable cron is an ERROR row, never a silent zero."""
        from migrate.core.cron import max_interval

        users = sorted({c for u in usages if u.variables for c in u.consumers if c in self.records})
        for path in users:
            subject = f"project:{path}"
            try:
                rows = self.gitlab.schedules(path)
            except ReadError as exc:
                self.problems.append(Problem(subject, f"cannot read its pipeline schedules (the key's no-use "
                                                      f"window cannot be known): {exc}"))
                continue
            best, why, bad = 0, "", None
            for row in rows:
                try:
                    gap = int(max_interval(str(row.get("cron") or "")).total_seconds())
                except ValueError as exc:
                    bad = f"pipeline schedule {row.get('id')}: {exc}"
                    break
                if gap > best:
                    best = gap
                    why = (f"schedule {row.get('description') or row.get('id')!r} in {path} "
                           f"(cron {row.get('cron')!r}) runs as rarely as every {_interval_words(gap)}")
            if bad:
                self.problems.append(Problem(subject, f"{bad} (the key's no-use window cannot be known)"))
                continue
            self.records[path] = replace(self.records[path], schedule_interval_s=best, schedule_reason=why)

    def _other_variables(self, variables: list[KeyVariable], usages: tuple[KeyUsage, ...]
                         ) -> tuple[KeyVariable, ...]:
        """Variables without a key named like a variable CI uses as a key (they may shadow it)."""
        names = {u.finding.variable for u in usages if u.finding.variable} | {v.name for v in variables}
        keyed = {v.ref for v in variables}
        return tuple(sorted((v for v in self.plain_vars + self.hidden if v.name in names and v.ref not in keyed),
                            key=lambda v: v.ref))

    def _name_default_refs(self) -> None:
        """Files read at "the default branch" of an in-scope project get that branch's name."""
        for path, record in self.records.items():
            if any(not f.ref or any(not ref for _, _, ref in f.includes) for f in record.ci_files):
                files = tuple(replace(f, ref=f.ref or self._default_branch(f.project),
                                      includes=tuple((p, name, ref or self._default_branch(p))
                                                     for p, name, ref in f.includes))
                              for f in record.ci_files)
                self.records[path] = replace(record, ci_files=files)

    def _default_branch(self, project: str) -> str:
        record = self.records.get(project)
        return (record.default_branch or "") if record else ""

    def _facts(self, variables: list[KeyVariable]) -> tuple[KeyFacts, ...]:
        keys = sorted({v.key for v in variables if v.key is not None},
                      key=lambda k: (k.service_account, k.key_id))
        if not keys:
            return ()
        if self.google is None:
            return tuple(KeyFacts(key=k, last_auth_unknown_reason="Google was not queried (--no-google)",
                                  unknown_reason="Google was not queried (--no-google)") for k in keys)
        google = self.google
        self.progress.start("Reading key facts from Google", len(keys))
        with ThreadPoolExecutor(self.o.concurrency, thread_name_prefix="facts") as pool:
            facts = []
            for fact in pool.map(google.facts, keys):
                facts.append(fact)
                self.progress.advance()
        self.progress.finish()
        return tuple(facts)


def _interval_words(seconds: int) -> str:
    days = seconds / 86400
    return f"{days:.0f} day(s)" if days >= 1 else f"{seconds / 3600:.1f} hour(s)"


def _key_names(results: list[_VarsResult]) -> frozenset[str]:
    return frozenset(v.name for r in results for v in r.variables if v.key is not None)
