"""One command imports one verb's module (issue 15 item 4: `ci analyze` / `ci rewrite` within 2 s on
one core — loading every verb, with the planner, the scan runner and CEL, cost about 0.3 s of it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrate.cli.verbs import VERBS, build_parser, requested_verb


@pytest.mark.parametrize("argv, verb", [
    (["ci", "analyze", "f.yml"], "ci"),
    (["-v", "scan"], "scan"),
    (["-vv", "--verbose", "plan", "--out", "x"], "plan"),
    (["--config", "ci", "scan"], "scan"),          # the config file's name is not the verb
    (["-c", "scan", "ci", "rewrite"], "ci"),
    (["--config=scan", "report"], "report"),
    (["-cscan", "keys", "retire"], "keys"),
    (["--help"], None),
    (["--version"], None),
    (["nonsense"], None),
    ([], None),
])
def test_the_verb_is_found_before_any_verb_module_is_imported(argv: list[str], verb: str | None) -> None:
    assert requested_verb(argv) == verb


def test_every_verb_is_still_registered_when_none_is_named() -> None:
    choices = next(a for a in build_parser()._actions if a.dest == "verb").choices
    assert choices is not None and set(choices) == {v for v, _ in VERBS}
    only = next(a for a in build_parser("ci")._actions if a.dest == "verb").choices
    assert only is not None and set(only) == {"ci"}


def _imported_after(argv: list[str], tmp_path: Path) -> set[str]:
    code = (f"import sys; from migrate.cli.verbs import main; main({argv!r}); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('migrate.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    return set(out.stdout.split())


def test_ci_analyze_does_not_load_the_other_stages(tmp_path: Path) -> None:
    ci_file = tmp_path / "ci.yml"
    ci_file.write_text("job:\n  script: [echo hi]\n")
    loaded = _imported_after(["ci", "analyze", str(ci_file), "--format", "json"], tmp_path)
    assert "migrate.cli.ci" in loaded
    assert not loaded & {"migrate.plan.planner", "migrate.scan.runner", "migrate.cli.plan", "migrate.cli.scan",
                         "migrate.cli.demo"}, sorted(loaded)


def test_a_config_option_before_the_verb_still_parses() -> None:
    args = build_parser(requested_verb(["-c", "x.yaml", "ci", "analyze", "f"])).parse_args(
        ["-c", "x.yaml", "ci", "analyze", "f"])
    assert args.verb == "ci" and args.config == "x.yaml"


def test_a_broken_finder_is_caught() -> None:
    """The finder that takes the first word as the verb gets `--config ci scan` wrong."""
    def first_word(argv: list[str]) -> str | None:
        return next((t for t in argv if not t.startswith("-")), None)
    assert first_word(["--config", "ci", "scan"]) != requested_verb(["--config", "ci", "scan"])
