"""Literal cases for each rule of `migrate.ci.variables` (R1–R5 in its docstring, with GitLab's
sources). Organisation used throughout: instance → group `acme` (id 10) → subgroup `acme/web`
(id 11) → project `acme/web/shop` (id 100)."""

from __future__ import annotations

from migrate.ci.variables import (
    REF_CLASSES,
    Place,
    RunContext,
    contexts_for,
    resolve,
    scope_match,
)
from migrate.core.model import KeyVariable

SHOP = Place(100, "acme/web/shop", (10, 11), ("acme", "acme/web"))
OTHER = Place(200, "acme/other", (10,), ("acme",))
MAIN = RunContext("protected_branch")
FEATURE = RunContext("unprotected_branch")


def var(level: str, owner_id: int | None, name: str = "GCP_KEY", scope: str = "*", protected: bool = False,
        variable_type: str = "env_var", owner: str = "") -> KeyVariable:
    return KeyVariable(level=level, owner=owner or {None: "", 10: "acme", 11: "acme/web", 100: "acme/web/shop",
                                                    200: "acme/other"}.get(owner_id, "x"),
                       owner_id=owner_id, name=name, environment_scope=scope, protected=protected,
                       variable_type=variable_type)  # type: ignore[arg-type]


def got(defs: list[KeyVariable], place: Place = SHOP, context: RunContext = MAIN, **kw: object) -> KeyVariable | None:
    r = resolve("GCP_KEY", place, context, defs, **kw)  # type: ignore[arg-type]
    assert r.definite, r.reason
    return r.variable  # type: ignore[return-value]


# --- R1 precedence -------------------------------------------------------------------------------

def test_r1_project_beats_group_beats_instance() -> None:
    inst, group, proj = var("instance", None), var("group", 10), var("project", 100)
    assert got([inst, group, proj]) is proj
    assert got([inst, group]) is group
    assert got([inst]) is inst


def test_r1_closest_group_wins() -> None:
    top, sub = var("group", 10), var("group", 11)
    assert got([top, sub]) is sub
    assert got([sub, top]) is sub  # order of the input does not matter


def test_r1_other_projects_and_groups_do_not_reach() -> None:
    assert got([var("project", 200)]) is None
    assert got([var("group", 11)], place=OTHER) is None
    assert got([var("group", 10)], place=OTHER) is not None


def test_r1_pipeline_variables_override_cicd_variables() -> None:
    r = resolve("GCP_KEY", SHOP, MAIN, [var("project", 100)], pipeline_variables=frozenset({"GCP_KEY"}))
    assert r.definite and r.variable is None and r.source == "pipeline"


def test_r1_yaml_variables_are_below_cicd_variables() -> None:
    proj = var("project", 100)
    r = resolve("GCP_KEY", SHOP, MAIN, [proj], yaml_defined=True)
    assert r.variable is proj and r.source == "cicd"
    r = resolve("GCP_KEY", SHOP, MAIN, [], yaml_defined=True)
    assert r.variable is None and r.source == "yaml"
    assert resolve("GCP_KEY", SHOP, MAIN, []).source == "none"


def test_r1_by_path_when_ids_are_unknown() -> None:
    group = var("group", None, owner="acme/web")
    assert got([group]) is group
    assert got([group], place=OTHER) is None


# --- R2 protected variables: protected branches and tags ------------------------------------------

def test_r2_protected_variable_only_on_protected_refs_including_tags() -> None:
    prot = var("project", 100, protected=True)
    assert got([prot], context=RunContext("protected_branch")) is prot
    assert got([prot], context=RunContext("protected_tag")) is prot
    assert got([prot], context=RunContext("unprotected_branch")) is None
    assert got([prot], context=RunContext("unprotected_tag")) is None
    assert got([prot], context=RunContext("merge_request")) is None
    assert got([prot], context=RunContext("protected_merge_request")) is prot


def test_r2_protected_project_variable_shadows_group_only_on_protected_refs() -> None:
    group, prot = var("group", 10), var("project", 100, protected=True)
    assert got([group, prot], context=MAIN) is prot
    assert got([group, prot], context=FEATURE) is group


def test_r2_protected_instance_variable() -> None:
    inst = var("instance", None, protected=True)
    assert got([inst], context=MAIN) is inst
    assert got([inst], context=FEATURE) is None


# --- R3 environment scopes ------------------------------------------------------------------------

def test_r3_job_without_environment_gets_only_star_scope() -> None:
    star, prod = var("project", 100), var("project", 100, scope="production")
    assert got([prod], context=RunContext("protected_branch", None)) is None
    assert got([star, prod], context=RunContext("protected_branch", None)) is star


def test_r3_exact_beats_wildcard_beats_star() -> None:
    star = var("project", 100)
    wild = var("project", 100, scope="review/*")
    exact = var("project", 100, scope="review/app")
    env = RunContext("unprotected_branch", "review/app")
    assert got([star, wild, exact], context=env) is exact
    assert got([star, wild], context=env) is wild
    assert got([star], context=env) is star
    assert got([wild], context=RunContext("unprotected_branch", "staging")) is None


def test_r3_scope_precedence_is_per_level_not_across_levels() -> None:
    # A project variable with scope '*' still beats a group variable with the exact scope (R1 first).
    group_exact = var("group", 10, scope="production")
    proj_star = var("project", 100)
    assert got([group_exact, proj_star], context=RunContext("protected_branch", "production")) is proj_star


def test_r3_star_matches_any_characters_and_slashes() -> None:
    assert scope_match("review/*", "review/feature/x") == "always"
    assert scope_match("*-prod", "eu-prod") == "always"
    assert scope_match("review/*", "reviewer") == "never"
    assert scope_match("prod_1", "prodX1") == "never"  # `_` is literal (Glob.to_like escapes it)
    assert scope_match("production", "Production") == "never"  # LIKE is case-sensitive


def test_r3_two_wildcards_matching_equally_are_ambiguous() -> None:
    a, b = var("project", 100, scope="review/*"), var("project", 100, scope="*/app")
    r = resolve("GCP_KEY", SHOP, RunContext("unprotected_branch", "review/app"), [a, b])
    assert not r.definite and set(r.candidates) == {a, b} and "does not define" in r.reason


def test_r3_instance_variables_have_no_scope() -> None:
    inst = var("instance", None, scope="production")  # not settable in GitLab; treated as '*'
    assert got([inst], context=RunContext("protected_branch", "staging")) is inst


# --- R4 dynamic environment names -----------------------------------------------------------------

def test_r4_dynamic_environment_scope_matching() -> None:
    assert scope_match("review/*", "review/$CI_COMMIT_REF_SLUG") == "always"
    assert scope_match("production", "review/$CI_COMMIT_REF_SLUG") == "never"
    assert scope_match("review/main", "review/${CI_COMMIT_REF_SLUG}") == "maybe"
    assert scope_match("*", "$ENV") == "always"
    assert scope_match("production", "$ENV") == "maybe"


def test_r4_dynamic_environment_resolution() -> None:
    wild, star = var("project", 100, scope="review/*"), var("group", 10)
    ctx = RunContext("unprotected_branch", "review/$CI_COMMIT_REF_SLUG")
    assert got([wild, star], context=ctx) is wild  # `review/*` applies to every expansion
    exact = var("project", 100, scope="review/main")
    r = resolve("GCP_KEY", SHOP, ctx, [wild, exact])
    assert not r.definite and set(r.candidates) == {wild, exact}
    prod = var("project", 100, scope="production")
    r = resolve("GCP_KEY", SHOP, RunContext("protected_branch", "$DEPLOY_ENV"), [prod, star])
    assert not r.definite and set(r.candidates) == {prod, star} and not r.maybe_none
    r = resolve("GCP_KEY", SHOP, RunContext("protected_branch", "$DEPLOY_ENV"), [prod])
    assert not r.definite and r.maybe_none


# --- R5 file vs env_var ---------------------------------------------------------------------------

def test_r5_type_comes_from_the_winning_definition() -> None:
    group_file = var("group", 10, variable_type="file")
    proj_env = var("project", 100, variable_type="env_var")
    assert resolve("GCP_KEY", SHOP, MAIN, [group_file, proj_env]).variable_type == "env_var"
    assert resolve("GCP_KEY", SHOP, MAIN, [group_file]).variable_type == "file"
    assert resolve("GCP_KEY", SHOP, MAIN, []).variable_type is None


def test_contexts_cover_every_ref_class() -> None:
    ctxs = contexts_for("production")
    assert {c.ref_class for c in ctxs} == set(REF_CLASSES)
    assert {c.protected for c in ctxs} == {True, False}


def test_index_returns_only_definitions_that_reach_the_place() -> None:
    from migrate.ci.variables import DefinitionIndex

    defs = [var("instance", None), var("group", 10), var("group", 11), var("project", 100), var("project", 200),
            var("group", 10, name="OTHER")]
    index = DefinitionIndex(defs)
    assert set(index.for_place("GCP_KEY", SHOP)) == set(defs[:4])
    assert set(index.for_place("GCP_KEY", OTHER)) == {defs[0], defs[1], defs[4]}
    assert got(index.for_place("GCP_KEY", SHOP)) is defs[3]
