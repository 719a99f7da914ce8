"""Google write quotas: pace our writes under them, and wait out a 429 when Google still says no.

Google's documented default quotas (IAM "Quotas and limits", https://cloud.google.com/iam/quotas;
reference/gcp.md §11):

- IAM v1 API write requests (e.g. `setIamPolicy` on a service account): 600 per project per minute;
- Workload Identity Federation write requests (create/patch/undelete/delete of pools and
  providers): 60 per project per minute.

A quota error is HTTP 429 with status `RESOURCE_EXHAUSTED` (gcp.md §8); googleapiclient does not
read `Retry-After` and our writes are sent without its blind retries (a write is only retried by
code that knows it was not applied). So each quota gets one client-side `RateLimiter` for the whole
run — one bucket, not one per resource project: Google charges the quota to a project (the
caller's quota project or the resource's), and a single bucket at the per-project rate can never
exceed either. On a 429 `RESOURCE_EXHAUSTED` every writer of that quota pauses for the answer's
`Retry-After` (or an exponential back-off with jitter when absent), then the write is sent again;
a 429 means it was not applied.

Rates come from `google.quotas` in the configuration (`iam_policy_writes_per_minute`,
`wif_writes_per_minute`; 0 = no client-side pacing).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from googleapiclient.errors import HttpError

from migrate.gitlab.ratelimit import RateLimiter, retry_after_seconds

log = logging.getLogger(__name__)

IAM_POLICY_WRITES = "iam_policy_writes"
WIF_WRITES = "wif_writes"
# Google's defaults (per project per minute), https://cloud.google.com/iam/quotas.
DEFAULT_PER_MINUTE: dict[str, int | None] = {IAM_POLICY_WRITES: 600, WIF_WRITES: 60}
MAX_QUOTA_RETRIES = 8
T = TypeVar("T")


def is_quota_error(exc: HttpError) -> bool:
    """429, or 403 with a rate-limit reason (older APIs); RESOURCE_EXHAUSTED in the body."""
    status = getattr(exc.resp, "status", None) or getattr(exc, "status_code", 0)
    if int(status or 0) == 429:
        return True
    try:
        body = json.loads(exc.content or b"{}")
    except (ValueError, TypeError):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("status") == "RESOURCE_EXHAUSTED"


def retry_after(exc: HttpError) -> float | None:
    resp: Any = getattr(exc, "resp", None)
    value = resp.get("retry-after") if resp is not None and hasattr(resp, "get") else None
    return retry_after_seconds(str(value)) if value is not None else None


def pacer(per_minute: int, sleep: Callable[[float], None] = time.sleep, window_s: float = 60.0) -> RateLimiter:
    """A limiter that never lets more than `per_minute` writes start in any 60 s: a small burst
    `b` (1/20 of the quota, so an apply with a handful of writes does not wait) and a steady rate
    of (quota − b) at 98 % (network jitter can bunch evenly spaced starts at Google's side) — at
    most b + rate ≤ quota in a minute; the steady rate is ≥ 0.93 of the quota from 40/min up."""
    burst = per_minute // 20 if per_minute >= 40 else 1
    rate = (per_minute - burst) * 0.98 if per_minute >= 2 else per_minute * 0.5
    return RateLimiter(rate * 60.0 / window_s, burst=burst, sleep=sleep)


@dataclass
class QuotaStats:
    writes: dict[str, int] = field(default_factory=dict)
    quota_errors: dict[str, int] = field(default_factory=dict)
    waited_s: dict[str, float] = field(default_factory=dict)


class WriteQuotas:
    """One limiter per quota; `call(quota, fn)` paces `fn`, and re-sends it after a quota error."""

    def __init__(self, per_minute: dict[str, int | None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_retries: int = MAX_QUOTA_RETRIES,
                 window_s: float = 60.0, backoff_s: float = 1.0) -> None:
        """`per_minute`: writes allowed per `window_s` (60 s for Google; tests shrink both)."""
        rates: dict[str, int | None] = dict(DEFAULT_PER_MINUTE)
        rates.update(per_minute or {})
        self.rates = rates
        self.limiters = {name: pacer(rpm, sleep, window_s) for name, rpm in rates.items() if rpm}
        self.sleep = sleep
        self.max_retries = max_retries
        self.backoff_s = backoff_s  # first back-off without Retry-After: 1, 2, 4 … s (×0.5-1 jitter), ≤ 60
        self.stats = QuotaStats()

    def call(self, quota: str, fn: Callable[[], T], what: str = "") -> T:
        limiter = self.limiters.get(quota)
        attempt = 0
        while True:
            if limiter is not None:
                waited = limiter.acquire()
                self.stats.waited_s[quota] = self.stats.waited_s.get(quota, 0.0) + waited
            self.stats.writes[quota] = self.stats.writes.get(quota, 0) + 1
            try:
                return fn()
            except HttpError as exc:
                if not is_quota_error(exc) or attempt >= self.max_retries:
                    raise
                attempt += 1
                self.stats.quota_errors[quota] = self.stats.quota_errors.get(quota, 0) + 1
                delay = retry_after(exc)
                if delay is None:
                    delay = min(60.0, self.backoff_s * 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2)
                log.info("%s: Google quota %s exhausted (429); retrying in %.1fs", what or quota, quota, delay)
                if limiter is not None:
                    limiter.pause(delay)  # every writer of this quota waits, not just this one
                else:
                    self.sleep(delay)


def quotas_from(config: Any) -> WriteQuotas:
    """The run's limiters from `google.quotas` (a `GoogleConfig`), Google's defaults otherwise."""
    q = getattr(config, "quotas", None) or {}
    return WriteQuotas({name: q.get(name + "_per_minute", DEFAULT_PER_MINUTE[name]) for name in DEFAULT_PER_MINUTE})
