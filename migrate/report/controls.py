"""Compliance controls: the mapping is data (`controls.yaml`), each check a pure loop.

A check takes the `CheckContext` (what the report knows) and yields one `CheckResult` per resource:
PASS / FAIL / MANUAL / ERROR and one specific sentence naming the resource (the prowler style).
Unlike prowler, a resource we could not read yields an ERROR row instead of vanishing, and a check
with nothing to look at says so in a row of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources

import yaml

from migrate.core.model import ImpersonationRow, Inventory, Plan
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry
from migrate.report import planfacts
from migrate.report.findings import CheckResult, ControlFinding, FrameworkRef, KeyFinding

log = logging.getLogger(__name__)

ROTATION_DAYS = 90


@dataclass(frozen=True)
class CheckContext:
    inventory: Inventory
    plan: Plan | None
    journal: tuple[JournalEntry, ...]
    keys: tuple[KeyFinding, ...]


@dataclass(frozen=True)
class ControlSpec:
    id: str
    check: str
    title: str
    severity: str
    description: str
    remediation: str
    frameworks: tuple[FrameworkRef, ...]


Check = Callable[[CheckContext], Iterator[CheckResult]]


def only_google_managed_keys(ctx: CheckContext) -> Iterator[CheckResult]:
    for k in ctx.keys:
        res = f"{k.service_account}/keys/{k.key_id}"
        if k.status == "deleted":
            yield CheckResult(Status.PASSED, res, f"Key {k.label} has been deleted.")
        elif k.google_state == "disabled":
            yield CheckResult(Status.FAILED, res, f"Key {k.label} is disabled but still exists; "
                                           "delete it after the grace period.")
        elif k.google_state == "enabled":
            yield CheckResult(Status.FAILED, res, f"Key {k.label} is an enabled user-managed key.")
        elif k.stored_in:
            yield CheckResult(Status.FAILED, res, f"Key {k.label} is stored in "
                                           f"{', '.join(k.stored_in)}; Google did not confirm its state.")
        else:
            yield CheckResult(Status.ERROR, res, f"Could not read whether key {k.label} still exists.")
    if not ctx.keys:
        yield CheckResult(Status.PASSED, "scope", "No user-managed service-account key was found in the GitLab scope.")


def key_rotated_90_days(ctx: CheckContext) -> Iterator[CheckResult]:
    existing = [k for k in ctx.keys if k.status != "deleted"]
    for k in existing:
        res = f"{k.service_account}/keys/{k.key_id}"
        if k.age_days is None or k.created is None:
            yield CheckResult(Status.ERROR, res, f"The creation time of key {k.label} could not be read.")
            continue
        note = " (disabled, pending deletion)" if k.google_state == "disabled" else ""
        created = k.created[:10]
        if k.age_days > ROTATION_DAYS:
            yield CheckResult(Status.FAILED, res, f"Key {k.label} was created on {created}, {k.age_days} days ago, "
                                           f"more than {ROTATION_DAYS}{note}.")
        else:
            yield CheckResult(Status.PASSED, res, f"Key {k.label} was created on {created}, {k.age_days} days ago{note}.")
    if not existing:
        yield CheckResult(Status.PASSED, "scope", "No user-managed key in scope still exists.")


_IMMUTABLE_ID = re.compile(r"\b(namespace_id|project_id)\b")


def provider_attribute_condition(ctx: CheckContext) -> Iterator[CheckResult]:
    found = planfacts.providers(ctx.plan, ctx.journal)
    for p in found:
        cond = (p.condition or "").strip()
        if not cond:
            yield CheckResult(Status.FAILED, p.name, f"Provider {p.name} has no attribute condition, so any project "
                                              "on the GitLab instance can exchange its tokens.")
        elif not _IMMUTABLE_ID.search(cond):
            yield CheckResult(Status.MANUAL, p.name, f"Provider {p.name} has the condition `{cond}`, which does not "
                                                "restrict by namespace_id or project_id; review it by hand.")
        else:
            yield CheckResult(Status.PASSED, p.name, f"Provider {p.name} only accepts tokens matching `{cond}`.")
    if not found:
        yield CheckResult(Status.MANUAL, "workload identity provider",
                          "No plan or applied provider was found, so the attribute condition could not be "
                          "checked; run wif-migrate plan.")


_MEMBER = re.compile(r"/(?:attribute\.(?P<attr>[A-Za-z0-9_]+)/(?P<value>[^/]+)|subject/(?P<subject>.+))$")


def _key_projects(ctx: CheckContext, service_account: str) -> dict[str, str]:
    """Project id → path of the projects that used a key of this service account."""
    ids = {p.path: str(p.id) for p in ctx.inventory.projects}
    out: dict[str, str] = {}
    for k in ctx.keys:
        if k.service_account == service_account:
            out.update({ids[p]: p for p in k.used_by if p in ids})
    return out


@dataclass(frozen=True)
class _KeyScope:
    """What a service account's keys allowed: the projects that used them, and whether every
    variable holding them was protected / environment-scoped (then the binding must be too)."""

    projects: dict[str, str]  # project id → path
    protected: bool
    environment: bool


def _key_scope(ctx: CheckContext, sa: str) -> _KeyScope:
    holders = [v for v in ctx.inventory.variables if v.key and v.key.service_account == sa]
    return _KeyScope(_key_projects(ctx, sa), bool(holders) and all(v.protected for v in holders),
                     bool(holders) and all(v.environment_scope != "*" for v in holders))


def _judge_member(member: str, sa: str, scope: _KeyScope) -> CheckResult:
    m = _MEMBER.search(member)
    who = f"Binding on {sa} for {member}"
    allowed = scope.projects
    if member.endswith("/*") or m is None:
        return CheckResult(Status.FAILED, sa, f"{who} admits every identity in the pool.")
    attr = m["attr"] or ""
    if "namespace" in attr or "group" in attr:
        return CheckResult(Status.FAILED, sa, f"{who} admits a whole namespace, broader than the projects that "
                                       f"used the key ({', '.join(sorted(allowed.values())) or 'none'}).")
    if "project" not in attr:
        return CheckResult(Status.MANUAL, sa, f"{who} cannot be compared with the key's users automatically; "
                                         "review it.")
    pid = re.match(r"\d+", m["value"] or "")
    if not pid:
        return CheckResult(Status.MANUAL, sa, f"{who} names no project id; review it.")
    if pid.group(0) not in allowed:
        return CheckResult(Status.FAILED, sa, f"{who} admits project id {pid.group(0)}, which did not use a key of {sa}.")
    path = allowed[pid.group(0)]
    if scope.protected and "protected" not in attr:
        return CheckResult(Status.FAILED, sa, f"{who} admits every ref of {path}, but the key's variables are protected "
                                       "(protected refs only).")
    if scope.environment and "environment" not in attr:
        return CheckResult(Status.FAILED, sa, f"{who} admits every environment of {path}, but the key's variables are "
                                       "environment-scoped.")
    return CheckResult(Status.PASSED, sa, f"{who} admits only project {path}, which used the key.")


def binding_not_broader_than_key(ctx: CheckContext) -> Iterator[CheckResult]:
    found = planfacts.bindings(ctx.plan, ctx.journal)
    for b in found:
        scope = _key_scope(ctx, b.service_account)
        if not b.members:
            yield CheckResult(Status.ERROR, b.service_account or b.action_id,
                              f"Binding action {b.action_id} names no members, so it could not be checked.")
        for member in b.members:
            yield _judge_member(member, b.service_account, scope)
    for entry in ctx.plan.impersonation if ctx.plan else ():
        yield from _impersonation(entry)
    if not found and ctx.plan is None:
        yield CheckResult(Status.MANUAL, "bindings", "No plan or applied binding was found; run wif-migrate plan.")
    elif not found:
        yield CheckResult(Status.PASSED, "bindings", "The plan grants no federation binding.")


def _impersonation(entry: ImpersonationRow) -> Iterator[CheckResult]:
    """The plan's who-can-impersonate table (migrate/plan/impersonation.py): a token admitted after the
    migration that could not use the key before (`broader`, or after − before) is a FAIL. (A table
    without its before/after lists is not a plan: the codec refuses it with the field's path.)"""
    sa = entry.service_account
    if entry.widened:
        yield CheckResult(Status.FAILED, sa, f"After migration {', '.join(entry.widened)} could impersonate {sa}, "
                                             "which could not use its key before.")
    else:
        yield CheckResult(Status.PASSED, sa, f"After migration only tokens that could use the key before can impersonate "
                                             f"{sa} ({len(entry.after)} token case(s) admitted).")


def no_key_in_ci_variables(ctx: CheckContext) -> Iterator[CheckResult]:
    inv = ctx.inventory
    holders = set()
    for v in inv.variables:
        holders.add(v.owner)
        flags = ", ".join(f for f, on in (("protected", v.protected), ("masked", v.masked),
                                          ("hidden", v.hidden)) if on) or "not protected, not masked"
        if v.key is not None:
            yield CheckResult(Status.FAILED, v.ref, f"The {v.level} variable {v.name} of {v.owner or 'the instance'} "
                                             f"holds key {v.key.label} ({flags}).")
        else:
            yield CheckResult(Status.MANUAL, v.ref, f"The {v.level} variable {v.name} of {v.owner or 'the instance'} "
                                               f"may hold a key: {v.suspected_reason or 'value unreadable'}.")
    for p in inv.projects:
        if p.status == Status.ERROR:
            yield CheckResult(Status.ERROR, f"project:{p.path}", f"Project {p.path} could not be read: {p.error}.")
        elif p.status == Status.SCANNED and p.path not in holders:
            yield CheckResult(Status.PASSED, f"project:{p.path}",
                              f"Project {p.path} has no CI/CD variable holding a service-account key.")
    for prob in inv.problems:
        if prob.severity == "error" and prob.subject.startswith(("group:", "instance")):
            yield CheckResult(Status.ERROR, prob.subject, f"The variables of {prob.subject} could not be read: "
                                                     f"{prob.reason}.")


CHECKS: dict[str, Check] = {
    "only_google_managed_keys": only_google_managed_keys,
    "key_rotated_90_days": key_rotated_90_days,
    "provider_attribute_condition": provider_attribute_condition,
    "binding_not_broader_than_key": binding_not_broader_than_key,
    "no_key_in_ci_variables": no_key_in_ci_variables,
}


def load_controls(text: str | None = None) -> tuple[ControlSpec, ...]:
    """Parse controls.yaml (the packaged file unless `text` is given); unknown checks are errors."""
    if text is None:
        text = resources.files("migrate.report").joinpath("controls.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    specs = []
    for c in data["controls"]:
        if c["check"] not in CHECKS:
            raise ValueError(f"controls.yaml: control {c['id']}: unknown check {c['check']!r}")
        refs = tuple(FrameworkRef(str(f["framework"]), str(f.get("version", "")), str(f["id"]))
                     for f in c.get("frameworks", ()))
        specs.append(ControlSpec(str(c["id"]), str(c["check"]), str(c["title"]), str(c["severity"]),
                                 str(c["description"]), str(c["remediation"]), refs))
    return tuple(specs)


def evaluate(ctx: CheckContext, specs: Sequence[ControlSpec]) -> tuple[ControlFinding, ...]:
    """Run every control. A check that crashes is a bug: it stops the report (exit 3), naming the
    check, rather than become an ERROR row that looks like a finding."""
    out = []
    for spec in specs:
        try:
            results = list(CHECKS[spec.check](ctx))
        except Exception:
            log.error("internal error in compliance check %s (%s)", spec.check, spec.id)
            raise
        results.sort(key=lambda r: (r.resource, r.word, r.message))
        out.append(ControlFinding(spec.id, spec.title, spec.severity, spec.description, spec.remediation,
                                  spec.frameworks, tuple(results)))
    return tuple(out)
