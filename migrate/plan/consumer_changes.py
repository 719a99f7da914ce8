"""The consumer merge requests of a shared template whose consumers copy its authentication (issue 21).

A template job's `id_tokens` reach the jobs that `extends` it, never a job that copies its script
with `!reference [.tpl, before_script]` (GitLab copies only the referenced value). When the
template's rewrite makes such a copy read `$GCP_ID_TOKEN`, the consumer's own file must give the
copying job that token first. So the planner emits, per consumer project, one merge request adding
the provider ID token to exactly the jobs that copy the template's authentication (in whichever file
of the consumer defines the job: its root CI file or a local include, reached directly or through
`extends`/`!reference`), and the template's merge request after them:

- the consumer change alone only adds an unused token (harmless: checked on the consumer's whole
  pipeline as GitLab resolves it, `migrate.ci.consumer_tokens.harmless`);
- the template change with every consumer change in place passes the full consumer check
  (`migrate.plan.consumer_check.check`: the token reaches every job, every token it had is kept,
  each job signs in as the account of the key it received, in every context).

Anything that cannot be proven — a file of the pipeline unread, a copying job defined in another
project's file, a consumer file that has key use of its own or is already changed for another
template, a token that cannot be placed — returns reasons, and the caller sends the whole change
(template and consumers) to manual review: never a partial migration that breaks a consumer. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from migrate.ci import acceptance, effective, limits
from migrate.ci.consumer_tokens import add_tokens, harmless, has_audience
from migrate.ci.rewrite import RewriteOptions
from migrate.core.outcome import Status
from migrate.plan import consumer_check
from migrate.plan.consumer_check import ConsumerPipeline, FileId


@dataclass(frozen=True)
class ConsumerFile:
    """One file of a consumer project and what the consumer merge request writes into it."""

    id: FileId
    new_text: str
    diff: str
    jobs: tuple[str, ...]  # the jobs of this file that get the token
    included: tuple[FileId, ...]  # the files resolved before it (its own check's `included`)


@dataclass(frozen=True)
class ConsumerChange:
    """The merge request of one consumer project (one or more of its files)."""

    consumer: str
    files: tuple[ConsumerFile, ...]
    token_var: str

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(j for f in self.files for j in f.jobs))


def token_names(before: str, after: str, audience: str) -> list[str]:
    """The ID-token names the rewrite of a file adds with the provider audience (what copied
    scripts read): every `id_tokens` entry anywhere in the configuration."""
    def names(text: str) -> set[str]:
        found: set[str] = set()

        def walk(value: Any, depth: int) -> None:
            if depth > 64:
                return
            if isinstance(value, Mapping):
                tokens = value.get("id_tokens")
                if isinstance(tokens, Mapping):
                    found.update(str(k) for k, v in tokens.items() if has_audience(v, audience))
                for child in value.values():
                    walk(child, depth + 1)
        walk(effective.load(text), 0)
        return found

    try:
        return sorted(names(after) - names(before))
    except (yaml.YAMLError, limits.InputRefused, RecursionError):
        return []


def plan_changes(pipelines: Sequence[ConsumerPipeline], texts: Mapping[FileId, str], errors: Mapping[FileId, str],
                 target: FileId, old_text: str, new_text: str, provider: str,
                 expectation_for: Callable[[str], acceptance.Expectation], gitlab_version: tuple[int, int] | None,
                 off_limits: Mapping[tuple[str, str], str]) -> tuple[list[ConsumerChange], list[str]]:
    """(the consumer changes, reasons they cannot be made). Reasons non-empty: the whole change is
    manual. `off_limits`: (project, path) of files another change of the plan already edits → why."""
    audience = f"https://iam.googleapis.com/{provider}"
    names = token_names(old_text, new_text, audience)
    if len(names) != 1:
        return [], [f"the template's rewrite adds {len(names) or 'no'} provider ID token(s) for its consumers' "
                    "copies to read; cannot tell which one a consumer job must get"]
    token_var = names[0]
    changes: list[ConsumerChange] = []
    reasons: list[str] = []
    for pipeline in pipelines:
        if not pipeline.holds(target) or pipeline.alone(target):
            continue
        change, why = _one_consumer(pipeline, texts, errors, target, new_text, provider, token_var,
                                    expectation_for(pipeline.consumer), gitlab_version, off_limits)
        reasons.extend(why)
        if change is not None:
            changes.append(change)
    return ([], reasons) if reasons else (changes, [])


def _one_consumer(pipeline: ConsumerPipeline, texts: Mapping[FileId, str], errors: Mapping[FileId, str], target: FileId,
                  new_text: str, provider: str, token_var: str, expect: acceptance.Expectation,
                  gitlab_version: tuple[int, int] | None, off_limits: Mapping[tuple[str, str], str]
                  ) -> tuple[ConsumerChange | None, list[str]]:
    consumer = pipeline.consumer
    audience = f"https://iam.googleapis.com/{provider}"
    loaded = consumer_check.load_pipeline(pipeline, texts, errors, {target: new_text})
    if isinstance(loaded, str):
        return None, [loaded]
    order, before_maps, after_maps = loaded
    try:
        before = effective.resolve(before_maps[:-1], before_maps[-1])
        after = effective.resolve(after_maps[:-1], after_maps[-1])
    except RecursionError:
        return None, [f"consumer {consumer}: its jobs cannot be resolved (nesting too deep)"]
    _, changed = consumer_check.changed_only(before, after)
    needs = sorted(name for name, job in changed.jobs.items() if not _has_token(job, audience))
    if not needs:
        return None, []
    by_file: dict[FileId, list[str]] = {}
    for job in needs:
        where = consumer_check.defining_file(job, order, before_maps)
        if where[0] != consumer or consumer_check._same(where, target):
            return None, [f"consumer {consumer}, job {job}: copies the template's authentication but is defined in "
                          f"{consumer_check.label(where, consumer)}, not in a file of the consumer project itself"]
        if (where[0], where[1]) in off_limits:
            return None, [f"consumer {consumer}, file {where[1]}: {off_limits[(where[0], where[1])]}; it cannot also "
                          "get the ID token in a merge request of its own"]
        by_file.setdefault(where, []).append(job)
    files: list[ConsumerFile] = []
    for file, jobs in sorted(by_file.items()):
        position = order.index(file)
        included = tuple(order[:position])
        options = RewriteOptions(provider=provider, path=file[1], gitlab_version=gitlab_version,
                                 included=tuple(consumer_check._text(texts, i) or "" for i in included))
        result = add_tokens(consumer_check._text(texts, file) or "", jobs, options, token_var)
        if result.status != Status.REWRITTEN or result.text is None:
            return None, [f"consumer {consumer}, file {file[1]}: cannot add the ID token to "
                          f"{', '.join(jobs)}: {'; '.join(result.reasons)}"]
        files.append(ConsumerFile(file, result.text, result.diff, tuple(jobs), included))
    replaced = {f.id: f.new_text for f in files}
    reasons = _between(pipeline, texts, errors, replaced, audience, token_var)
    reasons += consumer_check.check(pipeline, texts, errors, target, new_text, expect, replaced)
    if reasons:
        return None, reasons
    return ConsumerChange(consumer, tuple(files), token_var), []


def _between(pipeline: ConsumerPipeline, texts: Mapping[FileId, str], errors: Mapping[FileId, str],
             replaced: Mapping[FileId, str], audience: str, token_var: str) -> list[str]:
    """The state between the merges: the consumer changes merged, the template not yet. Every job
    of the consumer's pipeline must be exactly as before, plus the unused token."""
    consumer = pipeline.consumer
    loaded = consumer_check.load_pipeline(pipeline, texts, errors, replaced)
    if isinstance(loaded, str):
        return [loaded]
    _order, before_maps, after_maps = loaded
    try:
        before = effective.resolve(before_maps[:-1], before_maps[-1])
        between = effective.resolve(after_maps[:-1], after_maps[-1])
    except RecursionError:
        return [f"consumer {consumer}: its jobs cannot be resolved (nesting too deep)"]
    return [f"consumer {consumer}, before the template's merge request: {failure}"
            for failure in harmless(before, between, audience, token_var)]


def _has_token(job: Mapping[str, Any], audience: str) -> bool:
    tokens = job.get("id_tokens")
    return isinstance(tokens, Mapping) and any(has_audience(v, audience) for v in tokens.values())


def claimed(changes: Collection[ConsumerChange], template: str) -> dict[tuple[str, str], str]:
    """The consumer files these changes edit → why another change may not edit them too."""
    return {(f.id[0], f.id[1]): f"already gets an ID token for {template}" for c in changes for f in c.files}
