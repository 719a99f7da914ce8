"""The "activation follows the key write" scan (`rewrite._gcloud_eligible`) is one pass per job and
answers exactly what the per-write forward scan it replaced answered (that scan was quadratic: a
1 MiB script of key reads took 108 s)."""

from __future__ import annotations

import importlib
import random

import pytest
from helpers.ci_growth import GROWTH, grows_linearly

from migrate.ci.detect import Document, Step, build, enter, resolve
from migrate.ci.yamlnodes import compose

rw = importlib.import_module("migrate.ci.rewrite")  # (`migrate.ci.rewrite` the name is the function)


def per_write_scan(doc: Document) -> set[tuple[int, int, str]]:
    """The former implementation: from every key write, scan forward to the job's end."""
    verdict: dict[tuple[int, int, str], bool] = {}
    for context in doc.contexts:
        env = dict(context.env)
        steps = context.steps
        for index, step in enumerate(steps):
            enter(step, env)
            command = step.command
            if command is None:
                continue
            if command.kind == "assign" and command.name:
                env[command.name] = resolve(command.value or "", env)
            if command.kind != "write" or command.var not in doc.key_vars or not command.path:
                continue
            target = resolve(command.path, env)
            ok = _follows(steps[index + 1:], target, dict(env), step.phase)
            verdict[step.unit.key] = verdict.get(step.unit.key, True) and ok
    return {key for key, ok in verdict.items() if ok}


def _follows(steps: list[Step], target: str, env: dict[str, str], phase: str) -> bool:
    for step in steps:
        enter(step, env)
        command = step.command
        if command is None or step.phase != phase:
            return False
        if command.kind == "assign" and command.name:
            env[command.name] = resolve(command.value or "", env)
            continue
        if command.kind == "activate":
            return bool(command.path) and resolve(command.path or "", env) == target and not command.unknown
        if any(stage.name in ("cd", "pushd", "popd") for stage in command.segment.stages):
            return False
        if any(resolve(word, env) == target for stage in command.segment.stages for word in stage.words):
            return False
    return False


LINES = ['echo "$KEY" > key.json', 'echo "$KEY" > other.json', 'echo "$OTHER_KEY" > key.json',
         "gcloud auth activate-service-account --key-file key.json",
         "gcloud auth activate-service-account --key-file other.json",
         "gcloud auth activate-service-account --key-file $F", "F=key.json", "F=other.json", "cd sub",
         "cat key.json", "make", "echo done", "if then (", 'export X="$(cat other.json)"',
         "gcloud auth activate-service-account --key-file=key.json && gcloud info"]


def _job(rng: random.Random, name: str) -> str:
    text = f"{name}:\n"
    for keyword in ("before_script", "script", "after_script"):
        if rng.random() < 0.6:
            text += f"  {keyword}:\n" + "".join(f"    - {rng.choice(LINES)!r}\n" for _ in range(rng.randint(1, 6)))
    return text if text.count("\n") > 1 else text + "  script:\n    - make\n"


@pytest.mark.parametrize("seed", range(80))
def test_one_pass_answers_what_the_per_write_scan_answered(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(_job(rng, f"j{i}") for i in range(rng.randint(1, 3)))
    doc = build(text, compose(text), {"KEY", "OTHER_KEY"})
    assert rw._gcloud_eligible(doc) == per_write_scan(doc), text


def test_the_per_write_scan_is_caught_by_the_growth_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The linear-growth test of tests/ci/test_ci_cost.py fails with the former (quadratic) scan."""
    monkeypatch.setattr(rw, "_gcloud_eligible", per_write_scan)
    # CPU time, cheapest of two runs per size; a load spike that inflates the small size's CPU can
    # still hide the growth once (it flaked once under a loaded CI), so three attempts: the variant
    # is caught when any one of them fails the linear bound — what `grows_linearly` itself checks.
    caught = 0
    for _attempt in range(3):
        try:
            grows_linearly("key_reads", 400, 1600, runs=2)
        except AssertionError:
            caught += 1
            break
    assert caught, "the quadratic scan passed the linear-growth test three times"


def test_key_reads_grow_linearly() -> None:
    assert "key_reads" in GROWTH
    grows_linearly("key_reads", 400, 1600)
