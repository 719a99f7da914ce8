"""Burn-down of live keys over time as a self-contained SVG (no scripts, fonts or network assets).

A step chart: the number of live keys holds until the next event (a scan, a disable, a deletion, a
rollback), then steps. Pure and deterministic: coordinates are rounded to one decimal, so the same
points always give byte-identical SVG (the sample report is diffable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from migrate.core.codec import format_time
from migrate.report.findings import BurnDownPoint

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 24, 48
LINE = "#1f5fbf"
FILL = "#dbe7fb"
GRID = "#d0d7de"
INK = "#24292f"


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _y_axis(highest: int) -> tuple[int, list[int]]:
    """(axis top, ticks): at most about five integer ticks, the top on a tick."""
    step = max(1, -(-highest // 5))
    top = max(1, -(-highest // step) * step)
    return top, list(range(0, top + 1, step))


def _times(points: Sequence[BurnDownPoint]) -> list[float]:
    return [p.ts.timestamp() for p in points]


def _date_labels(times: list[float], x_of: dict[float, float]) -> list[tuple[float, str]]:
    """One label per distinct date, first and last always, at least 90 px apart (UTC dates)."""
    firsts: dict[str, float] = {}
    for t in times:
        firsts.setdefault(datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d"), x_of[t])
    items = [(x, d) for d, x in firsts.items()]
    chosen = [items[0]]
    for x, d in items[1:-1]:
        if x - chosen[-1][0] >= 90:
            chosen.append((x, d))
    if len(items) > 1:
        while len(chosen) > 1 and items[-1][0] - chosen[-1][0] < 90:
            chosen.pop()
        if items[-1][0] - chosen[-1][0] >= 90:
            chosen.append(items[-1])
    return chosen


def render_svg(points: Sequence[BurnDownPoint]) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="burndown-title" class="burndown" font-family="sans-serif" font-size="12">'
            '<title id="burndown-title">Live service-account keys over time</title>')
    if not points:
        return (head + f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" fill="{INK}">'
                'No history yet: run wif-migrate scan.</text></svg>')
    times = _times(points)
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 86400.0
    top, ticks = _y_axis(max(p.live for p in points))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_of = {t: LEFT + (t - t0) / span * pw for t in times}

    def y(v: int) -> float:
        return TOP + ph - v / top * ph

    parts = [head]
    for v in ticks:
        parts.append(f'<line x1="{LEFT}" y1="{_f(y(v))}" x2="{LEFT + pw}" y2="{_f(y(v))}" stroke="{GRID}"/>'
                     f'<text x="{LEFT - 8}" y="{_f(y(v) + 4)}" text-anchor="end" fill="{INK}">{v}</text>')
    coords = [(x_of[times[0]], y(points[0].live))]
    for t, p in zip(times[1:], points[1:], strict=True):
        coords += [(x_of[t], coords[-1][1]), (x_of[t], y(p.live))]
    if len(points) == 1:
        coords.append((LEFT + pw, coords[0][1]))
    coords = [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]
    path = " ".join(f"{_f(x)},{_f(yy)}" for x, yy in coords)
    base = _f(y(0))
    parts.append(f'<polygon points="{_f(coords[0][0])},{base} {path} {_f(coords[-1][0])},{base}" '
                 f'fill="{FILL}" stroke="none"/>')
    parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="3" '
                 'stroke-linejoin="round"/>')
    for t, p in zip(times, points, strict=True):
        parts.append(f'<circle cx="{_f(x_of[t])}" cy="{_f(y(p.live))}" r="4" fill="{LINE}">'
                     f'<title>{escape(format_time(p.ts))}: {p.live} live ({escape(p.event)})</title></circle>')
    parts.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + pw}" y2="{base}" stroke="{INK}"/>')
    for x, label in _date_labels(times, x_of):
        anchor = "end" if x > WIDTH - RIGHT - 40 else "middle"
        parts.append(f'<text x="{_f(x)}" y="{HEIGHT - BOTTOM + 20}" text-anchor="{anchor}" fill="{INK}">'
                     f'{label}</text>')
    parts.append(f'<text x="14" y="{_f(TOP + ph / 2)}" text-anchor="middle" fill="{INK}" '
                 f'transform="rotate(-90 14 {_f(TOP + ph / 2)})">live keys</text>')
    parts.append("</svg>")
    return "".join(parts)
