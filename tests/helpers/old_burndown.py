"""Main's burn-down replay as it kept times as text (main at 27cbc7f, before issue 20 made
`BurnDownPoint.ts`, `KeyEvent.ts` and `_Step.ts` datetimes): the oracle the datetime replay is
compared with. `parse_ts` / `norm_ts` / `observed_from_data`'s time / `replay` copied as they were;
points are (ts text, live, event) and events (ts text, service account, key id, kind)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from migrate.core.codec import decode_time_or_none

_EVENT_STATE = {"disable": "disabled", "delete": "deleted", "rollback": "enabled"}


def parse_ts(value: str) -> datetime | None:
    return decode_time_or_none(value) if isinstance(value, str) else None


def norm_ts(value: str) -> str:
    dt = parse_ts(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else value


@dataclass(frozen=True)
class OldEvent:
    ts: str
    service_account: str
    key_id: str
    kind: str


@dataclass(frozen=True)
class _Step:
    ts: str
    order: int
    observed: dict[str, str] | None
    event: OldEvent | None


def _live(states: dict[str, str]) -> int:
    return sum(1 for s in states.values() if s not in ("disabled", "deleted"))


def replay(snapshots: Sequence[tuple[str, dict[str, str]]], events: Sequence[OldEvent],
           now: str) -> tuple[dict[str, str], tuple[tuple[str, int, str], ...]]:
    steps = [_Step(norm_ts(ts), i, observed, None) for i, (ts, observed) in enumerate(snapshots)]
    steps += [_Step(norm_ts(e.ts), len(steps) + i, None, e) for i, e in enumerate(events)]
    steps.sort(key=lambda s: (s.ts, s.order))
    states: dict[str, str] = {}
    points: list[tuple[str, int, str]] = []
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
        points.append((step.ts, _live(states), label))
    if points:
        points.append((norm_ts(now), _live(states), "now"))
    return states, tuple(points)


def days(now: str, then: str | None) -> int | None:
    """migrate/report/assemble.py `_days`."""
    a, b = parse_ts(now), parse_ts(then or "")
    return (a - b).days if a and b else None


def generated_at(body: Any) -> str:
    """migrate/report/burndown.py `observed_from_data`'s time: the snapshot's text as it is."""
    return str(body["generated_at"])
