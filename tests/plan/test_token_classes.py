"""The who-can-impersonate simulation by token classes gives the per-token answers (issue 18).

`reference_simulate` is the simulation as it was before classes: every CEL program evaluated with
cel-python on every token, every member parsed for every token. The class-based `simulate` must
give identical verdicts on the demo organisation and on a generated one, with the bindings the
plan derives and with hand-widened ones; random CEL programs give what exact evaluation gives; and
a deliberately broken analysis (a claim treated as copied although it is compared) is caught.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import celpy
import pytest
from helpers.reference_simulation import reference_admit, reference_mapped, reference_simulate
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.config import parse_config
from migrate.core.model import Inventory
from migrate.core.progress import SilentProgress
from migrate.plan import token_classes
from migrate.plan.impersonation import (
    Mapped,
    ProviderEvaluator,
    TokenCase,
    _evaluator,
    simulate,
    token_cases,
)
from migrate.plan.planner import PlanFacts, derive, impersonation_report, make_inputs, project_facts
from migrate.plan.token_classes import ClassProgram, MemberIndex, analyse
from migrate.sandbox.generate import generate_org
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org, parse_org

# --- real organisations ------------------------------------------------------------------------


def _scanned(org: Any, tmp: Path) -> Inventory:
    from migrate.cli.scan import run_scan

    with Sandbox(org) as sb:
        config = parse_config(sb.config_dict(state_dir=str(tmp / "state")))
        os.environ.update(sb.env())
        inventory, _stats = run_scan(config, SilentProgress())
        return inventory


@pytest.fixture(scope="module", params=["demo", pytest.param("generated", marks=pytest.mark.slow)])
def org_inputs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    org = load_org("demo") if request.param == "demo" else parse_org(generate_org(40, seed=5))
    tmp = tmp_path_factory.mktemp(request.param)
    inventory = _scanned(org, tmp)
    config = parse_config({"gitlab": {"url": inventory.gitlab_url}, "scope": {"groups": ["x"]},
                           "google": {"identity_project": "ident"}})
    inputs = make_inputs(inventory, config, PlanFacts(project_number="123456789012"))
    yield inputs, derive(inputs)


def _cases(inputs: Mapping[str, Any], derived: Any) -> tuple[TokenCase, ...]:
    projects = project_facts(inputs)
    envs = {e.environment_scope.replace("*", "x") for es in derived.exposures.values() for e in es
            if e.environment_scope != "*"}
    return token_cases(derived.design.issuer, derived.design.audience, projects, envs, projects[0])


def _report_cases(inputs: Mapping[str, Any], derived: Any) -> list[TokenCase]:
    """The cases `impersonation_report` builds (captured by running it on a spy simulate)."""
    import migrate.plan.planner as plan_module

    seen: list[TokenCase] = []
    real = plan_module.simulate

    def spy(design: Any, bindings: Any, exposures: Any, cases: Any, definitions: Any = ()) -> Any:
        seen.extend(cases)
        return ()

    plan_module.simulate = spy  # type: ignore[assignment]
    try:
        impersonation_report(inputs, derived)
    finally:
        plan_module.simulate = real  # type: ignore[assignment]
    return seen


def _widened(derived: Any, cases: Sequence[TokenCase]) -> dict[str, list[str]]:
    """The derived bindings plus hand edits of every member kind: a namespace, a subject, a whole
    pool, a member of another pool, a repeated member."""
    pool = derived.design.pool_name
    bindings = {sa: list(derived.members(sa)) for sa in derived.scopes}
    sas = sorted(set(bindings) | set(derived.exposures))
    assert len(sas) >= 2
    some = cases[len(cases) // 3].claims
    subject = (f"gitlab:{some['project_id']}:{'protected' if some['ref_protected'] == 'true' else 'unprotected'}"
               f":{some['ref_type']}:job:{some['job_id']}")
    bindings.setdefault(sas[0], []).extend([
        f"principalSet://iam.googleapis.com/{pool}/attribute.namespace_id/{some['namespace_id']}",
        f"principal://iam.googleapis.com/{pool}/subject/{subject}",
        "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/*",
        *bindings[sas[0]][:1]])
    bindings.setdefault(sas[1], []).append(f"principalSet://iam.googleapis.com/{pool}/*")
    return bindings


def test_class_simulation_equals_the_per_token_one(org_inputs: Any) -> None:
    inputs, derived = org_inputs
    cases = _cases(inputs, derived)
    assert len(cases) > 50
    bindings = {sa: derived.members(sa) for sa in derived.scopes}
    _evaluator.cache_clear()
    new = simulate(derived.design, bindings, derived.exposures, cases, derived.definitions)
    old = reference_simulate(derived.design, bindings, derived.exposures, cases, derived.definitions)
    assert new == old
    assert any(v.before for i in new for v in i.verdicts)
    # the plan's own entry point (its cases, legacy audiences, definitions) agrees too
    report = impersonation_report(inputs, derived)
    assert report == reference_simulate(derived.design, bindings, derived.exposures,
                                        _report_cases(inputs, derived),
                                        derived.definitions)
    assert any(v.after for i in new for v in i.verdicts)  # the comparison saw admitted tokens
    widened = _widened(derived, cases)
    new_w = simulate(derived.design, widened, derived.exposures, cases, derived.definitions)
    assert new_w == reference_simulate(derived.design, widened, derived.exposures, cases, derived.definitions)
    assert any(not i.ok for i in new_w)  # … and widened ones


def test_a_broken_analysis_is_caught(org_inputs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Treating a compared claim (ref_protected) as merely copied would share one answer between
    protected and unprotected refs: the comparison must see the difference."""
    inputs, derived = org_inputs
    cases = _cases(inputs, derived)[:120]
    bindings = {sa: derived.members(sa) for sa in derived.scopes}
    real = token_classes.analyse

    def broken(ast: Any, value_root: bool = True) -> token_classes.Reads:
        reads = real(ast, value_root)
        return token_classes.Reads(reads.claims, reads.inspected - {"ref_protected"}, reads.other_idents)

    monkeypatch.setattr(token_classes, "analyse", broken)
    _evaluator.cache_clear()
    try:
        assert simulate(derived.design, bindings, derived.exposures, cases) != \
            reference_simulate(derived.design, bindings, derived.exposures, cases)
    finally:
        _evaluator.cache_clear()


# --- the analysis and random programs ----------------------------------------------------------


def test_analysis_tells_copied_from_inspected_claims() -> None:
    env = celpy.Environment()

    def reads(src: str, value_root: bool = True) -> tuple[set[str], set[str]]:
        r = analyse(env.compile(src), value_root)
        return set(r.claims), set(r.inspected)

    assert reads('"a:" + assertion.x') == ({"x"}, set())
    assert reads('assertion.p == "true" ? assertion.x : "n"') == ({"p", "x"}, {"p"})
    assert reads('("e" in assertion ? assertion.e : "")') == ({"e"}, set())
    assert reads("assertion.x", value_root=False) == ({"x"}, {"x"})  # a condition inspects all it reads
    assert reads('assertion.x.startsWith("a") ? "y" : "z"') == ({"x"}, {"x"})
    assert reads("size(assertion.x) > 3") == ({"x"}, {"x"})
    assert reads('assertion["x"]')[0] == {token_classes.ALL}  # bare assertion: exact evaluation
    assert reads("assertion.a == assertion.b") == ({"a", "b"}, {"a", "b"})
    assert analyse(env.compile('attribute.x == "1"'), False).other_idents == {"attribute"}


CLAIMS = ("a", "b", "p")
_atom = st.sampled_from(['assertion.a', 'assertion.b', '"k"', '":"', '("b" in assertion ? assertion.b : "-")'])


@st.composite
def _expr(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2:
        return draw(_atom)
    kind = draw(st.sampled_from(["atom", "concat", "ternary", "method", "size", "eq"]))
    if kind == "atom":
        return draw(_atom)
    if kind == "concat":
        return f"{draw(_expr(depth + 1))} + {draw(_expr(depth + 1))}"
    if kind == "ternary":
        return f"({draw(_expr(depth + 1))} == {draw(_atom)} ? {draw(_expr(depth + 1))} : {draw(_expr(depth + 1))})"
    if kind == "method":
        return f'({draw(_expr(depth + 1))}.startsWith("1") ? "s" : {draw(_expr(depth + 1))})'
    if kind == "size":
        return f'(size({draw(_expr(depth + 1))}) > 3 ? assertion.a : "short")'
    return f'({draw(_expr(depth + 1))} == assertion.p ? "same" : "diff")'


_value = st.sampled_from(["", "1", "12", "k", ":", "true", "abc", "1:k"])


@settings(max_examples=60, deadline=None)
@given(_expr(), st.lists(st.dictionaries(st.sampled_from(CLAIMS), _value), min_size=1, max_size=8))
def test_random_programs_give_what_exact_evaluation_gives(source: str, tokens: list[dict[str, str]]) -> None:
    env = celpy.Environment()
    program = ClassProgram(env, source)
    for claims in tokens:
        try:
            expected: Any = token_classes.plain(program.program.evaluate({"assertion": celpy.json_to_cel(claims)}))
        except Exception:  # noqa: BLE001
            expected = "error"
        try:
            got: Any = program.evaluate(claims)
        except Exception:  # noqa: BLE001
            got = "error"
        assert got == expected, (source, claims)


def test_member_index_answers_like_trying_each_member() -> None:
    pool = "projects/1/locations/global/workloadIdentityPools/p"
    members = [f"principalSet://iam.googleapis.com/{pool}/attribute.project_id/7",
               f"principal://iam.googleapis.com/{pool}/subject/s1",
               f"principalSet://iam.googleapis.com/{pool}/attribute.groups/g",
               f"principalSet://iam.googleapis.com/{pool}/attribute.project_id/8",
               f"principalSet://iam.googleapis.com/{pool}/*", "user:a@example.com"]
    index = MemberIndex(pool, members)
    for subject, attrs in [("s1", {"project_id": "8"}), ("x", {"project_id": "8"}), ("x", {"groups": ["h", "g"]}),
                           ("x", {"project_id": "9"}), ("s1", {}), ("x", {"project_id": None})]:
        mapped = Mapped(True, "accepted", subject, attrs)
        assert index.first(subject, attrs) == reference_admit(pool, members, mapped)
    assert MemberIndex(pool, members[:4]).first("x", {"project_id": "9"}) is None


def test_evaluator_answers_like_the_reference_on_odd_tokens() -> None:
    """Tokens missing claims, with non-string values, or over-long: the exact paths."""
    from migrate.plan.federation_design import design_provider

    design = design_provider("123", "pool", "prov", "https://gitlab.example.com", [5, 6])
    evaluator = ProviderEvaluator(design.attribute_mapping, design.attribute_condition)
    base = {"project_id": "11", "namespace_id": "5", "ref_protected": "true", "ref_type": "branch", "job_id": "9"}
    for claims in [base, {**base, "environment": "prod"}, {**base, "namespace_id": "7"},
                   {k: v for k, v in base.items() if k != "job_id"}, {**base, "project_id": 11},
                   {**base, "job_id": "9" * 120}, {**base, "ref_protected": "false"}]:
        assert evaluator.evaluate(claims) == reference_mapped(design, claims), claims


def test_bindings_index_answers_like_each_binding_in_turn() -> None:
    from migrate.plan.token_classes import BindingsIndex

    pool = "projects/1/locations/global/workloadIdentityPools/p"
    attr = f"principalSet://iam.googleapis.com/{pool}/attribute"
    bindings = {"a": [f"{attr}.project_id/7", f"principalSet://iam.googleapis.com/{pool}/*"],
                "b": [f"principal://iam.googleapis.com/{pool}/subject/s1", f"{attr}.project_id/7"],
                "c": [f"{attr}.groups/g", "user:x@example.com"], "d": []}
    index = BindingsIndex(pool, bindings)
    for subject, attrs in [("s1", {"project_id": "7"}), ("x", {"project_id": "7"}), ("x", {"groups": ["g"]}),
                           ("x", {})]:
        mapped = Mapped(True, "accepted", subject, attrs)
        expected = {sa: m for sa, ms in bindings.items() if (m := reference_admit(pool, ms, mapped))}
        assert index.admitting(subject, attrs) == expected
