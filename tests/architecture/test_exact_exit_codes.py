"""Every test that runs the CLI asserts the exact exit code (issue 20 item 6).

The exit code is the CLI's contract (0 clean, 1 findings or per-item failures, 2 usage or refused
input, 3 internal error; docs/architecture.md). `assert main([...]) in (0, 1)` or `!= 0` lets a
refused plan (2) or an internal error (3) pass a test written for a finding (1), which is how a
module fixture once let a refused plan slip through.

The check parses every test module with `ast` and, per function, follows the values of CLI calls —
`main(...)` (migrate.cli.verbs.main), `….main(...)`, `….cli(...)` (test helpers that run `main`)
and names assigned from them, including tuple targets (`code, out = cli(...)`) and `.returncode` of
a subprocess that runs `-m migrate`. Such a value may be compared only with `==` (or `is`) and may
not be asserted for truthiness; `in`, `not in`, `!=`, `<`, `>` and a bare `assert code` are
flagged. `test_planted_loose_assertions_are_caught` shows each form is.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CLI_CALLS = {"main", "cli"}


def _is_cli_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in CLI_CALLS


def _runs_migrate(node: ast.AST) -> bool:
    """A subprocess call whose argv names the tool (`-m migrate` or `wif-migrate`)."""
    if not isinstance(node, ast.Call):
        return False
    strings = [n.value for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Constant)]
    return "migrate" in strings or "wif-migrate" in strings


class _Function(ast.NodeVisitor):
    """One function body: which names hold a CLI exit code, and how they are compared."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.codes: set[str] = set()  # names holding an exit code
        self.procs: set[str] = set()  # names holding a subprocess of the tool
        self.found: list[str] = []

    def _code_of(self, node: ast.AST) -> bool:
        if _is_cli_call(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.codes
        if isinstance(node, ast.Attribute) and node.attr == "returncode":
            return (isinstance(node.value, ast.Name) and node.value.id in self.procs) or _runs_migrate(node.value)
        if isinstance(node, ast.NamedExpr):
            return self._code_of(node.value)
        return False

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                if self._code_of(node.value):
                    self.codes.add(target.id)
                elif _runs_migrate(node.value):
                    self.procs.add(target.id)
            elif isinstance(target, ast.Tuple) and _is_cli_call(node.value) and target.elts:
                first = target.elts[0]
                if isinstance(first, ast.Name):  # `code, out = run.cli(...)`: the code comes first
                    self.codes.add(first.id)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        if self._code_of(node.value):
            self.codes.add(node.target.id)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if (self._code_of(left) or self._code_of(right)) and not isinstance(op, (ast.Eq, ast.Is)):
                self.found.append(f"{self.where}:{node.lineno}: exit code compared with {type(op).__name__}")
        self.generic_visit(node)

    def visit_Assert(self, node: ast.Assert) -> None:
        self.generic_visit(node)  # first, so that `(code := main(...))` is known
        for test in (node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]):
            if self._code_of(test):
                self.found.append(f"{self.where}:{node.lineno}: exit code asserted for truthiness")


def loose_exit_codes(root: Path) -> list[str]:
    """`file:line: reason` for every CLI exit code in a test compared other than exactly."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = str(path.relative_to(root))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visitor = _Function(where)
                for child in ([node.body] if isinstance(node, ast.Lambda) else node.body):
                    visitor.visit(child)
                found += visitor.found
            elif isinstance(node, ast.Module):
                visitor = _Function(where)
                for child in node.body:
                    if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        visitor.visit(child)
                found += visitor.found
    return sorted(set(found))


def test_every_cli_exit_code_is_asserted_exactly() -> None:
    assert loose_exit_codes(TESTS) == []


def test_planted_loose_assertions_are_caught(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text(
        "import subprocess, sys\n"
        "def test_a(run):\n"
        "    assert main(['scan']) in (0, 1)\n"                        # 3
        "    code = main(['plan'])\n"
        "    assert code != 0\n"                                        # 5
        "    assert run.cli('keys', 'retire') >= 1\n"                   # 6
        "    status, out = run.cli('apply')\n"
        "    assert status not in (2, 3) and out\n"                     # 8
        "    assert main(['check'])\n"                                  # 9
        "    proc = subprocess.run([sys.executable, '-m', 'migrate', 'demo'])\n"
        "    assert proc.returncode != 0\n"                             # 11
        "    assert 0 < main(['report'])\n"                             # 12
        "    assert (rc := main(['verify'])) or rc\n",                  # 13
        encoding="utf-8")
    (tmp_path / "test_good.py").write_text(
        "import subprocess, sys\n"
        "def test_b(run):\n"
        "    assert main(['scan']) == 1\n"
        "    code = main(['plan'])\n"
        "    assert code == 0, code\n"
        "    status, out = run.cli('apply')\n"
        "    assert status == 2 and out != {}\n"
        "    assert not main(['check'])\n"
        "    proc = subprocess.run([sys.executable, '-m', 'migrate', 'demo'])\n"
        "    assert proc.returncode == 0\n"
        "    other = subprocess.run(['terraform', 'fmt'])\n"
        "    assert other.returncode != 0\n",  # not the tool
        encoding="utf-8")
    assert loose_exit_codes(tmp_path) == sorted([
        "test_bad.py:3: exit code compared with In",
        "test_bad.py:5: exit code compared with NotEq",
        "test_bad.py:6: exit code compared with GtE",
        "test_bad.py:8: exit code compared with NotIn",
        "test_bad.py:9: exit code asserted for truthiness",
        "test_bad.py:11: exit code compared with NotEq",
        "test_bad.py:12: exit code compared with Lt",
        "test_bad.py:13: exit code asserted for truthiness",
    ])
