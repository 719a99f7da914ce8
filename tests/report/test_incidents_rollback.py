"""The report shows a rollback with its reason, and Google's own disables as incidents (issue 16 §4, §6)."""

from __future__ import annotations

import dataclasses

from helpers.report_fixtures import KEY_API, KEY_GROUP, NOW_AT, entry, inventory, journal, plan

from migrate.report import markdown
from migrate.report.findings import build_findings


def test_a_rollback_and_its_reason_are_in_the_key_row() -> None:
    rows = [*journal(), entry(7, "2026-03-07T10:00:00Z", "keys", "disable-api", "rollback_key", "key", "applied",
                              {"service_account": KEY_API.service_account, "key_id": KEY_API.key_id})]
    rows[-1] = dataclasses.replace(rows[-1], detail="re-enabled: deploy broke")
    doc = build_findings(inventory(), plan(), rows, NOW_AT)
    key = next(k for k in doc.keys if k.key_id == KEY_API.key_id)
    assert "Rolled back at 2026-03-07T10:00:00Z by alice@host" in key.status_reason
    assert "deploy broke" in key.status_reason
    assert "deploy broke" in markdown.render(doc)
    plain = build_findings(inventory(), plan(), journal(), NOW_AT)
    assert "Rolled back" not in next(k for k in plain.keys if k.key_id == KEY_API.key_id).status_reason


def test_a_key_google_disabled_itself_is_an_incident_not_a_step() -> None:
    inv = inventory()
    facts = tuple(dataclasses.replace(f, disabled=True, disable_reason="EXPOSED") if f.key == KEY_GROUP else f
                  for f in inv.key_facts)
    doc = build_findings(dataclasses.replace(inv, key_facts=facts), plan(), journal(), NOW_AT)
    incidents = [e for e in doc.errors if e.source == "google"]
    assert len(incidents) == 1 and "INCIDENT" in incidents[0].reason and "EXPOSED" in incidents[0].reason
    key = next(k for k in doc.keys if k.key_id == KEY_GROUP.key_id)
    assert key.status_reason.startswith("INCIDENT")
    assert "INCIDENT" in markdown.render(doc)
    user = tuple(dataclasses.replace(f, disabled=True, disable_reason="USER_INITIATED") if f.key == KEY_GROUP else f
                 for f in inv.key_facts)
    assert not [e for e in build_findings(dataclasses.replace(inv, key_facts=user), plan(), journal(), NOW_AT).errors
                if e.source == "google"]


def test_jobs_accepted_without_evidence_are_named_in_the_report() -> None:
    rows = [*journal()]
    rows[4] = dataclasses.replace(rows[4], evidence={**rows[4].evidence, "accepted_jobs": ["acme/api:publish"],
                                                     "accepted_jobs_by": "ops@host"})
    doc = build_findings(inventory(), plan(), rows, NOW_AT)
    key = next(k for k in doc.keys if k.key_id == KEY_API.key_id)
    assert "accepted without federation evidence by ops@host: acme/api:publish" in key.status_reason
    assert "acme/api:publish" in markdown.render(doc)


def test_the_schedule_window_of_a_disable_decision_is_in_the_key_row() -> None:
    rows = [*journal()]
    rows[4] = dataclasses.replace(rows[4], evidence={**rows[4].evidence, "no_use_window_days": 31,
                                                     "no_use_window_reason": "pipeline schedule 1 of acme/api "
                                                     "(monthly report, cron '0 2 1 * *') runs as rarely as every 31 day(s)"})
    doc = build_findings(inventory(), plan(), rows, NOW_AT)
    key = next(k for k in doc.keys if k.key_id == KEY_API.key_id)
    assert "No-use window 31 day(s): pipeline schedule 1 of acme/api" in key.status_reason
