"""Which CI files a project's pipeline reads, read once each, analysed by `migrate.ci.analyze`.

A project's pipeline starts at its `ci_config_path` (default `.gitlab-ci.yml`; `file@group/project`
or `file@group/project:ref` puts it in another project) and pulls in `include:` entries: `local`
files of the same project and ref (nested locals resolve against the project holding the including
file), `project` files of other projects at a ref (default: that project's default branch).
`template` files of the instance itself (`include: template: X.gitlab-ci.yml`, read through the
templates API as files of the pseudo project `core.model.GITLAB_TEMPLATES`; GitLab's
`lib/gitlab/ci/config/external/file/template.rb`), and `remote` URLs fetched over HTTP(S) as files
of `core.model.REMOTE_FILES` (`migrate.gitlab.remote`). `component` includes
(`<fqdn>/<project>/<name>@<version>`) are files of `core.model.COMPONENT_FILES` (path = the
address; a component's own `local:` includes are `<address>::<path>`, files of the component's
project at its version), read from the component's project at the version by the reader
(`migrate.core.components`, `migrate.gitlab.components`); one the tool cannot resolve exactly (another
instance, `~latest`, a short semantic version) is an unreadable file with the reason.

`FileScan` is what one file says, independent of which project includes it, so a shared template
is fetched and analysed ONCE per (project, file, ref) however many projects include it
(`SharedFiles` is a single-flight memo: concurrent workers asking for the same template wait for
the first fetch). A project's own files are not memoised, so memory grows with the number of
shared templates, not with the organisation. File text is analysed and dropped; with a `TextSink`
(the CLI's state database) it is also kept by its sha256 for `plan` (issue 18).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from migrate.core.components import nested_address
from migrate.core.model import (
    COMPONENT_FILES,
    GITLAB_TEMPLATES,
    PSEUDO_PROJECTS,
    REMOTE_FILES,
    TEMPLATE_SUFFIX,
    CIFinding,
    Problem,
)
from migrate.scan.ports import FileSource, ReadError, TextSink

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
    # Every job of the file: (name, extends, its own environment), so scan can find the effective
    # jobs of a consumer that extend a template's hidden job (and their environments).
    jobs: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    problems: tuple[Problem, ...] = ()
    error: str | None = None  # unreadable: "404 Not Found", "403 Forbidden", "unreadable YAML: …"
    status: int | None = None
    # The ids GitLab answered with the text and the text's sha256 ("" when it gave none): the
    # inventory's `FileBlob`, with which `plan` may use the text kept in the state (issue 18).
    blob_id: str = ""
    commit_id: str = ""
    sha256: str = ""


Analyzer = Callable[..., Any]  # migrate.ci.analyze(text, path, key_variables)


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


def scan_file(key: FileKey, source: FileSource, analyze: Analyzer,
              hints: frozenset[str] = frozenset(), sink: TextSink | None = None) -> FileScan:
    """Fetch one file and analyse it (`hints`: names known to hold keys); read failures → error.
    With a `sink`, the text is kept there by its sha256 when GitLab gave its ids (see `keepable`)."""
    try:
        read = source.file_read(key.project, key.path, key.ref)
    except ReadError as exc:
        return FileScan(key, error=exc.reason, status=exc.status)
    text = read.text
    # The CI library turns bad input (YAML errors, limits) into problems in its answer; an exception
    # here is a bug and stops the scan (exit 3) rather than hide as an ERROR row.
    analysis = analyze(text, key.path, hints) if hints else analyze(text, key.path)
    scanned = from_analysis(key, analysis)
    if any(f.variable for f in scanned.findings):
        scanned = replace(scanned, environments=job_environments(analysis))
    if sink is not None and read.blob_id and keepable(key, text):
        digest = text_sha256(text)
        sink.keep(digest, text)
        scanned = replace(scanned, blob_id=read.blob_id, commit_id=read.commit_id, sha256=digest)
    return scanned


_KEY_MATERIAL = re.compile(r"PRIVATE KEY|private_key")


def keepable(key: FileKey, text: str) -> bool:
    """Whether the text may be kept in the state database: a file of a project (not a template,
    URL or component, which `plan` reads as before), and nothing in it that looks like key
    material — a private key pasted into a CI file is never written anywhere by this tool."""
    return key.project not in PSEUDO_PROJECTS and _KEY_MATERIAL.search(text) is None


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def from_analysis(key: FileKey, analysis: Any) -> FileScan:
    """Normalise a `migrate.ci.Analysis` into a FileScan, resolving includes against `key`."""
    subject = f"file:{key.label()}"
    problems: list[Problem] = []
    error: str | None = None
    for p in getattr(analysis, "problems", ()) or ():
        text = _problem_text(p)
        if _is_unreadable(text):
            error = error or (text if text.lower().startswith("not valid yaml") else f"unreadable: {text}")
        else:
            problems.append(Problem(subject, text, "manual"))
    includes: list[FileKey] = []
    for inc in getattr(analysis, "includes", ()) or ():
        for resolved in resolve_include(key, inc):
            if isinstance(resolved, FileKey):
                includes.append(resolved)
            else:
                problems.append(Problem(subject, resolved, "warning"))
    return FileScan(
        key=key,
        findings=tuple(getattr(analysis, "findings", ()) or ()),
        federated=bool(getattr(analysis, "federated", False)),
        includes=tuple(includes),
        key_variables=frozenset(getattr(analysis, "key_variables", ()) or ()),
        jobs=tuple((j.name, tuple(j.extends), getattr(j, "environment", None))
                   for j in getattr(analysis, "jobs", ()) or () if isinstance(getattr(j, "name", None), str)),
        problems=tuple(problems),
        error=error,
    )


def resolve_include(parent: FileKey, inc: Any) -> list[FileKey | str]:
    """An include entry → the files it names, or why they are not fetched."""
    kind = str(getattr(inc, "kind", "") or "")
    location = str(getattr(inc, "location", "") or "")
    if kind == "local":
        if "*" in location:
            return [f"local include with a wildcard ({location}) not expanded; the files it matches "
                    "were not scanned"]
        if "$" in location:
            return [f"local include with a variable ({location}) not resolved; not scanned"]
        if parent.project == COMPONENT_FILES:  # the component's project at its version (file/component.rb)
            return [FileKey(COMPONENT_FILES, nested_address(parent.path, location), None)]
        if parent.project in (REMOTE_FILES, GITLAB_TEMPLATES):
            what = "remote file" if parent.project == REMOTE_FILES else "GitLab template"
            return [f"local include {location} in the {what} {parent.path}: GitLab reads it from the project "
                    "whose pipeline includes that file (File::Base keeps the includer's context); this tool "
                    "reads a shared file's includes once for every project, so it was not read"]
        return [FileKey(parent.project, location.lstrip("/"), parent.ref)]
    if kind == "project":
        project = str(getattr(inc, "project", "") or "").strip("/")
        ref = getattr(inc, "ref", None) or None
        out: list[FileKey | str] = []
        for file in getattr(inc, "files", ()) or ():
            if not project or "$" in project or "$" in file or (ref and "$" in str(ref)):
                out.append(f"project include {project}:{file} uses variables; not resolved, not scanned")
            else:
                out.append(FileKey(project, str(file).lstrip("/"), str(ref) if ref else None))
        return out
    if kind == "template":
        if "$" in location:
            return [f"GitLab template include with a variable ({location}) not resolved; not scanned"]
        if not location.endswith(TEMPLATE_SUFFIX):
            # template.rb validate_location!: "Template file `…` is not a valid location!"
            return [f"GitLab template include {location} is not a valid location (GitLab requires the "
                    f"{TEMPLATE_SUFFIX} suffix and refuses the pipeline); not scanned"]
        return [FileKey(GITLAB_TEMPLATES, location, None)]
    if kind == "remote":
        if "$" in location or not re.match(r"^https?://\S+$", location):
            return [f"remote include {location} uses variables or is not an http(s) URL; not scanned"]
        return [FileKey(REMOTE_FILES, location, None)]
    if kind == "component":
        if not location:
            return ["component include without an address; not scanned"]
        return [FileKey(COMPONENT_FILES, location, None)]
    what = {"remote": "remote include", "template": "GitLab template include",
            "component": "CI/CD component include"}.get(kind, f"{kind or 'unknown'} include")
    return [f"{what} {location} not scanned (only local, project, template, remote and component includes "
            "are read)"]


class SharedFiles:
    """Single-flight memo of FileScans of files in *other* projects (shared templates)."""

    def __init__(self, source: FileSource, analyze: Analyzer,
                 default_branch: Callable[[str], str | None] = lambda project: None,
                 sink: TextSink | None = None) -> None:
        self.source = source
        self.analyze = analyze
        self.sink = sink
        # `include: project:` without `ref:` means the default branch: name it, so that
        # `ref: main` and no ref are one file, fetched once.
        self.default_branch = default_branch
        self._lock = threading.Lock()
        self._done: dict[FileKey, FileScan] = {}
        self._flight: dict[FileKey, threading.Event] = {}
        self.fetches = 0

    def get(self, key: FileKey, hints: Callable[[], frozenset[str]] = frozenset) -> FileScan:
        """The file's scan; `hints` (group/instance key variable names, not per consumer) is only
        evaluated by the one caller that fetches it."""
        if key.ref is None and key.project not in PSEUDO_PROJECTS:  # templates, URLs have no branches
            branch = self.default_branch(key.project)
            if branch:
                key = replace(key, ref=branch)
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
                result = scan_file(key, self.source, self.analyze, hints(), self.sink)
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
                   shared: SharedFiles, hints: frozenset[str] = frozenset(),
                   shared_hints: Callable[[], frozenset[str]] = frozenset) -> PipelineFiles:
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
        fs = shared.get(key, shared_hints) if is_shared else scan_file(key, source, analyze, hints, shared.sink)
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
            return value
    return str(p)


def _is_unreadable(text: str) -> bool:
    """The detector's problems that mean "this file could not be read as CI YAML"."""
    lowered = text.lower()
    return lowered.startswith(("not valid yaml", "file is larger than", "file contains nul",
                               "file contains control characters"))


def job_environments(analysis: Any) -> tuple[tuple[str, str | None], ...]:
    """(job, environment name) for the jobs of a file, following `extends` within the file.

    Only the `environment:` keyword counts (name string or `{name: …}`); linking needs it to apply
    environment-scoped variables. Read from the analysis (`JobInfo.environment` and `.chain`), so
    the one CI parser (`migrate.ci.yamlnodes`) is the only one that reads the file.
    """
    jobs = {job.name: job for job in getattr(analysis, "jobs", ()) or () if isinstance(job.name, str)}
    out = []
    for name, job in jobs.items():
        env = next((jobs[c].environment for c in (name, *job.chain) if c in jobs and jobs[c].environment), None)
        out.append((name, env))
    return tuple(sorted(out))
