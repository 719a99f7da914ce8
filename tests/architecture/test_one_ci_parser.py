"""One CI parser in the core (issue 20): only `migrate/ci/yamlnodes.py` parses CI YAML, with
GitLab's loader; detection, the rewrite, the self-check and the scan read its answer.

The check walks every module of the tool (not the sandbox: the emulated GitLab is an independent
implementation and parses on its own) with `ast` and lists each call of a PyYAML parsing function
and each subclass of a PyYAML loader outside the allowed places: the parser itself, `ci/emit.py`
(which re-reads one candidate line with the same `GitLabLoader`), `ci/flowjobs.py` (which only
tokenizes one flow-style job for anchors, aliases and tags), and the `safe_load` of the
tool's own data files (the configuration, the credential-variable catalogue, the controls).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "migrate"
PARSING = {"load", "load_all", "safe_load", "safe_load_all", "full_load", "unsafe_load", "compose",
           "compose_all", "parse", "scan"}
LOADERS = {"Loader", "SafeLoader", "CSafeLoader", "BaseLoader", "FullLoader", "CLoader", "CBaseLoader"}
ALLOWED = {
    "ci/yamlnodes.py": "the parser",
    "ci/emit.py": "re-reads a spliced candidate line with ci.yamlnodes.GitLabLoader",
    "ci/flowjobs.py": "tokenizes one flow-style job's text for anchors, aliases and tags (no parse)",
    "core/config.py": "safe_load of the tool's configuration file",
    "ci/credvars.py": "safe_load of the catalogue credvars.yaml",
    "report/controls.py": "safe_load of controls.yaml",
}


def yaml_parsers(root: Path) -> list[str]:
    """`module:line what` for each PyYAML parse call or loader subclass outside ALLOWED."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("sandbox/") or rel in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "yaml" \
                    and node.func.attr in PARSING:
                found.append(f"{rel}:{node.lineno} yaml.{node.func.attr}")
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    if isinstance(base, ast.Attribute) and base.attr in LOADERS:
                        found.append(f"{rel}:{node.lineno} class {node.name}({base.attr})")
    return found


def test_only_the_ci_library_parses_ci_yaml() -> None:
    assert yaml_parsers(PACKAGE) == []


def test_a_second_parser_is_caught(tmp_path: Path) -> None:
    (tmp_path / "scan").mkdir()
    (tmp_path / "scan" / "ci_files.py").write_text(
        "import yaml\n\nclass _Loader(yaml.SafeLoader):\n    pass\n\n"
        "def envs(text):\n    return list(yaml.load_all(text, Loader=_Loader))\n", encoding="utf-8")
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "ciyaml.py").write_text("import yaml\nyaml.safe_load('a: 1')\n", encoding="utf-8")
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "yamlnodes.py").write_text("import yaml\nyaml.compose_all('a: 1')\n", encoding="utf-8")
    assert yaml_parsers(tmp_path) == ["scan/ci_files.py:3 class _Loader(SafeLoader)",
                                      "scan/ci_files.py:7 yaml.load_all"]
