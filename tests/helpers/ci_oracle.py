"""The effective-job oracle the rewrite tests share: `oracle(before, after)` lists what a rewrite
broke, judged by the independent comparison in migrate.ci.acceptance (written apart from the
rewriter) on the jobs as GitLab resolves them; an empty list is a rewrite that keeps every job
working."""

from __future__ import annotations

from helpers.ci import AUD, SA
from migrate.ci import acceptance, analyze, effective


def oracle(before: str, after: str) -> list[str]:
    """The independent comparison (migrate.ci.acceptance, written apart from the rewriter)."""
    keys = frozenset(analyze(before).key_variables)
    expect = acceptance.Expectation(keys, AUD, "id_tokens", lambda job, var: SA)
    return acceptance.compare(effective.resolve_text(before), effective.resolve_text(after), expect)
