"""The keys verbs' selection rules (migrate/retire/selection.py), pure: plan, journal and the
inventory snapshot in, key items out. The end-to-end behaviour is in test_keys_sandbox.py and
test_keys_cli.py; these pin each rule on literal inputs, including the refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from helpers.plan_fixtures import disable_params, mr_params
from helpers.plan_inputs import plan_inputs

from migrate.core.codec import decode_time
from migrate.core.errors import UsageError
from migrate.core.model import Action, KeyIdentity, KeyVariable, Plan, RetiredVariable
from migrate.core.state import JournalEntry
from migrate.retire import selection

SA = "deployer@acme-prod.iam.gserviceaccount.com"
OTHER = "builder@acme-ci.iam.gserviceaccount.com"
K1 = "a1" * 20
K2 = "b2" * 20
ORPHAN = "c3" * 20


def _plan() -> Plan:
    var = RetiredVariable("project", "acme/api", 1, "GCP_KEY", "*", "project:acme/api:GCP_KEY")
    return Plan(gitlab_url="https://gitlab.example.com", identity_project="acme-id", project_number="1",
                pool_id="gitlab", provider_id="gitlab", generated_at=decode_time("2026-03-01T00:00:00Z"), inventory_digest="d",
                actions=(
        Action("mr-api", "merge_request", "acme/api", "MR", params=mr_params("acme/api")),
        Action(f"disable_key:{K1}", "disable_key", K1, "disable", depends_on=("mr-api",),
               params=disable_params(SA, K1, key_project="acme-keys", variables=(var,))),
        Action(f"disable_key:{K2}", "disable_key", K2, "disable",
               params=disable_params(OTHER, K2)),
    ), inputs=plan_inputs(variables=[KeyVariable("project", "acme/other", 2, "OTHER_KEY",
                                                 key=KeyIdentity(OTHER, "d4" * 20))]))


def _entry(kind: str, **evidence: Any) -> JournalEntry:
    return JournalEntry(1, decode_time("2026-03-02T00:00:00Z"), "r", "me", "keys", str(evidence.get("key_id")), kind, "t",
                        "outcome", "applied", "", evidence)


def _no_listing() -> Sequence[tuple[str, str]]:
    raise AssertionError("the key list is read only when a named key is not in the plan")


def test_retire_selects_every_planned_key_or_the_named_ones() -> None:
    plan = _plan()
    assert [i.key_id for i in selection.select_for_retire(plan, [], [], _no_listing)] == [K1, K2]
    assert [i.key_id for i in selection.select_for_retire(plan, [K2[:8]], [], _no_listing)] == [K2]


def test_a_named_key_outside_the_plan_is_an_orphan_only_when_listed() -> None:
    listed = [(OTHER, ORPHAN)]
    [item] = selection.select_for_retire(_plan(), [ORPHAN[:6]], [], lambda: listed)
    assert (item.service_account, item.key_id, item.orphan) == (OTHER, ORPHAN, True)
    with pytest.raises(UsageError, match="not a key of the plan nor a user-managed key"):
        selection.select_for_retire(_plan(), ["ffff0000"], [], lambda: listed)


def test_accept_outside_readers_names_keys_of_the_plan_only() -> None:
    assert selection.accepted_outside(_plan(), [K1[:8]]) == (K1,)
    with pytest.raises(UsageError, match="--accept-outside-readers ffff0000: not a key id of the plan"):
        selection.accepted_outside(_plan(), ["ffff0000"])


def test_delete_finds_orphans_retire_disabled_in_the_journal() -> None:
    journal = [_entry("disable_key", key_id=ORPHAN, service_account=OTHER, orphan=True)]
    items = selection.select_for_delete(_plan(), [ORPHAN[:8]], journal)
    assert [(i.key_id, i.orphan) for i in items] == [(ORPHAN, True)]
    assert [i.key_id for i in selection.select_for_delete(_plan(), [], journal)] == [K1, K2]
    with pytest.raises(UsageError, match="nor an orphan disabled by `keys retire`"):
        selection.select_for_delete(_plan(), [ORPHAN[:8]], [])  # not disabled as an orphan: refused


def test_rollback_target_from_plan_journal_or_the_named_account() -> None:
    def listed(sa: str) -> list[str]:
        assert sa == OTHER
        return [ORPHAN]
    assert selection.rollback_target(_plan(), K1[:8], [], None, listed).action_id == f"disable_key:{K1}"
    journal = [_entry("rollback_key", key_id=ORPHAN, service_account=OTHER)]
    assert selection.rollback_target(None, ORPHAN[:8], journal, None, listed).service_account == OTHER
    assert selection.rollback_target(None, ORPHAN[:8], [], OTHER, listed).key_id == ORPHAN  # short id resolved
    with pytest.raises(UsageError, match="unknown service account; pass --service-account"):
        selection.rollback_target(None, ORPHAN, [], None, listed)


def test_held_keys_and_service_accounts_in_scope() -> None:
    inventory = {"variables": [{"key": {"key_id": "e5" * 20}}],
                 "key_facts": [{"key": {"service_account": "Scanner@acme.iam.gserviceaccount.com"}}]}
    assert selection.held_keys(_plan(), inventory) == {K1, K2, "d4" * 20, "e5" * 20}
    assert selection.held_keys(None, None) == set()
    assert selection.service_accounts(_plan(), ["cfg@x.iam.gserviceaccount.com"], inventory) == sorted(
        [OTHER, "cfg@x.iam.gserviceaccount.com", SA, "scanner@acme.iam.gserviceaccount.com"])
    assert selection.service_accounts(None, [], None) == []
    assert selection.key_projects(_plan()) == {SA: "acme-keys"}
    assert selection.journal_key_ids([_entry("rollback_key", key_id=K1), _entry("x")]) == [K1]
