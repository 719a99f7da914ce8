"""Which CI files a project's pipeline reads, read once each, analysed by `migrate.ci.analyze`.

A project's pipeline starts at its `ci_config_path` (default `.gitlab-ci.yml`; `file@group/project`
or `file@group/project:ref` puts it in another project) and pulls in `include:` entries: `local`
files of the same project and ref (nested locals resolve against the project holding the including
file), `project` files of other projects at a ref (default: that project's default branch).
`remote`, `template` and `component` includes are not fetched; they are reported, never skipped
silently.

`FileScan` is what one file says, independent of which project includes it, so a shared template
is fetched and analysed ONCE per (project, file, ref) however many projects include it
(`SharedFiles` is a single-flight memo: concurrent workers asking for the same template wait for
the first fetch). A project's own files are not memoised, so memory grows with the number of
shared templates, not with the organisation. File text is analysed and dropped.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrate.gitlab.types import ReadError
from migrate.model import CIFinding, Problem

log = logging.getLogger(__name__)

DEFAULT_CI_PATH = ".gitlab-ci.yml"
MAX_INCLUDES = 150  # GitLab's default limit per pipeline, nested and duplicates counted


@dataclass(frozen=True, order=True)
class FileKey:
    """A file at a ref; `ref=None` is the project's default branch (HEAD)."""

    project: str
    path: str
    ref: str | None = None

    def label(self) -> str:
        return f"{self.project}:{self.path}@{self.ref or 'HEAD'}"


@dataclass(frozen=True)
class FileScan:
    """What one CI file says (or why it could not be read)."""

    key: FileKey
    findings: tuple[CIFinding, ...] = ()
    federated: bool = False
    includes: tuple[FileKey, ...] = ()
    key_variables: frozenset[str] = frozenset()
    environments: tuple[tuple[str, str | None], ...] = ()  # (job, environment name) pairs
    problems: tuple[Problem, ...] = ()
    error: str | None = None  # unreadable: "404 Not Found", "403 Forbidden", "unreadable YAML: …"
    status: int | None = None


class FileSource(Protocol):
    def file_text(self, project: str | int, path: str, ref: str | None) -> str: ...


Analyzer = Callable[[str, str], Any]


def config_location(ci_config_path: str | None, project: str, default_branch: str | None
                    ) -> FileKey | str:
    """Where a project's pipeline config lives, or the reason it cannot be read (remote URL)."""
    value = (ci_config_path or "").strip()
    if not value:
        return FileKey(project, DEFAULT_CI_PATH, default_branch)
    if re.match(r"^https?://", value):
        return f"CI configuration is a remote URL ({value}); not scanned"
    if "@" in value:
        path, _, other = value.rpartition("@")
        ref: str | None = None
        if ":" in other:
            other, _, ref = other.partition(":")
        return FileKey(other.strip("/"), path.lstrip("/"), ref or None)
    return FileKey(project, value.lstrip("/"), default_branch)


def scan_file(key: FileKey, source: FileSource, analyze: Analyzer) -> FileScan:
    """Fetch one file and analyse it; read failures become `FileScan.error`."""
    try:
        text = source.file_text(key.project, key.path, key.ref)
    except ReadError as exc:
        return FileScan(key, error=exc.reason, status=exc.status)
    try:
        analysis = analyze(text, key.path)
    except Exception as exc:  # noqa: BLE001 - a detector bug must not lose the project
        log.debug("analyze failed for %s", key.label(), exc_info=True)
        return FileScan(key, error=f"CI file could not be analysed ({type(exc).__name__})")
    return from_analysis(key, analysis)


def from_analysis(key: FileKey, analysis: Any) -> FileScan:
    """Normalise a `migrate.ci.Analysis` into a FileScan, resolving includes against `key`."""
    subject = f"file:{key.label()}"
    problems: list[Problem] = []
    error: str | None = None
    for p in getattr(analysis, "problems", ()) or ():
        text = _problem_text(p)
        if _is_parse_error(p):
            error = error or f"unreadable YAML: {text}"
        else:
            problems.append(Problem(subject, text, _severity(p)))
    includes: list[FileKey] = []
    for inc in getattr(analysis, "includes", ()) or ():
        resolved = resolve_include(key, inc)
        if isinstance(resolved, FileKey):
            includes.append(resolved)
        else:
            problems.append(Problem(subject, resolved, "warning"))
    federated = getattr(analysis, "federated", False)
    return FileScan(
        key=key,
        findings=tuple(getattr(analysis, "findings", ()) or ()),
        federated=bool(federated),
        includes=tuple(includes),
        key_variables=frozenset(getattr(analysis, "key_variables", ()) or ()),
        environments=_environments(analysis),
        problems=tuple(problems),
        error=error,
    )


def resolve_include(parent: FileKey, inc: Any) -> FileKey | str:
    """An include entry → the file it names, or why it is not fetched."""
    kind = str(getattr(inc, "kind", "") or "")
    file = str(getattr(inc, "file", "") or getattr(inc, "location", "") or "")
    if kind == "local":
        if "*" in file:
            return f"local include with a wildcard ({file}) not expanded; files it matches were not scanned"
        if "$" in file:
            return f"local include with a variable ({file}) not resolved; not scanned"
        return FileKey(parent.project, file.lstrip("/"), parent.ref)
    if kind == "project":
        project = str(getattr(inc, "project", "") or "").strip("/")
        ref = getattr(inc, "ref", None) or None
        if not project or "$" in project or "$" in file or (ref and "$" in str(ref)):
            return f"project include {project}:{file} uses variables; not resolved, not scanned"
        return FileKey(project, file.lstrip("/"), str(ref) if ref else None)
    what = {"remote": "remote include", "template": "GitLab template include",
            "component": "CI/CD component include"}.get(kind, f"{kind or 'unknown'} include")
    return f"{what} {file} not scanned (only local and project includes are read)"


class SharedFiles:
    """Single-flight memo of FileScans of files in *other* projects (shared templates)."""

    def __init__(self, source: FileSource, analyze: Analyzer) -> None:
        self.source = source
        self.analyze = analyze
        self._lock = threading.Lock()
        self._done: dict[FileKey, FileScan] = {}
        self._flight: dict[FileKey, threading.Event] = {}
        self.fetches = 0

    def get(self, key: FileKey) -> FileScan:
        while True:
            with self._lock:
                if key in self._done:
                    return self._done[key]
                event = self._flight.get(key)
                if event is None:
                    event = self._flight[key] = threading.Event()
                    leader = True
                else:
                    leader = False
            if not leader:
                event.wait()
                continue
            try:
                result = scan_file(key, self.source, self.analyze)
            except BaseException:
                with self._lock:
                    self._flight.pop(key, None)
                event.set()
                raise
            with self._lock:
                self._done[key] = result
                self._flight.pop(key, None)
                self.fetches += 1
            event.set()
            return result


@dataclass
class PipelineFiles:
    """Every file one project's pipeline reads, in discovery order, plus walk problems."""

    files: list[tuple[FileScan, bool]] = field(default_factory=list)  # (scan, shared?)
    problems: list[Problem] = field(default_factory=list)


def pipeline_files(project: str, root: FileKey, source: FileSource, analyze: Analyzer,
                   shared: SharedFiles) -> PipelineFiles:
    """Walk the config and its includes breadth-first (each file once, at most MAX_INCLUDES)."""
    out = PipelineFiles()
    queue: list[FileKey] = [root]
    seen: set[FileKey] = set()
    while queue:
        key = queue.pop(0)
        if key in seen:
            continue
        if len(seen) >= MAX_INCLUDES:
            out.problems.append(Problem(f"project:{project}", f"more than {MAX_INCLUDES} included files; "
                                        "the rest were not scanned (GitLab refuses such pipelines too)",
                                        "warning"))
            break
        seen.add(key)
        is_shared = key.project != project
        fs = shared.get(key) if is_shared else scan_file(key, source, analyze)
        out.files.append((fs, is_shared))
        queue.extend(fs.includes)
    return out


# --- adapters to the detector's result (tolerant of its exact shapes) -------------------------

def _problem_text(p: Any) -> str:
    if isinstance(p, str):
        return p
    for attr in ("reason", "message", "detail", "text"):
        value = getattr(p, attr, None)
        if isinstance(value, str) and value:
            line = getattr(p, "line", None)
            return f"line {line}: {value}" if isinstance(line, int) and line else value
    return str(p)


def _is_parse_error(p: Any) -> bool:
    kind = str(getattr(p, "kind", "") or getattr(p, "code", "") or "")
    if kind in ("yaml", "parse", "syntax", "unreadable", "invalid_yaml"):
        return True
    text = _problem_text(p).lower()
    return text.startswith(("yaml", "invalid yaml", "unreadable yaml", "cannot parse", "not valid yaml"))


def _severity(p: Any) -> Any:
    sev = getattr(p, "severity", None)
    return sev if sev in ("error", "manual", "warning") else "manual"


def _environments(analysis: Any) -> tuple[tuple[str, str | None], ...]:
    envs = getattr(analysis, "environments", None)
    if isinstance(envs, dict):
        return tuple(sorted((str(k), None if v is None else str(v)) for k, v in envs.items()))
    jobs: Iterable[Any] = getattr(analysis, "jobs", ()) or ()
    pairs = []
    for job in jobs:
        name = getattr(job, "name", None)
        if isinstance(name, str):
            env = getattr(job, "environment", None)
            pairs.append((name, None if env is None else str(env)))
    return tuple(sorted(pairs))
