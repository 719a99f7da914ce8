"""One "can be disabled" gate (issue 19 item 7): the report and `keys retire` ask the same function.

The observed case: a key's merge requests were merged and verified, so the report said "migrated …
the key can be disabled", while `keys retire` refused it because a shared template (a file needing
manual migration) still used it. Both now derive it from `keys.evidence_blockers` (the report via
`retire.disable_blockers`, retire via `disable_decision`), on the same plan and journal.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.plan_fixtures import disable_params
from helpers.report_fixtures import KEY_API, NOW, NOW_AT, inventory, journal, plan, snapshots

import migrate.retire.gates
from migrate.core.codec import decode_time
from migrate.core.model import Action, OutsideReader, Plan
from migrate.report.findings import FindingsDocument, KeyFinding, build_findings
from migrate.retire.gates import disable_decision
from migrate.retire.ports import LiveKey, UsageSignal
from migrate.retire.runner import EntriesJournal, disable_blockers, items_from_plan, migrations_from_journal

TEMPLATE = "file:acme/templates:legacy.yml"
SA, KID = KEY_API.service_account, KEY_API.key_id


def _plan(blocked_by: tuple[str, ...] = (), outside: tuple[OutsideReader, ...] = ()) -> Plan:
    disable = Action(f"disable_key:{SA}#{KID}", "disable_key", KID, "disable the key", depends_on=("mr-api",),
                     params=disable_params(SA, KID, blocked_by=blocked_by, outside_readers=outside))
    base = plan()
    return replace(base, actions=(*base.actions, disable))


def _journal() -> list:
    return [e for e in journal() if e.evidence.get("key_id") != KID]  # the key is not disabled yet


def _report_key(p: Plan) -> KeyFinding:
    doc: FindingsDocument = build_findings(inventory(), p, _journal(), NOW_AT, snapshots())
    return next(k for k in doc.keys if k.key_id == KID)


def _retire_decision(p: Plan) -> migrate.retire.gates.Decision:
    """What `keys retire` decides for the key (Retirement._retire_one without the I/O): the same
    items, the same verify outcomes, a live key that exists and a usage signal that shows no use."""
    item = next(i for i in items_from_plan(p) if i.key_id == KID)
    migrations = migrations_from_journal(EntriesJournal(_journal()), item.mr_actions)
    live = LiveKey(SA, KID, exists=True)
    now = decode_time(NOW)
    signal = UsageSignal(last_authenticated=None, observation_end=now)
    return disable_decision(live, migrations, signal, now, manual=item.manual, outside=item.outside)


def test_a_template_still_using_the_key_keeps_both_from_saying_it_can_be_disabled() -> None:
    free, held = _plan(), _plan(blocked_by=(TEMPLATE,))
    # the check can fail: with nothing blocking, both say yes
    assert _report_key(free).status == "migrated" and "can be disabled" in _report_key(free).status_reason
    assert _retire_decision(free).verdict == "proceed"
    key, decision = _report_key(held), _retire_decision(held)
    assert key.status == "migrated"  # its merge request is merged and verified …
    assert "can be disabled" not in key.status_reason and TEMPLATE in key.status_reason  # … but not disableable
    assert decision.verdict == "refuse" and any(TEMPLATE in b for b in decision.blocking)
    # word for word the same blockers: the report shows what retire will refuse on
    for blocker in disable_blockers(held, _journal())[KID]:
        assert blocker in key.status_reason and blocker in decision.blocking


def test_readers_outside_the_scope_block_both_the_same_way() -> None:
    reader = OutsideReader("project:acme/api:GCP_SA_KEY", "acme/other", reason="scope.exclude")
    p = _plan(outside=(reader,))
    key, decision = _report_key(p), _retire_decision(p)
    assert "can be disabled" not in key.status_reason and "acme/other" in key.status_reason
    assert decision.verdict == "refuse" and any("acme/other" in b for b in decision.blocking)


def test_breaking_the_one_gate_changes_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate that forgets the blockers makes the report say "can be disabled" *and* retire proceed:
    there is no second copy of the rule that would keep either one right."""
    held = _plan(blocked_by=(TEMPLATE,))
    assert "can be disabled" not in _report_key(held).status_reason and _retire_decision(held).verdict == "refuse"
    monkeypatch.setattr(migrate.retire.gates, "evidence_blockers", lambda *args, **kwargs: [])
    assert "can be disabled" in _report_key(held).status_reason
    assert _retire_decision(held).verdict == "proceed"
