"""Longest interval of a pipeline schedule's cron (issue 16 §5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.cron import max_interval


@pytest.mark.parametrize(("cron", "days"), [
    ("0 3 * * *", 1), ("*/15 * * * *", 15 / 1440), ("0 6 * * 1", 7), ("0 2 1 * *", 31), ("@monthly", 31),
    ("0 0 1 1 *", 366), ("0 9 * * 1-5", 3), ("30 4 1,15 * *", 17), ("0 0 29 2 *", 4 * 366),
    ("0 12 * * sun", 7), ("0 0 1 */3 *", 92),
])
def test_known_schedules(cron: str, days: float) -> None:
    assert max_interval(cron) == timedelta(minutes=round(days * 1440))


@settings(deadline=None)  # a correctness property; its timing on a loaded machine is not
@given(st.integers(0, 59), st.integers(0, 23), st.integers(1, 28))
def test_a_monthly_schedule_waits_a_month_whatever_the_time(minute: int, hour: int, dom: int) -> None:
    assert max_interval(f"{minute} {hour} {dom} * *") == timedelta(days=31)


def test_garbage_is_an_error() -> None:
    for bad in ("", "* * *", "61 * * * *", "0 0 31 2 *", "x y z w v"):
        with pytest.raises(ValueError):
            max_interval(bad)
