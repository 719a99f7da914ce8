"""Every command's per-item rows go through the one renderer (issue 20: one outcome type, one renderer).

`migrate.core.outcome_render` is the only code that turns per-item outcomes into a table or into
the JSON envelope's `results`/`errors`. The check walks `migrate/` with `ast` and lists every call
of a table primitive (`tabulate`, `core.textsafe.tabulate`, `core.tables.render_table`, however
imported or aliased) and of the envelope (`cli.output.envelope` / `print_envelope`) outside the
places allowed below, with why each is allowed. A second renderer planted in a copy of the package
is caught (`test_a_planted_second_renderer_is_caught`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "migrate"

#: (module, function) → why it may draw a table that is not one of per-item outcomes.
TABLES_ALLOWED: dict[tuple[str, str], str] = {
    ("core/outcome_render.py", "table"): "the one renderer",
    ("core/tables.py", "render_table"): "the primitive the renderer and the plan's views use",
    ("core/textsafe.py", "tabulate"): "the escaping primitive",
    ("scan/render.py", "_key_table"): "one row per key with Google's facts: facts about keys, not outcomes",
    ("scan/render.py", "_outside_table"): "who outside the scope can read a key variable: facts, not outcomes",
    ("plan/render.py", "_provider_table"): "the provider's design (issuer, audience, condition): facts",
    ("plan/render.py", "_accounts_table"): "who can impersonate each account before and after: the simulation",
    ("plan/render.py", "_keys_table"): "the keys the plan will retire, their order and windows: the schedule",
    ("plan/render.py", "render_explain"): "every token considered for one account: a simulation's reasons",
}

#: (module, function) → why it may build an envelope whose results are not per-item outcomes.
ENVELOPES_ALLOWED: dict[tuple[str, str], str] = {
    ("cli/output.py", "print_outcomes"): "the envelope of per-item outcomes (results/errors from the renderer)",
    ("cli/output.py", "print_envelope"): "prints the envelope",
}

_PRIMITIVES = {("tabulate", "tabulate"), ("migrate.core.textsafe", "tabulate"),
               ("migrate.core.tables", "render_table")}
_PRIMITIVE_MODULES = {"tabulate": {"tabulate"}, "migrate.core.textsafe": {"tabulate"},
                      "migrate.core.tables": {"render_table"}}
_ENVELOPES = {("migrate.cli.output", "envelope"), ("migrate.cli.output", "print_envelope")}
_ENVELOPE_MODULES = {"migrate.cli.output": {"envelope", "print_envelope"}}


def _bindings(tree: ast.Module, module: str, wanted: set[tuple[str, str]],
              modules: dict[str, set[str]]) -> tuple[set[str], dict[str, set[str]]]:
    """Local names bound to a wanted function, and local names bound to a module holding some."""
    names: set[str] = set()
    mods: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in wanted:
                    names.add(alias.asname or alias.name)
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    mods[alias.asname or alias.name] = modules[full]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    mods[alias.asname or alias.name] = modules[alias.name]
    for mod, funcs in modules.items():  # the defining module calls its own function by name
        if module == mod:
            names |= funcs
    return names, mods


def _modules(root: Path) -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith("sandbox/"):  # the emulators: an independent implementation, no outcomes of the tool
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return out


def _calls(modules_: list[tuple[str, ast.Module]], wanted: set[tuple[str, str]],
           modules: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(module path, enclosing top-level function) of every call to a wanted function."""
    found: set[tuple[str, str]] = set()
    for rel, tree in modules_:
        dotted = "migrate." + rel.removesuffix(".py").replace("/", ".")
        names, mods = _bindings(tree, dotted, wanted, modules)
        found |= {(rel, func) for func in _calling(tree, "<module>", names, mods)}
    return found


def _calling(node: ast.AST, func: str, names: set[str], mods: dict[str, set[str]]) -> set[str]:
    """The functions under `node` (nested ones count as their outermost) calling one of `names`
    or `module.function` of `mods`."""
    out: set[str] = set()
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and func == "<module>" \
            else func
        if isinstance(child, ast.Call):
            f = child.func
            if (isinstance(f, ast.Name) and f.id in names) or (
                    isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and f.attr in mods.get(f.value.id, ())):
                out.add(func)
        out |= _calling(child, inner, names, mods)
    return out


def second_renderers(root: Path) -> dict[str, list[tuple[str, str]]]:
    """Calls of a table primitive or of the envelope outside the allowed places."""
    parsed = _modules(root)
    tables = _calls(parsed, _PRIMITIVES, _PRIMITIVE_MODULES) - set(TABLES_ALLOWED)
    envelopes = _calls(parsed, _ENVELOPES, _ENVELOPE_MODULES) - set(ENVELOPES_ALLOWED)
    return {k: sorted(v) for k, v in (("tables", tables), ("envelopes", envelopes)) if v}


def test_every_per_item_row_goes_through_the_one_renderer() -> None:
    assert second_renderers(PACKAGE) == {}


def test_every_allowed_place_still_exists() -> None:
    """An allowance for code that is gone is removed (the list says what is true today)."""
    parsed = _modules(PACKAGE)
    tables = _calls(parsed, _PRIMITIVES, _PRIMITIVE_MODULES)
    envelopes = _calls(parsed, _ENVELOPES, _ENVELOPE_MODULES)
    stale = [k for k in TABLES_ALLOWED if k not in tables and k != ("core/textsafe.py", "tabulate")]
    stale += [k for k in ENVELOPES_ALLOWED if k not in envelopes and k[1] != "print_envelope"]
    assert stale == []


PLANTED = {
    "direct tabulate": ("apply/render2.py",
                        "from tabulate import tabulate\n\n"
                        "def rows(results):\n    return tabulate([[r.action_id, r.outcome] for r in results])\n",
                        "tables", ("apply/render2.py", "rows")),
    "aliased escaping tabulate": ("retire/extra.py",
                                  "from migrate.core.textsafe import tabulate as t\n\n"
                                  "def steps(rs):\n    return t([[r.kind] for r in rs], headers=['step'])\n",
                                  "tables", ("retire/extra.py", "steps")),
    "render_table through its module": ("verify/other.py",
                                        "from migrate.core import tables\n\n"
                                        "def table(rs):\n    return tables.render_table([[r.project] for r in rs], ['p'])\n",
                                        "tables", ("verify/other.py", "table")),
    "module-level import tabulate": ("scan/x.py",
                                     "import tabulate as tb\n\ndef f(ps):\n    return tb.tabulate(ps)\n",
                                     "tables", ("scan/x.py", "f")),
    "raw envelope in a verb": ("cli/verify2.py",
                               "from migrate.cli.output import print_envelope\n\n"
                               "def run(args):\n    return print_envelope('verify', 0, {}, [{'x': 1}])\n",
                               "envelopes", ("cli/verify2.py", "run")),
    "second renderer inside an allowed module": ("core/outcome_render.py",
                                                 "\n\ndef other(rows):\n    return tabulate(rows)\n",
                                                 "tables", ("core/outcome_render.py", "other")),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_second_renderer_is_caught(tmp_path: Path, case: str) -> None:
    """The planted module next to the real one it joins (if any): only the plant is flagged."""
    root = tmp_path / "migrate"
    module, source, kind, where = PLANTED[case]
    target = root / module
    target.parent.mkdir(parents=True)
    real = PACKAGE / module
    target.write_text((real.read_text(encoding="utf-8") if real.exists() else "") + source, encoding="utf-8")
    assert second_renderers(root) == {kind: [where]}
