"""The findings document: key status from the journal + Google facts, summary, review lists, history."""

from __future__ import annotations

from dataclasses import replace

from helpers.report_fixtures import (
    KEY_API,
    KEY_GROUP,
    KEY_OLD,
    NOW_AT,
    entry,
    inventory,
    journal,
    plan,
    snapshots,
)

from migrate.core.codec import decode_time, format_time
from migrate.core.model import to_dict
from migrate.report.findings import BurnDownPoint, FindingsDocument, KeyFinding, Summary, build_findings


def key(doc: FindingsDocument, key_id: str) -> KeyFinding:
    return next(k for k in doc.keys if k.key_id == key_id)


def test_key_status_follows_mr_verify_disable_delete(doc: FindingsDocument) -> None:
    assert [(k.label, k.status, [m.state for m in k.merge_requests]) for k in doc.keys] == [
        ("builder@acme-ci.iam.gserviceaccount.com#b2b2b2b2", "mr_opened", ["opened"]),
        ("deployer@acme-prod.iam.gserviceaccount.com#a1a1a1a1", "disabled", ["verified"]),
        ("old@acme-prod.iam.gserviceaccount.com#c3c3c3c3", "deleted", []),
    ]
    api = key(doc, KEY_API.key_id)
    assert api.stored_in == ("project:acme/api:GCP_SA_KEY[production]",)
    assert api.used_in == ("acme/api:.gitlab-ci.yml:12-14",)
    assert api.age_days == 282 and api.last_used == "2026-02-28T09:00:00Z"
    assert key(doc, KEY_GROUP.key_id).used_by == ("acme/web",)  # through the shared template
    assert key(doc, KEY_GROUP.key_id).last_used_note == "Policy Analyzer: permission denied"


def test_summary_counts_are_cumulative(doc: FindingsDocument) -> None:
    assert doc.summary == Summary(keys_found=3, keys_mr_opened=3, keys_migrated=2, keys_disabled=2, keys_deleted=1,
                                  keys_live=1, projects_total=6, projects_keyless=2, projects_with_keys=3,
                                  projects_error=1, percent_done=66)


def test_migrated_needs_every_merge_request_verified() -> None:
    rows = [e for e in journal() if e.stage != "keys"]
    rows.append(entry(9, "2026-03-03T11:00:00Z", "verify", "mr-templates", "verify", "acme/templates", "failed",
                      {"mr_state": "merged"}))
    doc = build_findings(inventory(), plan(), rows, NOW_AT)
    assert key(doc, KEY_API.key_id).status == "migrated"
    assert key(doc, KEY_GROUP.key_id).status == "mr_opened"
    assert key(doc, KEY_GROUP.key_id).merge_requests[0].state == "failed"


def test_rollback_and_dry_runs() -> None:
    rows = journal() + [
        entry(7, "2026-03-06T10:00:00Z", "keys", "disable_key:x", "rollback_key",
              f"projects/acme-prod/serviceAccounts/{KEY_API.service_account}/keys/{KEY_API.key_id}", "applied",
              {"service_account": KEY_API.service_account, "key_id": KEY_API.key_id, "reason": "deploys broke"}),
        entry(8, "2026-03-07T10:00:00Z", "keys", "disable_key:y", "disable_key", "k", "would_apply",
              {"service_account": KEY_API.service_account, "key_id": KEY_API.key_id}),
    ]
    doc = build_findings(inventory(), plan(), rows, NOW_AT, snapshots())
    assert key(doc, KEY_API.key_id).status == "migrated"  # re-enabled: back to its MR status
    assert doc.summary.keys_live == 2
    assert [(format_time(p.ts), p.live) for p in doc.burndown][-3:] == [
        ("2026-03-05T10:00:00Z", 1), ("2026-03-06T10:00:00Z", 2), ("2026-03-10T12:00:00Z", 2)]


def test_google_facts_newer_than_the_journal_win() -> None:
    later = replace(inventory("2026-03-08T00:00:00Z"), key_facts=tuple(
        replace(f, disabled=False) if f.key == KEY_API else f for f in inventory().key_facts))
    doc = build_findings(later, plan(), journal(), NOW_AT)
    assert key(doc, KEY_API.key_id).google_state == "enabled"  # someone re-enabled it out of band
    assert key(doc, KEY_API.key_id).status == "migrated"


def test_key_step_naming_no_key_is_an_error_row() -> None:
    rows = journal() + [entry(9, "2026-03-06T00:00:00Z", "keys", "manual-step", "disable_key", "", "applied")]
    doc = build_findings(inventory(), plan(), rows, NOW_AT)
    assert [(e.subject, e.reason) for e in doc.errors if e.source == "journal"] == [
        ("journal:9", "disable_key step on manual-step names no key; it is not counted")]


def test_unreadable_snapshot_is_an_error_row_and_skipped() -> None:
    bad = [(decode_time("2026-01-01T00:00:00Z"), {"projects": "not a list of projects", "variables": 7})]
    doc = build_findings(inventory(), plan(), journal(), NOW_AT, bad + snapshots())
    assert any(e.subject == "history:inventory@2026-01-01T00:00:00Z" for e in doc.errors)
    assert doc.burndown[0] == BurnDownPoint(decode_time("2026-02-01T10:00:00Z"), 3, "scan saw 3 key(s)")


def test_burndown_from_snapshots_and_key_steps(doc: FindingsDocument) -> None:
    assert doc.burndown == (
        BurnDownPoint(decode_time("2026-02-01T10:00:00Z"), 3, "scan saw 3 key(s)"),
        BurnDownPoint(decode_time("2026-03-01T10:00:00Z"), 2, "scan saw 3 key(s)"),
        BurnDownPoint(decode_time("2026-03-04T10:00:00Z"), 2, f"delete {KEY_OLD.service_account}#c3c3c3c3"),
        BurnDownPoint(decode_time("2026-03-05T10:00:00Z"), 1, f"disable {KEY_API.service_account}#a1a1a1a1"),
        BurnDownPoint(NOW_AT, 1, "now"),
    )


def test_deleted_key_stays_in_the_report_after_a_rescan_no_longer_sees_it() -> None:
    rescan = replace(inventory("2026-03-09T00:00:00Z"), key_facts=tuple(
        f for f in inventory().key_facts if f.key != KEY_OLD))
    doc = build_findings(rescan, plan(), journal(), NOW_AT, snapshots() + [(decode_time("2026-03-09T00:00:05Z"), to_dict(rescan))])
    assert key(doc, KEY_OLD.key_id).status == "deleted"


def test_manual_and_error_lists(doc: FindingsDocument) -> None:
    assert [(m.subject, m.source) for m in doc.manual] == [
        ("file:acme/legacy:.gitlab-ci.yml", "plan"), ("file:acme/web:.gitlab-ci.yml", "inventory")]
    assert [(e.subject, e.reason) for e in doc.errors] == [
        ("project:acme/secret", "403 Forbidden: the token cannot read this project")]


def test_projects_keyless_and_inherited(doc: FindingsDocument) -> None:
    states = {p.path: (p.state, p.keys) for p in doc.projects}
    assert states["acme/docs"] == ("keyless", ())
    assert states["acme/web"] == ("key", ("builder@acme-ci.iam.gserviceaccount.com#b2b2b2b2",))
    assert states["acme/secret"][0] == "error"
    docs = next(p for p in doc.projects if p.path == "acme/docs")
    assert docs.can_read == ("group:acme:GCP_GROUP_KEY",)


def test_plan_repeats_of_inventory_problems_are_merged_and_plan_errors_are_errors() -> None:
    from migrate.core.model import Problem

    p = replace(plan(), manual=plan().manual + (
        Problem("file:acme/web:.gitlab-ci.yml", "the job builds its include path from a variable", "manual"),
        Problem("project:acme/secret", "403 Forbidden: the token cannot read this project", "error"),
        Problem("file:labs/x:.gitlab-ci.yml", "404 Not Found", "error")))
    doc = build_findings(inventory(), p, journal(), NOW_AT)
    assert [(m.subject, m.source) for m in doc.manual] == [
        ("file:acme/legacy:.gitlab-ci.yml", "plan"), ("file:acme/web:.gitlab-ci.yml", "inventory, plan")]
    assert [(e.subject, e.source) for e in doc.errors] == [
        ("file:labs/x:.gitlab-ci.yml", "plan"), ("project:acme/secret", "inventory, plan")]
