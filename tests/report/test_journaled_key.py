"""The report reads which key a `keys` journal row is about from fields (issue 20 §4): the
`JournaledKey` every row's evidence carries, else the typed params of its plan step. Rows of the
earliest builds that named the key only in their target still find their key; a row that names
none stays unplaced (an ERROR row for the caller), never guessed."""

from __future__ import annotations

import json

from helpers.plan_fixtures import disable_params
from hypothesis import given
from hypothesis import strategies as st

from migrate.core.codec import decode, decode_time, encode
from migrate.core.key_names import key_name, parts_of
from migrate.core.model import Action, JournaledKey, journaled_key
from migrate.core.state import JournalEntry
from migrate.report.history import key_identity_of

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "ab" * 20


def row(evidence: dict[str, object], target: str = "", action_id: str = "disable_key:x") -> JournalEntry:
    return JournalEntry(1, decode_time("2026-03-02T00:00:00Z"), "r", "me", "keys", action_id, "disable_key", target,
                        "outcome", "applied", "", evidence)


@given(st.builds(JournaledKey, st.text(), st.text()))
def test_journaled_key_round_trips_through_the_codec(key: JournaledKey) -> None:
    data = json.loads(json.dumps(encode(key)))
    assert decode(JournaledKey, data) == key and journaled_key({**data, "who": "me", "dry_run": False}) == key


def test_an_ill_typed_or_half_identity_is_not_a_key() -> None:
    assert journaled_key({"service_account": SA, "key_id": 7}) is None
    assert journaled_key({"service_account": SA}) is None
    assert journaled_key({}) is None


def test_the_fields_name_the_key_without_target_or_plan() -> None:
    assert key_identity_of(row({"service_account": SA, "key_id": KID}), {}) == (SA, KID)


def test_the_plan_steps_typed_params_name_it_when_the_evidence_does_not() -> None:
    step = Action("disable_key:x", "disable_key", "t", "s", params=disable_params(SA, KID))
    assert key_identity_of(row({}), {step.id: step}) == (SA, KID)


def test_rows_of_the_earliest_builds_keep_their_key_and_a_nameless_row_stays_unplaced() -> None:
    assert key_identity_of(row({}, target=key_name(SA, KID)), {}) == (SA, KID)
    assert key_identity_of(row({}, action_id=KID), {}) == ("", KID)
    assert key_identity_of(row({}, target="key"), {}) is None


def test_resource_names_come_apart_into_account_and_key() -> None:
    assert parts_of(key_name(SA, KID)) == (SA, KID)
    assert parts_of("//iam.googleapis.com/" + key_name(SA, KID, "other")) == (SA, KID)
    assert parts_of(f"projects/acme-prod/serviceAccounts/{SA}") == (SA, "")
    assert parts_of(f"projects/p/serviceAccounts/{SA}/keys/not-hex") == (SA, "")
    assert parts_of("gitlab/gitlab") == ("", "")
