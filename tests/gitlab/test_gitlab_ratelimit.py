"""The client-side rate limiter: even pacing, bursts after idle, and a global pause on Retry-After."""

from __future__ import annotations

import threading

import pytest

from migrate.gitlab.ratelimit import RateLimiter, RequestStats, retry_after_seconds


class FakeTime:
    """A clock whose sleep advances it (single-threaded checks of the schedule)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.starts: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_start_evenly_spaced_at_the_configured_rate() -> None:
    t = FakeTime()
    limiter = RateLimiter(600, clock=t.clock, sleep=t.sleep)  # 10 per second
    starts = []
    for _ in range(5):
        limiter.acquire()
        starts.append(round(t.now - 100.0, 6))
    assert starts == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_burst_allows_back_to_back_requests_after_idle_but_not_more() -> None:
    t = FakeTime()
    limiter = RateLimiter(60, burst=3, clock=t.clock, sleep=t.sleep)  # 1 per second
    t.now += 10  # idle
    starts = []
    for _ in range(5):
        limiter.acquire()
        starts.append(round(t.now - 110.0, 6))
    assert starts == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_pause_holds_every_caller_until_retry_after_then_resumes_paced() -> None:
    t = FakeTime()
    limiter = RateLimiter(600, clock=t.clock, sleep=t.sleep)
    limiter.acquire()
    limiter.pause(5)
    limiter.acquire()
    assert t.now == pytest.approx(105.0)
    limiter.acquire()
    assert t.now == pytest.approx(105.1)
    assert limiter.pauses == 1


def test_threads_share_one_schedule() -> None:
    limiter = RateLimiter(6000)  # 100/s: 40 acquisitions take >= 0.39 s however many threads
    import time

    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(10)]) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert time.monotonic() - started >= 0.38


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("") is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)


def test_stats_count_statuses_and_errors() -> None:
    stats = RequestStats()
    for status in (200, 200, 429, None):
        stats.record(status)
    assert stats.requests == 4
    assert stats.http_429 == 1
    assert stats.snapshot()["errors"] == 1
