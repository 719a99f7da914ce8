"""Key retirement gates: evidence in, decision out. Pure (no I/O, no clock).

A key is disabled only when
  1. every project that held or used it is migrated and verified: for each `merge_request` action the
     `disable_key` action depends on, the verify stage's latest outcome is `applied`;
  2. the key has not authenticated since the cut-over (the latest merge among those MRs), judged on
     Policy Analyzer's `serviceAccountKeyLastAuthentication`, whose `lastAuthenticatedTime` is
     truncated to a day: a value T stands for "some time in [T, T+24h)";
  3. the usage signal is known, or the user explicitly accepted an unknown one (with a reason);
  4. no project the scan did not check can read it (a group or instance variable inherited outside
     the configured scope, or by an unreadable project), unless the user accepted those readers for
     this key explicitly (`--accept-outside-readers KEY_ID`, journaled).

A disabled key is deleted only after the grace period, if it is still disabled and no sign-in was
attempted after it was disabled (failed attempts count as activity in Policy Analyzer).

Every time here is an aware UTC `datetime` (the adapters and the runner decode Google's, GitLab's
and the journal's strings with `codec.decode_time`), so times are compared as instants, never as
spellings; the evidence and the messages write them back with `codec.format_time`/`encode_time`.

Every refusal names what blocks it: the project (merge request action) or the signal. The
orchestration that gathers the evidence and acts on the decision lives in `migrate.retire.runner`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from migrate.core.codec import encode_time
from migrate.core.codec import format_time as iso
from migrate.retire.ports import LiveKey, UsageSignal

DAY = timedelta(days=1)

Verdict = Literal["proceed", "refuse", "skip", "done"]


@dataclass(frozen=True)
class Migration:
    """One merge request action a key's retirement waits for, with its verify-stage status."""

    action_id: str
    target: str  # the project (or project:file) the merge request changes
    verified: bool
    merged_at: datetime | None = None
    verified_at: datetime | None = None
    detail: str = ""
    accepted_jobs: tuple[str, ...] = ()  # PROJECT:JOB the operator accepted without job evidence
    # (merged_at, verified_at) as the journal spells them (GitLab's `….000Z`): the evidence rows
    # write them back unchanged; None: written with `encode_time`
    recorded: tuple[str | None, str | None] = (None, None)

    def row_times(self) -> tuple[str | None, str | None]:
        """(merged_at, verified_at) for the evidence row: the recorded spelling, else encoded."""
        merged, verified = self.recorded
        return (merged if merged is not None else _text(self.merged_at),
                verified if verified is not None else _text(self.verified_at))


@dataclass(frozen=True)
class Decision:
    """The gate's answer. `blocking` names each project or signal that refused (empty unless refuse)."""

    verdict: Verdict
    reason: str
    blocking: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    cutover: datetime | None = None  # what usage was judged against (the schedule gate's start)


# --- time helpers ------------------------------------------------------------------------------

def _text(moment: datetime | None) -> str | None:
    """A time as evidence writes it (`encode_time`: Google's canonical `Z` spelling), None as None."""
    return None if moment is None else encode_time(moment)


# --- gate 1: migrated and verified -------------------------------------------------------------

def migration_gate(migrations: Sequence[Migration]) -> tuple[tuple[str, ...], datetime | None, list[dict[str, Any]]]:
    """(blocking projects, cut-over time or None, evidence rows).

    The cut-over is the latest merge time among the merge requests (falling back to the verify time
    when the merge time was not recorded). None when some MR is not verified, or when there is none.
    """
    blocking: list[str] = []
    rows: list[dict[str, Any]] = []
    times: list[datetime] = []
    for m in migrations:
        merged_text, verified_text = m.row_times()
        rows.append({"action_id": m.action_id, "target": m.target, "verified": m.verified,
                     "merged_at": merged_text, "verified_at": verified_text,
                     **({"accepted_jobs": list(m.accepted_jobs)} if m.accepted_jobs else {})})
        if not m.verified:
            why = f" ({m.detail})" if m.detail else ""
            blocking.append(f"project {m.target}: merge request {m.action_id} not merged and verified{why}")
            continue
        stamp = m.merged_at or m.verified_at
        if stamp is not None:
            times.append(stamp)
    if blocking or not times:
        return tuple(blocking), None, rows
    # to the second, as the evidence's `cutover` always read (a merge at 12:00:00.800 is 12:00:00)
    return (), max(times).replace(microsecond=0), rows


# --- gate 2: no authentication since the cut-over -----------------------------------------------

def usage_gate(signal: UsageSignal, since: datetime, now: datetime, what: str = "cut-over",
               need_coverage: bool = True) -> tuple[str | None, str]:
    """Has the key (possibly) authenticated after `since`? → (blocking reason or None, explanation).

    With T the day-truncated last authentication and C = `since`:
    - no entry, or T + 24h <= C: the last authentication ended before C → pass;
    - T >= C: authenticated after C → refuse;
    - T < C < T + 24h (authenticated on the day of C, before or after it cannot be told): refuse
      until the day after that day has passed (T + 48h, judged on the observation end when
      Google reports it, else on `now`) with no newer entry; then pass.
    Also refuses when the signal's observation window ends at or before C (it cannot see past C
    yet), unless `need_coverage` is False (an orphan judged on recent use, C = now). The caller handles `signal.known is False` (unknown usage) before calling.
    """
    c = since
    n = now
    seen_until = n
    if signal.observation_end is not None:
        seen_until = min(n, signal.observation_end)
    if need_coverage and seen_until <= c:
        return (f"usage signal: Policy Analyzer's observation ends {iso(seen_until)}, not after the {what} "
                f"{iso(c)}; retry once it covers the time after the {what}",
                "observation window does not reach past the " + what)
    if signal.last_authenticated is None:
        return None, f"no authentication recorded in Policy Analyzer's observation window (to {iso(seen_until)})"
    t = signal.last_authenticated
    if t + DAY <= c:
        return None, f"last authentication on the day starting {iso(t)}, which ended before the {what} {iso(c)}"
    if t >= c:
        return (f"usage signal: the key authenticated on the day starting {iso(t)}, after the {what} {iso(c)}",
                "authenticated after the " + what)
    clear_at = t + 2 * DAY
    if seen_until < clear_at:
        return (f"usage signal: the key authenticated on the day starting {iso(t)}, the day of the {what} "
                f"{iso(c)}; Policy Analyzer reports days only, so it is unknown whether that was before or "
                f"after it. Retry after {iso(clear_at)} (the end of the following day) if no newer "
                "authentication appears", "ambiguous: authenticated on the day of the " + what)
    return None, (f"last authentication on the day starting {iso(t)} (the day of the {what}); the following day "
                  f"(to {iso(clear_at)}) passed with no newer authentication")


def _usage_evidence(signal: UsageSignal) -> dict[str, Any]:
    return {"last_authenticated": _text(signal.last_authenticated), "observation_start": _text(signal.observation_start),
            "observation_end": _text(signal.observation_end), "usage_unknown_reason": signal.unknown_reason,
            "granularity": "day"}


def _unknown(signal: UsageSignal, accept_unknown: str | None) -> tuple[str | None, dict[str, Any]]:
    """Unknown usage refuses unless accepted with a reason (recorded as evidence)."""
    if signal.known:
        return None, {}
    if accept_unknown:
        return None, {"accepted_unknown_usage": accept_unknown}
    return (f"usage signal unknown: {signal.unknown_reason}; pass --accept-unknown-usage REASON to proceed "
            "without it (the reason is recorded)"), {}


# --- decisions ---------------------------------------------------------------------------------

def outside_blockers(key_id: str, outside: Sequence[Mapping[str, Any]]) -> list[str]:
    """One blocker per reader outside the scope (project, variable, why), the way out on the last."""
    out = []
    for r in outside:
        who = f"project {r.get('project')}" if r.get("project") else "unknown projects"
        out.append(f"{who} can read {r.get('variable')} but the scan did not check its jobs "
                   f"({r.get('reason') or 'outside the scope'})")
    if out:
        out[-1] += (f"; scan and migrate them, or pass --accept-outside-readers {key_id} to disable anyway "
                    "(recorded)")
    return out


def evidence_blockers(key_id: str, migrations: Sequence[Migration], manual: Sequence[str] = (),
                      outside: Sequence[Mapping[str, Any]] = (), accept_outside: bool = False) -> list[str]:
    """What blocks disabling a key on the plan and the journal alone, before any live read: each
    merge request not merged and verified (gate 1), each CI file needing manual migration that still
    uses the key, each reader outside the scope not accepted (gate 4).

    The one gate both `disable_decision` (`keys retire`) and the report's "can be disabled"
    (`migrate.retire.runner.disable_blockers`) ask, so they cannot disagree; the live gates (usage signal,
    schedule window, the key's state) come after it in `keys retire` only.
    """
    blockers = list(migration_gate(migrations)[0])
    blockers += [f"{m}: still uses the key and needs a manual migration (re-scan and re-plan once done)"
                 for m in manual]
    if outside and not accept_outside:
        blockers += outside_blockers(key_id, outside)
    return blockers


def disable_decision(key: LiveKey, migrations: Sequence[Migration], signal: UsageSignal, now: datetime,
                     accept_unknown: str | None = None, cutover_if_unused: datetime | None = None,
                     manual: Sequence[str] = (), orphan: bool = False,
                     outside: Sequence[Mapping[str, Any]] = (), accept_outside: bool = False) -> Decision:
    """May this key be disabled now?

    `cutover_if_unused` is the cut-over to judge usage against when no merge request is involved:
    the plan's time for a key that is held but not used, `now` for an orphan key named explicitly.
    An `orphan` (named explicitly, no variable holds it) is judged on recent use: C = now.
    `manual` are CI files the plan could not rewrite that still use the key (plan `blocked_by`):
    each one blocks until a new scan and plan no longer find it.
    `outside` are the readers the scan did not check (plan `outside_readers`): each blocks unless
    `accept_outside` (the operator named this key with --accept-outside-readers).
    """
    evidence: dict[str, Any] = {"now": iso(now), **_usage_evidence(signal)}
    if not key.exists:
        return Decision("skip", "the key no longer exists (already deleted)", evidence=evidence)
    if key.disabled:
        return Decision("skip", "already disabled", evidence=evidence)
    blocking, cutover, rows = migration_gate(migrations)
    evidence["migrations"] = rows
    blockers = evidence_blockers(key.key_id, migrations, manual, outside, accept_outside)
    if manual:
        evidence["manual"] = list(manual)
    if outside:
        evidence["outside_readers"] = [dict(r) for r in outside]
        if accept_outside:
            evidence["accepted_outside_readers"] = [dict(r) for r in outside]
    if orphan:
        cutover = now
        evidence["orphan"] = True
    elif not migrations:
        cutover = cutover_if_unused
        evidence["no_migrations"] = True
    evidence["cutover"] = None if cutover is None else iso(cutover)
    refusal, extra = _unknown(signal, accept_unknown)
    evidence.update(extra)
    if refusal:
        blockers.append(refusal)
    elif signal.known and cutover is not None:
        usage_block, explanation = usage_gate(signal, cutover, now, need_coverage=not orphan)
        evidence["usage"] = explanation
        if usage_block:
            blockers.append(usage_block)
    elif cutover is None and not blocking:
        blockers.append("no cut-over time known (no merge time recorded by verify)")
    if blockers:
        return Decision("refuse", "; ".join(blockers), tuple(blockers), evidence, cutover)
    reason = "every project migrated and verified" if migrations else \
        "orphan key named explicitly" if orphan else "no project uses the key"
    if outside and accept_outside:
        reason += f"; {len(outside)} reader(s) outside the scope accepted by the operator"
    if not signal.known:
        reason += "; usage unknown, accepted: " + str(accept_unknown)
    else:
        reason += "; " + str(evidence.get("usage", ""))
    return Decision("proceed", reason, evidence=evidence, cutover=cutover)


def delete_decision(key: LiveKey, disabled_at: datetime | None, rolled_back_at: datetime | None,
                    signal: UsageSignal, now: datetime, grace_days: int,
                    accept_unknown: str | None = None) -> Decision:
    """May this key be deleted now? (Grace period over, still disabled, no sign-in since disabling.)"""
    evidence: dict[str, Any] = {"now": iso(now), "disabled_at": None if disabled_at is None else iso(disabled_at),
                                "grace_days": grace_days,
                                **_usage_evidence(signal)}
    if not key.exists:
        return Decision("done", "already deleted", evidence=evidence)
    if disabled_at is None:
        return Decision("refuse", "not disabled by wif-migrate (run `keys retire` first)",
                        ("journal: no disable recorded",), evidence)
    if rolled_back_at is not None and rolled_back_at >= disabled_at:
        msg = f"rolled back (re-enabled) at {iso(rolled_back_at)} after being disabled; retire it again first"
        return Decision("refuse", msg, ("journal: rollback",), evidence)
    if not key.disabled:
        msg = f"the key is enabled again (disabled by wif-migrate at {iso(disabled_at)}); someone re-enabled it"
        return Decision("refuse", msg, ("live key state: enabled",), evidence)
    grace_end = disabled_at + timedelta(days=grace_days)
    evidence["grace_ends"] = iso(grace_end)
    blockers: list[str] = []
    if now < grace_end:
        blockers.append(f"grace period: {grace_days} days since disabling end at {iso(grace_end)}")
    refusal, extra = _unknown(signal, accept_unknown)
    evidence.update(extra)
    if refusal:
        blockers.append(refusal)
    elif signal.known and signal.last_authenticated is not None:
        t = signal.last_authenticated
        d = disabled_at
        # The value is a day start: T > D means a whole day after the disable saw an attempt.
        # T <= D is the disable day itself (use before disabling) or earlier: fine, because the
        # grace period (>= 1 day) passed with no newer entry.
        if t > d:
            blockers.append(f"usage signal: sign-in attempt on the day starting {iso(t)}, after the key was "
                            f"disabled at {iso(d)}: something still tries to use it")
    if blockers:
        return Decision("refuse", "; ".join(blockers), tuple(blockers), evidence)
    return Decision("proceed", f"disabled since {iso(disabled_at)}, grace period over, no sign-in since",
                    evidence=evidence)


def held_key_ids(variables: Iterable[dict[str, Any]]) -> set[str]:
    """Key ids named in plan variable params or inventory variables (`key.key_id`)."""
    out: set[str] = set()
    for v in variables:
        key = v.get("key") if isinstance(v.get("key"), dict) else None
        if key and key.get("key_id"):
            out.add(str(key["key_id"]))
    return out
