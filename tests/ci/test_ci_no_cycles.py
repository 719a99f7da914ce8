"""Bounded cost: analyzing or rewriting a file leaves no reference cycles behind.

`limits.paused_gc` holds the cyclic collector while a file is worked on, on the promise that
reference counting frees everything. A cycle that reaches the constructed documents (a recursive
closure over the configuration, say) keeps the whole node graph of a 1 MiB file alive until the
collector runs again, and that collection alone cost ~0.3 s of the 2 s budget. Counted, not timed."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers.ci import dedent
from helpers.ci_growth import GROWTH, worst
from helpers.ci_rewrite_cases import CASES

from migrate.ci import analyze, effective


def _cyclic_garbage(work: Callable[[], Any]) -> int:
    """Objects that only the cyclic collector would free after `work()`."""
    work()  # caches (schema, memoised lexing) are not garbage
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        work()
        return gc.collect()
    finally:
        if was:
            gc.enable()


def _files() -> Iterator[tuple[str, str]]:
    for name, builder in sorted(GROWTH.items()):
        yield name, builder(30)
    for name in list(CASES)[:8]:
        yield name, dedent(CASES[name][0])


@pytest.mark.parametrize(("name", "text"), list(_files()), ids=[name for name, _ in _files()])
def test_analyze_and_rewrite_leave_no_cycles(name: str, text: str) -> None:
    assert _cyclic_garbage(lambda: analyze(text)) == 0, name
    assert _cyclic_garbage(lambda: worst.rewrite(text, worst.OPTIONS)) == 0, name


def test_a_recursive_closure_over_the_configuration_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: an `_ancestry` whose recursive helper keeps itself (and the config)
    alive, as the resolver's closures did, leaves cyclic garbage."""
    real = effective._ancestry

    def leaky(config):  # type: ignore[no-untyped-def]
        def visit(depth: int) -> Any:
            return config if depth == 0 else visit(depth - 1)

        visit(1)
        return real(config)

    monkeypatch.setattr(effective, "_ancestry", leaky)
    text = GROWTH["extends_chain"](30)
    assert _cyclic_garbage(lambda: worst.rewrite(text, worst.OPTIONS)) > 0
