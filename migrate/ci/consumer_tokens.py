"""The consumer side of a shared template's rewrite (issue 21): a consumer job that copies the
template's authentication with `!reference [.tpl, script]` gets no `id_tokens` from the template
(only `extends` merges them), so the consumer's own file must give that job the provider token
where the copy lands. This change is only an added ID token, harmless before the template's own
merge request is merged: so consumer changes go first, the template's last, and nothing breaks in
between (`order`).

`add_tokens` writes that change for one consumer file and checks it with the independent
effective-job comparison (written here, apart from the token placement): the same jobs, every keyword and command
unchanged, every token a job had kept, the one new token carrying the provider audience, and each
named job really receiving it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import yaml

from migrate.ci import effective, emit, limits
from migrate.ci.detect import build
from migrate.ci.rewrite import Manual, RewriteOptions, RewriteResult
from migrate.ci.tokens import TokenPlan, place_tokens
from migrate.ci.yamlnodes import compose
from migrate.core.outcome import Status


def add_tokens(text: str, jobs: Iterable[str], options: RewriteOptions, token_var: str = "GCP_ID_TOKEN"
               ) -> RewriteResult:
    """`text` with the provider ID token (named `token_var`, as the template's rewrite reads it)
    added where each of `jobs` will see it; manual with the reason when that cannot be proven."""
    wanted = sorted(set(jobs))
    if not wanted:
        return RewriteResult(Status.UNCHANGED, None, ("no consumer job needs the ID token",), "")
    if not emit.PROVIDER_RE.match(options.provider):
        return RewriteResult(Status.MANUAL, None, ("provider must be projects/NUMBER/locations/global/"
                                                   "workloadIdentityPools/POOL/providers/PROVIDER",), "")
    try:
        limits.check_text(text)
        doc = build(text, compose(text))
    except (limits.InputRefused, yaml.YAMLError) as error:
        return RewriteResult(Status.MANUAL, None, (f"consumer file cannot be read: {' '.join(str(error).split())[:160]}",),
                             "")
    missing = [job for job in wanted if doc.pipe.job(job) is None]
    if missing:
        return RewriteResult(Status.MANUAL, None, (f"job {missing[0]} is not defined in this file",), "")
    newline = "\r\n" if text.count("\r\n") > text.count("\n") / 2 else "\n"
    try:
        edits = place_tokens(TokenPlan(doc, "id_tokens", token_var, options), set(wanted), False)
    except Manual as error:
        return RewriteResult(Status.MANUAL, None, tuple(str(error).split("\n")), "")
    new_text = emit.splice(doc.lines, edits, newline)
    failures = verify(text, new_text, wanted, options, token_var)
    if failures:
        return RewriteResult(Status.MANUAL, None, tuple(f"self-check: {failure}" for failure in failures), "")
    return RewriteResult(Status.REWRITTEN, new_text, (f"adds the ID token {token_var} to {', '.join(wanted)}",),
                         emit.unified_diff(doc.lines, edits, newline, options.path))


def verify(before: str, after: str, jobs: Sequence[str], options: RewriteOptions, token_var: str) -> list[str]:
    """Independent check of a consumer change: nothing but the ID token differs, and it arrives."""
    audience = f"https://iam.googleapis.com/{options.provider}"
    try:
        old = effective.resolve_text(before, options.included)
        new = effective.resolve_text(after, options.included)
    except (yaml.YAMLError, limits.InputRefused, RecursionError) as error:
        return [f"the jobs cannot be resolved: {' '.join(str(error).split())[:120]}"]
    return harmless(old, new, audience, token_var, jobs)


def harmless(old: effective.Resolved, new: effective.Resolved, audience: str, token_var: str,
             jobs: Sequence[str] = ()) -> list[str]:
    """Reasons `new` is more than `old` plus the provider ID token `token_var` (empty: it is just
    that, and each of `jobs` receives it). Used on one consumer file, and by the planner on a
    consumer's whole pipeline before the template's change lands (the state between the merges)."""
    failures: list[str] = []
    if set(old.jobs) != set(new.jobs) or set(old.hidden) != set(new.hidden):
        failures.append("the set of jobs changed")
    if dict(old.globals) != dict(new.globals):
        failures.append("a top-level keyword changed")
    for name in sorted(set(old.jobs) | set(old.hidden)):
        before_job = dict(old.jobs.get(name) or old.hidden.get(name) or {})
        after_job = dict(new.jobs.get(name) or new.hidden.get(name) or {})
        tokens_before = before_job.pop("id_tokens", None) or {}
        tokens_after = after_job.pop("id_tokens", None) or {}
        if before_job != after_job:
            failures.append(f"job {name}: more than its ID tokens changed")
        if not isinstance(tokens_before, dict) or not isinstance(tokens_after, dict):
            if tokens_before != tokens_after:
                failures.append(f"job {name}: id_tokens changed form")
            continue
        lost = sorted(key for key, value in tokens_before.items() if tokens_after.get(key) != value)
        added = {key: value for key, value in tokens_after.items() if key not in tokens_before}
        if lost:
            failures.append(f"job {name}: ID token(s) {', '.join(lost)} lost or changed")
        if any(key != token_var or not has_audience(value, audience) for key, value in added.items()):
            failures.append(f"job {name}: a new ID token other than {token_var} with the provider audience")
    for job in jobs:
        resolved = new.jobs.get(job) or new.hidden.get(job) or {}
        tokens = resolved.get("id_tokens")
        if not (isinstance(tokens, dict) and has_audience(tokens.get(token_var), audience)):
            failures.append(f"job {job} does not receive {token_var} with the provider audience")
    return failures


def has_audience(token: object, audience: str) -> bool:
    """The token (an `id_tokens` entry) is for `audience`."""
    aud = token.get("aud") if isinstance(token, dict) else None
    return aud == audience or (isinstance(aud, list) and audience in aud)


def order(template_action: str, consumer_actions: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Dependencies so nothing breaks in between: every consumer change (an added token, harmless
    alone) before the template's change (which makes the copied script read the token)."""
    return {template_action: tuple(sorted(consumer_actions)), **{action: () for action in consumer_actions}}
