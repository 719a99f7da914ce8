"""No two classes in `migrate/` share a name (issue 20: names say what a thing is).

Two `Plan`s or two `Context`s in one code base make every import and every traceback ambiguous:
the reader has to find out which one is meant. The check walks every module with `ast` (nested
classes included) and lists each name defined more than once, with where.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "migrate"


def duplicate_class_names(root: Path) -> dict[str, list[str]]:
    """Class name → the modules (relative to `root`) defining it, for names defined more than once."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{path.relative_to(root)}:{node.lineno}")
    return {name: places for name, places in where.items() if len(places) > 1}


def test_no_two_classes_in_the_package_share_a_name() -> None:
    assert duplicate_class_names(PACKAGE) == {}


def test_a_planted_duplicate_is_caught(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "rewrite.py").write_text("class Plan:\n    pass\n", encoding="utf-8")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "model.py").write_text(
        "import dataclasses\n\n@dataclasses.dataclass\nclass Plan:\n    x: int = 0\n", encoding="utf-8")
    (tmp_path / "cli.py").write_text("def f():\n    class Lazy:\n        pass\n\nclass Unique:\n    pass\n",
                                     encoding="utf-8")
    (tmp_path / "other.py").write_text("class Lazy:\n    pass\n", encoding="utf-8")
    assert duplicate_class_names(tmp_path) == {
        "Plan": ["ci/rewrite.py:1", "core/model.py:4"],
        "Lazy": ["cli.py:2", "other.py:1"],
    }
