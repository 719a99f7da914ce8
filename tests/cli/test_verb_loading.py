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


HEAVY = {"check_jsonschema", "click", "requests", "ruamel.yaml", "tabulate", "migrate.core.state",
         "migrate.core.config", "sqlite3"}


def _all_imported(argv: list[str], tmp_path: Path, before: str = "") -> set[str]:
    code = (f"import sys; {before}from migrate.cli.verbs import main; main({argv!r}); "
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    return set(out.stderr.split())


def _keyed_rewrite(tmp_path: Path) -> list[str]:
    ci_file = tmp_path / "ci.yml"
    ci_file.write_text('deploy:\n  script:\n    - echo "$KEY" > k.json\n'
                       "    - gcloud auth activate-service-account --key-file k.json\n")
    return ["ci", "rewrite", str(ci_file), "--provider",
            "projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
            "--service-account", "sa@p.iam.gserviceaccount.com", "-o", str(tmp_path / "out.yml"), "--format", "json"]


def test_ci_rewrite_loads_neither_the_state_nor_the_schema_packages_cli(tmp_path: Path) -> None:
    """The self-check validates against the schema check-jsonschema vendors, read from its files:
    importing the package would import its command line (click, requests, ruamel.yaml), and a
    verb that needs no configuration or state loads neither (about 0.1 s of the 2 s, together)."""
    argv = _keyed_rewrite(tmp_path)
    loaded = _all_imported(argv, tmp_path)
    assert "migrate.ci.selfcheck" in loaded and "jsonschema" in loaded  # the self-check ran
    assert (tmp_path / "out.yml").exists()
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_the_import_check_catches_a_heavy_import(tmp_path: Path) -> None:
    loaded = _all_imported(_keyed_rewrite(tmp_path), tmp_path, before="import check_jsonschema; ")
    assert loaded & HEAVY >= {"check_jsonschema", "click"}


def test_the_schema_read_from_the_files_is_the_packaged_one() -> None:
    from importlib import resources

    from migrate.ci import selfcheck

    packaged = resources.files(selfcheck.SCHEMA_PACKAGE).joinpath(selfcheck.SCHEMA_FILE).read_text(encoding="utf-8")
    assert selfcheck.schema_text() == packaged and '"$schema"' in packaged
