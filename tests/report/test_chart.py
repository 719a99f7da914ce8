"""The burn-down SVG: literal for the fixture (see expected/burndown.svg), and its edge cases."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from migrate.core.codec import decode_time
from migrate.report.chart import render_svg
from migrate.report.findings import BurnDownPoint

NS = "{http://www.w3.org/2000/svg}"


def test_no_history_says_so() -> None:
    svg = render_svg(())
    assert "No history yet: run wif-migrate scan." in svg
    ET.fromstring(svg)  # well-formed


def test_single_point_draws_a_flat_line_across() -> None:
    root = ET.fromstring(render_svg((BurnDownPoint(decode_time("2026-03-01T00:00:00Z"), 2, "scan saw 2 key(s)"),)))
    (line,) = root.iter(f"{NS}polyline")
    assert line.get("points") == "56,24 696,24"


def test_y_axis_ends_on_a_tick_and_times_are_utc() -> None:
    points = (BurnDownPoint(decode_time("2026-03-01T23:30:00-02:00"), 7, "scan"), BurnDownPoint(decode_time("2026-03-09T00:00:00Z"), 3, "x"))
    root = ET.fromstring(render_svg(points))
    labels = [t.text for t in root.iter(f"{NS}text")]
    assert labels[:5] == ["0", "2", "4", "6", "8"]
    assert "2026-03-02" in labels  # 23:30 at UTC-2 is 01:30 UTC the next day
    assert "2026-03-09" in labels


def test_steps_hold_until_the_next_event() -> None:
    points = (BurnDownPoint(decode_time("2026-03-01T00:00:00Z"), 4, "a"), BurnDownPoint(decode_time("2026-03-03T00:00:00Z"), 2, "b"),
              BurnDownPoint(decode_time("2026-03-05T00:00:00Z"), 2, "now"))
    (line,) = ET.fromstring(render_svg(points)).iter(f"{NS}polyline")
    coords = [tuple(map(float, c.split(","))) for c in (line.get("points") or "").split()]
    assert [c[1] for c in coords] == [24, 24, 128, 128]  # horizontal, then down, then horizontal
    assert coords[1][0] == coords[2][0] == 376  # the drop happens at the event's time (mid-span)
    assert not re.search(r"\d\.\d\d", line.get("points") or "")  # one decimal at most: byte-stable
