"""Tests share code only through the importable `tests/helpers` package (issue 20 item 6).

A test module that imports another test module (`from test_plan import plan_of`,
`from plan.test_old_gitlab import ORG`), a conftest (`from conftest import …`), or edits `sys.path`
ties one test file's collection to another's and hides what is shared: moving or renaming a test
breaks an unrelated one, and pytest's rootdir-relative import mode can import the same file twice
under two names. Everything shared (case tables, organisations, builders, oracles) lives in a
module of `tests/helpers/` named for what it is.

The check parses every Python file under `tests/` with `ast` and resolves each import the way
pytest does here (`pythonpath = ["tests"]`, and each test file's own folder is on `sys.path`): an
import that finds a file or folder under `tests/` outside `tests/helpers/` is a violation, and so
are relative imports, `tests.`-qualified imports, imports of any `test_*` or `conftest` module, and
any use of `sys.path` or `site.addsitedir`. `test_planted_violations_are_caught` shows each kind is
flagged.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# Scripts that regenerate a committed fixture inside a checkout of an *older* build (never collected,
# never run against this tree): they import that build's test modules because its shared things
# lived there. Each names the reason; a listed file that no longer exists fails the check.
REGENERATORS = {
    "core/from_main/make_consumers_fixture.py":
        "runs in a checkout of main bbfb347, where the organisation lived in tests/plan/test_consumers_e2e.py",
}


def _installed(name: str, root: Path) -> bool:
    """A regular module or package outside `root` wins over a folder without `__init__.py` of the
    same name (a namespace portion): `tests/gitlab/` does not shadow python-gitlab."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None and not Path(spec.origin).is_relative_to(root)


def _local(root: Path, here: Path, module: str) -> Path | None:
    """The file or folder under `root` that `module` would import from `here`, if any."""
    parts = module.split(".")
    for base in (root, here):
        for depth in range(len(parts), 0, -1):
            path = base.joinpath(*parts[:depth])
            if path.with_suffix(".py").is_file():
                return path.with_suffix(".py")
            if path.is_dir() and ((path / "__init__.py").exists() or depth > 1 or not _installed(parts[0], root)):
                return path
    return None


def _check(root: Path, path: Path, line: int, shown: str, modules: list[str]) -> list[str]:
    """The violation of one import statement (of `shown`, which may bring in any of `modules`)."""
    where = f"{path.relative_to(root)}:{line}"
    if shown.split(".")[0] == "tests":
        return [f"{where}: imports {shown} (use helpers.…)"]
    if any(p == "conftest" or p.startswith("test_") for p in shown.split(".")):
        return [f"{where}: imports the test module {shown}"]
    for module in modules:  # most specific first: `from plan import builders` finds plan/builders.py
        local = _local(root, path.parent, module)
        if local is not None and not local.is_relative_to(root / "helpers"):
            return [f"{where}: imports {shown} from {local.relative_to(root)}"]
    return []


def violations(root: Path) -> list[str]:
    """`file:line: reason` for every import of test code outside `root/helpers`, and every sys.path edit."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr) in (("sys", "path"), ("site", "addsitedir"))):
                found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.level:
                found.append(f"{where}:{node.lineno}: relative import {'.' * node.level}{node.module or ''}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found += _check(root, path, node.lineno, alias.name, [alias.name])
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                found += _check(root, path, node.lineno, module,
                                [f"{module}.{alias.name}" for alias in node.names] + [module])
    return sorted(set(found))


def test_tests_share_code_only_through_helpers() -> None:
    assert [v for v in violations(TESTS) if v.split(":")[0] not in REGENERATORS] == []
    assert [name for name in REGENERATORS if not (TESTS / name).is_file()] == []


def test_planted_violations_are_caught(tmp_path: Path) -> None:
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "orgs.py").write_text("ORG = 1\n")
    (tmp_path / "plan").mkdir()
    (tmp_path / "gitlab").mkdir()  # tests of the GitLab adapter: `import gitlab` is still python-gitlab
    (tmp_path / "plan" / "test_plan.py").write_text("def plan_of(): ...\n")
    (tmp_path / "plan" / "builders.py").write_text("X = 1\n")
    (tmp_path / "plan" / "test_ok.py").write_text(
        "import gitlab\nimport helpers.orgs\nfrom helpers.orgs import ORG\nfrom helpers import orgs\n"
        "from migrate.plan import planner\nimport pytest\n")
    (tmp_path / "plan" / "test_bad.py").write_text(
        "import sys\n"
        "from test_plan import plan_of\n"            # 2: a sibling test module
        "from plan.test_plan import plan_of\n"       # 3: the same through the folder
        "import conftest\n"                          # 4
        "from . import test_plan\n"                  # 5: relative
        "from tests.helpers.orgs import ORG\n"       # 6: tests.-qualified
        "sys.path.insert(0, 'x')\n"                  # 7
        "from builders import X\n"                   # 8: a non-test module beside the tests
        "from plan import builders\n")               # 9
    (tmp_path / "helpers" / "bad.py").write_text("from conftest import MIGRATOR_TOKEN\n")
    assert violations(tmp_path) == sorted([
        "helpers/bad.py:1: imports the test module conftest",
        "plan/test_bad.py:2: imports the test module test_plan",
        "plan/test_bad.py:3: imports the test module plan.test_plan",
        "plan/test_bad.py:4: imports the test module conftest",
        "plan/test_bad.py:5: relative import .",
        "plan/test_bad.py:6: imports tests.helpers.orgs (use helpers.…)",
        "plan/test_bad.py:7: sys.path",
        "plan/test_bad.py:8: imports builders from plan/builders.py",
        "plan/test_bad.py:9: imports plan from plan/builders.py",
    ])
