"""Which jobs a sandbox pipeline creates: `rules:`, `only:`/`except:`, `when:`, `workflow:rules`.

GitLab decides per job, at pipeline creation, whether the job exists and how it runs. The sandbox
interprets the subset the demo org and the real-world corpus use:

- `rules:` — first matching rule wins; `if:` expressions with `$VAR`, `${VAR}`, string literals,
  `null`, `==`, `!=`, `=~ /re/`, `!~ /re/`, `&&`, `||`, `!`-less parentheses; `exists:` (files at the
  pipeline's commit, glob patterns); `changes:` is always true (GitLab also treats it as true for
  pipelines that are not push/MR pipelines, and the sandbox keeps no diffs); `when:` on the rule.
  No matching rule → the job is not created.
- `only:`/`except:` — keyword refs (branches, tags, api, pushes, merge_requests, web, schedules,
  triggers, pipelines, external), branch/tag names and `/regex/`; the hash form with `refs:` and
  `variables:` (expressions as above). Default `only: [branches, tags]`.
- `when:` on the job: on_success (default), manual, always, on_failure, delayed (run), never.

Not interpreted: `rules:needs`, `rules:variables` beyond setting them, `changes: compare_to`,
`only: kubernetes`, `workflow:auto_cancel`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# GitLab pipeline sources that `only:` keywords name (docs: only/except keywords).
_ONLY_SOURCES = {"api": "api", "pushes": "push", "merge_requests": "merge_request_event",
                 "web": "web", "schedules": "schedule", "triggers": "trigger",
                 "pipelines": "pipeline", "external": "external", "chat": "chat"}


class RuleSyntaxError(ValueError):
    """An `if:` expression the sandbox cannot parse (reported in the job's trace)."""


@dataclass(frozen=True)
class RuleDecision:
    """Whether a job is created and how it runs. `when` is None when the job is not created."""

    when: str | None
    reason: str
    allow_failure: bool | None = None
    variables: Mapping[str, str] | None = None


# --- `if:` expressions -------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<op>==|!=|=~|!~|&&|\|\||\(|\))
    | (?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<re>/(?:[^/\\]|\\.)*/[a-z]*)
    | (?P<null>null\b)
    )""", re.VERBOSE)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            raise RuleSyntaxError(f"cannot parse rule expression at {expr[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, expr: str, env: Mapping[str, str]) -> None:
        self.toks = _tokens(expr)
        self.i = 0
        self.env = env

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise RuleSyntaxError("unexpected end of rule expression")
        self.i += 1
        return tok

    def parse(self) -> bool:
        value = self.or_()
        if self.peek() is not None:
            raise RuleSyntaxError(f"unexpected {self.peek()[1]!r} in rule expression")  # type: ignore[index]
        return value

    def or_(self) -> bool:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> bool:
        value = self.atom()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.atom()
            value = value and right
        return value

    def atom(self) -> bool:
        if self.peek() == ("op", "("):
            self.take()
            value = self.or_()
            if self.take() != ("op", ")"):
                raise RuleSyntaxError("missing ')' in rule expression")
            return value
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ("==", "!=", "=~", "!~"):
            op = self.take()[1]
            kind, raw = self.take()
            if op in ("=~", "!~"):
                right_re = raw if kind == "re" else self.value(kind, raw)
                matched = _regex_match(right_re, left)
                return matched if op == "=~" else not matched
            right = self.value(kind, raw)
            return (left == right) if op == "==" else (left != right)
        return bool(left)

    def operand(self) -> str | None:
        kind, raw = self.take()
        return self.value(kind, raw)

    def value(self, kind: str, raw: str) -> str | None:
        if kind == "var":
            return self.env.get(raw.strip("${}"))
        if kind == "str":
            return raw[1:-1]
        if kind == "null":
            return None
        if kind == "re":
            return raw
        raise RuleSyntaxError(f"unexpected {raw!r} in rule expression")


def _regex_match(pattern: str | None, value: str | None) -> bool:
    if pattern is None or value is None:
        return False
    m = re.fullmatch(r"/(.*)/([a-z]*)", pattern, re.S)
    if m is None:
        return False
    flags = re.I if "i" in m.group(2) else 0
    return re.search(m.group(1), value, flags) is not None


def evaluate_if(expr: str, env: Mapping[str, str]) -> bool:
    """Evaluate a GitLab `rules:if` / `only:variables` expression against the job's variables."""
    return _Parser(str(expr), env).parse()


# --- rules, only/except ---------------------------------------------------------------------

FileExists = Callable[[str], bool]


def _exists(patterns: Any, file_exists: FileExists) -> bool:
    if isinstance(patterns, Mapping):
        patterns = patterns.get("paths") or []
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(file_exists(str(p)) for p in patterns)


def evaluate_rules(rules: Any, env: Mapping[str, str], file_exists: FileExists,
                   default_when: str = "on_success") -> RuleDecision:
    """`rules:` of a job (or `workflow:`): the first rule whose clauses all match decides."""
    if not isinstance(rules, list):
        return RuleDecision(None, "rules: is not a list")
    for n, rule in enumerate(rules, 1):
        if not isinstance(rule, Mapping):
            continue
        if "if" in rule and not evaluate_if(str(rule["if"]), env):
            continue
        if "exists" in rule and not _exists(rule["exists"], file_exists):
            continue
        when = str(rule.get("when") or default_when)
        variables = {str(k): str(v) for k, v in (rule.get("variables") or {}).items()}
        cond = f"if: {rule['if']}" if "if" in rule else "(no condition)"
        return RuleDecision(None if when == "never" else when, f"rule {n} matched ({cond}), when: {when}",
                        rule.get("allow_failure"), variables or None)
    return RuleDecision(None, "no rule matched")


def _ref_matches(item: str, ref: str, ref_type: str, source: str) -> bool:
    if item == "branches":
        return ref_type == "branch"
    if item == "tags":
        return ref_type == "tag"
    if item in _ONLY_SOURCES:
        return source == _ONLY_SOURCES[item]
    if item.startswith("/") and item.rstrip("i").endswith("/") and len(item) > 1:
        return _regex_match(item, ref)
    if "@" in item:  # `main@group/project`: the project part is not checked by the sandbox
        item = item.split("@", 1)[0]
    return fnmatch.fnmatchcase(ref, item) if any(c in item for c in "*?[") else ref == item


def _refs_clause(spec: Any) -> tuple[list[str] | None, list[str]]:
    """(refs, variable expressions) of an only/except value (list or hash form)."""
    if isinstance(spec, str):
        return [spec], []
    if isinstance(spec, list):
        return [str(s) for s in spec], []
    if isinstance(spec, Mapping):
        refs = spec.get("refs")
        return ([str(r) for r in refs] if isinstance(refs, list) else [str(refs)] if refs else None,
                [str(v) for v in spec.get("variables") or []])
    return None, []


def evaluate_only_except(job: Mapping[str, Any], env: Mapping[str, str], ref: str, ref_type: str,
                         source: str) -> RuleDecision:
    when = str(job.get("when") or "on_success")
    if "only" in job:
        refs, exprs = _refs_clause(job["only"])
        if refs is not None and not any(_ref_matches(r, ref, ref_type, source) for r in refs):
            return RuleDecision(None, f"only: {refs} does not match {ref_type} {ref} ({source})")
        if exprs and not any(evaluate_if(e, env) for e in exprs):
            return RuleDecision(None, "only: variables did not match")
    elif ref_type not in ("branch", "tag"):
        return RuleDecision(None, "default only: [branches, tags] does not match")
    if "except" in job:
        refs, exprs = _refs_clause(job["except"])
        if refs and any(_ref_matches(r, ref, ref_type, source) for r in refs):
            return RuleDecision(None, f"except: {refs} matches {ref_type} {ref}")
        if exprs and any(evaluate_if(e, env) for e in exprs):
            return RuleDecision(None, "except: variables matched")
    return RuleDecision(None if when == "never" else when, f"when: {when}")


def decide(job: Mapping[str, Any], env: Mapping[str, str], ref: str, ref_type: str, source: str,
           file_exists: FileExists) -> RuleDecision:
    """Whether (and how) `job` is part of a pipeline for `ref` started by `source`."""
    if "rules" in job:
        return evaluate_rules(job["rules"], env, file_exists, str(job.get("when") or "on_success"))
    return evaluate_only_except(job, env, ref, ref_type, source)


def workflow_allows(workflow: Any, env: Mapping[str, str], file_exists: FileExists) -> RuleDecision:
    """`workflow:rules`: no rule matching (or `when: never`) means no pipeline at all."""
    if not isinstance(workflow, Mapping) or "rules" not in workflow:
        return RuleDecision("always", "no workflow rules")
    return evaluate_rules(workflow["rules"], env, file_exists, "always")


def glob_exists(paths: list[str]) -> FileExists:
    """A FileExists over a list of repository paths (GitLab `exists:` uses fnmatch-style globs)."""
    def check(pattern: str) -> bool:
        pattern = pattern.lstrip("/")
        return any(fnmatch.fnmatchcase(p, pattern) for p in paths)
    return check
