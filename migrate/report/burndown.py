"""Google-side state of each key over time: the burn-down of live keys, and the current state.

Two kinds of evidence, merged in time order:
- inventory snapshots: Google's facts as observed at scan time (exists? disabled?);
- journal key steps: disable / delete / rollback applied by `wif-migrate keys`.
Whichever is later wins, so a scan taken after a rollback shows the key live again, and a disable
journaled after the last scan shows it disabled before the next scan. A key is *live* while it is
neither disabled nor deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from migrate.core.codec import decode_time
from migrate.core.model import Inventory
from migrate.report.findings import BurnDownPoint
from migrate.report.history import KeyEvent

GoogleState = str  # enabled | disabled | deleted | unknown

_EVENT_STATE = {"disable": "disabled", "delete": "deleted", "rollback": "enabled"}


def observed_from_data(body: Any) -> tuple[datetime, dict[str, GoogleState]]:
    """(generated_at, states) straight from a snapshot's JSON: only the fields the burn-down needs,
    so old or partly unreadable snapshots still count. `generated_at` is decoded here, at the
    snapshot's edge (`codec.decode_time`). Raises ValueError when it is not an inventory (or its
    generated_at is not a time)."""
    if not isinstance(body, dict) or not isinstance(body.get("generated_at"), str):
        raise ValueError("not an inventory snapshot")
    generated_at = decode_time(body["generated_at"])
    states: dict[str, GoogleState] = {}
    for v in body.get("variables") or ():
        key = v.get("key") if isinstance(v, dict) else None
        if isinstance(key, dict) and isinstance(key.get("key_id"), str):
            states[key["key_id"]] = "unknown"
    for f in body.get("key_facts") or ():
        key = f.get("key") if isinstance(f, dict) else None
        if not isinstance(key, dict) or not isinstance(key.get("key_id"), str):
            raise ValueError("key fact without a key id")
        kid = key["key_id"]
        if f.get("key_exists") is False:
            states[kid] = "deleted"
        elif f.get("disabled") is True:
            states[kid] = "disabled"
        elif f.get("disabled") is False:
            states[kid] = "enabled"
        else:
            states.setdefault(kid, "unknown")
    return generated_at, states


def observed_states(inventory: Inventory) -> dict[str, GoogleState]:
    """Key id → state per the inventory's Google facts; keys only seen in variables are 'unknown'."""
    states: dict[str, GoogleState] = {v.key.key_id: "unknown" for v in inventory.variables if v.key}
    for f in inventory.key_facts:
        if f.key_exists is False:
            states[f.key.key_id] = "deleted"
        elif f.disabled is True:
            states[f.key.key_id] = "disabled"
        elif f.disabled is False:
            states[f.key.key_id] = "enabled"
        else:
            states.setdefault(f.key.key_id, "unknown")
    return states


@dataclass(frozen=True)
class _Step:
    ts: datetime  # aware UTC to the second: steps in the same second keep their input order
    order: int
    observed: dict[str, GoogleState] | None
    event: KeyEvent | None


def _live(states: dict[str, GoogleState]) -> int:
    return sum(1 for s in states.values() if s not in ("disabled", "deleted"))


def _second(moment: datetime) -> datetime:
    """A burn-down time: to the whole second, as the chart, tables and JSON write it."""
    return moment.replace(microsecond=0)


def replay(snapshots: Sequence[tuple[datetime, dict[str, GoogleState]]], events: Sequence[KeyEvent],
           now: datetime) -> tuple[dict[str, GoogleState], tuple[BurnDownPoint, ...]]:
    """Replay snapshots ((generated_at, observed states)) and key events in time order → (final state per key id, burn-down points).

    A snapshot adds the keys it saw and sets the state of those whose facts it knows; keys it did
    not see keep their state (a rescan after the variable was deleted no longer sees the key)."""
    steps = [_Step(_second(ts), i, observed, None) for i, (ts, observed) in enumerate(snapshots)]
    steps += [_Step(_second(e.ts), len(steps) + i, None, e) for i, e in enumerate(events)]
    steps.sort(key=lambda s: (s.ts, s.order))
    states: dict[str, GoogleState] = {}
    points: list[BurnDownPoint] = []
    for step in steps:
        if step.observed is not None:
            for kid, state in step.observed.items():
                if state != "unknown" or kid not in states:
                    states[kid] = state
            label = f"scan saw {len(step.observed)} key(s)"
        else:
            assert step.event is not None
            ev = step.event
            states[ev.key_id] = _EVENT_STATE[ev.kind]
            label = f"{ev.kind} {ev.service_account}#{ev.key_id[:8]}"
        points.append(BurnDownPoint(step.ts, _live(states), label))
    if points:
        points.append(BurnDownPoint(_second(now), _live(states), "now"))
    return states, tuple(points)
