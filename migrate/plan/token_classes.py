"""Equivalence classes of ID tokens for the who-can-impersonate simulation (issue 18).

The simulation asks, for tens of thousands of concrete tokens, what the provider's attribute
mapping and condition make of each, and which binding member admits the result. Evaluating every
CEL program on every token with cel-python costs ~1 ms per program: minutes for a large
organisation. But a program's answer depends on few of the token's claims, and on most of them
only by copying the value into its output. So each program is read once (its cel-python AST) to
learn, per claim, whether it is

- *inspected*: compared, tested for presence, passed to a function, used as a ternary condition,
  indexed … — the answer may depend on the value, so the value is part of the class key; or
- *copied*: it only flows through string concatenation (`+`) and ternary branches into the
  result — the program is evaluated once with a unique marker string in its place, and the
  token's own value is substituted for the marker afterwards (exact for strings: `+` on strings
  is concatenation, which commutes with substitution).

A program is then evaluated with cel-python once per class (tokens with equal inspected values and
the same claims present), and the answer for every other token of the class is the class's
template with that token's values substituted. Anything the analysis does not understand (a bare
`assertion`, a non-string claim, a literal containing the marker, an evaluation error) falls back
to evaluating that token exactly, so the answers are always the ones per-token evaluation gives;
`tests/plan/test_token_classes.py` compares the two on the demo organisation and a generated one.

`MemberIndex` parses each binding member once and answers "the first member that admits these
mapped attributes" with dictionary look-ups instead of parsing every member for every token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import celpy
from lark import Token, Tree

from migrate.plan.federation_design import parse_member

MARK = "\x00wif-claim:"  # markers are MARK + claim name + "\x00"
_MARK_RE = re.compile(r"\x00wif-claim:([^\x00]*)\x00")

# Wrapper rules with one child that pass their child's value through unchanged.
_WRAPPERS = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
                       "unary", "member", "primary", "paren_expr"})
ALL = "*"  # reads: every claim (a bare `assertion` was used)


@dataclass(frozen=True)
class Reads:
    """What one CEL expression reads of `assertion`. `inspected` ⊆ `claims`; `ALL` in claims:
    the whole assertion (no class sharing: exact evaluation). `other_idents`: identifiers other
    than `assertion` (the condition's `attribute`, `google`)."""

    claims: frozenset[str]
    inspected: frozenset[str]
    other_idents: frozenset[str]


def analyse(ast: Tree, value_root: bool = True) -> Reads:
    """Which claims `ast` reads and which of them it inspects (see the module docstring)."""
    claims: set[str] = set()
    inspected: set[str] = set()
    idents: set[str] = set()

    def unwrap(node: Any) -> Any:
        while isinstance(node, Tree) and node.data in _WRAPPERS and len(node.children) == 1:
            node = node.children[0]
        return node

    def ident_of(node: Any) -> str | None:
        node = unwrap(node)
        if isinstance(node, Tree) and node.data == "ident" and node.children:
            return str(node.children[0])
        return None

    def key_literal(node: Any) -> str | None:
        node = unwrap(node)
        if isinstance(node, Tree) and node.data == "literal" and node.children:
            m = re.fullmatch(r"\"([A-Za-z0-9_]+)\"|'([A-Za-z0-9_]+)'", str(node.children[0]))
            if m:
                return m.group(1) or m.group(2)
        return None

    def walk(node: Any, vp: bool) -> None:
        if not isinstance(node, Tree):
            return
        kind = node.data
        kids = node.children
        if kind == "member_dot" and len(kids) == 2 and ident_of(kids[0]) == "assertion":
            name = str(kids[1])
            claims.add(name)
            if not vp:
                inspected.add(name)
            return
        if kind == "relation" and len(kids) == 2 and isinstance(kids[0], Tree) \
                and kids[0].data == "relation_in" and ident_of(kids[1]) == "assertion":
            present = key_literal(kids[0].children[0]) if kids[0].children else None
            if present is not None:  # `"claim" in assertion`: presence, which every class key holds
                claims.add(present)
                return
        if kind == "ident":
            name = str(kids[0]) if kids else ""
            if name == "assertion":  # anywhere but as the base of `.field`: depends on everything
                claims.add(ALL)
                inspected.add(ALL)
            else:
                idents.add(name)
            return
        if kind == "literal":
            if kids and isinstance(kids[0], Token) and "\x00" in str(kids[0]):
                claims.add(ALL)
                inspected.add(ALL)
            return
        if kind in _WRAPPERS and len(kids) == 1:
            walk(kids[0], vp)
        elif kind == "expr" and len(kids) == 3:  # cond ? then : else
            walk(kids[0], False)
            walk(kids[1], vp)
            walk(kids[2], vp)
        elif kind == "addition" and len(kids) == 2 and isinstance(kids[0], Tree) \
                and kids[0].data == "addition_add":
            for k in kids[0].children:
                walk(k, vp)
            walk(kids[1], vp)
        else:
            for k in kids:
                walk(k, False)

    walk(ast, value_root)
    return Reads(frozenset(claims), frozenset(inspected), frozenset(idents))


class ClassProgram:
    """One compiled CEL program evaluated once per class of tokens (see the module docstring)."""

    def __init__(self, env: celpy.Environment, source: str, value_root: bool = True) -> None:
        ast = env.compile(source)
        self.program = env.program(ast)
        self.reads = analyse(ast, value_root)
        self.exact = ALL in self.reads.claims
        self._claims = tuple(sorted(self.reads.claims))
        self._copied = tuple(c for c in self._claims if c not in self.reads.inspected)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def evaluate(self, claims: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Any:
        """The program's value on `claims` (plain Python), exactly as cel-python computes it.
        `extra`: other activation entries (the condition's `attribute`, `google`); when the program
        reads them the answer is computed exactly. Raises what cel-python raises."""
        if self.exact or self.reads.other_idents or any(
                c in claims and not isinstance(claims[c], str) for c in self._copied):
            return self._exact(claims, extra)
        key = tuple(claims.get(c) if c in self.reads.inspected else (c in claims) for c in self._claims)
        try:
            hit = self._cache.get(key, _MISSING)
        except TypeError:  # an unhashable inspected value: exactly
            return self._exact(claims, extra)
        if hit is _MISSING:
            marked = {k: (f"{MARK}{k}\x00" if k in self._copied else v) for k, v in claims.items()
                      if k in self.reads.claims}
            try:
                hit = self._exact(marked, extra)
            except Exception:  # noqa: BLE001 - the marker run failed: this token exactly, no sharing
                hit = _ERROR
            if hit is not _ERROR and not _substitutable(hit):
                hit = _ERROR
            self._cache[key] = hit
        if hit is _ERROR:
            return self._exact(claims, extra)
        return _substitute(hit, claims)

    def _exact(self, claims: Mapping[str, Any], extra: Mapping[str, Any] | None) -> Any:
        activation: dict[str, Any] = {"assertion": celpy.json_to_cel(dict(claims))}
        if extra:
            activation.update(extra)
        return plain(self.program.evaluate(activation))


_MISSING = object()
_ERROR = object()


def plain(value: Any) -> Any:
    """cel-python values → plain Python (str, bool, lists of them; others as returned)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _substitutable(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(_substitutable(v) for v in value)
    # bool/int/…: a marker can only have reached it through an inspection, which the analysis
    # would have caught; a value with no string in it is the same for the whole class.
    return not isinstance(value, (dict, tuple))


def substitute(value: Any, claims: Mapping[str, Any]) -> Any:
    """A template value (string or list of strings with markers) with the token's values."""
    return _substitute(value, claims)


def _substitute(value: Any, claims: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if "\x00" not in value:
            return value
        return _MARK_RE.sub(lambda m: str(claims[m.group(1)]), value)
    if isinstance(value, list):
        return [_substitute(v, claims) for v in value]
    return value


@dataclass(frozen=True)
class _Parsed:
    position: int
    text: str
    kind: str
    name: str
    value: str


class MemberIndex:
    """The members of one binding, parsed once, indexed for "the first member that admits".

    Same answer as trying each member in order (`impersonation.members_admit`): a pool member
    admits every accepted token; a subject member one subject; an attribute member one value of
    one attribute (a list-valued attribute: any element)."""

    def __init__(self, pool: str, members: Iterable[str]) -> None:
        self.pool_member: str | None = None
        pool_pos = -1
        self.subjects: dict[str, tuple[int, str]] = {}
        self.attributes: dict[str, dict[str, tuple[int, str]]] = {}
        for pos, text in enumerate(members):
            p = parse_member(text)
            if p.kind == "other" or p.pool != pool:
                continue
            if p.kind == "pool" and self.pool_member is None:
                self.pool_member, pool_pos = text, pos
            elif p.kind == "subject":
                self.subjects.setdefault(p.value, (pos, text))
            elif p.kind == "attribute":
                self.attributes.setdefault(p.name, {}).setdefault(p.value, (pos, text))
        self.pool_pos = pool_pos
        self.empty = self.pool_member is None and not self.subjects and not self.attributes

    def first(self, subject: str | None, attributes: Mapping[str, Any]) -> str | None:
        """The first member (in binding order) admitting an accepted token with these values."""
        if self.empty:
            return None
        best: tuple[int, str] | None = None
        if self.pool_member is not None:
            best = (self.pool_pos, self.pool_member)
        if subject is not None and subject in self.subjects:
            hit = self.subjects[subject]
            best = hit if best is None or hit[0] < best[0] else best
        for name, by_value in self.attributes.items():
            if name not in attributes:
                continue
            value = attributes[name]
            values = value if isinstance(value, list) else [value]
            for v in values:
                if v is None:
                    continue
                found = by_value.get(str(v))
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
        return best[1] if best is not None else None


def member_indexes(pool: str, bindings: Mapping[str, Sequence[str]]) -> dict[str, MemberIndex]:
    return {sa: MemberIndex(pool, members) for sa, members in bindings.items()}


class BindingsIndex:
    """Every binding's members in one index, so one look-up per mapped attribute tells which
    service accounts admit a token, and by which member (the first in that binding's order) —
    instead of asking each binding about each token."""

    def __init__(self, pool: str, bindings: Mapping[str, Sequence[str]]) -> None:
        self.pool_members: dict[str, tuple[int, str]] = {}
        self.subjects: dict[str, dict[str, tuple[int, str]]] = {}
        self.attributes: dict[str, dict[str, dict[str, tuple[int, str]]]] = {}
        for sa, members in bindings.items():
            index = MemberIndex(pool, members)
            if index.pool_member is not None:
                self.pool_members[sa] = (index.pool_pos, index.pool_member)
            for value, hit in index.subjects.items():
                self.subjects.setdefault(value, {})[sa] = hit
            for name, by_value in index.attributes.items():
                target = self.attributes.setdefault(name, {})
                for value, hit in by_value.items():
                    target.setdefault(value, {})[sa] = hit

    def admitting(self, subject: str | None, attributes: Mapping[str, Any]) -> dict[str, str]:
        """Service account → the first member of its binding admitting an accepted token."""
        best: dict[str, tuple[int, str]] = dict(self.pool_members)

        def offer(hits: Mapping[str, tuple[int, str]]) -> None:
            for sa, hit in hits.items():
                old = best.get(sa)
                if old is None or hit[0] < old[0]:
                    best[sa] = hit

        if subject is not None and subject in self.subjects:
            offer(self.subjects[subject])
        for name, by_value in self.attributes.items():
            if name not in attributes:
                continue
            value = attributes[name]
            for v in value if isinstance(value, list) else [value]:
                if v is not None and str(v) in by_value:
                    offer(by_value[str(v)])
        return {sa: hit[1] for sa, hit in best.items()}
