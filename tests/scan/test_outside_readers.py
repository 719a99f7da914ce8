"""Readers outside the scope (migrate/scan/outside_readers.py, the retire gate, the plan's record): literal
cases for each rule, and a generated-organisation property checked against a brute-force oracle.

The rules (GitLab doc/ci/variables/_index.md, "For a group" / "For an instance"): a group variable
reaches every project of the group and of its subgroups, an instance variable every project; a
project variable only its own project. A reader is *outside* when the scan did not check its CI:
not listed by the scope, skipped (include/exclude/archived), or an ERROR row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
from helpers.plan_fixtures import disable_params
from helpers.plan_inputs import plan_inputs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migrate.scan.outside_readers as sr
from migrate.core.codec import decode_time
from migrate.core.model import (
    Action,
    KeyIdentity,
    KeyVariable,
    OutsideReader,
    Plan,
    ProjectRecord,
    RetiredVariable,
    from_dict,
)
from migrate.plan.planner import inputs_digest
from migrate.retire.gates import Migration, disable_decision
from migrate.retire.ports import LiveKey, UsageSignal
from migrate.retire.runner import items_from_plan
from migrate.scan.outside_readers import Coverage, find_outside_readers
from migrate.scan.ports import ProjectInfo, ReadError

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "c" * 40
KEY = KeyIdentity(SA, KID, "acme-prod")


def gvar(owner: str, gid: int, name: str = "GCP_SA_KEY") -> KeyVariable:
    return KeyVariable("group", owner, gid, name, key=KEY)


def rec(pid: int, path: str, ancestors: tuple[int, ...], status: str = "scanned", error: str | None = None,
        archived: bool = False) -> ProjectRecord:
    return ProjectRecord(pid, path, ancestors[-1], path.rpartition("/")[0], ancestor_ids=ancestors,
                         status=status, error=error, archived=archived)  # type: ignore[arg-type]


def info(pid: int, path: str, ns: int, archived: bool = False) -> ProjectInfo:
    return ProjectInfo(pid, path, ns, path.rpartition("/")[0], archived=archived)


def no_listing(*_: object) -> Iterator[ProjectInfo]:
    raise AssertionError("a covered group must not be listed again")


# --- literal cases ----------------------------------------------------------------------------------

def test_covered_group_readers_are_the_records_not_scanned_with_their_reason() -> None:
    records = {r.path: r for r in [
        rec(1, "acme/web", (100,)),
        rec(2, "acme/legacy", (100,), "skipped", "excluded by scope.exclude 'acme/legacy'"),
        rec(3, "acme/sub/old", (100, 110), "skipped", "archived", archived=True),
        rec(4, "acme/sub/locked", (100, 110), "error", "repository not readable with this token: 403"),
        rec(5, "other/x", (200,), "skipped", "excluded by scope.exclude 'other/*'"),
    ]}
    readers, problems = find_outside_readers([gvar("acme", 100)], records, {100: None, 110: 100},
                                             Coverage(frozenset({100})), no_listing, no_listing)
    assert [(r.project, r.reason, r.archived) for r in readers] == [
        ("acme/legacy", "outside the configured scope: excluded by scope.exclude 'acme/legacy'", False),
        ("acme/sub/locked", "in scope but not scanned: repository not readable with this token: 403", False),
        ("acme/sub/old", "outside the configured scope: archived", True),
    ]
    assert [p.subject for p in problems] == ["variable:group:acme:GCP_SA_KEY"]
    assert problems[0].severity == "warning" and "3 project(s)" in problems[0].reason
    assert "--accept-outside-readers" in problems[0].reason


def test_a_subgroup_variable_under_a_scope_group_is_covered_and_reaches_only_its_subtree() -> None:
    records = {r.path: r for r in [
        rec(2, "acme/legacy", (100,), "skipped", "excluded"),
        rec(3, "acme/sub/old", (100, 110), "skipped", "excluded"),
    ]}
    readers, _ = find_outside_readers([gvar("acme/sub", 110)], records, {100: None, 110: 100},
                                      Coverage(frozenset({100})), no_listing, no_listing)
    assert [r.project for r in readers] == ["acme/sub/old"]


def test_an_ancestor_group_above_the_scope_is_listed_once_for_all_its_variables() -> None:
    """Scope `acme/platform`: a key in group `acme` also reaches acme/apps/*, which nothing scanned."""
    records = {"acme/platform/api": rec(1, "acme/platform/api", (100, 110))}
    calls: list[int] = []

    def list_group(gid: int) -> Iterator[ProjectInfo]:
        calls.append(gid)
        yield info(1, "acme/platform/api", 110)
        yield info(7, "acme/apps/shop", 120)
        yield info(8, "acme/apps/attic", 120, archived=True)

    readers, _ = find_outside_readers([gvar("acme", 100), gvar("acme", 100, "OTHER_KEY")], records,
                                      {100: None, 110: 100}, Coverage(frozenset({110})), list_group, no_listing)
    assert calls == [100]
    assert sorted((r.variable, r.project, r.archived) for r in readers) == [
        ("group:acme:GCP_SA_KEY", "acme/apps/attic", True), ("group:acme:GCP_SA_KEY", "acme/apps/shop", False),
        ("group:acme:OTHER_KEY", "acme/apps/attic", True), ("group:acme:OTHER_KEY", "acme/apps/shop", False)]
    assert all("not under scope.groups" in r.reason for r in readers)


def test_an_instance_variable_reaches_every_project_on_the_instance() -> None:
    records = {"acme/web": rec(1, "acme/web", (100,))}
    ivar = KeyVariable("instance", "", None, "SHARED_KEY", key=KEY)
    readers, _ = find_outside_readers(
        [ivar], records, {}, Coverage(frozenset({100})), no_listing,
        lambda: iter([info(1, "acme/web", 100), info(9, "someone/tool", 900)]))
    assert [(r.project, r.project_id) for r in readers] == [("someone/tool", 9)]
    assert "every project on the instance" in readers[0].reason
    # scope.instance with a complete listing: the records are the whole instance
    covered, _ = find_outside_readers([ivar], {**records, "x/y": rec(2, "x/y", (300,), "skipped", "archived")},
                                      {}, Coverage(instance=True), no_listing, no_listing)
    assert [r.project for r in covered] == ["x/y"]


def test_a_listing_that_fails_makes_the_readers_unknown_which_is_a_reader_too() -> None:
    def denied(gid: int) -> Iterator[ProjectInfo]:
        raise ReadError(f"group:{gid}:projects", 403, "Forbidden")

    readers, problems = find_outside_readers([gvar("acme", 100)], {}, {100: None}, Coverage(), denied, no_listing)
    assert [(r.project, "403 Forbidden" in r.reason) for r in readers] == [("", True)]
    assert "unknown reader" in problems[0].reason


def test_project_variables_have_no_readers_outside_their_project() -> None:
    pvar = KeyVariable("project", "acme/web", 1, "K", key=KEY)
    assert find_outside_readers([pvar], {}, {}, Coverage(), no_listing, no_listing) == ((), ())


# --- property: generated organisations against a brute-force oracle ------------------------------------

@dataclass(frozen=True)
class Org:
    parents: dict[int, int | None]  # group id → parent
    paths: dict[int, str]
    projects: list[tuple[int, int, str]]  # (project id, namespace group id, status)
    scope: frozenset[int]  # scope groups (listed completely)
    variables: list[int | None]  # group ids holding a key variable; None = instance


@st.composite
def orgs(draw: st.DrawFn) -> Org:
    n = draw(st.integers(1, 7))
    parents: dict[int, int | None] = {100: None}
    paths = {100: "g100"}
    for gid in range(101, 100 + n):
        parent = draw(st.sampled_from(sorted(parents)))
        parents[gid], paths[gid] = parent, f"{paths[parent]}/g{gid}"
    projects = [(1000 + i, draw(st.sampled_from(sorted(parents))),
                 draw(st.sampled_from(["scanned", "skipped", "error", "unlisted"])))
                for i in range(draw(st.integers(0, 10)))]
    scope = frozenset(draw(st.sets(st.sampled_from(sorted(parents)), max_size=3)))
    variables = draw(st.lists(st.one_of(st.none(), st.sampled_from(sorted(parents))), min_size=1, max_size=3))
    return Org(parents, paths, projects, scope, variables)


def chain(org: Org, gid: int | None) -> list[int]:
    out = []
    while gid is not None:
        out.append(gid)
        gid = org.parents[gid]
    return out


def oracle(org: Org) -> set[tuple[str, str]]:
    """(variable ref, project path): every project under the variable's group (or any, for the instance)
    that was not scanned. An `unlisted` project under a scope group cannot exist (the listing shows
    every project below it), so the generator's `unlisted` there counts as skipped."""
    out = set()
    for gid in org.variables:
        ref = "instance::K" if gid is None else f"group:{org.paths[gid]}:K"
        for pid, ns, status in org.projects:
            if (gid is None or gid in chain(org, ns)) and status != "scanned":
                out.add((ref, f"{org.paths[ns]}/p{pid}"))
    return out


def run(org: Org, under: Callable[[ProjectRecord, KeyVariable], bool] | None = None) -> set[tuple[str, str]]:
    in_scope = {ns for _, ns, _ in org.projects if set(chain(org, ns)) & org.scope}
    records = {}
    listing = []
    for pid, ns, status in org.projects:
        path = f"{org.paths[ns]}/p{pid}"
        ancestors = tuple(reversed(chain(org, ns)))
        listing.append(info(pid, path, ns))
        if status == "unlisted" and ns not in in_scope:
            continue
        records[path] = rec(pid, path, ancestors, "skipped" if status == "unlisted" else status, "x")
    variables = [KeyVariable("instance", "", None, "K", key=KEY) if gid is None else gvar(org.paths[gid], gid, "K")
                 for gid in org.variables]

    def list_group(gid: int) -> Iterator[ProjectInfo]:
        return iter([p for p in listing if gid in chain(org, p.namespace_id)])

    original = sr._under
    if under is not None:
        sr._under = under  # type: ignore[assignment]
    try:
        readers, _ = find_outside_readers(variables, records, org.parents, Coverage(org.scope), list_group,
                                          lambda: iter(listing))
    finally:
        sr._under = original  # type: ignore[assignment]
    return {(r.variable, r.project) for r in readers}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orgs())
def test_generated_orgs_every_unchecked_reader_is_found_and_nothing_else(org: Org) -> None:
    assert run(org) == oracle(org)


def test_the_property_catches_a_resolver_that_forgets_subgroups() -> None:
    """A deliberately wrong inheritance rule (a group variable reaches only the group's own projects,
    not its subgroups') is caught by the same oracle on a small organisation."""
    def direct_only(record: ProjectRecord, var: KeyVariable) -> bool:
        return var.level == "instance" or record.namespace_id == var.owner_id

    org = Org({100: None, 101: 100}, {100: "g100", 101: "g100/g101"}, [(1000, 101, "skipped")],
              frozenset({100}), [100])
    assert run(org) == oracle(org) == {("group:g100:K", "g100/g101/p1000")}
    assert run(org, direct_only) != oracle(org)


# --- the retire gate --------------------------------------------------------------------------------------

LIVE = LiveKey(SA, KID, exists=True)
VERIFIED = [Migration("mr-web", "acme/web", True, merged_at=decode_time("2026-03-10T15:00:00Z"))]
READER = {"variable": "group:acme:GCP_SA_KEY", "project": "acme/legacy", "project_id": 2,
          "reason": "outside the configured scope: excluded by scope.exclude 'acme/legacy'", "archived": False}
NOW = decode_time("2026-03-20T00:00:00Z")
SIGNAL = UsageSignal(None, decode_time("2026-03-01T00:00:00Z"), decode_time("2026-03-19T00:00:00Z"))


def test_gate_refuses_a_key_with_readers_outside_the_scope_and_names_them() -> None:
    d = disable_decision(LIVE, VERIFIED, SIGNAL, NOW, outside=[READER])
    assert d.verdict == "refuse"
    assert len(d.blocking) == 1 and "acme/legacy" in d.blocking[0] and "excluded" in d.blocking[0]
    assert f"--accept-outside-readers {KID}" in d.blocking[0]
    assert d.evidence["outside_readers"] == [READER] and "accepted_outside_readers" not in d.evidence


def test_gate_proceeds_when_accepted_and_records_what_was_accepted() -> None:
    d = disable_decision(LIVE, VERIFIED, SIGNAL, NOW, outside=[READER], accept_outside=True)
    assert d.verdict == "proceed", d.reason
    assert d.evidence["accepted_outside_readers"] == [READER]
    assert "outside the scope accepted" in d.reason
    # acceptance waives the unchecked readers only, never the usage evidence
    used = UsageSignal(decode_time("2026-03-15T00:00:00Z"), SIGNAL.observation_start, SIGNAL.observation_end)
    assert disable_decision(LIVE, VERIFIED, used, NOW, outside=[READER], accept_outside=True).verdict == "refuse"
    # without readers the flag changes nothing
    assert "accepted_outside_readers" not in disable_decision(LIVE, VERIFIED, SIGNAL, NOW,
                                                              accept_outside=True).evidence


def plan_with_reader(step_lists_it: bool) -> Plan:
    var = KeyVariable("group", "acme", 100, "GCP_SA_KEY", key=KEY)
    inputs = plan_inputs(variables=[var], outside_readers=[OutsideReader(var.ref, "acme/legacy", 2, READER["reason"])])
    params = disable_params(SA, KID, variables=(RetiredVariable("group", "acme", 100, "GCP_SA_KEY", "*", var.ref),),
                            outside_readers=(from_dict(OutsideReader, READER),) if step_lists_it else ())
    action = Action(f"disable_key:{SA}#{KID}", "disable_key", f"{SA}/keys/{KID}", "disable", params=params)
    return Plan("https://gl", "acme-id", "1", "gitlab", "gitlab", decode_time("2026-03-01T00:00:00Z"), "sha256:x",
                actions=(action,), inputs=inputs, inputs_digest=inputs_digest(inputs))


@pytest.mark.parametrize("step_lists_it", [True, False])
def test_retire_takes_the_readers_from_the_plans_recorded_inputs_too(step_lists_it: bool) -> None:
    """A disable step whose `outside_readers` were cut out by hand still blocks: the digest-checked
    inputs hold them."""
    (item,) = items_from_plan(plan_with_reader(step_lists_it))
    assert [r["project"] for r in item.outside] == ["acme/legacy"]


def test_a_plan_without_inputs_relies_on_the_step_alone() -> None:
    plan = replace(plan_with_reader(True), inputs=None, inputs_digest="")
    (item,) = items_from_plan(plan)
    assert [r["project"] for r in item.outside] == ["acme/legacy"]
