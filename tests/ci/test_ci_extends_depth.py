"""`extends` nesting depth is a property of the chain, not of the order the jobs appear in.

GitLab's authority is `lib/gitlab/ci/config/extendable/entry.rb`: every entry reached through
`extends` carries its `ancestors` (the entries that led to it), `extend!` returns a value that has
no `extends` before any check, and raises `NestingTooDeepError` when an extensible entry has more
than `MAX_NESTING_LEVELS = 10` ancestors. The merged value written back into the context keeps its
`extends` key, so a parent that was already extended is extended again — and checked again — on
every path that reaches it: the job order in the file cannot hide a chain that is too deep.

The property test compares our resolver with a literal, memo-free transcription of that algorithm
(written here, separately from `migrate/ci/effective.py`) on generated `extends` graphs in shuffled
job orders, and shows that the old memo (which forgot how deep a memoised parent's chain was) is
caught by the same comparison.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from migrate.ci import effective

GITLAB_MAX_NESTING_LEVELS = 10  # entry.rb MAX_NESTING_LEVELS


def chain_text(length: int, parents_first: bool) -> str:
    """`j0` extends `j1` ... extends `j<length>` (which has no extends); `length` extends edges."""
    lines = [f"j{i}: {{extends: j{i + 1}, variables: {{V{i}: x}}}}" for i in range(length)]
    lines.append(f"j{length}: {{script: [echo leaf]}}")
    if parents_first:
        lines.reverse()
    return "\n".join(lines) + "\n"


def too_deep(resolved: effective.Resolved) -> bool:
    return any("too deep" in problem for problem in resolved.problems)


@pytest.mark.parametrize("parents_first", [False, True])
def test_a_chain_deeper_than_gitlab_allows_is_refused_in_either_order(parents_first: bool) -> None:
    # 12 edges: j10 has 10 ancestors and is still extensible -> j11 has 11 > 10 and extends j12
    assert too_deep(effective.resolve_text(chain_text(12, parents_first)))


@pytest.mark.parametrize("parents_first", [False, True])
def test_the_deepest_chain_gitlab_accepts_is_accepted_in_either_order(parents_first: bool) -> None:
    # 11 edges: the last extensible entry (j10) has exactly 10 ancestors (docs: "as many as eleven")
    resolved = effective.resolve_text(chain_text(11, parents_first))
    assert not too_deep(resolved)
    assert resolved.jobs["j0"]["script"] == ["echo leaf"]


# -- an independent transcription of entry.rb, no memo ------------------------------------------

class GitLabTooDeep(Exception):
    pass


def gitlab_extend(context: dict[str, Any], key: str, ancestors: tuple[str, ...]) -> Any:
    """`Extendable::Entry#extend!` with `ancestors` (unknown/invalid/circular cases not generated)."""
    value = context[key]
    if not (isinstance(value, dict) and "extends" in value):
        return value
    if len(ancestors) > GITLAB_MAX_NESTING_LEVELS:
        raise GitLabTooDeep(key)
    parents = value["extends"] if isinstance(value["extends"], list) else [value["extends"]]
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = effective.deep_merge(merged, gitlab_extend(context, parent, (*ancestors, key)))
    context[key] = effective.deep_merge(merged, value)
    return context[key]


def gitlab_rejects(config: Mapping[str, Any]) -> bool:
    """Whether GitLab raises NestingTooDeepError anywhere while extending the configuration
    (`Extendable#to_hash` extends every entry in order; any error fails the whole pipeline)."""
    context = {name: dict(value) for name, value in config.items()}
    try:
        for name in list(context):
            gitlab_extend(context, name, ())
    except GitLabTooDeep:
        return True
    return False


def random_dag(rng: random.Random) -> dict[str, Any]:
    """A layered extends graph (no circles): each job extends up to three jobs of lower layers."""
    layers = rng.randint(2, 15)
    names = [f"n{i}" for i in range(layers)]
    config: dict[str, Any] = {}
    for index, name in enumerate(names):
        job: dict[str, Any] = {"variables": {name.upper(): "x"}}
        if index + 1 < layers:
            chosen = {index + 1}  # keep a spine so deep chains are common
            chosen.update(rng.sample(range(index + 1, layers), k=min(rng.randint(0, 2), layers - index - 1)))
            parents = [names[j] for j in sorted(chosen)]
            job["extends"] = parents[0] if len(parents) == 1 and rng.random() < 0.5 else parents
        else:
            job["script"] = ["echo leaf"]
        config[name] = job
    order = list(config)
    rng.shuffle(order)
    return {name: config[name] for name in order}


def ours_rejects(config: Mapping[str, Any], extend_all: Any = None) -> bool:
    problems: list[tuple[str, str]] = []
    (extend_all or effective._extend_all)(dict(config), problems)
    return any("too deep" in message for _, message in problems)


def disagreements(extend_all: Any = None, cases: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(1515)
    found = []
    for _ in range(cases):
        config = random_dag(rng)
        if ours_rejects(config, extend_all) != gitlab_rejects(config):
            found.append(config)
    return found


def test_generated_graphs_in_any_order_agree_with_gitlabs_algorithm() -> None:
    rng = random.Random(1515)
    verdicts = {gitlab_rejects(random_dag(rng)) for _ in range(400)}
    assert verdicts == {True, False}  # the generator produces both sides of the limit
    assert disagreements() == []


class _ForgetfulExtender(effective._Extender):
    """The memo before the fix: a memoised parent is returned whatever the depth of the new path."""

    def extend(self, name: str, path: tuple[str, ...]) -> Any:
        if name in self.done:
            return self.done[name]
        value = self.config.get(name)
        if not isinstance(value, dict) or "extends" not in value:
            self.done[name] = value
            return value
        if len(path) > GITLAB_MAX_NESTING_LEVELS:
            raise effective.ResolveError(f"nesting too deep in `extends` of {name}")
        base: Any = {}
        for parent in effective._extends_of(value):
            base = effective.deep_merge(base, self.extend(parent, (*path, name)))
        self.done[name] = effective.deep_merge(base, value)
        return self.done[name]


def forgetful_extend_all(config: dict[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    extender = _ForgetfulExtender(config, problems)
    for key in config:
        try:
            extender.extend(key, ())
        except effective.ResolveError as error:
            problems.append((key, str(error)))
    return config


def test_the_comparison_catches_a_memo_that_forgets_the_depth() -> None:
    assert disagreements(forgetful_extend_all)


@pytest.mark.parametrize("parents_first", [False, True])
def test_a_keyed_job_under_a_too_deep_chain_is_not_rewritten(parents_first: bool) -> None:
    from helpers.ci import run
    chain = chain_text(12, parents_first).replace(
        "j12: {script: [echo leaf]}",
        'j12: {script: [\'echo "$GCP_KEY" > k.json\', gcloud auth activate-service-account --key-file k.json,'
        ' gcloud storage ls]}')
    result = run(chain)
    assert result.status == "manual"
    assert any("too deep" in reason for reason in result.reasons), result.reasons
