"""Before a binding is granted: do the GitLab facts it rests on still hold *now*?

A binding is derived from the scan: this variable, with this scope and protection, holding this
key, read by these projects. Between scan and apply someone may unprotect the variable (the
binding would then admit refs the key no longer reaches... or the reverse), swap its key, delete
it, or move a project to another namespace. `apply` re-reads, for every `ensure_binding` action,
each variable it exists for (`findings`), each project it admits (`scopes`) and each CI file
whose key use the binding rests on (plan `inputs.usages`: re-read at the planned ref, detector
re-run, same keyed variable required), and refuses the action, naming the difference, when
anything changed or cannot be read. Pure decision; the
reads go through the `LiveGitLab` protocol (real: python-gitlab, `GitLabLiveFacts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from migrate.apply.merge_request_content import content_equal
from migrate.apply.ports import LiveGitLab
from migrate.core.errors import WifMigrateError
from migrate.core.model import (
    BindingParams,
    InputUsage,
    KeyVariable,
    MergeRequestParams,
    Plan,
    ScopeRow,
    params_as,
)
from migrate.retire.ports import VariableHolding

Detector = Callable[[str, str, frozenset[str]], set[str | None]]  # text, path, key names → keyed variables


def detect(text: str, path: str, names: frozenset[str]) -> set[str | None]:
    """The variables a CI file uses as keys, by the scan's own detector (`migrate.ci.analyze`)."""
    import migrate.ci
    from migrate.scan.ci_files import FileKey, from_analysis

    analysis = migrate.ci.analyze(text, path, names)  # type: ignore[attr-defined,unused-ignore]
    return {f.variable for f in from_analysis(FileKey("live", path, None), analysis).findings}


def binding_refusals(plan: Plan, live: LiveGitLab, detector: Detector = detect, concurrency: int = 1) -> dict[str, str]:
    """ensure_binding action id → why the live GitLab facts no longer support it. Each fact is
    read once per run (`CachedLive`; with `concurrency` > 1 all of them first, in worker threads)
    and each file analysed once per set of key names."""
    inputs = plan.inputs
    variables = {var.ref: var for var in (inputs.variables if inputs else ())}
    namespaces = {p.id: p.namespace_id or 0 for p in (inputs.projects if inputs else ())}
    usages = list(inputs.usages if inputs else ())
    texts: dict[tuple[str, str, str], str | None] = {}
    if not isinstance(live, CachedLive):
        live = CachedLive(live, concurrency)
    if concurrency > 1:
        live.prefetch(wanted_reads(plan, variables, usages))
    found: dict[tuple[str, str, str, frozenset[str]], set[str | None]] = {}

    def detected(project: str, path: str, ref: str, text: str, names: frozenset[str]) -> set[str | None]:
        key = (project, path, ref, names)
        if key not in found:
            found[key] = detector(text, path, names)
        return found[key]

    out: dict[str, str] = {}
    migrated = _planned_contents(plan)
    for action in plan.actions:
        if action.kind != "ensure_binding":
            continue
        try:
            why = (_check(action.findings, params_as(action, BindingParams).scopes, variables, namespaces, live)
                   or _still_used(action.findings, usages, variables, live, detected, texts, migrated))
        except WifMigrateError as exc:
            why = f"cannot re-read the GitLab facts the binding rests on: {exc}"
        if why:
            out[action.id] = f"{why}; re-run `wif-migrate scan` and `plan`"
    return out


def _check(findings: tuple[str, ...], scopes: Sequence[ScopeRow], variables: Mapping[str, KeyVariable],
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
    for scope in scopes:
        pid = scope.project_id
        moved_to = live.project_namespace(pid)
        if moved_to is None:
            return f"project {scope.project or pid} no longer exists"
        was = namespaces.get(pid)
        if was and moved_to != was:
            return f"project {scope.project or pid} moved to namespace {moved_to} (was {was})"
    return None


def _planned_contents(plan: Plan) -> dict[tuple[str, str, str], str]:
    """(project, path, ref) → the content this plan's merge requests write into that file."""
    out: dict[tuple[str, str, str], str] = {}
    for action in plan.actions:
        p = action.params
        if isinstance(p, MergeRequestParams):
            for f in p.changes:
                out[(p.project, f.file_path, p.ref)] = f.new_content
    return out


def _still_used(findings: tuple[str, ...], usages: list[InputUsage], variables: Mapping[str, KeyVariable],
                live: LiveGitLab, detected: Callable[[str, str, str, str, frozenset[str]], set[str | None]],
                texts: dict[tuple[str, str, str], str | None],
                migrated: Mapping[tuple[str, str, str], str] | None = None) -> str | None:
    """Every CI file use of the binding's variables the plan rests on is still there: the file
    (at the planned ref) is re-read and the scan's detector must still find the same keyed
    variable in it. A project that dropped the key (or its file) would be admitted for nothing —
    unless the file now holds exactly what this plan's own merge request writes (`migrated`: it was
    merged, and the binding is what its federated sign-in needs; `apply` run again after some
    merges, e.g. to open a shared template's merge request after its consumers')."""
    refs = set(findings)
    names = frozenset(v.name for r, v in variables.items() if r in refs)
    for u in usages:
        if not refs & set(u.variables):
            continue
        project, path, ref = u.file_project, u.file_path, u.ref
        where = f"{path}@{ref}" if ref else path
        consumers = ", ".join(u.consumers) or project
        if (project, path, ref) not in texts:
            texts[(project, path, ref)] = live.file_text(project, path, ref)
        text = texts[(project, path, ref)]
        if text is None:
            return f"project {consumers} no longer uses the key: {project}:{where} no longer exists"
        planned = (migrated or {}).get((project, path, ref))
        if planned is not None and content_equal(text, planned):
            continue
        variable = u.variable
        found = detected(project, path, ref, text, names)  # bad input is data in its answer; an exception is a bug (exit 3)
        if variable not in found:
            what = f"variable {variable}" if variable else "a key file"
            return (f"project {consumers} no longer uses the key: {project}:{where} no longer uses {what} "
                    f"as a key (line {u.line} at scan time)")
    return None


class CachedLive:
    """A `LiveGitLab` that reads each fact once per run and can read many at once.

    Twenty bindings over thousands of projects ask for the same project many times; within one
    run the answer is the same fact, so it is read once (an error too: every binding resting on
    it is refused with the same reason). `prefetch` reads every fact the checks will ask for with
    `concurrency` worker threads first (the underlying reader must be thread-safe, e.g.
    `GitLabLiveFacts(clients=…)`); the checks then run in order on the answers, so each binding
    gets exactly the reason the one-by-one reads would give it (issue 18)."""

    def __init__(self, live: LiveGitLab, concurrency: int = 1) -> None:
        self.live = live
        self.concurrency = max(1, concurrency)
        self._answers: dict[tuple[Any, ...], tuple[bool, Any]] = {}

    def _ask(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        hit = self._answers.get(key)
        if hit is None:
            try:
                hit = (True, read())
            except WifMigrateError as exc:
                hit = (False, exc)
            self._answers[key] = hit
        ok, value = hit
        if not ok:
            raise value
        return value

    def holding(self, var: KeyVariable) -> VariableHolding:
        return self._ask(("variable", var.level, var.owner_id, var.owner, var.name, var.environment_scope),
                         lambda: self.live.holding(var))

    def project_namespace(self, project_id: int) -> int | None:
        return self._ask(("project", int(project_id)), lambda: self.live.project_namespace(int(project_id)))

    def file_text(self, project: str, path: str, ref: str) -> str | None:
        return self._ask(("file", project, path, ref), lambda: self.live.file_text(project, path, ref))

    def prefetch(self, reads: Sequence[tuple[str, Any]]) -> None:
        """`reads`: ("variable", KeyVariable) | ("project", id) | ("file", (project, path, ref)) |
        ("group", id): a top-level group whose projects may be listed instead of read one by one."""
        calls: dict[tuple[Any, ...], Callable[[], Any]] = {}
        for kind, arg in reads:
            if kind == "variable":
                calls.setdefault(("variable", arg.level, arg.owner_id, arg.owner, arg.name, arg.environment_scope),
                                 partial(self.live.holding, arg))
            elif kind == "project":
                calls.setdefault(("project", int(arg)), partial(self.live.project_namespace, int(arg)))
            elif kind == "file":
                calls.setdefault(("file", *arg), partial(self.live.file_text, *arg))
        groups = [int(arg) for kind, arg in reads if kind == "group"]
        listing = getattr(self.live, "group_projects", None)
        wanted = {k[1] for k in calls if k[0] == "project" and k not in self._answers}
        if groups and listing is not None and wanted:
            # the projects under the top-level groups, a page of 100 per request: their
            # namespaces are the same fact a read by id answers; the rest are read by id
            for listed in self._run([partial(listing, g) for g in dict.fromkeys(groups)]):
                if listed[0]:
                    for pid, namespace in listed[1].items():
                        if pid in wanted:
                            self._answers[("project", pid)] = (True, namespace)
        todo = [(k, c) for k, c in calls.items() if k not in self._answers]
        if not todo:
            return

        self._answers.update((key, answer) for (key, _call), answer in
                             zip(todo, self._run([call for _key, call in todo]), strict=True))

    def _run(self, calls: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """Each call's (True, answer) or (False, the WifMigrateError), with `concurrency` threads."""
        def one(call: Callable[[], Any]) -> tuple[bool, Any]:
            try:
                return True, call()
            except WifMigrateError as exc:
                return False, exc

        if self.concurrency == 1 or len(calls) <= 1:
            return [one(c) for c in calls]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(calls)), thread_name_prefix="live-read") as pool:
            return list(pool.map(one, calls))


def wanted_reads(plan: Plan, variables: Mapping[str, KeyVariable], usages: Sequence[InputUsage]
                 ) -> list[tuple[str, Any]]:
    """Every read `binding_refusals` may make for the plan's bindings, in the order it makes them,
    and the plan's top-level groups (whose project listings answer most project reads)."""
    out: list[tuple[str, Any]] = [("group", g.id) for g in (plan.inputs.groups if plan.inputs else ())
                                  if "/" not in (g.path or "/")]
    for action in plan.actions:
        if action.kind != "ensure_binding":
            continue
        out += [("variable", variables[ref]) for ref in action.findings if ref in variables]
        out += [("project", s.project_id) for s in params_as(action, BindingParams).scopes]
        refs = set(action.findings)
        out += [("file", (u.file_project, u.file_path, u.ref)) for u in usages if refs & set(u.variables)]
    return out
