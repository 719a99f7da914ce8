"""Every job that copies a rewritten file's authentication must still get the ID token (issue 15 §3).

A template job's `id_tokens` reach the jobs that `extends` it (deep merge), but not a job that
copies its script with `!reference [.tpl, script]`, nor one whose own `id_tokens: !reference [...]`
replaces the merged hash, nor one that loses its `default:id_tokens` to the template's job-level
ones. Such jobs can live in any file of any pipeline that includes the template: the consumer's
root CI file, its local includes, other projects' files it includes, nested.

So for each pipeline that reads a file the plan rewrites, this module rebuilds the pipeline from
the files the scan read (`ProjectRecord.ci_files` with each file's `includes`), resolves its jobs
as GitLab does before and after the rewrite (`migrate.ci.effective`: included files deep-merged in
GitLab's order — each file's includes, in order, then the file itself, `Config::External::
Processor#perform` in `lib/gitlab/ci/config/external/processor.rb`, nested through
`File::Base#expanded_content_hash` — then `extends`, `!reference`, `default:`/`inherit:`) — with the same handling of the included files as the rewrite
self-check (`migrate.ci.includes`: `spec: inputs` interpolated where exact, and the check repeated
in the pipelines that leave out the files included with `rules:`) — and
runs the independent comparison (`migrate.ci.acceptance.compare`) on the consumer's effective jobs:
the provider token reaches every job that used the key, every token it had is kept, only
authentication changed, and each job signs in as the account of the key it received (per context).
A file of the pipeline that could not be read, or does not parse, is a failure with its reason:
never a silent pass. Pure: the caller passes the texts (plan: read at plan time; apply: re-read live).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from migrate.ci import acceptance, effective, includes, limits
from migrate.core.model import CheckedFile, CheckedPipeline
from migrate.core.outcome import Status

FileId = tuple[str, str, str]  # (project, path, ref)


@dataclass(frozen=True)
class PipelineFile:
    """One file of a pipeline and the files its own `include:` names, in order."""

    id: FileId
    includes: tuple[FileId, ...] = ()


@dataclass(frozen=True)
class ConsumerPipeline:
    """The files one project's pipeline reads (root first), as the scan found them."""

    consumer: str
    files: tuple[PipelineFile, ...]
    unread: str = ""  # why the scan could not read all of it ('' = it could)

    def to_checked(self) -> CheckedPipeline:
        """As the plan records it (`MergeRequestParams.consumer_check.pipelines`)."""
        return CheckedPipeline(self.consumer, self.unread, tuple(CheckedFile(f.id, f.includes) for f in self.files))

    @staticmethod
    def from_checked(data: CheckedPipeline) -> ConsumerPipeline:
        return ConsumerPipeline(data.consumer, tuple(PipelineFile(f.id, f.includes) for f in data.files), data.unread)

    def holds(self, target: FileId) -> bool:
        return any(_same(f.id, target) for f in self.files)

    def alone(self, target: FileId) -> bool:
        """The pipeline is the target file and nothing else (its own self-check covers it)."""
        return len(self.files) == 1 and _same(self.files[0].id, target) and not self.files[0].includes


def _file_id(value: Any) -> FileId:
    parts = [str(part) for part in (value or ())][:3]
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def _same(a: FileId, b: FileId) -> bool:
    """The same file; an empty ref (the default branch, not named) matches any ref."""
    return a[:2] == b[:2] and (a[2] == b[2] or not a[2] or not b[2])


def merge_order(pipeline: ConsumerPipeline) -> tuple[list[FileId], list[FileId]]:
    """(files in GitLab's merge order, root last; include targets the pipeline does not hold).

    A file's content is its includes' expanded contents deep-merged in order, then its own, so the
    whole pipeline is the post-order walk of the include tree. A file included twice is merged
    where it first appears."""
    if not pipeline.files:
        return [], []
    order: list[FileId] = []
    missing: list[FileId] = []
    seen: set[FileId] = set()

    def find(target: FileId) -> PipelineFile | None:
        return next((f for f in pipeline.files if f.id == target), None) or \
            next((f for f in pipeline.files if _same(f.id, target)), None)

    def visit(node: PipelineFile, depth: int) -> None:
        if node.id in seen or depth > 100:
            return
        seen.add(node.id)
        for target in node.includes:
            child = find(target)
            if child is None:
                if target not in missing:
                    missing.append(target)
            else:
                visit(child, depth + 1)
        order.append(node.id)

    root = pipeline.files[0]
    if any(f.includes for f in pipeline.files):
        visit(root, 0)
        order += [f.id for f in pipeline.files if f.id not in seen]  # not reached: keep, before the root
        if order[-1] != root.id:
            order.remove(root.id)
            order.append(root.id)
    else:  # an inventory without the include tree: the includes in discovery order, then the root
        order = [f.id for f in pipeline.files[1:]] + [root.id]
    return order, missing


def included_by(pipelines: Sequence[ConsumerPipeline], target: FileId) -> tuple[FileId, ...] | None:
    """The files `target` itself includes (nested), in GitLab's merge order: what its own
    self-check resolves it with (`RewriteOptions.included`). None: not known completely."""
    for pipeline in pipelines:
        node = next((f for f in pipeline.files if _same(f.id, target)), None)
        if node is None:
            continue
        if not node.includes:
            return ()
        rest = tuple(f for f in pipeline.files if f is not node)
        order, missing = merge_order(ConsumerPipeline(pipeline.consumer, (node, *rest)))
        if missing:
            return None
        reached = _reached(node, pipeline)
        return tuple(f for f in order[:-1] if f in reached)
    return None


def _reached(node: PipelineFile, pipeline: ConsumerPipeline) -> set[FileId]:
    """Every file below `node` in the include tree."""
    seen: set[FileId] = set()
    stack = list(node.includes)
    while stack and len(seen) < 1000:
        target = stack.pop()
        child = next((f for f in pipeline.files if _same(f.id, target)), None)
        if child is not None and child.id not in seen:
            seen.add(child.id)
            stack.extend(child.includes)
    return seen


def label(file: FileId, consumer: str) -> str:
    return file[1] if file[0] == consumer else f"{file[0]}:{file[1]}"


_JOB = re.compile(r"^job (\S+): (.*)$", re.S)


def check(pipeline: ConsumerPipeline, texts: Mapping[FileId, str], errors: Mapping[FileId, str], target: FileId,
          new_text: str, expect: acceptance.Expectation, replaced: Mapping[FileId, str] | None = None
          ) -> list[str]:
    """Reasons the rewrite of `target` would break a job of this pipeline (empty: it would not).
    `replaced`: other files of the pipeline as they will be when the rewrite lands (the consumer
    changes that go first, `migrate.plan.consumer_changes`)."""
    consumer = pipeline.consumer
    if not pipeline.holds(target) or pipeline.alone(target):
        return []
    loaded = _load(pipeline, texts, errors, {target: new_text, **(replaced or {})})
    if isinstance(loaded, str):
        return [loaded]
    try:
        before, after = loaded.resolved(())
    except RecursionError:
        return [f"consumer {consumer}: its jobs cannot be resolved (nesting too deep)"]
    if before.problems:
        return [f"consumer {consumer}: GitLab would not resolve its jobs as written: {before.problems[0]}"]
    out = _failures(loaded, before, after, expect, "")
    if out:
        return out
    return _other_pipelines(loaded, before, after, expect)


def _failures(loaded: _Loaded, before: effective.Resolved, after: effective.Resolved,
              expect: acceptance.Expectation, where: str) -> list[str]:
    consumer = loaded.consumer
    out = []
    for failure in acceptance.compare(*_changed_only(before, after), expect):
        match = _JOB.match(failure)
        if match is None:
            out.append(f"consumer {consumer}: {where}{failure}")
            continue
        job, reason = match.groups()
        out.append(f"consumer {consumer}, file {label(defining_file(job, loaded.order, loaded.before), consumer)}, "
                   f"job {job}: {where}{reason}")
    return out


def _other_pipelines(loaded: _Loaded, before: effective.Resolved, after: effective.Resolved,
                     expect: acceptance.Expectation) -> list[str]:
    """What the rewrite self-check asks of the included files (`migrate.ci.selfcheck`, one model in
    `migrate.ci.includes`): a changed job must not depend on inputs this tool cannot interpolate,
    and the check must hold in the pipelines that leave conditional includes out."""
    consumer = loaded.consumer
    facts = loaded.facts
    changed = {name for name in (*before.jobs, *after.jobs) if before.jobs.get(name) != after.jobs.get(name)}
    try:
        for index, why in sorted(facts.unresolved.items()):
            unknown = effective.resolve([*loaded.before[:index], loaded.alternates[index],
                                         *loaded.before[index + 1:-1]], loaded.before[-1])
            for job in sorted(changed):
                if before.job(job) != unknown.job(job):
                    return [f"consumer {consumer}, job {job}: depends on {facts.labels[index]}, whose inputs this "
                            f"tool cannot interpolate exactly: {why}"]
        worlds = includes.pipelines_without(facts)
        if isinstance(worlds, str):
            return [f"consumer {consumer}: {worlds}"]
        for world in worlds:
            names = ", ".join(facts.labels[index] for index in world)
            one, other = loaded.resolved(world)
            failures = _failures(loaded, one, other, expect, f"in pipelines where the conditional include {names} "
                                                             "(include with rules:) is not merged: ")
            if failures:
                return failures
    except RecursionError:
        return [f"consumer {consumer}: its jobs cannot be resolved (nesting too deep)"]
    return []


def defining_file(job: str, order: Sequence[FileId], maps: Sequence[Mapping[str, Any]]) -> FileId:
    """The file of the pipeline whose definition of `job` wins (the last one in merge order)."""
    return next((f for f, body in zip(reversed(order), reversed(maps), strict=True) if job in body), order[-1])


def load_pipeline(pipeline: ConsumerPipeline, texts: Mapping[FileId, str], errors: Mapping[FileId, str],
                  replaced: Mapping[FileId, str]
                  ) -> tuple[list[FileId], list[dict[str, Any]], list[dict[str, Any]]] | str:
    """(files in merge order, their configurations now, and with `replaced` files swapped in), or
    the reason the pipeline cannot be loaded completely. Included files are interpolated with
    their entries' `inputs:` where that is exact (`migrate.ci.includes`)."""
    loaded = _load(pipeline, texts, errors, replaced)
    if isinstance(loaded, str):
        return loaded
    return loaded.order, loaded.before, loaded.after


@dataclass(frozen=True)
class _Loaded:
    """A consumer pipeline's configurations before and after, in merge order (root last), with
    what GitLab decides per pipeline about its included files (`includes.IncludeFacts`)."""

    consumer: str
    order: list[FileId]
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    facts: includes.IncludeFacts
    alternates: dict[int, dict[str, Any]]  # index -> the configuration with unknown inputs marked

    def resolved(self, left_out: Sequence[int]) -> tuple[effective.Resolved, effective.Resolved]:
        """Both sides resolved without the included files at `left_out` (indices into the included)."""
        def kept(maps: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [body for index, body in enumerate(maps[:-1]) if index not in left_out]
        return (effective.resolve(kept(self.before), self.before[-1]),
                effective.resolve(kept(self.after), self.after[-1]))


def _load(pipeline: ConsumerPipeline, texts: Mapping[FileId, str], errors: Mapping[FileId, str],
          replaced: Mapping[FileId, str]) -> _Loaded | str:
    consumer = pipeline.consumer
    if pipeline.unread:
        return f"consumer {consumer}: {pipeline.unread}; cannot check that its jobs still get the ID token"
    order, missing = merge_order(pipeline)
    if missing:
        return (f"consumer {consumer}: file {label(missing[0], consumer)} of its pipeline could not be read; "
                "cannot check that its jobs still get the ID token")
    written: list[str] = []
    swapped: list[str | None] = []
    for file in order:
        text = _text(texts, file)
        if text is None:
            why = _text(errors, file) or "not read"
            return (f"consumer {consumer}: file {label(file, consumer)} could not be read ({why}); cannot check "
                    "that its jobs still get the ID token")
        written.append(text)
        swapped.append(_text(replaced, file))
    rewritten = [new if new is not None else old for old, new in zip(written, swapped, strict=True)]
    root = order[-1]
    facts = includes.analyse(written[-1], root[0], written[:-1], order[:-1])
    facts_after = includes.analyse(rewritten[-1], root[0], rewritten[:-1], order[:-1])
    if facts_after.conditional != facts.conditional:
        return f"consumer {consumer}: the rewrite changes which of its includes are conditional (include with rules:)"
    before_maps: list[dict[str, Any]] = []
    after_maps: list[dict[str, Any]] = []
    alternates: dict[int, dict[str, Any]] = {}
    for index, file in enumerate(order):
        step = "" if index == len(order) - 1 else "included"
        try:
            loaded = effective.load(facts.texts[index] if step else written[-1])
            before_maps.append(loaded)
            if swapped[index] is None:
                after_maps.append(loaded)
            else:
                after_maps.append(effective.load(facts_after.texts[index] if step else rewritten[-1]))
            if step and index in facts.unresolved:
                alternates[index] = effective.load(facts.alternates[index])
        except (yaml.YAMLError, limits.InputRefused, RecursionError) as error:
            which = "the rewritten " + label(file, consumer) if swapped[index] is not None else label(file, consumer)
            return (f"consumer {consumer}: file {which} cannot be loaded "
                    f"({' '.join(str(error).split())[:100]}); cannot check that its jobs still get the ID token")
    return _Loaded(consumer, order, before_maps, after_maps, facts, alternates)


def _changed_only(before: effective.Resolved, after: effective.Resolved
                  ) -> tuple[effective.Resolved, effective.Resolved]:
    """Both resolutions reduced to the jobs the rewrite changes (or adds or removes): a job whose
    effective job is identical before and after is not affected by it (e.g. a consumer's own job
    that signs in with its own key: its own file's rewrite is checked on its own)."""
    def changed(a: Mapping[str, Any], b: Mapping[str, Any]) -> set[str]:
        return {name for name in set(a) | set(b) if a.get(name) != b.get(name)}

    jobs, hidden = changed(before.jobs, after.jobs), changed(before.hidden, after.hidden)

    def keep(r: effective.Resolved) -> effective.Resolved:
        return dataclasses.replace(r, jobs={n: j for n, j in r.jobs.items() if n in jobs},
                                   hidden={n: j for n, j in r.hidden.items() if n in hidden})
    return keep(before), keep(after)


changed_only = _changed_only  # for migrate.plan.consumer_changes


def _text(texts: Mapping[FileId, str], file: FileId) -> str | None:
    if file in texts:
        return texts[file]
    return next((text for key, text in texts.items() if _same(key, file)), None)


MAX_FAILING = 5  # consumers whose reasons are given; the rewrite is refused at the first already


def failures(pipelines: Sequence[ConsumerPipeline], texts: Mapping[FileId, str], errors: Mapping[FileId, str],
             target: FileId, new_text: str, expectation_for: Any) -> list[str]:
    """`check` over every pipeline; `expectation_for(consumer)` gives each its Expectation. After
    MAX_FAILING failing consumers the rest are not checked (the reason says how many)."""
    out: list[str] = []
    failing = 0
    for index, pipeline in enumerate(pipelines):
        found = check(pipeline, texts, errors, target, new_text, expectation_for(pipeline.consumer))
        out.extend(found)
        failing += bool(found)
        if failing >= MAX_FAILING and index + 1 < len(pipelines):
            out.append(f"{len(pipelines) - index - 1} more consumer pipeline(s) not checked")
            break
    return out


# --- what the planner and the MR recheck pass in ---------------------------------------------------

def pipeline_of(record: Any, target: FileId) -> ConsumerPipeline:
    """A project's pipeline from its scan record (`ProjectRecord.ci_files`). Records without the
    files (older inventories) are taken as their root CI file including the target."""
    files = tuple(PipelineFile((f.project, f.path, f.ref), tuple(_file_id(i) for i in f.includes))
                  for f in record.ci_files)
    if not files:
        root = (record.path, record.ci_config_path or ".gitlab-ci.yml", record.default_branch or "")
        files = (PipelineFile(root),) + (() if _same(root, target) else (PipelineFile(target),))
    unread = f"its CI could not be read completely ({record.error})" if record.status == Status.ERROR and record.error \
        else ""
    return ConsumerPipeline(record.path, files, unread)


def consumer_accounts(receipts: Sequence[Any], var_key: Mapping[str, Any]
                      ) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """consumer → job → key variable → context → account, from the resolver's receipts."""
    out: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for r in receipts:
        if not r.resolution.definite or r.variable not in var_key or not r.known:
            continue
        env = f"environment {r.environment}" if r.environment else "no environment"
        where = f"{r.consumer} job {r.job} ({r.context.ref_class.replace('_', ' ')}, {env})"
        out.setdefault(r.consumer, {}).setdefault(r.job, {}).setdefault(r.name, {})[where] = \
            var_key[str(r.variable)].service_account
    return out


def expectation(key_vars: Sequence[str], audience: str, token_mode: str,
                accounts: Mapping[str, Mapping[str, Mapping[str, str]]]) -> acceptance.Expectation:
    """What a consumer's effective jobs must show: `accounts` is its job → variable → context → account."""
    def accounts_in(job: str, var: str) -> dict[str, str]:
        return dict(dict(accounts.get(job) or {}).get(var) or {})

    def account_for(job: str, var: str) -> str:
        found = set(accounts_in(job, var).values())
        return next(iter(found)) if len(found) == 1 else ""

    return acceptance.Expectation(frozenset(key_vars), audience, token_mode, account_for, accounts_in)


def token_mode(gitlab_version: str | None) -> Literal["id_tokens", "jwt_v2"]:
    """`jwt_v2` for GitLab before 15.7 (no `id_tokens`), else `id_tokens`."""
    match = re.match(r"(\d+)\.(\d+)", gitlab_version or "")
    return "jwt_v2" if match and (int(match.group(1)), int(match.group(2))) < (15, 7) else "id_tokens"
