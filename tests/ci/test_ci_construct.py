"""`yamlnodes.construct_nodes` builds plain strings, lists and mappings itself (bounded cost) and
must give exactly what PyYAML's constructor (`PositionLoader.construct_document`) gives: the same
values and types, `Located` strings on the same nodes with the same `item` flags, aliases as shared
objects, and the same errors."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml
from helpers.ci import dedent
from helpers.ci_growth import GROWTH
from helpers.ci_rewrite_cases import CASES

from migrate.ci import yamlnodes
from migrate.ci.yamlnodes import Located, PositionLoader, Reference, compose, construct_nodes


def reference(text: str) -> list[Any]:
    loader = PositionLoader("")
    try:
        return [loader.construct_document(root) for root in compose(text, measure=False)]
    finally:
        loader.dispose()


def same(a: Any, b: Any, pairs: dict[int, int]) -> None:
    """Equal values of equal types, Located on the same place, and the same sharing of objects."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, (dict, list)):
        assert pairs.setdefault(id(a), id(b)) == id(b), "aliasing differs"
    if isinstance(a, Located):
        assert str(a) == str(b) and a.item == b.item, (a, b)
        assert (a.node.start_mark.line, a.node.start_mark.column) == (b.node.start_mark.line, b.node.start_mark.column)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            same(key, next(k for k in b if k == key), pairs)
            same(a[key], b[key], pairs)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y, pairs)
    else:
        assert a == b


def check(text: str) -> None:
    try:
        expected = reference(text)
    except yaml.YAMLError as error:
        with pytest.raises(type(error)):
            construct_nodes(compose(text, measure=False))
        return
    same(construct_nodes(compose(text, measure=False)), expected, {})


EDGES = {
    "merges": """
        .base: &base {image: alpine, variables: {A: "1"}}
        job:
          <<: *base
          script: [echo]
          variables: {B: 2}
        """,
    "merge list": """
        .a: &a {x: 1}
        .b: &b {y: 2, x: 3}
        job: {<<: [*a, *b], script: [echo]}
        """,
    "reference": "job:\n  script:\n    - !reference [.t, script]\n    - echo\n.t:\n  script: [a, b]\n",
    "scalars": "a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: 2024-01-01\ng: '='\nh: 0x1F\n1: int key\ntrue: bool key\n",
    "explicit tags": "a: !!str 1\nb: !!binary aGVsbG8=\nc: !!timestamp 2024-01-01\nd: !!set {x, y}\ne: !!omap [{k: v}]\n",
    "shared scalar": "x: &s hello\nl1:\n  - *s\nl2: [*s]\nl3:\n  - *s\n",
    "shared list": "a: &l\n  - one\n  - two\nb: *l\nc: [*l, *l]\n",
    "duplicates": "a: 1\nb: 2\na: 3\n",
    "documents": "spec:\n  inputs: {x: {default: 1}}\n---\njob:\n  script: [echo]\n",
    "undefined tag": "job: !custom {a: 1}\n",
    "unhashable key": "? [a, b]\n: value\n",
    "flow and block": "j:\n  script: [a, [b, c], {d: e}]\n  after_script:\n    - x\n    - [y]\n",
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_cases_match_pyyaml(name: str) -> None:
    check(dedent(EDGES[name]))


@pytest.mark.parametrize("name", list(CASES))
def test_rewrite_patterns_match_pyyaml(name: str) -> None:
    before, after = CASES[name][0], CASES[name][1]
    check(dedent(before))
    if isinstance(after, str):
        check(dedent(after))


@pytest.mark.parametrize("name", sorted(GROWTH))
def test_generated_fan_out_matches_pyyaml(name: str) -> None:
    check(GROWTH[name](12))


def _random_yaml(rng: random.Random, depth: int = 0) -> str:
    """A random block/flow mix of mappings, lists, anchors and aliases, merges and tags."""
    anchors: list[str] = []

    def value(level: int, indent: str) -> str:
        choice = rng.random()
        if level > 3 or choice < 0.35:
            scalar = rng.choice(["echo hi", "1", "true", "null", "'quoted'", '"dq"', "1.5", "~", "x: y", "-"])
            if anchors and rng.random() < 0.15:
                return " *" + rng.choice(anchors)
            if rng.random() < 0.1:
                anchors.append(f"a{len(anchors)}")
                return f" &{anchors[-1]} {scalar if scalar not in ('x: y', '-') else 'plain'}"
            return " " + (scalar if scalar not in ("x: y", "-") else "'" + scalar + "'")
        if choice < 0.5:
            return " [" + ", ".join(value(level + 1, "").strip() or "''" for _ in range(rng.randint(0, 3))) + "]"
        if choice < 0.75:
            lines = "".join(f"\n{indent}  -{value(level + 1, indent + '    ')}" for _ in range(rng.randint(1, 3)))
            return lines
        body = ""
        keys = rng.sample(["script", "image", "a", "b", "c", "variables"], rng.randint(1, 4))
        for key in keys:
            body += f"\n{indent}  {key}:{value(level + 1, indent + '  ')}"
        if anchors and rng.random() < 0.2:
            body += f"\n{indent}  <<: *{rng.choice(anchors)}"
        return body

    return "".join(f"k{i}:{value(depth, '')}\n" for i in range(rng.randint(1, 6)))


@pytest.mark.parametrize("seed", range(60))
def test_generated_documents_match_pyyaml(seed: int) -> None:
    check(_random_yaml(random.Random(seed)))


def test_a_constructor_that_takes_merges_as_plain_keys_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a builder that builds `<<:` as an ordinary key is flagged."""
    monkeypatch.setattr(yamlnodes, "_PLAIN_KEY_TAGS", yamlnodes._PLAIN_KEY_TAGS | {yamlnodes.MERGE_TAG})
    with pytest.raises((AssertionError, yaml.YAMLError)):  # a wrong value, or an error PyYAML does not raise
        check(dedent(EDGES["merges"]))
    assert isinstance(Reference(), list)
